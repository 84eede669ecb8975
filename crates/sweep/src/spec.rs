//! The sweep file (YAML), its job matrix and content-derived job ids.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The model of a job when neither `base` nor `matrix` names one (as `sculpt search`).
pub const DEFAULT_MODEL: &str = "builtin:demo-cnn";
/// The device profile when none is given (as `sculpt search`).
pub const DEFAULT_HARDWARE: &str = "hardware-profiles/tpu-like.yaml";
/// The search space when none is given (as `sculpt search`).
pub const DEFAULT_SPACE: &str = "search-spaces/default.yaml";
/// The engine when none is given.
pub const DEFAULT_ENGINE: &str = "nsga2";
/// The seed when none is given.
pub const DEFAULT_SEED: u64 = 1;
/// The evaluation budget when none is given (as `sculpt search`).
pub const DEFAULT_BUDGET: usize = 2000;
const DEFAULT_CALIBRATION_SAMPLES: usize = 512;
const DEFAULT_VALIDATION_SAMPLES: usize = 2000;
const DEFAULT_BATCH: usize = 1;
const DEFAULT_TOKENS: usize = 128;
/// Hex digits of SHA-256 kept in a job id.
pub const JOB_ID_LEN: usize = 12;

/// A setting that can be a matrix axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Axis {
    /// `model`: a model name as `sculpt search --model` takes it.
    Model,
    /// `hardware`: a device profile path.
    Hardware,
    /// `space`: a search space path.
    Space,
    /// `engine`: nsga2, bayes, exact, random or exhaustive.
    Engine,
    /// `seed`.
    Seed,
    /// `budget`: evaluations.
    Budget,
}

impl Axis {
    /// Every axis, in the order the matrix is expanded (the first varies slowest).
    pub const ALL: [Axis; 6] =
        [Axis::Model, Axis::Hardware, Axis::Space, Axis::Engine, Axis::Seed, Axis::Budget];

    /// The key in the sweep file, also the column name in merged tables.
    pub fn name(self) -> &'static str {
        match self {
            Axis::Model => "model",
            Axis::Hardware => "hardware",
            Axis::Space => "space",
            Axis::Engine => "engine",
            Axis::Seed => "seed",
            Axis::Budget => "budget",
        }
    }
}

/// Constraints applied to every job (merged over each search space's own, as on the command line):
/// the search's own type, so a sweep file takes exactly the keys a space file does.
pub type ConstraintSettings = sculpt_run::Constraints;

/// Everything one job's search depends on: the settings of `sculpt search` that change its result.
///
/// Serialised as JSON with the fields in this order (absent options left out), it is the input
/// of the job id ([`job_id`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    /// The model (`--model`).
    pub model: String,
    /// Data (`--data`); absent: the bundled subsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The device profile path (`--hardware`).
    pub hardware: String,
    /// The search space path (`--space`).
    pub space: String,
    /// The engine (`--engine`).
    pub engine: String,
    /// The seed (`--seed`).
    pub seed: u64,
    /// Evaluations (`--budget`).
    pub budget: usize,
    /// Constraints (`--max-latency-s`, ...).
    #[serde(default, skip_serializing_if = "ConstraintSettings::is_empty")]
    pub constraints: ConstraintSettings,
    /// Calibration samples for the sensitivity pass.
    pub calibration_samples: usize,
    /// Validation samples for the front's re-evaluation.
    pub validation_samples: usize,
    /// Samples per inference for the cost model.
    pub batch: usize,
    /// Tokens per sample for text models.
    pub tokens: usize,
    /// Wall-time limit of the engine, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_s: Option<f64>,
}

impl JobSettings {
    /// The value of one axis, as text.
    pub fn axis_value(&self, axis: Axis) -> String {
        match axis {
            Axis::Model => self.model.clone(),
            Axis::Hardware => self.hardware.clone(),
            Axis::Space => self.space.clone(),
            Axis::Engine => self.engine.clone(),
            Axis::Seed => self.seed.to_string(),
            Axis::Budget => self.budget.to_string(),
        }
    }
}

