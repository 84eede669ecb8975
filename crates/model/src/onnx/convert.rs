//! One ONNX node into IR nodes (or a folded constant).

use candle_core::{DType, Device, Tensor};
use sculpt_onnx::proto::{NodeProto, data_type};

use super::{Attrs, Importer, Problem, Step, Val, constant, dim_of, tensor_of, values_of};
use crate::ops::{BatchNorm2d, Conv2d, Embedding, LayerNorm, Linear, Op, Pool2d};
use crate::tensor_ops::{
    BinaryFn, ConvTranspose2d, Dim, InstanceNorm, ReduceFn, ReshapeDim, ResizeMode, TensorOp,
    UnaryFn,
};

fn unsupported<T>(msg: impl Into<String>) -> Step<T> {
    Err(Problem::Unsupported(msg.into()))
}

fn fatal<T>(msg: impl Into<String>) -> Step<T> {
    Err(Problem::Fatal(msg.into()))
}

/// A possibly negative axis of a rank-`rank` value, made non-negative.
fn axis(a: i64, rank: usize) -> Step<usize> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r.max(1)).contains(&v) || (rank == 0 && v == 0) {
        Ok(v as usize)
    } else {
        fatal(format!("axis {a} of a rank-{rank} value"))
    }
}

fn float_type(t: i64) -> bool {
    matches!(
        t as i32,
        data_type::FLOAT | data_type::FLOAT16 | data_type::BFLOAT16 | data_type::DOUBLE
    )
}

/// A layer name for a node with constant weights: the node's name, or its weight initializer's
/// name (without a trailing `.weight`) when the node has none.
fn layer_name(node: &NodeProto, index: usize, weight_input: usize) -> String {
    if let Some(n) = node.name.as_deref().filter(|n| !n.is_empty()) {
        return n.to_string();
    }
    match node.input.get(weight_input).filter(|w| !w.is_empty()) {
        Some(w) => w.strip_suffix(".weight").unwrap_or(w).to_string(),
        None => format!("{}_{index}", node.op_type.as_deref().unwrap_or("node")),
    }
}

/// The integer values of a constant input, equal at both batch sizes.
fn fixed_ints(v: &Val, what: &str) -> Step<Vec<i64>> {
    let (Some(a), Some(b)) = (values_of(v, 0), values_of(v, 1)) else {
        return unsupported(format!("{what} must be a constant (computed at import)"));
    };
    if a != b {
        return unsupported(format!("{what} depends on the batch size"));
    }
    Ok(a.iter().map(|&x| x as i64).collect())
}

/// The default-domain operators the importer converts (some with limits on their attributes).
pub(crate) const SUPPORTED_OPS: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "CastLike",
    "Ceil",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Cos",
    "Div",
    "Dropout",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Greater",
    "GreaterOrEqual",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "InstanceNormalization",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "MatMul",
    "Max",
    "MaxPool",
    "Mean",
    "Min",
    "Mul",
    "Neg",
    "Not",
    "Or",
    "Pad",
    "Pow",
    "Range",
    "Reciprocal",
    "ReduceL2",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Resize",
    "Round",
    "Shape",
    "Sigmoid",
    "Sign",
    "Sin",
    "Size",
    "Slice",
    "Softmax",
    "Softplus",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tanh",
    "Tile",
    "Transpose",
    "Unsqueeze",
    "Where",
];

/// The fewest inputs a node of `op_type` must list (optional inputs may still be empty names).
fn min_inputs(op_type: &str) -> usize {
    match op_type {
        "Constant" => 0,
        "Where" | "Range" | "InstanceNormalization" => 3,
        "BatchNormalization" => 5,
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Equal" | "Less" | "LessOrEqual" | "Greater"
        | "GreaterOrEqual" | "And" | "Or" | "MatMul" | "Gemm" | "Conv" | "ConvTranspose"
        | "LayerNormalization" | "Gather" | "Pad" | "Expand" | "Tile" | "Reshape" | "CastLike" => 2,
        _ => 1,
    }
}

