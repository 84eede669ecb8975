//! Importing ONNX graphs into the IR: every ONNX node becomes IR nodes (named after the ONNX
//! node), shape sub-graphs are folded into constants at import, and convolutions and matrix
//! products with constant weights become the compressible `Conv2d` and `Linear` layers.
//!
//! Shapes are worked out at two batch sizes at once (1 and 2, or the fixed batch size the model
//! declares twice): a shape value that differs between the two scales with the batch, and the IR
//! keeps it as [`Dim::Batch`], so the imported graph runs any batch. A text model's sequence
//! length is fixed (the sidecar's `tokens`, default 128); its tokenizer pads every sentence to it.

mod convert;
mod export;

pub use export::{
    ExportOptions, IntWeight, WeightStorage, export_onnx, write_onnx, write_onnx_inputs,
};

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use sculpt_onnx::proto::{NodeProto, TensorProto, ValueInfoProto, data_type};
use sculpt_onnx::{HostTensor, OnnxModel, Values};

use crate::error::{Error, Result};
use crate::graph::{Graph, InputKind, InputSpec, Node, Task, ValueRef};
use crate::ops::Op;
use crate::tensor_ops::{Constant, Dim, TensorOp};
use crate::tokenizer::Tokenizer;

/// How the pixels of an image input are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `[N, C, H, W]` (PyTorch).
    #[default]
    Nchw,
    /// `[N, H, W, C]` (TensorFlow).
    Nhwc,
}

/// What the primary output means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskChoice {
    /// Logits `[batch, classes]`.
    Classification,
    /// Embeddings `[batch, dim]`.
    Embedding,
}

/// What an ONNX file cannot say about itself (the sidecar YAML, `arch: onnx`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OnnxOptions {
    /// A display name (default: the file's stem).
    pub name: Option<String>,
    /// Per-channel mean of an image input: sculpt feeds images in [0, 1] and the graph
    /// normalises them as `(x − mean) / std` before the ONNX graph reads them.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation.
    pub std: Vec<f32>,
    /// The image layout the ONNX graph reads.
    pub layout: Layout,
    /// What the primary output is (default: classification when it is `[batch, classes]`).
    pub task: Option<TaskChoice>,
    /// The graph outputs to keep, primary first (default: every output in order).
    pub outputs: Vec<String>,
    /// The sequence length of a text model (default 128, or the length the model fixes).
    pub tokens: Option<usize>,
    /// The `tokenizer.json` of a text model.
    pub tokenizer: Option<PathBuf>,
    /// The per-sample shape of the first input where the model leaves it open
    /// (`[3, 224, 224]`), without the batch dimension.
    pub input_shape: Option<Vec<usize>>,
}

/// A value during import.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    /// Known at import: the value at each of the two batch sizes (equal unless it depends on the
    /// batch), whether it is an integer or boolean value, and whether it is a model weight (a
    /// float initializer of more than one element).
    Const { v: [Tensor; 2], int: bool, weight: bool },
    /// Computed at run time by an IR value with these shapes at the two batch sizes.
    Dyn { r: ValueRef, s: [Vec<usize>; 2], int: bool },
    /// The output of a node that could not be imported; readers are skipped.
    Poison,
    /// An optional input left empty.
    Absent,
}

impl Val {
    pub(crate) fn is_int(&self) -> bool {
        match self {
            Val::Const { int, .. } | Val::Dyn { int, .. } => *int,
            _ => false,
        }
    }

    /// The shape at batch index `k` (0 or 1).
    pub(crate) fn shape(&self, k: usize) -> Vec<usize> {
        match self {
            Val::Const { v, .. } => v[k].dims().to_vec(),
            Val::Dyn { s, .. } => s[k].clone(),
            _ => Vec::new(),
        }
    }
}

/// Why a node could not be imported.
pub(crate) enum Problem {
    /// The op, or one of its attribute values, is not supported: collected and reported with
    /// every other one.
    Unsupported(String),
    /// The model is broken (a missing input, a shape mismatch): reported at once.
    Fatal(String),
}

