//! The analytic (roofline) cost model.
//!
//! For one layer under one compression option on one device:
//!
//! 1. **Kernel.** The layer asks for its *requested precision* (the weight precision, or the
//!    activation precision for a layer without weights). The profile runs it natively, through a
//!    fallback kernel (`work_factor` times the work of the target precision), or rejects it with
//!    [`Error::Unsupported`].
//! 2. **Bytes.** Weights are counted at their stored size: values at the stored width (the
//!    requested width, or the target's for an `expanded` fallback), plus 16-bit scales for integer
//!    formats (one per tensor, output channel or group), plus sparse indices where the device
//!    stores weights sparsely (an N:M pattern the device supports: `ceil(log2 M)` bits per kept
//!    value; unstructured on a `storage_only` or `compute` device: a one-bit-per-weight bitmap,
//!    used only when smaller than dense). An `Embedding` reads only the rows it gathers:
//!    `weight_bytes · min(1, out_act_elems / weight_elems)`. Activations move
//!    `(in_act_elems + out_act_elems) · act_bits / 8` bytes.
//! 3. **Placement.** Activations are read from and written to SRAM when `in + out` bytes fit in
//!    the SRAM capacity, else DRAM. Weights come from DRAM, unless [`CostContext::weights_on_chip`]
//!    (set by the model-level cost when the device caches weights and all of them fit).
//! 4. **Memory time** `= Σ_level bytes_level / bandwidth_level` (levels are not overlapped).
//! 5. **Compute time.** On a systolic device, a layer with a GEMM takes
//!    [`SystolicArray::compute_cycles`] `/ (clock · macs_per_pe_per_cycle · utilisation(kind))`
//!    seconds, and a layer without one `macs / (rows · cols · clock · rate · utilisation)`;
//!    elsewhere `macs / (peak · utilisation(kind))`. Both are multiplied by the fallback's
//!    `work_factor` and by the sparsity compute factor (`1 / speedup` for a supported N:M pattern
//!    in a listed precision; `min(1, (1 − ratio) / efficiency)` for unstructured sparsity of at
//!    least `min_ratio` on a `compute` device; else 1).
//! 6. **Latency** `= max(compute, memory) + per_layer_overhead`; the larger term is the
//!    [`Bound`].
//! 7. **Energy** `= macs · work_factor · sparsity_factor · energy_per_mac(precision used)
//!    + Σ_level bytes_level · energy_per_byte(level) + static_power · latency`.
//!
//! A whole model ([`ModelCost`]) adds the per-inference overhead (and its static energy), sums
//! weight bytes, and takes the peak activation bytes as the largest `in + out` of any one layer
//! (a chain without skip connections); it fits in memory when weights plus peak activations fit in
//! DRAM.

use crate::error::Error;
use crate::profile::{FallbackWeights, PrecisionSupport, Profile, Throughput, UnstructuredSupport};
use crate::systolic::SystolicArray;
use crate::workload::{
    LayerCompression, LayerWorkload, Precision, QuantGranularity, Sparsity, WorkloadKind,
};

/// Bits of one quantization scale (a 16-bit float).
pub const SCALE_BITS: u64 = 16;

/// A memory level data is moved from or to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryLevel {
    /// On-chip SRAM (or the last-level cache of a CPU).
    Sram,
    /// Off-chip DRAM.
    Dram,
}

/// Which term of the roofline sets a layer's latency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bound {
    /// Compute time is at least memory time (and positive).
    Compute,
    /// Memory time exceeds compute time.
    Memory,
    /// Neither compute nor memory takes any time; only the fixed overhead counts.
    Overhead,
}

/// Where a layer's cost came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CostSource {
    /// The analytic model.
    Analytic,
    /// An exact row of a measured lookup table.
    Measured,
    /// Interpolated between rows of a measured lookup table.
    Interpolated,
    /// The analytic latency times a per-kind factor fitted to a lookup table.
    Scaled {
        /// The factor applied.
        factor: f64,
    },
}

/// Model-level facts a single layer's cost depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CostContext {
    /// All of the model's weights stay in SRAM between inferences, so weights are read from SRAM.
    pub weights_on_chip: bool,
}

