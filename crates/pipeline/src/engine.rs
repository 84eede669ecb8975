//! Running the chosen engine over a run's tables: dispatch by [`EngineKind`], the `full` proxy's
//! objective, and checkpoints kept in the run directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sculpt_model::{Batch, Model};
use sculpt_search::{
    BayesianSearch, Checkpoint, CheckpointSink, Engine, Evaluation, ExactConfig, ExactEngine,
    Executor, ExecutorConfig, ExhaustiveSearch, Nsga2, Objective, ObjectiveBounds, Observer,
    Progress, RandomSearch, SearchResult, pareto_front,
};

use crate::config::{EngineKind, SearchConfig};
use crate::error::{Error, Result};
use crate::problem::TableObjective;
use crate::sensitivity::{EvalSet, Reference, evaluate_plan};
use crate::space::ExpandedSpace;

/// The `full` proxy: every plan is compressed and evaluated on the calibration split; the
/// other quantities come from the tables.
pub(crate) struct FullObjective<'a> {
    pub(crate) table: TableObjective,
    pub(crate) model: &'a Model,
    pub(crate) space: &'a ExpandedSpace,
    pub(crate) set: &'a EvalSet,
    pub(crate) reference: Reference,
    pub(crate) calibration: Option<&'a Batch>,
    /// The measured loss of every genome evaluated, for the run's tables.
    pub(crate) losses: Mutex<BTreeMap<Vec<usize>, f64>>,
}

impl FullObjective<'_> {
    /// The measured loss of `genome`, when it was evaluated.
    pub(crate) fn loss(&self, genome: &[usize]) -> Option<f64> {
        self.losses.lock().ok().and_then(|m| m.get(genome).copied())
    }
}

impl Objective for FullObjective<'_> {
    fn n_objectives(&self) -> usize {
        self.table.n_objectives()
    }

    fn evaluate(&self, genome: &[usize]) -> Evaluation {
        let plan = self.space.plan(&self.model.graph, genome, &self.model.name);
        // A plan that fails to apply or run scores as the worst possible loss.
        let loss = evaluate_plan(self.model, &plan, self.set, &self.reference, self.calibration)
            .map(|f| self.reference.metric - f.metric)
            .unwrap_or(1.0);
        if let Ok(mut m) = self.losses.lock() {
            m.insert(genome.to_vec(), loss);
        }
        let mut q = self.table.quantities(genome);
        q[0] = loss;
        let (violation, _) = self.table.violation(&q);
        Evaluation {
            objectives: self.table.objectives.iter().map(|&j| q[j]).collect(),
            constraint_violation: violation,
        }
    }

    fn objective_bounds(&self) -> Option<ObjectiveBounds> {
        self.table.objective_bounds()
    }
}

/// Saves checkpoints as JSON files, atomically.
struct FileCheckpoints {
    path: PathBuf,
}

impl CheckpointSink for FileCheckpoints {
    fn save(&mut self, checkpoint: &Checkpoint) -> std::result::Result<(), String> {
        let json = serde_json::to_vec(checkpoint).map_err(|e| e.to_string())?;
        sculpt_stdx::write_atomic(&self.path, &json)
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// Reads a checkpoint written by [`FileCheckpoints`].
fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let text =
        std::fs::read_to_string(path).map_err(|error| Error::Io { path: path.into(), error })?;
    serde_json::from_str(&text).map_err(|e| Error::Invalid {
        msg: format!("{}: not a sculpt checkpoint ({e})", path.display()),
    })
}

/// Forwards to a boxed observer, so that one can be added to an executor by value.
struct ObserverBox<'a>(Box<dyn Observer + 'a>);

impl Observer for ObserverBox<'_> {
    fn observe(&mut self, progress: &Progress<'_>) {
        self.0.observe(progress);
    }

    fn finish(&mut self, result: &SearchResult) {
        self.0.finish(result);
    }
}

