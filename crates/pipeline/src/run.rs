//! `sculpt search` as a library function: model → cost tables → sensitivity → engine → the
//! front re-evaluated for real → the run directory (written through sculpt-run).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use sculpt_compress::CompressionPlan;
use sculpt_hw::CostModel;
use sculpt_model::{Model, Task};
use sculpt_run::{
    Baseline, ConstraintMap, DataSources, LatencySource, PlanRow, RunWriter, RunYaml, Source,
    TerminationReason,
};
use sculpt_search::Observer;

use crate::config::{ProxyMode, SearchConfig};
use crate::costs::{NodeWorkload, graph_workloads};
use crate::data::{DataSelection, Splits, splits};
use crate::engine::{FullObjective, run_full_engine, run_table_engine};
use crate::error::{Error, Result};
use crate::monitor::RunMonitor;
use crate::problem::{Quantities, TableObjective, cost_tables};
use crate::record;
use crate::sensitivity::{SensitivityTable, evaluate_plan, reference, sensitivity, sha256_hex};
use crate::space::{ExpandedSpace, SearchSpace, expand};

/// What a run produced, for the terminal.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The run directory.
    pub out: std::path::PathBuf,
    /// Plans evaluated by the engine.
    pub evaluations: usize,
    /// Plans on the front.
    pub front: usize,
    /// Whether any plan met the constraints.
    pub feasible: bool,
    /// Why the engine stopped.
    pub termination: TerminationReason,
    /// The task metric behind the accuracy losses (`accuracy`, `cosine`, `weight_error`, ...).
    pub metric: String,
    /// The baseline's headline metric on the validation split.
    pub baseline_metric: f64,
    /// Seconds.
    pub duration_s: f64,
    /// Notes for the user (dropped options, cache warnings, infeasibility).
    pub notes: Vec<String>,
    /// The front plans as front.csv holds them.
    pub front_rows: Vec<PlanRow>,
}

/// Steps 1 and 2 of a search: the model, the device (when named), the space file and the space
/// expanded against both.
pub struct Inputs {
    /// The model.
    pub model: Model,
    /// The device's cost model.
    pub cost_model: Option<CostModel>,
    /// The space file as read.
    pub space_file: SearchSpace,
    /// Every node's workload at the run's batch and token count.
    pub workloads: Vec<NodeWorkload>,
    /// The space expanded against the model (and the device, when named).
    pub space: ExpandedSpace,
}

impl Inputs {
    /// Loads the model, the device profile (when given) and the space, and expands the space.
    pub fn load(
        model: &str,
        hardware: Option<&Path>,
        space: &Path,
        batch: usize,
        tokens: usize,
    ) -> Result<Inputs> {
        let model = sculpt_compress::load_any(model, sculpt_compress::Kernels::Dequantized)?;
        let cost_model = hardware.map(CostModel::load).transpose()?;
        let space_file = SearchSpace::from_path(space)?;
        let workloads = graph_workloads(&model.graph, batch, tokens)?;
        let space = expand(&space_file, &model.graph, &workloads, cost_model.as_ref())?;
        if space.genes.is_empty() {
            return Err(Error::Invalid {
                msg: "the space leaves nothing to search for this model and device".into(),
            });
        }
        Ok(Inputs { model, cost_model, space_file, workloads, space })
    }

    /// Step 4: the per-layer sensitivity of every gene × option (the data-free table when
    /// `data` is `None`).
    pub fn sensitivity(
        &self,
        data: Option<&Splits>,
        cache_dir: Option<&Path>,
        monitor: &dyn RunMonitor,
    ) -> Result<SensitivityTable> {
        match data {
            None => crate::datafree::data_free_table(&self.model, &self.space),
            Some(data) => sensitivity(
                &self.model,
                &self.space,
                &data.calibration,
                data.calib_batch.as_ref(),
                cache_dir,
                &|d, t| monitor.sensitivity(d, t),
            ),
        }
    }
}

