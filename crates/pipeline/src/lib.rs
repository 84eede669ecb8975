//! The glue of a sculpt search: it turns a model, a device profile, a search space and data into
//! the tables a search engine optimises over, and the results into a run directory.
//!
//! * [`graph_workloads`] and [`layer_compression`] translate the model side into the hardware
//!   side's vocabulary; [`graph_cost`] costs a whole (compressed) model on a device.
#![deny(missing_docs)]

mod calibrate;
mod costs;
mod datafree;
mod error;
mod problem;
mod proxy;
mod recovery;
mod run;
mod sensitivity;
mod space;

pub use calibrate::{
    Calibration, FREE_PARAMS, PlanTimingConfig, PlanTimings, PlanValidation, TimedPlan, TimingStat,
    calibrate, lookup_csv, time_forward, time_plans, validate_plans,
};
pub use costs::{
    NodeWorkload, costs_by_node, default_activation_precision, graph_cost, graph_workloads,
    layer_compression, option_workloads, runtime_compression,
};
pub use datafree::{data_free_table, weight_error};
pub use error::{Error, Result};
pub use problem::{CostTables, OptionCost, Quantities, TableObjective, cost_tables};
pub use proxy::{ProxyCheck, ProxyKind, proxy_check};
pub use recovery::{SearchRecovery, recovery_picks};
pub use run::{
    EngineKind, FORMAT_VERSION, FrontRow, ProxyMode, RunMonitor, RunSummary, SearchConfig, Splits,
    measure_latency, now_rfc3339, objective_names, rfc3339, run_search, splits,
};
pub use sculpt_eval::{kendall_tau, pearson, spearman};
pub use sensitivity::{
    EvalSet, Fidelity, Reference, SensitivityEntry, SensitivityTable, default_cache_dir,
    evaluate_plan, fidelity, model_fingerprint, outputs, reference, sensitivity, sha256_hex,
    tensor_fingerprint,
};
pub use space::{
    Constraints, ExpandedSpace, Match, ObjectiveKind, OptionLists, Rule, SearchSpace, SpaceGene,
    expand, rule_options,
};