/// Runs `engine` on `objective` with the run's budget, seed, time limit, stop flag, observer
/// and checkpoints (resumed from `checkpoint` when given).
fn execute<'a, O, E>(
    cfg: &SearchConfig,
    objective: &'a O,
    n_choices: &[usize],
    engine: E,
    observer: Option<Box<dyn Observer + 'a>>,
    checkpoints: Option<(&Path, Option<Checkpoint>)>,
) -> Result<SearchResult>
where
    O: Objective + ?Sized,
    E: Engine<O>,
{
    let space = sculpt_search::Space::new(
        n_choices
            .iter()
            .enumerate()
            .map(|(g, &n)| sculpt_search::Gene { name: format!("gene{g}"), n_choices: n })
            .collect(),
    )?;
    let mut config = ExecutorConfig::new(cfg.budget, cfg.seed);
    config.max_wall_time = cfg.time_limit;
    config.stop_flag = cfg.stop.clone();
    let mut executor = Executor::new(objective, space, engine, config)?;
    if let Some(o) = observer {
        executor = executor.add_observer(ObserverBox(o));
    }
    let resume_from = match checkpoints {
        Some((path, resume_from)) => {
            let sink = FileCheckpoints { path: path.to_path_buf() };
            executor = executor.checkpoint_to((cfg.budget / 10).max(1), sink)?;
            resume_from
        }
        None => None,
    };
    Ok(match resume_from {
        Some(checkpoint) => executor.resume(checkpoint)?,
        None => executor.run()?,
    })
}

/// Runs the configured engine, which must be one that evaluates through the objective (every
/// engine but the exact one).
fn run_evaluating<'a, O: Objective + ?Sized>(
    cfg: &SearchConfig,
    objective: &'a O,
    n_choices: &[usize],
    observer: Option<Box<dyn Observer + 'a>>,
    checkpoints: Option<(&Path, Option<Checkpoint>)>,
) -> Result<SearchResult> {
    match cfg.engine {
        EngineKind::Nsga2 => {
            execute(cfg, objective, n_choices, Nsga2::default(), observer, checkpoints)
        }
        EngineKind::Bayes => {
            execute(cfg, objective, n_choices, BayesianSearch::default(), observer, checkpoints)
        }
        EngineKind::Random => {
            execute(cfg, objective, n_choices, RandomSearch::default(), observer, checkpoints)
        }
        EngineKind::Exhaustive => {
            execute(cfg, objective, n_choices, ExhaustiveSearch::default(), observer, checkpoints)
        }
        EngineKind::Exact => Err(Error::Invalid {
            msg: "the exact engine needs additive tables; use --proxy hybrid or table with \
                  --engine exact"
                .into(),
        }),
    }
}

/// Runs the configured engine on the additive tables (`table` and `hybrid` proxies), with
/// checkpoints at `checkpoint` when given (resumed from there when `cfg.resume`).
pub(crate) fn run_table_engine(
    cfg: &SearchConfig,
    objective: &TableObjective,
    observer: Option<Box<dyn Observer + '_>>,
    checkpoint: Option<&Path>,
) -> Result<SearchResult> {
    let n_choices: Vec<usize> = objective.genes.iter().map(Vec::len).collect();
    let resume_from = match (checkpoint, cfg.resume) {
        (Some(path), true) => Some(read_checkpoint(path)?),
        _ => None,
    };
    let checkpoints = checkpoint.map(|path| (path, resume_from));
    if cfg.engine != EngineKind::Exact {
        return run_evaluating(cfg, objective, &n_choices, observer, checkpoints);
    }
    let (additive, _) = objective.additive()?;
    let engine = ExactEngine { config: ExactConfig::default() };
    let mut r = execute(cfg, &additive, &n_choices, engine, observer, checkpoints)?;
    // The exact front spans the constrained quantities too; map every candidate back to the
    // searched objectives and keep the non-dominated feasible ones.
    for c in r.archive.iter_mut().chain(r.front.iter_mut()) {
        c.evaluation = objective.evaluate(&c.genome);
    }
    let pts: Vec<Vec<f64>> = r.front.iter().map(|c| c.evaluation.objectives.clone()).collect();
    let keep = pareto_front(&pts);
    r.front = keep.into_iter().map(|i| r.front[i].clone()).collect();
    Ok(r)
}

/// Runs the configured engine with the `full` proxy (no checkpoints: every evaluation is a real
/// one and the measured losses live in the objective).
pub(crate) fn run_full_engine(
    cfg: &SearchConfig,
    objective: &FullObjective<'_>,
    observer: Option<Box<dyn Observer + '_>>,
) -> Result<SearchResult> {
    let n_choices: Vec<usize> = objective.table.genes.iter().map(Vec::len).collect();
    run_evaluating(cfg, objective, &n_choices, observer, None)
}