/// The task metric behind a run's accuracy losses.
fn metric_name(model: &Model, data: Option<&Splits>) -> &'static str {
    match (model.graph.task(), data) {
        (_, None) => "weight_error",
        (Task::Classification { .. }, Some(d)) if d.validation.labels.is_some() => "accuracy",
        (Task::Classification { .. }, Some(_)) => "agreement",
        (Task::Embedding { .. }, Some(_)) => "cosine",
    }
}

/// Runs a search and writes the run directory.
pub fn run_search(
    cfg: &SearchConfig,
    monitor: &dyn RunMonitor,
    observer: Option<Box<dyn Observer + '_>>,
) -> Result<RunSummary> {
    let started = Instant::now();
    let started_at = sculpt_stdx::now_rfc3339();
    if cfg.budget == 0 {
        return Err(Error::Invalid { msg: "--budget must be at least 1".into() });
    }
    monitor.stage("loading model, device and space");
    let inputs = Inputs::load(&cfg.model, Some(&cfg.hardware), &cfg.space, cfg.batch, cfg.tokens)?;
    let Inputs { model, cost_model, space_file, workloads, space } = &inputs;
    let cost_model = cost_model
        .as_ref()
        .ok_or_else(|| Error::Invalid { msg: "a search needs a device profile".into() })?;
    let constraints = space_file.constraints.merged(&cfg.constraints);
    let mut notes = summarise_dropped(&space.dropped);
    // The default proxy without data that fits the model: rank by weight error rather than
    // refuse, and say so.
    let resolved;
    let cfg = if cfg.proxy == ProxyMode::Hybrid
        && cfg.data.is_none()
        && !crate::data::fits_bundled(model)
    {
        notes.push(format!(
            "no --data given and the bundled Fashion-MNIST does not fit `{}`: searched with the \
             data-free proxy (give --data for accuracy)",
            model.name
        ));
        resolved = SearchConfig { proxy: ProxyMode::DataFree, ..cfg.clone() };
        &resolved
    } else {
        cfg
    };
    // An unwritable run directory fails now, not after the sensitivity pass.
    let writer = RunWriter::create(&cfg.out)?;
    monitor.stage("cost tables");
    let costs = cost_tables(&model.graph, space, workloads, cost_model)?;
    let data = load_data(cfg, model)?;
    let recovery_data = prepare_recovery(cfg, model, data.as_ref(), &mut notes)?;
    monitor.stage("per-layer sensitivity");
    let sens = inputs.sensitivity(data.as_ref(), cfg.cache_dir.as_deref(), monitor)?;
    notes.extend(sens.warnings.iter().cloned());
    if cfg.proxy == ProxyMode::DataFree {
        notes.push("data-free proxy: accuracy_loss is the relative weight reconstruction error (dimensionless), not an accuracy; no plan was evaluated on data".into());
    }
    let deltas: Vec<Vec<f64>> =
        sens.entries.iter().map(|g| g.iter().map(|e| e.delta).collect()).collect();
    let table = TableObjective::new(&costs, &deltas, &space_file.objectives, &constraints);
    let full = match (&data, cfg.proxy) {
        (Some(data), ProxyMode::Full) => Some(FullObjective {
            table: table.clone(),
            model,
            space,
            set: &data.calibration,
            reference: reference(model, &data.calibration)?,
            calibration: data.calib_batch.as_ref(),
            losses: Mutex::new(BTreeMap::new()),
        }),
        _ => None,
    };
    if let Some(path) = &cfg.export_problem {
        export_problem(&table, path)?;
    }

    let checkpoint = prepare_checkpoint(cfg, &writer)?;
    monitor.stage(&format!("searching with {}", cfg.engine.name()));
    let result = match &full {
        Some(f) => run_full_engine(cfg, f, observer)?,
        None => run_table_engine(cfg, &table, observer, checkpoint.as_deref())?,
    };
    if let Some(path) = &checkpoint
        && !matches!(
            result.termination,
            TerminationReason::Interrupted | TerminationReason::TimeLimit
        )
    {
        // A finished search needs no checkpoint; an interrupted one keeps it for --resume.
        let _ = std::fs::remove_file(path);
    }
    let quantities = |genome: &[usize]| -> Quantities {
        let mut q = table.quantities(genome);
        if let Some(loss) = full.as_ref().and_then(|f| f.loss(genome)) {
            q[0] = loss;
        }
        q
    };

    monitor.stage("re-evaluating the front");
    let front = FrontEvaluation::new(cfg, model, cost_model, data.as_ref())?;
    let (mut front_rows, plans) =
        front.evaluate(&result, space, &table, &quantities, cfg.proxy, &writer)?;
    if let Some(runner) = &cfg.measure_front {
        notes.push(format!(
            "latency_s_measured: every front plan exported to ONNX and timed through the runner `{}` (median of {} runs after {} warm-up runs, batch {})",
            runner.command, runner.repeat, runner.warmup, cfg.batch
        ));
    }
    if let (Some(r), Some(rd)) = (&cfg.recovery, &recovery_data) {
        notes.push(crate::recovery::recover_front(
            model,
            &plans,
            &mut front_rows,
            data.as_ref().and_then(|d| d.calib_batch.as_ref()),
            r,
            rd,
            &writer,
            monitor,
        )?);
    }

    monitor.stage("writing the run directory");
    let candidates = record::candidate_rows(&result, &table, &quantities, &front_rows, cfg.proxy);
    writer.write_candidates(&candidates)?;
    writer.write_front(&front_rows)?;
    writer.write_costs(&record::cost_rows(model, space, &costs))?;
    writer.write_sensitivity(&record::sensitivity_rows(model, space, &sens.entries))?;
    writer.write_convergence(&record::convergence_rows(&result))?;
    let (baseline_plan, baseline_cost, baseline_note) =
        record::baseline(model, cost_model, cfg.batch, cfg.tokens)?;
    notes.extend(baseline_note);
    writer.write_layers(&record::layer_rows(
        model,
        cost_model,
        &baseline_plan,
        &plans,
        cfg.batch,
        cfg.tokens,
    )?)?;
    if !result.front_feasible {
        notes.push(format!(
            "no plan meets the constraints; front.csv holds the {} plans closest to meeting them (least `violation` first) and the `violated` column says why",
            front_rows.len()
        ));
    }
    let baseline = Baseline {
        metric_value: Some(front.baseline_metric().unwrap_or(sens.baseline)),
        latency_s: Some(baseline_cost.latency_s),
        energy_j: Some(baseline_cost.energy_j),
        size_bytes: Some(baseline_cost.weight_bytes as f64),
    };
    let settings =
        RunSettings { cfg, inputs: &inputs, cost_model, data: data.as_ref(), constraints };
    let run = settings.run_yaml(started_at, started, baseline, &result, notes.clone())?;
    writer.write_run_yaml(&run)?;
    Ok(RunSummary {
        out: cfg.out.clone(),
        evaluations: result.archive.len(),
        front: front_rows.len(),
        feasible: result.front_feasible,
        termination: result.termination,
        metric: run.metric.unwrap_or_default(),
        baseline_metric: baseline.metric_value.unwrap_or_default(),
        duration_s: started.elapsed().as_secs_f64(),
        notes,
        front_rows,
    })
}

