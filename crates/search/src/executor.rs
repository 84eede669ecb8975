//! The search loop: [`Engine`] (one step), [`SearchContext`] (what an engine sees), [`Executor`]
//! (budgets, seed, checkpoints, stop flag, observers) and [`SearchResult`].
//!
//! The executor touches no files: a [`Checkpoint`] is a value handed to a [`CheckpointSink`]
//! the caller implements, and a search resumes from a [`Checkpoint`] the caller has read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SearchError};
use crate::hash::{GenomeIndex, genome_hash};
use crate::hypervolume::HypervolumeIndicator;
use crate::objective::{Evaluation, Objective};
use crate::pareto::best_front;
use crate::space::Space;

/// The random number generator every engine draws from: ChaCha8, portable and serialisable, so
/// that a seed gives the same run on every machine and a checkpoint resumes it exactly.
pub type SearchRng = ChaCha8Rng;

/// A search algorithm, written as one step function in the style of argmin's `Solver`.
///
/// The state goes in and comes out by value; everything an engine remembers between steps must
/// be in its `State` (which is what makes checkpoints resume exactly). All randomness must come
/// from [`SearchContext::rng`] and evaluations from [`SearchContext::evaluate_batch`].
pub trait Engine<O: Objective + ?Sized> {
    /// What the engine carries from one step to the next. `Default` is the state before the
    /// first step.
    type State: Serialize + DeserializeOwned + Default;

    /// Performs one step (e.g. one generation, one batch, one acquisition).
    fn step(
        &self,
        ctx: &mut SearchContext<'_, O>,
        state: Self::State,
    ) -> Result<(Self::State, StepStatus)>;

    /// A short name, recorded in checkpoints.
    fn name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }

    /// The engine's configuration, recorded in checkpoints; resuming with a different one is
    /// refused.
    fn config(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// What an engine says after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    /// Call the step again (unless a budget is exhausted).
    Continue,
    /// The engine is done, for this reason.
    Finished(TerminationReason),
}

/// Why a search stopped. Serialised in snake case (`budget_exhausted`), as run.yaml records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TerminationReason {
    /// The maximum number of evaluations was reached.
    BudgetExhausted,
    /// The maximum wall time was reached.
    TimeLimit,
    /// The stop flag was set (e.g. Ctrl-C).
    Interrupted,
    /// Every genome of the space has been evaluated.
    SpaceExhausted,
    /// The engine found what it was looking for (e.g. the exact front).
    Completed,
    /// The engine judged that further steps would not improve the front.
    Converged,
    /// Many consecutive steps evaluated nothing new.
    Stalled,
}

impl TerminationReason {
    /// The snake-case name (`budget_exhausted`), as run.yaml records it.
    pub fn name(self) -> &'static str {
        match self {
            TerminationReason::BudgetExhausted => "budget_exhausted",
            TerminationReason::TimeLimit => "time_limit",
            TerminationReason::Interrupted => "interrupted",
            TerminationReason::SpaceExhausted => "space_exhausted",
            TerminationReason::Completed => "completed",
            TerminationReason::Converged => "converged",
            TerminationReason::Stalled => "stalled",
        }
    }
}

impl std::fmt::Display for TerminationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One evaluated genome, as recorded by the executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluatedCandidate {
    /// Position in the archive: the `index`-th distinct genome evaluated (from 0).
    pub index: usize,
    /// The step during which it was evaluated (from 0).
    pub step: usize,
    /// The genome.
    pub genome: Vec<usize>,
    /// Its evaluation.
    pub evaluation: Evaluation,
}

/// One point of the convergence history, recorded after every step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Number of steps done.
    pub step: usize,
    /// Number of distinct genomes evaluated so far.
    pub evaluations: usize,
    /// Size of the current best front.
    pub front_size: usize,
    /// Whether the front is feasible.
    pub front_feasible: bool,
    /// Hypervolume of the feasible front (0 while nothing is feasible), if an indicator is set.
    pub hypervolume: Option<f64>,
    /// Wall time since the start of the search, in seconds (including time before a resume).
    pub elapsed_seconds: f64,
}

