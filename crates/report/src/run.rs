//! The typed contents of a run directory (docs/run-format.md) and [`read_run`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::tables::{self, TextTable};

/// The run-directory format this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// One quantity sculpt minimises, with its table column and the unit reports show it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Objective {
    /// `accuracy_loss`: baseline metric − plan metric, a fraction; shown in points (× 100).
    AccuracyLoss,
    /// `latency_s`: seconds per inference; shown in milliseconds.
    Latency,
    /// `energy_j`: joules per inference; shown in millijoules.
    Energy,
    /// `size_bytes`: stored bytes of the weights; shown in megabytes (10^6 bytes).
    Size,
}

impl Objective {
    /// Every objective, in the canonical order.
    pub const ALL: [Objective; 4] =
        [Objective::AccuracyLoss, Objective::Latency, Objective::Energy, Objective::Size];

    /// The column name in candidates.csv and front.csv, also the name in run.yaml's `objectives`.
    pub fn column(self) -> &'static str {
        match self {
            Objective::AccuracyLoss => "accuracy_loss",
            Objective::Latency => "latency_s",
            Objective::Energy => "energy_j",
            Objective::Size => "size_bytes",
        }
    }

    /// The objective whose column is `name`.
    pub fn from_column(name: &str) -> Option<Objective> {
        Objective::ALL.into_iter().find(|o| o.column() == name)
    }

    /// A lower-case human name: `accuracy loss`, `latency`, `energy`, `size`.
    pub fn label(self) -> &'static str {
        match self {
            Objective::AccuracyLoss => "accuracy loss",
            Objective::Latency => "latency",
            Objective::Energy => "energy",
            Objective::Size => "size",
        }
    }

    /// The unit reports use: `points`, `ms`, `mJ`, `MB`.
    pub fn unit(self) -> &'static str {
        match self {
            Objective::AccuracyLoss => "points",
            Objective::Latency => "ms",
            Objective::Energy => "mJ",
            Objective::Size => "MB",
        }
    }

    /// Converts a value in the tables' SI unit (fraction, s, J, bytes) to [`Objective::unit`].
    pub fn to_display(self, si: f64) -> f64 {
        match self {
            Objective::AccuracyLoss => si * 100.0,
            Objective::Latency | Objective::Energy => si * 1e3,
            Objective::Size => si / 1e6,
        }
    }

    /// The (x, y) axes of a chart of two objectives: accuracy loss goes on the y axis when it is
    /// one of them, otherwise the order is kept.
    pub(crate) fn chart_axes(a: Objective, b: Objective) -> (Objective, Objective) {
        if a == Objective::AccuracyLoss { (b, a) } else { (a, b) }
    }

    /// `latency (ms)`: the axis and column title.
    pub fn axis_title(self) -> String {
        format!("{} ({})", self.label(), self.unit())
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.column())
    }
}

/// One constraint the user gave (run.yaml `constraints`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Constraint {
    /// `max_latency_s`: latency per inference at most this many seconds.
    MaxLatency(f64),
    /// `max_energy_j`: energy per inference at most this many joules.
    MaxEnergy(f64),
    /// `max_size_bytes`: stored weights at most this many bytes.
    MaxSize(f64),
    /// `max_accuracy_drop`: accuracy loss at most this fraction.
    MaxAccuracyDrop(f64),
    /// `fits_in_memory: true`: the plan fits the device's memory (only the search can check it).
    FitsInMemory,
    /// A key this version does not know; it is shown as given and checked through `violated`.
    Other {
        /// The key in run.yaml.
        key: String,
        /// The value as written.
        value: String,
    },
}

impl Constraint {
    /// The key in run.yaml, also the name used in the `violated` column.
    pub fn key(&self) -> &str {
        match self {
            Constraint::MaxLatency(_) => "max_latency_s",
            Constraint::MaxEnergy(_) => "max_energy_j",
            Constraint::MaxSize(_) => "max_size_bytes",
            Constraint::MaxAccuracyDrop(_) => "max_accuracy_drop",
            Constraint::FitsInMemory => "fits_in_memory",
            Constraint::Other { key, .. } => key,
        }
    }