/// Step 4's data: the calibration and validation splits (none for the data-free proxy).
fn load_data(cfg: &SearchConfig, model: &Model) -> Result<Option<Splits>> {
    if cfg.proxy == ProxyMode::DataFree {
        return Ok(None);
    }
    let selection = DataSelection {
        data: cfg.data.clone(),
        calibration_samples: cfg.calibration_samples,
        validation_samples: cfg.validation_samples,
    };
    Ok(Some(splits(model, &selection)?))
}

/// `--recover`'s training data, loaded before the search so that its problems (an encoder,
/// missing training data) surface before any search work.
fn prepare_recovery(
    cfg: &SearchConfig,
    model: &Model,
    data: Option<&Splits>,
    notes: &mut Vec<String>,
) -> Result<Option<sculpt_compress::RecoveryData>> {
    match (&cfg.recovery, data) {
        (None, _) => Ok(None),
        (Some(_), None) => {
            Err(Error::Invalid { msg: "--recover needs data; the data-free proxy has none".into() })
        }
        (Some(r), Some(d)) => {
            let mut rd = crate::recovery::prepare(model, r)?;
            rd.held_out = Some(crate::recovery::held_out_set(&d.validation)?);
            notes.extend(rd.notes.iter().cloned());
            Ok(Some(rd))
        }
    }
}