/// Energy of one layer, split by cause, in joules.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Energy {
    /// Multiply-accumulates.
    pub compute_j: f64,
    /// Bytes moved.
    pub memory_j: f64,
    /// Static power over the layer's latency.
    pub static_j: f64,
}

impl Energy {
    /// The total.
    pub fn total_j(&self) -> f64 {
        self.compute_j + self.memory_j + self.static_j
    }
}

/// The cost of one layer under one compression option on one device.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerCost {
    /// The layer's name.
    pub layer: String,
    /// The layer's kind.
    pub kind: WorkloadKind,
    /// The precision the option asked for.
    pub requested_precision: Precision,
    /// The precision of the kernel that actually ran (differs after a fallback).
    pub precision: Precision,
    /// The fallback's work factor (1 for a native kernel).
    pub work_factor: f64,
    /// Compute time in seconds.
    pub compute_s: f64,
    /// Memory time in seconds.
    pub memory_s: f64,
    /// Fixed per-layer overhead in seconds.
    pub overhead_s: f64,
    /// `max(compute, memory) + overhead` (or the measured latency), in seconds.
    pub latency_s: f64,
    /// Which term dominates.
    pub bound: Bound,
    /// Energy by cause.
    pub energy: Energy,
    /// Total energy in joules (equals `energy.total_j()` unless a measured energy replaced it).
    pub energy_j: f64,
    /// Stored size of the weights in bytes, scales and sparse indices included.
    pub weight_bytes: u64,
    /// Weight bytes read per inference.
    pub weight_bytes_moved: u64,
    /// Activation bytes read and written per inference.
    pub activation_bytes: u64,
    /// Where the weights are read from.
    pub weight_level: MemoryLevel,
    /// Where activations are read from and written to.
    pub activation_level: MemoryLevel,
    /// Array cycles, for a GEMM on a systolic device.
    pub array_cycles: Option<u64>,
    /// Where the numbers came from.
    pub source: CostSource,
}

/// The cost of a whole model (a sequence of layers, each with its option).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelCost {
    /// Per-layer costs, in input order.
    pub layers: Vec<LayerCost>,
    /// Sum of layer latencies plus the per-inference overhead, in seconds.
    pub latency_s: f64,
    /// Sum of layer energies plus static power over the per-inference overhead, in joules.
    pub energy_j: f64,
    /// Sum of stored weight bytes.
    pub weight_bytes: u64,
    /// The largest `in + out` activation bytes of any layer.
    pub peak_activation_bytes: u64,
    /// Weights plus peak activations fit in DRAM.
    pub fits_in_memory: bool,
    /// The device kept all weights on chip (it caches weights and they fit in SRAM together with
    /// the peak activations).
    pub weights_on_chip: bool,
}

/// The kernel that will run a layer, after the profile's precision policy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kernel {
    pub(crate) requested: Precision,
    pub(crate) used: Precision,
    pub(crate) stored: Precision,
    pub(crate) work_factor: f64,
    pub(crate) throughput: Throughput,
    pub(crate) energy_per_mac_j: f64,
}

/// Resolves the kernel for `workload` under `compression`, or says why the device refuses it.
pub(crate) fn resolve_kernel(
    profile: &Profile,
    workload: &LayerWorkload,
    compression: &LayerCompression,
) -> Result<Kernel, Error> {
    let requested = compression.requested_precision(workload);
    let unsupported = |reason: String| Error::Unsupported {
        device: profile.name().to_string(),
        layer: workload.name.clone(),
        option: compression.to_string(),
        reason,
    };
    match profile.precision(requested) {
        PrecisionSupport::Native { throughput, energy_per_mac_j } => Ok(Kernel {
            requested,
            used: requested,
            stored: requested,
            work_factor: 1.0,
            throughput,
            energy_per_mac_j,
        }),
        PrecisionSupport::Fallback { to, work_factor, weights } => match profile.precision(to) {
            PrecisionSupport::Native { throughput, energy_per_mac_j } => Ok(Kernel {
                requested,
                used: to,
                stored: match weights {
                    FallbackWeights::Stored => requested,
                    FallbackWeights::Expanded => to,
                },
                work_factor,
                throughput,
                energy_per_mac_j,
            }),
            _ => Err(unsupported(format!("fallback target `{to}` is not native"))),
        },
        PrecisionSupport::Rejected { reason } => {
            Err(unsupported(format!("precision `{requested}` is rejected: {reason}")))
        }
    }
}

