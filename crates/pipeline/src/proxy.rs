//! How far the accuracy proxy can be trusted: random plans scored by the proxy and by a full
//! evaluation on held-out data, compared by rank correlation and absolute error.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use sculpt_model::{Batch, Model};
use sculpt_stdx::stats::{kendall_tau, spearman};

use crate::error::Result;
use crate::sensitivity::{EvalSet, SensitivityTable, evaluate_plan, reference};
use crate::space::ExpandedSpace;

/// The result of a proxy check.
#[derive(Clone, Debug, Serialize)]
pub struct ProxyCheck {
    /// The proxy's name.
    pub proxy: String,
    /// Plans drawn.
    pub samples: usize,
    /// Kendall's τ-b between proxy and measured loss.
    pub kendall_tau: f64,
    /// Spearman's ρ.
    pub spearman: f64,
    /// Mean absolute error of the proxy's loss against the measured loss (metric units).
    pub mae: f64,
    /// (proxy, measured) per plan.
    pub pairs: Vec<(f64, f64)>,
}

/// Which form of the per-layer table proxy `proxy-check` scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableProxy {
    /// The sum of per-layer accuracy deltas.
    Plain,
    /// The sum of per-layer deltas, corrected by a least-squares fit of the measured loss on the
    /// summed deltas and summed KL divergences over `fit` full evaluations (not among the
    /// checked plans).
    Corrected {
        /// Full evaluations used for the fit.
        fit: usize,
    },
}

fn proxy_sums(sens: &SensitivityTable, genome: &[usize]) -> (f64, f64) {
    genome.iter().enumerate().fold((0.0, 0.0), |(d, k), (g, &c)| {
        (d + sens.entries[g][c].delta, k + sens.entries[g][c].kl)
    })
}

#[allow(clippy::too_many_arguments)]
/// Draws `n` random plans (seeded), scores each with the proxy and with a full evaluation on
/// `held_out`, and compares.
pub fn proxy_check(
    model: &Model,
    space: &ExpandedSpace,
    sens: &SensitivityTable,
    held_out: &EvalSet,
    calibration: Option<&Batch>,
    n: usize,
    seed: u64,
    kind: TableProxy,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ProxyCheck> {
    use rayon::prelude::*;
    let reference = reference(model, held_out)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let extra = match kind {
        TableProxy::Plain => 0,
        TableProxy::Corrected { fit } => fit,
    };
    let genomes: Vec<Vec<usize>> = (0..n + extra)
        .map(|_| space.genes.iter().map(|g| rng.random_range(0..g.options.len())).collect())
        .collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let measured: Vec<f64> = genomes
        .par_iter()
        .map(|genome| {
            let plan = space.plan(&model.graph, genome, &model.name);
            let f = evaluate_plan(model, &plan, held_out, &reference, calibration)?;
            progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1, genomes.len());
            Ok(reference.metric - f.metric)
        })
        .collect::<Result<_>>()?;
    let sums: Vec<(f64, f64)> = genomes.iter().map(|g| proxy_sums(sens, g)).collect();
    let (name, proxy): (String, Vec<f64>) = match kind {
        TableProxy::Plain => ("table".into(), sums.iter().map(|s| s.0).collect()),
        TableProxy::Corrected { fit } => {
            // measured ≈ a·Σdelta + b·ΣKL + c on the first `fit` plans.
            let coef = least_squares(&sums[..fit], &measured[..fit]);
            let p = sums[fit..].iter().map(|(d, k)| coef[0] * d + coef[1] * k + coef[2]).collect();
            (format!("table+correction({fit})"), p)
        }
    };
    let measured = &measured[extra..];
    let pairs: Vec<(f64, f64)> = proxy.iter().copied().zip(measured.iter().copied()).collect();
    Ok(ProxyCheck {
        proxy: name,
        samples: n,
        kendall_tau: kendall_tau(&proxy, measured),
        spearman: spearman(&proxy, measured),
        mae: pairs.iter().map(|(a, b)| (a - b).abs()).sum::<f64>() / n.max(1) as f64,
        pairs,
    })
}

/// Ordinary least squares of `y ≈ a·x0 + b·x1 + c` by the normal equations (3×3).
fn least_squares(x: &[(f64, f64)], y: &[f64]) -> [f64; 3] {
    let mut ata = [[0.0f64; 3]; 3];
    let mut aty = [0.0f64; 3];
    for ((a, b), t) in x.iter().zip(y) {
        let row = [*a, *b, 1.0];
        for i in 0..3 {
            aty[i] += row[i] * t;
            for j in 0..3 {
                ata[i][j] += row[i] * row[j];
            }
        }
    }
    // A small ridge keeps the system solvable when a column is constant.
    for (i, r) in ata.iter_mut().enumerate() {
        r[i] += 1e-9;
    }
    solve3(ata, aty).unwrap_or([1.0, 0.0, 0.0])
}

#[allow(clippy::needless_range_loop)]
fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    for col in 0..3 {
        let pivot = (col..3).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-15 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in 0..3 {
            if row != col {
                let f = a[row][col] / a[col][col];
                for k in 0..3 {
                    a[row][k] -= f * a[col][k];
                }
                b[row] -= f * b[col];
            }
        }
    }
    Some([b[0] / a[0][0], b[1] / a[1][1], b[2] / a[2][2]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_a_plane() {
        let x: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, (i * i % 7) as f64)).collect();
        let y: Vec<f64> = x.iter().map(|(a, b)| 2.0 * a - 0.5 * b + 3.0).collect();
        let c = least_squares(&x, &y);
        assert!(
            (c[0] - 2.0).abs() < 1e-6 && (c[1] + 0.5).abs() < 1e-6 && (c[2] - 3.0).abs() < 1e-6,
            "{c:?}"
        );
    }
}
