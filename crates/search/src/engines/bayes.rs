//! Bayesian optimisation for expensive objectives: a Gaussian-process surrogate of a ParEGO
//! scalarisation, maximising expected improvement over a pool of candidates.

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::engines::gp::{
    GaussianProcess, LogHyperparameters, SurrogateKernel, expected_improvement,
};
use crate::engines::{NovelBatch, uniform_genomes};
use crate::error::{Result, SearchError};
use crate::executor::Engine;
use crate::executor::{
    EvaluatedCandidate, SearchContext, SearchRng, StepStatus, TerminationReason,
};
use crate::objective::{Evaluation, Objective};
use crate::space::Space;

/// ParEGO-style Bayesian optimisation (Knowles 2006), for budgets of about 50 to 500
/// evaluations of an expensive objective. One evaluation per step.
///
/// - **Start**: the uniform genomes `(c, c, ..., c)` if `seed_uniform_genomes` (see
///   [`Nsga2::seed_uniform_genomes`](crate::Nsga2::seed_uniform_genomes)), then random genomes
///   up to `initial_samples` in total, evaluated as one parallel batch.
/// - **Scalarisation**: each step draws a weight vector `w` uniformly from the simplex and
///   scalarises every evaluated genome as `max_j(w_j f_j) + 0.05 * sum_j(w_j f_j)` on objectives
///   normalised to `[0, 1]` by the observed minima and maxima (the augmented Chebyshev function,
///   whose minima cover non-convex parts of the front).
/// - **Constraints**: by penalty. An infeasible genome scalarises to `1.05 + v / (1 + v)` for
///   violation `v`: worse than any feasible genome, better the less it violates.
/// - **Surrogate**: a Gaussian process on the ordinal encoding of genomes (choice `c` of a
///   gene with `n` choices is `c / (n - 1)`, so neighbouring options are close; a
///   single-choice gene is 0) with a Matérn 5/2 kernel, by default additive over genes (see
///   [`SurrogateKernel`]). Signal variance, length scale and noise maximise the log marginal
///   likelihood (argmin's Nelder–Mead on log-parameters, warm-started from the previous
///   step). The GP sees at most `max_gp_points`
///   genomes: beyond that, the best half by the step's scalarisation plus a random sample of
///   the rest, which bounds each step's cost at `O(max_gp_points^3)`.
/// - **Acquisition**: expected improvement over the best scalarised value, maximised over
///   `random_candidates` random genomes plus single- and multi-gene mutations of the
///   `local_starts` best genomes, then improved by `local_search_rounds` rounds of best
///   single-gene moves from the best candidate. Genomes evaluated before are never proposed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BayesianSearch {
    /// Genomes evaluated before the surrogate is used (more if there are more uniform
    /// genomes); at least 2.
    pub initial_samples: usize,
    /// Start from the uniform genomes, as [`Nsga2`](crate::Nsga2) does.
    pub seed_uniform_genomes: bool,
    /// Cap on the number of genomes the Gaussian process is fitted on; at least 10.
    pub max_gp_points: usize,
    /// Random genomes in each step's candidate pool.
    pub random_candidates: usize,
    /// How many of the best genomes (by the step's scalarisation) seed local candidates.
    pub local_starts: usize,
    /// Cap on the single-gene neighbours taken from each local start (sampled if more).
    pub max_neighbours: usize,
    /// Rounds of greedy single-gene improvement of the acquisition from the best candidate.
    pub local_search_rounds: usize,
    /// Nelder–Mead iterations per hyperparameter fit.
    pub fit_iterations: u64,
    /// The surrogate's covariance function.
    pub kernel: SurrogateKernel,
}

impl Default for BayesianSearch {
    fn default() -> Self {
        BayesianSearch {
            initial_samples: 10,
            seed_uniform_genomes: true,
            max_gp_points: 300,
            random_candidates: 500,
            local_starts: 5,
            max_neighbours: 1_000,
            local_search_rounds: 5,
            fit_iterations: 60,
            kernel: SurrogateKernel::AdditiveMatern52,
        }
    }
}

/// What the Bayesian engine carries between steps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BayesState {
    /// Whether the initial design has been evaluated.
    pub initial_design_done: bool,
    /// The last fitted log-hyperparameters (log length scale, log signal variance, log noise).
    pub log_hyperparameters: Option<[f64; 3]>,
}

const AUGMENTATION: f64 = 0.05;

impl BayesianSearch {
    fn validate(&self) -> Result<()> {
        let invalid = |parameter, reason: &str| {
            Err(SearchError::InvalidConfig { parameter, reason: reason.to_owned() })
        };
        if self.initial_samples < 2 {
            return invalid("initial_samples", "must be at least 2");
        }
        if self.max_gp_points < 10 {
            return invalid("max_gp_points", "must be at least 10");
        }
        if self.fit_iterations == 0 {
            return invalid("fit_iterations", "must be at least 1");
        }
        Ok(())
    }
}