impl Importer<'_> {
    pub(crate) fn convert(&mut self, i: usize, node: &NodeProto) -> Step<Vec<Val>> {
        let op_type = node.op_type.clone().unwrap_or_default();
        let domain = node.domain.as_deref().unwrap_or("");
        if !(domain.is_empty() || domain == "ai.onnx") {
            return unsupported(format!("operator `{domain}.{op_type}` (custom domain)"));
        }
        let name =
            node.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| format!("{op_type}_{i}"));
        let needed = min_inputs(&op_type);
        if node.input.len() < needed || node.output.is_empty() {
            return Err(Problem::Fatal(format!(
                "{} has {} input{} and {} output{}; {op_type} takes at least {needed} input{} and \
                 one output",
                super::node_label(node, i),
                node.input.len(),
                if node.input.len() == 1 { "" } else { "s" },
                node.output.len(),
                if node.output.len() == 1 { "" } else { "s" },
                if needed == 1 { "" } else { "s" },
            )));
        }
        let a = Attrs(node);
        let mut args = Vec::with_capacity(node.input.len());
        for n in &node.input {
            args.push(self.get(n, i)?);
        }
        let inp = |k: usize| node.input.get(k).map(String::as_str).unwrap_or("");
        let arg = |k: usize| args.get(k).cloned().unwrap_or(Val::Absent);
        let one = |v: Val| Ok(vec![v]);
        match op_type.as_str() {
            "Identity" => one(arg(0)),
            "Dropout" => {
                if node.output.len() > 1 && self.readers.contains_key(node.output[1].as_str()) {
                    return unsupported("Dropout's mask output is read");
                }
                Ok(vec![arg(0), Val::Absent])
            }
            "Constant" => one(self.constant_node(&a)?),
            "Shape" => {
                let v = arg(0);
                let rank = v.shape(0).len() as i64;
                let norm = |x: i64| (if x < 0 { x + rank } else { x }).clamp(0, rank) as usize;
                let start = norm(a.int("start").unwrap_or(0));
                let end = norm(a.int("end").unwrap_or(rank));
                let s: Vec<Tensor> = (0..2)
                    .map(|k| {
                        let dims: Vec<f32> =
                            v.shape(k)[start..end.max(start)].iter().map(|&d| d as f32).collect();
                        let n = dims.len();
                        Tensor::from_vec(dims, n, &Device::Cpu)
                    })
                    .collect::<candle_core::Result<_>>()?;
                one(Val::Const { v: [s[0].clone(), s[1].clone()], int: true, weight: false })
            }
            "Size" => {
                let v = arg(0);
                let s: Vec<Tensor> = (0..2)
                    .map(|k| Tensor::new(v.shape(k).iter().product::<usize>() as f32, &Device::Cpu))
                    .collect::<candle_core::Result<_>>()?;
                one(Val::Const { v: [s[0].clone(), s[1].clone()], int: true, weight: false })
            }
            "Cast" | "CastLike" => {
                let to_float = if op_type == "Cast" {
                    float_type(a.int("to").unwrap_or(1))
                } else {
                    !arg(1).is_int()
                };
                let to_bool = op_type == "Cast" && a.int("to") == Some(data_type::BOOL as i64);
                let v = arg(0);
                if to_bool {
                    return one(self.unary(&name, inp(0), &v, UnaryFn::NonZero, true)?);
                }
                match (to_float, v.is_int()) {
                    (true, _) => one(with_int(v, false)),
                    (false, true) => one(v),
                    (false, false) => one(self.unary(&name, inp(0), &v, UnaryFn::Trunc, true)?),
                }
            }
            "ConstantOfShape" => {
                let value = match a.tensor("value") {
                    Some(t) => self.onnx.tensor(t).map_err(|e| Problem::Fatal(e.to_string()))?,
                    None => sculpt_onnx::HostTensor {
                        name: String::new(),
                        dims: vec![1],
                        data_type: data_type::FLOAT,
                        values: sculpt_onnx::Values::F32(vec![0.0]),
                    },
                };
                let fill = value.values.to_f32().first().copied().unwrap_or(0.0);
                let int = matches!(value.values, sculpt_onnx::Values::I64(_));
                let s = arg(0);
                let mut v = Vec::new();
                for k in 0..2 {
                    let dims: Vec<usize> = values_of(&s, k)
                        .ok_or_else(|| {
                            Problem::Unsupported(
                                "ConstantOfShape of a shape known only at run time".into(),
                            )
                        })?
                        .iter()
                        .map(|&d| d as usize)
                        .collect();
                    v.push(Tensor::full(fill, dims.as_slice(), &Device::Cpu)?);
                }
                one(Val::Const { v: [v[0].clone(), v[1].clone()], int, weight: false })
            }
            "Range" => {
                let (s, l, d) = (arg(0), arg(1), arg(2));
                let mut v = Vec::new();
                for k in 0..2 {
                    let (Some(s), Some(l), Some(d)) =
                        (values_of(&s, k), values_of(&l, k), values_of(&d, k))
                    else {
                        return unsupported("Range with bounds known only at run time");
                    };
                    let (s, l, d) = (s[0] as f64, l[0] as f64, d[0] as f64);
                    if d == 0.0 {
                        return fatal("Range with a delta of 0");
                    }
                    let n = ((l - s) / d).ceil().max(0.0) as usize;
                    let vals: Vec<f32> = (0..n).map(|j| (s + j as f64 * d) as f32).collect();
                    v.push(Tensor::from_vec(vals, n, &Device::Cpu)?);
                }
                one(Val::Const {
                    v: [v[0].clone(), v[1].clone()],
                    int: arg(0).is_int(),
                    weight: false,
                })
            }
            "Unsqueeze" | "Squeeze" => {
                let v = arg(0);
                let axes: Option<Vec<i64>> = match (self.opset >= 13, a.ints("axes")) {
                    (false, axes) => axes,
                    (true, _) if inp(1).is_empty() => None,
                    (true, _) => Some(fixed_ints(&arg(1), "the axes")?),
                };
                let mut shapes: [Vec<usize>; 2] = [v.shape(0), v.shape(1)];
                if op_type == "Unsqueeze" {
                    let axes =
                        axes.ok_or_else(|| Problem::Fatal("Unsqueeze without axes".into()))?;
                    let out_rank = shapes[0].len() + axes.len();
                    let mut norm: Vec<usize> =
                        axes.iter().map(|&x| axis(x, out_rank)).collect::<Step<_>>()?;
                    norm.sort_unstable();
                    for s in &mut shapes {
                        for &x in &norm {
                            s.insert(x, 1);
                        }
                    }
                } else {
                    let rank = shapes[0].len();
                    let drop: Vec<usize> = match axes {
                        Some(axes) => axes.iter().map(|&x| axis(x, rank)).collect::<Step<_>>()?,
                        None => {
                            (0..rank).filter(|&d| shapes[0][d] == 1 && shapes[1][d] == 1).collect()
                        }
                    };
                    for s in &mut shapes {
                        *s = s
                            .iter()
                            .enumerate()
                            .filter(|(d, _)| !drop.contains(d))
                            .map(|(_, &x)| x)
                            .collect();
                    }
                }
                one(self.reshape_to(&name, inp(0), &v, shapes)?)
            }
            "Flatten" => {
                let v = arg(0);
                let rank = v.shape(0).len();
                let ax = axis(a.int("axis").unwrap_or(1), rank + 1)?;
                if ax == 1 && matches!(v, Val::Dyn { .. }) && rank >= 2 {
                    let r = self.runtime(inp(0), &v)?;
                    return one(self.emit(&name, Op::Flatten, &[r], v.is_int())?);
                }
                let shapes = [0, 1].map(|k| {
                    let s = v.shape(k);
                    vec![s[..ax].iter().product::<usize>(), s[ax..].iter().product::<usize>()]
                });
                one(self.reshape_to(&name, inp(0), &v, shapes)?)
            }
            "Reshape" => {
                let v = arg(0);
                let allow_zero = a.int("allowzero").unwrap_or(0) == 1;
                let mut targets: Vec<Vec<i64>> = Vec::new();
                for k in 0..2 {
                    let t = values_of(&arg(1), k).ok_or_else(|| {
                        Problem::Unsupported("Reshape to a shape known only at run time".into())
                    })?;
                    let input = v.shape(k);
                    let t: Vec<i64> = t
                        .iter()
                        .enumerate()
                        .map(|(d, &x)| {
                            let x = x as i64;
                            if x == 0 && !allow_zero {
                                input.get(d).copied().unwrap_or(0) as i64
                            } else {
                                x
                            }
                        })
                        .collect();
                    targets.push(t);
                }
                if targets[0].len() != targets[1].len() {
                    return fatal("Reshape target changes rank with the batch size");
                }
                let mut shape = Vec::with_capacity(targets[0].len());
                for (&x0, &x1) in targets[0].iter().zip(&targets[1]) {
                    shape.push(if x0 == -1 && x1 == -1 {
                        ReshapeDim::Infer
                    } else if x0 < 0 || x1 < 0 {
                        return fatal(format!("Reshape target entry {x0}"));
                    } else {
                        ReshapeDim::Dim(
                            dim_of(x0 as usize, x1 as usize, self.batches)
                                .map_err(Problem::Unsupported)?,
                        )
                    });
                }
                one(self.apply(
                    &name,
                    Op::Tensor(TensorOp::Reshape { shape }),
                    &[(inp(0), &v)],
                    v.is_int(),
                )?)
            }
            "Transpose" => {
                let v = arg(0);
                let rank = v.shape(0).len();
                let perm: Vec<usize> = match a.ints("perm") {
                    Some(p) => p.iter().map(|&x| axis(x, rank)).collect::<Step<_>>()?,
                    None => (0..rank).rev().collect(),
                };
                one(self.apply(
                    &name,
                    Op::Tensor(TensorOp::Transpose { perm }),
                    &[(inp(0), &v)],
                    v.is_int(),
                )?)
            }
            "Concat" => {
                let present: Vec<(&str, Val)> = node
                    .input
                    .iter()
                    .zip(&args)
                    .filter(|(_, v)| {
                        !matches!(v, Val::Absent) && v.shape(0).iter().product::<usize>() > 0
                    })
                    .map(|(n, v)| (n.as_str(), v.clone()))
                    .collect();
                let Some((_, first)) = present.first() else { return fatal("Concat of nothing") };
                if present.len() == 1 {
                    return one(first.clone());
                }
                let ax = axis(a.int("axis").unwrap_or(0), first.shape(0).len())?;
                let int = present.iter().all(|(_, v)| v.is_int());
                let refs: Vec<(&str, &Val)> = present.iter().map(|(n, v)| (*n, v)).collect();
                one(self.apply(&name, Op::Tensor(TensorOp::Concat { axis: ax }), &refs, int)?)
            }
            "Split" => self.split(&name, node, &a, &args),
            "Slice" => {
                let mut v = arg(0);
                let rank = v.shape(0).len();
                let starts = fixed_ints(&arg(1), "Slice starts")?;
                let ends = fixed_ints(&arg(2), "Slice ends")?;
                let axes: Vec<usize> = if inp(3).is_empty() {
                    (0..starts.len()).collect()
                } else {
                    fixed_ints(&arg(3), "Slice axes")?
                        .iter()
                        .map(|&x| axis(x, rank))
                        .collect::<Step<_>>()?
                };
                let steps = if inp(4).is_empty() {
                    vec![1; starts.len()]
                } else {
                    fixed_ints(&arg(4), "Slice steps")?
                };
                for (j, &ax) in axes.iter().enumerate() {
                    let (s, e, st) = (starts[j], ends[j], steps[j]);
                    if st == 0 {
                        return fatal("Slice with a step of 0");
                    }
                    let n = v.shape(0)[ax];
                    let picked = crate::tensor_ops::slice_indices(n, s, e, st);
                    if st == 1 && picked.len() == n {
                        continue;
                    }
                    if v.shape(0)[ax] != v.shape(1)[ax] {
                        return unsupported("Slice of the batch axis");
                    }
                    let base =
                        if axes.len() > 1 { format!("{name}/axis{ax}") } else { name.clone() };
                    let op = Op::Tensor(TensorOp::Slice { axis: ax, start: s, end: e, step: st });
                    v = self.apply(&base, op, &[(inp(0), &v)], v.is_int())?;
                }
                one(v)
            }
            "Gather" => self.gather(&name, node, i, &a, &args),
            "Where" => {
                let int = arg(1).is_int() && arg(2).is_int();
                let refs = [(inp(0), &args[0]), (inp(1), &args[1]), (inp(2), &args[2])];
                one(self.apply(&name, Op::Tensor(TensorOp::Where), &refs, int)?)
            }
            "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Equal" | "Less" | "LessOrEqual"
            | "Greater" | "GreaterOrEqual" | "And" | "Or" => {
                one(self.binary_node(&name, &op_type, (inp(0), &args[0]), (inp(1), &args[1]))?)
            }
            "Max" | "Min" | "Sum" | "Mean" => {
                let f = match op_type.as_str() {
                    "Max" => "Max",
                    "Min" => "Min",
                    _ => "Add",
                };
                let mut acc = args[0].clone();
                let mut acc_name = inp(0).to_string();
                for k in 1..args.len() {
                    let base = if args.len() > 2 { format!("{name}/{k}") } else { name.clone() };
                    acc = self.binary_node(&base, f, (&acc_name, &acc), (inp(k), &args[k]))?;
                    acc_name = base;
                }
                if op_type == "Mean" && args.len() > 1 {
                    let n = constant(vec![args.len() as f32], &[], false)?;
                    acc = self.apply(
                        &format!("{name}/mean"),
                        Op::Tensor(TensorOp::Binary { f: BinaryFn::Div }),
                        &[(&acc_name, &acc), ("", &n)],
                        false,
                    )?;
                }
                one(acc)
            }
            "Neg" | "Sqrt" | "Exp" | "Log" | "Abs" | "Reciprocal" | "Sigmoid" | "Erf" | "Floor"
            | "Ceil" | "Round" | "Sin" | "Cos" | "Sign" | "Not" | "Softplus" | "HardSwish" => {
                let f = match op_type.as_str() {
                    "Neg" => UnaryFn::Neg,
                    "Sqrt" => UnaryFn::Sqrt,
                    "Exp" => UnaryFn::Exp,
                    "Log" => UnaryFn::Log,
                    "Abs" => UnaryFn::Abs,
                    "Reciprocal" => UnaryFn::Reciprocal,
                    "Sigmoid" => UnaryFn::Sigmoid,
                    "Erf" => UnaryFn::Erf,
                    "Floor" => UnaryFn::Floor,
                    "Ceil" => UnaryFn::Ceil,
                    "Round" => UnaryFn::Round,
                    "Sin" => UnaryFn::Sin,
                    "Cos" => UnaryFn::Cos,
                    "Sign" => UnaryFn::Sign,
                    "Not" => UnaryFn::Not,
                    "Softplus" => UnaryFn::Softplus,
                    _ => UnaryFn::HardSwish,
                };
                let int = matches!(f, UnaryFn::Not | UnaryFn::Sign | UnaryFn::Neg | UnaryFn::Abs)
                    && arg(0).is_int();
                one(self.unary(&name, inp(0), &arg(0), f, int)?)
            }
            "Relu" => one(self.simple(&name, inp(0), &arg(0), Op::Relu)?),
            "Tanh" => one(self.simple(&name, inp(0), &arg(0), Op::Tanh)?),
            "LeakyRelu" => {
                let f = UnaryFn::LeakyRelu { alpha: a.float("alpha").unwrap_or(0.01) };
                one(self.unary(&name, inp(0), &arg(0), f, false)?)
            }
            "Elu" => {
                let f = UnaryFn::Elu { alpha: a.float("alpha").unwrap_or(1.0) };
                one(self.unary(&name, inp(0), &arg(0), f, false)?)
            }
            "HardSigmoid" => {
                let f = UnaryFn::HardSigmoid {
                    alpha: a.float("alpha").unwrap_or(0.2),
                    beta: a.float("beta").unwrap_or(0.5),
                };
                one(self.unary(&name, inp(0), &arg(0), f, false)?)
            }
            "Gelu" => match a.string("approximate").as_deref().unwrap_or("none") {
                "none" => one(self.simple(&name, inp(0), &arg(0), Op::Gelu)?),
                "tanh" => {
                    one(self.unary(&name, inp(0), &arg(0), UnaryFn::Gelu { tanh: true }, false)?)
                }
                other => unsupported(format!("Gelu approximate `{other}`")),
            },
            "Clip" => {
                let bound = |k: usize, attr: &str, default: f32| -> Step<f32> {
                    if self.opset < 11 {
                        return Ok(a.float(attr).unwrap_or(default));
                    }
                    if inp(k).is_empty() {
                        return Ok(default);
                    }
                    match values_of(&arg(k), 0) {
                        Some(v) if v.len() == 1 => Ok(v[0]),
                        _ => unsupported("Clip bounds computed at run time"),
                    }
                };
                let min = bound(1, "min", f32::NEG_INFINITY)?;
                let max = bound(2, "max", f32::INFINITY)?;
                let v = arg(0);
                let op = match (min, max) {
                    (0.0, 6.0) => Op::Relu6,
                    (0.0, f32::INFINITY) => Op::Relu,
                    _ => Op::Tensor(TensorOp::Unary { f: UnaryFn::Clip { min, max } }),
                };
                one(self.apply(&name, op, &[(inp(0), &v)], v.is_int())?)
            }
            "Softmax" | "LogSoftmax" => {
                self.softmax(&name, inp(0), &arg(0), &a, op_type == "LogSoftmax")
            }
            "MatMul" => self.matmul(&name, node, i, &args),
            "Gemm" => self.gemm(&name, node, i, &a, &args),
            "Conv" => self.conv(node, i, &a, &args),
            "ConvTranspose" => self.conv_transpose(node, i, &a, &args),
            "BatchNormalization" => self.batch_norm(&name, node, &a, &args),
            "InstanceNormalization" => {
                let (Some(w), Some(b)) = (const_tensor(&arg(1)), const_tensor(&arg(2))) else {
                    return unsupported("InstanceNormalization with weights computed at run time");
                };
                let op = Op::InstanceNorm(InstanceNorm {
                    weight: w,
                    bias: b,
                    eps: a.float("epsilon").unwrap_or(1e-5) as f64,
                });
                one(self.apply(&name, op, &[(inp(0), &arg(0))], false)?)
            }
            "LayerNormalization" => {
                let v = arg(0);
                let rank = v.shape(0).len();
                if axis(a.int("axis").unwrap_or(-1), rank)? != rank - 1 {
                    return unsupported("LayerNormalization over more than the last axis");
                }
                if node
                    .output
                    .iter()
                    .skip(1)
                    .any(|o| !o.is_empty() && self.readers.contains_key(o.as_str()))
                {
                    return unsupported(
                        "LayerNormalization's mean or inverse deviation output is read",
                    );
                }
                let Some(weight) = const_tensor(&arg(1)) else {
                    return unsupported("LayerNormalization with a scale computed at run time");
                };
                let bias = match const_tensor(&arg(2)) {
                    Some(b) => b,
                    None => weight.zeros_like()?,
                };
                let op = Op::LayerNorm(LayerNorm {
                    weight,
                    bias,
                    eps: a.float("epsilon").unwrap_or(1e-5) as f64,
                });
                Ok(vec![self.apply(&name, op, &[(inp(0), &v)], false)?, Val::Absent, Val::Absent])
            }
            "GlobalAveragePool" => {
                if arg(0).shape(0).len() != 4 {
                    return unsupported("GlobalAveragePool of a non-NCHW input");
                }
                one(self.apply(
                    &name,
                    Op::AdaptiveAvgPool2d { output: (1, 1) },
                    &[(inp(0), &arg(0))],
                    false,
                )?)
            }
            "GlobalMaxPool" => {
                let op = Op::Tensor(TensorOp::Reduce {
                    f: ReduceFn::Max,
                    axes: vec![2, 3],
                    keep_dims: true,
                });
                one(self.apply(&name, op, &[(inp(0), &arg(0))], false)?)
            }
            "MaxPool" | "AveragePool" => self.pool(&name, node, &a, &args, op_type == "MaxPool"),
            "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceSumSquare"
            | "ReduceL2" => {
                let f = match op_type.as_str() {
                    "ReduceMean" => ReduceFn::Mean,
                    "ReduceSum" => ReduceFn::Sum,
                    "ReduceMax" => ReduceFn::Max,
                    "ReduceMin" => ReduceFn::Min,
                    "ReduceSumSquare" => ReduceFn::SumSquare,
                    _ => ReduceFn::L2,
                };
                let v = arg(0);
                let rank = v.shape(0).len();
                let axes_from_input =
                    self.opset >= 18 || (op_type == "ReduceSum" && self.opset >= 13);
                let axes: Vec<i64> = if axes_from_input {
                    if inp(1).is_empty() {
                        Vec::new()
                    } else {
                        fixed_ints(&arg(1), "the reduction axes")?
                    }
                } else {
                    a.ints("axes").unwrap_or_default()
                };
                let keep_dims = a.int("keepdims").unwrap_or(1) == 1;
                if axes.is_empty() && a.int("noop_with_empty_axes").unwrap_or(0) == 1 {
                    return one(v);
                }
                let mut axes: Vec<usize> = if axes.is_empty() {
                    (0..rank).collect()
                } else {
                    axes.iter().map(|&x| axis(x, rank)).collect::<Step<_>>()?
                };
                axes.sort_unstable();
                axes.dedup();
                let op = Op::Tensor(TensorOp::Reduce { f, axes, keep_dims });
                one(self.apply(&name, op, &[(inp(0), &v)], v.is_int())?)
            }
            "Expand" => {
                let v = arg(0);
                let mut targets = Vec::new();
                for k in 0..2 {
                    targets.push(values_of(&arg(1), k).ok_or_else(|| {
                        Problem::Unsupported("Expand to a shape known only at run time".into())
                    })?);
                }
                let shape = targets[0]
                    .iter()
                    .zip(&targets[1])
                    .map(|(&x, &y)| dim_of(x as usize, y as usize, self.batches))
                    .collect::<Result<Vec<Dim>, String>>()
                    .map_err(Problem::Unsupported)?;
                one(self.apply(
                    &name,
                    Op::Tensor(TensorOp::Expand { shape }),
                    &[(inp(0), &v)],
                    v.is_int(),
                )?)
            }
            "Tile" => {
                let mut v = arg(0);
                let repeats = fixed_ints(&arg(1), "Tile repeats")?;
                for (ax, &r) in repeats.iter().enumerate() {
                    if r <= 1 {
                        continue;
                    }
                    let copies: Vec<(&str, &Val)> = (0..r).map(|_| ("", &v)).collect();
                    let base = format!("{name}/axis{ax}");
                    let src = if ax == 0 { inp(0).to_string() } else { base.clone() };
                    let copies: Vec<(&str, &Val)> =
                        copies.iter().map(|(_, v)| (src.as_str(), *v)).collect();
                    v = self.apply(
                        &base,
                        Op::Tensor(TensorOp::Concat { axis: ax }),
                        &copies,
                        v.is_int(),
                    )?;
                }
                one(v)
            }
            "Pad" => self.pad(&name, node, &a, &args),
            "Resize" => self.resize(&name, node, &a, &args),
            other => unsupported(format!("operator {other} is not supported")),
        }
    }

    fn constant_node(&mut self, a: &Attrs<'_>) -> Step<Val> {
        if let Some(t) = a.tensor("value") {
            let host = self.onnx.tensor(t).map_err(|e| Problem::Fatal(e.to_string()))?;
            let int = matches!(host.values, sculpt_onnx::Values::I64(_));
            let v = tensor_of(&host)?;
            return Ok(Val::Const { v: [v.clone(), v], int, weight: false });
        }
        if let Some(f) = a.float("value_float") {
            return Ok(constant(vec![f], &[], false)?);
        }
        if let Some(fs) = a.floats("value_floats") {
            let n = fs.len();
            return Ok(constant(fs, &[n], false)?);
        }
        if let Some(i) = a.int("value_int") {
            return Ok(constant(vec![i as f32], &[], true)?);
        }
        if let Some(is) = a.ints("value_ints") {
            let n = is.len();
            return Ok(constant(is.iter().map(|&x| x as f32).collect(), &[n], true)?);
        }
        unsupported("Constant without a tensor, float or int value")
    }

    /// `v` reshaped to `shapes` (at the two batch sizes).
    fn reshape_to(&mut self, base: &str, src: &str, v: &Val, shapes: [Vec<usize>; 2]) -> Step<Val> {
        let shape = shapes[0]
            .iter()
            .zip(&shapes[1])
            .map(|(&x, &y)| dim_of(x, y, self.batches).map(ReshapeDim::Dim))
            .collect::<Result<Vec<_>, String>>()
            .map_err(Problem::Unsupported)?;
        self.apply(base, Op::Tensor(TensorOp::Reshape { shape }), &[(src, v)], v.is_int())
    }

    fn unary(&mut self, base: &str, src: &str, v: &Val, f: UnaryFn, int: bool) -> Step<Val> {
        self.apply(base, Op::Tensor(TensorOp::Unary { f }), &[(src, v)], int)
    }

    fn simple(&mut self, base: &str, src: &str, v: &Val, op: Op) -> Step<Val> {
        self.apply(base, op, &[(src, v)], false)
    }

    fn binary_node(
        &mut self,
        base: &str,
        op_type: &str,
        x: (&str, &Val),
        y: (&str, &Val),
    ) -> Step<Val> {
        let both_int = x.1.is_int() && y.1.is_int();
        if op_type == "Pow"
            && let Some(e) = values_of(y.1, 0).filter(|v| v.len() == 1)
        {
            return self.unary(base, x.0, x.1, UnaryFn::Pow { exponent: e[0] }, false);
        }
        // A sum of two activations of one shape is a residual connection (the structural
        // analyses know `Add`).
        if op_type == "Add"
            && let (Val::Dyn { s: sa, .. }, Val::Dyn { s: sb, .. }) = (x.1, y.1)
            && sa == sb
        {
            let refs = [self.runtime(x.0, x.1)?, self.runtime(y.0, y.1)?];
            return self.emit(base, Op::Add, &refs, both_int);
        }
        let (f, int) = match op_type {
            "Add" => (BinaryFn::Add, both_int),
            "Sub" => (BinaryFn::Sub, both_int),
            "Mul" => (BinaryFn::Mul, both_int),
            "Div" => (BinaryFn::Div, both_int),
            "Pow" => (BinaryFn::Pow, false),
            "Max" => (BinaryFn::Max, both_int),
            "Min" => (BinaryFn::Min, both_int),
            "Equal" => (BinaryFn::Equal, true),
            "Less" => (BinaryFn::Less, true),
            "LessOrEqual" => (BinaryFn::LessOrEqual, true),
            "Greater" => (BinaryFn::Greater, true),
            "GreaterOrEqual" => (BinaryFn::GreaterOrEqual, true),
            "And" => (BinaryFn::And, true),
            _ => (BinaryFn::Or, true),
        };
        let out = self.apply(base, Op::Tensor(TensorOp::Binary { f }), &[x, y], int)?;
        if f == BinaryFn::Div && both_int {
            // Integer division truncates toward zero.
            return self.unary(&format!("{base}/trunc"), base, &out, UnaryFn::Trunc, true);
        }
        Ok(out)
    }

    fn split(
        &mut self,
        name: &str,
        node: &NodeProto,
        a: &Attrs<'_>,
        args: &[Val],
    ) -> Step<Vec<Val>> {
        let v = args[0].clone();
        let src = node.input[0].as_str();
        let rank = v.shape(0).len();
        let ax = axis(a.int("axis").unwrap_or(0), rank)?;
        if v.shape(0)[ax] != v.shape(1)[ax] {
            return unsupported("Split of the batch axis");
        }
        let n = v.shape(0)[ax];
        let outputs = node.output.len();
        let sizes: Vec<usize> = if let Some(s) = a.ints("split") {
            s.iter().map(|&x| x as usize).collect()
        } else if let Some(s) = args.get(1).filter(|v| !matches!(v, Val::Absent)) {
            fixed_ints(s, "Split sizes")?.iter().map(|&x| x as usize).collect()
        } else {
            let parts = a.int("num_outputs").map(|x| x as usize).unwrap_or(outputs).max(1);
            let chunk = n.div_ceil(parts);
            (0..parts).map(|k| chunk.min(n.saturating_sub(k * chunk))).collect()
        };
        if sizes.iter().sum::<usize>() != n {
            return fatal(format!("Split sizes {sizes:?} do not add up to {n}"));
        }
        let mut out = Vec::new();
        let mut start = 0;
        for (k, &size) in sizes.iter().enumerate() {
            let op = Op::Tensor(TensorOp::Slice {
                axis: ax,
                start: start as i64,
                end: (start + size) as i64,
                step: 1,
            });
            let base = node
                .output
                .get(k)
                .filter(|o| !o.is_empty())
                .cloned()
                .unwrap_or_else(|| format!("{name}/{k}"));
            out.push(self.apply(&base, op, &[(src, &v)], v.is_int())?);
            start += size;
        }
        Ok(out)
    }

    fn gather(
        &mut self,
        name: &str,
        node: &NodeProto,
        index: usize,
        a: &Attrs<'_>,
        args: &[Val],
    ) -> Step<Vec<Val>> {
        let (data, ids) = (&args[0], &args[1]);
        let rank = data.shape(0).len();
        let ax = axis(a.int("axis").unwrap_or(0), rank)?;
        let src = node.input[0].as_str();
        match (data, ids) {
            (Val::Const { v, .. }, Val::Dyn { .. }) if ax == 0 && rank == 2 && !data.is_int() => {
                // An embedding table: a compressible layer.
                let layer = layer_name(node, index, 0);
                let r = self.runtime(&node.input[1], ids)?;
                Ok(vec![self.emit(
                    &layer,
                    Op::Embedding(Embedding { weight: v[0].clone() }),
                    &[r],
                    false,
                )?])
            }
            (Val::Dyn { .. }, Val::Const { .. }) => {
                let n = data.shape(0)[ax] as i64;
                let (Some(i0), Some(i1)) = (values_of(ids, 0), values_of(ids, 1)) else {
                    unreachable!("constant")
                };
                if i0 != i1 {
                    return unsupported("Gather with indices that depend on the batch size");
                }
                let indices: Vec<usize> = i0
                    .iter()
                    .map(|&x| {
                        let x = x as i64;
                        let x = if x < 0 { x + n } else { x };
                        usize::try_from(x).ok().filter(|&x| (x as i64) < n)
                    })
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        Problem::Fatal(format!("Gather index out of range for an axis of {n}"))
                    })?;
                let op = match ids.shape(0).len() {
                    0 => TensorOp::Gather { axis: ax, indices, keep_axis: false },
                    1 => TensorOp::Gather { axis: ax, indices, keep_axis: true },
                    _ => TensorOp::GatherDyn { axis: ax },
                };
                let out = if matches!(op, TensorOp::GatherDyn { .. }) {
                    self.apply(
                        name,
                        Op::Tensor(op),
                        &[(src, data), (&node.input[1], ids)],
                        data.is_int(),
                    )?
                } else {
                    self.apply(name, Op::Tensor(op), &[(src, data)], data.is_int())?
                };
                Ok(vec![out])
            }
            _ => Ok(vec![self.apply(
                name,
                Op::Tensor(TensorOp::GatherDyn { axis: ax }),
                &[(src, data), (&node.input[1], ids)],
                data.is_int(),
            )?]),
        }
    }

    fn softmax(
        &mut self,
        name: &str,
        src: &str,
        v: &Val,
        a: &Attrs<'_>,
        log: bool,
    ) -> Step<Vec<Val>> {
        let rank = v.shape(0).len();
        let default = if self.opset >= 13 { -1 } else { 1 };
        let ax = axis(a.int("axis").unwrap_or(default), rank)?;
        if self.opset < 13 && ax != rank - 1 {
            // Before opset 13 the input is coerced to 2-D at `axis`.
            let shapes = [0, 1].map(|k| {
                let s = v.shape(k);
                vec![s[..ax].iter().product::<usize>(), s[ax..].iter().product::<usize>()]
            });
            let flat = self.reshape_to(&format!("{name}/2d"), src, v, shapes)?;
            let sm = self.apply(
                name,
                Op::Tensor(TensorOp::Softmax { axis: 1, log }),
                &[(&format!("{name}/2d"), &flat)],
                false,
            )?;
            let back = [v.shape(0), v.shape(1)];
            return Ok(vec![self.reshape_to(&format!("{name}/nd"), name, &sm, back)?]);
        }
        let op = if ax == rank - 1 && !log {
            Op::Softmax
        } else {
            Op::Tensor(TensorOp::Softmax { axis: ax, log })
        };
        Ok(vec![self.apply(name, op, &[(src, v)], false)?])
    }

    /// The Add after a MatMul that adds a constant bias of `n` values, when the MatMul's output
    /// is read by that Add alone: `(node index, bias, output name)`.
    fn bias_after(
        &mut self,
        index: usize,
        output: &str,
        n: usize,
    ) -> Option<(usize, Tensor, String)> {
        if self.readers.get(output).copied() != Some(1) {
            return None;
        }
        let graph = self.onnx.graph();
        let (j, add) = graph
            .node
            .iter()
            .enumerate()
            .skip(index + 1)
            .find(|(_, n)| n.input.iter().any(|x| x == output))?;
        if add.op_type.as_deref() != Some("Add") || add.input.len() != 2 {
            return None;
        }
        let other = add.input.iter().find(|x| x.as_str() != output)?.clone();
        let bias = match self.get(&other, j).ok()? {
            Val::Const { v, int: false, .. } => v[0].clone(),
            _ => return None,
        };
        if bias.elem_count() != n || bias.dims().iter().filter(|&&d| d != 1).count() > 1 {
            return None;
        }
        Some((j, bias.flatten_all().ok()?, add.output.first()?.clone()))
    }

    fn matmul(
        &mut self,
        name: &str,
        node: &NodeProto,
        index: usize,
        args: &[Val],
    ) -> Step<Vec<Val>> {
        let (x, w) = (&args[0], &args[1]);
        if let (Val::Dyn { .. }, Val::Const { v, int: false, .. }) = (x, w)
            && v[0].rank() == 2
        {
            let weight = v[0].t()?.contiguous()?;
            let n = weight.dims()[0];
            let layer = layer_name(node, index, 1);
            let fused = self.bias_after(index, &node.output[0], n);
            let bias = fused.as_ref().map(|(_, b, _)| b.clone());
            let r = self.runtime(&node.input[0], x)?;
            let out = self.emit(&layer, Op::Linear(Linear::new(weight, bias)), &[r], false)?;
            if let Some((j, _, add_out)) = fused {
                self.fused.insert(j);
                self.set(&add_out, out.clone());
            }
            return Ok(vec![out]);
        }
        Ok(vec![self.apply(
            name,
            Op::Tensor(TensorOp::MatMul),
            &[(&node.input[0], x), (&node.input[1], w)],
            false,
        )?])
    }

    fn gemm(
        &mut self,
        name: &str,
        node: &NodeProto,
        index: usize,
        a: &Attrs<'_>,
        args: &[Val],
    ) -> Step<Vec<Val>> {
        let alpha = a.float("alpha").unwrap_or(1.0) as f64;
        let beta = a.float("beta").unwrap_or(1.0) as f64;
        let trans_a = a.int("transA").unwrap_or(0) == 1;
        let trans_b = a.int("transB").unwrap_or(0) == 1;
        let mut x = args[0].clone();
        let mut x_name = node.input[0].clone();
        if trans_a {
            let t = format!("{name}/transpose_a");
            x = self.apply(
                &t,
                Op::Tensor(TensorOp::Transpose { perm: vec![1, 0] }),
                &[(&x_name, &x)],
                false,
            )?;
            x_name = t;
        }
        let Val::Const { v, .. } = &args[1] else {
            return unsupported("Gemm with a weight computed at run time");
        };
        let weight = if trans_b { v[0].clone() } else { v[0].t()?.contiguous()? };
        let weight = if alpha == 1.0 { weight } else { (weight * alpha)? };
        let n = weight.dims()[0];
        let bias = match args.get(2) {
            Some(Val::Const { v, .. }) => {
                let c = &v[0];
                if c.elem_count() == n || c.elem_count() == 1 {
                    let b = c.flatten_all()?.broadcast_as(n)?.contiguous()?;
                    Some(if beta == 1.0 { b } else { (b * beta)? })
                } else {
                    return unsupported("Gemm with a two-dimensional bias");
                }
            }
            None | Some(Val::Absent) => None,
            Some(_) => return unsupported("Gemm with a bias computed at run time"),
        };
        let layer = layer_name(node, index, 1);
        let r = self.runtime(&x_name, &x)?;
        Ok(vec![self.emit(&layer, Op::Linear(Linear::new(weight, bias)), &[r], false)?])
    }

    /// Begin and end padding of one spatial axis under `auto_pad`.
    fn auto_pads(
        mode: &str,
        input: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
    ) -> (usize, usize) {
        match mode {
            "SAME_UPPER" | "SAME_LOWER" => {
                let out = input.div_ceil(stride);
                let span = (kernel - 1) * dilation + 1;
                let total = ((out - 1) * stride + span).saturating_sub(input);
                let small = total / 2;
                if mode == "SAME_UPPER" { (small, total - small) } else { (total - small, small) }
            }
            _ => (0, 0),
        }
    }

    /// Spatial pads `[top, left, bottom, right]` of a 2-D window op.
    fn window_pads(
        &self,
        a: &Attrs<'_>,
        hw: (usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        dilation: usize,
    ) -> Step<[usize; 4]> {
        let mode = a.string("auto_pad").unwrap_or_else(|| "NOTSET".into());
        match mode.as_str() {
            "NOTSET" => {
                let p = a.ints("pads").unwrap_or_else(|| vec![0; 4]);
                if p.len() != 4 || p.iter().any(|&x| x < 0) {
                    return unsupported(format!("pads {p:?} (expected four non-negative values)"));
                }
                Ok([p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize])
            }
            "VALID" => Ok([0; 4]),
            "SAME_UPPER" | "SAME_LOWER" => {
                let (t, b) = Self::auto_pads(&mode, hw.0, kernel.0, stride.0, dilation);
                let (l, r) = Self::auto_pads(&mode, hw.1, kernel.1, stride.1, dilation);
                Ok([t, l, b, r])
            }
            other => unsupported(format!("auto_pad `{other}`")),
        }
    }

    /// `v` padded with `value` on the spatial axes by `[top, left, bottom, right]`.
    fn pad_spatial(
        &mut self,
        base: &str,
        src: &str,
        v: &Val,
        p: [usize; 4],
        value: f32,
    ) -> Step<Val> {
        let op = Op::Tensor(TensorOp::Pad {
            pads: vec![(0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])],
            value,
        });
        self.apply(base, op, &[(src, v)], false)
    }

    fn conv(
        &mut self,
        node: &NodeProto,
        index: usize,
        a: &Attrs<'_>,
        args: &[Val],
    ) -> Step<Vec<Val>> {
        let x = args[0].clone();
        let Val::Const { v: wv, .. } = &args[1] else {
            return unsupported("Conv with a weight computed at run time");
        };
        let weight = wv[0].clone();
        if weight.rank() != 4 || x.shape(0).len() != 4 {
            return unsupported(format!(
                "Conv of rank {} (sculpt imports 2-D convolutions)",
                weight.rank()
            ));
        }
        let (kh, kw) = (weight.dims()[2], weight.dims()[3]);
        let strides = a.ints("strides").unwrap_or_else(|| vec![1, 1]);
        let dilations = a.ints("dilations").unwrap_or_else(|| vec![1, 1]);
        if dilations.len() != 2 || dilations[0] != dilations[1] {
            return unsupported(format!(
                "Conv with dilations {dilations:?} (sculpt needs equal dilations)"
            ));
        }
        let stride = (strides[0] as usize, strides[1] as usize);
        let dilation = dilations[0] as usize;
        let s = x.shape(0);
        let p = self.window_pads(a, (s[2], s[3]), (kh, kw), stride, dilation)?;
        let layer = layer_name(node, index, 1);
        let (mut x, mut src) = (x, node.input[0].clone());
        let padding = if p[0] == p[2] && p[1] == p[3] {
            (p[0], p[1])
        } else {
            let base = format!("{layer}/pad");
            x = self.pad_spatial(&base, &src, &x, p, 0.0)?;
            src = base;
            (0, 0)
        };
        let bias = match args.get(2) {
            Some(Val::Const { v, .. }) => Some(v[0].flatten_all()?),
            None | Some(Val::Absent) => None,
            Some(_) => return unsupported("Conv with a bias computed at run time"),
        };
        let groups = a.int("group").unwrap_or(1) as usize;
        let op = Op::Conv2d(Conv2d { weight, bias, stride, padding, dilation, groups });
        let r = self.runtime(&src, &x)?;
        Ok(vec![self.emit(&layer, op, &[r], false)?])
    }

    fn conv_transpose(
        &mut self,
        node: &NodeProto,
        index: usize,
        a: &Attrs<'_>,
        args: &[Val],
    ) -> Step<Vec<Val>> {
        let Val::Const { v: wv, .. } = &args[1] else {
            return unsupported("ConvTranspose with a weight computed at run time");
        };
        let weight = wv[0].clone();
        if weight.rank() != 4 {
            return unsupported("ConvTranspose of a rank other than 2-D");
        }
        if a.int("group").unwrap_or(1) != 1 {
            return unsupported("grouped ConvTranspose");
        }
        if a.ints("output_shape").is_some() {
            return unsupported("ConvTranspose with output_shape (give pads instead)");
        }
        let all_equal = |v: &[i64]| v.windows(2).all(|w| w[0] == w[1]);
        let strides = a.ints("strides").unwrap_or_else(|| vec![1, 1]);
        let dilations = a.ints("dilations").unwrap_or_else(|| vec![1, 1]);
        let pads = a.ints("pads").unwrap_or_else(|| vec![0; 4]);
        let out_pad = a.ints("output_padding").unwrap_or_else(|| vec![0, 0]);
        if !all_equal(&strides)
            || !all_equal(&dilations)
            || !all_equal(&pads)
            || !all_equal(&out_pad)
        {
            return unsupported("ConvTranspose with unequal strides, dilations or pads per axis");
        }
        let bias = match args.get(2) {
            Some(Val::Const { v, .. }) => Some(v[0].flatten_all()?),
            _ => None,
        };
        let op = Op::ConvTranspose2d(ConvTranspose2d {
            weight,
            bias,
            stride: strides[0] as usize,
            padding: pads[0] as usize,
            output_padding: out_pad[0] as usize,
            dilation: dilations[0] as usize,
        });
        let layer = layer_name(node, index, 1);
        Ok(vec![self.apply(&layer, op, &[(&node.input[0], &args[0])], false)?])
    }

    fn batch_norm(
        &mut self,
        name: &str,
        node: &NodeProto,
        a: &Attrs<'_>,
        args: &[Val],
    ) -> Step<Vec<Val>> {
        if a.int("training_mode").unwrap_or(0) != 0 {
            return unsupported("BatchNormalization in training mode");
        }
        let consts: Vec<Tensor> =
            args[1..5].iter().map(const_tensor).collect::<Option<_>>().ok_or_else(|| {
                Problem::Unsupported(
                    "BatchNormalization with statistics computed at run time".into(),
                )
            })?;
        let eps = a.float("epsilon").unwrap_or(1e-5) as f64;
        let x = &args[0];
        let rank = x.shape(0).len();
        if rank == 4 {
            let op = Op::BatchNorm2d(BatchNorm2d {
                weight: consts[0].clone(),
                bias: consts[1].clone(),
                running_mean: consts[2].clone(),
                running_var: consts[3].clone(),
                eps,
            });
            return Ok(vec![self.apply(name, op, &[(&node.input[0], x)], false)?]);
        }
        // Other ranks: y = x · s + t with s = γ / √(σ² + ε), t = β − μ·s per channel (axis 1).
        let s = (&consts[0] / (&consts[3] + eps)?.sqrt()?)?;
        let t = (&consts[1] - (&consts[2] * &s)?)?;
        let c = s.elem_count();
        let mut shape = vec![c];
        shape.extend(std::iter::repeat_n(1, rank.saturating_sub(2)));
        let sv = Val::Const {
            v: [s.reshape(shape.as_slice())?, s.reshape(shape.as_slice())?],
            int: false,
            weight: true,
        };
        let tv = Val::Const {
            v: [t.reshape(shape.as_slice())?, t.reshape(shape.as_slice())?],
            int: false,
            weight: true,
        };
        let scaled = self.apply(
            &format!("{name}/scale"),
            Op::Tensor(TensorOp::Binary { f: BinaryFn::Mul }),
            &[(&node.input[0], x), (&format!("{name}.scale"), &sv)],
            false,
        )?;
        Ok(vec![self.apply(
            name,
            Op::Tensor(TensorOp::Binary { f: BinaryFn::Add }),
            &[(&format!("{name}/scale"), &scaled), (&format!("{name}.shift"), &tv)],
            false,
        )?])
    }

    fn pool(
        &mut self,
        name: &str,
        node: &NodeProto,
        a: &Attrs<'_>,
        args: &[Val],
        max: bool,
    ) -> Step<Vec<Val>> {
        if max && node.output.len() > 1 && self.readers.contains_key(node.output[1].as_str()) {
            return unsupported("MaxPool's indices output is read");
        }
        let x = args[0].clone();
        let s = x.shape(0);
        let kernel = a.ints("kernel_shape").unwrap_or_default();
        if kernel.len() != 2 || s.len() != 4 {
            return unsupported("pooling other than 2-D");
        }
        if a.ints("dilations").is_some_and(|d| d.iter().any(|&x| x != 1)) {
            return unsupported("dilated pooling");
        }
        let kernel = (kernel[0] as usize, kernel[1] as usize);
        let strides = a.ints("strides").unwrap_or_else(|| vec![1, 1]);
        let stride = (strides[0] as usize, strides[1] as usize);
        let mut p = self.window_pads(a, (s[2], s[3]), kernel, stride, 1)?;
        if a.int("ceil_mode").unwrap_or(0) == 1 {
            // Extra padding at the end turns floor into ceil (windows must start inside).
            for (axis, (k, st)) in [(0, (kernel.0, stride.0)), (1, (kernel.1, stride.1))] {
                let n = s[2 + axis] + p[axis] + p[axis + 2];
                let out_ceil = (n - k).div_ceil(st) + 1;
                let out_ceil = if (out_ceil - 1) * st >= s[2 + axis] + p[axis] {
                    out_ceil - 1
                } else {
                    out_ceil
                };
                let need = ((out_ceil - 1) * st + k).saturating_sub(n);
                if need > 0 && !max {
                    return unsupported("AveragePool with ceil_mode that needs extra padding");
                }
                p[axis + 2] += need;
            }
        }
        let include_pad = a.int("count_include_pad").unwrap_or(0) == 1;
        if !max && !include_pad && p.iter().any(|&x| x > 0) {
            return unsupported("AveragePool with padding and count_include_pad=0");
        }
        let (mut x, mut src) = (x, node.input[0].clone());
        let padding = if p[0] == p[2] && p[1] == p[3] {
            (p[0], p[1])
        } else {
            let base = format!("{name}/pad");
            let fill = if max { f32::NEG_INFINITY } else { 0.0 };
            x = self.pad_spatial(&base, &src, &x, p, fill)?;
            src = base;
            (0, 0)
        };
        let pool = Pool2d { kernel, stride, padding };
        let op = if max { Op::MaxPool2d(pool) } else { Op::AvgPool2d(pool) };
        Ok(vec![self.apply(name, op, &[(&src, &x)], false)?])
    }

    fn pad(&mut self, name: &str, node: &NodeProto, a: &Attrs<'_>, args: &[Val]) -> Step<Vec<Val>> {
        let mode = a.string("mode").unwrap_or_else(|| "constant".into());
        if mode != "constant" {
            return unsupported(format!("Pad mode `{mode}` (only constant is supported)"));
        }
        let x = &args[0];
        let rank = x.shape(0).len();
        let (pads, value) = if self.opset >= 11 {
            let pads = fixed_ints(&args[1], "Pad pads")?;
            let value = args
                .get(2)
                .and_then(|v| values_of(v, 0))
                .and_then(|v| v.first().copied())
                .unwrap_or(0.0);
            (pads, value)
        } else {
            (a.ints("pads").unwrap_or_default(), a.float("value").unwrap_or(0.0))
        };
        let axes: Vec<usize> = match args.get(3).filter(|v| !matches!(v, Val::Absent)) {
            Some(v) => {
                fixed_ints(v, "Pad axes")?.iter().map(|&x| axis(x, rank)).collect::<Step<_>>()?
            }
            None => (0..rank).collect(),
        };
        if pads.len() != 2 * axes.len() {
            return fatal(format!("{} pads for {} axes", pads.len(), axes.len()));
        }
        if pads.iter().any(|&p| p < 0) {
            return unsupported("Pad with negative pads (cropping)");
        }
        let mut per_axis = vec![(0usize, 0usize); rank];
        for (j, &ax) in axes.iter().enumerate() {
            per_axis[ax] = (pads[j] as usize, pads[j + axes.len()] as usize);
        }
        let op = Op::Tensor(TensorOp::Pad { pads: per_axis, value });
        Ok(vec![self.apply(name, op, &[(&node.input[0], x)], x.is_int())?])
    }

    fn resize(
        &mut self,
        name: &str,
        node: &NodeProto,
        a: &Attrs<'_>,
        args: &[Val],
    ) -> Step<Vec<Val>> {
        let x = &args[0];
        let s = x.shape(0);
        if s.len() != 4 {
            return unsupported("Resize of a non-NCHW input");
        }
        if a.int("antialias").unwrap_or(0) != 0 {
            return unsupported("Resize with antialias");
        }
        let mode = a.string("mode").unwrap_or_else(|| "nearest".into());
        let coords =
            a.string("coordinate_transformation_mode").unwrap_or_else(|| "half_pixel".into());
        let size = match (
            args.get(3).filter(|v| !matches!(v, Val::Absent)),
            args.get(2).filter(|v| !matches!(v, Val::Absent)),
        ) {
            (Some(sizes), _) => {
                let v = fixed_ints(sizes, "Resize sizes")?;
                if v.len() != 4 || v[0] as usize != s[0] && s[0] != 1 || v[1] as usize != s[1] {
                    return unsupported(format!(
                        "Resize to sizes {v:?} of an input {s:?} (only H and W may change)"
                    ));
                }
                (v[2] as usize, v[3] as usize)
            }
            (None, Some(scales)) => {
                let sc = values_of(scales, 0).ok_or_else(|| {
                    Problem::Unsupported("Resize scales known only at run time".into())
                })?;
                if sc.len() != 4 || sc[0] != 1.0 || sc[1] != 1.0 {
                    return unsupported(format!("Resize scales {sc:?} (only H and W may change)"));
                }
                ((s[2] as f32 * sc[2]).floor() as usize, (s[3] as f32 * sc[3]).floor() as usize)
            }
            _ => return fatal("Resize without scales or sizes"),
        };
        let rmode = match (mode.as_str(), coords.as_str()) {
            ("nearest", "asymmetric") if a.string("nearest_mode").as_deref() == Some("floor") => {
                ResizeMode::Nearest
            }
            ("nearest", _) => {
                return unsupported(format!(
                    "Resize nearest with coordinate_transformation_mode `{coords}` and nearest_mode `{}` \
                     (sculpt supports asymmetric with floor, as PyTorch exports)",
                    a.string("nearest_mode").unwrap_or_else(|| "round_prefer_floor".into())
                ));
            }
            ("linear", "half_pixel" | "pytorch_half_pixel") => ResizeMode::LinearHalfPixel,
            ("linear", "align_corners") => ResizeMode::LinearAlignCorners,
            ("linear", "asymmetric") => ResizeMode::LinearAsymmetric,
            ("linear", other) => {
                return unsupported(format!(
                    "Resize linear with coordinate_transformation_mode `{other}`"
                ));
            }
            (other, _) => {
                return unsupported(format!(
                    "Resize mode `{other}` (nearest and linear are supported)"
                ));
            }
        };
        let op = Op::Tensor(TensorOp::Resize { size, mode: rmode });
        Ok(vec![self.apply(name, op, &[(&node.input[0], x)], false)?])
    }
}