/// The checkpoint file of a run that keeps one: removed for a fresh run (which never continues
/// from an old checkpoint), required for `--resume`.
fn prepare_checkpoint(cfg: &SearchConfig, writer: &RunWriter) -> Result<Option<PathBuf>> {
    if !cfg.checkpoints {
        return Ok(None);
    }
    let path = writer.path(sculpt_run::layout::CHECKPOINT_JSON);
    match (cfg.resume, path.exists()) {
        (false, _) => {
            let _ = std::fs::remove_file(&path);
        }
        (true, false) => {
            return Err(Error::Invalid {
                msg: format!("--resume: {} has no checkpoint", path.display()),
            });
        }
        (true, true) => {}
    }
    Ok(Some(path))
}

/// What run.yaml records of a run's settings and inputs.
struct RunSettings<'a> {
    cfg: &'a SearchConfig,
    inputs: &'a Inputs,
    cost_model: &'a CostModel,
    data: Option<&'a Splits>,
    constraints: sculpt_run::Constraints,
}

impl RunSettings<'_> {
    /// run.yaml of the finished run.
    fn run_yaml(
        &self,
        started_at: String,
        started: Instant,
        baseline: Baseline,
        result: &sculpt_search::SearchResult,
        notes: Vec<String>,
    ) -> Result<RunYaml> {
        let (cfg, model, space_file) = (self.cfg, &self.inputs.model, &self.inputs.space_file);
        Ok(RunYaml {
            format_version: sculpt_run::FORMAT_VERSION,
            sculpt_version: Some(env!("CARGO_PKG_VERSION").to_string()),
            started_at: Some(started_at),
            duration_s: Some(started.elapsed().as_secs_f64()),
            model: Some(Source {
                name: Some(model.name.clone()),
                origin: Some(model.origin.clone()),
                sha256: Some(crate::sensitivity::model_fingerprint(model)?),
                ..Source::default()
            }),
            data: self.data.map(|data| DataSources {
                calibration: Some(data_source(&data.calibration)),
                validation: Some(data_source(&data.validation)),
            }),
            hardware: Some(file_source(self.cost_model.profile().name(), &cfg.hardware)),
            space: Some(file_source(space_file.name.as_deref().unwrap_or("space"), &cfg.space)),
            engine: Some(cfg.engine.name().to_string()),
            seed: Some(cfg.seed),
            budget: Some(cfg.budget as u64),
            proxy: Some(cfg.proxy.name().to_string()),
            objectives: Some(space_file.objectives.clone()),
            constraints: Some(ConstraintMap::from(&self.constraints)),
            metric: Some(metric_name(model, self.data).to_string()),
            baseline: Some(baseline),
            termination: Some(result.termination),
            evaluations: Some(result.archive.len() as u64),
            genes: Some(self.inputs.space.genes.len() as u64),
            space_size: Some(self.inputs.space.size()),
            batch: Some(cfg.batch as u64),
            notes: Some(notes),
            hypervolume_reference: None,
        })
    }
}

/// Plans written to front.csv when nothing is feasible: the least-violating plans, at least as
/// many as the engine's front of equally least-violating plans.
const CLOSEST_PLANS: usize = 5;