    /// The objective column this constraint bounds and the bound in SI units.
    pub fn limit(&self) -> Option<(Objective, f64)> {
        match *self {
            Constraint::MaxLatency(v) => Some((Objective::Latency, v)),
            Constraint::MaxEnergy(v) => Some((Objective::Energy, v)),
            Constraint::MaxSize(v) => Some((Objective::Size, v)),
            Constraint::MaxAccuracyDrop(v) => Some((Objective::AccuracyLoss, v)),
            Constraint::FitsInMemory | Constraint::Other { .. } => None,
        }
    }

    /// Plain words: `≤ 0.7 ms latency`, `fits in memory`.
    pub fn describe(&self) -> String {
        match self.limit() {
            Some((objective, limit)) => format!(
                "≤ {} {} {}",
                crate::format::human(objective.to_display(limit)),
                objective.unit(),
                objective.label()
            ),
            None => match self {
                Constraint::FitsInMemory => "fits in memory".to_string(),
                Constraint::Other { key, value } => format!("{key} = {value}"),
                _ => self.key().to_string(),
            },
        }
    }

    /// Whether `plan` meets this constraint: its `violated` column does not name the constraint
    /// and, for a constraint on a column, the plan's value is within the bound.
    pub fn is_met_by(&self, plan: &Plan) -> bool {
        if plan.violated.iter().any(|v| v == self.key()) {
            return false;
        }
        match self.limit() {
            Some((objective, limit)) => plan.objective(objective) <= limit,
            None => true,
        }
    }

    /// Why `plan` fails this constraint in plain words (`latency 0.39 ms > 0.1 ms`).
    pub fn explain_failure(&self, plan: &Plan) -> String {
        match self.limit() {
            Some((objective, limit)) => {
                let value = plan.objective(objective);
                let unit = objective.unit();
                if value > limit {
                    format!(
                        "{} {} {unit} > {} {unit}",
                        objective.label(),
                        crate::format::human(objective.to_display(value)),
                        crate::format::human(objective.to_display(limit))
                    )
                } else {
                    format!("{} (reported by the search)", self.key())
                }
            }
            None => match self {
                Constraint::FitsInMemory => "does not fit in memory".to_string(),
                _ => format!("violates {}", self.key()),
            },
        }
    }
}

/// A named input with its content hash (`model`, `data.*`, `hardware`, `space` in run.yaml).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct InputRef {
    /// Short name (`demo-cnn`, `tpu-like`).
    #[serde(default)]
    pub name: Option<String>,
    /// Where the model came from (`builtin:demo-cnn`, a folder).
    #[serde(default)]
    pub origin: Option<String>,
    /// File path of a profile or space.
    #[serde(default)]
    pub path: Option<String>,
    /// SHA-256 of the content, hex.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Number of samples of a data set.
    #[serde(default)]
    pub n_samples: Option<u64>,
}

/// The data sets of a run.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct DataRefs {
    /// Calibration data (the accuracy proxy's samples).
    #[serde(default)]
    pub calibration: Option<InputRef>,
    /// Held-out validation data (re-evaluation of the front).
    #[serde(default)]
    pub validation: Option<InputRef>,
}

/// The uncompressed model's numbers (run.yaml `baseline`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
pub struct Baseline {
    /// The task metric of the uncompressed model (accuracy 0.928, say).
    #[serde(default)]
    pub metric_value: Option<f64>,
    /// Modelled latency, seconds.
    #[serde(default)]
    pub latency_s: Option<f64>,
    /// Modelled energy, joules.
    #[serde(default)]
    pub energy_j: Option<f64>,
    /// Stored size, bytes.
    #[serde(default)]
    pub size_bytes: Option<f64>,
}

