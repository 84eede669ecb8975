//! The layer kinds of the IR: their weights, shape rules, counts and candle forward passes.

use candle_core::{D, DType, Tensor};

use crate::error::{Error, Result};
use crate::tensor_ops::{Constant, ConvTranspose2d, InstanceNorm, TensorOp};

/// A fully connected layer, `y = x Wᵀ + b`, with `W` of shape `[out, in]` (PyTorch layout).
#[derive(Clone, Debug)]
pub struct Linear {
    /// `[out_features, in_features]`.
    pub weight: Tensor,
    /// `[out_features]`.
    pub bias: Option<Tensor>,
    /// When set, the forward pass runs candle's quantized matmul on these blocks instead of the
    /// dense weight (which then holds the dequantized values, for shapes and inspection).
    pub kernel: Option<candle_core::quantized::QMatMul>,
}

impl Linear {
    /// Input features.
    pub fn in_features(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.weight.dims()[0]
    }

    /// A dense layer.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Linear {
        Linear { weight, bias, kernel: None }
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if let Some(kernel) = &self.kernel {
            let ys = candle_core::Module::forward(kernel, &xs.contiguous()?)?;
            return match &self.bias {
                Some(b) => ys.broadcast_add(b),
                None => Ok(ys),
            };
        }
        let w_t = self.weight.t()?;
        let ys = match xs.rank() {
            2 => xs.matmul(&w_t)?,
            _ => xs.broadcast_matmul(&w_t)?,
        };
        match &self.bias {
            Some(b) => ys.broadcast_add(b),
            None => Ok(ys),
        }
    }
}

/// A 2-D convolution with PyTorch's weight layout `[out, in / groups, kh, kw]`.
#[derive(Clone, Debug)]
pub struct Conv2d {
    /// `[out_channels, in_channels / groups, kernel_h, kernel_w]`.
    pub weight: Tensor,
    /// `[out_channels]`.
    pub bias: Option<Tensor>,
    /// Stride along height and width.
    pub stride: (usize, usize),
    /// Zero padding along height and width (each applied on both sides).
    pub padding: (usize, usize),
    /// Dilation (the same along both axes).
    pub dilation: usize,
    /// Groups; `groups == in_channels == out_channels` is a depthwise convolution.
    pub groups: usize,
}

impl Conv2d {
    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.weight.dims()[1] * self.groups
    }

    /// Kernel height and width.
    pub fn kernel(&self) -> (usize, usize) {
        (self.weight.dims()[2], self.weight.dims()[3])
    }

    /// True for a depthwise convolution (one group per input channel).
    pub fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.groups == self.in_channels()
    }

    fn out_hw(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let (kh, kw) = self.kernel();
        let span_h = self.dilation * (kh - 1) + 1;
        let span_w = self.dilation * (kw - 1) + 1;
        let ph = h + 2 * self.padding.0;
        let pw = w + 2 * self.padding.1;
        if ph < span_h || pw < span_w {
            return None;
        }
        Some(((ph - span_h) / self.stride.0 + 1, (pw - span_w) / self.stride.1 + 1))
    }

    /// Convolution as im2col followed by one matrix product. candle's CPU backward pass of
    /// `conv2d` is slow; the gradient of this form is a matmul plus a scatter, which makes
    /// training several times faster. Stride 1, one group, no dilation.
    fn forward_im2col(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c, h, w) = xs.dims4()?;
        let (kh, kw) = self.kernel();
        let (ph, pw) = self.padding;
        let (oh, ow) = (h + 2 * ph + 1 - kh, w + 2 * pw + 1 - kw);
        let op = crate::im2col::Im2Col { kernel: (kh, kw), padding: (ph, pw) };
        let cols = xs.contiguous()?.apply_op1(op)?;
        let o = self.out_channels();
        let wmat = self.weight.reshape((o, c * kh * kw))?;
        let ys = wmat.broadcast_matmul(&cols)?.reshape((b, o, oh, ow))?;
        match &self.bias {
            Some(bias) => ys.broadcast_add(&bias.reshape((1, o, 1, 1))?),
            None => Ok(ys),
        }
    }

    fn forward(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        if train && self.groups == 1 && self.stride == (1, 1) && self.dilation == 1 {
            return self.forward_im2col(xs);
        }
        let (ph, pw) = self.padding;
        let (sh, sw) = self.stride;
        // candle's conv2d takes one padding and one stride for both axes; other cases pad by
        // hand and subsample the stride-1 result.
        let ys = if ph == pw && sh == sw {
            xs.conv2d(&self.weight, ph, sh, self.dilation, self.groups)?
        } else {
            let padded = xs.pad_with_zeros(2, ph, ph)?.pad_with_zeros(3, pw, pw)?;
            let (s, rest) = if sh == sw { (sh, (1, 1)) } else { (1, (sh, sw)) };
            let full = padded.conv2d(&self.weight, 0, s, self.dilation, self.groups)?;
            subsample(&full, rest)?
        };
        match &self.bias {
            Some(b) => ys.broadcast_add(&b.reshape((1, b.dims1()?, 1, 1))?),
            None => Ok(ys),
        }
    }
}

/// Keeps every `step.0`-th row and `step.1`-th column of an NCHW tensor.
fn subsample(xs: &Tensor, step: (usize, usize)) -> candle_core::Result<Tensor> {
    let mut out = xs.clone();
    for (dim, s) in [(2usize, step.0), (3usize, step.1)] {
        if s > 1 {
            let n = out.dim(dim)?;
            let idx: Vec<u32> = (0..n).step_by(s).map(|i| i as u32).collect();
            let idx = Tensor::new(idx.as_slice(), out.device())?;
            out = out.index_select(&idx, dim)?;
        }
    }
    Ok(out)
}

/// Batch normalisation over the channels of an NCHW tensor.
#[derive(Clone, Debug)]
pub struct BatchNorm2d {
    /// Scale γ, `[channels]`.
    pub weight: Tensor,
    /// Shift β, `[channels]`.
    pub bias: Tensor,
    /// Running mean, `[channels]`.
    pub running_mean: Tensor,
    /// Running variance, `[channels]`.
    pub running_var: Tensor,
    /// Added to the variance.
    pub eps: f64,
}

