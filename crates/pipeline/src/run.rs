//! `sculpt search` as a library function: model → cost tables → sensitivity → engine → the
//! front re-evaluated for real → the run directory (docs/run-format.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use sculpt_compress::{ApplyOptions, CompressionPlan, Encoding, LayerOption, PruneKind};
use sculpt_eval::Data;
use sculpt_hw::CostModel;
use sculpt_model::{Batch, InputKind, Model, Task};
use sculpt_search::{
    BayesianSearch, EvaluatedCandidate, ExactConfig, ExactEngine, Executor, ExecutorConfig,
    ExhaustiveSearch, Nsga2, Objective, Observer, RandomSearch, SearchResult, TerminationReason,
    pareto_front,
};
use serde::Serialize;

use crate::costs::{graph_cost, graph_workloads, option_workloads};
use crate::error::{Error, Result};
use crate::problem::{CostTables, TableObjective, cost_tables};
use crate::recovery::SearchRecovery;
use crate::sensitivity::{
    EvalSet, evaluate_plan, reference, sensitivity, sha256_hex, tensor_fingerprint,
};
use crate::space::{Constraints, ExpandedSpace, ObjectiveKind, SearchSpace, expand};

/// The run-directory format this code writes.
pub const FORMAT_VERSION: u32 = 1;

/// Which engine searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// NSGA-II.
    Nsga2,
    /// Gaussian-process Bayesian optimisation (ParEGO).
    Bayes,
    /// The exact Pareto front by dynamic programming.
    Exact,
    /// Uniform random sampling.
    Random,
    /// Every plan (small spaces).
    Exhaustive,
}

impl EngineKind {
    /// Parses `nsga2`, `bayes`, `exact`, `random`, `exhaustive`.
    pub fn parse(name: &str) -> Option<EngineKind> {
        Some(match name {
            "nsga2" => EngineKind::Nsga2,
            "bayes" => EngineKind::Bayes,
            "exact" => EngineKind::Exact,
            "random" => EngineKind::Random,
            "exhaustive" => EngineKind::Exhaustive,
            _ => return None,
        })
    }

    /// The name.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Nsga2 => "nsga2",
            EngineKind::Bayes => "bayes",
            EngineKind::Exact => "exact",
            EngineKind::Random => "random",
            EngineKind::Exhaustive => "exhaustive",
        }
    }
}

/// How plans are scored for accuracy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// The sum of per-layer sensitivities, inside the search and in the outputs.
    Table,
    /// `table` inside the search; the front re-evaluated for real on held-out data (default).
    Hybrid,
    /// Every plan the engine asks for is compressed and evaluated on the calibration split (for
    /// small budgets; pair with `--engine bayes`); the front is re-evaluated on held-out data.
    Full,
    /// No data: weight reconstruction error (dimensionless) instead of an accuracy loss.
    DataFree,
}

impl ProxyMode {
    /// Parses `table`, `hybrid`, `full`, `data-free`.
    pub fn parse(name: &str) -> Option<ProxyMode> {
        Some(match name {
            "table" => ProxyMode::Table,
            "hybrid" => ProxyMode::Hybrid,
            "full" => ProxyMode::Full,
            "data-free" => ProxyMode::DataFree,
            _ => return None,
        })
    }

    /// The name.
    pub fn name(self) -> &'static str {
        match self {
            ProxyMode::Table => "table",
            ProxyMode::Hybrid => "hybrid",
            ProxyMode::Full => "full",
            ProxyMode::DataFree => "data-free",
        }
    }
}

/// Everything a search run needs.
#[derive(Clone, Debug)]
pub struct SearchConfig {
    /// The model name (as `--model` takes it).
    pub model: String,
    /// Data (`--data`); `None` uses the bundled calibration and evaluation subsets.
    pub data: Option<String>,
    /// The device profile.
    pub hardware: PathBuf,
    /// The search space.
    pub space: PathBuf,
    /// The engine.
    pub engine: EngineKind,
    /// Evaluations.
    pub budget: usize,
    /// Seed.
    pub seed: u64,
    /// The run directory.
    pub out: PathBuf,
    /// Samples per inference for cost models and measurements.
    pub batch: usize,
    /// Tokens per sample for text models.
    pub tokens: usize,
    /// Constraints from the command line (merged over the space's).
    pub constraints: Constraints,
    /// Calibration samples used by the sensitivity pass.
    pub calibration_samples: usize,
    /// Validation samples used to re-evaluate the front.
    pub validation_samples: usize,
    /// Where the sensitivity cache lives (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Wall-time limit of the engine.
    pub time_limit: Option<Duration>,
    /// Set from Ctrl-C to stop cleanly.
    pub stop: Option<Arc<AtomicBool>>,
    /// Checkpoint file for `--resume` (written every `checkpoint_every` evaluations).
    pub checkpoint: Option<PathBuf>,
    /// Resume from the checkpoint.
    pub resume: bool,
    /// How accuracy is scored.
    pub proxy: ProxyMode,
    /// Also write the additive problem (tables of the searched objectives, no constraints) as
    /// JSON for `benches/peers`.
    pub export_problem: Option<PathBuf>,
    /// Recover the best plans of the front after the search (`--recover`).
    pub recovery: Option<SearchRecovery>,
}