impl Baseline {
    /// The baseline's value of `objective` in SI units; the accuracy loss of the baseline is 0.
    pub fn objective(&self, objective: Objective) -> Option<f64> {
        match objective {
            Objective::AccuracyLoss => Some(0.0),
            Objective::Latency => self.latency_s,
            Objective::Energy => self.energy_j,
            Objective::Size => self.size_bytes,
        }
    }
}

/// A constraint value as YAML gives it.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum RawConstraint {
    Bool(bool),
    Number(f64),
    Text(String),
}

/// run.yaml as written; every key is optional so that an older or newer run still reads.
#[derive(Debug, Default, Deserialize)]
struct RawRunYaml {
    #[serde(default)]
    sculpt_version: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    duration_s: Option<f64>,
    #[serde(default)]
    model: Option<InputRef>,
    #[serde(default)]
    data: Option<DataRefs>,
    #[serde(default)]
    hardware: Option<InputRef>,
    #[serde(default)]
    space: Option<InputRef>,
    #[serde(default)]
    engine: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    budget: Option<u64>,
    #[serde(default)]
    proxy: Option<String>,
    #[serde(default)]
    objectives: Option<Vec<String>>,
    #[serde(default)]
    constraints: Option<BTreeMap<String, RawConstraint>>,
    #[serde(default)]
    metric: Option<String>,
    #[serde(default)]
    baseline: Option<Baseline>,
    #[serde(default)]
    termination: Option<String>,
    #[serde(default)]
    evaluations: Option<u64>,
    #[serde(default)]
    hypervolume_reference: Option<Vec<f64>>,
}

/// A value that is kept when it has the expected type and dropped otherwise, so that a run of
/// another format version still yields every setting that kept its meaning.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Lenient<T> {
    Valid(T),
    Invalid(serde::de::IgnoredAny),
}

fn pick<T>(
    dropped: &mut Vec<&'static str>,
    key: &'static str,
    value: Option<Lenient<T>>,
) -> Option<T> {
    match value {
        Some(Lenient::Valid(v)) => Some(v),
        Some(Lenient::Invalid(_)) => {
            dropped.push(key);
            None
        }
        None => None,
    }
}

/// run.yaml of another format version, read key by key.
#[derive(Debug, Default, Deserialize)]
struct LenientRunYaml {
    #[serde(default)]
    sculpt_version: Option<Lenient<String>>,
    #[serde(default)]
    started_at: Option<Lenient<String>>,
    #[serde(default)]
    duration_s: Option<Lenient<f64>>,
    #[serde(default)]
    model: Option<Lenient<InputRef>>,
    #[serde(default)]
    data: Option<Lenient<DataRefs>>,
    #[serde(default)]
    hardware: Option<Lenient<InputRef>>,
    #[serde(default)]
    space: Option<Lenient<InputRef>>,
    #[serde(default)]
    engine: Option<Lenient<String>>,
    #[serde(default)]
    seed: Option<Lenient<u64>>,
    #[serde(default)]
    budget: Option<Lenient<u64>>,
    #[serde(default)]
    proxy: Option<Lenient<String>>,
    #[serde(default)]
    objectives: Option<Lenient<Vec<String>>>,
    #[serde(default)]
    constraints: Option<Lenient<BTreeMap<String, RawConstraint>>>,
    #[serde(default)]
    metric: Option<Lenient<String>>,
    #[serde(default)]
    baseline: Option<Lenient<Baseline>>,
    #[serde(default)]
    termination: Option<Lenient<String>>,
    #[serde(default)]
    evaluations: Option<Lenient<u64>>,
    #[serde(default)]
    hypervolume_reference: Option<Lenient<Vec<f64>>>,
}