/// What observers see after each step.
#[derive(Debug)]
pub struct Progress<'a> {
    /// The history entry of this step.
    pub entry: &'a HistoryEntry,
    /// The evaluation budget.
    pub max_evaluations: usize,
    /// The candidates evaluated during this step.
    pub new_candidates: &'a [EvaluatedCandidate],
}

/// Something that watches a search: a progress bar, a log, a live plot.
///
/// Observers cannot change the search; they are called on the executor's thread.
pub trait Observer {
    /// Called after every step.
    fn observe(&mut self, progress: &Progress<'_>);

    /// Called once with the result, before [`Executor::run`] returns.
    fn finish(&mut self, _result: &SearchResult) {}
}

/// Where checkpoints go: a file, a database, memory. Implemented by the caller, so that the
/// search itself does no I/O.
pub trait CheckpointSink {
    /// Stores `checkpoint`, replacing any earlier one. An error stops the search with
    /// [`SearchError::CheckpointSave`].
    fn save(&mut self, checkpoint: &Checkpoint) -> std::result::Result<(), String>;
}

/// Everything needed to continue a search exactly where it was saved: the engine and its
/// configuration, the space, the seed, the random number generator, the archive, the history
/// and the engine's state. Serialise it with serde (JSON keeps every `f64` exactly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    format_version: u32,
    engine: String,
    engine_config: serde_json::Value,
    space: Space,
    seed: u64,
    n_objectives: usize,
    rng: SearchRng,
    steps: usize,
    elapsed_seconds: f64,
    archive: Vec<EvaluatedCandidate>,
    history: Vec<HistoryEntry>,
    engine_state: serde_json::Value,
}

impl Checkpoint {
    /// Number of distinct genomes evaluated when the checkpoint was taken.
    pub fn evaluations(&self) -> usize {
        self.archive.len()
    }
}

/// Budgets and settings of a run.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Maximum number of distinct evaluations; at least 1.
    pub max_evaluations: usize,
    /// Maximum wall time, checked between steps (including time before a resume).
    pub max_wall_time: Option<Duration>,
    /// Seed of the engine's random number generator.
    pub seed: u64,
    /// How to measure the hypervolume history. `None` uses [`Objective::objective_bounds`]
    /// with a 0.1 margin when the objective provides them, and records no hypervolume
    /// otherwise.
    pub hypervolume: Option<HypervolumeIndicator>,
    /// Set to `true` from anywhere (e.g. a Ctrl-C handler) to stop after the current step.
    pub stop_flag: Option<Arc<AtomicBool>>,
}

impl ExecutorConfig {
    /// A configuration with an evaluation budget and a seed, and nothing else.
    pub fn new(max_evaluations: usize, seed: u64) -> Self {
        ExecutorConfig {
            max_evaluations,
            max_wall_time: None,
            seed,
            hypervolume: None,
            stop_flag: None,
        }
    }
}

/// The outcome of a search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResult {
    /// The best front among all evaluated genomes, sorted by the first objective. When nothing
    /// is feasible it holds the least-violating genomes and `front_feasible` is `false`.
    pub front: Vec<EvaluatedCandidate>,
    /// Whether the front is feasible.
    pub front_feasible: bool,
    /// Every evaluated genome, in evaluation order.
    pub archive: Vec<EvaluatedCandidate>,
    /// Front size and hypervolume after each step.
    pub history: Vec<HistoryEntry>,
    /// Why the search stopped.
    pub termination: TerminationReason,
    /// The indicator the history's hypervolumes were measured with.
    pub indicator: Option<HypervolumeIndicator>,
    /// Number of steps done.
    pub steps: usize,
    /// Wall time, including time before a resume.
    pub elapsed_seconds: f64,
}