/// The plans front.csv holds: the engine's front when it is feasible; otherwise the
/// [`CLOSEST_PLANS`] evaluated plans that violate the constraints least, so that a user sees how
/// far each is from meeting them: smallest violation first, and among equal violations the
/// plans no other dominates first (the engine's front of least-violating plans leads).
fn front_plans(result: &sculpt_search::SearchResult) -> Vec<&sculpt_search::EvaluatedCandidate> {
    if result.front_feasible {
        return result.front.iter().collect();
    }
    let mut by_violation: Vec<&sculpt_search::EvaluatedCandidate> = result.archive.iter().collect();
    by_violation.sort_by(|a, b| {
        a.evaluation.constraint_violation.total_cmp(&b.evaluation.constraint_violation)
    });
    let mut ranked: Vec<(f64, usize, usize, &sculpt_search::EvaluatedCandidate)> = Vec::new();
    for group in by_violation
        .chunk_by(|a, b| a.evaluation.constraint_violation == b.evaluation.constraint_violation)
    {
        let points: Vec<&[f64]> =
            group.iter().map(|c| c.evaluation.objectives.as_slice()).collect();
        let levels = sculpt_search::pareto_levels(&points);
        for (c, level) in group.iter().zip(levels) {
            ranked.push((c.evaluation.constraint_violation, level, c.index, c));
        }
    }
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    ranked.into_iter().map(|r| r.3).take(CLOSEST_PLANS.max(result.front.len())).collect()
}

/// The additive problem (tables of the searched objectives, no constraints) as JSON, the input
/// of benches/peers.
fn export_problem(table: &TableObjective, path: &Path) -> Result<()> {
    let unconstrained = TableObjective { bounds: [None; 4], ..table.clone() };
    let (additive, _) = unconstrained.additive()?;
    let json = serde_json::to_string(&additive.to_problem())
        .map_err(|e| Error::Invalid { msg: e.to_string() })?;
    sculpt_stdx::write_atomic(path, json.as_bytes())
        .map_err(|error| Error::Io { path: path.to_path_buf(), error })
}

/// A front plan with its index in the search's archive.
type IndexedPlan = (usize, CompressionPlan);

/// Step 6: what the front's plans are re-measured with.
struct FrontEvaluation<'a> {
    model: &'a Model,
    data: Option<&'a Splits>,
    /// The uncompressed model on the validation split (not for the `table` proxy).
    validation: Option<crate::sensitivity::Reference>,
    /// Re-time plans in-process: the device is sculpt's own candle runtime.
    time_here: bool,
    /// Re-time plans through this runner instead.
    runner: Option<&'a crate::runner::Runner>,
    batch: usize,
    tokens: usize,
}