impl LenientRunYaml {
    /// The settings that could be read, and the keys that could not.
    fn into_raw(self) -> (RawRunYaml, Vec<&'static str>) {
        let mut dropped = Vec::new();
        let d = &mut dropped;
        let raw = RawRunYaml {
            sculpt_version: pick(d, "sculpt_version", self.sculpt_version),
            started_at: pick(d, "started_at", self.started_at),
            duration_s: pick(d, "duration_s", self.duration_s),
            model: pick(d, "model", self.model),
            data: pick(d, "data", self.data),
            hardware: pick(d, "hardware", self.hardware),
            space: pick(d, "space", self.space),
            engine: pick(d, "engine", self.engine),
            seed: pick(d, "seed", self.seed),
            budget: pick(d, "budget", self.budget),
            proxy: pick(d, "proxy", self.proxy),
            objectives: pick(d, "objectives", self.objectives),
            constraints: pick(d, "constraints", self.constraints),
            metric: pick(d, "metric", self.metric),
            baseline: pick(d, "baseline", self.baseline),
            termination: pick(d, "termination", self.termination),
            evaluations: pick(d, "evaluations", self.evaluations),
            hypervolume_reference: pick(d, "hypervolume_reference", self.hypervolume_reference),
        };
        (raw, dropped)
    }
}

/// Only the version, read first so that a run of another format gets a clear note.
#[derive(Debug, Deserialize)]
struct VersionOnly {
    #[serde(default)]
    format_version: Option<u32>,
}

/// Provenance and settings of a run (run.yaml), typed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunMeta {
    /// The run-directory format (1).
    pub format_version: u32,
    /// The sculpt version that wrote the run.
    pub sculpt_version: Option<String>,
    /// Start time, RFC 3339.
    pub started_at: Option<String>,
    /// Wall-clock duration of the search, seconds.
    pub duration_s: Option<f64>,
    /// The model searched.
    pub model: Option<InputRef>,
    /// Calibration and validation data.
    pub data: DataRefs,
    /// The hardware profile.
    pub hardware: Option<InputRef>,
    /// The search space.
    pub space: Option<InputRef>,
    /// The search engine (`nsga2`, `random`, ...).
    pub engine: Option<String>,
    /// The random seed.
    pub seed: Option<u64>,
    /// The evaluation budget.
    pub budget: Option<u64>,
    /// The accuracy proxy (`table`, `full`, `hybrid`, `data-free`).
    pub proxy: Option<String>,
    /// What the engine minimised, in order.
    pub objectives: Vec<Objective>,
    /// The constraints the user gave, in the order latency, energy, size, accuracy, memory,
    /// then unknown keys alphabetically.
    pub constraints: Vec<Constraint>,
    /// The task metric behind `accuracy_loss` (`accuracy`, `kl`, ...).
    pub metric: Option<String>,
    /// The uncompressed model's numbers.
    pub baseline: Baseline,
    /// Why the search stopped.
    pub termination: Option<String>,
    /// Plans evaluated.
    pub evaluations: Option<u64>,
    /// The reference point of `tables/convergence.csv`, in objective units and order.
    pub hypervolume_reference: Option<Vec<f64>>,
}

impl RunMeta {
    /// The hardware profile's name, or `the target device`.
    pub fn device_name(&self) -> &str {
        self.hardware.as_ref().and_then(|h| h.name.as_deref()).unwrap_or("the target device")
    }

    /// The model's name, or `the model`.
    pub fn model_name(&self) -> &str {
        self.model.as_ref().and_then(|m| m.name.as_deref()).unwrap_or("the model")
    }
}

