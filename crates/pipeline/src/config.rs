//! What a search run is asked to do: [`SearchConfig`], [`EngineKind`], [`ProxyMode`] and the
//! defaults the command line, proxy checks and sweep jobs share.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use sculpt_compress::{RecoveryConfig, RecoveryDataConfig};
use sculpt_run::Constraints;

/// The device profile a search uses when none is named.
pub const DEFAULT_HARDWARE: &str = "hardware-profiles/tpu-like.yaml";
/// The search space a search uses when none is named.
pub const DEFAULT_SPACE: &str = "search-spaces/default.yaml";
/// Plans the engine evaluates when no budget is given.
pub const DEFAULT_BUDGET: usize = 2000;
/// The seed when none is given.
pub const DEFAULT_SEED: u64 = 1;
/// The run directory when none is named.
pub const DEFAULT_OUT: &str = "runs/latest";
/// Tokens per sample of text models.
pub const DEFAULT_TOKENS: usize = 128;
/// Calibration samples of the sensitivity pass.
pub const DEFAULT_CALIBRATION_SAMPLES: usize = 512;
/// Validation samples of the front's re-evaluation.
pub const DEFAULT_VALIDATION_SAMPLES: usize = 2000;

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
    /// Every engine, in the order help texts list them.
    pub const ALL: [EngineKind; 5] = [
        EngineKind::Nsga2,
        EngineKind::Bayes,
        EngineKind::Exact,
        EngineKind::Random,
        EngineKind::Exhaustive,
    ];

    /// Parses `nsga2`, `bayes`, `exact`, `random`, `exhaustive`.
    pub fn parse(name: &str) -> Option<EngineKind> {
        EngineKind::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The name (as `--engine` takes it and run.yaml records it).
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
    /// `table` inside the search; the front re-evaluated for real on held-out data (default;
    /// a search without `--data` on a model the bundled data does not fit falls back to
    /// `data-free`, with a note).
    Hybrid,
    /// Every plan the engine asks for is compressed and evaluated on the calibration split (for
    /// small budgets; pair with `--engine bayes`); the front is re-evaluated on held-out data.
    Full,
    /// No data: weight reconstruction error (dimensionless) instead of an accuracy loss.
    DataFree,
}

impl ProxyMode {
    /// Every proxy, in the order help texts list them.
    pub const ALL: [ProxyMode; 4] =
        [ProxyMode::Hybrid, ProxyMode::Table, ProxyMode::Full, ProxyMode::DataFree];

    /// Parses `table`, `hybrid`, `full`, `data-free`.
    pub fn parse(name: &str) -> Option<ProxyMode> {
        ProxyMode::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The name (as `--proxy` takes it and run.yaml records it).
    pub fn name(self) -> &'static str {
        match self {
            ProxyMode::Table => "table",
            ProxyMode::Hybrid => "hybrid",
            ProxyMode::Full => "full",
            ProxyMode::DataFree => "data-free",
        }
    }
}

/// Everything a search run needs. Build it with [`SearchConfig::new`] and struct-update syntax:
///
/// ```
/// let config = sculpt_pipeline::SearchConfig {
///     budget: 300,
///     ..sculpt_pipeline::SearchConfig::new("builtin:demo-cnn")
/// };
/// assert_eq!(config.engine, sculpt_pipeline::EngineKind::Nsga2);
/// ```
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
    /// Keep a checkpoint in the run directory (`checkpoint.json`) while the engine runs, so an
    /// interrupted search can be resumed.
    pub checkpoints: bool,
    /// Resume from the run directory's checkpoint.
    pub resume: bool,
    /// How accuracy is scored.
    pub proxy: ProxyMode,
    /// Also write the additive problem (tables of the searched objectives, no constraints) as
    /// JSON for `benches/peers`.
    pub export_problem: Option<PathBuf>,
    /// Recover the best plans of the front after the search (`--recover`).
    pub recovery: Option<SearchRecovery>,
    /// Re-time every front plan through this runner, as an ONNX export (`--measure-front`).
    pub measure_front: Option<crate::runner::Runner>,
}

impl SearchConfig {
    /// A search of `model` with every other setting at its default: the bundled data, the
    /// default device and space, NSGA-II, no constraints, no cache, no checkpoints.
    pub fn new(model: impl Into<String>) -> SearchConfig {
        SearchConfig {
            model: model.into(),
            data: None,
            hardware: PathBuf::from(DEFAULT_HARDWARE),
            space: PathBuf::from(DEFAULT_SPACE),
            engine: EngineKind::Nsga2,
            budget: DEFAULT_BUDGET,
            seed: DEFAULT_SEED,
            out: PathBuf::from(DEFAULT_OUT),
            batch: 1,
            tokens: DEFAULT_TOKENS,
            constraints: Constraints::default(),
            calibration_samples: DEFAULT_CALIBRATION_SAMPLES,
            validation_samples: DEFAULT_VALIDATION_SAMPLES,
            cache_dir: None,
            time_limit: None,
            stop: None,
            checkpoints: false,
            resume: false,
            proxy: ProxyMode::Hybrid,
            export_problem: None,
            recovery: None,
            measure_front: None,
        }
    }
}

/// What `--recover` asks of a search.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchRecovery {
    /// The method and its settings.
    pub config: RecoveryConfig,
    /// The training data.
    pub data: RecoveryDataConfig,
    /// How many front plans to recover (see [`recovery_picks`]).
    pub top: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for e in EngineKind::ALL {
            assert_eq!(EngineKind::parse(e.name()), Some(e));
        }
        for p in ProxyMode::ALL {
            assert_eq!(ProxyMode::parse(p.name()), Some(p));
        }
        assert_eq!(EngineKind::parse("NSGA2"), None);
        assert_eq!(ProxyMode::parse("datafree"), None);
    }
}