/// What a run produced, for the terminal.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The run directory.
    pub out: PathBuf,
    /// Plans evaluated by the engine.
    pub evaluations: usize,
    /// Plans on the front.
    pub front: usize,
    /// Whether any plan met the constraints.
    pub feasible: bool,
    /// Why the engine stopped.
    pub termination: String,
    /// The baseline's headline metric on the validation split.
    pub baseline_metric: f64,
    /// Seconds.
    pub duration_s: f64,
    /// Notes for the user (dropped options, cache warnings, infeasibility).
    pub notes: Vec<String>,
    /// Front rows: plan id, objectives by name, measured accuracy loss.
    pub front_rows: Vec<FrontRow>,
}

/// One front plan, re-evaluated.
#[derive(Clone, Debug, Serialize)]
pub struct FrontRow {
    /// Index in candidates.csv.
    pub plan_id: usize,
    /// The four quantities from the tables.
    pub accuracy_loss: f64,
    /// Seconds.
    pub latency_s: f64,
    /// Joules.
    pub energy_j: f64,
    /// Bytes.
    pub size_bytes: f64,
    /// Real loss on the validation split.
    pub accuracy_loss_measured: Option<f64>,
    /// Real loss on the validation split after recovery training (`--recover`).
    pub accuracy_loss_recovered: Option<f64>,
    /// Measured latency on this CPU.
    pub latency_s_measured: Option<f64>,
    /// Feasible.
    pub feasible: bool,
    /// Violated constraints.
    pub violated: String,
    /// The plan file.
    pub plan_file: String,
}

/// Where progress goes: stages as text, and engine progress through the observer.
pub trait RunMonitor: Send + Sync {
    /// A stage starts (`sensitivity 120/480`, ...).
    fn stage(&self, message: &str);
    /// Sensitivity progress.
    fn sensitivity(&self, done: usize, total: usize);
}

/// The data splits of a run: calibration (sensitivity, activation ranges) and validation (the
/// front's re-evaluation, proxy checks), never the same samples.
pub struct Splits {
    /// Calibration samples.
    pub calibration: EvalSet,
    /// Held-out samples.
    pub validation: EvalSet,
    /// The first calibration batch (for activation quantization).
    pub calib_batch: Option<Batch>,
}

fn dense_set(name: &str, inputs: &Tensor, labels: Option<&[u32]>, batch: usize) -> Result<EvalSet> {
    let n = inputs.dims()[0];
    let mut batches = Vec::new();
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        batches.push(Batch::Dense(inputs.narrow(0, start, len)?));
        start += len;
    }
    Ok(EvalSet {
        batches,
        labels: labels.map(<[u32]>::to_vec),
        fingerprint: tensor_fingerprint(&[inputs])?
            + &labels
                .map(|l| sha256_hex(&l.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()))
                .unwrap_or_default(),
        name: name.to_string(),
    })
}

fn fits_bundled(model: &Model) -> bool {
    matches!(model.graph.task(), Task::Classification { classes: 10 })
        && matches!(
            model.graph.inputs().first().map(|i| &i.kind),
            Some(InputKind::Image { channels: 1, height: 28, width: 28, .. })
        )
}

/// Loads and splits the data of a run.
pub fn splits(model: &Model, cfg: &SearchConfig) -> Result<Splits> {
    let take = |d: &sculpt_eval::Dataset, n: usize| -> Result<sculpt_eval::Dataset> {
        let idx: Vec<usize> = (0..d.len().min(n)).collect();
        Ok(d.select(&idx)?)
    };
    let (calib, valid) = match &cfg.data {
        None if fits_bundled(model) => (
            take(&sculpt_eval::load_data(sculpt_eval::BUILTIN_CALIB)?, cfg.calibration_samples)?,
            take(&sculpt_eval::load_data(sculpt_eval::BUILTIN_EVAL)?, cfg.validation_samples)?,
        ),
        None => {
            return Err(Error::Invalid {
                msg: format!(
                    "model `{}` does not fit the bundled Fashion-MNIST data; give --data",
                    model.name
                ),
            });
        }
        Some(name) => {
            // One file: the first samples calibrate, the rest validate; never the same samples.
            let all = sculpt_eval::load_data(name)?;
            let n = all.len();
            if n < 4 {
                return Err(Error::Invalid {
                    msg: format!("`{name}` holds {n} samples; need at least 4 to split"),
                });
            }
            let n_cal = cfg.calibration_samples.min(n / 2);
            let n_val = cfg.validation_samples.min(n - n_cal);
            let cal: Vec<usize> = (0..n_cal).collect();
            let val: Vec<usize> = (n_cal..n_cal + n_val).collect();
            (all.select(&cal)?, all.select(&val)?)
        }
    };
    let to_set = |d: &sculpt_eval::Dataset| -> Result<EvalSet> {
        match &d.data {
            Data::Dense { inputs, labels } => {
                let inputs = sculpt_eval::fit_inputs(&model.graph, inputs)?;
                if let (Some(l), Task::Classification { classes }) = (labels, model.graph.task())
                    && let Some(bad) = l.iter().find(|&&v| v as usize >= *classes)
                {
                    return Err(Error::Invalid {
                        msg: format!(
                            "`{}` holds label {bad}, but the model has {classes} classes",
                            d.name
                        ),
                    });
                }
                dense_set(&d.name, &inputs, labels.as_deref(), 128)
            }
            Data::Text { .. } | Data::Pairs { .. } => {
                // Scored pairs are used as plain sentences here: the fidelity of embeddings
                // (cosine to the uncompressed model's) is the proxy.
                let sentences: Vec<String> = match &d.data {
                    Data::Pairs { a, b, .. } => a.iter().chain(b).cloned().collect(),
                    Data::Text { sentences } => sentences.clone(),
                    Data::Dense { .. } => Vec::new(),
                };
                let tok = model.tokenizer.as_ref().ok_or_else(|| Error::Invalid {
                    msg: format!("model `{}` has no tokenizer for text data", model.name),
                })?;
                let batches = sentences
                    .chunks(32)
                    .map(|c| Ok(Batch::Tokens(tok.encode(c)?)))
                    .collect::<Result<Vec<_>>>()?;
                Ok(EvalSet {
                    batches,
                    labels: None,
                    fingerprint: sha256_hex(sentences.join("\n").as_bytes()),
                    name: d.name.clone(),
                })
            }
        }
    };
    let calibration = to_set(&calib)?;
    let validation = to_set(&valid)?;
    let calib_batch = calibration.batches.first().cloned();
    Ok(Splits { calibration, validation, calib_batch })
}