impl SearchResult {
    /// The last recorded hypervolume, if any.
    pub fn final_hypervolume(&self) -> Option<f64> {
        self.history.last().and_then(|entry| entry.hypervolume)
    }
}

/// What an engine sees of the search: the space, the objective, the RNG, the budget and the
/// archive of everything evaluated so far.
pub struct SearchContext<'a, O: ?Sized> {
    objective: &'a O,
    space: &'a Space,
    rng: SearchRng,
    archive: Vec<EvaluatedCandidate>,
    /// Archive position of every evaluated genome.
    index: GenomeIndex,
    max_evaluations: usize,
    step: usize,
}

// Manual because a derive would require `O: Clone`; only the reference is copied.
impl<O: ?Sized> Clone for SearchContext<'_, O> {
    fn clone(&self) -> Self {
        SearchContext {
            objective: self.objective,
            space: self.space,
            rng: self.rng.clone(),
            archive: self.archive.clone(),
            index: self.index.clone(),
            max_evaluations: self.max_evaluations,
            step: self.step,
        }
    }
}

impl<'a, O: Objective + ?Sized> SearchContext<'a, O> {
    fn new(objective: &'a O, space: &'a Space, rng: SearchRng, max_evaluations: usize) -> Self {
        SearchContext {
            objective,
            space,
            rng,
            archive: Vec::with_capacity(max_evaluations.min(1 << 16)),
            // Growing the index rehashes every entry; start big enough for typical budgets.
            index: GenomeIndex::with_capacity(max_evaluations.min(1 << 16)),
            max_evaluations,
            step: 0,
        }
    }

    /// A ctx outside any executor, for benchmarks and tests of single engine steps.
    pub fn standalone(
        objective: &'a O,
        space: &'a Space,
        seed: u64,
        max_evaluations: usize,
    ) -> Self {
        SearchContext::new(objective, space, SearchRng::seed_from_u64(seed), max_evaluations)
    }