/// One evaluated plan: a row of candidates.csv or front.csv.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// 0-based index in evaluation order.
    pub plan_id: u64,
    /// The accuracy loss the search optimised (fraction).
    pub accuracy_loss: f64,
    /// The accuracy loss re-measured on held-out data, where done.
    pub accuracy_loss_measured: Option<f64>,
    /// The accuracy loss re-measured after recovery training (`sculpt search --recover`), for
    /// the plans that were recovered.
    pub accuracy_loss_recovered: Option<f64>,
    /// Latency per inference, seconds.
    pub latency_s: f64,
    /// Latency measured on the host, where done.
    pub latency_s_measured: Option<f64>,
    /// Energy per inference, joules.
    pub energy_j: f64,
    /// Stored size of the compressed weights, bytes.
    pub size_bytes: f64,
    /// Meets every constraint.
    pub feasible: bool,
    /// Summed relative excess over the constraints (0 when feasible).
    pub violation: f64,
    /// The constraint keys the plan violates.
    pub violated: Vec<String>,
    /// On the returned front.
    pub on_front: bool,
    /// Where `accuracy_loss` comes from: `proxy`, `measured` or `data-free`.
    pub accuracy_source: String,
    /// Where `latency_s` comes from: `modelled` or `measured`.
    pub latency_source: String,
    /// Option id per searched layer, joined by `-`.
    pub genome: String,
    /// The plan's YAML file relative to the run directory (front rows only).
    pub plan_file: Option<String>,
}

impl Plan {
    /// The plan's value of `objective` in SI units.
    pub fn objective(&self, objective: Objective) -> f64 {
        match objective {
            Objective::AccuracyLoss => self.accuracy_loss,
            Objective::Latency => self.latency_s,
            Objective::Energy => self.energy_j,
            Objective::Size => self.size_bytes,
        }
    }

    /// The values of `objectives`, in that order.
    pub fn point(&self, objectives: &[Objective]) -> Vec<f64> {
        objectives.iter().map(|&o| self.objective(o)).collect()
    }
}

/// One row of tables/sensitivity.csv.
#[derive(Clone, Debug, PartialEq)]
pub struct SensitivityRow {
    /// The layer.
    pub layer: String,
    /// The option's id in the space.
    pub option_id: Option<u64>,
    /// The option's short label (`w4 g32 p0.25`).
    pub option: String,
    /// Accuracy-proxy loss when only this layer takes this option (fraction).
    pub delta: f64,
}

/// One row of tables/convergence.csv.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvergencePoint {
    /// Evaluations so far.
    pub evaluations: u64,
    /// Hypervolume of the front so far against run.yaml's `hypervolume_reference`.
    pub hypervolume: f64,
    /// Size of the front so far.
    pub front_size: Option<u64>,
}

/// Which plan a row of tables/layers.csv belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerPlan {
    /// The uncompressed model.
    Baseline,
    /// The plan with this `plan_id`.
    Plan(u64),
}

/// One row of tables/layers.csv: one layer of the baseline or of a front plan.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRow {
    /// The plan.
    pub plan: LayerPlan,
    /// The layer.
    pub layer: String,
    /// The layer kind (`conv2d`, `linear`).
    pub kind: String,
    /// The option's short label.
    pub option: String,
    /// Weight bits (32 for fp32).
    pub weight_bits: Option<f64>,
    /// Fraction of weights removed, in [0, 1).
    pub sparsity: Option<f64>,
    /// Rank kept as a fraction (1 for full rank).
    pub rank_ratio: Option<f64>,
    /// Modelled latency of the layer, seconds.
    pub latency_s: Option<f64>,
    /// Modelled energy of the layer, joules.
    pub energy_j: Option<f64>,
    /// Stored bytes of the layer.
    pub bytes: Option<f64>,
    /// `compute`, `memory` or `overhead`.
    pub bound: String,
}

/// A table of a run directory: its rows, or why they could not be read.
#[derive(Clone, Debug, PartialEq)]
pub enum Table<T> {
    /// The table was read.
    Loaded(Vec<T>),
    /// The table is missing or broken; the message says which file and why.
    Unavailable(String),
}

impl<T> Table<T> {
    /// The rows, when the table was read.
    pub fn rows(&self) -> Option<&[T]> {
        match self {
            Table::Loaded(rows) => Some(rows),
            Table::Unavailable(_) => None,
        }
    }

    /// Why the table is unavailable.
    pub fn problem(&self) -> Option<&str> {
        match self {
            Table::Loaded(_) => None,
            Table::Unavailable(msg) => Some(msg),
        }
    }
}

