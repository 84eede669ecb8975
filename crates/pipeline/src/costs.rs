//! From the model side to the hardware side: a graph's layers as [`LayerWorkload`]s, a plan
//! option as a [`LayerCompression`], and the cost of a whole (compressed) model on a device.

use std::collections::BTreeMap;

use sculpt_compress::{FloatFormat, Granularity, LayerOption, PruneKind};
use sculpt_hw::{
    ActivationPrecision, CostModel, Gemm, GroupSize, LayerCompression, LayerCost, LayerWorkload,
    ModelCost, NmPattern, Precision, QuantGranularity, Sparsity, SparsityRatio, WorkloadKind,
};
use sculpt_model::{Graph, Node, Op, TensorOp, UnaryFn, ValueRef};

use crate::error::{Error, Result};

/// One workload of a graph node (attention gives two).
#[derive(Clone, Debug)]
pub struct NodeWorkload {
    /// The graph node it belongs to.
    pub node: usize,
    /// The workload.
    pub workload: LayerWorkload,
}

fn prod(s: &[usize]) -> u64 {
    s.iter().map(|&d| d as u64).product()
}

/// The workloads of every costed node of `graph` for a batch (reshapes such as Flatten cost
/// nothing and are skipped).
pub fn graph_workloads(graph: &Graph, batch: usize, tokens: usize) -> Result<Vec<NodeWorkload>> {
    let shapes = graph.shapes(batch, tokens)?;
    let input_shapes = graph.input_shapes(batch, tokens);
    let live = graph.live_nodes();
    let mut out = Vec::new();
    for (idx, node) in graph.nodes().iter().enumerate() {
        if !live[idx] {
            continue;
        }
        let ins: Vec<&[usize]> =
            node.inputs.iter().map(|v| v.pick(&input_shapes, &shapes).as_slice()).collect();
        let o = &shapes[idx];
        let in_elems: u64 = ins.iter().map(|s| prod(s)).sum();
        let out_elems = prod(o);
        let simple = |kind: WorkloadKind, macs: u64, weight_elems: u64| LayerWorkload {
            name: node.name.clone(),
            kind,
            macs,
            weight_elems,
            in_act_elems: in_elems,
            out_act_elems: out_elems,
            gemm: None,
        };
        // Inference runtimes fold a BatchNorm into the convolution or Linear before it.
        if matches!(node.op, Op::BatchNorm2d(_))
            && matches!(node.inputs.first(), Some(ValueRef::Node(j)) if matches!(graph.nodes()[*j].op, Op::Conv2d(_) | Op::Linear(_)) && graph.consumers(*j).len() == 1)
        {
            continue;
        }
        let w = match &node.op {
            Op::Linear(l) => {
                let m = prod(&o[..o.len() - 1]);
                let mut wl = LayerWorkload::linear(
                    &node.name,
                    m,
                    l.in_features() as u64,
                    l.out_features() as u64,
                );
                wl.weight_elems = node.op.n_params();
                vec![wl]
            }
            Op::Conv2d(c) => {
                let (kh, kw) = c.kernel();
                let groups = c.groups as u64;
                let gemm = Gemm {
                    m: (o[0] * o[2] * o[3]) as u64,
                    n: c.out_channels() as u64 / groups,
                    k: (c.in_channels() / c.groups * kh * kw) as u64,
                    groups,
                };
                vec![LayerWorkload {
                    name: node.name.clone(),
                    kind: if c.is_depthwise() {
                        WorkloadKind::DepthwiseConv2d
                    } else {
                        WorkloadKind::Conv2d
                    },
                    macs: gemm.macs(),
                    weight_elems: node.op.n_params(),
                    in_act_elems: in_elems,
                    out_act_elems: out_elems,
                    gemm: Some(gemm),
                }]
            }
            Op::Attention(a) => {
                let (b, t, hidden) = (ins[0][0] as u64, ins[0][1] as u64, ins[0][2] as u64);
                let h = a.n_heads as u64;
                let d = hidden / h;
                let qk = Gemm { m: t, n: t, k: d, groups: b * h };
                let av = Gemm { m: t, n: d, k: t, groups: b * h };
                vec![
                    LayerWorkload {
                        name: format!("{}.qk", node.name),
                        kind: WorkloadKind::Attention,
                        macs: qk.macs(),
                        weight_elems: 0,
                        in_act_elems: 2 * b * t * hidden,
                        out_act_elems: b * h * t * t,
                        gemm: Some(qk),
                    },
                    LayerWorkload {
                        name: format!("{}.av", node.name),
                        kind: WorkloadKind::Attention,
                        macs: av.macs(),
                        weight_elems: 0,
                        in_act_elems: b * h * t * t + b * t * hidden,
                        out_act_elems: b * t * hidden,
                        gemm: Some(av),
                    },
                ]
            }
            Op::BatchNorm2d(_) | Op::LayerNorm(_) => {
                vec![simple(WorkloadKind::Norm, out_elems, node.op.n_params())]
            }
            Op::Relu | Op::Relu6 | Op::Gelu | Op::Tanh => {
                vec![simple(WorkloadKind::Activation, out_elems, 0)]
            }
            Op::Softmax => vec![simple(WorkloadKind::Softmax, out_elems, 0)],
            Op::MaxPool2d(_) | Op::AvgPool2d(_) | Op::AdaptiveAvgPool2d { .. } | Op::MeanPool => {
                vec![simple(WorkloadKind::Pool, prod(ins[0]), 0)]
            }
            Op::Add => {
                vec![simple(WorkloadKind::Elementwise, out_elems * (ins.len() as u64 - 1), 0)]
            }
            Op::L2Normalize | Op::FakeQuant(_) => {
                vec![simple(WorkloadKind::Elementwise, out_elems, 0)]
            }
            Op::Embedding(e) => {
                let mut w = simple(WorkloadKind::Embedding, 0, e.weight.elem_count() as u64);
                w.in_act_elems = in_elems;
                vec![w]
            }
            Op::InstanceNorm(_) => vec![simple(WorkloadKind::Norm, out_elems, node.op.n_params())],
            Op::ConvTranspose2d(c) => {
                // Each input pixel multiplies the input channels into a kernel of outputs.
                let (kh, kw) = (c.weight.dims()[2], c.weight.dims()[3]);
                let gemm = Gemm {
                    m: (ins[0][0] * ins[0][2] * ins[0][3]) as u64,
                    n: (c.out_channels() * kh * kw) as u64,
                    k: c.in_channels() as u64,
                    groups: 1,
                };
                vec![LayerWorkload {
                    name: node.name.clone(),
                    kind: WorkloadKind::Conv2d,
                    macs: gemm.macs(),
                    weight_elems: node.op.n_params(),
                    in_act_elems: in_elems,
                    out_act_elems: out_elems,
                    gemm: Some(gemm),
                }]
            }
            // A weight of the exported model kept as a constant (a position table, a class
            // token) is read once per inference.
            Op::Constant(c) if c.trainable => {
                let mut w = simple(WorkloadKind::Other, 0, c.value.elem_count() as u64);
                w.in_act_elems = 0;
                vec![w]
            }
            Op::Tensor(t) => tensor_workloads(t, node, &ins, o, &simple),
            _ => Vec::new(),
        };
        out.extend(w.into_iter().map(|workload| NodeWorkload { node: idx, workload }));
    }
    Ok(out)
}

