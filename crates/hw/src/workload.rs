//! What a layer asks of the hardware ([`LayerWorkload`]) and how it is compressed
//! ([`LayerCompression`]).
//!
//! These types decouple the cost models from the model crate: the model side's profiler fills a
//! [`LayerWorkload`] per layer (after channel pruning, with the shrunk dimensions), and the search
//! pairs it with one [`LayerCompression`] per option.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The kind of a layer, which selects its utilisation on a device and its lookup-table rows.
///
/// The YAML and CSV spelling is the snake-case name (`depthwise_conv2d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    /// A fully connected layer `y = x·Wᵀ (+ b)`.
    Linear,
    /// A dense or grouped (but not depthwise) 2-D convolution.
    Conv2d,
    /// A depthwise 2-D convolution (`groups == in_channels`).
    DepthwiseConv2d,
    /// One of the two activation-by-activation matrix multiplies of attention (`Q·Kᵀ` or
    /// `softmax(·)·V`); the model side emits one workload for each, because they fold differently
    /// onto an array.
    Attention,
    /// An element-wise arithmetic layer (residual add, scaling, …).
    Elementwise,
    /// A pointwise non-linearity (ReLU, GELU, SiLU, …).
    Activation,
    /// A softmax.
    Softmax,
    /// A pooling layer (max, average, global average).
    Pool,
    /// A normalisation layer (batch norm at inference, layer norm, RMS norm).
    Norm,
    /// An embedding-table lookup (a gather).
    Embedding,
    /// Anything else; costed from its operation count and bytes only.
    Other,
}

impl WorkloadKind {
    /// Every kind, in declaration order.
    pub const ALL: [WorkloadKind; 11] = [
        WorkloadKind::Linear,
        WorkloadKind::Conv2d,
        WorkloadKind::DepthwiseConv2d,
        WorkloadKind::Attention,
        WorkloadKind::Elementwise,
        WorkloadKind::Activation,
        WorkloadKind::Softmax,
        WorkloadKind::Pool,
        WorkloadKind::Norm,
        WorkloadKind::Embedding,
        WorkloadKind::Other,
    ];

    /// The snake-case name used in YAML and CSV files.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Linear => "linear",
            WorkloadKind::Conv2d => "conv2d",
            WorkloadKind::DepthwiseConv2d => "depthwise_conv2d",
            WorkloadKind::Attention => "attention",
            WorkloadKind::Elementwise => "elementwise",
            WorkloadKind::Activation => "activation",
            WorkloadKind::Softmax => "softmax",
            WorkloadKind::Pool => "pool",
            WorkloadKind::Norm => "norm",
            WorkloadKind::Embedding => "embedding",
            WorkloadKind::Other => "other",
        }
    }

    /// Parses the snake-case name.
    pub fn from_name(name: &str) -> Option<WorkloadKind> {
        WorkloadKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a layer maps onto a (possibly grouped) matrix multiply `C[M×N] = A[M×K] · B[K×N]`,
/// repeated `groups` times.
///
/// * Linear: `M = batch·tokens`, `K = in_features`, `N = out_features`, `groups = 1`.
/// * Conv2d (im2col): `M = batch·out_h·out_w`, `K = in_channels/groups·kernel_h·kernel_w`,
///   `N = out_channels/groups`, `groups` = the convolution's groups.
/// * Depthwise conv: as Conv2d with `groups = channels`, so `K = kernel_h·kernel_w`, `N = 1`
///   (times the channel multiplier).
/// * Attention: `Q·Kᵀ` has `M = tokens`, `K = head_dim`, `N = tokens`; `P·V` has `M = tokens`,
///   `K = tokens`, `N = head_dim`; `groups = batch·heads`.
///
/// On a weight-stationary array the `B` operand (`K×N`) is the one held in the array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gemm {
    /// Rows of the output (streamed operand rows).
    pub m: u64,
    /// Columns of the output.
    pub n: u64,
    /// The reduction dimension.
    pub k: u64,
    /// How many independent GEMMs of this shape the layer performs.
    pub groups: u64,
}

impl Gemm {
    /// One ungrouped GEMM.
    pub fn new(m: u64, n: u64, k: u64) -> Gemm {
        Gemm { m, n, k, groups: 1 }
    }

    /// The multiply-accumulates: `groups·M·N·K`.
    pub fn macs(&self) -> u64 {
        self.groups.saturating_mul(self.m).saturating_mul(self.n).saturating_mul(self.k)
    }
}