/// Everything read from one run directory.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The run directory.
    pub dir: PathBuf,
    /// run.yaml.
    pub meta: RunMeta,
    /// front.csv: the non-dominated feasible plans, or the closest plans when none is feasible.
    pub front: Table<Plan>,
    /// candidates.csv: every evaluated plan.
    pub candidates: Table<Plan>,
    /// tables/convergence.csv.
    pub convergence: Table<ConvergencePoint>,
    /// tables/sensitivity.csv.
    pub sensitivity: Table<SensitivityRow>,
    /// tables/layers.csv.
    pub layers: Table<LayerRow>,
    /// What could not be read and what the report leaves out because of it, one sentence each.
    pub notes: Vec<String>,
}

impl Run {
    /// The front plans, or an empty slice when front.csv could not be read.
    pub fn front_plans(&self) -> &[Plan] {
        self.front.rows().unwrap_or(&[])
    }
}

/// Reads a run directory: run.yaml and the CSV tables.
///
/// Only an unusable run.yaml is an error ([`Error::MissingRunYaml`], [`Error::RunYaml`],
/// [`Error::InvalidRun`]). A missing or broken table, or a run of another format version, is
/// recorded in [`Run::notes`] and the table as [`Table::Unavailable`], so that the best report
/// that can still be made is made.
pub fn read_run(dir: &Path) -> Result<Run> {
    let yaml_path = dir.join("run.yaml");
    if !yaml_path.is_file() {
        if !dir.is_dir() {
            return Err(Error::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
            ));
        }
        return Err(Error::MissingRunYaml { dir: dir.to_path_buf() });
    }
    let mut notes = Vec::new();
    let meta = read_meta(&yaml_path, &mut notes)?;

    let front = read_plans(dir, "front.csv", true, &mut notes);
    let candidates = read_plans(dir, "candidates.csv", false, &mut notes);
    let convergence = read_table(
        dir,
        "tables/convergence.csv",
        &mut notes,
        "the convergence chart is left out",
        |t, row| {
            Ok(ConvergencePoint {
                evaluations: t.uint("evaluations", row)?,
                hypervolume: t.float("hypervolume", row)?,
                front_size: t.opt_uint("front_size", row)?,
            })
        },
    );
    let sensitivity = read_table(
        dir,
        "tables/sensitivity.csv",
        &mut notes,
        "the sensitivity chart is left out",
        |t, row| {
            Ok(SensitivityRow {
                layer: t.text("layer", row)?,
                option_id: t.opt_uint("option_id", row)?,
                option: t.opt_text("option", row).unwrap_or_default(),
                delta: t.float("delta", row)?,
            })
        },
    );
    let layers = read_table(
        dir,
        "tables/layers.csv",
        &mut notes,
        "the per-layer charts are left out",
        |t, row| {
            let plan_text = t.text("plan_id", row)?;
            let plan = if plan_text == "baseline" {
                LayerPlan::Baseline
            } else {
                LayerPlan::Plan(plan_text.parse().map_err(|_| {
                    t.cell_error("plan_id", row, &plan_text, "`baseline` or a plan id")
                })?)
            };
            Ok(LayerRow {
                plan,
                layer: t.text("layer", row)?,
                kind: t.opt_text("kind", row).unwrap_or_default(),
                option: t.opt_text("option", row).unwrap_or_default(),
                weight_bits: t.opt_float("weight_bits", row)?,
                sparsity: t.opt_float("sparsity", row)?,
                rank_ratio: t.opt_float("rank_ratio", row)?,
                latency_s: t.opt_float("latency_s", row)?,
                energy_j: t.opt_float("energy_j", row)?,
                bytes: t.opt_float("bytes", row)?,
                bound: t.opt_text("bound", row).unwrap_or_default(),
            })
        },
    );
    if front.rows().is_some_and(<[Plan]>::is_empty) {
        notes.push(
            "front.csv has no plans: the search returned an empty front, so there is nothing to recommend"
                .to_string(),
        );
    }
    Ok(Run {
        dir: dir.to_path_buf(),
        meta,
        front,
        candidates,
        convergence,
        sensitivity,
        layers,
        notes,
    })
}