impl From<candle_core::Error> for Problem {
    fn from(e: candle_core::Error) -> Problem {
        Problem::Fatal(e.to_string())
    }
}

pub(crate) type Step<T> = std::result::Result<T, Problem>;

pub(crate) struct Importer<'a> {
    pub(crate) onnx: &'a OnnxModel,
    /// The two batch sizes shapes are worked out at.
    pub(crate) batches: [usize; 2],
    pub(crate) opset: i64,
    vals: HashMap<String, Val>,
    initializers: HashMap<&'a str, &'a TensorProto>,
    /// Which node produces each value, for messages about values read before they exist.
    producers: HashMap<&'a str, usize>,
    /// How many nodes (and graph outputs) read each value.
    pub(crate) readers: HashMap<&'a str, usize>,
    pub(crate) nodes: Vec<Node>,
    shapes: Vec<[Vec<usize>; 2]>,
    names: HashSet<String>,
    materialized: HashMap<String, ValueRef>,
    inputs: Vec<InputSpec>,
    input_shapes: Vec<[Vec<usize>; 2]>,
    /// ONNX nodes already turned into IR as part of another (a MatMul's bias Add).
    pub(crate) fused: HashSet<usize>,
}

fn fatal(msg: impl Into<String>) -> Problem {
    Problem::Fatal(msg.into())
}

/// The candle tensor of a decoded ONNX tensor (f32, its shape).
pub(crate) fn tensor_of(t: &HostTensor) -> candle_core::Result<Tensor> {
    Tensor::from_vec(t.values.to_f32(), t.dims.as_slice(), &Device::Cpu)
}

/// The dimension a pair of sizes at the two batch sizes describes.
pub(crate) fn dim_of(a: usize, b: usize, batches: [usize; 2]) -> std::result::Result<Dim, String> {
    if a == b {
        return Ok(Dim::Fixed(a));
    }
    if batches[0] != batches[1] && a.is_multiple_of(batches[0]) && a / batches[0] * batches[1] == b
    {
        return Ok(Dim::Batch(a / batches[0]));
    }
    Err(format!(
        "a size of {a} at batch {} and {b} at batch {} is not a fixed multiple of the batch",
        batches[0], batches[1]
    ))
}

