//! A graph's structure as JSON (everything but the tensors), so that a rewritten graph — pruned
//! shapes, low-rank factors, inserted quantizers — can be stored beside its tensors in a
//! safetensors file and rebuilt without the architecture builder.
//!
//! ```json
//! {"version": 1,
//!  "inputs": [{"name": "image", "kind": "image", "channels": 1, "height": 28, "width": 28,
//!              "mean": [0.286], "std": [0.353]}],
//!  "nodes": [{"name": "conv1", "kind": "conv2d", "inputs": ["image"],
//!             "attrs": {"stride": [1, 1], "padding": [1, 1], "dilation": 1, "groups": 1}}, ...],
//!  "outputs": [["logits", "classifier"]],
//!  "task": {"classification": {"classes": 10}}}
//! ```
//!
//! Node inputs and outputs name graph inputs or earlier nodes. A node's tensors are
//! `<name>.<role>` in the accompanying tensor map.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::graph::{Graph, InputKind, InputSpec, Node, Task, ValueRef};
use crate::ops::{
    Attention, BatchNorm2d, Conv2d, Embedding, FakeQuant, LayerNorm, Linear, Op, Pool2d,
};
use crate::tensor_ops::{Constant, ConvTranspose2d, InstanceNorm, TensorOp};

/// The metadata key under which a graph's JSON is stored in a safetensors file.
pub const GRAPH_METADATA_KEY: &str = "sculpt.graph";

const KINDS: &[&str] = &[
    "linear",
    "conv2d",
    "depthwise_conv2d",
    "batch_norm2d",
    "layer_norm",
    "embedding",
    "attention",
    "relu",
    "relu6",
    "gelu",
    "tanh",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "flatten",
    "add",
    "softmax",
    "mean_pool",
    "l2_normalize",
    "select_token",
    "fake_quant",
    "constant",
    "instance_norm",
    "conv_transpose2d",
];

/// Kinds of [`TensorOp`]s; their attributes are the op's own serde form.
const TENSOR_KINDS: &[&str] = &[
    "unary",
    "binary",
    "where",
    "matmul",
    "reshape",
    "transpose",
    "concat",
    "slice",
    "gather",
    "gather_dyn",
    "expand",
    "reduce",
    "softmax_axis",
    "pad",
    "resize",
    "fill",
];

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphDoc {
    version: u32,
    inputs: Vec<Map<String, Value>>,
    nodes: Vec<NodeDoc>,
    outputs: Vec<(String, String)>,
    task: Value,
    /// The largest batch one forward pass takes, for graphs that fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    batch_limit: Option<usize>,
    /// The fixed sequence length, for token graphs that fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_length: Option<usize>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeDoc {
    name: String,
    kind: String,
    inputs: Vec<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    attrs: Map<String, Value>,
}

