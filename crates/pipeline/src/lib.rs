//! The glue of a sculpt search: it turns a model, a device profile, a search space and data into
//! the tables a search engine optimises over, and the results into a run directory.
//!
//! * [`graph_workloads`] and [`layer_compression`] translate the model side into the hardware
//!   side's vocabulary; [`graph_cost`] costs a whole (compressed) model on a device.
#![deny(missing_docs)]

mod calibrate;
mod config;
mod costs;
mod data;
mod datafree;
mod engine;
mod error;
mod measure;
mod problem;
mod proxy;
mod record;
mod recovery;
mod run;
mod sensitivity;
mod space;

pub use calibrate::{
    Calibration, FREE_PARAMS, PlanTimingConfig, PlanTimings, PlanValidation, TimedPlan,
    calibrate, lookup_csv, time_plans, validate_plans,
};
pub use config::{
    DEFAULT_BUDGET, DEFAULT_CALIBRATION_SAMPLES, DEFAULT_HARDWARE, DEFAULT_OUT, DEFAULT_SEED,
    DEFAULT_SPACE, DEFAULT_TOKENS, DEFAULT_VALIDATION_SAMPLES, EngineKind, ProxyMode, SearchConfig,
};
pub use costs::{
    NodeWorkload, costs_by_node, default_activation_precision, graph_cost, graph_workloads,
    layer_compression, option_workloads, runtime_compression,
};
pub use datafree::{data_free_table, weight_error};
pub use error::{Error, Result};
pub use problem::{CostTables, OptionCost, Quantities, TableObjective, cost_tables};
pub use proxy::{ProxyCheck, ProxyKind, proxy_check};
pub use record::sensitivity_rows;
pub use recovery::{SearchRecovery, recovery_picks};
pub use data::{DataSelection, Splits, splits};
pub use measure::{TIMED_PASSES, WARMUP_PASSES, measure_latency};
pub use run::{Inputs, RunMonitor, RunSummary, objective_names, run_search};
pub use sensitivity::{
    EvalSet, Fidelity, Reference, SensitivityEntry, SensitivityTable, default_cache_dir,
    evaluate_plan, fidelity, model_fingerprint, outputs, reference, sensitivity, sha256_hex,
    tensor_fingerprint,
};
pub use space::{
    ExpandedSpace, Match, OptionLists, Rule, SearchSpace, SpaceGene, expand, rule_options,
};