fn read_meta(path: &Path, notes: &mut Vec<String>) -> Result<RunMeta> {
    let text = sculpt_yaml::read_text(path)?;
    let version: VersionOnly = sculpt_yaml::from_str(&text, path)?;
    let Some(format_version) = version.format_version else {
        return Err(Error::InvalidRun {
            path: path.to_path_buf(),
            msg: "no `format_version`: this is not a run.yaml written by sculpt".to_string(),
        });
    };
    let raw: RawRunYaml = if format_version == FORMAT_VERSION {
        sculpt_yaml::from_str(&text, path)?
    } else {
        notes.push(format!(
            "run.yaml has format_version {format_version}, but this sculpt reads format version \
             {FORMAT_VERSION}; the report shows what could be read and may be incomplete"
        ));
        match sculpt_yaml::from_str::<LenientRunYaml>(&text, path) {
            Ok(lenient) => {
                let (raw, dropped) = lenient.into_raw();
                if !dropped.is_empty() {
                    notes.push(format!(
                        "run.yaml keys that changed meaning in format {format_version} are not shown: {}",
                        dropped.join(", ")
                    ));
                }
                raw
            }
            Err(err) => {
                notes.push(format!(
                    "run settings could not be read ({err}); provenance is not shown"
                ));
                RawRunYaml::default()
            }
        }
    };

    let objectives = match raw.objectives {
        Some(names) if !names.is_empty() => {
            let mut objectives = Vec::new();
            for name in names {
                match Objective::from_column(&name) {
                    Some(o) if !objectives.contains(&o) => objectives.push(o),
                    Some(_) => {}
                    None => notes.push(format!(
                        "run.yaml: unknown objective `{name}` is ignored (known: accuracy_loss, \
                         latency_s, energy_j, size_bytes)"
                    )),
                }
            }
            if objectives.is_empty() {
                notes.push("run.yaml names no known objective; all four are shown".to_string());
                Objective::ALL.to_vec()
            } else {
                objectives
            }
        }
        _ => {
            notes.push("run.yaml names no objectives; all four are shown".to_string());
            Objective::ALL.to_vec()
        }
    };

    let mut constraints = Vec::new();
    let mut unknown = Vec::new();
    for (key, value) in raw.constraints.unwrap_or_default() {
        let number = match &value {
            RawConstraint::Number(v) => Some(*v),
            _ => None,
        };
        let constraint = match (key.as_str(), number, &value) {
            ("max_latency_s", Some(v), _) => Constraint::MaxLatency(v),
            ("max_energy_j", Some(v), _) => Constraint::MaxEnergy(v),
            ("max_size_bytes", Some(v), _) => Constraint::MaxSize(v),
            ("max_accuracy_drop", Some(v), _) => Constraint::MaxAccuracyDrop(v),
            ("fits_in_memory", _, RawConstraint::Bool(true)) => Constraint::FitsInMemory,
            ("fits_in_memory", _, RawConstraint::Bool(false)) => continue,
            (
                "max_latency_s" | "max_energy_j" | "max_size_bytes" | "max_accuracy_drop"
                | "fits_in_memory",
                _,
                _,
            ) => {
                return Err(Error::RunYaml(sculpt_yaml::Error::at_key(
                    path,
                    &text,
                    &format!("constraints.{key}"),
                    if key == "fits_in_memory" {
                        "expected true or false"
                    } else {
                        "expected a number"
                    },
                )));
            }
            _ => {
                notes.push(format!(
                    "run.yaml: unknown constraint `{key}` is shown as given; plans are checked against it through the `violated` column only"
                ));
                let value = match value {
                    RawConstraint::Bool(b) => b.to_string(),
                    RawConstraint::Number(v) => v.to_string(),
                    RawConstraint::Text(s) => s,
                };
                unknown.push(Constraint::Other { key, value });
                continue;
            }
        };
        constraints.push(constraint);
    }
    let rank = |c: &Constraint| match c {
        Constraint::MaxLatency(_) => 0,
        Constraint::MaxEnergy(_) => 1,
        Constraint::MaxSize(_) => 2,
        Constraint::MaxAccuracyDrop(_) => 3,
        Constraint::FitsInMemory => 4,
        Constraint::Other { .. } => 5,
    };
    constraints.sort_by_key(rank);
    constraints.extend(unknown);

    if raw.baseline.is_none() {
        notes.push(
            "run.yaml has no baseline: the summary cannot say how much smaller or faster the plans are"
                .to_string(),
        );
    }
    Ok(RunMeta {
        format_version,
        sculpt_version: raw.sculpt_version,
        started_at: raw.started_at,
        duration_s: raw.duration_s,
        model: raw.model,
        data: raw.data.unwrap_or_default(),
        hardware: raw.hardware,
        space: raw.space,
        engine: raw.engine,
        seed: raw.seed,
        budget: raw.budget,
        proxy: raw.proxy,
        objectives,
        constraints,
        metric: raw.metric,
        baseline: raw.baseline.unwrap_or_default(),
        termination: raw.termination,
        evaluations: raw.evaluations,
        hypervolume_reference: raw.hypervolume_reference,
    })
}