impl BatchNorm2d {
    /// The number of channels.
    pub fn channels(&self) -> usize {
        self.weight.dims()[0]
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let c = self.channels();
        let scale = (&self.weight / (&self.running_var + self.eps)?.sqrt()?)?;
        let shift = (&self.bias - (&self.running_mean * &scale)?)?;
        xs.broadcast_mul(&scale.reshape((1, c, 1, 1))?)?
            .broadcast_add(&shift.reshape((1, c, 1, 1))?)
    }

    /// Training-mode forward: normalises with the batch statistics and returns them (mean and
    /// unbiased variance) so the caller can update the running statistics.
    fn forward_train(&self, xs: &Tensor) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let (n, c, h, w) = xs.dims4()?;
        let count = (n * h * w) as f64;
        let mean = xs.mean_keepdim(0)?.mean_keepdim(2)?.mean_keepdim(3)?;
        let centered = xs.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(0)?.mean_keepdim(2)?.mean_keepdim(3)?;
        let normed = centered.broadcast_div(&(var.clone() + self.eps)?.sqrt()?)?;
        let ys = normed
            .broadcast_mul(&self.weight.reshape((1, c, 1, 1))?)?
            .broadcast_add(&self.bias.reshape((1, c, 1, 1))?)?;
        let unbiased = (var.detach().flatten_all()? * (count / (count - 1.0).max(1.0)))?;
        Ok((ys, mean.detach().flatten_all()?, unbiased))
    }
}

/// Layer normalisation over the last dimension.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    /// Scale, `[hidden]`.
    pub weight: Tensor,
    /// Shift, `[hidden]`.
    pub bias: Tensor,
    /// Added to the variance.
    pub eps: f64,
}

impl LayerNorm {
    fn forward(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        if train {
            candle_nn::ops::layer_norm_slow(xs, &self.weight, &self.bias, self.eps as f32)
        } else {
            candle_nn::ops::layer_norm(&xs.contiguous()?, &self.weight, &self.bias, self.eps as f32)
        }
    }
}

/// A lookup table from token ids to vectors.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// `[num_embeddings, dim]`.
    pub weight: Tensor,
}

impl Embedding {
    fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let mut out_dims = ids.dims().to_vec();
        out_dims.push(self.weight.dims()[1]);
        // Ids computed by imported graphs arrive as f32.
        let flat = match ids.dtype() {
            DType::F32 | DType::F16 | DType::BF16 | DType::F64 => {
                ids.flatten_all()?.to_dtype(DType::U32)?
            }
            _ => ids.flatten_all()?,
        };
        self.weight.index_select(&flat, 0)?.reshape(out_dims)
    }
}

/// Multi-head scaled dot-product self-attention.
///
/// The node reads four values: the query, key and value projections (each `[batch, tokens,
/// hidden]`, produced by ordinary [`Linear`] nodes so that each can be compressed on its own)
/// and the attention mask (`[batch, tokens]`, 1 for real tokens, 0 for padding). The output
/// projection is again an ordinary [`Linear`] node after this one.
#[derive(Clone, Debug)]
pub struct Attention {
    /// Number of heads; `hidden` must be a multiple of it.
    pub n_heads: usize,
}

impl Attention {
    fn forward(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (b, t, hidden) = q.dims3()?;
        let head_dim = hidden / self.n_heads;
        let split = |x: &Tensor| -> candle_core::Result<Tensor> {
            let (_, tk, hk) = x.dims3()?;
            x.reshape((b, tk, self.n_heads, hk / self.n_heads))?.transpose(1, 2)?.contiguous()
        };
        let (q, k, v) = (split(q)?, split(k)?, split(v)?);
        let scores = (q.matmul(&k.t()?)? / (head_dim as f64).sqrt())?;
        // Padding positions get the most negative float, as Hugging Face's BERT does.
        let bias = ((mask.to_dtype(DType::F32)?.affine(-1.0, 1.0)?) * f32::MIN as f64)?
            .reshape((b, 1, 1, t))?;
        let scores = scores.broadcast_add(&bias)?;
        let probs = if train {
            candle_nn::ops::softmax(&scores, D::Minus1)?
        } else {
            candle_nn::ops::softmax_last_dim(&scores)?
        };
        probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b, t, v.dim(1)? * v.dim(3)?))
    }
}

/// Max or average pooling with a window, a stride and zero padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d {
    /// Window height and width.
    pub kernel: (usize, usize),
    /// Stride along height and width.
    pub stride: (usize, usize),
    /// Padding along height and width (max pooling pads with −∞, average pooling with zeros
    /// that count towards the average, as PyTorch's defaults do).
    pub padding: (usize, usize),
}

impl Pool2d {
    fn out_hw(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let ph = h + 2 * self.padding.0;
        let pw = w + 2 * self.padding.1;
        if ph < self.kernel.0 || pw < self.kernel.1 {
            return None;
        }
        Some(((ph - self.kernel.0) / self.stride.0 + 1, (pw - self.kernel.1) / self.stride.1 + 1))
    }

    fn forward(&self, xs: &Tensor, max: bool) -> candle_core::Result<Tensor> {
        let (ph, pw) = self.padding;
        let padded = if ph == 0 && pw == 0 {
            xs.clone()
        } else if max {
            pad_with_value(xs, (ph, pw), f32::NEG_INFINITY)?
        } else {
            xs.pad_with_zeros(2, ph, ph)?.pad_with_zeros(3, pw, pw)?
        };
        if self.stride.0 == self.stride.1 || self.kernel == (1, 1) {
            if max {
                padded.max_pool2d_with_stride(self.kernel, self.stride)
            } else {
                padded.avg_pool2d_with_stride(self.kernel, self.stride)
            }
        } else {
            let full = if max {
                padded.max_pool2d_with_stride(self.kernel, (1, 1))?
            } else {
                padded.avg_pool2d_with_stride(self.kernel, (1, 1))?
            };
            subsample(&full, self.stride)
        }
    }
}

