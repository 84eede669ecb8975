//! Compression for sculpt: the operators (pruning, quantization, low-rank factorisation), the
//! [`CompressionPlan`] that assigns them to layers, [`apply_plan`], and the compressed
//! safetensors format ([`write_compressed`], [`load_any`]), and accuracy recovery after
//! compression ([`recover`], [`recover_progressive`]: fine-tuning, distillation, QAT).
//!
//! ```
//! use sculpt_compress::{ApplyOptions, CompressionPlan, apply_plan};
//!
//! let model = sculpt_model::load_model("builtin:demo-mlp").unwrap();
//! let plan: CompressionPlan = sculpt_yaml::from_str(
//!     "defaults:\n  quant: {weight_bits: 8, granularity: per_channel}\n",
//!     "plan.yaml".as_ref(),
//! )
//! .unwrap();
//! let compressed = apply_plan(&model, &plan, None, &ApplyOptions::default()).unwrap();
//! assert_eq!(compressed.stored.len(), 3); // fc1, fc2 and classifier are stored as int8
//! ```
#![deny(missing_docs)]

mod apply;
mod error;
mod export;
mod format;
pub mod groups;
mod lowrank;
mod plan;
mod prune;
mod quant;
mod recover;

pub use apply::{
    ApplyOptions, Compressed, Encoding, StoredWeight, ZeroPattern, apply_plan, apply_resolved,
    expand,
};
pub use error::{Error, Result};
pub use export::{SPARSITY_KEY, export_compressed, export_model_file, export_part};
pub use format::{
    Export, Kernels, PACKING_KEY, PLAN_KEY, Stored, attach_candle_kernels, attach_quantized_kernel,
    export_tensors, load_any, load_compressed, load_stored, stored_bytes, write_compressed,
};
pub use lowrank::{choose_rank, factorise, full_rank, singular_values};
pub use plan::{
    ActCalibration, Clip, CompressionPlan, Criterion, FloatFormat, Granularity, LayerOption,
    PlanSource, Prune, PruneKind, PruneScope, Quant, Rank, ResolvedLayer, ResolvedPlan, glob_match,
    is_plan_target, resolve,
};
pub use prune::{
    channel_prunable, global_magnitude_keep, magnitude_keep, nm_keep, prune_channels, prune_heads,
};
pub use quant::{
    ActRange, QuantParams, QuantizedWeight, calibrate_activation, float_cast, pack_bits,
    packed_len, quantize_weight, unpack_bits,
};
pub use recover::{
    DEFAULT_VALIDATION_SAMPLES, EpochRecord, Progressive, Recovered, RecoveryConfig, RecoveryData,
    RecoveryDataConfig, RecoveryEvent, RecoveryMethod, StepRecord, TrainingSet,
    compression_summary, distillation_loss, recover, recover_progressive, recovery_data,
    step_option, steps_csv,
};