/// How sparsity changes storage and compute.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Storage {
    Dense,
    /// `n` of every `m` values kept, `ceil(log2 m)` index bits per kept value.
    Nm {
        n: u32,
        m: u32,
    },
    /// A ratio of zeros, stored as values plus a bitmap when smaller than dense.
    Bitmap {
        ratio: f64,
    },
}

fn sparsity_effect(profile: &Profile, sparsity: Sparsity, used: Precision) -> (Storage, f64) {
    let unstructured = |ratio: f64| match profile.unstructured_sparsity() {
        UnstructuredSupport::None => (Storage::Dense, 1.0),
        UnstructuredSupport::StorageOnly => (Storage::Bitmap { ratio }, 1.0),
        UnstructuredSupport::Compute { min_ratio, efficiency } => {
            let factor =
                if ratio >= min_ratio { ((1.0 - ratio) / efficiency).min(1.0) } else { 1.0 };
            (Storage::Bitmap { ratio }, factor)
        }
    };
    match sparsity {
        Sparsity::Dense => (Storage::Dense, 1.0),
        Sparsity::Unstructured(ratio) => unstructured(ratio.get()),
        Sparsity::Nm(pattern) => {
            match profile.nm_patterns().into_iter().find(|s| s.pattern == pattern) {
                Some(support) => {
                    let factor = if support.precisions.contains(&used) {
                        1.0 / support.speedup
                    } else {
                        1.0
                    };
                    (Storage::Nm { n: pattern.n(), m: pattern.m() }, factor)
                }
                // An unsupported pattern is just unstructured sparsity of the same ratio.
                None => unstructured(pattern.zero_ratio()),
            }
        }
    }
}

/// Stored bits of the weights: values, sparse indices and scales.
fn weight_bits(
    workload: &LayerWorkload,
    compression: &LayerCompression,
    stored: Precision,
    storage: Storage,
) -> u64 {
    let elems = workload.weight_elems;
    if elems == 0 {
        return 0;
    }
    let bits = u64::from(stored.bits());
    let dense = elems.saturating_mul(bits);
    let values = match storage {
        Storage::Dense => dense,
        Storage::Nm { n, m } => {
            let kept = elems.saturating_mul(u64::from(n)).div_ceil(u64::from(m));
            let index_bits = u64::from(u32::BITS - (m - 1).leading_zeros());
            kept.saturating_mul(bits + index_bits)
        }
        Storage::Bitmap { ratio } => {
            let kept = (elems as f64 * (1.0 - ratio)).ceil() as u64;
            kept.saturating_mul(bits).saturating_add(elems).min(dense)
        }
    };
    let scales = if stored.is_integer() {
        let count = match compression.granularity {
            QuantGranularity::PerTensor => 1,
            QuantGranularity::PerChannel => {
                workload.gemm.map_or(1, |g| g.n.saturating_mul(g.groups))
            }
            QuantGranularity::PerGroup(size) => elems.div_ceil(u64::from(size.get())),
        };
        count.saturating_mul(SCALE_BITS)
    } else {
        0
    };
    values.saturating_add(scales)
}

