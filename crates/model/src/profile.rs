//! Static profile of a model: shapes, parameters, MACs and bytes per layer.

use serde::Serialize;

use crate::error::Result;
use crate::graph::{Graph, ValueRef};

/// One layer's profile for a given batch size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerProfile {
    /// The layer name.
    pub name: String,
    /// The layer kind (`conv2d`, `linear`, ...).
    pub kind: String,
    /// Input shapes.
    pub input_shapes: Vec<Vec<usize>>,
    /// Output shape.
    pub output_shape: Vec<usize>,
    /// Learned parameters (BatchNorm running statistics excluded, as PyTorch counts).
    pub params: u64,
    /// Multiply-accumulates of one forward pass of the batch.
    pub macs: u64,
    /// Bytes of every stored tensor of the layer at fp32 (running statistics included).
    pub weight_bytes: u64,
    /// Bytes of the output activation at fp32.
    pub activation_bytes: u64,
    /// Whether the primary output depends on the layer (BERT's pooler does not).
    pub live: bool,
}

/// Totals over all layers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProfileTotal {
    /// Learned parameters.
    pub params: u64,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Stored weight bytes at fp32.
    pub weight_bytes: u64,
    /// Sum of all output activations at fp32.
    pub activation_bytes: u64,
    /// The largest set of activations alive at once during execution, at fp32 (graph inputs
    /// included), assuming each value is freed after its last reader.
    pub peak_activation_bytes: u64,
}

/// A model's profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelProfile {
    /// Batch size profiled.
    pub batch: usize,
    /// Tokens per sample (text models).
    pub tokens: usize,
    /// One row per layer, in execution order.
    pub layers: Vec<LayerProfile>,
    /// Totals.
    pub total: ProfileTotal,
}

/// Profiles `graph` for `batch` samples of `tokens` tokens (ignored by image models).
pub fn profile(graph: &Graph, batch: usize, tokens: usize) -> Result<ModelProfile> {
    let shapes = graph.shapes(batch, tokens)?;
    let input_shapes = graph.input_shapes(batch, tokens);
    let live = graph.live_nodes();
    let elems = |s: &[usize]| s.iter().map(|&d| d as u64).product::<u64>();
    let mut layers = Vec::with_capacity(graph.nodes().len());
    let mut total = ProfileTotal::default();
    for (idx, node) in graph.nodes().iter().enumerate() {
        let ins: Vec<Vec<usize>> =
            node.inputs.iter().map(|v| v.pick(&input_shapes, &shapes).clone()).collect();
        let in_refs: Vec<&[usize]> = ins.iter().map(Vec::as_slice).collect();
        let params = node.op.n_params();
        let macs = node.op.macs(&in_refs, &shapes[idx]);
        let weight_bytes: u64 =
            node.op.weights().iter().map(|w| 4 * w.tensor.elem_count() as u64).sum();
        let activation_bytes = 4 * elems(&shapes[idx]);
        total.params += params;
        total.macs += macs;
        total.weight_bytes += weight_bytes;
        total.activation_bytes += activation_bytes;
        layers.push(LayerProfile {
            name: node.name.clone(),
            kind: node.op.kind().to_string(),
            input_shapes: ins,
            output_shape: shapes[idx].clone(),
            params,
            macs,
            weight_bytes,
            activation_bytes,
            live: live[idx],
        });
    }
    total.peak_activation_bytes = peak_live_bytes(graph, &shapes, &input_shapes);
    Ok(ModelProfile { batch, tokens, layers, total })
}

/// Simulates execution order: a value is alive from its producer until its last reader.
fn peak_live_bytes(graph: &Graph, shapes: &[Vec<usize>], input_shapes: &[Vec<usize>]) -> u64 {
    let bytes = |s: &[usize]| 4 * s.iter().map(|&d| d as u64).product::<u64>();
    let n = graph.nodes().len();
    let mut last_use = vec![0usize; n];
    let mut input_last_use = vec![0usize; input_shapes.len()];
    for (idx, node) in graph.nodes().iter().enumerate() {
        for v in &node.inputs {
            match v {
                ValueRef::Node(j) => last_use[*j] = idx,
                ValueRef::Input(i) => input_last_use[*i] = idx,
            }
        }
    }
    let mut alive: u64 = input_shapes.iter().map(|s| bytes(s)).sum();
    let mut peak = alive;
    for idx in 0..n {
        alive += bytes(&shapes[idx]);
        peak = peak.max(alive);
        for (j, &lu) in last_use.iter().enumerate().take(idx) {
            if lu == idx {
                alive -= bytes(&shapes[j]);
            }
        }
        for (i, &lu) in input_last_use.iter().enumerate() {
            if lu == idx {
                alive -= bytes(&input_shapes[i]);
            }
        }
        if last_use[idx] <= idx && !graph.outputs().iter().any(|(_, v)| *v == ValueRef::Node(idx)) {
            // A value nobody reads (dead branch) is freed at once.
            alive -= bytes(&shapes[idx]);
        }
    }
    peak
}