    /// The space searched.
    pub fn space(&self) -> &'a Space {
        self.space
    }

    /// The objective.
    pub fn objective(&self) -> &'a O {
        self.objective
    }

    /// The single source of randomness of the search.
    pub fn rng(&mut self) -> &mut SearchRng {
        &mut self.rng
    }

    /// The archive and the random number generator at once (to read genomes while drawing).
    pub fn archive_and_rng(&mut self) -> (&[EvaluatedCandidate], &mut SearchRng) {
        (&self.archive, &mut self.rng)
    }

    /// Number of distinct genomes evaluated so far.
    pub fn evaluations(&self) -> usize {
        self.archive.len()
    }

    /// How many new genomes may still be evaluated.
    pub fn remaining_evaluations(&self) -> usize {
        self.max_evaluations.saturating_sub(self.archive.len())
    }

    /// Everything evaluated so far, in evaluation order.
    pub fn archive(&self) -> &[EvaluatedCandidate] {
        &self.archive
    }

    /// The record of `genome` if it was evaluated before.
    pub fn lookup(&self, genome: &[usize]) -> Option<&EvaluatedCandidate> {
        self.find(genome_hash(genome), genome).map(|index| &self.archive[index])
    }

    /// Whether `genome` was evaluated before.
    pub fn is_evaluated(&self, genome: &[usize]) -> bool {
        self.find(genome_hash(genome), genome).is_some()
    }

    /// The archive position of `genome`, whose [`genome_hash`] is `hash`.
    pub(crate) fn find(&self, hash: u64, genome: &[usize]) -> Option<usize> {
        self.index.find(hash, genome, |i| &self.archive[i].genome)
    }

    /// Whether every genome of the space has been evaluated.
    pub fn space_exhausted(&self) -> bool {
        self.space.size().is_some_and(|size| self.archive.len() as u128 >= size)
    }

    /// Evaluates a batch and returns the archive positions of the genomes, in input order
    /// (read the results from [`SearchContext::archive`]).
    ///
    /// Genomes evaluated before (or repeated within the batch) are answered from the archive
    /// and cost nothing; the new ones are evaluated together with
    /// [`Objective::evaluate_batch`] and recorded. Asking for more new genomes than
    /// [`SearchContext::remaining_evaluations`] is an error ([`SearchError::BudgetOverrun`]), as is
    /// a genome that does not fit the space.
    pub fn evaluate_batch(&mut self, genomes: Vec<Vec<usize>>) -> Result<Vec<usize>> {
        let hashed = genomes.into_iter().map(|genome| (genome_hash(&genome), genome)).collect();
        self.evaluate_hashed(hashed)
    }

    /// [`SearchContext::evaluate_batch`] for genomes whose [`genome_hash`] is already known.
    pub(crate) fn evaluate_hashed(
        &mut self,
        genomes: Vec<(u64, Vec<usize>)>,
    ) -> Result<Vec<usize>> {
        let first_new = self.archive.len();
        // New genomes move into the archive without a copy.
        let mut positions: Vec<usize> = Vec::with_capacity(genomes.len());
        let mut novel: Vec<(u64, Vec<usize>)> = Vec::with_capacity(genomes.len());
        let mut novel_index = GenomeIndex::with_capacity(genomes.len());
        for (hash, genome) in genomes {
            self.space.check_genome(&genome)?;
            if let Some(position) = self.find(hash, &genome) {
                positions.push(position);
            } else if let Some(k) = novel_index.find(hash, &genome, |k| &novel[k].1) {
                positions.push(first_new + k);
            } else {
                novel_index.insert(hash, novel.len());
                positions.push(first_new + novel.len());
                novel.push((hash, genome));
            }
        }
        if novel.len() > self.remaining_evaluations() {
            return Err(SearchError::BudgetOverrun {
                requested: novel.len(),
                remaining: self.remaining_evaluations(),
            });
        }
        if novel.is_empty() {
            return Ok(positions);
        }
        let (hashes, novel): (Vec<u64>, Vec<Vec<usize>>) = novel.into_iter().unzip();
        let evaluations = self.objective.evaluate_batch(&novel);
        if evaluations.len() != novel.len() {
            return Err(SearchError::InvalidEvaluation {
                evaluation_index: first_new,
                reason: format!(
                    "evaluate_batch returned {} evaluations for {} genomes",
                    evaluations.len(),
                    novel.len()
                ),
            });
        }
        let n_objectives = self.objective.n_objectives();
        for (offset, evaluation) in evaluations.iter().enumerate() {
            check_evaluation(evaluation, n_objectives, first_new + offset)?;
        }
        self.archive.reserve(novel.len());
        for ((hash, genome), evaluation) in hashes.into_iter().zip(novel).zip(evaluations) {
            let index = self.archive.len();
            self.index.insert(hash, index);
            self.archive.push(EvaluatedCandidate { index, step: self.step, genome, evaluation });
        }
        Ok(positions)
    }

    /// Evaluates one genome and returns its archive position (see
    /// [`SearchContext::evaluate_batch`]).
    pub fn evaluate(&mut self, genome: Vec<usize>) -> Result<usize> {
        Ok(self.evaluate_batch(vec![genome])?[0])
    }
}

fn check_evaluation(
    evaluation: &Evaluation,
    n_objectives: usize,
    evaluation_index: usize,
) -> Result<()> {
    let invalid = |reason: String| Err(SearchError::InvalidEvaluation { evaluation_index, reason });
    if evaluation.objectives.len() != n_objectives {
        return invalid(format!(
            "{} objective values, the objective declares {n_objectives}",
            evaluation.objectives.len()
        ));
    }
    if let Some((j, value)) = evaluation.objectives.iter().enumerate().find(|(_, v)| !v.is_finite())
    {
        return invalid(format!("objective {j} is {value}"));
    }
    let violation = evaluation.constraint_violation;
    if !(violation.is_finite() && violation >= 0.0) {
        return invalid(format!("constraint violation is {violation}, must be finite and >= 0"));
    }
    Ok(())
}