/// The workloads of a general tensor operation: a matrix product of activations is a GEMM (as
/// attention's are), element-wise and normalising ops are vector work, and data movement costs
/// its bytes; a reshape costs nothing.
fn tensor_workloads(
    t: &TensorOp,
    node: &Node,
    ins: &[&[usize]],
    out: &[usize],
    simple: &dyn Fn(WorkloadKind, u64, u64) -> LayerWorkload,
) -> Vec<LayerWorkload> {
    let out_elems = prod(out);
    match t {
        TensorOp::MatMul => {
            let (a, b) = (ins[0], ins[1]);
            let k = *a.last().unwrap_or(&1) as u64;
            let m = if a.len() >= 2 { a[a.len() - 2] as u64 } else { 1 };
            let n = if b.len() >= 2 { b[b.len() - 1] as u64 } else { 1 };
            let groups = (out_elems / (m * n).max(1)).max(1);
            let gemm = Gemm { m, n, k, groups };
            let mut w = simple(WorkloadKind::Attention, gemm.macs(), 0);
            w.gemm = Some(gemm);
            w.name = node.name.clone();
            vec![w]
        }
        TensorOp::Unary { f } => {
            let kind = match f {
                UnaryFn::Sigmoid
                | UnaryFn::Erf
                | UnaryFn::HardSwish
                | UnaryFn::Relu
                | UnaryFn::LeakyRelu { .. }
                | UnaryFn::Clip { .. }
                | UnaryFn::HardSigmoid { .. }
                | UnaryFn::Elu { .. }
                | UnaryFn::Gelu { .. }
                | UnaryFn::Softplus => WorkloadKind::Activation,
                _ => WorkloadKind::Elementwise,
            };
            vec![simple(kind, out_elems, 0)]
        }
        TensorOp::Binary { .. } | TensorOp::Where => {
            vec![simple(WorkloadKind::Elementwise, out_elems, 0)]
        }
        TensorOp::Reduce { .. } => vec![simple(WorkloadKind::Elementwise, prod(ins[0]), 0)],
        TensorOp::Softmax { .. } => vec![simple(WorkloadKind::Softmax, out_elems, 0)],
        TensorOp::Reshape { .. } | TensorOp::Fill { .. } => Vec::new(),
        TensorOp::Transpose { .. }
        | TensorOp::Concat { .. }
        | TensorOp::Slice { .. }
        | TensorOp::Gather { .. }
        | TensorOp::GatherDyn { .. }
        | TensorOp::Expand { .. }
        | TensorOp::Pad { .. }
        | TensorOp::Resize { .. } => vec![simple(WorkloadKind::Other, 0, 0)],
    }
}

