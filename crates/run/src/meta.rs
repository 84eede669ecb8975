//! `run.yaml`: provenance and settings of a run ([`RunYaml`], written and read as it is) and what
//! a reader makes of it ([`RunMeta`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use sculpt_search::TerminationReason;

use crate::FORMAT_VERSION;
use crate::constraints::{Constraint, Constraints};
use crate::error::{Error, Result};
use crate::quantity::Quantity;

// tidy: unknown keys allowed: run.yaml is read across format versions, and a newer
// sculpt may add keys without a new format_version (docs/run-format.md).
/// A named input with its content hash (`model`, `data.*`, `hardware`, `space` in run.yaml).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Short name (`demo-cnn`, `tpu-like`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where a model came from (`builtin:demo-cnn`, a folder, an ONNX file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// File path of a profile or space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// SHA-256 of the content, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Number of samples of a data set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_samples: Option<u64>,
}

// tidy: unknown keys allowed: run.yaml is read across format versions, and a newer
// sculpt may add keys without a new format_version (docs/run-format.md).
/// The data sets of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataSources {
    /// Calibration data (the accuracy proxy's samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Source>,
    /// Held-out validation data (re-evaluation of the front).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Source>,
}

// tidy: unknown keys allowed: run.yaml is read across format versions, and a newer
// sculpt may add keys without a new format_version (docs/run-format.md).
/// The baseline's numbers (run.yaml `baseline`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// The task metric of the uncompressed model on the validation split (accuracy 0.928, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_value: Option<f64>,
    /// Modelled latency, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_s: Option<f64>,
    /// Modelled energy, joules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_j: Option<f64>,
    /// Stored size, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<f64>,
}

impl Baseline {
    /// The baseline's value of `quantity` in SI units; the accuracy loss of the baseline is 0.
    pub fn quantity(&self, quantity: Quantity) -> Option<f64> {
        match quantity {
            Quantity::AccuracyLoss => Some(0.0),
            Quantity::Latency => self.latency_s,
            Quantity::Energy => self.energy_j,
            Quantity::Size => self.size_bytes,
        }
    }
}

/// A constraint's value as run.yaml holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConstraintValue {
    /// `fits_in_memory: true`.
    Bool(bool),
    /// A bound.
    Number(f64),
    /// Anything else a newer sculpt may write.
    Text(String),
}

/// run.yaml `constraints`: keys in the order written, so that a key a newer sculpt adds is kept
/// and shown rather than rejected.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConstraintMap(pub Vec<(String, ConstraintValue)>);

impl From<&Constraints> for ConstraintMap {
    fn from(c: &Constraints) -> ConstraintMap {
        let mut entries = Vec::new();
        let numbers = [
            ("max_latency_s", c.max_latency_s),
            ("max_energy_j", c.max_energy_j),
            ("max_size_bytes", c.max_size_bytes),
            ("max_accuracy_drop", c.max_accuracy_drop),
        ];
        for (key, value) in numbers {
            if let Some(v) = value {
                entries.push((key.to_string(), ConstraintValue::Number(v)));
            }
        }
        if let Some(b) = c.fits_in_memory {
            entries.push(("fits_in_memory".to_string(), ConstraintValue::Bool(b)));
        }
        ConstraintMap(entries)
    }
}

impl Serialize for ConstraintMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ConstraintMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = ConstraintMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of constraint keys to values")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut access: A,
            ) -> std::result::Result<ConstraintMap, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = access.next_entry::<String, ConstraintValue>()? {
                    entries.push(entry);
                }
                Ok(ConstraintMap(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

// tidy: unknown keys allowed: run.yaml is read across format versions, and a newer
// sculpt may add keys without a new format_version (docs/run-format.md).
/// run.yaml, as sculpt writes it and as it is read back.
///
/// Every key but `format_version` is optional when reading, so that a run of an older or newer
/// sculpt still yields what it holds; the writer sets them all.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunYaml {
    /// The run-directory format ([`FORMAT_VERSION`]).
    #[serde(default)]
    pub format_version: u32,
    /// The sculpt version that wrote the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sculpt_version: Option<String>,
    /// Start time, RFC 3339, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Wall-clock duration of the whole run, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// The model searched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Source>,
    /// Calibration and validation data (absent for the data-free proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataSources>,
    /// The device profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<Source>,
    /// The search space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<Source>,
    /// The engine (`nsga2`, `exact`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The random seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The evaluation budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<u64>,
    /// The accuracy proxy (`table`, `hybrid`, `full`, `data-free`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// What the engine minimised, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objectives: Option<Vec<Quantity>>,
    /// The constraints the search was given (the space's merged with the command line's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<ConstraintMap>,
    /// The task metric behind `accuracy_loss` (`accuracy`, `agreement`, `cosine`,
    /// `weight_error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// The baseline's numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// Why the engine stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination: Option<TerminationReason>,
    /// Plans the engine evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluations: Option<u64>,
    /// Genes (searched layers or tied groups) of the expanded space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genes: Option<u64>,
    /// Plans in the expanded space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_size: Option<f64>,
    /// Samples per inference the costs are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u64>,
    /// What the run wants its reader to know (dropped options, a data-free proxy, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<String>>,
    /// The reference point of `tables/convergence.csv`, in objective units and order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypervolume_reference: Option<Vec<f64>>,
}

// tidy: unknown keys allowed: run.yaml is read across format versions, and a newer
// sculpt may add keys without a new format_version (docs/run-format.md).
/// Only the version, read first so that a run of another format gets a clear note.
#[derive(Debug, Deserialize)]
struct VersionOnly {
    #[serde(default)]
    format_version: Option<u32>,
}

/// What a reader makes of run.yaml: every setting typed, objectives and constraints in a fixed
/// order, defaults where the file says nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunMeta {
    /// The run-directory format.
    pub format_version: u32,
    /// The sculpt version that wrote the run.
    pub sculpt_version: Option<String>,
    /// Start time, RFC 3339.
    pub started_at: Option<String>,
    /// Wall-clock duration of the run, seconds.
    pub duration_s: Option<f64>,
    /// The model searched.
    pub model: Option<Source>,
    /// Calibration and validation data.
    pub data: DataSources,
    /// The hardware profile.
    pub hardware: Option<Source>,
    /// The search space.
    pub space: Option<Source>,
    /// The search engine (`nsga2`, `random`, ...).
    pub engine: Option<String>,
    /// The random seed.
    pub seed: Option<u64>,
    /// The evaluation budget.
    pub budget: Option<u64>,
    /// The accuracy proxy (`table`, `full`, `hybrid`, `data-free`).
    pub proxy: Option<String>,
    /// What the engine minimised, in order (all four when run.yaml names none).
    pub objectives: Vec<Quantity>,
    /// The constraints, in the order latency, energy, size, accuracy, memory, then unknown keys
    /// in the order written.
    pub constraints: Vec<Constraint>,
    /// The task metric behind `accuracy_loss`.
    pub metric: Option<String>,
    /// The baseline's numbers.
    pub baseline: Baseline,
    /// Why the search stopped.
    pub termination: Option<TerminationReason>,
    /// Plans evaluated.
    pub evaluations: Option<u64>,
    /// The run's own notes (run.yaml `notes`).
    pub run_notes: Vec<String>,
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

    /// Whether `accuracy_loss` is a loss of a task metric (accuracy, agreement, cosine) rather
    /// than the data-free proxy's dimensionless weight error.
    pub fn loss_is_metric(&self) -> bool {
        self.metric.as_deref() != Some("weight_error") && self.proxy.as_deref() != Some("data-free")
    }
}

