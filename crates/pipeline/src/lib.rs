//! The glue of a sculpt search: it turns a model, a device profile, a search space and data into
//! the tables a search engine optimises over, and the results into a run directory. It is the one
//! crate that knows all the others, so that the binary stays thin and the domain crates stay
//! independent of each other.
//!
//! * [`run_search`] is `sculpt search`: [`Inputs`] (model, device, expanded space), cost tables
//!   ([`cost_tables`]), data [`splits`] and [`sensitivity`], the engine, the front re-measured,
//!   and the run directory written through sculpt-run. [`SearchConfig`] says what to do;
//!   [`RunMonitor`] hears about it.
//! * [`graph_workloads`] and [`layer_compression`] translate the model side into the hardware
//!   side's vocabulary; [`graph_cost`] costs a whole (compressed) model on a device.
//! * [`expand`] turns a search-space file into genes; [`proxy_check`] and [`calibrate`] are the
//!   commands of the same names.
//!
//! ```
//! let inputs = sculpt_pipeline::Inputs::load(
//!     "builtin:demo-cnn",
//!     Some("../../hardware-profiles/tpu-like.yaml".as_ref()),
//!     "../../search-spaces/default.yaml".as_ref(),
//!     1,
//!     128,
//! )?;
//! // conv1, conv2 and fc1 with six options each; the classifier stays uncompressed.
//! assert_eq!(inputs.space.genes.len(), 3);
//! assert_eq!(inputs.space.size(), 216.0);
//! let costs = sculpt_pipeline::cost_tables(
//!     &inputs.model.graph,
//!     &inputs.space,
//!     &inputs.workloads,
//!     inputs.cost_model.as_ref().unwrap(),
//! )?;
//! assert_eq!(costs.genes.len(), 3);
//! # Ok::<(), sculpt_pipeline::Error>(())
//! ```
#![deny(missing_docs)]

mod calibrate;
mod config;
mod costs;
mod data;
mod datafree;
mod engine;
mod error;
mod measure;
mod monitor;
mod problem;
mod proxy;
mod record;
mod recovery;
mod run;
mod runner;
mod runner_timing;
mod sensitivity;
mod space;

pub use calibrate::{
    Calibration, FREE_PARAMS, PlanTimingConfig, PlanTimings, PlanValidation, TimedPlan, calibrate,
    free_params_for, lookup_csv, time_plans, validate_plans,
};
pub use config::{
    DEFAULT_BUDGET, DEFAULT_CALIBRATION_SAMPLES, DEFAULT_HARDWARE, DEFAULT_OUT, DEFAULT_SEED,
    DEFAULT_SPACE, DEFAULT_TOKENS, DEFAULT_VALIDATION_SAMPLES, EngineKind, ProxyMode, SearchConfig,
    SearchRecovery,
};
pub use costs::{
    NodeWorkload, costs_by_node, default_activation_precision, graph_cost, graph_workloads,
    layer_compression, option_workloads, runtime_compression,
};
pub use data::{DataSelection, Splits, splits};
pub use datafree::{data_free_table, weight_error};
pub use error::{Error, Result};
pub use measure::{TIMED_PASSES, WARMUP_PASSES, measure_latency};
pub use monitor::RunMonitor;
pub use problem::{CostTables, OptionCost, Quantities, TableObjective, cost_tables};
pub use proxy::{ProxyCheck, TableProxy, proxy_check};
pub use record::sensitivity_rows;
pub use recovery::recovery_picks;
pub use run::{Inputs, RunSummary, objective_names, run_search};
pub use runner::{Measurement, Runner, Samples, measure_through_runner};
pub use runner_timing::{RunnerLog, median_per_layer, time_plans_through_runner};
pub use sensitivity::{
    EvalSet, Reference, SensitivityEntry, SensitivityTable, default_cache_dir, evaluate_plan,
    model_fingerprint, outputs, reference, sensitivity, sha256_hex, tensor_fingerprint,
};
pub use space::{
    ExpandedSpace, Match, OptionLists, Rule, SearchSpace, SpaceGene, expand, rule_options,
};