/// Runs a search and writes the run directory.
pub fn run_search(
    cfg: &SearchConfig,
    monitor: &dyn RunMonitor,
    observer: Option<Box<dyn Observer + '_>>,
) -> Result<RunSummary> {
    let started = Instant::now();
    let started_at = now_rfc3339();
    let mut notes = Vec::new();
    if cfg.budget == 0 {
        return Err(Error::Invalid { msg: "--budget must be at least 1".into() });
    }
    monitor.stage("loading model, device and space");
    let model = sculpt_compress::load_any(&cfg.model, sculpt_compress::Kernels::Dequantized)?;
    let cost_model = CostModel::load(&cfg.hardware)?;
    let space_file = SearchSpace::from_path(&cfg.space)?;
    let constraints = space_file.constraints.merged(&cfg.constraints);
    let workloads = graph_workloads(&model.graph, cfg.batch, cfg.tokens)?;
    let space = expand(&space_file, &model.graph, &workloads, Some(&cost_model))?;
    if space.genes.is_empty() {
        return Err(Error::Invalid {
            msg: "the space leaves nothing to search for this model and device".into(),
        });
    }
    notes.extend(summarise_dropped(&space.dropped));
    monitor.stage("cost tables");
    let costs = cost_tables(&model.graph, &space, &workloads, &cost_model)?;
    let data = match cfg.proxy {
        ProxyMode::DataFree => None,
        _ => Some(splits(&model, cfg)?),
    };
    // Recovery problems (an encoder, missing training data) surface before the search starts.
    let recovery_data = match (&cfg.recovery, &data) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(Error::Invalid {
                msg: "--recover needs data; the data-free proxy has none".into(),
            });
        }
        (Some(r), Some(d)) => {
            let mut rd = crate::recovery::prepare(&model, r)?;
            rd.held_out = Some(crate::recovery::held_out_set(&d.validation)?);
            notes.extend(rd.notes.iter().cloned());
            Some(rd)
        }
    };
    monitor.stage("per-layer sensitivity");
    let sens = match &data {
        None => crate::datafree::data_free_table(&model, &space)?,
        Some(data) => sensitivity(
            &model,
            &space,
            &data.calibration,
            data.calib_batch.as_ref(),
            cfg.cache_dir.as_deref(),
            &|d, t| monitor.sensitivity(d, t),
        )?,
    };
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
            model: &model,
            space: &space,
            set: &data.calibration,
            reference: reference(&model, &data.calibration)?,
            calibration: data.calib_batch.as_ref(),
            losses: std::sync::Mutex::new(BTreeMap::new()),
        }),
        _ => None,
    };
    let objective = &table;
    if let Some(path) = &cfg.export_problem {
        let unconstrained = TableObjective { bounds: [None; 4], ..table.clone() };
        let (additive, _) = unconstrained.additive()?;
        let json = serde_json::to_string(&additive.to_problem())
            .map_err(|e| Error::Invalid { msg: e.to_string() })?;
        write_text(path, &json)?;
    }

    std::fs::create_dir_all(&cfg.out)
        .map_err(|source| Error::Io { path: cfg.out.clone(), source })?;
    if let (Some(path), false) = (&cfg.checkpoint, cfg.resume) {
        // A fresh run never continues from an old checkpoint.
        let _ = std::fs::remove_file(path);
    }
    if let (Some(path), true) = (&cfg.checkpoint, cfg.resume)
        && !path.exists()
    {
        return Err(Error::Invalid {
            msg: format!("--resume: {} has no checkpoint", path.display()),
        });
    }
    monitor.stage(&format!("searching with {}", cfg.engine.name()));
    let result = match &full {
        Some(f) => run_engine_full(cfg, f, observer)?,
        None => run_engine(cfg, objective, observer)?,
    };
    let quantities = |genome: &[usize]| -> [f64; 4] {
        let mut q = objective.quantities(genome);
        if let Some(f) = &full
            && let Some(loss) = f.losses.lock().ok().and_then(|m| m.get(genome).copied())
        {
            q[0] = loss;
        }
        q
    };
    if !matches!(result.termination, TerminationReason::Interrupted | TerminationReason::TimeLimit)
    {
        // A finished search needs no checkpoint; an interrupted one keeps it for --resume.
        if let Some(path) = &cfg.checkpoint {
            let _ = std::fs::remove_file(path);
        }
    }

    // Candidates: all four quantities, feasibility, front membership.
    let front_ids: Vec<usize> = result.front.iter().map(|c| c.index).collect();
    std::fs::create_dir_all(cfg.out.join("plans"))
        .map_err(|source| Error::Io { path: cfg.out.clone(), source })?;
    std::fs::create_dir_all(cfg.out.join("tables"))
        .map_err(|source| Error::Io { path: cfg.out.clone(), source })?;

    monitor.stage("re-evaluating the front");
    let val_ref = match &data {
        Some(d) if cfg.proxy != ProxyMode::Table => Some(reference(&model, &d.validation)?),
        _ => None,
    };
    let calib_batch = data.as_ref().and_then(|d| d.calib_batch.as_ref());
    let measure_here = cost_model.profile().name() == "cpu-host"
        && matches!(
            model.graph.inputs().first().map(|i| &i.kind),
            Some(InputKind::Image { .. } | InputKind::Features { .. })
        );
    let mut front_rows = Vec::new();
    let mut plans: Vec<(usize, CompressionPlan)> = Vec::new();
    for (k, cand) in result.front.iter().enumerate() {
        let q = quantities(&cand.genome);
        let (_, violated) = objective.violation(&q);
        let plan = space.plan(&model.graph, &cand.genome, &model.name);
        let measured = match (&data, &val_ref) {
            (Some(d), Some(r)) => {
                Some(r.metric - evaluate_plan(&model, &plan, &d.validation, r, calib_batch)?.metric)
            }
            _ => None,
        };
        let latency_measured = if measure_here {
            Some(measure_latency(&model, &plan, calib_batch, cfg.batch)?)
        } else {
            None
        };
        let plan_file = format!("plans/front-{k:03}.yaml");
        write_text(&cfg.out.join(&plan_file), &plan_yaml(&plan, cand.index, &q))?;
        front_rows.push(FrontRow {
            plan_id: cand.index,
            accuracy_loss: q[0],
            latency_s: q[1],
            energy_j: q[2],
            size_bytes: q[3],
            accuracy_loss_measured: measured,
            accuracy_loss_recovered: None,
            latency_s_measured: latency_measured,
            feasible: violated.is_empty(),
            violated: violated.join(";"),
            plan_file,
        });
        plans.push((cand.index, plan));
    }

    if let (Some(r), Some(rd)) = (&cfg.recovery, &recovery_data) {
        let held = rd
            .held_out
            .as_ref()
            .ok_or_else(|| Error::Invalid { msg: "recovery has no held-out split".into() })?;
        let baseline = crate::recovery::baseline_metric(&model, held)?;
        let losses: Vec<f64> = front_rows
            .iter()
            .map(|f| f.accuracy_loss_measured.unwrap_or(f.accuracy_loss))
            .collect();
        let picks = crate::recovery::recovery_picks(&losses, r.top);
        std::fs::create_dir_all(cfg.out.join("recovered"))
            .map_err(|source| Error::Io { path: cfg.out.clone(), source })?;
        for (k, &i) in picks.iter().enumerate() {
            let file = format!("recovered/front-{i:03}.safetensors");
            let mut on_event = |e: &sculpt_compress::RecoveryEvent<'_>| {
                if let sculpt_compress::RecoveryEvent::Epoch(rec) = e {
                    monitor.stage(&format!(
                        "recovering front plan {i} ({}/{}): epoch {}/{}, validation {:.2} %",
                        k + 1,
                        picks.len(),
                        rec.epoch,
                        r.config.epochs,
                        100.0 * rec.validation
                    ));
                }
            };
            monitor.stage(&format!(
                "recovering front plan {i} ({}/{}) with {}",
                k + 1,
                picks.len(),
                r.config.method.name()
            ));
            let metric = crate::recovery::recover_plan(
                &model,
                &plans[i].1,
                calib_batch,
                rd,
                &r.config,
                &cfg.out,
                &file,
                &mut on_event,
            )?;
            front_rows[i].accuracy_loss_recovered = Some(baseline - metric);
        }
        notes.push(format!(
            "recovery: {} front plan(s) trained back with {} for {} epoch(s) on {} samples of {}; \
             accuracy_loss_recovered is measured on the held-out split, the recovered models are \
             in recovered/",
            picks.len(),
            r.config.method.name(),
            r.config.epochs,
            rd.train.len(),
            rd.train.name
        ));
    }

    monitor.stage("writing the run directory");
    write_candidates(
        &cfg.out,
        &result,
        objective,
        &quantities,
        &front_ids,
        &front_rows,
        measure_here,
        cfg.proxy,
    )?;
    write_front(&cfg.out, &front_rows, measure_here, cfg.proxy)?;
    write_costs(&cfg.out, &model, &space, &costs)?;
    write_sensitivity(&cfg.out, &model, &space, &sens.entries)?;
    write_convergence(&cfg.out, &result)?;
    let (baseline_plan, baseline_cost, baseline_note) = baseline(&model, &cost_model, cfg)?;
    notes.extend(baseline_note);
    write_layers(&cfg.out, &model, &cost_model, &baseline_plan, &plans, cfg)?;
    let feasible = result.front_feasible;
    if !feasible {
        notes.push("no plan meets the constraints; front.csv holds the closest plans and the `violated` column says why".into());
    }
    let baseline_metric = val_ref.as_ref().map_or(sens.baseline, |r| r.metric);
    let run = RunYaml {
        format_version: FORMAT_VERSION,
        sculpt_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        duration_s: started.elapsed().as_secs_f64(),
        model: Source {
            name: model.name.clone(),
            origin: Some(model.origin.clone()),
            path: None,
            sha256: crate::sensitivity::model_fingerprint(&model)?,
            n_samples: None,
        },
        data: data.as_ref().map(|data| DataYaml {
            calibration: Source {
                name: data.calibration.name.clone(),
                origin: None,
                path: None,
                sha256: data.calibration.fingerprint.clone(),
                n_samples: Some(data.calibration.len()),
            },
            validation: Source {
                name: data.validation.name.clone(),
                origin: None,
                path: None,
                sha256: data.validation.fingerprint.clone(),
                n_samples: Some(data.validation.len()),
            },
        }),
        hardware: Source {
            name: cost_model.profile().name().to_string(),
            origin: None,
            path: Some(cfg.hardware.display().to_string()),
            sha256: file_sha(&cfg.hardware),
            n_samples: None,
        },
        space: Source {
            name: space_file.name.clone().unwrap_or_else(|| "space".into()),
            origin: None,
            path: Some(cfg.space.display().to_string()),
            sha256: file_sha(&cfg.space),
            n_samples: None,
        },
        engine: cfg.engine.name().to_string(),
        seed: cfg.seed,
        budget: cfg.budget,
        proxy: cfg.proxy.name().to_string(),
        objectives: space_file.objectives.iter().map(|o| o.name().to_string()).collect(),
        constraints: constraints.clone(),
        metric: match model.graph.task() {
            _ if data.is_none() => "weight_error".into(),
            Task::Classification { .. }
                if data.as_ref().is_some_and(|d| d.validation.labels.is_some()) =>
            {
                "accuracy".into()
            }
            Task::Classification { .. } => "agreement".into(),
            Task::Embedding { .. } => "cosine".into(),
        },
        baseline: Baseline {
            metric_value: baseline_metric,
            latency_s: baseline_cost.latency_s,
            energy_j: baseline_cost.energy_j,
            size_bytes: baseline_cost.weight_bytes as f64,
        },
        termination: termination_name(&result.termination).to_string(),
        evaluations: result.archive.len(),
        genes: space.genes.len(),
        space_size: space.size(),
        batch: cfg.batch,
        notes: notes.clone(),
    };
    write_text(&cfg.out.join("run.yaml"), &sculpt_yaml::to_string(&run)?)?;
    Ok(RunSummary {
        out: cfg.out.clone(),
        evaluations: result.archive.len(),
        front: result.front.len(),
        feasible,
        termination: termination_name(&result.termination).to_string(),
        baseline_metric,
        duration_s: started.elapsed().as_secs_f64(),
        notes,
        front_rows,
    })
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