impl<'a> FrontEvaluation<'a> {
    fn new(
        cfg: &'a SearchConfig,
        model: &'a Model,
        cost_model: &CostModel,
        data: Option<&'a Splits>,
    ) -> Result<FrontEvaluation<'a>> {
        let validation = match data {
            Some(d) if cfg.proxy != ProxyMode::Table => Some(reference(model, &d.validation)?),
            _ => None,
        };
        Ok(FrontEvaluation {
            model,
            data,
            validation,
            time_here: cost_model.profile().runtime() == Some(sculpt_hw::Runtime::Candle),
            runner: cfg.measure_front.as_ref(),
            batch: cfg.batch,
            tokens: cfg.tokens,
        })
    }

    fn baseline_metric(&self) -> Option<f64> {
        self.validation.as_ref().map(|r| r.metric)
    }

    /// Step 6: the rows and plans of front.csv, each plan re-measured and written to `plans/`.
    fn evaluate(
        &self,
        result: &sculpt_search::SearchResult,
        space: &ExpandedSpace,
        table: &TableObjective,
        quantities: &dyn Fn(&[usize]) -> Quantities,
        proxy: ProxyMode,
        writer: &RunWriter,
    ) -> Result<(Vec<PlanRow>, Vec<IndexedPlan>)> {
        let mut rows = Vec::new();
        let mut plans = Vec::new();
        for (k, cand) in front_plans(result).into_iter().enumerate() {
            let q = quantities(&cand.genome);
            let plan = space.plan(&self.model.graph, &cand.genome, &self.model.name);
            let mut row = record::plan_row(cand, &q, table, proxy, true);
            self.measure(&plan, &mut row)?;
            row.plan_file =
                Some(writer.write_front_plan(k, &record::plan_yaml(&plan, cand.index, &q))?);
            rows.push(row);
            plans.push((cand.index, plan));
        }
        Ok((rows, plans))
    }

    /// Re-measures a front plan's accuracy loss on held-out data and, on the candle runtime, its
    /// latency.
    fn measure(&self, plan: &CompressionPlan, row: &mut PlanRow) -> Result<()> {
        let calib_batch = self.data.and_then(|d| d.calib_batch.as_ref());
        if let (Some(d), Some(r)) = (self.data, &self.validation) {
            let fidelity = evaluate_plan(self.model, plan, &d.validation, r, calib_batch)?;
            row.accuracy_loss_measured = Some(r.metric - fidelity.metric);
        }
        if let Some(runner) = self.runner {
            let dir = tempfile::tempdir()
                .map_err(|error| Error::Io { path: std::env::temp_dir(), error })?;
            let input = sculpt_model::random_batch(&self.model.graph, self.batch, self.tokens)?;
            let m = crate::runner::measure_through_runner(
                self.model,
                Some((plan, None)),
                calib_batch,
                &input,
                runner,
                dir.path(),
            )?;
            row.latency_s_measured = Some(m.samples.quantile(0.5) * 1e-3);
            row.latency_source = LatencySource::Measured;
        } else if self.time_here {
            row.latency_s_measured = Some(crate::measure::measure_latency(
                self.model,
                plan,
                calib_batch,
                self.batch,
                self.tokens,
            )?);
            row.latency_source = LatencySource::Measured;
        }
        Ok(())
    }
}

fn data_source(set: &crate::sensitivity::EvalSet) -> Source {
    Source {
        name: Some(set.name.clone()),
        sha256: Some(set.fingerprint.clone()),
        n_samples: Some(set.len() as u64),
        ..Source::default()
    }
}

fn file_source(name: &str, path: &Path) -> Source {
    Source {
        name: Some(name.to_string()),
        path: Some(path.display().to_string()),
        sha256: Some(std::fs::read(path).map(|b| sha256_hex(&b)).unwrap_or_default()),
        ..Source::default()
    }
}

/// Groups "layer option: reason" lines by reason: "3 options of conv1, fc1 dropped: reason".
fn summarise_dropped(dropped: &[String]) -> Vec<String> {
    let mut by_reason: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    for d in dropped {
        let (head, reason) = d.split_once(": ").unwrap_or((d.as_str(), ""));
        // Reasons name the layer; strip it so the same cause groups across layers.
        let layer = head.split(' ').next().unwrap_or("").to_string();
        let reason = reason
            .replace(&format!("layer `{layer}`"), "a layer")
            .replace(&format!("`{layer}`"), "the layer");
        let reason = reason.split(" with option `").next().unwrap_or(&reason).to_string()
            + reason.split("`: ").nth(1).map(|r| format!(": {r}")).unwrap_or_default().as_str();
        let e = by_reason.entry(reason).or_default();
        e.0 += 1;
        if !e.1.contains(&layer) {
            e.1.push(layer);
        }
    }
    by_reason
        .into_iter()
        .map(|(reason, (n, layers))| {
            let shown: Vec<&str> = layers.iter().take(6).map(String::as_str).collect();
            let more = if layers.len() > 6 {
                format!(" and {} more", layers.len() - 6)
            } else {
                String::new()
            };
            format!(
                "{n} option{} dropped ({}{more}): {reason}",
                if n == 1 { "" } else { "s" },
                shown.join(", ")
            )
        })
        .collect()
}

/// The objectives of a space in column order, for callers that format results.
pub fn objective_names(space: &SearchSpace) -> Vec<&'static str> {
    space.objectives.iter().map(|o| o.column()).collect()
}