impl<'a> Importer<'a> {
    fn new(onnx: &'a OnnxModel, batches: [usize; 2]) -> Importer<'a> {
        let graph = onnx.graph();
        let mut producers = HashMap::new();
        let mut readers: HashMap<&str, usize> = HashMap::new();
        for (i, n) in graph.node.iter().enumerate() {
            for o in &n.output {
                producers.insert(o.as_str(), i);
            }
            for input in &n.input {
                *readers.entry(input.as_str()).or_default() += 1;
            }
        }
        for o in &graph.output {
            *readers.entry(o.name.as_deref().unwrap_or("")).or_default() += 1;
        }
        Importer {
            onnx,
            batches,
            opset: onnx.opset,
            vals: HashMap::new(),
            initializers: graph
                .initializer
                .iter()
                .filter_map(|t| t.name.as_deref().map(|n| (n, t)))
                .collect(),
            producers,
            readers,
            nodes: Vec::new(),
            shapes: Vec::new(),
            names: HashSet::new(),
            materialized: HashMap::new(),
            inputs: Vec::new(),
            input_shapes: Vec::new(),
            fused: HashSet::new(),
        }
    }

    /// The value named `name`, read by node `reader` (an index into the graph's nodes).
    pub(crate) fn get(&mut self, name: &str, reader: usize) -> Step<Val> {
        if name.is_empty() {
            return Ok(Val::Absent);
        }
        if let Some(v) = self.vals.get(name) {
            return Ok(v.clone());
        }
        if let Some(t) = self.initializers.get(name).copied() {
            let host = self.onnx.tensor(t).map_err(|e| fatal(e.to_string()))?;
            let int = matches!(host.values, Values::I64(_));
            let weight = !int && host.numel() > 1;
            let v = tensor_of(&host)?;
            let val = Val::Const { v: [v.clone(), v], int, weight };
            self.vals.insert(name.to_string(), val.clone());
            return Ok(val);
        }
        let node = &self.onnx.graph().node[reader];
        let who = node_label(node, reader);
        match self.producers.get(name) {
            Some(&p) if p >= reader => Err(fatal(format!(
                "{who} reads `{name}`, which node {} produces later: the graph has a cycle or is \
                 not in topological order",
                node_label(&self.onnx.graph().node[p], p)
            ))),
            _ => Err(fatal(format!(
                "{who} reads `{name}`, which no graph input, initializer or earlier node produces"
            ))),
        }
    }

    pub(crate) fn set(&mut self, name: &str, v: Val) {
        if !name.is_empty() {
            self.vals.insert(name.to_string(), v);
        }
    }

    /// A layer name not used yet, built from `base`.
    fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    fn shape_of(&self, r: ValueRef, k: usize) -> Vec<usize> {
        match r {
            ValueRef::Input(i) => self.input_shapes[i][k].clone(),
            ValueRef::Node(j) => self.shapes[j][k].clone(),
        }
    }

    /// Adds an IR node; its shapes at both batch sizes are checked now.
    pub(crate) fn emit(&mut self, base: &str, op: Op, inputs: &[ValueRef], int: bool) -> Step<Val> {
        let mut s: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        for (k, out) in s.iter_mut().enumerate() {
            let ins: Vec<Vec<usize>> = inputs.iter().map(|&r| self.shape_of(r, k)).collect();
            let refs: Vec<&[usize]> = ins.iter().map(Vec::as_slice).collect();
            *out = op
                .output_shape(&refs, self.batches[k])
                .map_err(|msg| fatal(format!("layer `{base}` ({}): {msg}", op.kind())))?;
        }
        let name = self.unique(base);
        self.nodes.push(Node { name, op, inputs: inputs.to_vec() });
        self.shapes.push(s.clone());
        Ok(Val::Dyn { r: ValueRef::Node(self.nodes.len() - 1), s, int })
    }

    /// The IR value of `v`: a constant becomes a `Constant` node (or a `Fill` when it is one
    /// value repeated over a shape that scales with the batch), once per value name.
    pub(crate) fn runtime(&mut self, name: &str, v: &Val) -> Step<ValueRef> {
        match v {
            Val::Dyn { r, .. } => Ok(*r),
            Val::Const { v, int, weight } => {
                if let Some(r) = self.materialized.get(name) {
                    return Ok(*r);
                }
                let same = v[0].dims() == v[1].dims()
                    && v[0].flatten_all()?.to_vec1::<f32>()?
                        == v[1].flatten_all()?.to_vec1::<f32>()?;
                let op = if same {
                    Op::Constant(Constant { value: v[0].clone(), trainable: *weight })
                } else {
                    let cannot = || {
                        Problem::Unsupported(format!(
                            "the constant `{name}` depends on the batch size in a way sculpt cannot \
                             run; export the model with a fixed batch size"
                        ))
                    };
                    if v[0].rank() != v[1].rank() {
                        return Err(cannot());
                    }
                    let shape = v[0]
                        .dims()
                        .iter()
                        .zip(v[1].dims())
                        .map(|(&a, &b)| dim_of(a, b, self.batches))
                        .collect::<std::result::Result<Vec<Dim>, String>>()
                        .map_err(|m| Problem::Unsupported(format!("constant `{name}`: {m}")))?;
                    let values = v[0].flatten_all()?.to_vec1::<f32>()?;
                    let first = values.first().copied().unwrap_or(0.0);
                    if values.iter().all(|&x| x == first) {
                        Op::Tensor(TensorOp::Fill { shape, value: first })
                    } else if self.is_batch_broadcast(&v[0], &v[1])? {
                        // One sample's value repeated over the batch (a class token expanded to
                        // the batch): the value, then a broadcast at run time.
                        let value =
                            Op::Constant(Constant { value: v[0].clone(), trainable: *weight });
                        let base = self.emit(name, value, &[], *int)?;
                        let Val::Dyn { r: base, .. } = base else {
                            unreachable!("emit returns a runtime value")
                        };
                        let op = Op::Tensor(TensorOp::Expand { shape });
                        let out = self.emit(&format!("{name}/expand"), op, &[base], *int)?;
                        let Val::Dyn { r, .. } = out else {
                            unreachable!("emit returns a runtime value")
                        };
                        self.materialized.insert(name.to_string(), r);
                        return Ok(r);
                    } else {
                        return Err(cannot());
                    }
                };
                let out = self.emit(name, op, &[], *int)?;
                let Val::Dyn { r, .. } = out else { unreachable!("emit returns a runtime value") };
                self.materialized.insert(name.to_string(), r);
                Ok(r)
            }
            Val::Poison | Val::Absent => Err(fatal(format!("`{name}` has no value"))),
        }
    }

    /// Whether `at_two` (the value at the second evaluation batch) is `at_one` (at the first)
    /// broadcast along the axes where `at_one` has size 1: a per-sample value repeated over the
    /// batch.
    fn is_batch_broadcast(&self, at_one: &Tensor, at_two: &Tensor) -> Step<bool> {
        let scaled = at_one.dims().iter().zip(at_two.dims()).any(|(a, b)| a != b);
        let only_ones = at_one.dims().iter().zip(at_two.dims()).all(|(a, b)| a == b || *a == 1);
        if !(scaled && only_ones) {
            return Ok(false);
        }
        let spread = at_one.broadcast_as(at_two.dims())?.flatten_all()?.to_vec1::<f32>()?;
        Ok(spread == at_two.flatten_all()?.to_vec1::<f32>()?)
    }

    /// Applies `op` to `args` (named `names`): folded into a constant when every argument is
    /// one, otherwise emitted as an IR node named `base`.
    pub(crate) fn apply(
        &mut self,
        base: &str,
        op: Op,
        args: &[(&str, &Val)],
        int: bool,
    ) -> Step<Val> {
        if args.iter().all(|(_, v)| matches!(v, Val::Const { .. })) {
            let mut out: Vec<Tensor> = Vec::with_capacity(2);
            for k in 0..2 {
                let xs: Vec<&Tensor> = args
                    .iter()
                    .map(|(_, v)| match v {
                        Val::Const { v, .. } => &v[k],
                        _ => unreachable!("checked above"),
                    })
                    .collect();
                out.push(op.forward(0, &xs, false, self.batches[k], &mut Vec::new())?);
            }
            let b = out.pop().unwrap_or_else(|| unreachable!("two evaluations"));
            let a = out.pop().unwrap_or_else(|| unreachable!("two evaluations"));
            return Ok(Val::Const { v: [a, b], int, weight: false });
        }
        let mut refs = Vec::with_capacity(args.len());
        for (name, v) in args {
            refs.push(self.runtime(name, v)?);
        }
        self.emit(base, op, &refs, int)
    }
}

/// `node `name` (#i, Op)` for messages.
pub(crate) fn node_label(node: &NodeProto, index: usize) -> String {
    format!(
        "node `{}` (#{index}, {})",
        node.name.as_deref().filter(|n| !n.is_empty()).unwrap_or("<unnamed>"),
        node.op_type.as_deref().unwrap_or("?")
    )
}

/// The element type and shape an ONNX value declares (`None` for an unknown dimension).
fn declared(v: &ValueInfoProto) -> (i32, Option<Vec<Option<usize>>>) {
    let Some(t) = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()) else {
        return (0, None);
    };
    let shape = t.shape.as_ref().map(|s| {
        s.dim.iter().map(|d| d.dim_value.filter(|&v| v > 0).map(|v| v as usize)).collect()
    });
    (t.elem_type.unwrap_or(0), shape)
}