fn read_plans(dir: &Path, name: &str, is_front: bool, notes: &mut Vec<String>) -> Table<Plan> {
    let what = if is_front {
        "the report has no recommendation, front table or trade-off charts"
    } else {
        "the charts show the front without the other evaluated plans"
    };
    read_table(dir, name, notes, what, |t, row| {
        let feasible = t.boolean("feasible", row)?;
        Ok(Plan {
            plan_id: t.uint("plan_id", row)?,
            accuracy_loss: t.float("accuracy_loss", row)?,
            accuracy_loss_measured: t.opt_float("accuracy_loss_measured", row)?,
            accuracy_loss_recovered: t.opt_float("accuracy_loss_recovered", row)?,
            latency_s: t.float("latency_s", row)?,
            latency_s_measured: t.opt_float("latency_s_measured", row)?,
            energy_j: t.float("energy_j", row)?,
            size_bytes: t.float("size_bytes", row)?,
            feasible,
            violation: t.opt_float("violation", row)?.unwrap_or(0.0),
            violated: t
                .opt_text("violated", row)
                .map(|s| {
                    s.split(';')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            on_front: t.opt_boolean("on_front", row)?.unwrap_or(is_front),
            accuracy_source: t.opt_text("accuracy_source", row).unwrap_or_else(|| "unknown".into()),
            latency_source: t.opt_text("latency_source", row).unwrap_or_else(|| "unknown".into()),
            genome: t.opt_text("genome", row).unwrap_or_default(),
            plan_file: t.opt_text("plan_file", row),
        })
    })
}

/// Reads one CSV table into rows, turning every problem into [`Table::Unavailable`] and a note.
fn read_table<T>(
    dir: &Path,
    name: &str,
    notes: &mut Vec<String>,
    consequence: &str,
    parse_row: impl Fn(&TextTable, usize) -> Result<T, String>,
) -> Table<T> {
    let path = dir.join(name);
    if !path.is_file() {
        let msg = format!("{name} is missing");
        notes.push(format!("{msg}: {consequence}"));
        return Table::Unavailable(msg);
    }
    let table = match tables::read_text_table(&path, name) {
        Ok(table) => table,
        Err(msg) => {
            notes.push(format!("{msg}: {consequence}"));
            return Table::Unavailable(msg);
        }
    };
    let mut rows = Vec::with_capacity(table.n_rows());
    for row in 0..table.n_rows() {
        match parse_row(&table, row) {
            Ok(value) => rows.push(value),
            Err(msg) => {
                notes.push(format!("{msg}: {consequence}"));
                return Table::Unavailable(msg);
            }
        }
    }
    Table::Loaded(rows)
}