fn pad_with_value(
    xs: &Tensor,
    (ph, pw): (usize, usize),
    value: f32,
) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = xs.dims4()?;
    let mut out = xs.clone();
    if pw > 0 {
        let side = Tensor::full(value, (n, c, h, pw), xs.device())?;
        out = Tensor::cat(&[&side, &out, &side], 3)?;
    }
    if ph > 0 {
        let side = Tensor::full(value, (n, c, ph, w + 2 * pw), xs.device())?;
        out = Tensor::cat(&[&side, &out, &side], 2)?;
    }
    Ok(out)
}

fn adaptive_avg_pool(xs: &Tensor, (oh, ow): (usize, usize)) -> candle_core::Result<Tensor> {
    let (_, _, h, w) = xs.dims4()?;
    if (oh, ow) == (1, 1) {
        return xs.mean_keepdim(2)?.mean_keepdim(3);
    }
    if h % oh == 0 && w % ow == 0 {
        return xs.avg_pool2d_with_stride((h / oh, w / ow), (h / oh, w / ow));
    }
    // PyTorch's bins: start = floor(i·H/oh), end = ceil((i+1)·H/oh).
    let mut rows = Vec::with_capacity(oh);
    for i in 0..oh {
        let (h0, h1) = (i * h / oh, ((i + 1) * h).div_ceil(oh));
        let mut cols = Vec::with_capacity(ow);
        for j in 0..ow {
            let (w0, w1) = (j * w / ow, ((j + 1) * w).div_ceil(ow));
            cols.push(
                xs.narrow(2, h0, h1 - h0)?
                    .narrow(3, w0, w1 - w0)?
                    .mean_keepdim(2)?
                    .mean_keepdim(3)?,
            );
        }
        rows.push(Tensor::cat(&cols, 3)?);
    }
    Tensor::cat(&rows, 2)
}

/// Fake quantization of an activation: values are rounded to a `bits`-bit integer grid with
/// `scale` and `zero_point` and mapped back to floats, `x' = (clamp(round(x / s) + z) − z) · s`.
/// In training mode the gradient passes straight through (the straight-through estimator).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FakeQuant {
    /// Step between grid values.
    pub scale: f32,
    /// The integer that represents 0.0.
    pub zero_point: f32,
    /// Smallest integer of the grid.
    pub q_min: f32,
    /// Largest integer of the grid.
    pub q_max: f32,
}

impl FakeQuant {
    fn forward(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let q = (xs / self.scale as f64)?.round()?;
        let q = (q + self.zero_point as f64)?.clamp(self.q_min, self.q_max)?;
        let deq = ((q - self.zero_point as f64)? * self.scale as f64)?;
        if train {
            // x + (fq(x) − x) without gradient through the rounding.
            xs + (deq - xs)?.detach()
        } else {
            Ok(deq)
        }
    }
}

/// What a node computes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Op {
    /// See [`Linear`].
    Linear(Linear),
    /// See [`Conv2d`].
    Conv2d(Conv2d),
    /// See [`BatchNorm2d`].
    BatchNorm2d(BatchNorm2d),
    /// See [`LayerNorm`].
    LayerNorm(LayerNorm),
    /// See [`Embedding`].
    Embedding(Embedding),
    /// See [`Attention`].
    Attention(Attention),
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// The exact (erf) GELU, as BERT uses.
    Gelu,
    /// Hyperbolic tangent.
    Tanh,
    /// Max pooling.
    MaxPool2d(Pool2d),
    /// Average pooling.
    AvgPool2d(Pool2d),
    /// Average pooling to a fixed output size, PyTorch's bins.
    AdaptiveAvgPool2d {
        /// Output height and width.
        output: (usize, usize),
    },
    /// Flattens every dimension after the first.
    Flatten,
    /// Element-wise sum of two or more inputs of one shape (residual connections).
    Add,
    /// Softmax over the last dimension.
    Softmax,
    /// Mean over tokens of `[batch, tokens, hidden]`, counting only tokens whose mask (second
    /// input) is 1.
    MeanPool,
    /// Divides each row by its L2 norm (at least 1e-12).
    L2Normalize,
    /// Selects one token of `[batch, tokens, hidden]` (BERT's `[CLS]` pooler input).
    SelectToken {
        /// The token position.
        index: usize,
    },
    /// See [`FakeQuant`].
    FakeQuant(FakeQuant),
    /// A constant tensor (no inputs).
    Constant(Constant),
    /// A general tensor operation (see [`TensorOp`]).
    Tensor(TensorOp),
    /// See [`InstanceNorm`].
    InstanceNorm(InstanceNorm),
    /// See [`ConvTranspose2d`].
    ConvTranspose2d(ConvTranspose2d),
}

/// The kind of a node, without its weights; used for display, filtering and cost models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LayerKind {
    /// [`Op::Linear`].
    Linear,
    /// [`Op::Conv2d`] with groups = 1 or a grouped (not depthwise) convolution.
    Conv2d,
    /// [`Op::Conv2d`] with one group per channel.
    DepthwiseConv2d,
    /// [`Op::BatchNorm2d`].
    BatchNorm2d,
    /// [`Op::LayerNorm`].
    LayerNorm,
    /// [`Op::Embedding`].
    Embedding,
    /// [`Op::Attention`].
    Attention,
    /// [`Op::Relu`].
    Relu,
    /// [`Op::Relu6`].
    Relu6,
    /// [`Op::Gelu`].
    Gelu,
    /// [`Op::Tanh`].
    Tanh,
    /// [`Op::MaxPool2d`].
    MaxPool2d,
    /// [`Op::AvgPool2d`].
    AvgPool2d,
    /// [`Op::AdaptiveAvgPool2d`].
    AdaptiveAvgPool2d,
    /// [`Op::Flatten`].
    Flatten,
    /// [`Op::Add`].
    Add,
    /// [`Op::Softmax`].
    Softmax,
    /// [`Op::MeanPool`].
    MeanPool,
    /// [`Op::L2Normalize`].
    L2Normalize,
    /// [`Op::SelectToken`].
    SelectToken,
    /// [`Op::FakeQuant`].
    FakeQuant,
    /// [`Op::Constant`].
    Constant,
    /// [`Op::InstanceNorm`].
    InstanceNorm,
    /// [`Op::ConvTranspose2d`].
    ConvTranspose2d,
    /// [`TensorOp::Unary`].
    Unary,
    /// [`TensorOp::Binary`].
    Binary,
    /// [`TensorOp::Where`].
    Where,
    /// [`TensorOp::MatMul`].
    MatMul,
    /// [`TensorOp::Reshape`].
    Reshape,
    /// [`TensorOp::Transpose`].
    Transpose,
    /// [`TensorOp::Concat`].
    Concat,
    /// [`TensorOp::Slice`].
    Slice,
    /// [`TensorOp::Gather`].
    Gather,
    /// [`TensorOp::GatherDyn`].
    GatherDyn,
    /// [`TensorOp::Expand`].
    Expand,
    /// [`TensorOp::Reduce`].
    Reduce,
    /// [`TensorOp::Softmax`].
    SoftmaxAxis,
    /// [`TensorOp::Pad`].
    Pad,
    /// [`TensorOp::Resize`].
    Resize,
    /// [`TensorOp::Fill`].
    Fill,
}

