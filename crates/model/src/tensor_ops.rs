//! General tensor operations of the IR, for graphs imported from ONNX: element-wise arithmetic
//! with broadcasting, reshapes, slicing, reductions, activation-by-activation matrix products.
//! Built-in architectures do not need them; the compressible layers stay [`Linear`](crate::Linear),
//! [`Conv2d`](crate::Conv2d) and [`Embedding`](crate::Embedding).
//!
//! Values are f32 at run time: an op converts integer or boolean inputs to f32 first, and
//! comparisons return 0.0 or 1.0, so that ids, masks and shapes computed at run time mix freely
//! with activations (ids below 2^24 are exact).
//!
//! A shape attribute may scale with the batch ([`Dim::Batch`]): a graph imported with a
//! symbolic batch size runs any batch.

use candle_core::{D, DType, Device, Tensor};
use serde::{Deserialize, Serialize};

/// An f32 attribute that may be infinite or NaN, which JSON numbers cannot hold: written as
/// the strings `inf`, `-inf` and `nan` then.
mod any_f32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
        match *v {
            v if v.is_finite() => s.serialize_f32(v),
            v if v.is_nan() => s.serialize_str("nan"),
            v if v > 0.0 => s.serialize_str("inf"),
            _ => s.serialize_str("-inf"),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Number {
            Finite(f32),
            Named(String),
        }
        match Number::deserialize(d)? {
            Number::Finite(v) => Ok(v),
            Number::Named(name) => match name.as_str() {
                "inf" => Ok(f32::INFINITY),
                "-inf" => Ok(f32::NEG_INFINITY),
                "nan" => Ok(f32::NAN),
                other => Err(serde::de::Error::custom(format!(
                    "expected a number, `inf`, `-inf` or `nan`, got `{other}`"
                ))),
            },
        }
    }
}

/// A dimension of a shape attribute: a number, or a multiple of the batch size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    /// This many.
    Fixed(usize),
    /// This many times the batch size.
    Batch(usize),
}

impl Dim {
    /// The dimension for a batch of `batch` samples.
    pub fn at(self, batch: usize) -> usize {
        match self {
            Dim::Fixed(n) => n,
            Dim::Batch(k) => k * batch,
        }
    }
}

/// One entry of a reshape target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReshapeDim {
    /// A known dimension.
    Dim(Dim),
    /// Whatever makes the element count match (ONNX's `-1`).
    Infer,
}

/// An element-wise function of one input.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fn")]
pub enum UnaryFn {
    /// `-x`.
    Neg,
    /// `√x`.
    Sqrt,
    /// `eˣ`.
    Exp,
    /// `ln x`.
    Log,
    /// `|x|`.
    Abs,
    /// `1 / x`.
    Reciprocal,
    /// `1 / (1 + e⁻ˣ)`.
    Sigmoid,
    /// The error function.
    Erf,
    /// Rounds down.
    Floor,
    /// Rounds up.
    Ceil,
    /// Rounds to the nearest integer, halves to even (ONNX `Round`).
    Round,
    /// Rounds toward zero (a cast from float to an integer type).
    Trunc,
    /// Sine.
    Sin,
    /// Cosine.
    Cos,
    /// `-1`, `0` or `1`.
    Sign,
    /// `1` where `x == 0`, else `0` (ONNX `Not` on booleans).
    Not,
    /// `1` where `x != 0`, else `0` (a cast to bool).
    NonZero,
    /// `ln(1 + eˣ)`.
    Softplus,
    /// `x · min(max(x + 3, 0), 6) / 6`.
    HardSwish,
    /// `max(x, 0)`.
    Relu,
    /// `x` where `x ≥ 0`, else `alpha · x`.
    LeakyRelu {
        /// The slope below zero.
        alpha: f32,
    },
    /// `min(max(x, min), max)`.
    Clip {
        /// Lower bound (may be −∞).
        #[serde(with = "any_f32")]
        min: f32,
        /// Upper bound (may be +∞).
        #[serde(with = "any_f32")]
        max: f32,
    },
    /// `min(max(alpha · x + beta, 0), 1)`.
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// `x` where `x > 0`, else `alpha · (eˣ − 1)`.
    Elu {
        /// Scale below zero.
        alpha: f32,
    },
    /// GELU, exact (erf) or with the tanh approximation.
    Gelu {
        /// The tanh approximation.
        tanh: bool,
    },
    /// `xᵖ` for a constant exponent (`x²` and `√x` are computed exactly).
    Pow {
        /// The exponent.
        exponent: f32,
    },
}

/// An element-wise function of two inputs, with NumPy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryFn {
    /// `a + b`.
    Add,
    /// `a − b`.
    Sub,
    /// `a · b`.
    Mul,
    /// `a / b`.
    Div,
    /// `aᵇ` as `e^(b · ln a)` (NaN for a negative base).
    Pow,
    /// `max(a, b)`.
    Max,
    /// `min(a, b)`.
    Min,
    /// `a == b` as 1 or 0.
    Equal,
    /// `a < b`.
    Less,
    /// `a ≤ b`.
    LessOrEqual,
    /// `a > b`.
    Greater,
    /// `a ≥ b`.
    GreaterOrEqual,
    /// Both non-zero.
    And,
    /// Either non-zero.
    Or,
}

