//! A small Gaussian-process regressor: Matérn 5/2 kernel with one length scale, hyperparameters
//! by maximising the log marginal likelihood with argmin's Nelder–Mead, hand-written Cholesky.
//!
//! Sized for the Bayesian engine's use: a few hundred points at most (the engine subsamples),
//! so the `O(n^3)` factorisation stays in the milliseconds.

use argmin::core::{CostFunction, Executor as ArgminExecutor};
use argmin::solver::neldermead::NelderMead;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SearchError};

/// Log-hyperparameters: log length scale, log signal variance, log noise variance.
pub(crate) type LogHyperparameters = [f64; 3];

/// The covariance function of the surrogate, on the ordinal encoding of genomes (choice `c` of
/// a gene with `n` choices at `c / (n - 1)`, a single-choice gene at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SurrogateKernel {
    /// Matérn 5/2 of the Euclidean distance between encodings, one length scale.
    Matern52,
    /// The mean over genes of one-dimensional Matérn 5/2 kernels with a shared length scale:
    /// a first-order additive GP (Duvenaud et al. 2011; Kandasamy et al. 2015), which learns
    /// per-gene effects from few points in high dimension. Sculpt's objectives are nearly
    /// additive over layers, which is why this is the default.
    AdditiveMatern52,
}

/// Matérn 5/2 correlation at distance `r` (already divided by the length scale).
fn matern52(r: f64) -> f64 {
    let s = 5f64.sqrt() * r;
    (1.0 + s + s * s / 3.0) * (-s).exp()
}

/// The encoded distance of a choice difference `delta` in a gene with `n_choices` choices.
fn encoded_difference(delta: usize, n_choices: usize) -> f64 {
    if n_choices > 1 { delta as f64 / (n_choices - 1) as f64 } else { 0.0 }
}

/// Pairwise geometry of the training genomes, precomputed once per fit so that each
/// likelihood evaluation costs `O(n^2)` (isotropic) or `O(n^2 L)` (additive, `L` distinct
/// per-gene differences) rather than `O(n^2 d)` kernel evaluations.
enum Geometry {
    Isotropic { squared_distances: Vec<f64> },
    Additive { levels: Vec<f64>, counts: Vec<u16>, n_genes: usize },
}

impl Geometry {
    fn new(kernel: SurrogateKernel, n_choices: &[usize], genomes: &[Vec<usize>]) -> Self {
        let n = genomes.len();
        match kernel {
            SurrogateKernel::Matern52 => {
                let mut squared_distances = vec![0.0; n * n];
                for i in 0..n {
                    for k in (i + 1)..n {
                        let d2: f64 = (0..n_choices.len())
                            .map(|g| {
                                encoded_difference(
                                    genomes[i][g].abs_diff(genomes[k][g]),
                                    n_choices[g],
                                )
                                .powi(2)
                            })
                            .sum();
                        squared_distances[i * n + k] = d2;
                        squared_distances[k * n + i] = d2;
                    }
                }
                Geometry::Isotropic { squared_distances }
            }
            SurrogateKernel::AdditiveMatern52 => {
                // Level of each (gene size, difference): distinct encoded differences.
                let mut levels: Vec<f64> = Vec::new();
                let mut level_of: Vec<Vec<u16>> = Vec::with_capacity(n_choices.len());
                for &choices in n_choices {
                    let row = (0..choices.max(1))
                        .map(|delta| {
                            let value = encoded_difference(delta, choices);
                            match levels.iter().position(|&l| l == value) {
                                Some(level) => level as u16,
                                None => {
                                    levels.push(value);
                                    (levels.len() - 1) as u16
                                }
                            }
                        })
                        .collect();
                    level_of.push(row);
                }
                let n_levels = levels.len();
                let mut counts = vec![0u16; n * n * n_levels];
                for i in 0..n {
                    for k in (i + 1)..n {
                        for g in 0..n_choices.len() {
                            let level = level_of[g][genomes[i][g].abs_diff(genomes[k][g])] as usize;
                            counts[(i * n + k) * n_levels + level] += 1;
                        }
                        for level in 0..n_levels {
                            counts[(k * n + i) * n_levels + level] =
                                counts[(i * n + k) * n_levels + level];
                        }
                    }
                    // The diagonal: every gene at difference 0.
                    let zero = level_of.first().map_or(0, |row| row[0] as usize);
                    counts[(i * n + i) * n_levels + zero] = n_choices.len() as u16;
                }
                Geometry::Additive { levels, counts, n_genes: n_choices.len().max(1) }
            }
        }
    }