impl LayerKind {
    /// The name used in specs, tables and reports (`conv2d`, `linear`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Linear => "linear",
            LayerKind::Conv2d => "conv2d",
            LayerKind::DepthwiseConv2d => "depthwise_conv2d",
            LayerKind::BatchNorm2d => "batch_norm2d",
            LayerKind::LayerNorm => "layer_norm",
            LayerKind::Embedding => "embedding",
            LayerKind::Attention => "attention",
            LayerKind::Relu => "relu",
            LayerKind::Relu6 => "relu6",
            LayerKind::Gelu => "gelu",
            LayerKind::Tanh => "tanh",
            LayerKind::MaxPool2d => "max_pool2d",
            LayerKind::AvgPool2d => "avg_pool2d",
            LayerKind::AdaptiveAvgPool2d => "adaptive_avg_pool2d",
            LayerKind::Flatten => "flatten",
            LayerKind::Add => "add",
            LayerKind::Softmax => "softmax",
            LayerKind::MeanPool => "mean_pool",
            LayerKind::L2Normalize => "l2_normalize",
            LayerKind::SelectToken => "select_token",
            LayerKind::FakeQuant => "fake_quant",
            LayerKind::Constant => "constant",
            LayerKind::InstanceNorm => "instance_norm",
            LayerKind::ConvTranspose2d => "conv_transpose2d",
            LayerKind::Unary => "unary",
            LayerKind::Binary => "binary",
            LayerKind::Where => "where",
            LayerKind::MatMul => "matmul",
            LayerKind::Reshape => "reshape",
            LayerKind::Transpose => "transpose",
            LayerKind::Concat => "concat",
            LayerKind::Slice => "slice",
            LayerKind::Gather => "gather",
            LayerKind::GatherDyn => "gather_dyn",
            LayerKind::Expand => "expand",
            LayerKind::Reduce => "reduce",
            LayerKind::SoftmaxAxis => "softmax_axis",
            LayerKind::Pad => "pad",
            LayerKind::Resize => "resize",
            LayerKind::Fill => "fill",
        }
    }
}

impl std::fmt::Display for LayerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A weight tensor of a node and the role it plays.
#[derive(Clone, Debug)]
pub struct NamedWeight<'a> {
    /// The role within the layer (`weight`, `bias`, `running_mean`, ...); the tensor's file name
    /// is `<layer name>.<role>`.
    pub role: &'static str,
    /// The tensor.
    pub tensor: &'a Tensor,
    /// False for statistics that are not learned by gradient descent (BatchNorm running stats).
    pub trainable: bool,
}

/// A BatchNorm's batch statistics from a training-mode forward pass.
#[derive(Clone, Debug)]
pub struct BatchStats {
    /// The BatchNorm node.
    pub node: usize,
    /// Batch mean per channel.
    pub mean: Tensor,
    /// Unbiased batch variance per channel.
    pub var: Tensor,
}

impl Op {
    /// The kind of this op.
    pub fn kind(&self) -> LayerKind {
        match self {
            Op::Linear(_) => LayerKind::Linear,
            Op::Conv2d(c) if c.is_depthwise() => LayerKind::DepthwiseConv2d,
            Op::Conv2d(_) => LayerKind::Conv2d,
            Op::BatchNorm2d(_) => LayerKind::BatchNorm2d,
            Op::LayerNorm(_) => LayerKind::LayerNorm,
            Op::Embedding(_) => LayerKind::Embedding,
            Op::Attention(_) => LayerKind::Attention,
            Op::Relu => LayerKind::Relu,
            Op::Relu6 => LayerKind::Relu6,
            Op::Gelu => LayerKind::Gelu,
            Op::Tanh => LayerKind::Tanh,
            Op::MaxPool2d(_) => LayerKind::MaxPool2d,
            Op::AvgPool2d(_) => LayerKind::AvgPool2d,
            Op::AdaptiveAvgPool2d { .. } => LayerKind::AdaptiveAvgPool2d,
            Op::Flatten => LayerKind::Flatten,
            Op::Add => LayerKind::Add,
            Op::Softmax => LayerKind::Softmax,
            Op::MeanPool => LayerKind::MeanPool,
            Op::L2Normalize => LayerKind::L2Normalize,
            Op::SelectToken { .. } => LayerKind::SelectToken,
            Op::FakeQuant(_) => LayerKind::FakeQuant,
            Op::Constant(_) => LayerKind::Constant,
            Op::InstanceNorm(_) => LayerKind::InstanceNorm,
            Op::ConvTranspose2d(_) => LayerKind::ConvTranspose2d,
            Op::Tensor(t) => match t {
                TensorOp::Unary { .. } => LayerKind::Unary,
                TensorOp::Binary { .. } => LayerKind::Binary,
                TensorOp::Where => LayerKind::Where,
                TensorOp::MatMul => LayerKind::MatMul,
                TensorOp::Reshape { .. } => LayerKind::Reshape,
                TensorOp::Transpose { .. } => LayerKind::Transpose,
                TensorOp::Concat { .. } => LayerKind::Concat,
                TensorOp::Slice { .. } => LayerKind::Slice,
                TensorOp::Gather { .. } => LayerKind::Gather,
                TensorOp::GatherDyn { .. } => LayerKind::GatherDyn,
                TensorOp::Expand { .. } => LayerKind::Expand,
                TensorOp::Reduce { .. } => LayerKind::Reduce,
                TensorOp::Softmax { .. } => LayerKind::SoftmaxAxis,
                TensorOp::Pad { .. } => LayerKind::Pad,
                TensorOp::Resize { .. } => LayerKind::Resize,
                TensorOp::Fill { .. } => LayerKind::Fill,
            },
        }
    }