/// Owns the search loop: runs an [`Engine`] on an [`Objective`] until a budget is exhausted,
/// the engine finishes or the stop flag is set.
pub struct Executor<'a, O: Objective + ?Sized, E: Engine<O>> {
    objective: &'a O,
    space: Space,
    engine: E,
    config: ExecutorConfig,
    indicator: Option<HypervolumeIndicator>,
    observers: Vec<Box<dyn Observer + 'a>>,
    checkpoints: Option<(usize, Box<dyn CheckpointSink + 'a>)>,
}

const CHECKPOINT_FORMAT_VERSION: u32 = 1;

/// Steps in a row without a new evaluation after which a search is declared stalled.
const MAX_IDLE_STEPS: usize = 100;

impl<'a, O: Objective + ?Sized, E: Engine<O>> Executor<'a, O, E> {
    /// Prepares a run, validating the configuration.
    pub fn new(objective: &'a O, space: Space, engine: E, config: ExecutorConfig) -> Result<Self> {
        if config.max_evaluations == 0 {
            return Err(SearchError::InvalidConfig {
                parameter: "max_evaluations",
                reason: "must be at least 1".to_owned(),
            });
        }
        if config.max_wall_time == Some(Duration::ZERO) {
            return Err(SearchError::InvalidConfig {
                parameter: "max_wall_time",
                reason: "must be positive".to_owned(),
            });
        }
        if objective.n_objectives() == 0 {
            return Err(SearchError::InvalidConfig {
                parameter: "objective",
                reason: "must have at least one objective".to_owned(),
            });
        }
        let indicator = match &config.hypervolume {
            Some(indicator) => Some(indicator.clone()),
            None => objective
                .objective_bounds()
                .and_then(|bounds| HypervolumeIndicator::normalized(bounds, 0.1).ok()),
        };
        if let Some(indicator) = &indicator
            && indicator.n_objectives() != objective.n_objectives()
        {
            return Err(SearchError::DimensionMismatch {
                what: "hypervolume indicator (against the objective)".to_owned(),
                expected: objective.n_objectives(),
                found: indicator.n_objectives(),
            });
        }
        Ok(Executor {
            objective,
            space,
            engine,
            config,
            indicator,
            observers: Vec::new(),
            checkpoints: None,
        })
    }

    /// Saves a [`Checkpoint`] to `sink` after the first step that brings the evaluations at
    /// least `every_evaluations` past the last checkpoint, and once more when the search stops.
    pub fn checkpoint_to(
        mut self,
        every_evaluations: usize,
        sink: impl CheckpointSink + 'a,
    ) -> Result<Self> {
        if every_evaluations == 0 {
            return Err(SearchError::InvalidConfig {
                parameter: "checkpoint every_evaluations",
                reason: "must be at least 1".to_owned(),
            });
        }
        self.checkpoints = Some((every_evaluations, Box::new(sink)));
        Ok(self)
    }

    /// Adds an observer, called after every step.
    pub fn add_observer(mut self, observer: impl Observer + 'a) -> Self {
        self.observers.push(Box::new(observer));
        self
    }

    /// Runs the search from the start.
    pub fn run(self) -> Result<SearchResult> {
        let rng = SearchRng::seed_from_u64(self.config.seed);
        let start = Resumed {
            rng,
            steps: 0,
            elapsed_before: 0.0,
            archive: Vec::new(),
            history: Vec::new(),
            engine_state: E::State::default(),
        };
        self.run_from(start)
    }