    /// The kernel matrix (without noise) for a length scale and signal variance.
    fn kernel_matrix(&self, n: usize, length_scale: f64, signal_variance: f64) -> Vec<f64> {
        match self {
            Geometry::Isotropic { squared_distances } => squared_distances
                .iter()
                .map(|&d2| signal_variance * matern52(d2.sqrt() / length_scale))
                .collect(),
            Geometry::Additive { levels, counts, n_genes } => {
                let weights: Vec<f64> = levels
                    .iter()
                    .map(|&value| {
                        signal_variance * matern52(value / length_scale) / *n_genes as f64
                    })
                    .collect();
                (0..n * n)
                    .map(|pair| {
                        counts[pair * levels.len()..(pair + 1) * levels.len()]
                            .iter()
                            .zip(&weights)
                            .map(|(&count, &weight)| f64::from(count) * weight)
                            .sum()
                    })
                    .collect()
            }
        }
    }
}

/// A fitted Gaussian process on standardised targets.
pub(crate) struct GaussianProcess {
    kernel: SurrogateKernel,
    genomes: Vec<Vec<usize>>,
    /// Per gene, per choice difference: the squared encoded difference (isotropic) or the
    /// gene's kernel term already weighted by `signal_variance / n_genes` (additive).
    tables: Vec<Vec<f64>>,
    length_scale: f64,
    signal_variance: f64,
    /// Lower Cholesky factor of `K + noise I`, row-major.
    cholesky: Vec<f64>,
    /// `(K + noise I)^-1 y`.
    alpha: Vec<f64>,
    /// The fitted log-hyperparameters (to warm-start the next fit).
    pub(crate) log_hyperparameters: LogHyperparameters,
}

/// In-place Cholesky of a symmetric positive-definite row-major `n x n` matrix; `false` if it is
/// not numerically positive definite.
fn cholesky_in_place(matrix: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut diagonal = matrix[j * n + j];
        for k in 0..j {
            diagonal -= matrix[j * n + k] * matrix[j * n + k];
        }
        if diagonal.is_nan() || diagonal <= 0.0 {
            return false;
        }
        let diagonal = diagonal.sqrt();
        matrix[j * n + j] = diagonal;
        for i in (j + 1)..n {
            let mut value = matrix[i * n + j];
            for k in 0..j {
                value -= matrix[i * n + k] * matrix[j * n + k];
            }
            matrix[i * n + j] = value / diagonal;
        }
        for k in (j + 1)..n {
            matrix[j * n + k] = 0.0;
        }
    }
    true
}

/// Solves `L x = b` for lower-triangular `L`.
fn forward_substitution(lower: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let mut value = b[i];
        for k in 0..i {
            value -= lower[i * n + k] * b[k];
        }
        b[i] = value / lower[i * n + i];
    }
}

/// Solves `L^T x = b` for lower-triangular `L`.
fn backward_substitution(lower: &[f64], n: usize, b: &mut [f64]) {
    for i in (0..n).rev() {
        let mut value = b[i];
        for k in (i + 1)..n {
            value -= lower[k * n + i] * b[k];
        }
        b[i] = value / lower[i * n + i];
    }
}

/// Box constraints on the log-hyperparameters: length scale in `[0.05, 20]` times the typical
/// distance (`sqrt(d)` for the isotropic kernel, 1 for the additive one, whose terms are
/// one-dimensional), signal variance in `[0.05, 20]` (targets are standardised), noise
/// variance in `[1e-6, 0.5]`.
fn bounds(kernel: SurrogateKernel, dimension: usize) -> [(f64, f64); 3] {
    let scale = match kernel {
        SurrogateKernel::Matern52 => (dimension.max(1) as f64).sqrt(),
        SurrogateKernel::AdditiveMatern52 => 1.0,
    };
    [
        ((0.05 * scale).ln(), (20.0 * scale).ln()),
        (0.05f64.ln(), 20f64.ln()),
        (1e-6f64.ln(), 0.5f64.ln()),
    ]
}