/// The engine's search space (gene `g` has `genes[g].len()` options) and the executor settings
/// every search shares: budget, seed, time limit and the stop flag.
fn engine_setup<T>(
    cfg: &SearchConfig,
    genes: &[Vec<T>],
) -> Result<(sculpt_search::Space, ExecutorConfig)> {
    let space = sculpt_search::Space::new(
        genes
            .iter()
            .enumerate()
            .map(|(g, opts)| sculpt_search::Gene {
                name: format!("gene{g}"),
                n_choices: opts.len(),
            })
            .collect(),
    )
    .map_err(search_err)?;
    let mut config = ExecutorConfig::new(cfg.budget, cfg.seed);
    config.max_wall_time = cfg.time_limit;
    config.stop_flag = cfg.stop.clone();
    Ok((space, config))
}

fn run_engine(
    cfg: &SearchConfig,
    objective: &TableObjective,
    observer: Option<Box<dyn Observer + '_>>,
) -> Result<SearchResult> {
    let (space, mut config) = engine_setup(cfg, &objective.genes)?;
    if let Some(path) = &cfg.checkpoint {
        config.checkpoint = Some(sculpt_search::CheckpointConfig {
            path: path.clone(),
            every_evaluations: (cfg.budget / 10).max(1),
        });
    }
    macro_rules! go {
        ($obj:expr, $engine:expr) => {{
            let mut ex =
                Executor::new($obj, space.clone(), $engine, config.clone()).map_err(search_err)?;
            if let Some(o) = observer {
                ex = ex.add_observer(ObserverBox(o));
            }
            match (&cfg.checkpoint, cfg.resume) {
                (Some(path), true) if path.exists() => ex.resume(path).map_err(search_err)?,
                _ => ex.run().map_err(search_err)?,
            }
        }};
    }
    Ok(match cfg.engine {
        EngineKind::Nsga2 => go!(objective, Nsga2::default()),
        EngineKind::Bayes => go!(objective, BayesianSearch::default()),
        EngineKind::Random => go!(objective, RandomSearch::default()),
        EngineKind::Exhaustive => go!(objective, ExhaustiveSearch::default()),
        EngineKind::Exact => {
            let (additive, _) = objective.additive()?;
            let mut r = go!(&additive, ExactEngine { config: ExactConfig::default() });
            // The exact front spans the constrained quantities too; map every candidate back to
            // the searched objectives and keep the non-dominated feasible ones.
            for c in r.archive.iter_mut().chain(r.front.iter_mut()) {
                c.evaluation = objective.evaluate(&c.genome);
            }
            let pts: Vec<Vec<f64>> =
                r.front.iter().map(|c| c.evaluation.objectives.clone()).collect();
            let keep = pareto_front(&pts);
            r.front = keep.into_iter().map(|i| r.front[i].clone()).collect();
            r
        }
    })
}