/// The job id of `settings`: the first [`JOB_ID_LEN`] hex digits of the SHA-256 of their
/// canonical JSON. It depends on the settings only, so reordering the sweep file, or moving a job
/// to another sweep, keeps it.
pub fn job_id(settings: &JobSettings) -> String {
    // Serialising plain strings, integers and finite floats cannot fail.
    let json = serde_json::to_string(settings).unwrap_or_default();
    let digest = Sha256::digest(json.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex.truncate(JOB_ID_LEN);
    hex
}

/// One search of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// The content-derived id ([`job_id`]); also the name of its result folder.
    pub id: String,
    /// 0-based position in the expanded matrix (the SLURM array index); changes when the file is
    /// reordered, unlike `id`.
    pub index: usize,
    /// What the job searches.
    pub settings: JobSettings,
}

/// SLURM options of a sweep (`slurm:` in the sweep file). Absent options are left to the
/// cluster's defaults.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmOptions {
    /// `--partition`.
    #[serde(default)]
    pub partition: Option<String>,
    /// `--time` of each array task (`HH:MM:SS`, `D-HH:MM:SS`, minutes).
    #[serde(default)]
    pub time: Option<String>,
    /// `--cpus-per-task`; also the search's thread count.
    #[serde(default)]
    pub cpus_per_task: Option<u32>,
    /// `--mem` (`4G`, `500M`).
    #[serde(default)]
    pub mem: Option<String>,
    /// At most this many array tasks at once (`--array=...%N`).
    #[serde(default)]
    pub array_limit: Option<u32>,
    /// `--account`.
    #[serde(default)]
    pub account: Option<String>,
    /// `--qos`.
    #[serde(default)]
    pub qos: Option<String>,
    /// More sbatch options for both scripts, one per entry (`--gres=gpu:1`); each becomes an
    /// `#SBATCH` line.
    #[serde(default)]
    pub extra: Vec<String>,
    /// Shell lines run before sculpt in both scripts (`module load ...`, `source env.sh`).
    #[serde(default)]
    pub setup: Vec<String>,
    /// The sculpt executable on the compute nodes (default: the one that submits). `$SCULPT` in
    /// the job's environment overrides it.
    #[serde(default)]
    pub sculpt: Option<String>,
    /// `--time` of the merge job (default: `time`).
    #[serde(default)]
    pub merge_time: Option<String>,
}

/// A loaded sweep: its jobs in matrix order and where results go.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// `name`: used in SLURM job names.
    pub name: String,
    /// The sweep file as given.
    pub file: PathBuf,
    /// The output root (`out`), relative to the working directory unless absolute.
    pub out: PathBuf,
    /// The axes the matrix varies, in [`Axis::ALL`] order.
    pub axes: Vec<Axis>,
    /// Every job, in matrix order (`jobs[i].index == i`).
    pub jobs: Vec<Job>,
    /// SLURM options.
    pub slurm: SlurmOptions,
}

impl Sweep {
    /// The job with this index.
    pub fn job(&self, index: usize) -> Result<&Job> {
        self.jobs.get(index).ok_or_else(|| Error::NoSuchIndex {
            file: self.file.clone(),
            n_jobs: self.jobs.len(),
            index,
        })
    }

    /// The job with this id.
    pub fn find(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }

    /// `<out>/jobs`: the jobs' result folders, attempts and failure records.
    pub fn jobs_dir(&self) -> PathBuf {
        self.out.join("jobs")
    }

    /// `<out>/jobs/<id>`: the job's complete run directory (docs/run-format.md) with its `DONE`
    /// marker; it exists only once the job has finished.
    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.jobs_dir().join(id)
    }

    /// `<out>/jobs/<id>.failed`: the last failed attempt of the job, with its `FAILED` marker.
    pub fn failed_dir(&self, id: &str) -> PathBuf {
        self.jobs_dir().join(format!("{id}.failed"))
    }

    /// `<out>/logs/<id>.log`: the output of the job under the local runner.
    pub fn log_file(&self, id: &str) -> PathBuf {
        self.out.join("logs").join(format!("{id}.log"))
    }

    /// `<out>/slurm`: the sbatch scripts, their logs and the record of submissions.
    pub fn slurm_dir(&self) -> PathBuf {
        self.out.join("slurm")
    }

    /// `<out>/merged`: the merged tables and the comparison report.
    pub fn merged_dir(&self) -> PathBuf {
        self.out.join("merged")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    hardware: Option<String>,
    #[serde(default)]
    space: Option<String>,
    #[serde(default)]
    engine: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    budget: Option<usize>,
    #[serde(default)]
    constraints: Option<ConstraintSettings>,
    #[serde(default)]
    calibration_samples: Option<usize>,
    #[serde(default)]
    validation_samples: Option<usize>,
    #[serde(default)]
    batch: Option<usize>,
    #[serde(default)]
    tokens: Option<usize>,
    #[serde(default)]
    time_limit_s: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    #[serde(default)]
    model: Option<Vec<String>>,
    #[serde(default)]
    hardware: Option<Vec<String>>,
    #[serde(default)]
    space: Option<Vec<String>>,
    #[serde(default)]
    engine: Option<Vec<String>>,
    #[serde(default)]
    seed: Option<Vec<u64>>,
    #[serde(default)]
    budget: Option<Vec<usize>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    name: String,
    out: PathBuf,
    #[serde(default)]
    base: RawSettings,
    #[serde(default)]
    matrix: RawMatrix,
    #[serde(default)]
    slurm: SlurmOptions,
}