/// The value of a constant (the same at both batch sizes).
fn const_tensor(v: &Val) -> Option<Tensor> {
    match v {
        Val::Const { v, .. } => Some(v[0].to_dtype(DType::F32).ok()?),
        _ => None,
    }
}

fn with_int(v: Val, int: bool) -> Val {
    match v {
        Val::Const { v, weight, .. } => Val::Const { v, int, weight },
        Val::Dyn { r, s, .. } => Val::Dyn { r, s, int },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use sculpt_onnx::OnnxModel;
    use sculpt_onnx::proto::{GraphProto, ModelProto};

    use super::*;

    /// What converting one `op_type` node reading a constant `x` (as each of its `inputs`)
    /// says, if it fails.
    fn convert_error(op_type: &str, inputs: usize) -> String {
        let node = NodeProto {
            op_type: Some(op_type.into()),
            name: Some("n".into()),
            input: vec!["x".into(); inputs],
            output: vec!["y".into()],
            ..Default::default()
        };
        let proto = ModelProto {
            graph: Some(GraphProto { node: vec![node.clone()], ..Default::default() }),
            ..Default::default()
        };
        let onnx = OnnxModel { path: PathBuf::from("t.onnx"), proto, opset: 17 };
        let mut imp = Importer::new(&onnx, [1, 2]);
        imp.set("x", constant(vec![0.5; 4], &[1, 4], false).unwrap());
        match imp.convert(0, &node) {
            Ok(_) => String::new(),
            Err(Problem::Unsupported(m) | Problem::Fatal(m)) => m,
        }
    }

    #[test]
    fn the_supported_list_is_what_convert_handles() {
        // Each listed operator reaches its own handler (which may still refuse this toy node
        // for its own reasons), never the fallback for unknown operators.
        for op in SUPPORTED_OPS {
            // With too few inputs, too: a malformed node is an error, never a panic.
            for inputs in 0..=min_inputs(op).max(1) {
                let e = convert_error(op, inputs);
                assert!(!e.contains("is not supported"), "{op}: {e}");
            }
        }
        assert!(SUPPORTED_OPS.windows(2).all(|w| w[0] < w[1]), "keep the list sorted");
        // And operators outside it do reach the fallback.
        for op in ["TopK", "NonMaxSuppression", "Loop", "Mystery"] {
            assert!(convert_error(op, 1).contains(&format!("operator {op} is not supported")));
        }
    }
}