/// Every weight at int8 per output channel: what the baseline is costed at on a device that
/// rejects fp32 (an int8-only NPU cannot run the uncompressed model at all).
pub(crate) fn int8_baseline_option() -> LayerOption {
    LayerOption {
        quant: Some(sculpt_compress::Quant {
            weight_bits: Some(8),
            act_bits: None,
            granularity: Granularity::PerChannel,
            group_size: None,
            symmetric: true,
            float: None,
            clip: Default::default(),
            act_calibration: Default::default(),
        }),
        ..LayerOption::default()
    }
}

/// The hardware view of a plan option (weight format, scale sharing, activation format,
/// sparsity). Channel pruning and low-rank change shapes instead; see [`option_workloads`].
pub fn layer_compression(option: &LayerOption) -> Result<LayerCompression> {
    let mut c = LayerCompression::FP32;
    if let Some(q) = &option.quant {
        c.weights = match (q.weight_bits.unwrap_or(32), q.float) {
            (32, _) => Precision::Fp32,
            (16, Some(FloatFormat::Bf16)) => Precision::Bf16,
            (16, _) => Precision::Fp16,
            (8, _) => Precision::Int8,
            (6, _) => Precision::Int6,
            (4, _) => Precision::Int4,
            (3, _) => Precision::Int3,
            (2, _) => Precision::Int2,
            (b, _) => {
                return Err(Error::Invalid {
                    msg: format!("{b}-bit weights have no hardware precision"),
                });
            }
        };
        c.granularity = match q.granularity {
            Granularity::PerTensor => QuantGranularity::PerTensor,
            Granularity::PerChannel => QuantGranularity::PerChannel,
            Granularity::PerGroup => QuantGranularity::PerGroup(
                GroupSize::new(q.group_size.unwrap_or(32) as u32)
                    .ok_or_else(|| Error::Invalid { msg: "group size 0".into() })?,
            ),
        };
        c.activations = match q.act_bits {
            Some(8) => ActivationPrecision::Int8,
            Some(16) => ActivationPrecision::Fp16,
            _ => ActivationPrecision::Fp32,
        };
    }
    if let Some(p) = &option.prune {
        c.sparsity = match p.kind {
            PruneKind::Magnitude => match SparsityRatio::new(p.ratio.unwrap_or(0.0)) {
                Some(r) if r.get() > 0.0 => Sparsity::Unstructured(r),
                _ => Sparsity::Dense,
            },
            PruneKind::NM => Sparsity::Nm(
                NmPattern::new(p.n.unwrap_or(2) as u32, p.m.unwrap_or(4) as u32)
                    .ok_or_else(|| Error::Invalid { msg: "invalid N:M pattern".into() })?,
            ),
            PruneKind::Channel | PruneKind::Head => Sparsity::Dense,
        };
    }
    Ok(c)
}

/// The workloads of one layer under one option, for additive cost tables: channel pruning
/// shrinks the layer's own outputs, head pruning the attention products, low-rank splits a
/// Linear or Conv into its two factors. The savings in *other* layers (a consumer reading fewer
/// channels) are not attributed here; the front is costed again on the real compressed graph.
pub fn option_workloads(
    base: &[LayerWorkload],
    op: &Op,
    option: &LayerOption,
) -> Result<Vec<(LayerWorkload, LayerCompression)>> {
    let comp = layer_compression(option)?;
    let keep_share = match &option.prune {
        Some(p) if matches!(p.kind, PruneKind::Channel | PruneKind::Head) => {
            1.0 - p.ratio.unwrap_or(0.0)
        }
        _ => 1.0,
    };
    let mut out = Vec::new();
    for w in base {
        let mut w = w.clone();
        if keep_share < 1.0 {
            shrink_outputs(&mut w, keep_share, matches!(op, Op::Attention(_)));
        }
        if let (Some(r), Some(g)) = (&option.rank, w.gemm) {
            let full = sculpt_compress::full_rank(op).unwrap_or(g.n.min(g.k) as usize);
            let rank = if let Some(k) = r.rank {
                k
            } else if let Some(x) = r.ratio {
                ((x * full as f64).round() as usize).clamp(1, full)
            } else {
                // Energy-based ranks depend on the weights; use the singular values.
                let sv = sculpt_compress::singular_values(op)?;
                sculpt_compress::choose_rank(r, &sv)
            } as u64;
            let (first, second) = split_low_rank(&w, g, rank, op);
            out.push((first, comp));
            out.push((second, comp));
            continue;
        }
        out.push((w, comp));
    }
    Ok(out)
}

