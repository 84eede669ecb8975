//! Multi-objective search over discrete spaces, for sculpt's compression search.
//!
//! The crate knows nothing about tensors, models or files: it minimises any [`Objective`] over
//! a [`Space`] of genes, where a genome picks one choice per gene (in sculpt, one compression
//! option per layer or tied group of layers).
//!
//! - [`Objective`] evaluates genomes (one or a batch) into an [`Evaluation`]: objective values
//!   and a constraint violation. [`AdditiveObjective`] is the concrete one sculpt builds from
//!   cost and sensitivity tables.
//! - An [`Engine`] performs one step of a search: [`Nsga2`], [`BayesianSearch`],
//!   [`RandomSearch`], [`ExhaustiveSearch`], and [`ExactEngine`] (the exact Pareto front of an
//!   additive objective by dynamic programming, also available as [`exact_pareto_front`]).
//! - The [`Executor`] owns the loop: budgets, seed, checkpoints, the stop flag, [`Observer`]s.
//!   It records every evaluated candidate and the hypervolume after each step, and returns a
//!   [`SearchResult`].
//! - Pareto utilities ([`non_dominated_sort`], [`crowding_distance`], [`pareto_front`]) and
//!   [`hypervolume`] (with [`HypervolumeIndicator`] for comparable values) work on plain
//!   `&[f64]` points.
//!
//! Runs are deterministic: the same seed gives the same front, bit for bit, whatever the
//! number of rayon threads, because every random decision is drawn on the engine's single
//! [`SearchRng`] and batches are evaluated in parallel but consumed in order.
//!
//! ```
//! use sculpt_search::{
//!     AdditiveGene, AdditiveObjective, AdditiveProblem, ExecutorConfig, Executor, Nsga2,
//!     exact_pareto_front, ExactConfig,
//! };
//!
//! // Two layers, three options each: (accuracy loss, latency) contributions per option.
//! let problem = AdditiveProblem {
//!     objective_names: vec!["accuracy_loss".into(), "latency_ms".into()],
//!     base: vec![0.0, 1.0],
//!     genes: vec![
//!         AdditiveGene {
//!             name: "conv1".into(),
//!             contributions: vec![vec![0.0, 3.0], vec![0.1, 2.0], vec![0.4, 1.0]],
//!         },
//!         AdditiveGene {
//!             name: "fc".into(),
//!             contributions: vec![vec![0.0, 4.0], vec![0.25, 2.0], vec![0.5, 1.5]],
//!         },
//!     ],
//!     upper_bounds: vec![None, Some(6.0)], // latency at most 6 ms
//! };
//! let objective = AdditiveObjective::new(problem)?;
//! let space = objective.space().clone();
//! // A budget of 9 evaluations covers the whole space, so NSGA-II must find the exact front.
//! let result = Executor::new(&objective, space, Nsga2::default(), ExecutorConfig::new(9, 42))?
//!     .run()?;
//! let exact = exact_pareto_front(&objective, &ExactConfig::default())?;
//! let found: Vec<&[f64]> = result.front.iter().map(|c| c.evaluation.objectives.as_slice()).collect();
//! let expected: Vec<&[f64]> = exact.iter().map(|p| p.objectives.as_slice()).collect();
//! assert_eq!(found, expected);
//! # Ok::<(), sculpt_search::SearchError>(())
//! ```

#![deny(missing_docs)]

mod engines;
mod error;
mod exact;
mod executor;
mod hash;
mod hypervolume;
mod objective;
mod pareto;
mod space;

pub use engines::bayes::{BayesState, BayesianSearch};
pub use engines::exhaustive::{ExhaustiveSearch, ExhaustiveState};
pub use engines::gp::SurrogateKernel;
pub use engines::nsga2::{Mutation, Nsga2, Nsga2State};
pub use engines::random::RandomSearch;
pub use error::{Result, SearchError};
pub use exact::{ExactConfig, ExactEngine, ExactPoint, exact_pareto_front};
pub use executor::{
    Checkpoint, CheckpointSink, Engine, EvaluatedCandidate, Executor, ExecutorConfig, HistoryEntry,
    Observer, Progress, SearchContext, SearchResult, SearchRng, StepStatus, TerminationReason,
};
pub use hypervolume::{
    Hypervolume, HypervolumeIndicator, MONTE_CARLO_SAMPLES, ObjectiveBounds, ReferencePoint,
    hypervolume, hypervolume_2d, hypervolume_3d, hypervolume_exact, hypervolume_monte_carlo,
};
pub use objective::{AdditiveGene, AdditiveObjective, AdditiveProblem, Evaluation, Objective};
pub use pareto::{
    best_front, constrained_dominates, constrained_non_dominated_sort, crowding_distance,
    dominates, non_dominated_sort, pareto_front, pareto_levels,
};
pub use space::{Gene, Space};