/// The work one layer does in one inference, before any precision or sparsity is applied.
///
/// Counts are for the whole inference (the batch included). Channel or neuron pruning is passed
/// as a workload with smaller dimensions; a low-rank factorisation as two `Linear` workloads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerWorkload {
    /// The layer's name in the model graph; used in reports and error messages.
    pub name: String,
    /// The layer's kind.
    pub kind: WorkloadKind,
    /// Multiply-accumulates (one MAC = one multiply and one add). For layers without a matrix
    /// multiply this is the number of elementary arithmetic operations (one per output element for
    /// an activation, `window` per output for a pool, …); they run at the same throughput table.
    pub macs: u64,
    /// Elements of the layer's parameters (weights; biases may be included). Zero for layers
    /// without parameters, such as attention's matmuls or activations.
    pub weight_elems: u64,
    /// Elements of the layer's input activations read once (for attention, both operands).
    pub in_act_elems: u64,
    /// Elements of the layer's output activations written once.
    pub out_act_elems: u64,
    /// How the layer maps to a matrix multiply, when it does. When present, `macs` must equal
    /// [`Gemm::macs`].
    pub gemm: Option<Gemm>,
}

impl LayerWorkload {
    /// Checks the workload's internal consistency: a GEMM whose `groups·M·N·K` equals `macs` and has
    /// no zero dimension.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(gemm) = &self.gemm {
            if gemm.m == 0 || gemm.n == 0 || gemm.k == 0 || gemm.groups == 0 {
                return Err(Error::InvalidWorkload {
                    layer: self.name.clone(),
                    reason: format!(
                        "GEMM dimensions must be positive (m={}, n={}, k={}, groups={})",
                        gemm.m, gemm.n, gemm.k, gemm.groups
                    ),
                });
            }
            if gemm.macs() != self.macs {
                return Err(Error::InvalidWorkload {
                    layer: self.name.clone(),
                    reason: format!(
                        "macs = {} but the GEMM performs groups·m·n·k = {}·{}·{}·{} = {}",
                        self.macs,
                        gemm.groups,
                        gemm.m,
                        gemm.n,
                        gemm.k,
                        gemm.macs()
                    ),
                });
            }
        }
        Ok(())
    }

    /// A `Linear` layer `[tokens × in] · [in × out]` with its GEMM, weights `in·out`, input
    /// `tokens·in` and output `tokens·out` elements.
    pub fn linear(name: &str, tokens: u64, in_features: u64, out_features: u64) -> LayerWorkload {
        LayerWorkload {
            name: name.to_string(),
            kind: WorkloadKind::Linear,
            macs: tokens.saturating_mul(in_features).saturating_mul(out_features),
            weight_elems: in_features.saturating_mul(out_features),
            in_act_elems: tokens.saturating_mul(in_features),
            out_act_elems: tokens.saturating_mul(out_features),
            gemm: Some(Gemm::new(tokens, out_features, in_features)),
        }
    }
}

/// The numeric format of a layer's weights, and so the kernel that runs it.
///
/// The YAML and CSV spelling is the lowercase name (`fp32`, `int4`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// IEEE single precision.
    Fp32,
    /// IEEE half precision.
    Fp16,
    /// bfloat16.
    Bf16,
    /// 8-bit integers.
    Int8,
    /// 6-bit integers.
    Int6,
    /// 4-bit integers.
    Int4,
    /// 3-bit integers.
    Int3,
    /// 2-bit integers.
    Int2,
}

impl Precision {
    /// Every precision, widest first.
    pub const ALL: [Precision; 8] = [
        Precision::Fp32,
        Precision::Fp16,
        Precision::Bf16,
        Precision::Int8,
        Precision::Int6,
        Precision::Int4,
        Precision::Int3,
        Precision::Int2,
    ];

    /// Bits per stored value.
    pub fn bits(self) -> u32 {
        match self {
            Precision::Fp32 => 32,
            Precision::Fp16 | Precision::Bf16 => 16,
            Precision::Int8 => 8,
            Precision::Int6 => 6,
            Precision::Int4 => 4,
            Precision::Int3 => 3,
            Precision::Int2 => 2,
        }
    }

    /// Whether this is an integer (quantized) format, which carries scales.
    pub fn is_integer(self) -> bool {
        !matches!(self, Precision::Fp32 | Precision::Fp16 | Precision::Bf16)
    }