/// The `full` proxy: every plan is compressed and evaluated on the calibration split.
struct FullObjective<'a> {
    table: TableObjective,
    model: &'a Model,
    space: &'a ExpandedSpace,
    set: &'a EvalSet,
    reference: crate::sensitivity::Reference,
    calibration: Option<&'a Batch>,
    losses: std::sync::Mutex<BTreeMap<Vec<usize>, f64>>,
}

impl Objective for FullObjective<'_> {
    fn n_objectives(&self) -> usize {
        self.table.n_objectives()
    }

    fn evaluate(&self, genome: &[usize]) -> sculpt_search::Evaluation {
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
        sculpt_search::Evaluation {
            objectives: self.table.objectives.iter().map(|&j| q[j]).collect(),
            constraint_violation: violation,
        }
    }

    fn objective_bounds(&self) -> Option<sculpt_search::ObjectiveBounds> {
        self.table.objective_bounds()
    }
}

fn run_engine_full(
    cfg: &SearchConfig,
    objective: &FullObjective<'_>,
    observer: Option<Box<dyn Observer + '_>>,
) -> Result<SearchResult> {
    let (space, config) = engine_setup(cfg, &objective.table.genes)?;
    macro_rules! go {
        ($engine:expr) => {{
            let mut ex = Executor::new(objective, space.clone(), $engine, config.clone())
                .map_err(search_err)?;
            if let Some(o) = observer {
                ex = ex.add_observer(ObserverBox(o));
            }
            ex.run().map_err(search_err)?
        }};
    }
    Ok(match cfg.engine {
        EngineKind::Nsga2 => go!(Nsga2::default()),
        EngineKind::Bayes => go!(BayesianSearch::default()),
        EngineKind::Random => go!(RandomSearch::default()),
        EngineKind::Exhaustive => go!(ExhaustiveSearch::default()),
        EngineKind::Exact => {
            return Err(Error::Invalid { msg: "the exact engine needs additive tables; use --proxy hybrid or table with --engine exact".into() });
        }
    })
}