    /// Continues a search from a checkpoint taken by an identical run (same engine and
    /// configuration, space, seed and objective). The budgets are those of this executor's
    /// configuration, so a resumed run may also be given a larger budget.
    pub fn resume(self, checkpoint: Checkpoint) -> Result<SearchResult> {
        let mismatch = |field| Err(SearchError::CheckpointMismatch { field });
        // The engine state is decoded only after the header has been checked, so that a
        // checkpoint of another engine gives a mismatch error rather than a format error.
        if checkpoint.format_version != CHECKPOINT_FORMAT_VERSION {
            return mismatch("format version");
        }
        if checkpoint.engine != self.engine.name() {
            return mismatch("engine");
        }
        if checkpoint.engine_config != self.engine.config() {
            return mismatch("engine configuration");
        }
        if checkpoint.space != self.space {
            return mismatch("space");
        }
        if checkpoint.seed != self.config.seed {
            return mismatch("seed");
        }
        if checkpoint.n_objectives != self.objective.n_objectives() {
            return mismatch("number of objectives");
        }
        let start = Resumed {
            rng: checkpoint.rng,
            steps: checkpoint.steps,
            elapsed_before: checkpoint.elapsed_seconds,
            archive: checkpoint.archive,
            history: checkpoint.history,
            engine_state: serde_json::from_value(checkpoint.engine_state)
                .map_err(|source| SearchError::CheckpointFormat { source })?,
        };
        self.run_from(start)
    }

    fn run_from(mut self, start: Resumed<E::State>) -> Result<SearchResult> {
        let clock = Instant::now();
        let elapsed = |clock: &Instant| start.elapsed_before + clock.elapsed().as_secs_f64();
        let mut ctx =
            SearchContext::new(self.objective, &self.space, start.rng, self.config.max_evaluations);
        for (position, candidate) in start.archive.iter().enumerate() {
            self.space.check_genome(&candidate.genome)?;
            if candidate.index != position {
                return Err(SearchError::InvalidConfig {
                    parameter: "checkpoint archive",
                    reason: format!("entry {position} has index {}", candidate.index),
                });
            }
            ctx.index.insert(genome_hash(&candidate.genome), position);
        }
        ctx.archive = start.archive;
        ctx.step = start.steps;
        let mut history = start.history;
        let mut state = start.engine_state;
        let (mut front, mut front_feasible) =
            best_front_of(&ctx.archive, (0..ctx.archive.len()).collect());
        let mut last_checkpoint = ctx.evaluations();
        let mut idle_steps = 0;

        let termination = loop {
            if let Some(reason) = self.budget_reason(&ctx, elapsed(&clock)) {
                break reason;
            }
            let before = ctx.evaluations();
            let (next_state, status) = self.engine.step(&mut ctx, state)?;
            state = next_state;
            ctx.step += 1;
            let new_indices: Vec<usize> = (before..ctx.evaluations()).collect();
            idle_steps = if new_indices.is_empty() { idle_steps + 1 } else { 0 };
            let mut candidates = front;
            candidates.extend(new_indices);
            (front, front_feasible) = best_front_of(&ctx.archive, candidates);
            let hypervolume = match (&self.indicator, front_feasible) {
                (None, _) => None,
                (Some(_), false) => Some(0.0),
                (Some(indicator), true) => {
                    let points: Vec<&[f64]> = front
                        .iter()
                        .map(|&i| ctx.archive[i].evaluation.objectives.as_slice())
                        .collect();
                    Some(indicator.evaluate(&points)?.value)
                }
            };
            history.push(HistoryEntry {
                step: ctx.step,
                evaluations: ctx.evaluations(),
                front_size: front.len(),
                front_feasible,
                hypervolume,
                elapsed_seconds: elapsed(&clock),
            });
            let entry = &history[history.len() - 1];
            let progress = Progress {
                entry,
                max_evaluations: self.config.max_evaluations,
                new_candidates: &ctx.archive[before..],
            };
            for observer in &mut self.observers {
                observer.observe(&progress);
            }
            if let StepStatus::Finished(reason) = status {
                break reason;
            }
            if idle_steps >= MAX_IDLE_STEPS {
                break TerminationReason::Stalled;
            }
            if let Some((every, _)) = &self.checkpoints
                && ctx.evaluations() - last_checkpoint >= *every
            {
                let checkpoint = self.checkpoint(&ctx, &history, &state, elapsed(&clock))?;
                save(&mut self.checkpoints, checkpoint)?;
                last_checkpoint = ctx.evaluations();
            }
        };
        if self.checkpoints.is_some() {
            let checkpoint = self.checkpoint(&ctx, &history, &state, elapsed(&clock))?;
            save(&mut self.checkpoints, checkpoint)?;
        }

        let mut front_candidates: Vec<EvaluatedCandidate> =
            front.iter().map(|&i| ctx.archive[i].clone()).collect();
        front_candidates.sort_by(|a, b| {
            a.evaluation.objectives[0]
                .total_cmp(&b.evaluation.objectives[0])
                .then(a.index.cmp(&b.index))
        });
        let result = SearchResult {
            front: front_candidates,
            front_feasible,
            archive: ctx.archive,
            history,
            termination,
            indicator: self.indicator.clone(),
            steps: ctx.step,
            elapsed_seconds: elapsed(&clock),
        };
        for observer in &mut self.observers {
            observer.finish(&result);
        }
        Ok(result)
    }