/// Reads and expands the sweep file at `path`.
pub fn load_sweep(path: &Path) -> Result<Sweep> {
    let text = sculpt_yaml::read_text(path)?;
    parse_sweep(&text, path)
}

/// Expands the sweep file `text` read from `path` (used in messages and kept in [`Sweep::file`]).
///
/// Rules, each checked with an error naming the file, the line and the key: `name` is made of
/// letters, digits, `.`, `_` and `-`; an axis has at least one value and no value twice; a
/// setting is given in `base` or in `matrix`, not both; engines are known; budgets, sample counts
/// and limits are positive; SLURM values hold no line breaks.
pub fn parse_sweep(text: &str, path: &Path) -> Result<Sweep> {
    let raw: RawSweep = sculpt_yaml::from_str(text, path)?;
    let at = |key: &str, msg: String| Error::Yaml(sculpt_yaml::Error::at_key(path, text, key, msg));

    if raw.name.is_empty()
        || !raw.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(at(
            "name",
            format!("`{}`: use letters, digits, `.`, `_` and `-` only", raw.name),
        ));
    }
    if raw.out.as_os_str().is_empty() {
        return Err(at("out", "the output folder is empty".into()));
    }

    let base = &raw.base;
    let matrix = &raw.matrix;
    let in_base = |axis: Axis| match axis {
        Axis::Model => base.model.is_some(),
        Axis::Hardware => base.hardware.is_some(),
        Axis::Space => base.space.is_some(),
        Axis::Engine => base.engine.is_some(),
        Axis::Seed => base.seed.is_some(),
        Axis::Budget => base.budget.is_some(),
    };
    let text_axis = |axis: Axis| -> Option<Vec<String>> {
        match axis {
            Axis::Model => matrix.model.clone(),
            Axis::Hardware => matrix.hardware.clone(),
            Axis::Space => matrix.space.clone(),
            Axis::Engine => matrix.engine.clone(),
            Axis::Seed => matrix.seed.as_ref().map(|v| v.iter().map(u64::to_string).collect()),
            Axis::Budget => {
                matrix.budget.as_ref().map(|v| v.iter().map(usize::to_string).collect())
            }
        }
    };
    let mut axes = Vec::new();
    for axis in Axis::ALL {
        let Some(values) = text_axis(axis) else { continue };
        let key = format!("matrix.{}", axis.name());
        if in_base(axis) {
            return Err(at(
                &key,
                format!("`{}` is also set in `base`; give it in one place", axis.name()),
            ));
        }
        if values.is_empty() {
            return Err(at(&key, "an axis needs at least one value".into()));
        }
        let normalised: Vec<String> = match axis {
            Axis::Seed | Axis::Budget | Axis::Engine => values.clone(),
            _ => values.iter().map(|v| normalise_path(v)).collect(),
        };
        for (i, v) in normalised.iter().enumerate() {
            if normalised[..i].contains(v) {
                return Err(at(&key, format!("`{}` is listed twice", values[i])));
            }
            if v.is_empty() {
                return Err(at(&key, "a value is empty".into()));
            }
        }
        axes.push(axis);
    }

    // Checks of single values, with the key to blame.
    let check_engine = |key: &str, engine: &str| -> Result<()> {
        match sculpt_pipeline::EngineKind::parse(engine) {
            Some(_) => Ok(()),
            None => Err(at(
                key,
                format!(
                    "unknown engine `{engine}`; expected nsga2, bayes, exact, random or exhaustive"
                ),
            )),
        }
    };
    if let Some(engine) = &base.engine {
        check_engine("base.engine", engine)?;
    }
    for engine in matrix.engine.iter().flatten() {
        check_engine("matrix.engine", engine)?;
    }
    let positive = |key: &str, value: Option<usize>| -> Result<()> {
        match value {
            Some(0) => Err(at(key, "must be at least 1".into())),
            _ => Ok(()),
        }
    };
    positive("base.budget", base.budget)?;
    for budget in matrix.budget.iter().flatten() {
        positive("matrix.budget", Some(*budget))?;
    }
    positive("base.calibration_samples", base.calibration_samples)?;
    positive("base.validation_samples", base.validation_samples)?;
    positive("base.batch", base.batch)?;
    positive("base.tokens", base.tokens)?;
    if let Some(t) = base.time_limit_s
        && !(t.is_finite() && t > 0.0)
    {
        return Err(at("base.time_limit_s", format!("{t} is not a positive number of seconds")));
    }
    let constraints = base.constraints.clone().unwrap_or_default();
    for (name, value) in [
        ("max_latency_s", constraints.max_latency_s),
        ("max_energy_j", constraints.max_energy_j),
        ("max_size_bytes", constraints.max_size_bytes),
        ("max_accuracy_drop", constraints.max_accuracy_drop),
    ] {
        if let Some(v) = value
            && !(v.is_finite() && v > 0.0)
        {
            return Err(at(&format!("base.constraints.{name}"), format!("{v} is not positive")));
        }
    }
    check_slurm(&raw.slurm, &at)?;

    // The matrix: the first axis varies slowest.
    let one =
        |v: Option<&String>, default: &str| vec![v.cloned().unwrap_or_else(|| default.into())];
    let models = matrix.model.clone().unwrap_or_else(|| one(base.model.as_ref(), DEFAULT_MODEL));
    let hardware =
        matrix.hardware.clone().unwrap_or_else(|| one(base.hardware.as_ref(), DEFAULT_HARDWARE));
    let spaces = matrix.space.clone().unwrap_or_else(|| one(base.space.as_ref(), DEFAULT_SPACE));
    let engines =
        matrix.engine.clone().unwrap_or_else(|| one(base.engine.as_ref(), DEFAULT_ENGINE));
    let seeds = matrix.seed.clone().unwrap_or_else(|| vec![base.seed.unwrap_or(DEFAULT_SEED)]);
    let budgets =
        matrix.budget.clone().unwrap_or_else(|| vec![base.budget.unwrap_or(DEFAULT_BUDGET)]);
    let mut jobs = Vec::new();
    for model in &models {
        for hw in &hardware {
            for space in &spaces {
                for engine in &engines {
                    for &seed in &seeds {
                        for &budget in &budgets {
                            let settings = JobSettings {
                                model: normalise_path(model),
                                data: base.data.as_deref().map(normalise_path),
                                hardware: normalise_path(hw),
                                space: normalise_path(space),
                                engine: engine.clone(),
                                seed,
                                budget,
                                constraints: constraints.clone(),
                                calibration_samples: base
                                    .calibration_samples
                                    .unwrap_or(DEFAULT_CALIBRATION_SAMPLES),
                                validation_samples: base
                                    .validation_samples
                                    .unwrap_or(DEFAULT_VALIDATION_SAMPLES),
                                batch: base.batch.unwrap_or(DEFAULT_BATCH),
                                tokens: base.tokens.unwrap_or(DEFAULT_TOKENS),
                                time_limit_s: base.time_limit_s,
                            };
                            let index = jobs.len();
                            jobs.push(Job { id: job_id(&settings), index, settings });
                        }
                    }
                }
            }
        }
    }
    Ok(Sweep {
        name: raw.name,
        file: path.to_path_buf(),
        out: raw.out,
        axes,
        jobs,
        slurm: raw.slurm,
    })
}