struct ObserverBox<'a>(Box<dyn Observer + 'a>);

impl Observer for ObserverBox<'_> {
    fn observe(&mut self, progress: &sculpt_search::Progress<'_>) {
        self.0.observe(progress);
    }

    fn finish(&mut self, result: &SearchResult) {
        self.0.finish(result);
    }
}

fn search_err(e: sculpt_search::SearchError) -> Error {
    Error::Invalid { msg: e.to_string() }
}

fn termination_name(t: &TerminationReason) -> &'static str {
    match t {
        TerminationReason::BudgetExhausted => "budget_exhausted",
        TerminationReason::TimeLimit => "time_limit",
        TerminationReason::Interrupted => "interrupted",
        TerminationReason::SpaceExhausted | TerminationReason::Completed => "space_exhausted",
        _ => "converged",
    }
}

/// The median latency of a plan's compressed model on this CPU (candle kernels).
pub fn measure_latency(
    model: &Model,
    plan: &CompressionPlan,
    calibration: Option<&Batch>,
    batch: usize,
) -> Result<f64> {
    let mut c = sculpt_compress::apply_plan(model, plan, None, &ApplyOptions { calibration })?;
    sculpt_compress::attach_candle_kernels(&mut c)?;
    let input = match c.model.graph.inputs().first().map(|i| &i.kind) {
        Some(InputKind::Image { channels, height, width, .. }) => {
            Batch::Dense(Tensor::rand(0f32, 1., (batch, *channels, *height, *width), &Device::Cpu)?)
        }
        Some(InputKind::Features { dim }) => {
            Batch::Dense(Tensor::rand(0f32, 1., (batch, *dim), &Device::Cpu)?)
        }
        _ => {
            return Err(Error::Invalid {
                msg: "latency measurement supports image and feature models".into(),
            });
        }
    };
    for _ in 0..3 {
        c.model.graph.forward(&input)?;
    }
    let mut t = Vec::new();
    for _ in 0..15 {
        let s = Instant::now();
        c.model.graph.forward(&input)?;
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

#[derive(Serialize)]
struct Source {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    n_samples: Option<usize>,
}

#[derive(Serialize)]
struct DataYaml {
    calibration: Source,
    validation: Source,
}

#[derive(Serialize)]
struct Baseline {
    metric_value: f64,
    latency_s: f64,
    energy_j: f64,
    size_bytes: f64,
}

#[derive(Serialize)]
struct RunYaml {
    format_version: u32,
    sculpt_version: String,
    started_at: String,
    duration_s: f64,
    model: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<DataYaml>,
    hardware: Source,
    space: Source,
    engine: String,
    seed: u64,
    budget: usize,
    proxy: String,
    objectives: Vec<String>,
    constraints: Constraints,
    metric: String,
    baseline: Baseline,
    termination: String,
    evaluations: usize,
    genes: usize,
    space_size: f64,
    batch: usize,
    notes: Vec<String>,
}

fn file_sha(path: &Path) -> String {
    std::fs::read(path).map(|b| sha256_hex(&b)).unwrap_or_default()
}

/// UTC now as RFC 3339, to the second, from the system clock.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    rfc3339(secs)
}

/// Seconds since 1970-01-01 UTC as RFC 3339 (civil-from-days, Howard Hinnant's algorithm; no
/// time crate needed).
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    Ok(sculpt_model::write_atomic(path, text.as_bytes())?)
}