struct Likelihood<'a> {
    geometry: &'a Geometry,
    targets: &'a [f64],
    bounds: [(f64, f64); 3],
}

impl Likelihood<'_> {
    /// Negative log marginal likelihood (without the constant), plus a quadratic penalty
    /// outside the bounds (the values are clamped into the bounds for the likelihood itself).
    fn negative_log_likelihood(&self, log_parameters: &[f64]) -> f64 {
        let mut penalty = 0.0;
        let mut clamped = [0.0; 3];
        for (k, (&value, &(low, high))) in log_parameters.iter().zip(&self.bounds).enumerate() {
            clamped[k] = value.clamp(low, high);
            penalty += 100.0 * (value - clamped[k]).powi(2);
        }
        let n = self.targets.len();
        match factorise(self.geometry, n, clamped) {
            Some(cholesky) => {
                let mut alpha = self.targets.to_vec();
                forward_substitution(&cholesky, n, &mut alpha);
                let fit: f64 = alpha.iter().map(|v| v * v).sum();
                let log_determinant: f64 = (0..n).map(|i| cholesky[i * n + i].ln()).sum();
                0.5 * fit + log_determinant + penalty
            }
            None => 1e10 + penalty,
        }
    }
}

impl CostFunction for Likelihood<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, parameters: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.negative_log_likelihood(parameters))
    }
}

/// The Cholesky factor of `K + noise I` for the given (in-bounds) log-hyperparameters.
fn factorise(geometry: &Geometry, n: usize, log_parameters: [f64; 3]) -> Option<Vec<f64>> {
    let mut matrix = geometry.kernel_matrix(n, log_parameters[0].exp(), log_parameters[1].exp());
    let noise = log_parameters[2].exp() + 1e-9;
    for i in 0..n {
        matrix[i * n + i] += noise;
    }
    cholesky_in_place(&mut matrix, n).then_some(matrix)
}

impl GaussianProcess {
    /// Fits the hyperparameters (Nelder–Mead from `start`, or a default start) and conditions
    /// on the data. `n_choices` gives each gene's number of choices; `targets` should be
    /// standardised (mean 0, variance 1).
    pub(crate) fn fit(
        kernel: SurrogateKernel,
        n_choices: &[usize],
        genomes: Vec<Vec<usize>>,
        targets: &[f64],
        start: Option<LogHyperparameters>,
        max_iterations: u64,
    ) -> Result<Self> {
        let n = genomes.len();
        if n == 0 || n != targets.len() {
            return Err(SearchError::Surrogate {
                reason: format!("{n} inputs for {} targets", targets.len()),
            });
        }
        let geometry = Geometry::new(kernel, n_choices, &genomes);
        let bounds = bounds(kernel, n_choices.len());
        let default_length = match kernel {
            SurrogateKernel::Matern52 => 0.5 * (n_choices.len().max(1) as f64).sqrt(),
            SurrogateKernel::AdditiveMatern52 => 0.5,
        };
        let start = start.unwrap_or([default_length.ln(), 0.0, 1e-3f64.ln()]);
        let likelihood = Likelihood { geometry: &geometry, targets, bounds };
        let simplex: Vec<Vec<f64>> = std::iter::once(start.to_vec())
            .chain((0..3).map(|k| {
                let mut vertex = start.to_vec();
                vertex[k] += if k == 2 { 2.0 } else { 0.7 };
                vertex
            }))
            .collect();
        let solver = NelderMead::new(simplex)
            .with_sd_tolerance(1e-5)
            .map_err(|e| SearchError::Surrogate { reason: e.to_string() })?;
        let outcome = ArgminExecutor::new(likelihood, solver)
            .configure(|state| state.max_iters(max_iterations))
            .run()
            .map_err(|e| SearchError::Surrogate { reason: e.to_string() })?;
        let best = outcome.state.best_param.unwrap_or_else(|| start.to_vec());
        let mut log_hyperparameters = [0.0; 3];
        for (k, (&value, &(low, high))) in best.iter().zip(&bounds).enumerate() {
            log_hyperparameters[k] = value.clamp(low, high);
        }
        // If the optimum is numerically singular, fall back to more noise.
        let cholesky = factorise(&geometry, n, log_hyperparameters)
            .or_else(|| {
                log_hyperparameters[2] = bounds[2].1;
                factorise(&geometry, n, log_hyperparameters)
            })
            .ok_or_else(|| SearchError::Surrogate {
                reason: "kernel matrix is not positive definite".to_owned(),
            })?;
        let mut alpha = targets.to_vec();
        forward_substitution(&cholesky, n, &mut alpha);
        backward_substitution(&cholesky, n, &mut alpha);
        let length_scale = log_hyperparameters[0].exp();
        let signal_variance = log_hyperparameters[1].exp();
        let n_genes = n_choices.len().max(1) as f64;
        let tables = n_choices
            .iter()
            .map(|&choices| {
                (0..choices.max(1))
                    .map(|delta| {
                        let difference = encoded_difference(delta, choices);
                        match kernel {
                            SurrogateKernel::Matern52 => difference * difference,
                            SurrogateKernel::AdditiveMatern52 => {
                                signal_variance * matern52(difference / length_scale) / n_genes
                            }
                        }
                    })
                    .collect()
            })
            .collect();
        Ok(GaussianProcess {
            kernel,
            genomes,
            tables,
            length_scale,
            signal_variance,
            cholesky,
            alpha,
            log_hyperparameters,
        })
    }