/// The analytic cost of one layer; see the module documentation for every formula.
pub fn analytic_layer_cost(
    profile: &Profile,
    workload: &LayerWorkload,
    compression: &LayerCompression,
    context: CostContext,
) -> Result<LayerCost, Error> {
    workload.validate()?;
    let kernel = resolve_kernel(profile, workload, compression)?;
    let sparsity = if workload.weight_elems == 0 { Sparsity::Dense } else { compression.sparsity };
    let (storage, sparse_factor) = sparsity_effect(profile, sparsity, kernel.used);

    let weight_bytes = weight_bits(workload, compression, kernel.stored, storage).div_ceil(8);
    let weight_bytes_moved =
        if workload.kind == WorkloadKind::Embedding && workload.weight_elems > 0 {
            let share = (workload.out_act_elems as f64 / workload.weight_elems as f64).min(1.0);
            (weight_bytes as f64 * share).ceil() as u64
        } else {
            weight_bytes
        };
    let act_bits = u64::from(compression.activations.bits());
    let activation_bytes = workload
        .in_act_elems
        .saturating_add(workload.out_act_elems)
        .saturating_mul(act_bits)
        .div_ceil(8);

    let sram = profile.sram();
    let dram = profile.dram();
    let activation_level = if activation_bytes as f64 <= sram.capacity_bytes {
        MemoryLevel::Sram
    } else {
        MemoryLevel::Dram
    };
    let weight_level = if context.weights_on_chip { MemoryLevel::Sram } else { MemoryLevel::Dram };
    let level = |l: MemoryLevel| if l == MemoryLevel::Sram { sram } else { dram };
    let memory_s = weight_bytes_moved as f64 / level(weight_level).bandwidth_bytes_per_s
        + activation_bytes as f64 / level(activation_level).bandwidth_bytes_per_s;
    let memory_j = weight_bytes_moved as f64 * level(weight_level).energy_per_byte_j
        + activation_bytes as f64 * level(activation_level).energy_per_byte_j;

    let utilisation = profile.utilisation(workload.kind);
    let work = kernel.work_factor * sparse_factor;
    let (base_compute_s, array_cycles) = match (profile.systolic(), kernel.throughput) {
        (Some(array), Throughput::PerPeCycle(rate)) => systolic_time(&array, rate, workload),
        (_, Throughput::MacsPerSecond(peak)) => (workload.macs as f64 / peak, None),
        // Validation guarantees systolic devices give per-PE rates and others peak rates.
        (None, Throughput::PerPeCycle(_)) => (f64::INFINITY, None),
    };
    let compute_s = base_compute_s / utilisation * work;
    let compute_j = workload.macs as f64 * work * kernel.energy_per_mac_j;

    let overhead_s = profile.per_layer_overhead_s();
    let latency_s = compute_s.max(memory_s) + overhead_s;
    let bound = if compute_s == 0.0 && memory_s == 0.0 {
        Bound::Overhead
    } else if compute_s >= memory_s {
        Bound::Compute
    } else {
        Bound::Memory
    };
    let energy = Energy { compute_j, memory_j, static_j: profile.static_power_w() * latency_s };
    Ok(LayerCost {
        layer: workload.name.clone(),
        kind: workload.kind,
        requested_precision: kernel.requested,
        precision: kernel.used,
        work_factor: kernel.work_factor,
        compute_s,
        memory_s,
        overhead_s,
        latency_s,
        bound,
        energy_j: energy.total_j(),
        energy,
        weight_bytes,
        weight_bytes_moved,
        activation_bytes,
        weight_level,
        activation_level,
        array_cycles,
        source: CostSource::Analytic,
    })
}

/// Seconds on the array before utilisation, work factor and sparsity, and the array cycles.
fn systolic_time(array: &SystolicArray, rate: f64, workload: &LayerWorkload) -> (f64, Option<u64>) {
    match &workload.gemm {
        Some(gemm) => {
            let cycles = array.compute_cycles(gemm);
            (cycles as f64 / (array.clock_hz * rate), Some(cycles))
        }
        None => {
            let pes = f64::from(array.rows) * f64::from(array.cols);
            (workload.macs as f64 / (pes * array.clock_hz * rate), None)
        }
    }
}