/// A reduction over axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReduceFn {
    /// Mean.
    Mean,
    /// Sum.
    Sum,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
    /// Sum of squares.
    SumSquare,
    /// Square root of the sum of squares.
    L2,
}

/// How [`TensorOp::Resize`] interpolates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Nearest neighbour, source index `floor(i · in / out)` (ONNX `asymmetric` + `floor`,
    /// PyTorch's `nearest`).
    Nearest,
    /// Bilinear, `half_pixel` coordinates (PyTorch's `align_corners=False`).
    LinearHalfPixel,
    /// Bilinear, `align_corners` coordinates.
    LinearAlignCorners,
    /// Bilinear, `asymmetric` coordinates.
    LinearAsymmetric,
}

/// A general tensor operation (no weights).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum TensorOp {
    /// An element-wise function of one input.
    Unary {
        /// The function.
        #[serde(flatten)]
        f: UnaryFn,
    },
    /// An element-wise function of two inputs with broadcasting.
    Binary {
        /// The function.
        f: BinaryFn,
    },
    /// `cond ? x : y` element-wise with broadcasting (three inputs).
    Where,
    /// Matrix product of two activations with broadcast batch dimensions (ONNX `MatMul`).
    MatMul,
    /// A new shape for the same elements.
    Reshape {
        /// The target.
        shape: Vec<ReshapeDim>,
    },
    /// Permuted axes.
    Transpose {
        /// Output axis `i` is input axis `perm[i]`.
        perm: Vec<usize>,
    },
    /// Inputs joined along an axis (one or more inputs).
    Concat {
        /// The axis.
        axis: usize,
    },
    /// `start..end` by `step` along one axis (`end` exclusive; a negative step walks backwards
    /// from `start` down to, not including, `end`, with `end = -1` meaning past the first).
    Slice {
        /// The axis.
        axis: usize,
        /// First index.
        start: i64,
        /// End index (exclusive).
        end: i64,
        /// Step, not zero.
        step: i64,
    },
    /// Picks constant indices along an axis; `keep_axis: false` removes the axis (a scalar
    /// index).
    Gather {
        /// The axis.
        axis: usize,
        /// The indices (already made non-negative).
        indices: Vec<usize>,
        /// Whether the axis stays (a list of indices) or goes (one scalar index).
        keep_axis: bool,
    },
    /// Picks indices given at run time (second input) along an axis of the first input.
    GatherDyn {
        /// The axis.
        axis: usize,
    },
    /// Broadcasts to a shape (ONNX `Expand`: the result has the broadcast of both shapes).
    Expand {
        /// The target.
        shape: Vec<Dim>,
    },
    /// A reduction over axes.
    Reduce {
        /// The reduction.
        f: ReduceFn,
        /// The axes, ascending.
        axes: Vec<usize>,
        /// Whether reduced axes stay with size 1.
        keep_dims: bool,
    },
    /// Softmax (or log-softmax) over one axis.
    Softmax {
        /// The axis.
        axis: usize,
        /// Log-softmax.
        log: bool,
    },
    /// Constant padding: `pads[i]` values before and after along axis `i`.
    Pad {
        /// Before and after per axis.
        pads: Vec<(usize, usize)>,
        /// The fill value (may be ±∞, as max-pooling pads).
        #[serde(with = "any_f32")]
        value: f32,
    },
    /// Spatial resize of an NCHW tensor to a fixed height and width.
    Resize {
        /// Output height and width.
        size: (usize, usize),
        /// Interpolation.
        mode: ResizeMode,
    },
    /// A tensor of one value (no inputs), whose shape may scale with the batch.
    Fill {
        /// The shape.
        shape: Vec<Dim>,
        /// The value (may be ±∞, as attention masks fill).
        #[serde(with = "any_f32")]
        value: f32,
    },
}

/// A constant tensor (an ONNX initializer or `Constant` node read at run time).
#[derive(Clone, Debug)]
pub struct Constant {
    /// The value.
    pub value: Tensor,
    /// Whether it counts as a learned parameter (a float weight of the exported model, such as a
    /// decomposed LayerNorm's scale) rather than a fixed number of the graph (a shape, an
    /// epsilon, a mask value).
    pub trainable: bool,
}

/// Instance normalisation of an NCHW tensor: each (sample, channel) plane to zero mean and unit
/// variance, then scaled and shifted per channel.
#[derive(Clone, Debug)]
pub struct InstanceNorm {
    /// Scale, `[channels]`.
    pub weight: Tensor,
    /// Shift, `[channels]`.
    pub bias: Tensor,
    /// Added to the variance.
    pub eps: f64,
}

/// A transposed 2-D convolution (one group), weight `[in, out, kh, kw]`.
#[derive(Clone, Debug)]
pub struct ConvTranspose2d {
    /// `[in_channels, out_channels, kernel_h, kernel_w]`.
    pub weight: Tensor,
    /// `[out_channels]`.
    pub bias: Option<Tensor>,
    /// Stride.
    pub stride: usize,
    /// Padding removed from each side of the output.
    pub padding: usize,
    /// Extra rows and columns at the end of the output.
    pub output_padding: usize,
    /// Dilation.
    pub dilation: usize,
}

fn f32_of(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.dtype() == DType::F32 { Ok(x.clone()) } else { x.to_dtype(DType::F32) }
}

/// The NumPy broadcast of two shapes.
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

