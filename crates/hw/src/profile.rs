//! Device profiles: the YAML schema (version 1), its validation, and the validated [`Profile`].
//!
//! The schema is documented for users in `docs/hardware-profiles.md`; this module is its single
//! source of truth.
//! Deserialisation goes through `sculpt-yaml` (unknown keys rejected, errors with file, line and
//! key); semantic checks run afterwards and point at the offending key with
//! [`sculpt_yaml::Error::at_key`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::systolic::{Dataflow, SystolicArray};
use crate::workload::{NmPattern, Precision, WorkloadKind};

/// The schema version this crate reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The broad class of a device. Only `systolic` changes the cost model (GEMMs are folded onto the
/// array); the others differ only in their numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// A general-purpose CPU.
    Cpu,
    /// A GPU.
    Gpu,
    /// A neural processing unit modelled by its throughput (not by a fold model).
    Npu,
    /// A systolic array, modelled by how GEMMs fold onto it.
    Systolic,
}

/// The runtime a profile describes, when it is one sculpt can run and time itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// sculpt's own candle runtime on this machine: layers are costed with the kernels candle
    /// really has, and a search re-times its front in-process.
    Candle,
}

/// What happens to the weights of a layer that runs through a fallback kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FallbackWeights {
    /// Weights stay in memory at the requested precision and are unpacked on the fly, so memory
    /// traffic is at the requested width (weight-only quantization kernels).
    Stored,
    /// Weights are converted offline to the target precision, so memory traffic is at the
    /// target's width (an int8-only toolchain storing int4 weights as int8).
    Expanded,
}

/// How fast a native kernel runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Throughput {
    /// Peak multiply-accumulates per second (cpu, gpu, npu).
    MacsPerSecond(f64),
    /// Multiply-accumulates per processing element per clock cycle (systolic arrays; 1.0 is one
    /// MAC per PE per cycle, 0.25 a quarter-rate format).
    PerPeCycle(f64),
}

/// What a device does with one requested precision.
#[derive(Clone, Debug, PartialEq)]
pub enum PrecisionSupport {
    /// The device has a kernel for it.
    Native {
        /// Its peak rate.
        throughput: Throughput,
        /// Energy of one multiply-accumulate, in joules.
        energy_per_mac_j: f64,
    },
    /// The device runs it through the kernel of another (native) precision.
    Fallback {
        /// The native precision that runs it.
        to: Precision,
        /// The fallback does this many times the work of the target kernel (time and MAC energy
        /// are multiplied by it), such as 3 bf16 passes for an fp32 matmul.
        work_factor: f64,
        /// Whether weights stay at the requested width or are expanded to the target's.
        weights: FallbackWeights,
    },
    /// The device refuses it.
    Rejected {
        /// Why, as written in the profile (or "not listed in the profile").
        reason: String,
    },
}

/// Whether and how a device exploits unstructured weight sparsity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnstructuredSupport {
    /// Zeros are stored and computed like any weight.
    None,
    /// Weights are stored compressed (values plus a one-bit-per-weight bitmap, when smaller than
    /// dense) and decompressed on the fly; compute is dense.
    StorageOnly,
    /// Stored compressed, and computed faster at ratios of at least `min_ratio`: compute time
    /// (and MAC energy) is multiplied by `min(1, (1 − ratio) / efficiency)`.
    Compute {
        /// The smallest sparsity ratio at which the sparse kernel is used.
        min_ratio: f64,
        /// The sparse kernel's efficiency relative to dense per useful MAC, in `(0, 1]`.
        efficiency: f64,
    },
}

/// A hardware-supported N:M pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct NmSupport {
    /// The pattern.
    pub pattern: NmPattern,
    /// Compute time (and MAC energy) is divided by this for the listed precisions.
    pub speedup: f64,
    /// The precisions (of the kernel actually used) the speed-up applies to.
    pub precisions: Vec<Precision>,
}

/// One memory level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryLevelSpec {
    /// Capacity in bytes.
    pub capacity_bytes: f64,
    /// Sustained bandwidth in bytes per second.
    pub bandwidth_bytes_per_s: f64,
    /// Energy per byte moved, in joules.
    pub energy_per_byte_j: f64,
}

/// Whether a measured lookup table replaces or scales the analytic model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LookupMode {
    /// Latency (and energy, where measured) come from the table.
    Replace,
    /// Latency is the analytic latency times a per-kind factor fitted to the table.
    Scale,
}