    fn covariance(&self, a: &[usize], b: &[usize]) -> f64 {
        let sum: f64 =
            a.iter().zip(b).zip(&self.tables).map(|((&x, &y), table)| table[x.abs_diff(y)]).sum();
        match self.kernel {
            SurrogateKernel::Matern52 => {
                self.signal_variance * matern52(sum.sqrt() / self.length_scale)
            }
            SurrogateKernel::AdditiveMatern52 => sum,
        }
    }

    /// Posterior mean and standard deviation of the latent function at each genome (in
    /// parallel; results in input order).
    pub(crate) fn predict(&self, genomes: &[Vec<usize>]) -> Vec<(f64, f64)> {
        let n = self.genomes.len();
        genomes
            .par_iter()
            .map(|genome| {
                let mut k: Vec<f64> =
                    self.genomes.iter().map(|x| self.covariance(x, genome)).collect();
                let mean: f64 = k.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
                forward_substitution(&self.cholesky, n, &mut k);
                let variance = self.signal_variance - k.iter().map(|v| v * v).sum::<f64>();
                (mean, variance.max(1e-12).sqrt())
            })
            .collect()
    }
}

/// Standard normal cumulative distribution function, from `erfc` (W. J. Cody's rational
/// approximation via Numerical Recipes' `erfcc`, relative error below 1.2e-7).
fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let polynomial = -z * z - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398
                                + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let value = t * polynomial.exp();
    if x >= 0.0 { value } else { 2.0 - value }
}