fn shrink_outputs(w: &mut LayerWorkload, keep: f64, attention: bool) {
    let scale = |v: u64| ((v as f64) * keep).round().max(1.0) as u64;
    if let Some(g) = w.gemm.as_mut() {
        if attention {
            // Fewer heads: fewer independent products.
            g.groups = scale(g.groups);
        } else {
            g.n = scale(g.n);
        }
        w.macs = g.macs();
    } else {
        w.macs = scale(w.macs);
    }
    w.weight_elems = scale(w.weight_elems);
    w.out_act_elems = scale(w.out_act_elems);
    if attention {
        w.in_act_elems = scale(w.in_act_elems);
    }
}

/// A GEMM `M×K · K×N` factorised at rank `r` into `M×K · K×r` then `M×r · r×N`. For a spatial
/// k×k Conv the first factor is k×1 (reduction in·kh) and the second 1×k (reduction r·kw).
fn split_low_rank(w: &LayerWorkload, g: Gemm, r: u64, op: &Op) -> (LayerWorkload, LayerWorkload) {
    let (k1, k2) = match op {
        Op::Conv2d(c) if c.kernel() != (1, 1) => {
            let (kh, kw) = c.kernel();
            ((c.in_channels() * kh) as u64, r * kw as u64)
        }
        _ => (g.k, r),
    };
    let g1 = Gemm { m: g.m, n: r, k: k1, groups: 1 };
    let g2 = Gemm { m: g.m, n: g.n, k: k2, groups: 1 };
    let first = LayerWorkload {
        name: format!("{}.lr", w.name),
        kind: w.kind,
        macs: g1.macs(),
        weight_elems: k1 * r,
        in_act_elems: w.in_act_elems,
        out_act_elems: g.m * r,
        gemm: Some(g1),
    };
    let second = LayerWorkload {
        name: w.name.clone(),
        kind: w.kind,
        macs: g2.macs(),
        weight_elems: k2 * g.n,
        in_act_elems: g.m * r,
        out_act_elems: w.out_act_elems,
        gemm: Some(g2),
    };
    (first, second)
}

/// The cost of a (possibly already compressed) graph on a device, each node with the
/// compression its weights are stored in (`options` by node name; missing = fp32).
pub fn graph_cost(
    graph: &Graph,
    options: &BTreeMap<String, LayerOption>,
    cost_model: &CostModel,
    batch: usize,
    tokens: usize,
) -> Result<(ModelCost, Vec<NodeWorkload>)> {
    let workloads = graph_workloads(graph, batch, tokens)?;
    let fallback = default_activation_precision(cost_model);
    let mut layers = Vec::with_capacity(workloads.len());
    // Layers without weights move activations in the format of the last weighted layer before
    // them (or the device's native format when it has no fp32).
    let mut current = fallback;
    for nw in &workloads {
        let name = &graph.nodes()[nw.node].name;
        let base = name.strip_suffix(".lr").unwrap_or(name);
        let comp = match options.get(base) {
            // Structure is already in the graph: only formats and sparsity remain.
            Some(o) => layer_compression(o)?,
            None => LayerCompression::FP32,
        };
        let comp = runtime_compression(cost_model, &graph.nodes()[nw.node].op, comp);
        let comp = if nw.workload.weight_elems == 0 {
            LayerCompression { activations: current, ..comp }
        } else {
            current = match comp.activations {
                ActivationPrecision::Fp32 => fallback,
                a => a,
            };
            comp
        };
        layers.push((nw.workload.clone(), comp));
    }
    Ok((cost_model.model_cost(&layers)?, workloads))
}