    /// The lowercase name used in YAML and CSV files.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
            Precision::Int6 => "int6",
            Precision::Int4 => "int4",
            Precision::Int3 => "int3",
            Precision::Int2 => "int2",
        }
    }

    /// Parses the lowercase name.
    pub fn from_name(name: &str) -> Option<Precision> {
        Precision::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The format activations are stored and moved in: 32, 16 or 8 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivationPrecision {
    /// 32-bit float activations.
    Fp32,
    /// 16-bit half-precision activations.
    Fp16,
    /// 16-bit bfloat16 activations.
    Bf16,
    /// 8-bit integer activations.
    Int8,
}

impl ActivationPrecision {
    /// Bits per activation element.
    pub fn bits(self) -> u32 {
        match self {
            ActivationPrecision::Fp32 => 32,
            ActivationPrecision::Fp16 | ActivationPrecision::Bf16 => 16,
            ActivationPrecision::Int8 => 8,
        }
    }

    /// The same format as a [`Precision`] (the kernel a weight-less layer asks for).
    pub fn as_precision(self) -> Precision {
        match self {
            ActivationPrecision::Fp32 => Precision::Fp32,
            ActivationPrecision::Fp16 => Precision::Fp16,
            ActivationPrecision::Bf16 => Precision::Bf16,
            ActivationPrecision::Int8 => Precision::Int8,
        }
    }
}

/// How many weights share one quantization scale. Scales are stored as 16-bit floats and the
/// quantization is symmetric (no zero points); floating-point weights carry no scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantGranularity {
    /// One scale for the whole tensor.
    PerTensor,
    /// One scale per output channel: `gemm.n·gemm.groups` scales (one scale when the layer has no
    /// GEMM).
    PerChannel,
    /// One scale per group of this many consecutive weights: `ceil(weight_elems / size)` scales.
    /// candle's Q8_0 and Q4_0 use groups of 32 (8.5 and 4.5 bits per weight).
    PerGroup(GroupSize),
}

/// A quantization group size of at least one weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct GroupSize(u32);

impl GroupSize {
    /// A group size; `None` for zero.
    pub fn new(size: u32) -> Option<GroupSize> {
        (size > 0).then_some(GroupSize(size))
    }

    /// The number of weights in a group.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for GroupSize {
    type Error = String;
    fn try_from(size: u32) -> Result<GroupSize, String> {
        GroupSize::new(size).ok_or_else(|| "a quantization group holds at least one weight".into())
    }
}

impl From<GroupSize> for u32 {
    fn from(size: GroupSize) -> u32 {
        size.0
    }
}

/// A fraction of weights that are zero, in `[0, 1)`.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct SparsityRatio(f64);

impl SparsityRatio {
    /// A ratio in `[0, 1)`; `None` otherwise (including NaN).
    pub fn new(ratio: f64) -> Option<SparsityRatio> {
        (0.0..1.0).contains(&ratio).then_some(SparsityRatio(ratio))
    }

    /// The fraction of zero weights.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for SparsityRatio {
    type Error = String;
    fn try_from(ratio: f64) -> Result<SparsityRatio, String> {
        SparsityRatio::new(ratio).ok_or_else(|| format!("sparsity ratio {ratio} is not in [0, 1)"))
    }
}

impl From<SparsityRatio> for f64 {
    fn from(ratio: SparsityRatio) -> f64 {
        ratio.0
    }
}

/// An N:M pattern: at most `n` non-zero weights in every `m` consecutive ones, `0 < n < m ≤ 64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "NmRaw", into = "NmRaw")]
pub struct NmPattern {
    n: u32,
    m: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NmRaw {
    n: u32,
    m: u32,
}

impl NmPattern {
    /// A pattern with `0 < n < m ≤ 64`; `None` otherwise.
    pub fn new(n: u32, m: u32) -> Option<NmPattern> {
        (n > 0 && n < m && m <= 64).then_some(NmPattern { n, m })
    }

    /// Non-zeros per block.
    pub fn n(self) -> u32 {
        self.n
    }

    /// Block length.
    pub fn m(self) -> u32 {
        self.m
    }

    /// The fraction of weights that are zero, `1 − n/m`.
    pub fn zero_ratio(self) -> f64 {
        1.0 - f64::from(self.n) / f64::from(self.m)
    }
}

impl TryFrom<NmRaw> for NmPattern {
    type Error = String;
    fn try_from(raw: NmRaw) -> Result<NmPattern, String> {
        NmPattern::new(raw.n, raw.m).ok_or_else(|| {
            format!("{}:{} is not an N:M pattern with 0 < n < m <= 64", raw.n, raw.m)
        })
    }
}

impl From<NmPattern> for NmRaw {
    fn from(p: NmPattern) -> NmRaw {
        NmRaw { n: p.n, m: p.m }
    }
}

impl fmt::Display for NmPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.n, self.m)
    }
}

/// The weight sparsity of a layer. Channel and neuron pruning are not sparsity here: they shrink
/// the workload's dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sparsity {
    /// All weights are kept.
    #[default]
    Dense,
    /// This fraction of weights, anywhere, is zero.
    Unstructured(SparsityRatio),
    /// An N:M pattern.
    Nm(NmPattern),
}