/// Expected improvement below `best` of a Gaussian with the given mean and standard deviation.
pub(crate) fn expected_improvement(mean: f64, standard_deviation: f64, best: f64) -> f64 {
    let improvement = best - mean;
    if standard_deviation <= 0.0 {
        return improvement.max(0.0);
    }
    let z = improvement / standard_deviation;
    let density = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    (improvement * normal_cdf(z) + standard_deviation * density).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_reproduces_a_hand_factorised_matrix() {
        // [[4, 2], [2, 5]] = L L^T with L = [[2, 0], [1, 2]].
        let mut matrix = vec![4.0, 2.0, 2.0, 5.0];
        assert!(cholesky_in_place(&mut matrix, 2));
        assert_eq!(matrix, vec![2.0, 0.0, 1.0, 2.0]);
        let mut not_definite = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky_in_place(&mut not_definite, 2));
        // Solving L L^T x = b with b = (8, 9): L y = b gives y = (4, 2.5); L^T x = y gives
        // x = (1.375, 1.25); check: 4*1.375 + 2*1.25 = 8, 2*1.375 + 5*1.25 = 9.
        let mut b = vec![8.0, 9.0];
        forward_substitution(&matrix, 2, &mut b);
        backward_substitution(&matrix, 2, &mut b);
        assert!((b[0] - 1.375).abs() < 1e-15 && (b[1] - 1.25).abs() < 1e-15);
    }

    #[test]
    fn normal_cdf_and_expected_improvement_match_tabulated_values() {
        for (z, expected) in
            [(0.0, 0.5), (1.0, 0.841_344_746), (-1.96, 0.024_997_895), (3.0, 0.998_650_102)]
        {
            assert!((normal_cdf(z) - expected).abs() < 2e-7, "Phi({z})");
        }
        // EI at mean == best is sigma * phi(0) = sigma / sqrt(2 pi).
        assert!(
            (expected_improvement(1.0, 2.0, 1.0) - 2.0 / (2.0 * std::f64::consts::PI).sqrt()).abs()
                < 1e-6
        );
        assert_eq!(expected_improvement(3.0, 0.0, 1.0), 0.0);
        assert_eq!(expected_improvement(0.5, 0.0, 1.0), 0.5);
    }

    #[test]
    fn interpolates_a_smooth_function_and_is_uncertain_far_away() {
        // One gene with 23 choices; train on the even ones, predict an odd one in the middle.
        // A second gene, constant in training, makes "far away" measurable.
        for kernel in [SurrogateKernel::Matern52, SurrogateKernel::AdditiveMatern52] {
            let n_choices = [23, 5];
            let f = |c: usize| (6.0 * c as f64 / 22.0).sin();
            let genomes: Vec<Vec<usize>> = (0..12).map(|i| vec![2 * i, 0]).collect();
            let targets: Vec<f64> = genomes.iter().map(|g| f(g[0])).collect();
            let gp =
                GaussianProcess::fit(kernel, &n_choices, genomes, &targets, None, 200).unwrap();
            let predictions = gp.predict(&[vec![7, 0], vec![7, 4]]);
            assert!(
                (predictions[0].0 - f(7)).abs() < 0.05,
                "{kernel:?}: {predictions:?} vs {}",
                f(7)
            );
            assert!(predictions[1].1 > 3.0 * predictions[0].1, "{kernel:?}: {predictions:?}");
        }
    }

    #[test]
    fn additive_kernel_learns_a_separable_function_from_few_points() {
        // f = sum of per-gene effects over 12 genes x 6 choices: an additive GP trained on 40
        // random genomes predicts unseen genomes far better than the isotropic one.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let n_choices = [6; 12];
        let effects: Vec<Vec<f64>> =
            (0..12).map(|_| (0..6).map(|_| rng.random::<f64>()).collect()).collect();
        let f = |g: &[usize]| g.iter().enumerate().map(|(i, &c)| effects[i][c]).sum::<f64>();
        let draw = |rng: &mut rand_chacha::ChaCha8Rng| {
            (0..12).map(|_| rng.random_range(0..6)).collect::<Vec<usize>>()
        };
        let train: Vec<Vec<usize>> = (0..40).map(|_| draw(&mut rng)).collect();
        let test: Vec<Vec<usize>> = (0..200).map(|_| draw(&mut rng)).collect();
        let raw: Vec<f64> = train.iter().map(|g| f(g)).collect();
        let mean = raw.iter().sum::<f64>() / 40.0;
        let sd = (raw.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 40.0).sqrt();
        let targets: Vec<f64> = raw.iter().map(|v| (v - mean) / sd).collect();
        let error = |kernel| {
            let gp = GaussianProcess::fit(kernel, &n_choices, train.clone(), &targets, None, 200)
                .unwrap();
            let predictions = gp.predict(&test);
            test.iter()
                .zip(predictions)
                .map(|(g, (mu, _))| (mu * sd + mean - f(g)).powi(2))
                .sum::<f64>()
                / 200.0
        };
        let (additive, isotropic) =
            (error(SurrogateKernel::AdditiveMatern52), error(SurrogateKernel::Matern52));
        assert!(additive < 0.7 * isotropic, "additive {additive}, isotropic {isotropic}");
    }
}
