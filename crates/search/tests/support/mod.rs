//! Problems shared by the integration tests, benches and examples (included with `#[path]`).
#![allow(dead_code, unreachable_pub)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use sculpt_search::{
    AdditiveGene, AdditiveObjective, AdditiveProblem, Evaluation, Objective, Space, pareto_front,
};

/// A random additive problem with `m` objectives, contributions in [-1, 4) (so some are
/// negative) and, if `constrained`, an upper bound on the first objective near its median.
pub fn random_additive_problem(
    seed: u64,
    n_genes: usize,
    max_choices: usize,
    m: usize,
    constrained: bool,
) -> AdditiveObjective {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let genes: Vec<AdditiveGene> = (0..n_genes)
        .map(|g| AdditiveGene {
            name: format!("layer{g}"),
            contributions: (0..rng.random_range(1..=max_choices))
                .map(|_| (0..m).map(|_| (rng.random_range(-4..16) as f64) / 4.0).collect())
                .collect(),
        })
        .collect();
    let base: Vec<f64> = (0..m).map(|_| rng.random_range(-2..3) as f64).collect();
    let mut upper_bounds = vec![None; m];
    if constrained {
        // Around the middle of the first objective's range: binding, but usually satisfiable.
        let mean: f64 = base[0]
            + genes
                .iter()
                .map(|g| {
                    g.contributions.iter().map(|c| c[0]).sum::<f64>() / g.contributions.len() as f64
                })
                .sum::<f64>();
        upper_bounds[0] = Some(mean + rng.random_range(-2..2) as f64);
    }
    AdditiveObjective::new(AdditiveProblem {
        objective_names: (0..m).map(|j| format!("f{j}")).collect(),
        base,
        genes,
        upper_bounds,
    })
    .expect("valid random problem")
}

/// Every genome of a small space, in enumeration order.
pub fn all_genomes(space: &Space) -> Vec<Vec<usize>> {
    let size = space.size().expect("small space");
    (0..size).map(|i| space.genome_at(i).expect("in range")).collect()
}

/// The feasible Pareto front by brute-force enumeration: distinct objective vectors, sorted
/// lexicographically.
pub fn brute_force_front<O: Objective>(objective: &O, space: &Space) -> Vec<Vec<f64>> {
    let evaluations: Vec<Evaluation> =
        all_genomes(space).iter().map(|g| objective.evaluate(g)).collect();
    let feasible: Vec<&[f64]> =
        evaluations.iter().filter(|e| e.is_feasible()).map(|e| e.objectives.as_slice()).collect();
    let mut front: Vec<Vec<f64>> =
        pareto_front(&feasible).into_iter().map(|i| feasible[i].to_vec()).collect();
    sort_dedup(&mut front);
    front
}

/// Sorts points lexicographically and removes exact duplicates.
pub fn sort_dedup(points: &mut Vec<Vec<f64>>) {
    points.sort_by(|a, b| {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    points.dedup();
}

/// A discrete ZDT1: gene 0 picks f1 = x1 on a grid of `n_choices` points in [0, 1]; the other
/// genes pick x_i on the same grid; g = 1 + 9 mean(x_2..), f2 = g (1 - sqrt(f1 / g)).
///
/// Its Pareto front is known: every other gene at choice 0 (g = 1), so the front is
/// `{(x, 1 - sqrt(x))}` for the `n_choices` grid values x.
pub struct DiscreteZdt1 {
    pub n_genes: usize,
    pub n_choices: usize,
}

impl DiscreteZdt1 {
    pub fn space(&self) -> Space {
        Space::from_choice_counts(&vec![self.n_choices; self.n_genes]).expect("valid space")
    }

    pub fn known_front(&self) -> Vec<Vec<f64>> {
        (0..self.n_choices)
            .map(|c| {
                let x = c as f64 / (self.n_choices - 1) as f64;
                vec![x, 1.0 - x.sqrt()]
            })
            .collect()
    }
}

impl Objective for DiscreteZdt1 {
    fn n_objectives(&self) -> usize {
        2
    }

    fn evaluate(&self, genome: &[usize]) -> Evaluation {
        let scale = (self.n_choices - 1) as f64;
        let f1 = genome[0] as f64 / scale;
        let rest: f64 = genome[1..].iter().map(|&c| c as f64 / scale).sum::<f64>();
        let g = 1.0 + 9.0 * rest / (genome.len() - 1) as f64;
        Evaluation::feasible(vec![f1, g * (1.0 - (f1 / g).sqrt())])
    }
}

/// A standard normal draw (Box–Muller), to avoid a dependency on rand_distr.
pub fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A synthetic stand-in for a MobileNetV2-on-a-TPU-like-device problem: `n_layers` genes with
/// 20 options each = 5 quantisation levels x 4 pruning ratios; objectives accuracy loss
/// (fraction of top-1) and latency (ms).
///
/// - Each layer has a latency `L` (log-normal, median 0.1 ms, sigma 0.8) and a sensitivity
///   `s` (log-normal, median 0.004, sigma 1.0), as real networks have a few dominant layers.
/// - Latency of option (q, p) = `L * speed_q * (1 - 0.8 p_ratio) * (1 + 0.05 N(0,1))`, with
///   speed factors 1.0 (fp16), 0.55 (int8), 0.5 (int6), 0.35 (int4), 0.33 (int3): faster with
///   compression, with diminishing returns.
/// - Accuracy loss = `s * (a_q + a_p + 2 a_q a_p) * (1 + 0.2 N(0,1)) + 0.0002 N(0,1)`, with
///   a_q = 0, 0.02, 0.06, 0.2, 0.6 and a_p = 0, 0.05, 0.2, 0.7 for ratios 0, 0.25, 0.5, 0.75:
///   convex in compression; the small additive noise makes mild options sometimes negative
///   (compression as a regulariser), and noise makes some options dominated.
/// - Base: accuracy loss 0, latency 0.2 ms (the parts no gene controls).
pub fn synthetic_mobilenet_problem(seed: u64, n_layers: usize) -> AdditiveProblem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let speed = [1.0, 0.55, 0.5, 0.35, 0.33];
    let quant_loss = [0.0, 0.02, 0.06, 0.2, 0.6];
    let prune_ratio = [0.0, 0.25, 0.5, 0.75];
    let prune_loss = [0.0, 0.05, 0.2, 0.7];
    let genes = (0..n_layers)
        .map(|layer| {
            let latency = 0.1 * (0.8 * normal(&mut rng)).exp();
            let sensitivity = 0.004 * normal(&mut rng).exp();
            let mut contributions = Vec::with_capacity(20);
            for q in 0..5 {
                for p in 0..4 {
                    let lat = latency
                        * speed[q]
                        * (1.0 - 0.8 * prune_ratio[p])
                        * (1.0 + 0.05 * normal(&mut rng));
                    let a = quant_loss[q] + prune_loss[p] + 2.0 * quant_loss[q] * prune_loss[p];
                    let loss = sensitivity * a * (1.0 + 0.2 * normal(&mut rng))
                        + 0.0002 * normal(&mut rng);
                    contributions.push(vec![loss, lat.max(0.0)]);
                }
            }
            AdditiveGene { name: format!("features.{layer}"), contributions }
        })
        .collect();
    AdditiveProblem {
        objective_names: vec!["accuracy_loss".into(), "latency_ms".into()],
        base: vec![0.0, 0.2],
        genes,
        upper_bounds: vec![],
    }
}
