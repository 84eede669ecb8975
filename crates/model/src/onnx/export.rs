//! Writing a graph of the IR as an ONNX model that onnxruntime and other runtimes load.
//!
//! The exported model reads what sculpt's own executor reads: images with values in [0, 1]
//! (normalised inside the graph), feature vectors, or token ids and an attention mask (int64, as
//! Hugging Face exports take them; position ids are generated inside the graph). Each layer keeps
//! its name: an IR node becomes ONNX nodes whose output is named after the layer, and helper
//! values are named `<layer>/<what>`.
//!
//! Weights are written as the caller says they are stored ([`WeightStorage`]): float32, float16
//! or bfloat16 with a `Cast`, or integers with a `DequantizeLinear` (per tensor and per output
//! channel at opset 17; 4-bit and per-group weights need opset 21's int4 types and `block_size`,
//! so a model with any of them is written at opset 21). Activation quantizers become
//! `QuantizeLinear`/`DequantizeLinear` pairs, which onnxruntime fuses into integer kernels.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Tensor};
use sculpt_onnx::proto::{
    AttributeProto, DimensionProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto,
    ValueInfoProto, attribute_type, data_type,
};
use sculpt_onnx::{Values, encode_tensor as encode};

use crate::error::{Error, Result};
use crate::graph::{Graph, InputKind, ValueRef};
use crate::ops::{FakeQuant, Op, Pool2d};

/// How one weight tensor is stored in the exported file (weights not named are float32).
#[derive(Clone, Debug, PartialEq)]
pub enum WeightStorage {
    /// float16, cast to float32 in the graph.
    Float16,
    /// bfloat16, cast to float32 in the graph.
    BFloat16,
    /// Integers with scales, dequantized in the graph.
    Int(IntWeight),
}

/// An integer weight viewed as `rows × cols` (rows are output channels; a convolution's
/// `in · kh · kw` values form a row), dequantized as `(q − zero) · scale`.
#[derive(Clone, Debug, PartialEq)]
pub struct IntWeight {
    /// Rows (output channels).
    pub rows: usize,
    /// Values per row.
    pub cols: usize,
    /// Bit width, 2 to 8.
    pub bits: u8,
    /// The integers, row-major: signed (`−2^(b−1) ..< 2^(b−1)`) when `zeros` is empty, else
    /// unsigned (`0 ..< 2^b`) with a zero point per scale group.
    pub values: Vec<i32>,
    /// One scale per group.
    pub scales: Vec<f32>,
    /// Zero points, one per group; empty for symmetric weights.
    pub zeros: Vec<i32>,
    /// Values per scale group along a row (`cols` for per-channel scales).
    pub group_cols: usize,
    /// One scale for the whole tensor.
    pub per_tensor: bool,
}

impl IntWeight {
    fn signed(&self) -> bool {
        self.zeros.is_empty()
    }

    fn needs_opset_21(&self) -> bool {
        self.bits <= 4 || (!self.per_tensor && self.group_cols < self.cols)
    }
}

/// What goes into the file besides the graph.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Storage of the weights that are not float32, by tensor name (`<layer>.weight`).
    pub weights: BTreeMap<String, WeightStorage>,
    /// `metadata_props` entries (plan, provenance, ...).
    pub metadata: Vec<(String, String)>,
    /// The graph's name.
    pub name: String,
}