/// What a lookup table does for a layer it holds no entry for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingPolicy {
    /// Fail with [`Error::LookupMiss`].
    Error,
    /// Use the analytic model.
    Analytic,
}

/// A profile's reference to a measured lookup table.
#[derive(Clone, Debug, PartialEq)]
pub struct LookupSpec {
    /// The CSV file, resolved against the profile's directory.
    pub path: PathBuf,
    /// Replace or scale.
    pub mode: LookupMode,
    /// What to do on a miss.
    pub missing: MissingPolicy,
}

/// A validated device profile.
///
/// ```
/// let profile = sculpt_hw::Profile::from_yaml(
///     include_str!("../../../hardware-profiles/tpu-like.yaml"),
///     "tpu-like.yaml".as_ref(),
/// )?;
/// assert_eq!(profile.name(), "tpu-like");
/// assert_eq!(profile.systolic().map(|a| a.rows), Some(128));
/// # Ok::<(), sculpt_hw::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Profile {
    pub(crate) raw: RawProfile,
    origin: PathBuf,
}

impl Profile {
    /// Reads and validates the profile at `path`.
    ///
    /// A bare name that is not a file, such as `tpu-like`, names a shipped profile:
    /// `hardware-profiles/tpu-like.yaml` under the working directory, else in sculpt's source tree.
    pub fn from_path(path: &Path) -> Result<Profile, Error> {
        let path = resolve_name(path);
        let text = sculpt_yaml::read_text(&path)?;
        Profile::from_yaml(&text, &path)
    }

    /// Parses and validates a profile from `text`, which came from `origin` (used in error
    /// messages and to resolve a lookup table's relative path).
    pub fn from_yaml(text: &str, origin: &Path) -> Result<Profile, Error> {
        let raw: RawProfile = sculpt_yaml::from_str(text, origin)?;
        let at = |key: &str, msg: String| {
            Error::from(sculpt_yaml::Error::at_key(origin, text, key, msg))
        };
        raw.validate().map_err(|(key, msg)| at(&key, msg))?;
        Ok(Profile { raw, origin: origin.to_path_buf() })
    }

    /// Serialises the profile back to YAML (comments are not kept), for example after [`fit`](crate::fit).
    pub fn to_yaml(&self) -> Result<String, Error> {
        Ok(sculpt_yaml::to_string(&self.raw)?)
    }