fn reshape_target(shape: &[ReshapeDim], numel: usize, batch: usize) -> Result<Vec<usize>, String> {
    let known: usize = shape
        .iter()
        .filter_map(|d| match d {
            ReshapeDim::Dim(d) => Some(d.at(batch)),
            ReshapeDim::Infer => None,
        })
        .product();
    let infer = shape.iter().filter(|d| **d == ReshapeDim::Infer).count();
    let fill = match infer {
        0 => 1,
        1 if known > 0 && numel.is_multiple_of(known) => numel / known,
        1 => return Err(format!("cannot reshape {numel} elements with {known} per step")),
        _ => return Err("a reshape target has more than one -1".into()),
    };
    let out: Vec<usize> = shape
        .iter()
        .map(|d| match d {
            ReshapeDim::Dim(d) => d.at(batch),
            ReshapeDim::Infer => fill,
        })
        .collect();
    if out.iter().product::<usize>() != numel {
        return Err(format!("cannot reshape {numel} elements to {out:?}"));
    }
    Ok(out)
}

/// Indices of a slice along an axis of length `n`, with ONNX's clamping rules.
pub(crate) fn slice_indices(n: usize, start: i64, end: i64, step: i64) -> Vec<usize> {
    let n = n as i64;
    let mut out = Vec::new();
    if step > 0 {
        let s = if start < 0 { start + n } else { start }.clamp(0, n);
        let e = if end < 0 { end + n } else { end }.clamp(0, n);
        let mut i = s;
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else if step < 0 {
        let s = if start < 0 { start + n } else { start }.clamp(-1, n - 1);
        let e = if end < 0 { end + n } else { end }.clamp(-1, n - 1);
        let mut i = s;
        while i > e {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

impl TensorOp {
    /// How many inputs the op reads (`None`: one or more).
    pub fn arity(&self) -> Option<usize> {
        match self {
            TensorOp::Binary { .. } | TensorOp::MatMul | TensorOp::GatherDyn { .. } => Some(2),
            TensorOp::Where => Some(3),
            TensorOp::Concat { .. } => None,
            TensorOp::Fill { .. } => Some(0),
            _ => Some(1),
        }
    }

    /// The name in tables and graph files (`mul`, `reshape`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            TensorOp::Unary { .. } => "unary",
            TensorOp::Binary { .. } => "binary",
            TensorOp::Where => "where",
            TensorOp::MatMul => "matmul",
            TensorOp::Reshape { .. } => "reshape",
            TensorOp::Transpose { .. } => "transpose",
            TensorOp::Concat { .. } => "concat",
            TensorOp::Slice { .. } => "slice",
            TensorOp::Gather { .. } => "gather",
            TensorOp::GatherDyn { .. } => "gather_dyn",
            TensorOp::Expand { .. } => "expand",
            TensorOp::Reduce { .. } => "reduce",
            TensorOp::Softmax { .. } => "softmax_axis",
            TensorOp::Pad { .. } => "pad",
            TensorOp::Resize { .. } => "resize",
            TensorOp::Fill { .. } => "fill",
        }
    }

    /// The output shape for these input shapes and batch size.
    pub fn output_shape(&self, ins: &[&[usize]], batch: usize) -> Result<Vec<usize>, String> {
        let first = ins.first().copied().unwrap_or(&[]);
        let axis_ok = |axis: usize, rank: usize| -> Result<(), String> {
            if axis < rank { Ok(()) } else { Err(format!("axis {axis} of a rank-{rank} input")) }
        };
        match self {
            TensorOp::Unary { .. } => Ok(first.to_vec()),
            TensorOp::Binary { .. } => broadcast_shapes(first, ins[1]),
            TensorOp::Where => broadcast_shapes(&broadcast_shapes(first, ins[1])?, ins[2]),
            TensorOp::MatMul => {
                let (a, b) = (first, ins[1]);
                if a.is_empty() || b.is_empty() {
                    return Err("matmul of a scalar".into());
                }
                let a2: Vec<usize> = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
                let b2: Vec<usize> = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
                let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
                let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
                if k != k2 {
                    return Err(format!("cannot multiply {a:?} by {b:?}"));
                }
                let mut out = broadcast_shapes(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
                if a.len() > 1 {
                    out.push(m);
                }
                if b.len() > 1 {
                    out.push(n);
                }
                Ok(out)
            }
            TensorOp::Reshape { shape } => reshape_target(shape, first.iter().product(), batch),
            TensorOp::Transpose { perm } => {
                if perm.len() != first.len() {
                    return Err(format!("permutation {perm:?} of a rank-{} input", first.len()));
                }
                perm.iter()
                    .map(|&p| {
                        first.get(p).copied().ok_or_else(|| format!("bad permutation {perm:?}"))
                    })
                    .collect()
            }
            TensorOp::Concat { axis } => {
                axis_ok(*axis, first.len())?;
                let mut out = first.to_vec();
                out[*axis] = 0;
                for s in ins {
                    if s.len() != first.len()
                        || s.iter().zip(first).enumerate().any(|(i, (x, y))| i != *axis && x != y)
                    {
                        return Err(format!(
                            "cannot concatenate {first:?} and {s:?} on axis {axis}"
                        ));
                    }
                    out[*axis] += s[*axis];
                }
                Ok(out)
            }
            TensorOp::Slice { axis, start, end, step } => {
                axis_ok(*axis, first.len())?;
                let mut out = first.to_vec();
                out[*axis] = slice_indices(first[*axis], *start, *end, *step).len();
                Ok(out)
            }
            TensorOp::Gather { axis, indices, keep_axis } => {
                axis_ok(*axis, first.len())?;
                if let Some(&i) = indices.iter().find(|&&i| i >= first[*axis]) {
                    return Err(format!("index {i} out of range for axis {axis} of {first:?}"));
                }
                let mut out = first.to_vec();
                if *keep_axis {
                    out[*axis] = indices.len();
                } else {
                    out.remove(*axis);
                }
                Ok(out)
            }
            TensorOp::GatherDyn { axis } => {
                axis_ok(*axis, first.len())?;
                let mut out = first[..*axis].to_vec();
                out.extend_from_slice(ins[1]);
                out.extend_from_slice(&first[*axis + 1..]);
                Ok(out)
            }
            TensorOp::Expand { shape } => {
                let target: Vec<usize> = shape.iter().map(|d| d.at(batch)).collect();
                broadcast_shapes(first, &target)
            }
            TensorOp::Reduce { axes, keep_dims, .. } => {
                let mut out = Vec::new();
                for (i, &d) in first.iter().enumerate() {
                    if axes.contains(&i) {
                        if *keep_dims {
                            out.push(1);
                        }
                    } else {
                        out.push(d);
                    }
                }
                if let Some(&a) = axes.iter().find(|&&a| a >= first.len()) {
                    return Err(format!("axis {a} of a rank-{} input", first.len()));
                }
                Ok(out)
            }
            TensorOp::Softmax { axis, .. } => {
                axis_ok(*axis, first.len())?;
                Ok(first.to_vec())
            }
            TensorOp::Pad { pads, .. } => {
                if pads.len() != first.len() {
                    return Err(format!("{} pads for a rank-{} input", pads.len(), first.len()));
                }
                Ok(first.iter().zip(pads).map(|(d, (a, b))| d + a + b).collect())
            }
            TensorOp::Resize { size, .. } => {
                if first.len() != 4 {
                    return Err(format!("resize needs an NCHW input, got {first:?}"));
                }
                Ok(vec![first[0], first[1], size.0, size.1])
            }
            TensorOp::Fill { shape, .. } => Ok(shape.iter().map(|d| d.at(batch)).collect()),
        }
    }

    /// Multiply-accumulates (only the matrix product counts).
    pub fn macs(&self, ins: &[&[usize]], output: &[usize]) -> u64 {
        match self {
            TensorOp::MatMul => {
                let k = ins[0].last().copied().unwrap_or(1) as u64;
                output.iter().map(|&d| d as u64).product::<u64>() * k
            }
            _ => 0,
        }
    }

    /// Runs the op.
    pub(crate) fn forward(&self, xs: &[&Tensor], batch: usize) -> candle_core::Result<Tensor> {
        match self {
            TensorOp::Unary { f } => unary(*f, &f32_of(xs[0])?),
            TensorOp::Binary { f } => binary(*f, &f32_of(xs[0])?, &f32_of(xs[1])?),
            TensorOp::Where => {
                let (c, x, y) = (f32_of(xs[0])?, f32_of(xs[1])?, f32_of(xs[2])?);
                let shape = broadcast_shapes(c.dims(), x.dims())
                    .and_then(|s| broadcast_shapes(&s, y.dims()))
                    .map_err(candle_core::Error::msg)?;
                let c = c.broadcast_as(shape.as_slice())?.ne(0f32)?;
                c.where_cond(&x.broadcast_as(shape.as_slice())?, &y.broadcast_as(shape.as_slice())?)
            }
            TensorOp::MatMul => {
                let (a, b) = (f32_of(xs[0])?, f32_of(xs[1])?);
                let a2 = if a.rank() == 1 { a.unsqueeze(0)? } else { a.clone() };
                let b2 = if b.rank() == 1 { b.unsqueeze(1)? } else { b.clone() };
                let mut y = a2.contiguous()?.broadcast_matmul(&b2.contiguous()?)?;
                if b.rank() == 1 {
                    y = y.squeeze(D::Minus1)?;
                }
                if a.rank() == 1 {
                    y = y.squeeze(y.rank() - if b.rank() == 1 { 1 } else { 2 })?;
                }
                Ok(y)
            }
            TensorOp::Reshape { shape } => {
                let x = xs[0];
                let target = reshape_target(shape, x.elem_count(), batch)
                    .map_err(candle_core::Error::msg)?;
                x.contiguous()?.reshape(target)
            }
            TensorOp::Transpose { perm } => xs[0].permute(perm.as_slice())?.contiguous(),
            TensorOp::Concat { axis } => {
                let parts: Vec<Tensor> = xs.iter().map(|x| f32_of(x)).collect::<Result<_, _>>()?;
                Tensor::cat(&parts, *axis)
            }
            TensorOp::Slice { axis, start, end, step } => {
                let x = xs[0];
                let n = x.dim(*axis)?;
                let idx = slice_indices(n, *start, *end, *step);
                if *step == 1 {
                    let len = idx.len();
                    let first = idx.first().copied().unwrap_or(0);
                    return x.narrow(*axis, first, len);
                }
                let idx: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
                x.contiguous()?.index_select(&Tensor::new(idx.as_slice(), x.device())?, *axis)
            }
            TensorOp::Gather { axis, indices, keep_axis } => {
                let x = xs[0];
                let idx: Vec<u32> = indices.iter().map(|&i| i as u32).collect();
                let y = x
                    .contiguous()?
                    .index_select(&Tensor::new(idx.as_slice(), x.device())?, *axis)?;
                if *keep_axis { Ok(y) } else { y.squeeze(*axis) }
            }
            TensorOp::GatherDyn { axis } => {
                let (x, ids) = (xs[0], xs[1]);
                let n = x.dim(*axis)? as i64;
                // Negative indices count from the end, as ONNX allows.
                let flat: Vec<u32> = f32_of(ids)?
                    .flatten_all()?
                    .to_vec1::<f32>()?
                    .iter()
                    .map(|&v| {
                        let i = v as i64;
                        (if i < 0 { i + n } else { i }).clamp(0, n - 1) as u32
                    })
                    .collect();
                let picked = x
                    .contiguous()?
                    .index_select(&Tensor::new(flat.as_slice(), x.device())?, *axis)?;
                let mut shape = x.dims()[..*axis].to_vec();
                shape.extend_from_slice(ids.dims());
                shape.extend_from_slice(&x.dims()[*axis + 1..]);
                picked.reshape(shape)
            }
            TensorOp::Expand { shape } => {
                let x = xs[0];
                let target: Vec<usize> = shape.iter().map(|d| d.at(batch)).collect();
                let out = broadcast_shapes(x.dims(), &target).map_err(candle_core::Error::msg)?;
                x.broadcast_as(out.as_slice())?.contiguous()
            }
            TensorOp::Reduce { f, axes, keep_dims } => {
                let x = f32_of(xs[0])?;
                let mut y = match f {
                    ReduceFn::SumSquare | ReduceFn::L2 => x.sqr()?,
                    _ => x,
                };
                for &a in axes {
                    y = match f {
                        ReduceFn::Max => y.max_keepdim(a)?,
                        ReduceFn::Min => y.min_keepdim(a)?,
                        ReduceFn::Mean => y.mean_keepdim(a)?,
                        ReduceFn::Sum | ReduceFn::SumSquare | ReduceFn::L2 => y.sum_keepdim(a)?,
                    };
                }
                if *f == ReduceFn::L2 {
                    y = y.sqrt()?;
                }
                if !keep_dims {
                    for &a in axes.iter().rev() {
                        y = y.squeeze(a)?;
                    }
                }
                Ok(y)
            }
            TensorOp::Softmax { axis, log } => {
                let x = f32_of(xs[0])?;
                if *log {
                    candle_nn::ops::log_softmax(&x, *axis)
                } else {
                    candle_nn::ops::softmax(&x, *axis)
                }
            }
            TensorOp::Pad { pads, value } => {
                let mut y = f32_of(xs[0])?;
                for (axis, &(before, after)) in pads.iter().enumerate() {
                    if before == 0 && after == 0 {
                        continue;
                    }
                    if *value == 0.0 {
                        y = y.pad_with_zeros(axis, before, after)?;
                    } else {
                        let mut parts = Vec::new();
                        let mut side = y.dims().to_vec();
                        if before > 0 {
                            side[axis] = before;
                            parts.push(Tensor::full(*value, side.as_slice(), y.device())?);
                        }
                        parts.push(y.clone());
                        if after > 0 {
                            side[axis] = after;
                            parts.push(Tensor::full(*value, side.as_slice(), y.device())?);
                        }
                        y = Tensor::cat(&parts, axis)?;
                    }
                }
                Ok(y)
            }
            TensorOp::Resize { size, mode } => resize(&f32_of(xs[0])?, *size, *mode),
            TensorOp::Fill { shape, value } => {
                let dims: Vec<usize> = shape.iter().map(|d| d.at(batch)).collect();
                Tensor::full(*value, dims.as_slice(), &Device::Cpu)
            }
        }
    }
}

fn unary(f: UnaryFn, x: &Tensor) -> candle_core::Result<Tensor> {
    match f {
        UnaryFn::Neg => x.neg(),
        UnaryFn::Sqrt => x.sqrt(),
        UnaryFn::Exp => x.exp(),
        UnaryFn::Log => x.log(),
        UnaryFn::Abs => x.abs(),
        UnaryFn::Reciprocal => x.recip(),
        UnaryFn::Sigmoid => candle_nn::ops::sigmoid(x),
        UnaryFn::Erf => x.erf(),
        UnaryFn::Floor => x.floor(),
        UnaryFn::Ceil => x.ceil(),
        UnaryFn::Round => {
            // Halves to even: round (halves away from zero), then step back toward zero where
            // the fraction was exactly one half and the result is odd.
            let r = x.round()?;
            let half = (x - x.floor()?)?.eq(0.5f32)?;
            let odd = (&r - ((&r / 2.0)?.floor()? * 2.0)?)?.ne(0f32)?;
            let fix = half.to_dtype(DType::F32)?.mul(&odd.to_dtype(DType::F32)?)?;
            let toward_zero =
                (r.gt(0f32)?.to_dtype(DType::F32)? - r.lt(0f32)?.to_dtype(DType::F32)?)?;
            r - fix.mul(&toward_zero)?
        }
        UnaryFn::Trunc => {
            let down = x.floor()?;
            let up = x.ceil()?;
            x.ge(0f32)?.where_cond(&down, &up)
        }
        UnaryFn::Sin => x.sin(),
        UnaryFn::Cos => x.cos(),
        UnaryFn::Sign => {
            let pos = x.gt(0f32)?.to_dtype(DType::F32)?;
            let neg = x.lt(0f32)?.to_dtype(DType::F32)?;
            pos - neg
        }
        UnaryFn::Not => x.eq(0f32)?.to_dtype(DType::F32),
        UnaryFn::NonZero => x.ne(0f32)?.to_dtype(DType::F32),
        UnaryFn::Softplus => {
            // ln(1 + eˣ) = max(x, 0) + ln(1 + e^-|x|), stable for large |x|.
            let tail = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
            x.relu()? + tail
        }
        UnaryFn::HardSwish => x.mul(&((x + 3.0)?.clamp(0f32, 6f32)? / 6.0)?),
        UnaryFn::Relu => x.relu(),
        UnaryFn::LeakyRelu { alpha } => {
            let neg = (x.neg()?.relu()? * alpha as f64)?;
            x.relu()? - neg
        }
        UnaryFn::Clip { min, max } => x.clamp(min, max),
        UnaryFn::HardSigmoid { alpha, beta } => {
            x.affine(alpha as f64, beta as f64)?.clamp(0f32, 1f32)
        }
        UnaryFn::Elu { alpha } => {
            let neg = ((x.clamp(f32::NEG_INFINITY, 0f32)?.exp()? - 1.0)? * alpha as f64)?;
            x.gt(0f32)?.where_cond(x, &neg)
        }
        UnaryFn::Gelu { tanh } => {
            if tanh {
                x.gelu()
            } else {
                x.gelu_erf()
            }
        }
        UnaryFn::Pow { exponent } => {
            if exponent == 2.0 {
                x.sqr()
            } else if exponent == 1.0 {
                Ok(x.clone())
            } else if exponent == 0.5 {
                x.sqrt()
            } else if exponent == 3.0 {
                x.sqr()?.mul(x)
            } else if exponent.fract() == 0.0 {
                // An integer power of a negative base keeps its sign when the power is odd.
                let magnitude = x.abs()?.powf(exponent as f64)?;
                if (exponent as i64) % 2 == 0 {
                    Ok(magnitude)
                } else {
                    let sign = unary(UnaryFn::Sign, x)?;
                    magnitude.mul(&sign)
                }
            } else {
                x.powf(exponent as f64)
            }
        }
    }
}

fn binary(f: BinaryFn, a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let flag = |t: Tensor| t.to_dtype(DType::F32);
    match f {
        BinaryFn::Add => a.broadcast_add(b),
        BinaryFn::Sub => a.broadcast_sub(b),
        BinaryFn::Mul => a.broadcast_mul(b),
        BinaryFn::Div => a.broadcast_div(b),
        BinaryFn::Pow => (b.broadcast_mul(&a.log()?)?).exp(),
        BinaryFn::Max => a.broadcast_maximum(b),
        BinaryFn::Min => a.broadcast_minimum(b),
        BinaryFn::Equal => flag(a.broadcast_eq(b)?),
        BinaryFn::Less => flag(a.broadcast_lt(b)?),
        BinaryFn::LessOrEqual => flag(a.broadcast_le(b)?),
        BinaryFn::Greater => flag(a.broadcast_gt(b)?),
        BinaryFn::GreaterOrEqual => flag(a.broadcast_ge(b)?),
        BinaryFn::And => flag(
            a.ne(0f32)?
                .to_dtype(DType::F32)?
                .broadcast_mul(&b.ne(0f32)?.to_dtype(DType::F32)?)?
                .ne(0f32)?,
        ),
        BinaryFn::Or => flag(
            a.ne(0f32)?
                .to_dtype(DType::F32)?
                .broadcast_maximum(&b.ne(0f32)?.to_dtype(DType::F32)?)?
                .ne(0f32)?,
        ),
    }
}

/// Source positions and weights of a linear interpolation from `n_in` to `n_out` samples.
fn linear_taps(n_in: usize, n_out: usize, mode: ResizeMode) -> Vec<(usize, usize, f32)> {
    (0..n_out)
        .map(|i| {
            let x = match mode {
                ResizeMode::LinearAlignCorners if n_out > 1 => {
                    i as f64 * (n_in as f64 - 1.0) / (n_out as f64 - 1.0)
                }
                ResizeMode::LinearAlignCorners => 0.0,
                ResizeMode::LinearAsymmetric => i as f64 * n_in as f64 / n_out as f64,
                _ => ((i as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5).max(0.0),
            };
            let x0 = (x.floor() as usize).min(n_in - 1);
            let x1 = (x0 + 1).min(n_in - 1);
            (x0, x1, (x - x0 as f64) as f32)
        })
        .collect()
}

fn interpolate_axis(
    x: &Tensor,
    axis: usize,
    n_out: usize,
    mode: ResizeMode,
) -> candle_core::Result<Tensor> {
    let n_in = x.dim(axis)?;
    let taps = linear_taps(n_in, n_out, mode);
    let lo: Vec<u32> = taps.iter().map(|t| t.0 as u32).collect();
    let hi: Vec<u32> = taps.iter().map(|t| t.1 as u32).collect();
    let w: Vec<f32> = taps.iter().map(|t| t.2).collect();
    let dev = x.device();
    let a = x.index_select(&Tensor::new(lo.as_slice(), dev)?, axis)?;
    let b = x.index_select(&Tensor::new(hi.as_slice(), dev)?, axis)?;
    let mut wshape = vec![1usize; x.rank()];
    wshape[axis] = n_out;
    let w = Tensor::new(w.as_slice(), dev)?.reshape(wshape)?;
    a.broadcast_add(&(b - &a)?.broadcast_mul(&w)?)
}

fn resize(x: &Tensor, (oh, ow): (usize, usize), mode: ResizeMode) -> candle_core::Result<Tensor> {
    let x = x.contiguous()?;
    match mode {
        ResizeMode::Nearest => {
            let (_, _, h, w) = x.dims4()?;
            let rows: Vec<u32> = (0..oh).map(|i| (i * h / oh) as u32).collect();
            let cols: Vec<u32> = (0..ow).map(|j| (j * w / ow) as u32).collect();
            x.index_select(&Tensor::new(rows.as_slice(), x.device())?, 2)?
                .index_select(&Tensor::new(cols.as_slice(), x.device())?, 3)
        }
        _ => interpolate_axis(&interpolate_axis(&x, 2, oh, mode)?, 3, ow, mode),
    }
}

impl InstanceNorm {
    /// The number of channels.
    pub fn channels(&self) -> usize {
        self.weight.dims()[0]
    }

    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = f32_of(x)?;
        let (_, c, _, _) = x.dims4()?;
        let mean = x.mean_keepdim(3)?.mean_keepdim(2)?;
        let centered = x.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(3)?.mean_keepdim(2)?;
        let normed = centered.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        normed
            .broadcast_mul(&self.weight.reshape((1, c, 1, 1))?)?
            .broadcast_add(&self.bias.reshape((1, c, 1, 1))?)
    }
}

impl ConvTranspose2d {
    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    /// The output height and width for an input of `h` × `w`.
    pub fn out_hw(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let (kh, kw) = (self.weight.dims()[2], self.weight.dims()[3]);
        let size = |n: usize, k: usize| {
            ((n - 1) * self.stride + self.dilation * (k - 1) + 1 + self.output_padding)
                .checked_sub(2 * self.padding)
        };
        Some((size(h, kh)?, size(w, kw)?))
    }

    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = f32_of(x)?.conv_transpose2d(
            &self.weight,
            self.padding,
            self.output_padding,
            self.stride,
            self.dilation,
        )?;
        match &self.bias {
            Some(b) => y.broadcast_add(&b.reshape((1, b.dims1()?, 1, 1))?),
            None => Ok(y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(data: &[f32], shape: &[usize]) -> Tensor {
        Tensor::from_slice(data, shape, &Device::Cpu).unwrap()
    }

    fn run(op: &TensorOp, xs: &[&Tensor]) -> (Vec<usize>, Vec<f32>) {
        let y = op.forward(xs, 2).unwrap();
        let shapes: Vec<&[usize]> = xs.iter().map(|x| x.dims()).collect();
        assert_eq!(op.output_shape(&shapes, 2).unwrap(), y.dims(), "{op:?}");
        (y.dims().to_vec(), y.flatten_all().unwrap().to_vec1().unwrap())
    }

    #[test]
    fn broadcasting_and_comparisons_by_hand() {
        let a = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        let b = t(&[10., 20., 30.], &[3]);
        assert_eq!(
            run(&TensorOp::Binary { f: BinaryFn::Add }, &[&a, &b]).1,
            [11., 22., 33., 14., 25., 36.]
        );
        let col = t(&[1., 2.], &[2, 1]);
        assert_eq!(
            run(&TensorOp::Binary { f: BinaryFn::Sub }, &[&a, &col]).1,
            [0., 1., 2., 2., 3., 4.]
        );
        assert_eq!(
            run(&TensorOp::Binary { f: BinaryFn::Greater }, &[&a, &t(&[3.5], &[1])]).1,
            [0., 0., 0., 1., 1., 1.]
        );
        assert_eq!(
            run(&TensorOp::Where, &[&t(&[1., 0.], &[2, 1]), &a, &t(&[-1.], &[1])]).1,
            [1., 2., 3., -1., -1., -1.]
        );
        assert!(broadcast_shapes(&[2, 3], &[2]).is_err());
    }

    #[test]
    fn shape_operations_by_hand() {
        let x = t(&(0..24).map(|v| v as f32).collect::<Vec<_>>(), &[2, 3, 4]);
        // [B, -1] with a batch of 2.
        let flat =
            TensorOp::Reshape { shape: vec![ReshapeDim::Dim(Dim::Batch(1)), ReshapeDim::Infer] };
        assert_eq!(run(&flat, &[&x]).0, [2, 12]);
        let tr = TensorOp::Transpose { perm: vec![0, 2, 1] };
        let (s, v) = run(&tr, &[&x]);
        assert_eq!(s, [2, 4, 3]);
        assert_eq!(&v[..6], &[0., 4., 8., 1., 5., 9.]);
        // Every other column, backwards: indices 3, 1.
        let sl = TensorOp::Slice { axis: 2, start: -1, end: -5, step: -2 };
        assert_eq!(run(&sl, &[&x]).1[..2], [3., 1.]);
        assert_eq!(slice_indices(4, 1, i64::MAX, 1), [1, 2, 3]);
        let g = TensorOp::Gather { axis: 1, indices: vec![2], keep_axis: false };
        let (s, v) = run(&g, &[&x]);
        assert_eq!(s, [2, 4]);
        assert_eq!(v[..4], [8., 9., 10., 11.]);
        let r = TensorOp::Reduce { f: ReduceFn::Mean, axes: vec![2], keep_dims: true };
        assert_eq!(run(&r, &[&x]).1[..2], [1.5, 5.5]);
        let c = TensorOp::Concat { axis: 1 };
        assert_eq!(run(&c, &[&x, &x]).0, [2, 6, 4]);
        let p = TensorOp::Pad { pads: vec![(0, 0), (0, 0), (1, 2)], value: -1.0 };
        let (s, v) = run(&p, &[&x]);
        assert_eq!(s, [2, 3, 7]);
        assert_eq!(v[..7], [-1., 0., 1., 2., 3., -1., -1.]);
        let e = TensorOp::Expand { shape: vec![Dim::Fixed(3), Dim::Fixed(1)] };
        assert_eq!(run(&e, &[&t(&[1., 2.], &[2])]).1, [1., 2., 1., 2., 1., 2.]);
        let f = TensorOp::Fill { shape: vec![Dim::Batch(1), Dim::Fixed(2)], value: 7.0 };
        assert_eq!(run(&f, &[]).0, [2, 2]);
    }

    #[test]
    fn matmul_of_vectors_and_batches() {
        let a = t(&[1., 2., 3., 4.], &[2, 2]);
        let v = t(&[1., 1.], &[2]);
        assert_eq!(run(&TensorOp::MatMul, &[&a, &v]).1, [3., 7.]);
        assert_eq!(run(&TensorOp::MatMul, &[&v, &a]).1, [4., 6.]);
        let batched = t(&[1., 2., 3., 4., 5., 6., 7., 8.], &[2, 2, 2]);
        // Each [2, 2] block times [[1, 2], [3, 4]].
        let (s, v) = run(&TensorOp::MatMul, &[&batched, &a]);
        assert_eq!(s, [2, 2, 2]);
        assert_eq!(v[..4], [7., 10., 15., 22.]);
        assert_eq!(TensorOp::MatMul.macs(&[&[2, 2, 2], &[2, 2]], &[2, 2, 2]), 16);
    }

    #[test]
    fn unary_functions_by_hand() {
        let x = t(&[-2., -0.5, 0.5, 2.5], &[4]);
        let f = |f| run(&TensorOp::Unary { f }, &[&x]).1;
        assert_eq!(f(UnaryFn::Round), [-2., -0., 0., 2.]);
        // Halves go to the even neighbour on both sides of zero.
        let halves = t(&[-2.5, -1.5, 1.5, 3.5], &[4]);
        assert_eq!(run(&TensorOp::Unary { f: UnaryFn::Round }, &[&halves]).1, [-2., -2., 2., 4.]);
        assert_eq!(f(UnaryFn::Trunc), [-2., -0., 0., 2.]);
        assert_eq!(f(UnaryFn::LeakyRelu { alpha: 0.1 }), [-0.2, -0.05, 0.5, 2.5]);
        assert_eq!(f(UnaryFn::Clip { min: -1.0, max: 1.0 }), [-1., -0.5, 0.5, 1.]);
        assert_eq!(f(UnaryFn::Pow { exponent: 2.0 }), [4., 0.25, 0.25, 6.25]);
        assert_eq!(f(UnaryFn::Pow { exponent: 3.0 }), [-8., -0.125, 0.125, 15.625]);
        let hs = f(UnaryFn::HardSigmoid { alpha: 0.2, beta: 0.5 });
        for (got, want) in hs.iter().zip([0.1, 0.4, 0.6, 1.0]) {
            assert!((got - want).abs() < 1e-6, "{hs:?}");
        }
        // HardSwish(2.5) = 2.5 · 5.5 / 6.
        assert!((f(UnaryFn::HardSwish)[3] - 2.5 * 5.5 / 6.0).abs() < 1e-6);
        assert!((f(UnaryFn::Softplus)[0] - (1.0f32 + (-2.0f32).exp()).ln()).abs() < 1e-6);
    }

    #[test]
    fn resize_nearest_and_bilinear() {
        let x = t(&[1., 2., 3., 4.], &[1, 1, 2, 2]);
        let n = TensorOp::Resize { size: (4, 4), mode: ResizeMode::Nearest };
        assert_eq!(run(&n, &[&x]).1[..4], [1., 1., 2., 2.]);
        // Align corners: columns at 0, 1/3, 2/3, 1 of the way: 1, 4/3, 5/3, 2 on the first row.
        let l = TensorOp::Resize { size: (2, 4), mode: ResizeMode::LinearAlignCorners };
        let v = run(&l, &[&x]).1;
        for (a, b) in v[..4].iter().zip([1., 4. / 3., 5. / 3., 2.]) {
            assert!((a - b).abs() < 1e-6, "{v:?}");
        }
        // Half pixel to 4 columns: x = (i + 0.5)/2 − 0.5 = −0.25 (→ 0), 0.25, 0.75, 1.25 (→ 1).
        let h = TensorOp::Resize { size: (2, 4), mode: ResizeMode::LinearHalfPixel };
        let v = run(&h, &[&x]).1;
        for (a, b) in v[..4].iter().zip([1., 1.25, 1.75, 2.]) {
            assert!((a - b).abs() < 1e-6, "{v:?}");
        }
    }
}