    /// How many inputs the op reads (`None` for "two or more").
    pub fn arity(&self) -> Option<usize> {
        match self {
            Op::Attention(_) => Some(4),
            Op::MeanPool => Some(2),
            Op::Add => None,
            Op::Constant(_) => Some(0),
            Op::Tensor(t) => t.arity(),
            _ => Some(1),
        }
    }

    /// The op's weights in a fixed order.
    pub fn weights(&self) -> Vec<NamedWeight<'_>> {
        let w = |role, tensor, trainable| NamedWeight { role, tensor, trainable };
        let mut out = Vec::new();
        match self {
            Op::Linear(l) => {
                out.push(w("weight", &l.weight, true));
                if let Some(b) = &l.bias {
                    out.push(w("bias", b, true));
                }
            }
            Op::Conv2d(c) => {
                out.push(w("weight", &c.weight, true));
                if let Some(b) = &c.bias {
                    out.push(w("bias", b, true));
                }
            }
            Op::BatchNorm2d(bn) => {
                out.push(w("weight", &bn.weight, true));
                out.push(w("bias", &bn.bias, true));
                out.push(w("running_mean", &bn.running_mean, false));
                out.push(w("running_var", &bn.running_var, false));
            }
            Op::LayerNorm(ln) => {
                out.push(w("weight", &ln.weight, true));
                out.push(w("bias", &ln.bias, true));
            }
            Op::Embedding(e) => out.push(w("weight", &e.weight, true)),
            Op::Constant(c) => out.push(w("value", &c.value, c.trainable)),
            Op::InstanceNorm(n) => {
                out.push(w("weight", &n.weight, true));
                out.push(w("bias", &n.bias, true));
            }
            Op::ConvTranspose2d(c) => {
                out.push(w("weight", &c.weight, true));
                if let Some(b) = &c.bias {
                    out.push(w("bias", b, true));
                }
            }
            _ => {}
        }
        out
    }

    /// Mutable access to the weight with the given role.
    pub fn weight_mut(&mut self, role: &str) -> Option<&mut Tensor> {
        match (self, role) {
            (Op::Linear(l), "weight") => Some(&mut l.weight),
            (Op::Linear(l), "bias") => l.bias.as_mut(),
            (Op::Conv2d(c), "weight") => Some(&mut c.weight),
            (Op::Conv2d(c), "bias") => c.bias.as_mut(),
            (Op::BatchNorm2d(bn), "weight") => Some(&mut bn.weight),
            (Op::BatchNorm2d(bn), "bias") => Some(&mut bn.bias),
            (Op::BatchNorm2d(bn), "running_mean") => Some(&mut bn.running_mean),
            (Op::BatchNorm2d(bn), "running_var") => Some(&mut bn.running_var),
            (Op::LayerNorm(ln), "weight") => Some(&mut ln.weight),
            (Op::LayerNorm(ln), "bias") => Some(&mut ln.bias),
            (Op::Embedding(e), "weight") => Some(&mut e.weight),
            (Op::Constant(c), "value") => Some(&mut c.value),
            (Op::InstanceNorm(n), "weight") => Some(&mut n.weight),
            (Op::InstanceNorm(n), "bias") => Some(&mut n.bias),
            (Op::ConvTranspose2d(c), "weight") => Some(&mut c.weight),
            (Op::ConvTranspose2d(c), "bias") => c.bias.as_mut(),
            _ => None,
        }
    }

    /// True for the ops whose weights compression operators act on (Linear, Conv2d, Embedding).
    pub fn is_compressible(&self) -> bool {
        matches!(self, Op::Linear(_) | Op::Conv2d(_) | Op::Embedding(_))
    }

    /// The number of parameters (running statistics excluded, as PyTorch counts them).
    pub fn n_params(&self) -> u64 {
        self.weights().iter().filter(|w| w.trainable).map(|w| w.tensor.elem_count() as u64).sum()
    }

    /// The output shape for the given input shapes and batch size, or a message saying what was
    /// expected.
    pub fn output_shape(&self, inputs: &[&[usize]], batch: usize) -> Result<Vec<usize>, String> {
        let first = inputs.first().copied().unwrap_or(&[]);
        let want_rank = |rank: usize| -> Result<(), String> {
            if first.len() == rank {
                Ok(())
            } else {
                Err(format!("expected a rank-{rank} input, got shape {first:?}"))
            }
        };
        match self {
            Op::Linear(l) => {
                let last = first.last().copied().unwrap_or(0);
                if first.len() < 2 || last != l.in_features() {
                    return Err(format!("expected input [.., {}], got {first:?}", l.in_features()));
                }
                let mut out = first.to_vec();
                *out.last_mut().expect("rank >= 2") = l.out_features();
                Ok(out)
            }
            Op::Conv2d(c) => {
                want_rank(4)?;
                if first[1] != c.in_channels() {
                    return Err(format!(
                        "expected {} input channels, got shape {first:?}",
                        c.in_channels()
                    ));
                }
                let (oh, ow) = c
                    .out_hw(first[2], first[3])
                    .ok_or_else(|| format!("input {first:?} is smaller than the kernel"))?;
                Ok(vec![first[0], c.out_channels(), oh, ow])
            }
            Op::BatchNorm2d(bn) => {
                want_rank(4)?;
                if first[1] != bn.channels() {
                    return Err(format!("expected {} channels, got {first:?}", bn.channels()));
                }
                Ok(first.to_vec())
            }
            Op::LayerNorm(ln) => {
                let hidden = ln.weight.dims()[0];
                if first.last() != Some(&hidden) {
                    return Err(format!("expected input [.., {hidden}], got {first:?}"));
                }
                Ok(first.to_vec())
            }
            Op::Embedding(e) => {
                let mut out = first.to_vec();
                out.push(e.weight.dims()[1]);
                Ok(out)
            }
            Op::Attention(a) => {
                want_rank(3)?;
                let hidden = first[2];
                if hidden % a.n_heads != 0 {
                    return Err(format!(
                        "hidden size {hidden} is not a multiple of {} heads",
                        a.n_heads
                    ));
                }
                for (name, shape) in ["key", "value"].iter().zip(&inputs[1..3]) {
                    if shape.len() != 3 || shape[0] != first[0] || shape[1] != first[1] {
                        return Err(format!("{name} has shape {shape:?}, query {first:?}"));
                    }
                }
                if inputs[1][2] != hidden {
                    return Err(format!(
                        "key width {} differs from query width {hidden}",
                        inputs[1][2]
                    ));
                }
                if inputs[3] != &first[..2] {
                    return Err(format!(
                        "mask has shape {:?}, expected {:?}",
                        inputs[3],
                        &first[..2]
                    ));
                }
                Ok(vec![first[0], first[1], inputs[2][2]])
            }
            Op::Relu
            | Op::Relu6
            | Op::Gelu
            | Op::Tanh
            | Op::Softmax
            | Op::L2Normalize
            | Op::FakeQuant(_) => Ok(first.to_vec()),
            Op::MaxPool2d(p) | Op::AvgPool2d(p) => {
                want_rank(4)?;
                let (oh, ow) = p
                    .out_hw(first[2], first[3])
                    .ok_or_else(|| format!("input {first:?} is smaller than the pooling window"))?;
                Ok(vec![first[0], first[1], oh, ow])
            }
            Op::AdaptiveAvgPool2d { output } => {
                want_rank(4)?;
                Ok(vec![first[0], first[1], output.0, output.1])
            }
            Op::Flatten => {
                if first.is_empty() {
                    return Err("cannot flatten a scalar".into());
                }
                Ok(vec![first[0], first[1..].iter().product()])
            }
            Op::Add => {
                if inputs.len() < 2 {
                    return Err("add needs at least two inputs".into());
                }
                if let Some(other) = inputs.iter().find(|s| *s != &first) {
                    return Err(format!("cannot add shapes {first:?} and {other:?}"));
                }
                Ok(first.to_vec())
            }
            Op::MeanPool => {
                want_rank(3)?;
                if inputs[1] != &first[..2] {
                    return Err(format!(
                        "mask has shape {:?}, expected {:?}",
                        inputs[1],
                        &first[..2]
                    ));
                }
                Ok(vec![first[0], first[2]])
            }
            Op::SelectToken { index } => {
                want_rank(3)?;
                if *index >= first[1] {
                    return Err(format!("token {index} out of range for {first:?}"));
                }
                Ok(vec![first[0], first[2]])
            }
            Op::Constant(c) => Ok(c.value.dims().to_vec()),
            Op::Tensor(t) => t.output_shape(inputs, batch),
            Op::InstanceNorm(n) => {
                want_rank(4)?;
                if first[1] != n.channels() {
                    return Err(format!("expected {} channels, got {first:?}", n.channels()));
                }
                Ok(first.to_vec())
            }
            Op::ConvTranspose2d(c) => {
                want_rank(4)?;
                if first[1] != c.in_channels() {
                    return Err(format!(
                        "expected {} input channels, got shape {first:?}",
                        c.in_channels()
                    ));
                }
                let (oh, ow) = c
                    .out_hw(first[2], first[3])
                    .ok_or_else(|| format!("input {first:?} is too small for the padding"))?;
                Ok(vec![first[0], c.out_channels(), oh, ow])
            }
        }
    }

    /// Multiply-accumulates for one forward pass with these input and output shapes.
    ///
    /// Linear and convolution layers count one MAC per weight use; attention counts the two
    /// batched matrix products `QKᵀ` and `AV`. Element-wise ops, normalisation and pooling count
    /// none, as published MAC figures (torchvision, the MobileNetV2 paper) do.
    pub fn macs(&self, inputs: &[&[usize]], output: &[usize]) -> u64 {
        let prod = |s: &[usize]| s.iter().map(|&d| d as u64).product::<u64>();
        match self {
            Op::Linear(l) => {
                prod(&output[..output.len() - 1]) * l.in_features() as u64 * l.out_features() as u64
            }
            Op::Conv2d(c) => {
                let (kh, kw) = c.kernel();
                prod(output) * (c.in_channels() / c.groups) as u64 * (kh * kw) as u64
            }
            Op::Attention(_) => {
                let (b, t, hidden) =
                    (inputs[0][0] as u64, inputs[0][1] as u64, inputs[0][2] as u64);
                2 * b * t * t * hidden
            }
            Op::ConvTranspose2d(c) => {
                // Every input pixel scatters one kernel of outputs per output channel.
                let (kh, kw) = (c.weight.dims()[2], c.weight.dims()[3]);
                prod(inputs[0]) * (c.out_channels() * kh * kw) as u64
            }
            Op::Tensor(t) => t.macs(inputs, output),
            _ => 0,
        }
    }

    /// Runs the op. `train` selects batch statistics for BatchNorm (returned in `stats`) and
    /// differentiable kernels where candle's fast ones have no backward pass.
    pub(crate) fn forward(
        &self,
        node: usize,
        xs: &[&Tensor],
        train: bool,
        batch: usize,
        stats: &mut Vec<BatchStats>,
    ) -> candle_core::Result<Tensor> {
        match self {
            Op::Constant(c) => return Ok(c.value.clone()),
            Op::Tensor(t) => return t.forward(xs, batch),
            _ => {}
        }
        let x = xs[0];
        match self {
            Op::Linear(l) => l.forward(x),
            Op::Conv2d(c) => c.forward(x, train),
            Op::BatchNorm2d(bn) if train => {
                let (ys, mean, var) = bn.forward_train(x)?;
                stats.push(BatchStats { node, mean, var });
                Ok(ys)
            }
            Op::BatchNorm2d(bn) => bn.forward(x),
            Op::LayerNorm(ln) => ln.forward(x, train),
            Op::Embedding(e) => e.forward(x),
            Op::Attention(a) => a.forward(x, xs[1], xs[2], xs[3], train),
            Op::Relu => x.relu(),
            Op::Relu6 => x.clamp(0f32, 6f32),
            Op::Gelu => x.gelu_erf(),
            Op::Tanh => x.tanh(),
            Op::MaxPool2d(p) => p.forward(x, true),
            Op::AvgPool2d(p) => p.forward(x, false),
            Op::AdaptiveAvgPool2d { output } => adaptive_avg_pool(x, *output),
            Op::Flatten => x.flatten_from(1),
            Op::Add => {
                let mut acc = x.clone();
                for other in &xs[1..] {
                    acc = (acc + *other)?;
                }
                Ok(acc)
            }
            Op::Softmax => {
                if train {
                    candle_nn::ops::softmax(x, D::Minus1)
                } else {
                    candle_nn::ops::softmax_last_dim(&x.contiguous()?)
                }
            }
            Op::MeanPool => {
                let mask = xs[1].to_dtype(DType::F32)?.unsqueeze(2)?;
                let summed = x.broadcast_mul(&mask)?.sum(1)?;
                let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
                summed.broadcast_div(&counts)
            }
            Op::L2Normalize => {
                let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
                x.broadcast_div(&norm)
            }
            Op::SelectToken { index } => x.narrow(1, *index, 1)?.squeeze(1),
            Op::FakeQuant(fq) => fq.forward(x, train),
            Op::InstanceNorm(n) => n.forward(x),
            Op::ConvTranspose2d(c) => c.forward(x),
            Op::Constant(_) | Op::Tensor(_) => unreachable!("handled above"),
        }
    }
}