    /// The file the profile came from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.raw.name
    }

    /// The same profile for another device measured the same way: renamed and described anew,
    /// with the runtime given (a profile fitted to a runner's timings describes no runtime
    /// sculpt runs itself).
    pub fn renamed(&self, name: &str, description: &str, runtime: Option<Runtime>) -> Profile {
        let mut raw = self.raw.clone();
        raw.name = name.to_string();
        raw.description = Some(description.to_string());
        raw.runtime = runtime;
        Profile { raw, origin: self.origin.clone() }
    }

    /// The runtime the profile describes, when sculpt can run it on this machine (`runtime:`).
    pub fn runtime(&self) -> Option<Runtime> {
        self.raw.runtime
    }

    /// The device's class.
    pub fn kind(&self) -> DeviceKind {
        self.raw.kind
    }

    /// The array geometry, for systolic devices.
    pub fn systolic(&self) -> Option<SystolicArray> {
        self.raw.systolic.as_ref().map(|s| SystolicArray {
            rows: s.rows,
            cols: s.cols,
            dataflow: s.dataflow,
            clock_hz: s.clock_mhz * 1e6,
        })
    }

    /// What the device does with `precision`. Precisions absent from the profile are rejected.
    pub fn precision(&self, precision: Precision) -> PrecisionSupport {
        match self.raw.precisions.get(precision) {
            None => PrecisionSupport::Rejected { reason: "not listed in the profile".into() },
            Some(entry) => entry.support(),
        }
    }

    /// The precisions the device runs natively.
    pub fn native_precisions(&self) -> Vec<Precision> {
        Precision::ALL
            .into_iter()
            .filter(|p| matches!(self.precision(*p), PrecisionSupport::Native { .. }))
            .collect()
    }

    /// The fraction of peak throughput layers of `kind` reach, in `(0, 1]`.
    pub fn utilisation(&self, kind: WorkloadKind) -> f64 {
        self.raw.utilisation.get(kind).unwrap_or(self.raw.utilisation.default)
    }

    /// The on-chip SRAM (or last-level cache).
    pub fn sram(&self) -> MemoryLevelSpec {
        self.raw.memory.sram.level().spec()
    }

    /// Off-chip DRAM.
    pub fn dram(&self) -> MemoryLevelSpec {
        self.raw.memory.dram.spec()
    }

    /// Whether the device keeps all weights on chip between inferences when they fit.
    pub fn caches_weights(&self) -> bool {
        self.raw.memory.sram.caches_weights
    }

    /// How the device treats unstructured sparsity.
    pub fn unstructured_sparsity(&self) -> UnstructuredSupport {
        let u = &self.raw.sparsity.unstructured;
        match u.support {
            UnstructuredKind::None => UnstructuredSupport::None,
            UnstructuredKind::StorageOnly => UnstructuredSupport::StorageOnly,
            UnstructuredKind::Compute => UnstructuredSupport::Compute {
                min_ratio: u.min_ratio.unwrap_or(0.0),
                efficiency: u.efficiency.unwrap_or(1.0),
            },
        }
    }

    /// The N:M patterns the device accelerates.
    pub fn nm_patterns(&self) -> Vec<NmSupport> {
        self.raw
            .sparsity
            .nm
            .iter()
            .filter_map(|nm| {
                Some(NmSupport {
                    pattern: NmPattern::new(nm.n, nm.m)?,
                    speedup: nm.speedup,
                    precisions: nm.precisions.clone(),
                })
            })
            .collect()
    }

    /// Fixed time added to every layer, in seconds.
    pub fn per_layer_overhead_s(&self) -> f64 {
        self.raw.overheads.per_layer_us * 1e-6
    }

    /// Fixed time added once per inference, in seconds.
    pub fn per_inference_overhead_s(&self) -> f64 {
        self.raw.overheads.per_inference_us * 1e-6
    }

    /// Power drawn whenever the device is busy, in watts; multiplied by latency for energy.
    pub fn static_power_w(&self) -> f64 {
        self.raw.power.static_w
    }

    /// The measured lookup table the profile refers to, with its path resolved against the
    /// profile's directory.
    pub fn lookup(&self) -> Option<LookupSpec> {
        self.raw.lookup.as_ref().map(|l| {
            let path = if l.path.is_absolute() {
                l.path.clone()
            } else {
                self.origin.parent().unwrap_or(Path::new(".")).join(&l.path)
            };
            LookupSpec { path, mode: l.mode, missing: l.missing }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The raw schema. Field names are the YAML keys.

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProfile {
    schema_version: u32,
    name: String,
    kind: DeviceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    runtime: Option<Runtime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    systolic: Option<RawSystolic>,
    pub(crate) precisions: RawPrecisions,
    pub(crate) utilisation: RawUtilisation,
    pub(crate) memory: RawMemory,
    sparsity: RawSparsity,
    pub(crate) overheads: RawOverheads,
    power: RawPower,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lookup: Option<RawLookup>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystolic {
    rows: u32,
    cols: u32,
    dataflow: Dataflow,
    clock_mhz: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrecisions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fp32: Option<RawPrecision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fp16: Option<RawPrecision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bf16: Option<RawPrecision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    int8: Option<RawPrecision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    int6: Option<RawPrecision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    int4: Option<RawPrecision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    int3: Option<RawPrecision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    int2: Option<RawPrecision>,
}

impl RawPrecisions {
    pub(crate) fn get(&self, p: Precision) -> Option<&RawPrecision> {
        self.slot(p).as_ref()
    }

    pub(crate) fn get_mut(&mut self, p: Precision) -> Option<&mut RawPrecision> {
        self.slot_mut(p).as_mut()
    }

    fn slot(&self, p: Precision) -> &Option<RawPrecision> {
        match p {
            Precision::Fp32 => &self.fp32,
            Precision::Fp16 => &self.fp16,
            Precision::Bf16 => &self.bf16,
            Precision::Int8 => &self.int8,
            Precision::Int6 => &self.int6,
            Precision::Int4 => &self.int4,
            Precision::Int3 => &self.int3,
            Precision::Int2 => &self.int2,
        }
    }

    fn slot_mut(&mut self, p: Precision) -> &mut Option<RawPrecision> {
        match p {
            Precision::Fp32 => &mut self.fp32,
            Precision::Fp16 => &mut self.fp16,
            Precision::Bf16 => &mut self.bf16,
            Precision::Int8 => &mut self.int8,
            Precision::Int6 => &mut self.int6,
            Precision::Int4 => &mut self.int4,
            Precision::Int3 => &mut self.int3,
            Precision::Int2 => &mut self.int2,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrecision {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gmac_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) macs_per_pe_per_cycle: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    energy_pj_per_mac: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fallback_to: Option<Precision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    work_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weights: Option<FallbackWeights>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reject: Option<String>,
}

impl RawPrecision {
    fn is_native(&self) -> bool {
        self.gmac_per_s.is_some() || self.macs_per_pe_per_cycle.is_some()
    }

    fn support(&self) -> PrecisionSupport {
        if let Some(reason) = &self.reject {
            return PrecisionSupport::Rejected { reason: reason.clone() };
        }
        if let Some(to) = self.fallback_to {
            return PrecisionSupport::Fallback {
                to,
                work_factor: self.work_factor.unwrap_or(1.0),
                weights: self.weights.unwrap_or(FallbackWeights::Stored),
            };
        }
        let throughput = match (self.gmac_per_s, self.macs_per_pe_per_cycle) {
            (Some(g), _) => Throughput::MacsPerSecond(g * 1e9),
            (None, Some(r)) => Throughput::PerPeCycle(r),
            (None, None) => Throughput::MacsPerSecond(0.0),
        };
        PrecisionSupport::Native {
            throughput,
            energy_per_mac_j: self.energy_pj_per_mac.unwrap_or(0.0) * 1e-12,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUtilisation {
    pub(crate) default: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    linear: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    conv2d: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    depthwise_conv2d: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attention: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    elementwise: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activation: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    softmax: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pool: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    norm: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    embedding: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    other: Option<f64>,
}

impl RawUtilisation {
    fn get(&self, kind: WorkloadKind) -> Option<f64> {
        *self.slot(kind)
    }

    fn slot(&self, kind: WorkloadKind) -> &Option<f64> {
        match kind {
            WorkloadKind::Linear => &self.linear,
            WorkloadKind::Conv2d => &self.conv2d,
            WorkloadKind::DepthwiseConv2d => &self.depthwise_conv2d,
            WorkloadKind::Attention => &self.attention,
            WorkloadKind::Elementwise => &self.elementwise,
            WorkloadKind::Activation => &self.activation,
            WorkloadKind::Softmax => &self.softmax,
            WorkloadKind::Pool => &self.pool,
            WorkloadKind::Norm => &self.norm,
            WorkloadKind::Embedding => &self.embedding,
            WorkloadKind::Other => &self.other,
        }
    }

    pub(crate) fn set(&mut self, kind: WorkloadKind, value: f64) {
        let slot = match kind {
            WorkloadKind::Linear => &mut self.linear,
            WorkloadKind::Conv2d => &mut self.conv2d,
            WorkloadKind::DepthwiseConv2d => &mut self.depthwise_conv2d,
            WorkloadKind::Attention => &mut self.attention,
            WorkloadKind::Elementwise => &mut self.elementwise,
            WorkloadKind::Activation => &mut self.activation,
            WorkloadKind::Softmax => &mut self.softmax,
            WorkloadKind::Pool => &mut self.pool,
            WorkloadKind::Norm => &mut self.norm,
            WorkloadKind::Embedding => &mut self.embedding,
            WorkloadKind::Other => &mut self.other,
        };
        *slot = Some(value);
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMemory {
    pub(crate) sram: RawSram,
    pub(crate) dram: RawLevel,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSram {
    capacity_mib: f64,
    pub(crate) bandwidth_gb_per_s: f64,
    energy_pj_per_byte: f64,
    #[serde(default)]
    caches_weights: bool,
}

impl RawSram {
    fn level(&self) -> RawLevel {
        RawLevel {
            capacity_mib: self.capacity_mib,
            bandwidth_gb_per_s: self.bandwidth_gb_per_s,
            energy_pj_per_byte: self.energy_pj_per_byte,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLevel {
    capacity_mib: f64,
    pub(crate) bandwidth_gb_per_s: f64,
    energy_pj_per_byte: f64,
}

impl RawLevel {
    fn spec(&self) -> MemoryLevelSpec {
        MemoryLevelSpec {
            capacity_bytes: self.capacity_mib * 1024.0 * 1024.0,
            bandwidth_bytes_per_s: self.bandwidth_gb_per_s * 1e9,
            energy_per_byte_j: self.energy_pj_per_byte * 1e-12,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSparsity {
    unstructured: RawUnstructured,
    #[serde(default)]
    nm: Vec<RawNm>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum UnstructuredKind {
    None,
    StorageOnly,
    Compute,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnstructured {
    support: UnstructuredKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    efficiency: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNm {
    n: u32,
    m: u32,
    speedup: f64,
    precisions: Vec<Precision>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOverheads {
    pub(crate) per_layer_us: f64,
    per_inference_us: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPower {
    static_w: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLookup {
    path: PathBuf,
    mode: LookupMode,
    missing: MissingPolicy,
}

// ---------------------------------------------------------------------------------------------
// Validation. Each check returns the dotted key it is about and a message.

type Check = Result<(), (String, String)>;

fn fail(key: impl Into<String>, msg: impl Into<String>) -> Check {
    Err((key.into(), msg.into()))
}

fn positive(key: &str, value: f64) -> Check {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        fail(key, format!("must be a finite number > 0, got {value}"))
    }
}

fn non_negative(key: &str, value: f64) -> Check {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        fail(key, format!("must be a finite number >= 0, got {value}"))
    }
}

fn fraction(key: &str, value: f64) -> Check {
    if value.is_finite() && value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        fail(key, format!("must be in (0, 1], got {value}"))
    }
}

impl RawProfile {
    fn validate(&self) -> Check {
        if self.schema_version != SCHEMA_VERSION {
            return fail(
                "schema_version",
                format!(
                    "unsupported schema version {}; this build reads version {SCHEMA_VERSION}",
                    self.schema_version
                ),
            );
        }
        if self.name.trim().is_empty() {
            return fail("name", "must not be empty");
        }
        match (self.kind, &self.systolic) {
            (DeviceKind::Systolic, None) => {
                return fail("kind", "a device of kind `systolic` needs a `systolic` section");
            }
            (DeviceKind::Systolic, Some(s)) => {
                if s.rows == 0 {
                    return fail("systolic.rows", "must be at least 1");
                }
                if s.cols == 0 {
                    return fail("systolic.cols", "must be at least 1");
                }
                positive("systolic.clock_mhz", s.clock_mhz)?;
            }
            (_, Some(_)) => {
                return fail(
                    "systolic",
                    "only a device of kind `systolic` has a `systolic` section",
                );
            }
            (_, None) => {}
        }
        self.validate_precisions()?;
        fraction("utilisation.default", self.utilisation.default)?;
        for kind in WorkloadKind::ALL {
            if let Some(value) = self.utilisation.get(kind) {
                fraction(&format!("utilisation.{}", kind.name()), value)?;
            }
        }
        for (name, level) in
            [("sram", self.memory.sram.level()), ("dram", self.memory.dram.clone())]
        {
            positive(&format!("memory.{name}.capacity_mib"), level.capacity_mib)?;
            positive(&format!("memory.{name}.bandwidth_gb_per_s"), level.bandwidth_gb_per_s)?;
            non_negative(&format!("memory.{name}.energy_pj_per_byte"), level.energy_pj_per_byte)?;
        }
        self.validate_sparsity()?;
        non_negative("overheads.per_layer_us", self.overheads.per_layer_us)?;
        non_negative("overheads.per_inference_us", self.overheads.per_inference_us)?;
        non_negative("power.static_w", self.power.static_w)?;
        if let Some(lookup) = &self.lookup
            && lookup.path.as_os_str().is_empty()
        {
            return fail("lookup.path", "must name a CSV file");
        }
        Ok(())
    }

    fn validate_precisions(&self) -> Check {
        let systolic = self.kind == DeviceKind::Systolic;
        let mut any_native = false;
        for p in Precision::ALL {
            let Some(entry) = self.precisions.get(p) else { continue };
            let key = |field: &str| format!("precisions.{}.{field}", p.name());
            let fallback_fields = entry.fallback_to.is_some()
                || entry.work_factor.is_some()
                || entry.weights.is_some();
            let modes = [entry.is_native(), entry.fallback_to.is_some(), entry.reject.is_some()]
                .iter()
                .filter(|m| **m)
                .count();
            if modes != 1 {
                return fail(
                    format!("precisions.{}", p.name()),
                    "give exactly one of: a native rate (`gmac_per_s` or `macs_per_pe_per_cycle` \
                     with `energy_pj_per_mac`), `fallback_to`, or `reject`",
                );
            }
            if entry.is_native() {
                any_native = true;
                match (systolic, entry.gmac_per_s, entry.macs_per_pe_per_cycle) {
                    (true, Some(_), _) => {
                        return fail(
                            key("gmac_per_s"),
                            "a systolic device gives `macs_per_pe_per_cycle` instead",
                        );
                    }
                    (false, _, Some(_)) => {
                        return fail(
                            key("macs_per_pe_per_cycle"),
                            "only a systolic device gives `macs_per_pe_per_cycle`; use `gmac_per_s`",
                        );
                    }
                    (true, None, Some(r)) => positive(&key("macs_per_pe_per_cycle"), r)?,
                    (false, Some(g), None) => positive(&key("gmac_per_s"), g)?,
                    _ => {}
                }
                match entry.energy_pj_per_mac {
                    None => {
                        return fail(
                            format!("precisions.{}", p.name()),
                            "a native precision needs `energy_pj_per_mac`",
                        );
                    }
                    Some(e) => non_negative(&key("energy_pj_per_mac"), e)?,
                }
                if fallback_fields {
                    return fail(
                        format!("precisions.{}", p.name()),
                        "only a fallback has `work_factor` or `weights`",
                    );
                }
            } else if let Some(to) = entry.fallback_to {
                if entry.energy_pj_per_mac.is_some() {
                    return fail(
                        key("energy_pj_per_mac"),
                        "a fallback uses the energy of the precision it falls back to",
                    );
                }
                let target_native = self.precisions.get(to).is_some_and(RawPrecision::is_native);
                if !target_native {
                    return fail(
                        key("fallback_to"),
                        format!("falls back to `{to}`, which the device does not run natively"),
                    );
                }
                if let Some(w) = entry.work_factor {
                    positive(&key("work_factor"), w)?;
                }
            } else if entry.reject.as_deref().is_some_and(|r| r.trim().is_empty()) {
                return fail(key("reject"), "give the reason the device refuses this precision");
            } else if fallback_fields || entry.energy_pj_per_mac.is_some() {
                return fail(key("reject"), "a rejected precision has no other fields");
            }
        }
        if !any_native {
            return fail("precisions", "the device must run at least one precision natively");
        }
        Ok(())
    }

    fn validate_sparsity(&self) -> Check {
        let u = &self.sparsity.unstructured;
        match u.support {
            UnstructuredKind::Compute => {
                match u.min_ratio {
                    None => {
                        return fail(
                            "sparsity.unstructured.support",
                            "`compute` needs `min_ratio`",
                        );
                    }
                    Some(r) if !(0.0..1.0).contains(&r) => {
                        return fail(
                            "sparsity.unstructured.min_ratio",
                            format!("must be in [0, 1), got {r}"),
                        );
                    }
                    Some(_) => {}
                }
                match u.efficiency {
                    None => {
                        return fail(
                            "sparsity.unstructured.support",
                            "`compute` needs `efficiency`",
                        );
                    }
                    Some(e) => fraction("sparsity.unstructured.efficiency", e)?,
                }
            }
            UnstructuredKind::None | UnstructuredKind::StorageOnly => {
                if u.min_ratio.is_some() || u.efficiency.is_some() {
                    return fail(
                        "sparsity.unstructured",
                        "`min_ratio` and `efficiency` apply only to `support: compute`",
                    );
                }
            }
        }
        for (idx, nm) in self.sparsity.nm.iter().enumerate() {
            let key = |field: &str| format!("sparsity.nm.{idx}.{field}");
            if NmPattern::new(nm.n, nm.m).is_none() {
                return fail(
                    key("n"),
                    format!("{}:{} is not a pattern with 0 < n < m <= 64", nm.n, nm.m),
                );
            }
            if !(nm.speedup.is_finite() && nm.speedup >= 1.0) {
                return fail(
                    key("speedup"),
                    format!("must be a finite number >= 1, got {}", nm.speedup),
                );
            }
            if nm.precisions.is_empty() {
                return fail(key("precisions"), "list the precisions the speed-up applies to");
            }
            for p in &nm.precisions {
                if !self.precisions.get(*p).is_some_and(RawPrecision::is_native) {
                    return fail(
                        key("precisions"),
                        format!("`{p}` is not a native precision of the device"),
                    );
                }
            }
        }
        Ok(())
    }
}

/// The shipped profile a bare name such as `tpu-like` stands for, or `path` itself.
fn resolve_name(path: &Path) -> PathBuf {
    let bare = path.components().count() == 1 && path.extension().is_none();
    if path.exists() || !bare {
        return path.to_path_buf();
    }
    let file = format!("{}.yaml", path.display());
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hardware-profiles");
    [Path::new("hardware-profiles").join(&file), shipped.join(&file)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| path.to_path_buf())
}