/// The ONNX model of a graph.
pub fn export_onnx(graph: &Graph, options: &ExportOptions) -> Result<ModelProto> {
    let opset = if needs_opset_21(graph, options) { 21 } else { 17 };
    let tokens = graph.token_length().unwrap_or(8);
    let shapes = graph.shapes(1, tokens)?;
    let input_shapes = graph.input_shapes(1, tokens);
    let mut b = Builder { opset, nodes: Vec::new(), initializers: Vec::new(), options };
    let mut values: Vec<String> = Vec::with_capacity(graph.nodes().len());
    let (inputs, input_values) = b.inputs(graph)?;
    for (idx, node) in graph.nodes().iter().enumerate() {
        let xs: Vec<String> =
            node.inputs.iter().map(|v| v.pick(&input_values, &values).clone()).collect();
        let in_shapes: Vec<&[usize]> =
            node.inputs.iter().map(|v| v.pick(&input_shapes, &shapes).as_slice()).collect();
        let out = b.layer(graph, idx, &xs, &in_shapes).map_err(|msg| Error::Graph {
            msg: format!(
                "layer `{}` ({}) cannot be exported to ONNX: {msg}",
                node.name,
                node.op.kind()
            ),
        })?;
        values.push(out);
    }
    let mut outputs = Vec::new();
    for (name, value) in graph.outputs() {
        let from = value.pick(&input_values, &values).clone();
        if &from != name {
            b.node("Identity", name, &[&from], Vec::new());
        }
        outputs.push(value_info(name, data_type::FLOAT, &[]));
    }
    let graph_proto = GraphProto {
        node: b.nodes,
        name: Some(options.name.clone()),
        initializer: b.initializers,
        input: inputs,
        output: outputs,
        ..GraphProto::default()
    };
    Ok(ModelProto {
        ir_version: Some(if opset >= 21 { 10 } else { 8 }),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        producer_name: Some("sculpt".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(graph_proto),
        metadata_props: options
            .metadata
            .iter()
            .map(|(k, v)| StringStringEntryProto { key: Some(k.clone()), value: Some(v.clone()) })
            .collect(),
        ..ModelProto::default()
    })
}

/// Exports a graph and writes it atomically.
pub fn write_onnx(graph: &Graph, options: &ExportOptions, path: &Path) -> Result<u64> {
    let model = export_onnx(graph, options)?;
    sculpt_onnx::write_model(path, &model)
        .map_err(|e| Error::invalid(path, format!("cannot write the ONNX model: {e}")))?;
    Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
}

fn needs_opset_21(graph: &Graph, options: &ExportOptions) -> bool {
    let weights = options.weights.values().any(|w| match w {
        WeightStorage::Int(q) => q.needs_opset_21(),
        _ => false,
    });
    let activations = graph.nodes().iter().any(|n| match &n.op {
        Op::FakeQuant(fq) => activation_type(fq)
            .is_some_and(|(t, _, _)| ![data_type::INT8, data_type::UINT8].contains(&t)),
        _ => false,
    });
    weights || activations
}

/// The integer type a fake quantizer's grid fits in, with that type's range.
fn activation_type(fq: &FakeQuant) -> Option<(i32, f32, f32)> {
    let types = [
        (data_type::INT4, -8.0, 7.0),
        (data_type::UINT4, 0.0, 15.0),
        (data_type::INT8, -128.0, 127.0),
        (data_type::UINT8, 0.0, 255.0),
        (data_type::INT16, -32768.0, 32767.0),
        (data_type::UINT16, 0.0, 65535.0),
    ];
    // The exact range first, then the narrowest 8- or 16-bit container (the grid is clipped to
    // it).
    types
        .iter()
        .find(|(_, lo, hi)| *lo == fq.q_min && *hi == fq.q_max)
        .or_else(|| types[2..].iter().find(|(_, lo, hi)| *lo <= fq.q_min && fq.q_max <= *hi))
        .copied()
}

type LayerResult = std::result::Result<String, String>;

struct Builder<'a> {
    opset: i64,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    options: &'a ExportOptions,
}

fn attr_i(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::INT),
        i: Some(v),
        ..AttributeProto::default()
    }
}

fn attr_f(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::FLOAT),
        f: Some(v),
        ..AttributeProto::default()
    }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::INTS),
        ints: v.to_vec(),
        ..AttributeProto::default()
    }
}

fn value_info(name: &str, elem: i32, dims: &[Result<usize, &str>]) -> ValueInfoProto {
    let shape = (!dims.is_empty()).then(|| TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| match d {
                Ok(n) => DimensionProto { dim_value: Some(*n as i64), ..DimensionProto::default() },
                Err(p) => DimensionProto {
                    dim_param: Some((*p).to_string()),
                    ..DimensionProto::default()
                },
            })
            .collect(),
    });
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto { elem_type: Some(elem), shape }),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

/// Packs 4-bit values two to a byte, the first in the low nibble (ONNX's int4 layout).
fn pack_nibbles(values: &[i32]) -> Vec<u8> {
    values
        .chunks(2)
        .map(|p| {
            let lo = (p[0] & 0xF) as u8;
            let hi = p.get(1).map_or(0, |v| (v & 0xF) as u8);
            lo | (hi << 4)
        })
        .collect()
}

fn int_tensor(name: &str, dims: &[usize], values: &[i32], bits: u8, signed: bool) -> TensorProto {
    let (ty, raw) = match (bits, signed) {
        (0..=4, true) => (data_type::INT4, pack_nibbles(values)),
        (0..=4, false) => (data_type::UINT4, pack_nibbles(values)),
        (5..=8, true) => (data_type::INT8, values.iter().map(|v| *v as i8 as u8).collect()),
        (5..=8, false) => (data_type::UINT8, values.iter().map(|v| *v as u8).collect()),
        (_, true) => {
            (data_type::INT16, values.iter().flat_map(|v| (*v as i16).to_le_bytes()).collect())
        }
        (_, false) => {
            (data_type::UINT16, values.iter().flat_map(|v| (*v as u16).to_le_bytes()).collect())
        }
    };
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(ty),
        name: Some(name.into()),
        raw_data: Some(raw),
        ..TensorProto::default()
    }
}

fn f32_values(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?)
}