/// Checks that a tensor read from `origin` has the shape a layer expects.
pub(crate) fn check_shape(
    origin: &std::path::Path,
    name: &str,
    tensor: &Tensor,
    expected: &[usize],
) -> Result<()> {
    if tensor.dims() != expected {
        return Err(Error::TensorShape {
            path: origin.to_path_buf(),
            name: name.to_string(),
            expected: expected.to_vec(),
            found: tensor.dims().to_vec(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn t(data: &[f32], shape: &[usize]) -> Tensor {
        Tensor::from_slice(data, shape, &Device::Cpu).unwrap()
    }

    fn run(op: &Op, xs: &[&Tensor]) -> Vec<f32> {
        op.forward(0, xs, false, 1, &mut Vec::new())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-4 * (1.0 + y.abs()), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn linear_matches_hand_computation() {
        // W = [[1, 2], [3, 4], [5, 6]], b = [0.5, -1, 0], x = [1, -1]:
        // y = [1-2+0.5, 3-4-1, 5-6+0] = [-0.5, -2, -1].
        let op = Op::Linear(Linear::new(
            t(&[1., 2., 3., 4., 5., 6.], &[3, 2]),
            Some(t(&[0.5, -1., 0.], &[3])),
        ));
        close(&run(&op, &[&t(&[1., -1.], &[1, 2])]), &[-0.5, -2., -1.]);
        // Rank 3 input, two tokens.
        close(&run(&op, &[&t(&[1., -1., 0., 1.], &[1, 2, 2])]), &[-0.5, -2., -1., 2.5, 3., 6.]);
        assert_eq!(op.output_shape(&[&[4, 7, 2]], 1).unwrap(), vec![4, 7, 3]);
        assert_eq!(op.macs(&[&[4, 7, 2]], &[4, 7, 3]), 4 * 7 * 2 * 3);
        assert_eq!(op.n_params(), 9);
    }

    #[test]
    fn conv_padding_stride_and_depthwise_by_hand() {
        // 3×3 input 1..9, 2×2 kernel of ones, stride 1, no padding: window sums.
        let x = t(&[1., 2., 3., 4., 5., 6., 7., 8., 9.], &[1, 1, 3, 3]);
        let conv = |weight: Tensor, stride, padding, groups| {
            Op::Conv2d(Conv2d { weight, bias: None, stride, padding, dilation: 1, groups })
        };
        let ones = t(&[1.; 4], &[1, 1, 2, 2]);
        close(&run(&conv(ones.clone(), (1, 1), (0, 0), 1), &[&x]), &[12., 16., 24., 28.]);
        // Padding 1, stride 2: windows at (-1,-1), (-1,1), (1,-1), (1,1).
        close(&run(&conv(ones.clone(), (2, 2), (1, 1), 1), &[&x]), &[1., 5., 11., 28.]);
        // Asymmetric padding (1, 0) and stride (2, 1) go through the hand-padded path.
        // Rows padded: [0,0,0],[1,2,3],[4,5,6],[7,8,9],[0,0,0]; windows at rows 0 and 2.
        let op = conv(ones, (2, 1), (1, 0), 1);
        assert_eq!(op.output_shape(&[&[1, 1, 3, 3]], 1).unwrap(), vec![1, 1, 2, 2]);
        close(&run(&op, &[&x]), &[3., 5., 24., 28.]);
        // Depthwise: two channels, each with its own 1×1 scale.
        let x2 = t(&[1., 2., 3., 4., 10., 20., 30., 40.], &[1, 2, 2, 2]);
        let dw = conv(t(&[2., -1.], &[2, 1, 1, 1]), (1, 1), (0, 0), 2);
        assert_eq!(dw.kind(), LayerKind::DepthwiseConv2d);
        close(&run(&dw, &[&x2]), &[2., 4., 6., 8., -10., -20., -30., -40.]);
        assert_eq!(dw.macs(&[&[1, 2, 2, 2]], &[1, 2, 2, 2]), 8);
    }

    #[test]
    fn im2col_training_path_equals_native_convolution() {
        let mut ws = crate::weights::WeightSource::random(5);
        let conv = ws.conv2d("c", 3, 4, 3, 1, 1, 1, true).unwrap();
        let x = ws.tensor("x", &[2, 3, 5, 6], crate::weights::Init::Uniform(1.0)).unwrap();
        let native =
            conv.forward(&x, false).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let im2col =
            conv.forward(&x, true).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        close(&im2col, &native);
    }

    #[test]
    fn batch_norm_inference_and_training_statistics() {
        let bn = BatchNorm2d {
            weight: t(&[2.], &[1]),
            bias: t(&[1.], &[1]),
            running_mean: t(&[3.], &[1]),
            running_var: t(&[4.], &[1]),
            eps: 0.0,
        };
        let x = t(&[1., 3., 5., 7.], &[1, 1, 2, 2]);
        // (x - 3) / 2 * 2 + 1 = x - 2.
        close(&run(&Op::BatchNorm2d(bn.clone()), &[&x]), &[-1., 1., 3., 5.]);
        let mut stats = Vec::new();
        let ys = Op::BatchNorm2d(bn).forward(7, &[&x], true, 1, &mut stats).unwrap();
        // Batch mean 4, biased variance (9+1+1+9)/4 = 5, unbiased 20/3.
        assert_eq!(stats[0].node, 7);
        close(&stats[0].mean.to_vec1::<f32>().unwrap(), &[4.]);
        close(&stats[0].var.to_vec1::<f32>().unwrap(), &[20. / 3.]);
        let s = 5f32.sqrt();
        close(
            &ys.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            &[-3. / s * 2. + 1., -1. / s * 2. + 1., 1. / s * 2. + 1., 3. / s * 2. + 1.],
        );
    }

    #[test]
    fn pooling_by_hand() {
        let x = t(&[1., 2., 3., 4., 5., 6., 7., 8., 9.], &[1, 1, 3, 3]);
        let p = Pool2d { kernel: (2, 2), stride: (1, 1), padding: (0, 0) };
        close(&run(&Op::MaxPool2d(p), &[&x]), &[5., 6., 8., 9.]);
        close(&run(&Op::AvgPool2d(p), &[&x]), &[3., 4., 6., 7.]);
        // Padding 1, stride 2: max pool ignores the −∞ border, avg pool counts zeros.
        let p = Pool2d { kernel: (2, 2), stride: (2, 2), padding: (1, 1) };
        close(&run(&Op::MaxPool2d(p), &[&x]), &[1., 3., 7., 9.]);
        close(&run(&Op::AvgPool2d(p), &[&x]), &[0.25, 1.25, 2.75, 7.]);
        // Adaptive to (2, 2) on 3×3 uses overlapping bins [0,2) and [1,3).
        close(&run(&Op::AdaptiveAvgPool2d { output: (2, 2) }, &[&x]), &[3., 4., 6., 7.]);
        close(&run(&Op::AdaptiveAvgPool2d { output: (1, 1) }, &[&x]), &[5.]);
    }

    #[test]
    fn activations_and_normalisations() {
        let x = t(&[-1., 0.5, 7.], &[1, 3]);
        close(&run(&Op::Relu, &[&x]), &[0., 0.5, 7.]);
        close(&run(&Op::Relu6, &[&x]), &[0., 0.5, 6.]);
        // GELU(x) = x Φ(x): Φ(-1) = 0.158655, Φ(0.5) = 0.691462, Φ(7) ≈ 1.
        close(&run(&Op::Gelu, &[&x]), &[-0.158655, 0.345731, 7.]);
        // softmax([-1, 0.5, 7]) by hand.
        let e: Vec<f32> = [-1f32, 0.5, 7.].iter().map(|v| v.exp()).collect();
        let s: f32 = e.iter().sum();
        close(&run(&Op::Softmax, &[&x]), &e.iter().map(|v| v / s).collect::<Vec<_>>());
        close(&run(&Op::L2Normalize, &[&t(&[3., 4.], &[1, 2])]), &[0.6, 0.8]);
        let ln = Op::LayerNorm(LayerNorm {
            weight: t(&[1., 1.], &[2]),
            bias: t(&[0., 1.], &[2]),
            eps: 0.,
        });
        close(&run(&ln, &[&t(&[1., 3.], &[1, 2])]), &[-1., 2.]);
    }

    #[test]
    fn fake_quant_rounds_to_the_grid_and_clamps() {
        // Unsigned 8-bit with scale 0.1 and zero point 10: -1.0 → 0, 0.26 → 13 → 0.3,
        // 30 → 255 (clamped) → 24.5.
        let fq = Op::FakeQuant(FakeQuant { scale: 0.1, zero_point: 10., q_min: 0., q_max: 255. });
        close(&run(&fq, &[&t(&[-1.0, 0.26, 30.0, -2.0], &[1, 4])]), &[-1.0, 0.3, 24.5, -1.0]);
    }

    #[test]
    fn masked_mean_pool_ignores_padding() {
        let x = t(&[1., 2., 3., 4., 100., 100.], &[1, 3, 2]);
        let mask = t(&[1., 1., 0.], &[1, 3]);
        close(&run(&Op::MeanPool, &[&x, &mask]), &[2., 3.]);
    }

    #[test]
    fn attention_with_one_head_by_hand() {
        // Two tokens, hidden 1, one head: scores = q k, softmax over keys, weighted sum of v.
        let q = t(&[1., 2.], &[1, 2, 1]);
        let k = t(&[0., 1.], &[1, 2, 1]);
        let v = t(&[10., 20.], &[1, 2, 1]);
        let mask = t(&[1., 1.], &[1, 2]);
        let op = Op::Attention(Attention { n_heads: 1 });
        let p1 = 1. / (1. + (-1f32).exp()); // token 0 attends with scores [0, 1]
        let p2 = 1. / (1. + (-2f32).exp()); // token 1 with scores [0, 2]
        close(&run(&op, &[&q, &k, &v, &mask]), &[10. + 10. * p1, 10. + 10. * p2]);
        // Masking the second key leaves only the first value.
        let mask = t(&[1., 0.], &[1, 2]);
        close(&run(&op, &[&q, &k, &v, &mask]), &[10., 10.]);
        assert_eq!(op.macs(&[&[1, 2, 1], &[1, 2, 1], &[1, 2, 1], &[1, 2]], &[1, 2, 1]), 8);
    }

    #[test]
    fn shape_errors_say_what_was_expected() {
        let op = Op::Linear(Linear::new(t(&[0.; 6], &[3, 2]), None));
        assert_eq!(
            op.output_shape(&[&[1, 5]], 1).unwrap_err(),
            "expected input [.., 2], got [1, 5]"
        );
        let op = Op::Add;
        assert!(op.output_shape(&[&[1, 2], &[1, 3]], 1).unwrap_err().contains("cannot add"));
    }
}