/// Draws a weight vector uniformly from the simplex (normalised exponentials).
fn random_weights(rng: &mut SearchRng, n_objectives: usize) -> Vec<f64> {
    let raw: Vec<f64> = (0..n_objectives).map(|_| -(1.0 - rng.random::<f64>()).ln()).collect();
    let sum: f64 = raw.iter().sum();
    raw.into_iter().map(|w| w / sum).collect()
}

/// The step's scalarisation of every archived evaluation (see [`BayesianSearch`]).
fn scalarise(archive: &[EvaluatedCandidate], weights: &[f64]) -> Vec<f64> {
    let m = weights.len();
    let mut low = vec![f64::INFINITY; m];
    let mut high = vec![f64::NEG_INFINITY; m];
    for candidate in archive {
        for (j, &value) in candidate.evaluation.objectives.iter().enumerate() {
            low[j] = low[j].min(value);
            high[j] = high[j].max(value);
        }
    }
    archive
        .iter()
        .map(|candidate| {
            let Evaluation { objectives, constraint_violation } = &candidate.evaluation;
            if *constraint_violation > 0.0 {
                return 1.0 + AUGMENTATION + constraint_violation / (1.0 + constraint_violation);
            }
            let mut maximum = f64::NEG_INFINITY;
            let mut sum = 0.0;
            for j in 0..m {
                let range = high[j] - low[j];
                let normalised = if range > 0.0 { (objectives[j] - low[j]) / range } else { 0.0 };
                maximum = maximum.max(weights[j] * normalised);
                sum += weights[j] * normalised;
            }
            maximum + AUGMENTATION * sum
        })
        .collect()
}

/// All single-gene changes of `genome`, or a random sample of `limit` of them.
fn neighbours(
    space: &Space,
    genome: &[usize],
    limit: usize,
    rng: &mut SearchRng,
) -> Vec<Vec<usize>> {
    let mut all = Vec::new();
    for g in 0..genome.len() {
        for choice in 0..space.n_choices(g) {
            if choice != genome[g] {
                let mut neighbour = genome.to_vec();
                neighbour[g] = choice;
                all.push(neighbour);
            }
        }
    }
    if all.len() > limit {
        all.shuffle(rng);
        all.truncate(limit);
    }
    all
}

impl<O: Objective + ?Sized> Engine<O> for BayesianSearch {
    type State = BayesState;