impl Builder<'_> {
    /// Adds a node named after its one output.
    fn node(
        &mut self,
        op: &str,
        output: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: Some(output.to_string()),
            op_type: Some(op.to_string()),
            attribute: attrs,
            ..NodeProto::default()
        });
        output.to_string()
    }

    fn f32_init(&mut self, name: &str, dims: &[usize], values: Vec<f32>) -> String {
        self.initializers.push(encode(name, dims, &Values::F32(values)));
        name.to_string()
    }

    fn i64_init(&mut self, name: &str, dims: &[usize], values: Vec<i64>) -> String {
        self.initializers.push(encode(name, dims, &Values::I64(values)));
        name.to_string()
    }

    fn tensor_init(&mut self, name: &str, t: &Tensor) -> Result<String> {
        let dims = t.dims().to_vec();
        Ok(match t.dtype() {
            DType::U8 | DType::U32 | DType::I64 => {
                let v: Vec<i64> = t.to_dtype(DType::I64)?.flatten_all()?.to_vec1()?;
                self.i64_init(name, &dims, v)
            }
            _ => {
                let v = f32_values(t)?;
                self.f32_init(name, &dims, v)
            }
        })
    }

    /// Reduction with `axes` as an attribute before opset 18 and as an input from it on
    /// (ReduceSum took the input form at opset 13).
    fn reduce(&mut self, op: &str, out: &str, x: &str, axes: &[i64], keep: bool) -> String {
        let keep = attr_i("keepdims", keep as i64);
        if op == "ReduceSum" || self.opset >= 18 {
            let a = self.i64_init(&format!("{out}/axes"), &[axes.len()], axes.to_vec());
            self.node(op, out, &[x, &a], vec![keep])
        } else {
            self.node(op, out, &[x], vec![attr_ints("axes", axes), keep])
        }
    }

    /// A weight as a float32 value: an initializer, or a stored form and the nodes that turn it
    /// into float32. `transpose` writes a 2-D weight as `[cols, rows]` (for MatMul).
    fn weight(&mut self, layer: &str, role: &str, t: &Tensor, transpose: bool) -> Result<String> {
        let name = format!("{layer}.{role}");
        let dims = t.dims().to_vec();
        let storage = self.options.weights.get(&name).cloned();
        let tdims = if transpose { vec![dims[1], dims[0]] } else { dims.clone() };
        match storage {
            None => {
                let t = if transpose { t.t()?.contiguous()? } else { t.clone() };
                Ok(self.f32_init(&name, &tdims, f32_values(&t)?))
            }
            Some(WeightStorage::Float16 | WeightStorage::BFloat16) => {
                let half = matches!(storage, Some(WeightStorage::Float16));
                let t = if transpose { t.t()?.contiguous()? } else { t.clone() };
                let v = f32_values(&t)?;
                let (ty, raw): (i32, Vec<u8>) = if half {
                    let raw =
                        v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect();
                    (data_type::FLOAT16, raw)
                } else {
                    let raw =
                        v.iter().flat_map(|x| half::bf16::from_f32(*x).to_le_bytes()).collect();
                    (data_type::BFLOAT16, raw)
                };
                let stored = format!("{name}/stored");
                self.initializers.push(TensorProto {
                    dims: tdims.iter().map(|&d| d as i64).collect(),
                    data_type: Some(ty),
                    name: Some(stored.clone()),
                    raw_data: Some(raw),
                    ..TensorProto::default()
                });
                Ok(self.node("Cast", &name, &[&stored], vec![attr_i("to", 1)]))
            }
            Some(WeightStorage::Int(q)) => self.int_weight(&name, &dims, &q, transpose),
        }
    }

    fn int_weight(
        &mut self,
        name: &str,
        dims: &[usize],
        q: &IntWeight,
        transpose: bool,
    ) -> Result<String> {
        if q.rows * q.cols != q.values.len() || dims.iter().product::<usize>() != q.values.len() {
            return Err(Error::Graph {
                msg: format!(
                    "weight `{name}`: {} stored integers for shape {dims:?} ({} × {})",
                    q.values.len(),
                    q.rows,
                    q.cols
                ),
            });
        }
        let signed = q.signed();
        let zero_type_values = |zs: &[i32]| zs.to_vec();
        let grouped = !q.per_tensor && q.group_cols < q.cols;
        let qname = format!("{name}/quantized");
        let sname = format!("{name}/scale");
        let zname = format!("{name}/zero_point");
        if !grouped {
            // Per tensor or per output channel, on the weight's own shape (what onnxruntime's
            // QDQ fusion looks for).
            let (values, vdims, axis) = if transpose {
                let mut v = vec![0; q.values.len()];
                for r in 0..q.rows {
                    for c in 0..q.cols {
                        v[c * q.rows + r] = q.values[r * q.cols + c];
                    }
                }
                (v, vec![q.cols, q.rows], 1)
            } else {
                (q.values.clone(), dims.to_vec(), 0)
            };
            self.initializers.push(int_tensor(&qname, &vdims, &values, q.bits, signed));
            let sdims: Vec<usize> = if q.per_tensor { vec![] } else { vec![q.rows] };
            self.f32_init(&sname, &sdims, q.scales.clone());
            let zeros = if signed { vec![0; q.scales.len()] } else { zero_type_values(&q.zeros) };
            self.initializers.push(int_tensor(&zname, &sdims, &zeros, q.bits, signed));
            let attrs = if q.per_tensor { vec![] } else { vec![attr_i("axis", axis)] };
            return Ok(self.node("DequantizeLinear", name, &[&qname, &sname, &zname], attrs));
        }
        let groups = q.cols.div_ceil(q.group_cols);
        if transpose {
            // A Linear's weight as MatMul takes it, `[cols, rows]`, in blocks down axis 0 and
            // straight into the MatMul: the form onnxruntime fuses into its 4-bit MatMulNBits
            // kernel (a `DequantizeLinear` left in the graph runs on every inference). Only
            // Linear layers on sequences take this path: on a 2-D input onnxruntime fuses
            // MatMul + Add into Gemm first, whether the 4-bit fusion then happens depends on
            // the layers that follow, and a layer's cost would depend on its neighbours; the
            // Gemm form below costs the same everywhere.
            let t = |v: &[i32], r: usize, c: usize| -> Vec<i32> {
                let mut out = vec![0; v.len()];
                for i in 0..r {
                    for j in 0..c {
                        out[j * r + i] = v[i * c + j];
                    }
                }
                out
            };
            let values = t(&q.values, q.rows, q.cols);
            self.initializers.push(int_tensor(&qname, &[q.cols, q.rows], &values, q.bits, signed));
            let mut scales = vec![0.0; q.scales.len()];
            for r in 0..q.rows {
                for g in 0..groups {
                    scales[g * q.rows + r] = q.scales[r * groups + g];
                }
            }
            self.f32_init(&sname, &[groups, q.rows], scales);
            let zeros = if signed { vec![0; q.scales.len()] } else { t(&q.zeros, q.rows, groups) };
            self.initializers.push(int_tensor(&zname, &[groups, q.rows], &zeros, q.bits, signed));
            let attrs = vec![attr_i("axis", 0), attr_i("block_size", q.group_cols as i64)];
            return Ok(self.node("DequantizeLinear", name, &[&qname, &sname, &zname], attrs));
        }
        // Per group along a row: blocks on the [rows, cols] view (opset 21), then the weight's
        // shape.
        self.initializers.push(int_tensor(&qname, &[q.rows, q.cols], &q.values, q.bits, signed));
        self.f32_init(&sname, &[q.rows, groups], q.scales.clone());
        let zeros = if signed { vec![0; q.scales.len()] } else { zero_type_values(&q.zeros) };
        self.initializers.push(int_tensor(&zname, &[q.rows, groups], &zeros, q.bits, signed));
        let attrs = vec![attr_i("axis", 1), attr_i("block_size", q.group_cols as i64)];
        let flat = format!("{name}/dequantized");
        self.node("DequantizeLinear", &flat, &[&qname, &sname, &zname], attrs);
        if dims.len() == 2 {
            return Ok(self.node("Identity", name, &[&flat], vec![]));
        }
        let shape = self.i64_init(
            &format!("{name}/shape"),
            &[dims.len()],
            dims.iter().map(|&d| d as i64).collect(),
        );
        Ok(self.node("Reshape", name, &[&flat, &shape], vec![]))
    }

    /// The graph inputs, and the value each IR input stands for inside the graph.
    fn inputs(&mut self, graph: &Graph) -> Result<(Vec<ValueInfoProto>, Vec<String>)> {
        let tokens: Result<usize, &str> = graph.token_length().ok_or("tokens");
        let mut infos = Vec::new();
        let mut values = Vec::new();
        let ids =
            graph.inputs().iter().find(|s| s.kind == InputKind::TokenIds).map(|s| s.name.clone());
        for spec in graph.inputs() {
            let name = spec.name.as_str();
            match &spec.kind {
                InputKind::Image { channels, height, width, mean, std } => {
                    let c = *channels;
                    infos.push(value_info(
                        name,
                        data_type::FLOAT,
                        &[Err("batch"), Ok(c), Ok(*height), Ok(*width)],
                    ));
                    let expand = |v: &[f32], default: f32| -> Vec<f32> {
                        match v.len() {
                            0 => vec![default; c],
                            1 => vec![v[0]; c],
                            _ => v.to_vec(),
                        }
                    };
                    if mean.iter().all(|m| *m == 0.0) && std.iter().all(|s| *s == 1.0) {
                        values.push(name.to_string());
                        continue;
                    }
                    let m =
                        self.f32_init(&format!("{name}/mean"), &[1, c, 1, 1], expand(mean, 0.0));
                    let s = self.f32_init(&format!("{name}/std"), &[1, c, 1, 1], expand(std, 1.0));
                    let centred = format!("{name}/centred");
                    self.node("Sub", &centred, &[name, &m], vec![]);
                    let out = format!("{name}/normalised");
                    values.push(self.node("Div", &out, &[&centred, &s], vec![]));
                }
                InputKind::Features { dim } => {
                    infos.push(value_info(name, data_type::FLOAT, &[Err("batch"), Ok(*dim)]));
                    values.push(name.to_string());
                }
                InputKind::TokenIds | InputKind::TokenTypeIds => {
                    infos.push(value_info(name, data_type::INT64, &[Err("batch"), tokens]));
                    values.push(name.to_string());
                }
                InputKind::AttentionMask => {
                    infos.push(value_info(name, data_type::INT64, &[Err("batch"), tokens]));
                    let out = format!("{name}/float");
                    values.push(self.node("Cast", &out, &[name], vec![attr_i("to", 1)]));
                }
                InputKind::PositionIds => {
                    // Generated: 0..tokens for every row, shaped like the token ids.
                    let Some(ids) = &ids else {
                        return Err(Error::Graph {
                            msg: "position ids without token ids cannot be exported".into(),
                        });
                    };
                    let shape = format!("{name}/ids_shape");
                    self.node("Shape", &shape, &[ids], vec![]);
                    let len = format!("{name}/length");
                    self.node("Shape", &len, &[ids], vec![attr_i("start", 1), attr_i("end", 2)]);
                    let zero = self.i64_init(&format!("{name}/zero"), &[], vec![0]);
                    let one = self.i64_init(&format!("{name}/one"), &[], vec![1]);
                    let axes = self.i64_init(&format!("{name}/axes"), &[1], vec![0]);
                    let n = format!("{name}/n");
                    self.node("Squeeze", &n, &[&len, &axes], vec![]);
                    let range = format!("{name}/range");
                    self.node("Range", &range, &[&zero, &n, &one], vec![]);
                    let out = format!("{name}/generated");
                    values.push(self.node("Expand", &out, &[&range, &shape], vec![]));
                }
            }
        }
        Ok((infos, values))
    }

    fn layer(
        &mut self,
        graph: &Graph,
        idx: usize,
        xs: &[String],
        shapes: &[&[usize]],
    ) -> LayerResult {
        let node = &graph.nodes()[idx];
        let n = node.name.as_str();
        let e = |err: Error| err.to_string();
        let x = xs.first().map(String::as_str).unwrap_or("");
        let pool_attrs = |p: &Pool2d| {
            vec![
                attr_ints("kernel_shape", &[p.kernel.0 as i64, p.kernel.1 as i64]),
                attr_ints("strides", &[p.stride.0 as i64, p.stride.1 as i64]),
                attr_ints(
                    "pads",
                    &[
                        p.padding.0 as i64,
                        p.padding.1 as i64,
                        p.padding.0 as i64,
                        p.padding.1 as i64,
                    ],
                ),
            ]
        };
        Ok(match &node.op {
            Op::Linear(l) => {
                let rank = shapes.first().map_or(2, |s| s.len());
                if rank == 2 {
                    let w = self.weight(n, "weight", &l.weight, false).map_err(e)?;
                    let mut ins = vec![x.to_string(), w];
                    if let Some(bias) = &l.bias {
                        ins.push(self.weight(n, "bias", bias, false).map_err(e)?);
                    }
                    let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
                    self.node("Gemm", n, &ins, vec![attr_i("transB", 1)])
                } else {
                    let w = self.weight(n, "weight", &l.weight, true).map_err(e)?;
                    match &l.bias {
                        None => self.node("MatMul", n, &[x, &w], vec![]),
                        Some(bias) => {
                            let b = self.weight(n, "bias", bias, false).map_err(e)?;
                            let mm = format!("{n}/matmul");
                            self.node("MatMul", &mm, &[x, &w], vec![]);
                            self.node("Add", n, &[&mm, &b], vec![])
                        }
                    }
                }
            }
            Op::Conv2d(c) => {
                let w = self.weight(n, "weight", &c.weight, false).map_err(e)?;
                let mut ins = vec![x.to_string(), w];
                if let Some(bias) = &c.bias {
                    ins.push(self.weight(n, "bias", bias, false).map_err(e)?);
                }
                let (kh, kw) = c.kernel();
                let (ph, pw) = (c.padding.0 as i64, c.padding.1 as i64);
                let attrs = vec![
                    attr_ints("kernel_shape", &[kh as i64, kw as i64]),
                    attr_ints("strides", &[c.stride.0 as i64, c.stride.1 as i64]),
                    attr_ints("pads", &[ph, pw, ph, pw]),
                    attr_ints("dilations", &[c.dilation as i64, c.dilation as i64]),
                    attr_i("group", c.groups as i64),
                ];
                let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
                self.node("Conv", n, &ins, attrs)
            }
            Op::BatchNorm2d(bn) => {
                let s = self.weight(n, "weight", &bn.weight, false).map_err(e)?;
                let b = self.weight(n, "bias", &bn.bias, false).map_err(e)?;
                let m = self.weight(n, "running_mean", &bn.running_mean, false).map_err(e)?;
                let v = self.weight(n, "running_var", &bn.running_var, false).map_err(e)?;
                let attrs = vec![attr_f("epsilon", bn.eps as f32)];
                self.node("BatchNormalization", n, &[x, &s, &b, &m, &v], attrs)
            }
            Op::LayerNorm(ln) => {
                let s = self.weight(n, "weight", &ln.weight, false).map_err(e)?;
                let b = self.weight(n, "bias", &ln.bias, false).map_err(e)?;
                let attrs = vec![attr_i("axis", -1), attr_f("epsilon", ln.eps as f32)];
                self.node("LayerNormalization", n, &[x, &s, &b], attrs)
            }
            Op::InstanceNorm(norm) => {
                let s = self.weight(n, "weight", &norm.weight, false).map_err(e)?;
                let b = self.weight(n, "bias", &norm.bias, false).map_err(e)?;
                let attrs = vec![attr_f("epsilon", norm.eps as f32)];
                self.node("InstanceNormalization", n, &[x, &s, &b], attrs)
            }
            Op::Embedding(emb) => {
                let w = self.weight(n, "weight", &emb.weight, false).map_err(e)?;
                let ids = match node.inputs[0] {
                    ValueRef::Input(_) => x.to_string(),
                    ValueRef::Node(_) => {
                        let cast = format!("{n}/ids");
                        self.node("Cast", &cast, &[x], vec![attr_i("to", 7)])
                    }
                };
                self.node("Gather", n, &[&w, &ids], vec![attr_i("axis", 0)])
            }
            Op::Attention(a) => self.attention(n, a.n_heads, xs),
            Op::Relu => self.node("Relu", n, &[x], vec![]),
            Op::Relu6 => {
                let lo = self.f32_init(&format!("{n}/min"), &[], vec![0.0]);
                let hi = self.f32_init(&format!("{n}/max"), &[], vec![6.0]);
                self.node("Clip", n, &[x, &lo, &hi], vec![])
            }
            Op::Gelu => {
                // 0.5 · x · (1 + erf(x / √2)): the exact GELU, decomposed (the Gelu operator
                // needs opset 20; onnxruntime fuses this pattern).
                let r = self.f32_init(&format!("{n}/sqrt2"), &[], vec![std::f32::consts::SQRT_2]);
                let one = self.f32_init(&format!("{n}/one"), &[], vec![1.0]);
                let half = self.f32_init(&format!("{n}/half"), &[], vec![0.5]);
                let d = self.node("Div", &format!("{n}/scaled"), &[x, &r], vec![]);
                let erf = self.node("Erf", &format!("{n}/erf"), &[&d], vec![]);
                let p = self.node("Add", &format!("{n}/plus1"), &[&erf, &one], vec![]);
                let xp = self.node("Mul", &format!("{n}/xp"), &[x, &p], vec![]);
                self.node("Mul", n, &[&xp, &half], vec![])
            }
            Op::Tanh => self.node("Tanh", n, &[x], vec![]),
            Op::MaxPool2d(p) => self.node("MaxPool", n, &[x], pool_attrs(p)),
            Op::AvgPool2d(p) => {
                let mut attrs = pool_attrs(p);
                attrs.push(attr_i("count_include_pad", 1));
                self.node("AveragePool", n, &[x], attrs)
            }
            Op::AdaptiveAvgPool2d { output } => {
                let s = shapes.first().copied().unwrap_or(&[]);
                if *output == (1, 1) {
                    self.node("GlobalAveragePool", n, &[x], vec![])
                } else if s.len() == 4 && s[2] % output.0 == 0 && s[3] % output.1 == 0 {
                    let k = (s[2] / output.0, s[3] / output.1);
                    let p = Pool2d { kernel: k, stride: k, padding: (0, 0) };
                    self.node("AveragePool", n, &[x], pool_attrs(&p))
                } else {
                    return Err(format!(
                        "adaptive average pooling of {s:?} to {output:?} has bins of unequal \
                         size, which no ONNX pooling operator expresses"
                    ));
                }
            }
            Op::Flatten => self.node("Flatten", n, &[x], vec![attr_i("axis", 1)]),
            Op::Add => {
                let ins: Vec<&str> = xs.iter().map(String::as_str).collect();
                if ins.len() == 2 {
                    self.node("Add", n, &ins, vec![])
                } else {
                    self.node("Sum", n, &ins, vec![])
                }
            }
            Op::Softmax => self.node("Softmax", n, &[x], vec![attr_i("axis", -1)]),
            Op::MeanPool => {
                let axes = self.i64_init(&format!("{n}/axes"), &[1], vec![2]);
                let m = self.node("Unsqueeze", &format!("{n}/mask"), &[&xs[1], &axes], vec![]);
                let prod = self.node("Mul", &format!("{n}/masked"), &[x, &m], vec![]);
                let sum = self.reduce("ReduceSum", &format!("{n}/sum"), &prod, &[1], false);
                let count = self.reduce("ReduceSum", &format!("{n}/count"), &m, &[1], false);
                let lo = self.f32_init(&format!("{n}/min"), &[], vec![1e-9]);
                let c = self.node("Clip", &format!("{n}/count_clipped"), &[&count, &lo], vec![]);
                self.node("Div", n, &[&sum, &c], vec![])
            }
            Op::L2Normalize => {
                let norm = self.reduce("ReduceL2", &format!("{n}/norm"), x, &[-1], true);
                let lo = self.f32_init(&format!("{n}/min"), &[], vec![1e-12]);
                let c = self.node("Clip", &format!("{n}/norm_clipped"), &[&norm, &lo], vec![]);
                self.node("Div", n, &[x, &c], vec![])
            }
            Op::SelectToken { index } => {
                let i = self.i64_init(&format!("{n}/index"), &[], vec![*index as i64]);
                self.node("Gather", n, &[x, &i], vec![attr_i("axis", 1)])
            }
            Op::FakeQuant(fq) => self.fake_quant(n, fq, x)?,
            Op::Constant(c) => {
                let name = format!("{n}/value");
                let v = self.tensor_init(&name, &c.value).map_err(e)?;
                self.node("Identity", n, &[&v], vec![])
            }
            Op::ConvTranspose2d(c) => {
                let w = self.weight(n, "weight", &c.weight, false).map_err(e)?;
                let mut ins = vec![x.to_string(), w];
                if let Some(bias) = &c.bias {
                    ins.push(self.weight(n, "bias", bias, false).map_err(e)?);
                }
                let (s, p, o, d) =
                    (c.stride as i64, c.padding as i64, c.output_padding as i64, c.dilation as i64);
                let dims = c.weight.dims();
                let attrs = vec![
                    attr_ints("kernel_shape", &[dims[2] as i64, dims[3] as i64]),
                    attr_ints("strides", &[s, s]),
                    attr_ints("pads", &[p, p, p, p]),
                    attr_ints("output_padding", &[o, o]),
                    attr_ints("dilations", &[d, d]),
                ];
                let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
                self.node("ConvTranspose", n, &ins, attrs)
            }
            Op::Tensor(_) => {
                return Err(format!(
                    "it is a general tensor operation ({}) of an imported graph; ONNX export \
                     covers the layers of sculpt's own graphs, not yet every imported operation",
                    node.op.kind()
                ));
            }
        })
    }

    fn fake_quant(&mut self, n: &str, fq: &FakeQuant, x: &str) -> LayerResult {
        let Some((ty, lo, hi)) = activation_type(fq) else {
            return Err(format!(
                "its activation grid [{}, {}] fits no 16-bit integer type",
                fq.q_min, fq.q_max
            ));
        };
        let z = fq.zero_point.round();
        let mut input = x.to_string();
        if (lo, hi) != (fq.q_min, fq.q_max) {
            // A grid narrower than its container: clip in float to the grid's end points.
            let a = self.f32_init(&format!("{n}/min"), &[], vec![(fq.q_min - z) * fq.scale]);
            let b = self.f32_init(&format!("{n}/max"), &[], vec![(fq.q_max - z) * fq.scale]);
            input = self.node("Clip", &format!("{n}/clipped"), &[x, &a, &b], vec![]);
        }
        let s = self.f32_init(&format!("{n}/scale"), &[], vec![fq.scale]);
        let signed = [data_type::INT4, data_type::INT8, data_type::INT16].contains(&ty);
        let bits = match ty {
            data_type::INT4 | data_type::UINT4 => 4,
            data_type::INT8 | data_type::UINT8 => 8,
            _ => 16,
        };
        let zp = format!("{n}/zero_point");
        self.initializers.push(int_tensor(&zp, &[], &[z as i32], bits, signed));
        let q = format!("{n}/quantized");
        self.node("QuantizeLinear", &q, &[&input, &s, &zp], vec![]);
        Ok(self.node("DequantizeLinear", n, &[&q, &s, &zp], vec![]))
    }

    /// Multi-head attention from the q, k and v projections and the float mask, as the IR
    /// computes it: per-head scaled dot products, padding masked with the most negative float.
    fn attention(&mut self, n: &str, heads: usize, xs: &[String]) -> String {
        let shape = self.i64_init(&format!("{n}/split_shape"), &[4], vec![0, 0, heads as i64, -1]);
        let split = |which: &str, x: &str, perm: &[i64], b: &mut Self| {
            let r = format!("{n}/{which}_heads");
            b.node("Reshape", &r, &[x, &shape], vec![]);
            let t = format!("{n}/{which}_t");
            b.node("Transpose", &t, &[&r], vec![attr_ints("perm", perm)])
        };
        let q = split("q", &xs[0], &[0, 2, 1, 3], self);
        let k = split("k", &xs[1], &[0, 2, 3, 1], self);
        let v = split("v", &xs[2], &[0, 2, 1, 3], self);
        let scores = self.node("MatMul", &format!("{n}/scores"), &[&q, &k], vec![]);
        // The head width is the query's last dimension over the heads: divide by its square root
        // computed in the graph, so pruned heads need no new constant.
        let qshape = format!("{n}/q_shape");
        self.node("Shape", &qshape, &[&q], vec![attr_i("start", 3), attr_i("end", 4)]);
        let qf = self.node("Cast", &format!("{n}/head_dim"), &[&qshape], vec![attr_i("to", 1)]);
        let sq = self.node("Sqrt", &format!("{n}/sqrt_head_dim"), &[&qf], vec![]);
        let scaled = self.node("Div", &format!("{n}/scaled"), &[&scores, &sq], vec![]);
        let one = self.f32_init(&format!("{n}/one"), &[], vec![1.0]);
        let big = self.f32_init(&format!("{n}/most_negative"), &[], vec![f32::MIN]);
        let inv = self.node("Sub", &format!("{n}/padding"), &[&one, &xs[3]], vec![]);
        let bias = self.node("Mul", &format!("{n}/bias2d"), &[&inv, &big], vec![]);
        let axes = self.i64_init(&format!("{n}/bias_axes"), &[2], vec![1, 2]);
        let bias = self.node("Unsqueeze", &format!("{n}/bias"), &[&bias, &axes], vec![]);
        let masked = self.node("Add", &format!("{n}/masked"), &[&scaled, &bias], vec![]);
        let probs =
            self.node("Softmax", &format!("{n}/probs"), &[&masked], vec![attr_i("axis", -1)]);
        let ctx = self.node("MatMul", &format!("{n}/context"), &[&probs, &v], vec![]);
        let t = self.node(
            "Transpose",
            &format!("{n}/merge_t"),
            &[&ctx],
            vec![attr_ints("perm", &[0, 2, 1, 3])],
        );
        let merge = self.i64_init(&format!("{n}/merge_shape"), &[3], vec![0, 0, -1]);
        self.node("Reshape", n, &[&t, &merge], vec![])
    }
}