/// Writes `run` as YAML text.
pub(crate) fn to_text(run: &RunYaml) -> Result<String> {
    Ok(sculpt_yaml::to_string(run)?)
}

/// Reads run.yaml at `path`, recording what a reader should know in `notes`.
pub(crate) fn read_meta(path: &Path, notes: &mut Vec<String>) -> Result<RunMeta> {
    let text = sculpt_yaml::read_text(path)?;
    let version: VersionOnly = sculpt_yaml::from_str(&text, path)?;
    let Some(format_version) = version.format_version else {
        return Err(Error::InvalidRun {
            path: path.to_path_buf(),
            msg: "no `format_version`: this is not a run.yaml written by sculpt".to_string(),
        });
    };
    let raw: RunYaml = if format_version == FORMAT_VERSION {
        sculpt_yaml::from_str(&text, path)?
    } else {
        notes.push(format!(
            "run.yaml has format_version {format_version}, but this sculpt reads format version \
             {FORMAT_VERSION}; the report shows what could be read and may be incomplete"
        ));
        match sculpt_yaml::from_str_keeping_valid_keys::<RunYaml>(&text, path) {
            Ok((raw, dropped)) => {
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
                RunYaml::default()
            }
        }
    };
    let objectives = match raw.objectives {
        Some(list) if !list.is_empty() => {
            let mut objectives = Vec::new();
            for q in list {
                if !objectives.contains(&q) {
                    objectives.push(q);
                }
            }
            objectives
        }
        _ => {
            notes.push("run.yaml names no objectives; all four are shown".to_string());
            Quantity::ALL.to_vec()
        }
    };
    let constraints = constraints(raw.constraints.unwrap_or_default(), path, &text, notes)?;
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
        run_notes: raw.notes.unwrap_or_default(),
        hypervolume_reference: raw.hypervolume_reference,
    })
}

/// The constraints of run.yaml in reading order; a known key with a value of the wrong type is
/// an error at its line, an unknown key a note.
fn constraints(
    map: ConstraintMap,
    path: &Path,
    text: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<Constraint>> {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let mut seen = BTreeMap::new();
    for (key, value) in map.0 {
        if seen.insert(key.clone(), ()).is_some() {
            continue;
        }
        let number = match &value {
            ConstraintValue::Number(v) => Some(*v),
            _ => None,
        };
        let constraint = match (key.as_str(), number, &value) {
            ("max_latency_s", Some(v), _) => Constraint::MaxLatency(v),
            ("max_energy_j", Some(v), _) => Constraint::MaxEnergy(v),
            ("max_size_bytes", Some(v), _) => Constraint::MaxSize(v),
            ("max_accuracy_drop", Some(v), _) => Constraint::MaxAccuracyDrop(v),
            ("fits_in_memory", _, ConstraintValue::Bool(true)) => Constraint::FitsInMemory,
            ("fits_in_memory", _, ConstraintValue::Bool(false)) => continue,
            (
                "max_latency_s" | "max_energy_j" | "max_size_bytes" | "max_accuracy_drop"
                | "fits_in_memory",
                _,
                _,
            ) => {
                return Err(Error::RunYaml(sculpt_yaml::Error::at_key(
                    path,
                    text,
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
                    ConstraintValue::Bool(b) => b.to_string(),
                    ConstraintValue::Number(v) => v.to_string(),
                    ConstraintValue::Text(s) => s,
                };
                unknown.push(Constraint::Other { key, value });
                continue;
            }
        };
        known.push(constraint);
    }
    known.sort_by_key(Constraint::rank);
    known.extend(unknown);
    Ok(known)
}