fn check_slurm(slurm: &SlurmOptions, at: &dyn Fn(&str, String) -> Error) -> Result<()> {
    let single_line = |key: &str, value: Option<&String>| -> Result<()> {
        match value {
            Some(v) if v.contains(['\n', '\r']) => {
                Err(at(key, "must be one line (it goes into an sbatch script)".into()))
            }
            Some(v) if v.trim().is_empty() => Err(at(key, "is empty".into())),
            _ => Ok(()),
        }
    };
    single_line("slurm.partition", slurm.partition.as_ref())?;
    single_line("slurm.time", slurm.time.as_ref())?;
    single_line("slurm.mem", slurm.mem.as_ref())?;
    single_line("slurm.account", slurm.account.as_ref())?;
    single_line("slurm.qos", slurm.qos.as_ref())?;
    single_line("slurm.sculpt", slurm.sculpt.as_ref())?;
    single_line("slurm.merge_time", slurm.merge_time.as_ref())?;
    for line in &slurm.extra {
        single_line("slurm.extra", Some(line))?;
    }
    for line in &slurm.setup {
        single_line("slurm.setup", Some(line))?;
    }
    if slurm.cpus_per_task == Some(0) {
        return Err(at("slurm.cpus_per_task", "must be at least 1".into()));
    }
    if slurm.array_limit == Some(0) {
        return Err(at("slurm.array_limit", "must be at least 1".into()));
    }
    Ok(())
}