/// Sums per-layer costs into a [`ModelCost`], deciding weight residency first.
///
/// `layer_cost` is called once per layer with `weights_on_chip: false`; when the device caches
/// weights and the weights plus peak activations fit in SRAM, it is called again for every layer
/// with `weights_on_chip: true`.
pub(crate) fn model_cost_with<F>(
    profile: &Profile,
    count: usize,
    mut layer_cost: F,
) -> Result<ModelCost, Error>
where
    F: FnMut(usize, CostContext) -> Result<LayerCost, Error>,
{
    let mut layers =
        (0..count).map(|i| layer_cost(i, CostContext::default())).collect::<Result<Vec<_>, _>>()?;
    let weight_bytes: u64 = layers.iter().map(|l| l.weight_bytes).sum();
    let peak_activation_bytes = layers.iter().map(|l| l.activation_bytes).max().unwrap_or(0);
    let resident_bytes = (weight_bytes + peak_activation_bytes) as f64;
    let weights_on_chip =
        profile.caches_weights() && resident_bytes <= profile.sram().capacity_bytes;
    if weights_on_chip {
        let context = CostContext { weights_on_chip: true };
        layers = (0..count).map(|i| layer_cost(i, context)).collect::<Result<Vec<_>, _>>()?;
    }
    let per_inference_s = profile.per_inference_overhead_s();
    let latency_s = layers.iter().map(|l| l.latency_s).sum::<f64>() + per_inference_s;
    let energy_j =
        layers.iter().map(|l| l.energy_j).sum::<f64>() + profile.static_power_w() * per_inference_s;
    Ok(ModelCost {
        layers,
        latency_s,
        energy_j,
        weight_bytes,
        peak_activation_bytes,
        fits_in_memory: resident_bytes <= profile.dram().capacity_bytes,
        weights_on_chip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{ActivationPrecision, GroupSize, NmPattern, SparsityRatio};

    fn fc(elems_in: u64, elems_out: u64) -> LayerWorkload {
        LayerWorkload::linear("fc", 1, elems_in, elems_out)
    }

    fn check_bits(
        workload: &LayerWorkload,
        compression: LayerCompression,
        stored: Precision,
        storage: Storage,
        expected: u64,
    ) {
        assert_eq!(
            weight_bits(workload, &compression, stored, storage),
            expected,
            "{compression} {storage:?}"
        );
    }

    #[test]
    fn weight_bits_count_values_scales_and_indices() {
        let layer = fc(64, 16); // 1024 weights, 16 output channels
        let int4 = LayerCompression::dense(Precision::Int4, ActivationPrecision::Int8);
        // 1024·4 value bits + 16 per-channel scales of 16 bits.
        check_bits(&layer, int4, Precision::Int4, Storage::Dense, 4096 + 256);
        let per_group = LayerCompression {
            granularity: QuantGranularity::PerGroup(GroupSize::new(32).unwrap()),
            ..int4
        };
        // 32 groups of 32 → 32 scales: 4.5 bits per weight, like candle's Q4_0.
        check_bits(&layer, per_group, Precision::Int4, Storage::Dense, 4096 + 512);
        let fp16 = LayerCompression::dense(Precision::Fp16, ActivationPrecision::Fp16);
        check_bits(&layer, fp16, Precision::Fp16, Storage::Dense, 16 * 1024);
        // 2:4 keeps 512 values with 2 index bits each.
        check_bits(&layer, fp16, Precision::Fp16, Storage::Nm { n: 2, m: 4 }, 512 * 18);
        // 1:8 needs 3 index bits per kept value.
        check_bits(&layer, fp16, Precision::Fp16, Storage::Nm { n: 1, m: 8 }, 128 * 19);
        // 75 % zeros: 256 values + 1024 bitmap bits.
        check_bits(&layer, fp16, Precision::Fp16, Storage::Bitmap { ratio: 0.75 }, 256 * 16 + 1024);
        // A bitmap that does not pay off falls back to dense: 2-bit values at 10 % zeros.
        let int2 = LayerCompression {
            granularity: QuantGranularity::PerTensor,
            ..LayerCompression::dense(Precision::Int2, ActivationPrecision::Int8)
        };
        check_bits(&layer, int2, Precision::Int2, Storage::Bitmap { ratio: 0.1 }, 2048 + 16);
    }

    #[test]
    fn compression_helpers_are_consistent() {
        let option = LayerCompression::FP32
            .with_sparsity(Sparsity::Unstructured(SparsityRatio::new(0.5).unwrap()));
        assert!(option.to_string().contains("unstructured:0.5"));
        let nm = LayerCompression::FP32.with_sparsity(Sparsity::Nm(NmPattern::new(2, 4).unwrap()));
        assert!(nm.to_string().ends_with("2:4"));
    }
}