fn is_float(t: i32) -> bool {
    matches!(t, data_type::FLOAT | data_type::FLOAT16 | data_type::BFLOAT16 | data_type::DOUBLE)
}

/// The kind of a token input, from its name.
fn token_kind(name: &str) -> Option<InputKind> {
    let n = name.to_ascii_lowercase();
    if n.contains("mask") {
        Some(InputKind::AttentionMask)
    } else if n.contains("type") || n.contains("segment") {
        Some(InputKind::TokenTypeIds)
    } else if n.contains("position") {
        Some(InputKind::PositionIds)
    } else if n.contains("id") || n.contains("token") || n.contains("input") {
        Some(InputKind::TokenIds)
    } else {
        None
    }
}

/// An imported ONNX model.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The sidecar's `name`, else the file's stem.
    pub name: String,
    /// The graph.
    pub graph: Graph,
    /// The tokenizer, for a model that reads token ids.
    pub tokenizer: Option<Tokenizer>,
}

/// Reads an ONNX model (with its sidecar's options) into the IR.
pub fn import_onnx(path: &Path, options: &OnnxOptions) -> Result<Imported> {
    let onnx =
        sculpt_onnx::read_model(path).map_err(|e| Error::invalid(path, strip_path(&e, path)))?;
    let graph = onnx.graph();
    let bad = |msg: String| Error::invalid(path, msg);
    let init_names: HashSet<&str> =
        graph.initializer.iter().filter_map(|t| t.name.as_deref()).collect();
    let real_inputs: Vec<&ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !init_names.contains(i.name.as_deref().unwrap_or("")))
        .collect();
    if real_inputs.is_empty() {
        return Err(bad("the graph has no input".into()));
    }
    // The batch dimension is the first of every input: open (symbolic) or fixed.
    let mut fixed_batch: Option<usize> = None;
    for i in &real_inputs {
        if let (_, Some(shape)) = declared(i)
            && let Some(Some(n)) = shape.first()
        {
            fixed_batch = Some(*n);
        }
    }
    let batches = match fixed_batch {
        Some(n) => [n, n],
        None => [1, 2],
    };
    let mut imp = Importer::new(&onnx, batches);
    let mut tokens_used = None;
    for (k, input) in real_inputs.iter().enumerate() {
        let name = input.name.clone().unwrap_or_default();
        let (elem, shape) = declared(input);
        let shape = shape.ok_or_else(|| bad(format!("input `{name}` declares no shape")))?;
        if shape.is_empty() {
            return Err(bad(format!("input `{name}` is a scalar; sculpt reads batched inputs")));
        }
        let mut rest: Vec<Option<usize>> = shape[1..].to_vec();
        if k == 0
            && let Some(given) = &options.input_shape
        {
            if given.len() != rest.len() {
                return Err(bad(format!(
                    "input_shape {given:?} has {} dimensions, input `{name}` has {} besides the batch",
                    given.len(),
                    rest.len()
                )));
            }
            rest = given.iter().map(|&d| Some(d)).collect();
        }
        let (kind, per_sample): (InputKind, Vec<usize>) = if !is_float(elem) {
            let kind = token_kind(&name).ok_or_else(|| {
                bad(format!(
                    "input `{name}` holds {} values; sculpt reads integer inputs as token ids, \
                     attention masks or token type ids (named so)",
                    data_type::name(elem)
                ))
            })?;
            if rest.len() != 1 {
                return Err(bad(format!("token input `{name}` must be [batch, tokens]")));
            }
            let t = rest[0].or(options.tokens).unwrap_or(128);
            if tokens_used.is_some_and(|u| u != t) {
                return Err(bad(format!("token inputs disagree on the sequence length ({t})")));
            }
            tokens_used = Some(t);
            (kind, vec![t])
        } else {
            let dims: Vec<usize> = rest
                .iter()
                .enumerate()
                .map(|(d, v)| {
                    v.ok_or_else(|| {
                        bad(format!(
                            "input `{name}` leaves dimension {} open; give its size with \
                             `input_shape:` in a sidecar YAML (arch: onnx)",
                            d + 1
                        ))
                    })
                })
                .collect::<Result<_>>()?;
            match dims.len() {
                3 => {
                    let (c, h, w) = match options.layout {
                        Layout::Nchw => (dims[0], dims[1], dims[2]),
                        Layout::Nhwc => (dims[2], dims[0], dims[1]),
                    };
                    let mean =
                        if options.mean.is_empty() { vec![0.0] } else { options.mean.clone() };
                    let std = if options.std.is_empty() { vec![1.0] } else { options.std.clone() };
                    for (what, v) in [("mean", &mean), ("std", &std)] {
                        if v.len() != 1 && v.len() != c {
                            return Err(bad(format!(
                                "`{what}` has {} values, the image has {c} channels",
                                v.len()
                            )));
                        }
                    }
                    (
                        InputKind::Image { channels: c, height: h, width: w, mean, std },
                        vec![c, h, w],
                    )
                }
                1 => (InputKind::Features { dim: dims[0] }, dims.clone()),
                _ => {
                    return Err(bad(format!(
                        "input `{name}` has shape [batch, {}]; sculpt reads images [batch, C, H, W] \
                         and feature vectors [batch, D]",
                        dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        };
        imp.inputs.push(InputSpec { name: name.clone(), kind: kind.clone() });
        let s = [batches[0], batches[1]].map(|b| {
            let mut v = vec![b];
            v.extend_from_slice(&per_sample);
            v
        });
        imp.input_shapes.push(s.clone());
        imp.names.insert(name.clone());
        let r = ValueRef::Input(imp.inputs.len() - 1);
        let int = !is_float(elem);
        let mut val = Val::Dyn { r, s, int };
        if options.layout == Layout::Nhwc && matches!(kind, InputKind::Image { .. }) {
            // sculpt feeds NCHW images; the graph reads NHWC.
            val = imp
                .emit(
                    &format!("{name}/to_nhwc"),
                    Op::Tensor(TensorOp::Transpose { perm: vec![0, 2, 3, 1] }),
                    &[r],
                    false,
                )
                .map_err(|p| problem_error(path, p))?;
        }
        imp.set(&name, val);
    }

    let mut unsupported = Vec::new();
    for (i, node) in graph.node.iter().enumerate() {
        if imp.fused.contains(&i) {
            continue;
        }
        let poisoned = node.input.iter().any(|n| matches!(imp.vals.get(n), Some(Val::Poison)));
        let outcome = if poisoned {
            // Downstream of an unsupported node: only an unknown operator is worth a mention.
            let op = node.op_type.as_deref().unwrap_or("");
            let standard = matches!(node.domain.as_deref(), None | Some("" | "ai.onnx"));
            let msg = if standard && convert::SUPPORTED_OPS.contains(&op) {
                String::new()
            } else {
                format!("operator {op} is not supported")
            };
            Err(Problem::Unsupported(msg))
        } else {
            imp.convert(i, node)
        };
        match outcome {
            Ok(outs) => {
                for (name, v) in node.output.iter().zip(outs) {
                    imp.set(name, v);
                }
            }
            Err(Problem::Unsupported(msg)) => {
                if !msg.is_empty() {
                    unsupported.push(format!("{}: {msg}", node_label(node, i)));
                }
                for name in &node.output {
                    imp.set(name, Val::Poison);
                }
            }
            Err(Problem::Fatal(msg)) => return Err(bad(msg)),
        }
    }
    if !unsupported.is_empty() {
        return Err(bad(format!(
            "{} node{} cannot be imported (opset {}): {}. Export the model without them (for \
             example with an older or newer opset, or simplified with onnx-simplifier), or \
             report the operators sculpt should support",
            unsupported.len(),
            if unsupported.len() == 1 { "" } else { "s" },
            onnx.opset,
            unsupported.join("; ")
        )));
    }

    // Outputs: the sidecar's choice, primary first, or every graph output.
    let wanted: Vec<String> = if options.outputs.is_empty() {
        graph.output.iter().filter_map(|o| o.name.clone()).collect()
    } else {
        let known: Vec<&str> = graph.output.iter().filter_map(|o| o.name.as_deref()).collect();
        for o in &options.outputs {
            if !imp.vals.contains_key(o) {
                return Err(bad(format!(
                    "output `{o}` does not exist; the graph's outputs are {}",
                    known.join(", ")
                )));
            }
        }
        options.outputs.clone()
    };
    let mut outputs = Vec::new();
    for name in &wanted {
        let v = imp
            .vals
            .get(name)
            .cloned()
            .ok_or_else(|| bad(format!("output `{name}` is never computed")))?;
        let r = imp.runtime(name, &v).map_err(|p| problem_error(path, p))?;
        outputs.push((name.clone(), r));
    }
    let primary_shape = imp.shape_of(outputs[0].1, 0);
    let task = match (options.task, primary_shape.as_slice()) {
        (Some(TaskChoice::Embedding), [_, .., d]) => Task::Embedding { dim: *d },
        (Some(TaskChoice::Classification) | None, [_, c]) => Task::Classification { classes: *c },
        (_, shape) => {
            return Err(bad(format!(
                "the primary output `{}` has shape {shape:?}; sculpt evaluates logits \
                 [batch, classes] or embeddings [batch, dim] (say `task: embedding` in the sidecar)",
                outputs[0].0
            )));
        }
    };
    let graph = Graph::new(imp.inputs, imp.nodes, outputs, task)?
        .with_batch_limit(fixed_batch)
        .with_token_length(tokens_used);
    let tokenizer = match (&options.tokenizer, tokens_used) {
        (Some(p), Some(t)) => Some(Tokenizer::from_file(p)?.with_fixed_length(t)?),
        (None, Some(_)) => {
            return Err(bad(
                "the model reads token ids; name its tokenizer.json with `tokenizer:` in a sidecar \
                 YAML (arch: onnx)"
                    .into(),
            ));
        }
        (Some(p), None) => Some(Tokenizer::from_file(p)?),
        (None, None) => None,
    };
    let name = options.name.clone().unwrap_or_else(|| {
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "onnx".into())
    });
    Ok(Imported { name, graph, tokenizer })
}

/// An ONNX reader error without its leading path (the model error adds it).
fn strip_path(e: &sculpt_onnx::Error, path: &Path) -> String {
    let text = e.to_string();
    let prefix = format!("{}: ", path.display());
    text.strip_prefix(&prefix).map(str::to_string).unwrap_or(text)
}

fn problem_error(path: &Path, p: Problem) -> Error {
    match p {
        Problem::Unsupported(m) | Problem::Fatal(m) => Error::invalid(path, m),
    }
}

/// The attributes of a node.
pub(crate) struct Attrs<'n>(pub(crate) &'n NodeProto);

impl Attrs<'_> {
    fn find(&self, name: &str) -> Option<&sculpt_onnx::proto::AttributeProto> {
        self.0.attribute.iter().find(|a| a.name.as_deref() == Some(name))
    }

    pub(crate) fn int(&self, name: &str) -> Option<i64> {
        self.find(name).and_then(|a| a.i)
    }

    pub(crate) fn float(&self, name: &str) -> Option<f32> {
        self.find(name).and_then(|a| a.f)
    }

    pub(crate) fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.find(name).map(|a| a.ints.clone())
    }

    pub(crate) fn floats(&self, name: &str) -> Option<Vec<f32>> {
        self.find(name).map(|a| a.floats.clone())
    }

    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.find(name).and_then(|a| a.s.as_ref()).map(|s| String::from_utf8_lossy(s).into_owned())
    }

    pub(crate) fn tensor(&self, name: &str) -> Option<&TensorProto> {
        self.find(name).and_then(|a| a.t.as_ref())
    }
}

/// An f32 tensor of `values` with shape `dims`, as a constant value at both batch sizes.
pub(crate) fn constant(values: Vec<f32>, dims: &[usize], int: bool) -> candle_core::Result<Val> {
    let t = Tensor::from_vec(values, dims, &Device::Cpu)?;
    Ok(Val::Const { v: [t.clone(), t], int, weight: false })
}

/// The values of a constant at batch index `k`, as f32.
pub(crate) fn values_of(v: &Val, k: usize) -> Option<Vec<f32>> {
    match v {
        Val::Const { v, .. } => v[k].to_dtype(DType::F32).ok()?.flatten_all().ok()?.to_vec1().ok(),
        _ => None,
    }
}