/// The structure of `graph` as JSON.
pub fn graph_to_json(graph: &Graph) -> String {
    let input_name = |v: &ValueRef| match v {
        ValueRef::Input(i) => graph.inputs()[*i].name.clone(),
        ValueRef::Node(j) => graph.nodes()[*j].name.clone(),
    };
    let inputs = graph
        .inputs()
        .iter()
        .map(|i| {
            let mut m = Map::new();
            m.insert("name".into(), json!(i.name));
            match &i.kind {
                InputKind::Image { channels, height, width, mean, std } => {
                    m.insert("kind".into(), json!("image"));
                    m.insert("channels".into(), json!(channels));
                    m.insert("height".into(), json!(height));
                    m.insert("width".into(), json!(width));
                    m.insert("mean".into(), json!(mean));
                    m.insert("std".into(), json!(std));
                }
                InputKind::Features { dim } => {
                    m.insert("kind".into(), json!("features"));
                    m.insert("dim".into(), json!(dim));
                }
                InputKind::TokenIds => drop(m.insert("kind".into(), json!("token_ids"))),
                InputKind::TokenTypeIds => drop(m.insert("kind".into(), json!("token_type_ids"))),
                InputKind::PositionIds => drop(m.insert("kind".into(), json!("position_ids"))),
                InputKind::AttentionMask => drop(m.insert("kind".into(), json!("attention_mask"))),
            }
            m
        })
        .collect();
    let nodes = graph
        .nodes()
        .iter()
        .map(|n| {
            let mut attrs = Map::new();
            let kind = match &n.op {
                Op::Conv2d(c) => {
                    attrs.insert("stride".into(), json!([c.stride.0, c.stride.1]));
                    attrs.insert("padding".into(), json!([c.padding.0, c.padding.1]));
                    attrs.insert("dilation".into(), json!(c.dilation));
                    attrs.insert("groups".into(), json!(c.groups));
                    "conv2d".to_string()
                }
                Op::BatchNorm2d(bn) => {
                    attrs.insert("eps".into(), json!(bn.eps));
                    "batch_norm2d".into()
                }
                Op::LayerNorm(ln) => {
                    attrs.insert("eps".into(), json!(ln.eps));
                    "layer_norm".into()
                }
                Op::Attention(a) => {
                    attrs.insert("n_heads".into(), json!(a.n_heads));
                    "attention".into()
                }
                Op::MaxPool2d(p) | Op::AvgPool2d(p) => {
                    attrs.insert("kernel".into(), json!([p.kernel.0, p.kernel.1]));
                    attrs.insert("stride".into(), json!([p.stride.0, p.stride.1]));
                    attrs.insert("padding".into(), json!([p.padding.0, p.padding.1]));
                    n.op.kind().to_string()
                }
                Op::AdaptiveAvgPool2d { output } => {
                    attrs.insert("output".into(), json!([output.0, output.1]));
                    "adaptive_avg_pool2d".into()
                }
                Op::SelectToken { index } => {
                    attrs.insert("index".into(), json!(index));
                    "select_token".into()
                }
                Op::FakeQuant(fq) => {
                    attrs.insert("scale".into(), json!(fq.scale));
                    attrs.insert("zero_point".into(), json!(fq.zero_point));
                    attrs.insert("q_min".into(), json!(fq.q_min));
                    attrs.insert("q_max".into(), json!(fq.q_max));
                    "fake_quant".into()
                }
                Op::Constant(c) => {
                    attrs.insert("trainable".into(), json!(c.trainable));
                    "constant".into()
                }
                Op::InstanceNorm(n) => {
                    attrs.insert("eps".into(), json!(n.eps));
                    "instance_norm".into()
                }
                Op::ConvTranspose2d(c) => {
                    attrs.insert("stride".into(), json!(c.stride));
                    attrs.insert("padding".into(), json!(c.padding));
                    attrs.insert("output_padding".into(), json!(c.output_padding));
                    attrs.insert("dilation".into(), json!(c.dilation));
                    "conv_transpose2d".into()
                }
                Op::Tensor(t) => {
                    if let Ok(Value::Object(m)) = serde_json::to_value(t) {
                        attrs = m;
                    }
                    n.op.kind().to_string()
                }
                other => other.kind().to_string(),
            };
            NodeDoc {
                name: n.name.clone(),
                kind,
                inputs: n.inputs.iter().map(input_name).collect(),
                attrs,
            }
        })
        .collect();
    let outputs = graph.outputs().iter().map(|(name, v)| (name.clone(), input_name(v))).collect();
    let task = match graph.task() {
        Task::Classification { classes } => json!({"classification": {"classes": classes}}),
        Task::Embedding { dim } => json!({"embedding": {"dim": dim}}),
    };
    let doc = GraphDoc {
        version: 1,
        inputs,
        nodes,
        outputs,
        task,
        batch_limit: graph.batch_limit(),
        token_length: graph.token_length(),
    };
    serde_json::to_string(&doc).unwrap_or_default()
}