    fn budget_reason(
        &self,
        ctx: &SearchContext<'_, O>,
        elapsed_seconds: f64,
    ) -> Option<TerminationReason> {
        if self.config.stop_flag.as_ref().is_some_and(|flag| flag.load(Ordering::SeqCst)) {
            return Some(TerminationReason::Interrupted);
        }
        if ctx.remaining_evaluations() == 0 {
            return Some(TerminationReason::BudgetExhausted);
        }
        if self.config.max_wall_time.is_some_and(|limit| elapsed_seconds >= limit.as_secs_f64()) {
            return Some(TerminationReason::TimeLimit);
        }
        if ctx.space_exhausted() {
            return Some(TerminationReason::SpaceExhausted);
        }
        None
    }

    fn checkpoint(
        &self,
        ctx: &SearchContext<'_, O>,
        history: &[HistoryEntry],
        state: &E::State,
        elapsed_seconds: f64,
    ) -> Result<Checkpoint> {
        Ok(Checkpoint {
            format_version: CHECKPOINT_FORMAT_VERSION,
            engine: self.engine.name().to_owned(),
            engine_config: self.engine.config(),
            space: self.space.clone(),
            seed: self.config.seed,
            n_objectives: self.objective.n_objectives(),
            rng: ctx.rng.clone(),
            steps: ctx.step,
            elapsed_seconds,
            archive: ctx.archive.clone(),
            history: history.to_vec(),
            engine_state: serde_json::to_value(state)
                .map_err(|source| SearchError::CheckpointFormat { source })?,
        })
    }
}

fn save(
    sink: &mut Option<(usize, Box<dyn CheckpointSink + '_>)>,
    checkpoint: Checkpoint,
) -> Result<()> {
    match sink {
        Some((_, sink)) => {
            sink.save(&checkpoint).map_err(|msg| SearchError::CheckpointSave { msg })
        }
        None => Ok(()),
    }
}

struct Resumed<S> {
    rng: SearchRng,
    steps: usize,
    elapsed_before: f64,
    archive: Vec<EvaluatedCandidate>,
    history: Vec<HistoryEntry>,
    engine_state: S,
}

fn best_front_of(archive: &[EvaluatedCandidate], candidates: Vec<usize>) -> (Vec<usize>, bool) {
    let evaluations: Vec<&Evaluation> =
        candidates.iter().map(|&i| &archive[i].evaluation).collect();
    let (front, feasible) = best_front(&evaluations);
    (front.into_iter().map(|k| candidates[k]).collect(), feasible)
}