/// Profiles with `runtime: candle` describe sculpt's own candle runtime on this CPU, which has
/// quantized kernels only for Linear layers whose input width fits candle's blocks (32 values;
/// 256 for the k-quants) and no sparse or quantized convolutions. On that profile a layer is
/// costed with the kernel it will really get: quantized convolutions and misfit Linear layers at
/// fp32, sparsity ignored.
pub fn runtime_compression(
    cost_model: &CostModel,
    op: &Op,
    comp: LayerCompression,
) -> LayerCompression {
    if cost_model.profile().runtime() != Some(sculpt_hw::Runtime::Candle) {
        return comp;
    }
    let mut c = LayerCompression { sparsity: Sparsity::Dense, ..comp };
    let inner = match op {
        Op::Linear(l) => Some(l.in_features()),
        _ => None,
    };
    c.weights = match (inner, comp.weights) {
        (_, Precision::Fp32 | Precision::Fp16 | Precision::Bf16) => Precision::Fp32,
        (None, _) => Precision::Fp32,
        (Some(k), _) if k % 32 != 0 => Precision::Fp32,
        (Some(_), Precision::Int8) => Precision::Int8,
        (Some(k), Precision::Int6) => {
            if k % 256 == 0 {
                Precision::Int6
            } else {
                Precision::Int8
            }
        }
        (Some(_), p) => p,
    };
    if c.weights == Precision::Fp32 {
        c.granularity = QuantGranularity::PerTensor;
    }
    c
}

/// The activation format weight-less layers use by default: fp32 when the device runs it
/// natively, else its first native format among fp16, bf16 and int8.
pub fn default_activation_precision(cost_model: &CostModel) -> ActivationPrecision {
    use sculpt_hw::PrecisionSupport;
    let native =
        |p: Precision| matches!(cost_model.profile().precision(p), PrecisionSupport::Native { .. });
    [
        (Precision::Fp32, ActivationPrecision::Fp32),
        (Precision::Fp16, ActivationPrecision::Fp16),
        (Precision::Bf16, ActivationPrecision::Bf16),
        (Precision::Int8, ActivationPrecision::Int8),
    ]
    .into_iter()
    .find(|(p, _)| native(*p))
    .map_or(ActivationPrecision::Fp32, |(_, a)| a)
}

/// Sums per-layer costs by graph node (attention's two products become one row).
pub fn costs_by_node(cost: &ModelCost, workloads: &[NodeWorkload]) -> Vec<(usize, Vec<LayerCost>)> {
    let mut out: Vec<(usize, Vec<LayerCost>)> = Vec::new();
    for (lc, nw) in cost.layers.iter().zip(workloads) {
        match out.last_mut() {
            Some((n, v)) if *n == nw.node => v.push(lc.clone()),
            _ => out.push((nw.node, vec![lc.clone()])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_cnn_workloads_match_the_profile() {
        let m = sculpt_model::load_model("builtin:demo-cnn").unwrap();
        let w = graph_workloads(&m.graph, 2, 0).unwrap();
        let conv2 = w.iter().find(|n| n.workload.name == "conv2").unwrap();
        // M = 2·14·14, N = 64, K = 32·9.
        assert_eq!(conv2.workload.gemm, Some(Gemm { m: 392, n: 64, k: 288, groups: 1 }));
        let p = sculpt_model::profile(&m.graph, 2, 0).unwrap();
        let gemm_macs: u64 =
            w.iter().filter(|n| n.workload.gemm.is_some()).map(|n| n.workload.macs).sum();
        assert_eq!(gemm_macs, p.total.macs);
    }

    #[test]
    fn low_rank_and_channel_options_shrink_by_hand() {
        let m = sculpt_model::load_model("builtin:demo-cnn").unwrap();
        let idx = m.graph.node_index("fc1").unwrap();
        let base: Vec<LayerWorkload> = graph_workloads(&m.graph, 1, 0)
            .unwrap()
            .into_iter()
            .filter(|n| n.node == idx)
            .map(|n| n.workload)
            .collect();
        let half_rank: LayerOption =
            sculpt_yaml::from_str("rank: {ratio: 0.5}\n", "o".as_ref()).unwrap();
        let parts = option_workloads(&base, &m.graph.nodes()[idx].op, &half_rank).unwrap();
        assert_eq!(parts.len(), 2);
        // 3136 → 64 → 128.
        assert_eq!(parts[0].0.macs, 3136 * 64);
        assert_eq!(parts[1].0.macs, 64 * 128);
        let ch: LayerOption =
            sculpt_yaml::from_str("prune: {kind: channel, ratio: 0.25}\n", "o".as_ref()).unwrap();
        let parts = option_workloads(&base, &m.graph.nodes()[idx].op, &ch).unwrap();
        assert_eq!(parts[0].0.macs, 3136 * 96);
    }
}