/// Rebuilds a graph from its JSON and its tensors (`<node>.<role>`, converted to f32). `origin`
/// names the file in errors.
pub fn graph_from_json(
    text: &str,
    tensors: &HashMap<String, Tensor>,
    origin: &Path,
) -> Result<Graph> {
    let bad = |msg: String| Error::invalid(origin, msg);
    let doc: GraphDoc = serde_json::from_str(text)
        .map_err(|e| bad(format!("`{GRAPH_METADATA_KEY}` is not a valid graph: {e}")))?;
    if doc.version != 1 {
        return Err(bad(format!(
            "graph format version {} is not supported; expected 1",
            doc.version
        )));
    }
    let mut inputs = Vec::new();
    for (i, m) in doc.inputs.iter().enumerate() {
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let u = |k: &str| m.get(k).and_then(Value::as_u64).map(|v| v as usize);
        let floats = |k: &str| -> Vec<f32> {
            m.get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_f64()).map(|v| v as f32).collect())
                .unwrap_or_default()
        };
        let name = s("name").ok_or_else(|| bad(format!("input {i} has no name")))?;
        let kind = match s("kind").as_deref() {
            Some("image") => InputKind::Image {
                channels: u("channels")
                    .ok_or_else(|| bad(format!("input `{name}`: missing channels")))?,
                height: u("height")
                    .ok_or_else(|| bad(format!("input `{name}`: missing height")))?,
                width: u("width").ok_or_else(|| bad(format!("input `{name}`: missing width")))?,
                mean: floats("mean"),
                std: floats("std"),
            },
            Some("features") => InputKind::Features {
                dim: u("dim").ok_or_else(|| bad(format!("input `{name}`: missing dim")))?,
            },
            Some("token_ids") => InputKind::TokenIds,
            Some("token_type_ids") => InputKind::TokenTypeIds,
            Some("position_ids") => InputKind::PositionIds,
            Some("attention_mask") => InputKind::AttentionMask,
            other => return Err(bad(format!("input `{name}` has unknown kind {other:?}"))),
        };
        inputs.push(InputSpec { name, kind });
    }
    let mut index: BTreeMap<String, ValueRef> =
        inputs.iter().enumerate().map(|(i, s)| (s.name.clone(), ValueRef::Input(i))).collect();
    let mut nodes = Vec::new();
    for (j, nd) in doc.nodes.iter().enumerate() {
        let refs = nd
            .inputs
            .iter()
            .map(|n| {
                index.get(n).copied().ok_or_else(|| {
                    bad(format!(
                        "layer `{}` reads `{n}`, which is not an input or an earlier layer",
                        nd.name
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let op = op_from_doc(nd, tensors, origin)?;
        nodes.push(Node { name: nd.name.clone(), op, inputs: refs });
        index.insert(nd.name.clone(), ValueRef::Node(j));
    }
    let outputs = doc
        .outputs
        .iter()
        .map(|(name, v)| {
            index
                .get(v)
                .map(|r| (name.clone(), *r))
                .ok_or_else(|| bad(format!("output `{name}` refers to unknown `{v}`")))
        })
        .collect::<Result<Vec<_>>>()?;
    let task = if let Some(c) = doc.task.pointer("/classification/classes").and_then(Value::as_u64)
    {
        Task::Classification { classes: c as usize }
    } else if let Some(d) = doc.task.pointer("/embedding/dim").and_then(Value::as_u64) {
        Task::Embedding { dim: d as usize }
    } else {
        return Err(bad(format!("unknown task {}", doc.task)));
    };
    Ok(Graph::new(inputs, nodes, outputs, task)?
        .with_batch_limit(doc.batch_limit)
        .with_token_length(doc.token_length))
}

fn op_from_doc(nd: &NodeDoc, tensors: &HashMap<String, Tensor>, origin: &Path) -> Result<Op> {
    let name = &nd.name;
    let bad = |msg: String| Error::invalid(origin, format!("layer `{name}`: {msg}"));
    let tensor = |role: &str| -> Result<Tensor> {
        let key = format!("{name}.{role}");
        let t = tensors.get(&key).ok_or_else(|| Error::MissingTensor {
            path: origin.to_path_buf(),
            name: key.clone(),
            expected: Vec::new(),
        })?;
        Ok(t.to_dtype(DType::F32)?)
    };
    let optional = |role: &str| -> Result<Option<Tensor>> {
        match tensors.get(&format!("{name}.{role}")) {
            Some(t) => Ok(Some(t.to_dtype(DType::F32)?)),
            None => Ok(None),
        }
    };
    let pair = |key: &str| -> Result<(usize, usize)> {
        let a = nd
            .attrs
            .get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("missing `{key}`")))?;
        match a.as_slice() {
            [x, y] => Ok((
                x.as_u64().ok_or_else(|| bad(format!("`{key}` must hold integers")))? as usize,
                y.as_u64().ok_or_else(|| bad(format!("`{key}` must hold integers")))? as usize,
            )),
            _ => Err(bad(format!("`{key}` must hold two integers"))),
        }
    };
    let uint = |key: &str| -> Result<usize> {
        nd.attrs
            .get(key)
            .and_then(Value::as_u64)
            .map(|v| v as usize)
            .ok_or_else(|| bad(format!("missing `{key}`")))
    };
    let float = |key: &str| -> Result<f64> {
        nd.attrs.get(key).and_then(Value::as_f64).ok_or_else(|| bad(format!("missing `{key}`")))
    };
    let pool = || -> Result<Pool2d> {
        Ok(Pool2d { kernel: pair("kernel")?, stride: pair("stride")?, padding: pair("padding")? })
    };
    if TENSOR_KINDS.contains(&nd.kind.as_str()) {
        let op: TensorOp = serde_json::from_value(Value::Object(nd.attrs.clone()))
            .map_err(|e| bad(format!("`{}` attributes: {e}", nd.kind)))?;
        return Ok(Op::Tensor(op));
    }
    let flag = |key: &str| -> Result<bool> {
        nd.attrs.get(key).and_then(Value::as_bool).ok_or_else(|| bad(format!("missing `{key}`")))
    };
    Ok(match nd.kind.as_str() {
        "constant" => {
            Op::Constant(Constant { value: tensor("value")?, trainable: flag("trainable")? })
        }
        "instance_norm" => Op::InstanceNorm(InstanceNorm {
            weight: tensor("weight")?,
            bias: tensor("bias")?,
            eps: float("eps")?,
        }),
        "conv_transpose2d" => Op::ConvTranspose2d(ConvTranspose2d {
            weight: tensor("weight")?,
            bias: optional("bias")?,
            stride: uint("stride")?,
            padding: uint("padding")?,
            output_padding: uint("output_padding")?,
            dilation: uint("dilation")?,
        }),
        "linear" => Op::Linear(Linear::new(tensor("weight")?, optional("bias")?)),
        "conv2d" | "depthwise_conv2d" => Op::Conv2d(Conv2d {
            weight: tensor("weight")?,
            bias: optional("bias")?,
            stride: pair("stride")?,
            padding: pair("padding")?,
            dilation: uint("dilation")?,
            groups: uint("groups")?,
        }),
        "batch_norm2d" => Op::BatchNorm2d(BatchNorm2d {
            weight: tensor("weight")?,
            bias: tensor("bias")?,
            running_mean: tensor("running_mean")?,
            running_var: tensor("running_var")?,
            eps: float("eps")?,
        }),
        "layer_norm" => Op::LayerNorm(LayerNorm {
            weight: tensor("weight")?,
            bias: tensor("bias")?,
            eps: float("eps")?,
        }),
        "embedding" => Op::Embedding(Embedding { weight: tensor("weight")? }),
        "attention" => Op::Attention(Attention { n_heads: uint("n_heads")? }),
        "relu" => Op::Relu,
        "relu6" => Op::Relu6,
        "gelu" => Op::Gelu,
        "tanh" => Op::Tanh,
        "max_pool2d" => Op::MaxPool2d(pool()?),
        "avg_pool2d" => Op::AvgPool2d(pool()?),
        "adaptive_avg_pool2d" => Op::AdaptiveAvgPool2d { output: pair("output")? },
        "flatten" => Op::Flatten,
        "add" => Op::Add,
        "softmax" => Op::Softmax,
        "mean_pool" => Op::MeanPool,
        "l2_normalize" => Op::L2Normalize,
        "select_token" => Op::SelectToken { index: uint("index")? },
        "fake_quant" => Op::FakeQuant(FakeQuant {
            scale: float("scale")? as f32,
            zero_point: float("zero_point")? as f32,
            q_min: float("q_min")? as f32,
            q_max: float("q_max")? as f32,
        }),
        other => {
            return Err(bad(format!(
                "unknown layer kind `{other}`; expected one of {}, {}",
                KINDS.join(", "),
                TENSOR_KINDS.join(", ")
            )));
        }
    })
}

/// The kind names [`graph_from_json`] accepts.
pub fn layer_kind_names() -> &'static [&'static str] {
    KINDS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Batch, load_model, named_tensors};

    fn round_trip(name: &str) -> (Graph, Graph) {
        let m = load_model(name).unwrap();
        let json = graph_to_json(&m.graph);
        let tensors: HashMap<String, Tensor> = named_tensors(&m.graph).into_iter().collect();
        let back = graph_from_json(&json, &tensors, Path::new("x")).unwrap();
        (m.graph, back)
    }

    #[test]
    fn demo_cnn_round_trips_with_identical_outputs() {
        let (a, b) = round_trip("builtin:demo-cnn");
        assert_eq!(graph_to_json(&a), graph_to_json(&b));
        let x = Tensor::rand(0f32, 1., (3, 1, 28, 28), &candle_core::Device::Cpu).unwrap();
        let ya: Vec<Vec<f32>> = a.forward(&Batch::Dense(x.clone())).unwrap().to_vec2().unwrap();
        let yb: Vec<Vec<f32>> = b.forward(&Batch::Dense(x)).unwrap().to_vec2().unwrap();
        assert_eq!(ya, yb);
    }

    #[test]
    fn mobilenet_and_bert_structures_round_trip() {
        for name in ["builtin:mobilenet_v2", "builtin:bert-minilm"] {
            let (a, b) = round_trip(name);
            assert_eq!(graph_to_json(&a), graph_to_json(&b), "{name}");
            assert_eq!(a.n_params(), b.n_params());
        }
    }

    #[test]
    fn unknown_layer_kind_is_named() {
        let m = load_model("builtin:demo-mlp").unwrap();
        let json = graph_to_json(&m.graph).replace("\"kind\":\"relu\"", "\"kind\":\"swish\"");
        let tensors: HashMap<String, Tensor> = named_tensors(&m.graph).into_iter().collect();
        let err =
            graph_from_json(&json, &tensors, Path::new("m.safetensors")).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "m.safetensors: layer `relu1`: unknown layer kind `swish`; expected one of linear,"
            ),
            "{err}"
        );
    }
}