    fn step(
        &self,
        ctx: &mut SearchContext<'_, O>,
        state: BayesState,
    ) -> Result<(BayesState, StepStatus)> {
        self.validate()?;
        let space = ctx.space();
        // Initial design: uniform and random genomes in one parallel batch.
        if !state.initial_design_done {
            let remaining = ctx.remaining_evaluations();
            let mut batch = NovelBatch::with_capacity(self.initial_samples);
            if self.seed_uniform_genomes {
                for genome in uniform_genomes(space) {
                    if batch.len() < remaining {
                        batch.push_if_novel(ctx, genome);
                    }
                }
            }
            batch.fill_with_random(ctx, self.initial_samples.min(remaining));
            if batch.is_empty() {
                return Ok((state, StepStatus::Finished(TerminationReason::SpaceExhausted)));
            }
            batch.evaluate(ctx)?;
            return Ok((BayesState { initial_design_done: true, ..state }, StepStatus::Continue));
        }
        if ctx.evaluations() < 2 {
            // Not enough data to fit a surrogate (a tiny budget or space): sample at random.
            let mut batch = NovelBatch::with_capacity(1);
            batch.fill_with_random(ctx, 1);
            if batch.is_empty() {
                return Ok((state, StepStatus::Finished(TerminationReason::SpaceExhausted)));
            }
            batch.evaluate(ctx)?;
            return Ok((state, StepStatus::Continue));
        }

        let n_objectives = ctx.objective().n_objectives();
        let weights = random_weights(ctx.rng(), n_objectives);
        let scalarised = scalarise(ctx.archive(), &weights);
        let mut by_quality: Vec<usize> = (0..scalarised.len()).collect();
        by_quality.sort_by(|&a, &b| scalarised[a].total_cmp(&scalarised[b]).then(a.cmp(&b)));

        // The GP's training set: everything, or the best half plus a random sample of the rest.
        let training: Vec<usize> = if by_quality.len() <= self.max_gp_points {
            by_quality.clone()
        } else {
            let half = self.max_gp_points / 2;
            let mut rest: Vec<usize> = by_quality[half..].to_vec();
            rest.shuffle(ctx.rng());
            let mut chosen: Vec<usize> = by_quality[..half].to_vec();
            chosen.extend(rest.into_iter().take(self.max_gp_points - half));
            chosen
        };
        let raw_targets: Vec<f64> = training.iter().map(|&i| scalarised[i]).collect();
        let mean = raw_targets.iter().sum::<f64>() / raw_targets.len() as f64;
        let variance =
            raw_targets.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / raw_targets.len() as f64;
        let scale = if variance > 0.0 { variance.sqrt() } else { 1.0 };
        let targets: Vec<f64> = raw_targets.iter().map(|t| (t - mean) / scale).collect();
        let genomes: Vec<Vec<usize>> =
            training.iter().map(|&i| ctx.archive()[i].genome.clone()).collect();
        let n_choices: Vec<usize> = space.genes().iter().map(|g| g.n_choices).collect();
        let start: Option<LogHyperparameters> = state.log_hyperparameters;
        let gp = GaussianProcess::fit(
            self.kernel,
            &n_choices,
            genomes,
            &targets,
            start,
            self.fit_iterations,
        )?;
        let best = (scalarised[by_quality[0]] - mean) / scale;

        // Candidate pool: random genomes, then neighbours and multi-gene mutations of the best.
        let mut pool = NovelBatch::with_capacity(self.random_candidates);
        pool.fill_with_random(ctx, self.random_candidates);
        for &start_index in by_quality.iter().take(self.local_starts) {
            let genome = ctx.archive()[start_index].genome.clone();
            let mut local = neighbours(space, &genome, self.max_neighbours, ctx.rng());
            for _ in 0..(self.max_neighbours / 10).max(1) {
                // Several genes at once, so the pool reaches beyond the immediate neighbourhood.
                let mut mutant = genome.clone();
                let n_changes = ctx.rng().random_range(2..=space.n_genes().clamp(2, 8));
                for _ in 0..n_changes {
                    let g = ctx.rng().random_range(0..space.n_genes());
                    mutant[g] = ctx.rng().random_range(0..space.n_choices(g));
                }
                local.push(mutant);
            }
            for candidate in local {
                pool.push_if_novel(ctx, candidate);
            }
        }
        let pool = pool.into_genomes();
        if pool.is_empty() {
            let status = if ctx.space_exhausted() {
                TerminationReason::SpaceExhausted
            } else {
                TerminationReason::Converged
            };
            return Ok((state, StepStatus::Finished(status)));
        }
        let acquisition = |pool: &[Vec<usize>]| -> Vec<f64> {
            gp.predict(pool)
                .into_iter()
                .map(|(mu, sigma)| expected_improvement(mu, sigma, best))
                .collect()
        };
        let scores = acquisition(&pool);
        let mut best_index = argmax(&scores);
        let mut chosen = pool[best_index].clone();
        let mut chosen_score = scores[best_index];
        // Greedy local search on the acquisition from the best candidate.
        for _ in 0..self.local_search_rounds {
            let moves: Vec<Vec<usize>> = neighbours(space, &chosen, self.max_neighbours, ctx.rng())
                .into_iter()
                .filter(|g| !ctx.is_evaluated(g))
                .collect();
            if moves.is_empty() {
                break;
            }
            let scores = acquisition(&moves);
            best_index = argmax(&scores);
            if scores[best_index] <= chosen_score {
                break;
            }
            chosen_score = scores[best_index];
            chosen = moves[best_index].clone();
        }
        ctx.evaluate(chosen)?;
        Ok((
            BayesState { log_hyperparameters: Some(gp.log_hyperparameters), ..state },
            StepStatus::Continue,
        ))
    }

    fn name(&self) -> &'static str {
        "bayes"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Index of the largest value (the first one on ties).
fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &value) in values.iter().enumerate() {
        if value > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn scalarisation_by_hand() {
        let candidate = |objectives: [f64; 2], violation: f64| EvaluatedCandidate {
            index: 0,
            step: 0,
            genome: vec![],
            evaluation: Evaluation {
                objectives: objectives.to_vec(),
                constraint_violation: violation,
            },
        };
        let archive = [
            candidate([0.0, 10.0], 0.0),
            candidate([2.0, 20.0], 0.0),
            candidate([1.0, 12.0], 0.0),
            candidate([0.0, 0.0], 1.0),
        ];
        // Ranges from all points: f0 in [0, 2], f1 in [0, 20].
        let values = scalarise(&archive, &[0.25, 0.75]);
        // (0,10) -> (0, 0.5): max(0, 0.375) + 0.05 * 0.375.
        assert!((values[0] - (0.375 + 0.05 * 0.375)).abs() < 1e-12);
        // (2,20) -> (1, 1): max(0.25, 0.75) + 0.05 * 1.
        assert!((values[1] - 0.8).abs() < 1e-12);
        // (1,12) -> (0.5, 0.6): max(0.125, 0.45) + 0.05 * 0.575.
        assert!((values[2] - (0.45 + 0.05 * 0.575)).abs() < 1e-12);
        // Infeasible with violation 1: 1.05 + 0.5, worse than any feasible value.
        assert!((values[3] - 1.55).abs() < 1e-12);
    }

    #[test]
    fn weights_are_on_the_simplex() {
        let mut rng = SearchRng::seed_from_u64(1);
        for _ in 0..100 {
            let w = random_weights(&mut rng, 3);
            assert!(w.iter().all(|&x| x >= 0.0) && (w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }
}