fn plan_yaml(plan: &CompressionPlan, plan_id: usize, q: &[f64; 4]) -> String {
    format!(
        "# sculpt plan {plan_id}: accuracy_loss {:.5} (proxy), latency_s {:.6e}, energy_j {:.6e}, size_bytes {:.0}\n# apply with: sculpt apply --plan <this file> --out model.safetensors\n{}",
        q[0],
        q[1],
        q[2],
        q[3],
        plan.to_yaml()
    )
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

const CANDIDATE_COLUMNS: &str = "plan_id,accuracy_loss,accuracy_loss_measured,latency_s,latency_s_measured,energy_j,size_bytes,feasible,violation,violated,on_front,accuracy_source,latency_source,genome";

#[allow(clippy::too_many_arguments)]
fn write_candidates(
    out: &Path,
    result: &SearchResult,
    objective: &TableObjective,
    quantities: &dyn Fn(&[usize]) -> [f64; 4],
    front_ids: &[usize],
    front: &[FrontRow],
    measured: bool,
    proxy: ProxyMode,
) -> Result<()> {
    let mut s = String::from(CANDIDATE_COLUMNS);
    s.push('\n');
    let by_id: BTreeMap<usize, &FrontRow> = front.iter().map(|r| (r.plan_id, r)).collect();
    let source = accuracy_source(proxy);
    for c in &result.archive {
        let q = quantities(&c.genome);
        let (violation, names) = objective.violation(&q);
        let row = by_id.get(&c.index);
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            c.index,
            q[0],
            opt(row.and_then(|r| r.accuracy_loss_measured)),
            q[1],
            opt(row.and_then(|r| r.latency_s_measured)),
            q[2],
            q[3] as u64,
            names.is_empty(),
            violation,
            csv_field(&names.join(";")),
            front_ids.contains(&c.index),
            source,
            if measured && row.is_some() { "measured" } else { "modelled" },
            genome_str(c),
        );
    }
    write_text(&out.join("candidates.csv"), &s)
}

fn accuracy_source(proxy: ProxyMode) -> &'static str {
    match proxy {
        ProxyMode::DataFree => "data-free",
        ProxyMode::Full => "measured",
        _ => "proxy",
    }
}

fn genome_str(c: &EvaluatedCandidate) -> String {
    c.genome.iter().map(|g| g.to_string()).collect::<Vec<_>>().join("-")
}

fn write_front(out: &Path, front: &[FrontRow], measured: bool, proxy: ProxyMode) -> Result<()> {
    // The recovered loss is a column only in runs that recovered plans.
    let recovered = front.iter().any(|r| r.accuracy_loss_recovered.is_some());
    let mut s = format!(
        "{CANDIDATE_COLUMNS},plan_file{}\n",
        if recovered { ",accuracy_loss_recovered" } else { "" }
    );
    for r in front {
        let _ = write!(
            s,
            "{},{},{},{},{},{},{},{},{},{},true,{},{},,{}",
            r.plan_id,
            r.accuracy_loss,
            opt(r.accuracy_loss_measured),
            r.latency_s,
            opt(r.latency_s_measured),
            r.energy_j,
            r.size_bytes as u64,
            r.feasible,
            if r.feasible { 0.0 } else { 1.0 },
            csv_field(&r.violated),
            accuracy_source(proxy),
            if measured { "measured" } else { "modelled" },
            r.plan_file
        );
        if recovered {
            s.push(',');
            s.push_str(&opt(r.accuracy_loss_recovered));
        }
        s.push('\n');
    }
    write_text(&out.join("front.csv"), &s)
}

fn write_costs(out: &Path, model: &Model, space: &ExpandedSpace, costs: &CostTables) -> Result<()> {
    let mut s = String::from("layer,option_id,option,latency_s,energy_j,bytes,bound,precision\n");
    for (gene, opts) in space.genes.iter().zip(&costs.genes) {
        let layer = gene
            .layers
            .iter()
            .map(|&l| model.graph.nodes()[l].name.clone())
            .collect::<Vec<_>>()
            .join("+");
        for (k, (o, c)) in gene.options.iter().zip(opts).enumerate() {
            let _ = writeln!(
                s,
                "{},{k},{},{},{},{},{},{}",
                csv_field(&layer),
                csv_field(&o.to_string()),
                c.latency_s,
                c.energy_j,
                c.bytes as u64,
                c.bound,
                c.precision
            );
        }
    }
    write_text(&out.join("tables/costs.csv"), &s)
}

fn write_sensitivity(
    out: &Path,
    model: &Model,
    space: &ExpandedSpace,
    entries: &[Vec<crate::sensitivity::SensitivityEntry>],
) -> Result<()> {
    let mut s = String::from("layer,option_id,option,delta,kl\n");
    for (gene, es) in space.genes.iter().zip(entries) {
        let layer = gene
            .layers
            .iter()
            .map(|&l| model.graph.nodes()[l].name.clone())
            .collect::<Vec<_>>()
            .join("+");
        for (k, (o, e)) in gene.options.iter().zip(es).enumerate() {
            let _ = writeln!(
                s,
                "{},{k},{},{},{}",
                csv_field(&layer),
                csv_field(&o.to_string()),
                e.delta,
                e.kl
            );
        }
    }
    write_text(&out.join("tables/sensitivity.csv"), &s)
}

