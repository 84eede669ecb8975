//! Hardware profiles and cost models for sculpt.
//!
//! A [`Profile`] describes one device in YAML (schema version 1, documented in
//! `docs/hardware-profiles.md`): throughput and energy per [`Precision`], what happens to precisions it lacks (fallback or
//! rejection), a systolic array's geometry and dataflow, memory levels, sparsity support,
//! overheads and utilisation per [`WorkloadKind`]. A [`CostModel`] turns a layer's work
//! ([`LayerWorkload`], filled by the model side's profiler) and one compression option
//! ([`LayerCompression`]) into a [`LayerCost`]: latency with its dominating [`Bound`], energy,
//! bytes and the precision actually used; [`CostModel::model_cost`] sums a whole model into a
//! [`ModelCost`].
//!
//! Three models are available:
//!
//! * the analytic roofline ([`analytic_layer_cost`]), which on systolic devices folds GEMMs onto
//!   the array ([`SystolicArray::compute_cycles`], checked against SCALE-Sim in
//!   `benches/scalesim`);
//! * a measured [`LookupTable`] (CSV) that replaces or scales the analytic latency;
//! * [`fit`], which fits a profile's free parameters to measured latencies by least squares on
//!   log latency, with [`validate`] giving MAPE, the share within ±10 % and Spearman's ρ on held-out
//!   measurements.
//!
//! ```
//! use sculpt_hw::{ActivationPrecision, CostModel, LayerCompression, LayerWorkload, Precision, Profile};
//!
//! let profile = Profile::from_yaml(
//!     include_str!("../../../hardware-profiles/tpu-like.yaml"),
//!     "tpu-like.yaml".as_ref(),
//! )?;
//! let model = CostModel::analytic(profile);
//! let layer = LayerWorkload::linear("encoder.0.attn.q", 128, 512, 512);
//! let int8 = LayerCompression::dense(Precision::Int8, ActivationPrecision::Int8);
//! let cost = model.layer_cost(&layer, &int8)?;
//! // K = N = 512 on a 128×128 weight-stationary array: 4·4 folds of 2·128 + 128 + 128 − 2 cycles.
//! assert_eq!(cost.array_cycles, Some(16 * 510));
//! assert_eq!(cost.precision, Precision::Int8);
//! # Ok::<(), sculpt_hw::Error>(())
//! ```
#![deny(missing_docs)]

mod analytic;
mod cost_model;
mod error;
mod fit;
mod lookup;
mod profile;
mod systolic;
mod workload;

pub use analytic::{
    Bound, CostContext, CostSource, Energy, LayerCost, MemoryLevel, ModelCost, SCALE_BITS,
    analytic_layer_cost,
};
pub use cost_model::CostModel;
pub use error::{Error, Result};
pub use fit::{
    FitConfig, FitReport, FittedParam, FreeParam, Measurement, ValidationStats, compare, fit,
    validate,
};
pub use lookup::{LookupTable, TableHit, TableRow};
pub use profile::{
    DeviceKind, FallbackWeights, LookupMode, LookupSpec, MemoryLevelSpec, MissingPolicy, NmSupport,
    PrecisionSupport, Profile, Runtime, SCHEMA_VERSION, Throughput, UnstructuredSupport,
};
pub use systolic::{Dataflow, SystolicArray};
pub use workload::{
    ActivationPrecision, Gemm, GroupSize, LayerCompression, LayerWorkload, NmPattern, Precision,
    QuantGranularity, Sparsity, SparsityRatio, WorkloadKind,
};