impl Sparsity {
    /// Parses the CSV spelling: `dense`, `N:M` (`2:4`) or `unstructured:R` (`unstructured:0.5`).
    pub fn parse(text: &str) -> Option<Sparsity> {
        let text = text.trim();
        if text == "dense" {
            return Some(Sparsity::Dense);
        }
        if let Some(ratio) = text.strip_prefix("unstructured:") {
            return ratio
                .parse::<f64>()
                .ok()
                .and_then(SparsityRatio::new)
                .map(Sparsity::Unstructured);
        }
        let (n, m) = text.split_once(':')?;
        NmPattern::new(n.parse().ok()?, m.parse().ok()?).map(Sparsity::Nm)
    }

    /// Whether two descriptors are the same (ratios compared to 1e-9).
    pub fn same_as(&self, other: &Sparsity) -> bool {
        match (self, other) {
            (Sparsity::Dense, Sparsity::Dense) => true,
            (Sparsity::Unstructured(a), Sparsity::Unstructured(b)) => (a.0 - b.0).abs() < 1e-9,
            (Sparsity::Nm(a), Sparsity::Nm(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Sparsity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sparsity::Dense => f.write_str("dense"),
            Sparsity::Unstructured(r) => write!(f, "unstructured:{}", r.0),
            Sparsity::Nm(p) => write!(f, "{p}"),
        }
    }
}

/// One compression option for one layer, as the cost models see it.
///
/// The kernel a layer asks for (its *requested precision*, see
/// [`LayerCompression::requested_precision`]) is its weight precision; a layer without weights
/// asks for its activation precision. Integer-weight kernels quantize float activations on the fly
/// (as candle's and llama.cpp's quantized matmuls do), so `activations` sets only the bytes moved
/// for activations, never the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerCompression {
    /// The stored format of the weights.
    pub weights: Precision,
    /// Scale sharing for integer weights (ignored for floating-point weights).
    pub granularity: QuantGranularity,
    /// The format activations are stored and moved in.
    pub activations: ActivationPrecision,
    /// The weight sparsity.
    pub sparsity: Sparsity,
}

impl LayerCompression {
    /// Uncompressed: fp32 weights and activations, dense.
    pub const FP32: LayerCompression = LayerCompression {
        weights: Precision::Fp32,
        granularity: QuantGranularity::PerTensor,
        activations: ActivationPrecision::Fp32,
        sparsity: Sparsity::Dense,
    };

    /// Dense integer or float weights at `weights` with per-channel scales, and `activations`.
    pub fn dense(weights: Precision, activations: ActivationPrecision) -> LayerCompression {
        LayerCompression {
            weights,
            granularity: QuantGranularity::PerChannel,
            activations,
            sparsity: Sparsity::Dense,
        }
    }

    /// The same option with another sparsity.
    pub fn with_sparsity(self, sparsity: Sparsity) -> LayerCompression {
        LayerCompression { sparsity, ..self }
    }

    /// The kernel precision this option asks of a device for `workload`: the weight precision, or
    /// the activation precision when the layer has no weights.
    pub fn requested_precision(&self, workload: &LayerWorkload) -> Precision {
        if workload.weight_elems == 0 { self.activations.as_precision() } else { self.weights }
    }
}

impl fmt::Display for LayerCompression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let act = match self.activations {
            ActivationPrecision::Fp32 => "fp32",
            ActivationPrecision::Fp16 => "fp16",
            ActivationPrecision::Bf16 => "bf16",
            ActivationPrecision::Int8 => "int8",
        };
        write!(f, "weights {} / activations {act} / {}", self.weights, self.sparsity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparsity_spellings_round_trip() {
        for text in ["dense", "2:4", "unstructured:0.75", "1:8"] {
            let parsed = Sparsity::parse(text).unwrap();
            assert_eq!(parsed.to_string(), text);
        }
        for bad in ["", "4:4", "0:4", "unstructured:1.0", "unstructured:-0.1", "2:x", "sparse"] {
            assert!(Sparsity::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn gemm_must_match_macs() {
        let mut layer = LayerWorkload::linear("fc", 2, 3, 5);
        assert_eq!(layer.macs, 30);
        assert!(layer.validate().is_ok());
        layer.macs = 31;
        let err = layer.validate().unwrap_err().to_string();
        assert!(err.contains("fc") && err.contains("31") && err.contains("30"), "{err}");
    }

    #[test]
    fn requested_precision_follows_weights_then_activations() {
        let option = LayerCompression::dense(Precision::Int4, ActivationPrecision::Fp16);
        let fc = LayerWorkload::linear("fc", 1, 4, 4);
        assert_eq!(option.requested_precision(&fc), Precision::Int4);
        let relu =
            LayerWorkload { weight_elems: 0, gemm: None, kind: WorkloadKind::Activation, ..fc };
        assert_eq!(option.requested_precision(&relu), Precision::Fp16);
    }
}