fn write_convergence(out: &Path, result: &SearchResult) -> Result<()> {
    let mut s = String::from("evaluations,hypervolume,front_size\n");
    for h in &result.history {
        let _ = writeln!(s, "{},{},{}", h.evaluations, opt(h.hypervolume), h.front_size);
    }
    write_text(&out.join("tables/convergence.csv"), &s)
}

fn option_traits(o: Option<&LayerOption>) -> (u8, f64, f64) {
    let Some(o) = o else { return (32, 0.0, 1.0) };
    let sparsity = match &o.prune {
        Some(p) if p.kind == PruneKind::NM => {
            1.0 - p.n.unwrap_or(2) as f64 / p.m.unwrap_or(4) as f64
        }
        Some(p) => p.ratio.unwrap_or(0.0),
        None => 0.0,
    };
    let rank =
        o.rank.as_ref().and_then(|r| r.ratio).unwrap_or(if o.rank.is_some() { 0.5 } else { 1.0 });
    (o.weight_bits(), sparsity, rank)
}

/// The reference the front is compared with, its cost on the device, and a note when it is not
/// the uncompressed model: on a device that rejects fp32 (an int8-only NPU) the uncompressed
/// model cannot run, so the baseline's costs are those of every weight at int8 per channel, the
/// least any deployment on that device does (its accuracy stays the uncompressed model's).
fn baseline(
    model: &Model,
    cost_model: &CostModel,
    cfg: &SearchConfig,
) -> Result<(CompressionPlan, sculpt_hw::ModelCost, Option<String>)> {
    let fp32 = graph_cost(&model.graph, &BTreeMap::new(), cost_model, cfg.batch, cfg.tokens);
    let fp32_error = match fp32 {
        Ok((cost, _)) => return Ok((EMPTY_PLAN.clone(), cost, None)),
        Err(e) => e,
    };
    let int8 = crate::costs::int8_baseline_option();
    let layers: BTreeMap<String, LayerOption> = model
        .graph
        .nodes()
        .iter()
        .filter(|n| sculpt_compress::is_plan_target(&n.op))
        .map(|n| (n.name.clone(), int8.clone()))
        .collect();
    let Ok((cost, _)) = graph_cost(&model.graph, &layers, cost_model, cfg.batch, cfg.tokens) else {
        return Err(fp32_error);
    };
    let note = format!(
        "device `{}` cannot run the uncompressed model ({fp32_error}); the baseline's latency, \
         energy and size are those of every weight at int8 per channel, its accuracy the \
         uncompressed model's",
        cost_model.profile().name()
    );
    Ok((CompressionPlan { layers, ..EMPTY_PLAN.clone() }, cost, Some(note)))
}

fn write_layers(
    out: &Path,
    model: &Model,
    cost_model: &CostModel,
    baseline: &CompressionPlan,
    plans: &[(usize, CompressionPlan)],
    cfg: &SearchConfig,
) -> Result<()> {
    let mut s = String::from(
        "plan_id,layer,kind,option,weight_bits,sparsity,rank_ratio,latency_s,energy_j,bytes,bound\n",
    );
    let workloads = graph_workloads(&model.graph, cfg.batch, cfg.tokens)?;
    let mut all: Vec<(String, &CompressionPlan)> = vec![("baseline".into(), baseline)];
    all.extend(plans.iter().map(|(id, p)| (id.to_string(), p)));
    for (id, plan) in all {
        for (idx, node) in model.graph.nodes().iter().enumerate() {
            if !sculpt_compress::is_plan_target(&node.op) {
                continue;
            }
            let option = plan.layers.get(&node.name);
            let base: Vec<_> =
                workloads.iter().filter(|w| w.node == idx).map(|w| w.workload.clone()).collect();
            let parts =
                option_workloads(&base, &node.op, option.unwrap_or(&LayerOption::default()))?;
            let (mut lat, mut en, mut bytes, mut bound, mut slow) = (0.0, 0.0, 0u64, "", 0.0);
            for (w, c) in parts {
                let lc = cost_model.layer_cost(&w, &c)?;
                lat += lc.latency_s;
                en += lc.energy_j;
                bytes += lc.weight_bytes;
                if lc.latency_s >= slow {
                    slow = lc.latency_s;
                    bound = match lc.bound {
                        sculpt_hw::Bound::Compute => "compute",
                        sculpt_hw::Bound::Memory => "memory",
                        sculpt_hw::Bound::Overhead => "overhead",
                    };
                }
            }
            let (bits, sp, rank) = option_traits(option);
            let label = option.map(|o| o.to_string()).unwrap_or_else(|| "fp32".into());
            let _ = writeln!(
                s,
                "{id},{},{},{},{bits},{sp},{rank},{lat},{en},{bytes},{bound}",
                csv_field(&node.name),
                node.op.kind(),
                csv_field(&label)
            );
        }
    }
    let _ = Encoding::Dense;
    write_text(&out.join("tables/layers.csv"), &s)
}

static EMPTY_PLAN: CompressionPlan = CompressionPlan {
    model: None,
    defaults: LayerOption { prune: None, quant: None, rank: None },
    layers: BTreeMap::new(),
};

/// The objectives of a space in column order, for callers that format results.
pub fn objective_names(space: &SearchSpace) -> Vec<&'static str> {
    space.objectives.iter().map(|o: &ObjectiveKind| o.name()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        // The civil-from-days conversion, checked at the epoch by hand.
        assert!(now_rfc3339().starts_with("20"));
        assert_eq!(now_rfc3339().len(), 20);
        // `date -u -d @N +%Y-%m-%dT%H:%M:%SZ`.
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