/// Writes a batch as the inputs of the exported model, one `<input name>.npy` per ONNX input
/// (float32 images or features; int64 token ids, segment ids and attention mask), into `dir`.
/// Returns the files written.
pub fn write_onnx_inputs(
    graph: &Graph,
    batch: &crate::graph::Batch,
    dir: &Path,
) -> Result<Vec<std::path::PathBuf>> {
    use crate::graph::Batch;
    let mut written = Vec::new();
    let padded;
    let batch = match (batch, graph.token_length()) {
        (Batch::Tokens(t), Some(length)) if t.ids.dim(1)? < length => {
            padded = Batch::Tokens(crate::graph::pad_tokens(t, length)?);
            &padded
        }
        _ => batch,
    };
    for spec in graph.inputs() {
        let value = match (&spec.kind, batch) {
            (InputKind::Image { .. } | InputKind::Features { .. }, Batch::Dense(x)) => {
                x.to_dtype(DType::F32)?
            }
            (InputKind::TokenIds, Batch::Tokens(t)) => t.ids.to_dtype(DType::I64)?,
            (InputKind::TokenTypeIds, Batch::Tokens(t)) => match &t.type_ids {
                Some(ty) => ty.to_dtype(DType::I64)?,
                None => t.ids.zeros_like()?.to_dtype(DType::I64)?,
            },
            (InputKind::AttentionMask, Batch::Tokens(t)) => t.mask.to_dtype(DType::I64)?,
            (InputKind::PositionIds, _) => continue,
            (kind, _) => {
                return Err(Error::Input {
                    msg: format!("input `{}` ({kind:?}) does not match the batch", spec.name),
                });
            }
        };
        let path = dir.join(format!("{}.npy", spec.name));
        value.write_npy(&path).map_err(|e| Error::invalid(&path, e.to_string()))?;
        written.push(path);
    }
    Ok(written)
}
