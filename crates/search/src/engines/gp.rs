//! A small Gaussian-process regressor: Matérn 5/2 kernel with one length scale, hyperparameters
//! by maximising the log marginal likelihood with argmin's Nelder–Mead, hand-written Cholesky.
//!
//! Sized for the Bayesian engine's use: a few hundred points at most (the engine subsamples),
//! so the `O(n^3)` factorisation stays in the milliseconds.

use argmin::core::{CostFunction, Executor as ArgminExecutor};
use argmin::solver::neldermead::NelderMead;
use rayon::prelude::*;

use crate::error::{Result, SearchError};

/// Log-hyperparameters: log length scale, log signal variance, log noise variance.
pub(crate) type LogHyperparameters = [f64; 3];

/// A fitted Gaussian process on standardised targets.
pub(crate) struct GaussianProcess {
    inputs: Vec<Vec<f64>>,
    length_scale: f64,
    signal_variance: f64,
    /// Lower Cholesky factor of `K + noise I`, row-major.
    cholesky: Vec<f64>,
    /// `(K + noise I)^-1 y`.
    alpha: Vec<f64>,
    /// The fitted log-hyperparameters (to warm-start the next fit).
    pub(crate) log_hyperparameters: LogHyperparameters,
}

/// Matérn 5/2 correlation at distance `r` (already divided by the length scale).
fn matern52(r: f64) -> f64 {
    let s = 5f64.sqrt() * r;
    (1.0 + s + s * s / 3.0) * (-s).exp()
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// In-place Cholesky of a symmetric positive-definite row-major `n x n` matrix; `false` if it is
/// not numerically positive definite.
fn cholesky_in_place(matrix: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut diagonal = matrix[j * n + j];
        for k in 0..j {
            diagonal -= matrix[j * n + k] * matrix[j * n + k];
        }
        if !(diagonal > 0.0) {
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

/// Box constraints on the log-hyperparameters, relative to the input dimension `d`: length
/// scale in `[0.05, 20] * sqrt(d)`, signal variance in `[0.05, 20]` (targets are standardised),
/// noise variance in `[1e-6, 0.5]`.
fn bounds(dimension: usize) -> [(f64, f64); 3] {
    let root = (dimension.max(1) as f64).sqrt();
    [
        ((0.05 * root).ln(), (20.0 * root).ln()),
        (0.05f64.ln(), 20f64.ln()),
        (1e-6f64.ln(), 0.5f64.ln()),
    ]
}

struct Likelihood<'a> {
    squared_distances: &'a [f64],
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
        match factorise(self.squared_distances, self.targets.len(), clamped) {
            Some((cholesky, _)) => {
                let n = self.targets.len();
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

/// The Cholesky factor of `K + noise I` for the given (in-bounds) log-hyperparameters, and the
/// signal variance.
fn factorise(squared_distances: &[f64], n: usize, log_parameters: [f64; 3]) -> Option<(Vec<f64>, f64)> {
    let length_scale = log_parameters[0].exp();
    let signal_variance = log_parameters[1].exp();
    let noise = log_parameters[2].exp() + 1e-9;
    let mut matrix: Vec<f64> = squared_distances
        .iter()
        .map(|&d2| signal_variance * matern52(d2.sqrt() / length_scale))
        .collect();
    for i in 0..n {
        matrix[i * n + i] += noise;
    }
    cholesky_in_place(&mut matrix, n).then_some((matrix, signal_variance))
}

impl GaussianProcess {
    /// Fits the hyperparameters (Nelder–Mead from `start`, or a default start) and conditions
    /// on the data. `targets` should be standardised (mean 0, variance 1).
    pub(crate) fn fit(
        inputs: Vec<Vec<f64>>,
        targets: &[f64],
        start: Option<LogHyperparameters>,
        max_iterations: u64,
    ) -> Result<Self> {
        let n = inputs.len();
        if n == 0 || n != targets.len() {
            return Err(SearchError::Surrogate { reason: format!("{n} inputs for {} targets", targets.len()) });
        }
        let dimension = inputs[0].len();
        let squared_distances: Vec<f64> = (0..n * n).map(|k| squared_distance(&inputs[k / n], &inputs[k % n])).collect();
        let bounds = bounds(dimension);
        let start = start.unwrap_or([(0.5 * (dimension.max(1) as f64).sqrt()).ln(), 0.0, 1e-3f64.ln()]);
        let likelihood = Likelihood { squared_distances: &squared_distances, targets, bounds };
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
        let (cholesky, signal_variance) = factorise(&squared_distances, n, log_hyperparameters)
            .or_else(|| {
                log_hyperparameters[2] = bounds[2].1;
                factorise(&squared_distances, n, log_hyperparameters)
            })
            .ok_or_else(|| SearchError::Surrogate { reason: "kernel matrix is not positive definite".to_owned() })?;
        let mut alpha = targets.to_vec();
        forward_substitution(&cholesky, n, &mut alpha);
        backward_substitution(&cholesky, n, &mut alpha);
        Ok(GaussianProcess {
            inputs,
            length_scale: log_hyperparameters[0].exp(),
            signal_variance,
            cholesky,
            alpha,
            log_hyperparameters,
        })
    }

    /// Posterior mean and standard deviation of the latent function at each point (in
    /// parallel; results in input order).
    pub(crate) fn predict(&self, points: &[Vec<f64>]) -> Vec<(f64, f64)> {
        let n = self.inputs.len();
        points
            .par_iter()
            .map(|point| {
                let mut k: Vec<f64> = self
                    .inputs
                    .iter()
                    .map(|x| self.signal_variance * matern52(squared_distance(x, point).sqrt() / self.length_scale))
                    .collect();
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
                        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
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
        for (z, expected) in [(0.0, 0.5), (1.0, 0.841_344_746), (-1.96, 0.024_997_895), (3.0, 0.998_650_102)] {
            assert!((normal_cdf(z) - expected).abs() < 2e-7, "Phi({z})");
        }
        // EI at mean == best is sigma * phi(0) = sigma / sqrt(2 pi).
        assert!((expected_improvement(1.0, 2.0, 1.0) - 2.0 / (2.0 * std::f64::consts::PI).sqrt()).abs() < 1e-6);
        assert_eq!(expected_improvement(3.0, 0.0, 1.0), 0.0);
        assert_eq!(expected_improvement(0.5, 0.0, 1.0), 0.5);
    }

    #[test]
    fn interpolates_a_smooth_function_and_is_uncertain_far_away() {
        let inputs: Vec<Vec<f64>> = (0..12).map(|i| vec![i as f64 / 11.0]).collect();
        let targets: Vec<f64> = inputs.iter().map(|x| (6.0 * x[0]).sin()).collect();
        let gp = GaussianProcess::fit(inputs, &targets, None, 200).unwrap();
        let probe = vec![vec![0.5 / 11.0 + 3.0 / 11.0], vec![3.0]];
        let predictions = gp.predict(&probe);
        let truth = (6.0 * probe[0][0]).sin();
        assert!((predictions[0].0 - truth).abs() < 0.05, "{predictions:?} vs {truth}");
        assert!(predictions[1].1 > 5.0 * predictions[0].1, "{predictions:?}");
    }
}