/// Removes `.` components and repeated or trailing slashes, so that `./a//b.yaml` and `a/b.yaml`
/// name the same job. `..` is kept (it cannot be resolved without the file system).
fn normalise_path(value: &str) -> String {
    let path = Path::new(value);
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    let text = out.to_string_lossy().into_owned();
    if text.is_empty() { value.to_string() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = "\
name: demo
out: sweeps/demo
base: {budget: 300, space: search-spaces/default.yaml}
matrix:
  hardware: [hardware-profiles/tpu-like.yaml, hardware-profiles/arm-a76.yaml]
  engine: [nsga2, random]
  seed: [1, 2]
slurm: {partition: debug, time: \"00:10:00\", cpus_per_task: 1}
";

    fn parse(text: &str) -> Result<Sweep> {
        parse_sweep(text, Path::new("s.yaml"))
    }

    #[test]
    fn expands_the_cartesian_product_in_axis_order() {
        let sweep = parse(DEMO).unwrap();
        assert_eq!(sweep.axes, vec![Axis::Hardware, Axis::Engine, Axis::Seed]);
        assert_eq!(sweep.jobs.len(), 2 * 2 * 2);
        let triples: Vec<(String, String, u64)> = sweep
            .jobs
            .iter()
            .map(|j| (j.settings.hardware.clone(), j.settings.engine.clone(), j.settings.seed))
            .collect();
        let tpu = "hardware-profiles/tpu-like.yaml".to_string();
        let arm = "hardware-profiles/arm-a76.yaml".to_string();
        let expected = vec![
            (tpu.clone(), "nsga2".into(), 1),
            (tpu.clone(), "nsga2".into(), 2),
            (tpu.clone(), "random".into(), 1),
            (tpu, "random".into(), 2),
            (arm.clone(), "nsga2".into(), 1),
            (arm.clone(), "nsga2".into(), 2),
            (arm.clone(), "random".into(), 1),
            (arm, "random".into(), 2),
        ];
        assert_eq!(triples, expected);
        for (i, job) in sweep.jobs.iter().enumerate() {
            assert_eq!(job.index, i);
            assert_eq!(job.settings.budget, 300);
            assert_eq!(job.settings.model, DEFAULT_MODEL);
            assert_eq!(job.settings.space, "search-spaces/default.yaml");
            assert_eq!(job.id.len(), JOB_ID_LEN);
            assert!(job.id.chars().all(|c| c.is_ascii_hexdigit()));
        }
        let mut ids: Vec<&str> = sweep.jobs.iter().map(|j| j.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 8, "ids are distinct");
        assert_eq!(sweep.slurm.partition.as_deref(), Some("debug"));
        assert_eq!(sweep.slurm.cpus_per_task, Some(1));
    }

    #[test]
    fn ids_survive_reordering_and_follow_the_settings() {
        let a = parse(DEMO).unwrap();
        // Axes and their values in another order, keys moved, a `./` added: the same jobs.
        let reordered = "\
matrix:
  seed: [2, 1]
  engine: [random, nsga2]
  hardware: [./hardware-profiles/arm-a76.yaml, hardware-profiles//tpu-like.yaml]
base: {space: search-spaces/default.yaml, budget: 300}
out: elsewhere
name: demo-again
";
        let b = parse(reordered).unwrap();
        let mut ids_a: Vec<&str> = a.jobs.iter().map(|j| j.id.as_str()).collect();
        let mut ids_b: Vec<&str> = b.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_ne!(ids_a, ids_b, "the order differs");
        ids_a.sort();
        ids_b.sort();
        assert_eq!(ids_a, ids_b);
        for job in &a.jobs {
            assert_eq!(b.find(&job.id).unwrap().settings, job.settings);
        }
        // A change of any setting changes the id.
        let more = parse(&DEMO.replace("budget: 300", "budget: 301")).unwrap();
        for (x, y) in a.jobs.iter().zip(&more.jobs) {
            assert_ne!(x.id, y.id);
        }
        let constrained = parse(
            &DEMO.replace("budget: 300,", "budget: 300, constraints: {max_latency_s: 0.002},"),
        )
        .unwrap();
        assert_ne!(constrained.jobs[0].id, a.jobs[0].id);
    }

    #[test]
    fn id_is_the_sha256_of_the_canonical_json() {
        let settings = JobSettings {
            model: "builtin:demo-cnn".into(),
            data: None,
            hardware: "hw.yaml".into(),
            space: "space.yaml".into(),
            engine: "random".into(),
            seed: 7,
            budget: 10,
            constraints: ConstraintSettings::default(),
            calibration_samples: 512,
            validation_samples: 2000,
            batch: 1,
            tokens: 128,
            time_limit_s: None,
        };
        let json = r#"{"model":"builtin:demo-cnn","hardware":"hw.yaml","space":"space.yaml","engine":"random","seed":7,"budget":10,"calibration_samples":512,"validation_samples":2000,"batch":1,"tokens":128}"#;
        assert_eq!(serde_json::to_string(&settings).unwrap(), json);
        // `printf %s "$json" | sha256sum | cut -c1-12`, computed outside this code.
        assert_eq!(job_id(&settings), "2837604e5cde");
    }

    fn check_error(text: &str, line: usize, key: &str, words: &str) {
        let err = match parse(text) {
            Err(Error::Yaml(e)) => e,
            other => panic!("expected a YAML error, got {other:?}"),
        };
        assert_eq!(err.line(), Some(line), "{err}");
        assert_eq!(err.key(), Some(key), "{err}");
        assert!(err.to_string().contains(words), "{err}");
        assert!(err.to_string().starts_with(&format!("s.yaml:{line}")), "{err}");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        check_error("name: a\nout: o\nmatrix:\n  seeds: [1]\n", 4, "matrix.seeds", "unknown field");
        check_error("name: a\nout: o\nmatrix:\n  seed: []\n", 4, "matrix.seed", "at least one");
        check_error("name: a\nout: o\nmatrix:\n  seed: [1, 1]\n", 4, "matrix.seed", "twice");
        check_error(
            "name: a\nout: o\nmatrix:\n  hardware: [a.yaml, ./a.yaml]\n",
            4,
            "matrix.hardware",
            "twice",
        );
        check_error(
            "name: a\nout: o\nbase:\n  seed: 1\nmatrix:\n  seed: [2]\n",
            6,
            "matrix.seed",
            "also set in `base`",
        );
        check_error(
            "name: a\nout: o\nmatrix:\n  engine: [nsga2, nsga3]\n",
            4,
            "matrix.engine",
            "unknown engine `nsga3`",
        );
        check_error("name: a\nout: o\nbase:\n  budget: 0\n", 4, "base.budget", "at least 1");
        check_error("name: a b\nout: o\n", 1, "name", "letters, digits");
        check_error(
            "name: a\nout: o\nslurm:\n  array_limit: 0\n",
            4,
            "slurm.array_limit",
            "at least 1",
        );
        check_error(
            "name: a\nout: o\nslurm:\n  partition: \"a\\nb\"\n",
            4,
            "slurm.partition",
            "one line",
        );
        check_error("name: a\n", 1, "out", "missing field");
    }

    #[test]
    fn defaults_match_sculpt_search() {
        let sweep = parse("name: a\nout: o\n").unwrap();
        assert_eq!(sweep.jobs.len(), 1);
        let s = &sweep.jobs[0].settings;
        assert_eq!(
            (s.model.as_str(), s.hardware.as_str(), s.space.as_str(), s.engine.as_str()),
            (DEFAULT_MODEL, DEFAULT_HARDWARE, DEFAULT_SPACE, DEFAULT_ENGINE)
        );
        assert_eq!((s.seed, s.budget, s.validation_samples), (1, 2000, 2000));
        assert!(sweep.axes.is_empty());
    }
}
