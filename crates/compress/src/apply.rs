//! Applying a resolved plan to a model: structured pruning, low-rank factorisation,
//! unstructured / N:M pruning, weight quantization and activation fake-quantization, in that
//! order. The result runs in candle (weights dequantized to f32, so its accuracy is that of the
//! compressed model) and records how every changed weight is stored, for export.

use std::collections::{BTreeMap, HashMap};

use candle_core::{Device, Tensor};

use sculpt_model::{Batch, FakeQuant, ForwardOptions, Graph, Model, Node, Op, ValueRef};

use crate::error::{Error, Result};
use crate::lowrank;
use crate::plan::{
    CompressionPlan, FloatFormat, LayerOption, PlanSource, Prune, PruneKind, PruneScope, Quant,
    ResolvedPlan, resolve,
};
use crate::prune;
use crate::quant::{self, QuantParams, QuantizedWeight};

/// How the values of a stored weight are encoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Encoding {
    /// f32.
    Dense,
    /// A 16-bit float.
    Float(FloatFormat),
    /// Integers with scales (and zero points).
    Int(QuantizedWeight),
}

/// Which zeros a stored weight has on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeroPattern {
    /// None.
    Dense,
    /// Unstructured (magnitude) zeros.
    Unstructured,
    /// `n` kept of every `m` consecutive inputs.
    NM {
        /// Kept per group.
        n: usize,
        /// Group size.
        m: usize,
    },
}

/// How one weight tensor of the compressed model is stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredWeight {
    /// The tensor's shape.
    pub shape: Vec<usize>,
    /// Value encoding.
    pub encoding: Encoding,
    /// Intentional zeros.
    pub sparsity: ZeroPattern,
    /// For N:M: the kernel positions per input (kh·kw for a Conv, 1 otherwise).
    pub inner_stride: usize,
}

/// A compressed model ready to run or export.
#[derive(Clone, Debug)]
pub struct Compressed {
    /// The compressed model (weights dequantized to f32; activation quantizers inserted).
    pub model: Model,
    /// Every weight stored other than as dense f32, by tensor name (`<layer>.weight`).
    pub stored: BTreeMap<String, StoredWeight>,
    /// The plan.
    pub plan: CompressionPlan,
    /// The option applied to each original layer, in graph order.
    pub applied: Vec<(String, LayerOption)>,
    /// Parts of the plan that did not apply (a glob or default entry on a layer that cannot take
    /// it), one sentence each.
    pub notes: Vec<String>,
}

/// Options of [`apply_plan`].
#[derive(Clone, Debug, Default)]
pub struct ApplyOptions<'a> {
    /// Calibration inputs, needed by activation quantization.
    pub calibration: Option<&'a Batch>,
}

/// Resolves and applies a plan.
pub fn apply_plan(
    model: &Model,
    plan: &CompressionPlan,
    source: Option<&PlanSource>,
    options: &ApplyOptions<'_>,
) -> Result<Compressed> {
    let resolved = resolve(plan, &model.graph, source)?;
    apply_resolved(model, plan, &resolved, options).map_err(|e| match (e, source) {
        // Point structural refusals at the plan entry that asked for them.
        (Error::NotPrunable { layer, reason }, Some(src)) => {
            let key = resolved
                .layers
                .values()
                .find(|l| l.name == layer)
                .map(|l| l.key.clone())
                .unwrap_or_default();
            let reason = reason.split(" (plan key").next().unwrap_or(&reason).to_string();
            Error::Plan(sculpt_yaml::Error::at_key(
                &src.path,
                &src.text,
                &key,
                format!("layer `{layer}` cannot be pruned structurally: {reason}"),
            ))
        }
        (e, _) => e,
    })
}

fn is_exact(key: &str, name: &str) -> bool {
    key == format!("layers.{name}")
}

pub(crate) fn quant_params(q: &Quant) -> Option<QuantParams> {
    match q.weight_bits {
        Some(b) if b <= 8 => Some(QuantParams {
            bits: b,
            symmetric: q.symmetric,
            granularity: q.granularity,
            group_size: q.group_size.unwrap_or(32),
            clip: q.clip,
        }),
        _ => None,
    }
}

fn weight_of(op: &Op) -> Option<&Tensor> {
    match op {
        Op::Linear(l) => Some(&l.weight),
        Op::Conv2d(c) => Some(&c.weight),
        Op::Embedding(e) => Some(&e.weight),
        _ => None,
    }
}

fn set_weight(op: &mut Op, t: Tensor) {
    match op {
        Op::Linear(l) => l.weight = t,
        Op::Conv2d(c) => c.weight = t,
        Op::Embedding(e) => e.weight = t,
        _ => {}
    }
}

/// Quantizes (or casts) one weight in place and says how it is stored.
fn encode_weight(op: &mut Op, q: Option<&Quant>, sparsity: ZeroPattern) -> Result<StoredWeight> {
    let w = weight_of(op).expect("a weight layer").clone();
    let shape = w.dims().to_vec();
    let rows = shape[0];
    let cols: usize = shape[1..].iter().product();
    let inner_stride = if shape.len() == 4 { shape[2] * shape[3] } else { 1 };
    let mut values: Vec<f32> = w.flatten_all()?.to_vec1()?;
    let encoding = match q {
        Some(q) if q.weight_bits == Some(16) => {
            let f = q.float.unwrap_or(FloatFormat::Fp16);
            values = quant::float_cast(&values, f);
            Encoding::Float(f)
        }
        Some(q) => match quant_params(q) {
            Some(p) => {
                let qw = quant::quantize_weight(&values, rows, cols, &p);
                values = qw.dequantize();
                Encoding::Int(qw)
            }
            None => Encoding::Dense,
        },
        None => Encoding::Dense,
    };
    set_weight(op, Tensor::from_vec(values, shape.as_slice(), &Device::Cpu)?);
    Ok(StoredWeight { shape, encoding, sparsity, inner_stride })
}

/// Applies an already resolved plan.
pub fn apply_resolved(
    model: &Model,
    plan: &CompressionPlan,
    resolved: &ResolvedPlan,
    options: &ApplyOptions<'_>,
) -> Result<Compressed> {
    let mut graph = model.graph.clone();
    let mut notes = Vec::new();
    let mut skip_prune: Vec<usize> = Vec::new();

    // 1. Structured pruning changes shapes across layers, so it goes first. Channel pruning
    // acts on a layer's whole channel group, once, however many of its producers the plan names.
    let groups = crate::groups::channel_groups(&graph)?;
    let mut group_request: HashMap<usize, (usize, &Prune)> = HashMap::new();
    for (&idx, rl) in &resolved.layers {
        let Some(p) = &rl.option.prune else { continue };
        if p.kind != PruneKind::Channel {
            continue;
        }
        let Some(g) = groups.groups.iter().position(|g| g.producers.contains(&idx)) else {
            continue;
        };
        let same = |a: &Prune, b: &Prune| {
            a.ratio == b.ratio && a.criterion == b.criterion && a.align == b.align
        };
        match group_request.get(&g) {
            Some((other, q)) if !same(q, p) => {
                let group = &groups.groups[g];
                return Err(Error::Invalid {
                    msg: format!(
                        "`{}` and `{}` are in one channel group ({}) but the plan prunes them \
                         differently ({} and {}); give the group one setting",
                        graph.nodes()[*other].name,
                        rl.name,
                        group.member_names(&graph).join(", "),
                        LayerOption { prune: Some((*q).clone()), ..Default::default() },
                        LayerOption { prune: Some(p.clone()), ..Default::default() },
                    ),
                });
            }
            Some(_) => {}
            None => {
                group_request.insert(g, (idx, p));
            }
        }
    }
    let first_of_group: Vec<usize> = group_request.values().map(|(idx, _)| *idx).collect();
    for (&idx, rl) in &resolved.layers {
        let Some(p) = &rl.option.prune else { continue };
        let ratio = p.ratio.unwrap_or(0.0);
        let result = match p.kind {
            PruneKind::Channel
                if first_of_group.contains(&idx) || groups.of_producer(idx).is_none() =>
            {
                prune::prune_channels(&mut graph, idx, ratio, p.criterion, p.align).map(|_| ())
            }
            PruneKind::Channel => continue,
            PruneKind::Head => prune::prune_heads(&mut graph, idx, ratio).map(|_| ()),
            _ => continue,
        };
        match result {
            Ok(()) => {}
            Err(Error::NotPrunable { layer, reason }) if !is_exact(&rl.key, &rl.name) => {
                notes.push(format!("`{}` left unpruned ({}): {reason}", layer, rl.key));
                skip_prune.push(idx);
            }
            Err(Error::NotPrunable { layer, reason }) => {
                return Err(Error::NotPrunable {
                    layer,
                    reason: format!("{reason} (plan key `{}`)", rl.key),
                });
            }
            Err(e) => return Err(e),
        }
    }

    // 2. Global magnitude pruning ranks the weights of every layer that asks for it together.
    let global: Vec<usize> = resolved
        .layers
        .iter()
        .filter(|(_, rl)| {
            rl.option
                .prune
                .as_ref()
                .is_some_and(|p| p.kind == PruneKind::Magnitude && p.scope == PruneScope::Global)
        })
        .map(|(i, _)| *i)
        .collect();
    let mut global_keep: HashMap<usize, Vec<bool>> = HashMap::new();
    if !global.is_empty() {
        let ratios: Vec<f64> = global
            .iter()
            .map(|i| resolved.layers[i].option.prune.as_ref().and_then(|p| p.ratio).unwrap_or(0.0))
            .collect();
        if ratios.iter().any(|r| (r - ratios[0]).abs() > 1e-12) {
            return Err(Error::Invalid {
                msg: "layers with `scope: global` magnitude pruning must share one ratio".into(),
            });
        }
        let values: Vec<Vec<f32>> = global
            .iter()
            .map(|i| {
                Ok(weight_of(&graph.nodes()[*i].op)
                    .expect("weight layer")
                    .flatten_all()?
                    .to_vec1::<f32>()?)
            })
            .collect::<Result<_>>()?;
        for (i, keep) in global.iter().zip(prune::global_magnitude_keep(&values, ratios[0])) {
            global_keep.insert(*i, keep);
        }
    }

    // 3. Per-layer weight changes; low-rank layers become two nodes.
    let mut stored = BTreeMap::new();
    let mut chains: BTreeMap<usize, Vec<Node>> = BTreeMap::new();
    let mut applied = Vec::new();
    for (&idx, rl) in &resolved.layers {
        applied.push((rl.name.clone(), rl.option.clone()));
        if matches!(graph.nodes()[idx].op, Op::Attention(_)) {
            continue;
        }
        let o = &rl.option;
        let name = rl.name.clone();
        if let Some(r) = &o.rank {
            let (first, second, _) = lowrank::factorise(&graph.nodes()[idx].op, r)?;
            let mut chain = Vec::new();
            for (suffix, mut op) in [(".lr", first), ("", second)] {
                let sw = encode_weight(&mut op, o.quant.as_ref(), ZeroPattern::Dense)?;
                let node_name = format!("{name}{suffix}");
                if sw.encoding != Encoding::Dense {
                    stored.insert(format!("{node_name}.weight"), sw);
                }
                chain.push(Node { name: node_name, op, inputs: Vec::new() });
            }
            chains.insert(idx, chain);
            continue;
        }
        let mut sparsity = ZeroPattern::Dense;
        let op = &mut graph.nodes_mut()[idx].op;
        if let Some(p) = o.prune.as_ref().filter(|_| !skip_prune.contains(&idx)) {
            let w = weight_of(op).expect("weight layer").clone();
            let shape = w.dims().to_vec();
            let mut values: Vec<f32> = w.flatten_all()?.to_vec1()?;
            let keep = match p.kind {
                PruneKind::Magnitude if p.scope == PruneScope::Global => global_keep.remove(&idx),
                PruneKind::Magnitude => {
                    Some(prune::magnitude_keep(&values, p.ratio.unwrap_or(0.0)))
                }
                PruneKind::NM => {
                    let (n, m) = (p.n.unwrap_or(2), p.m.unwrap_or(4));
                    let k = if shape.len() == 4 { shape[2] * shape[3] } else { 1 };
                    sparsity = ZeroPattern::NM { n, m };
                    Some(prune::nm_keep(&values, shape[0], shape[1], k, n, m))
                }
                _ => None,
            };
            if let Some(keep) = keep {
                if sparsity == ZeroPattern::Dense {
                    sparsity = ZeroPattern::Unstructured;
                }
                prune::apply_keep(&mut values, &keep);
                set_weight(op, Tensor::from_vec(values, shape.as_slice(), &Device::Cpu)?);
            }
        }
        if o.quant.as_ref().is_some_and(|q| q.weight_bits.is_some_and(|b| b < 32))
            || sparsity != ZeroPattern::Dense
        {
            let sw = encode_weight(op, o.quant.as_ref(), sparsity)?;
            stored.insert(format!("{name}.weight"), sw);
        }
    }

    // 4. Activation quantization, calibrated on the weight-compressed model.
    let act: Vec<(usize, u8, crate::plan::ActCalibration)> = resolved
        .layers
        .iter()
        .filter_map(|(i, rl)| {
            rl.option.quant.as_ref().and_then(|q| q.act_bits.map(|b| (*i, b, q.act_calibration)))
        })
        .collect();
    let mut act_nodes: BTreeMap<usize, Node> = BTreeMap::new();
    if !act.is_empty() {
        let Some(batch) = options.calibration else {
            return Err(Error::Invalid {
                msg: format!(
                    "activation quantization (layer `{}`) needs calibration data",
                    graph.nodes()[act[0].0].name
                ),
            });
        };
        let capture: Vec<usize> = act
            .iter()
            .filter_map(|(i, _, _)| match graph.nodes()[*i].inputs[0] {
                ValueRef::Node(j) => Some(j),
                ValueRef::Input(_) => None,
            })
            .collect();
        let fwd = graph
            .forward_with(batch, &ForwardOptions { train: false, capture: capture.clone() })?;
        let inputs = graph.prepare_inputs(batch)?;
        for (i, bits, method) in &act {
            let source = match graph.nodes()[*i].inputs[0] {
                ValueRef::Node(j) => {
                    fwd.captured.iter().find(|(c, _)| *c == j).map(|(_, t)| t.clone())
                }
                ValueRef::Input(k) => inputs.get(k).cloned(),
            };
            let Some(t) = source else { continue };
            let samples: Vec<f32> = t.flatten_all()?.to_vec1()?;
            let r = quant::calibrate_activation(&samples, *bits, *method);
            let fq =
                FakeQuant { scale: r.scale, zero_point: r.zero_point, q_min: 0.0, q_max: r.q_max };
            act_nodes.insert(
                *i,
                Node {
                    name: format!("{}.act_quant", graph.nodes()[*i].name),
                    op: Op::FakeQuant(fq),
                    inputs: Vec::new(),
                },
            );
        }
    }

    // 5. Rebuild the graph with the inserted nodes.
    let mut full_chains: BTreeMap<usize, Vec<Node>> = BTreeMap::new();
    for idx in chains.keys().chain(act_nodes.keys()) {
        if full_chains.contains_key(idx) {
            continue;
        }
        let mut chain = Vec::new();
        if let Some(fq) = act_nodes.get(idx) {
            chain.push(fq.clone());
        }
        match chains.get(idx) {
            Some(c) => chain.extend(c.iter().cloned()),
            None => chain.push(graph.nodes()[*idx].clone()),
        }
        full_chains.insert(*idx, chain);
    }
    let graph = expand(&graph, &full_chains)?;
    let mut out = model.clone();
    out.graph = graph;
    Ok(Compressed { model: out, stored, plan: plan.clone(), applied, notes })
}

/// Replaces node `i` by the chain `chains[i]`: the chain's first node reads node `i`'s inputs,
/// each next node reads the previous one, and the last one's output stands for node `i`'s.
pub fn expand(graph: &Graph, chains: &BTreeMap<usize, Vec<Node>>) -> Result<Graph> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut map: Vec<usize> = Vec::with_capacity(graph.nodes().len());
    let remap = |v: &ValueRef, map: &[usize]| match v {
        ValueRef::Node(j) => ValueRef::Node(map[*j]),
        other => *other,
    };
    for (idx, node) in graph.nodes().iter().enumerate() {
        let inputs: Vec<ValueRef> = node.inputs.iter().map(|v| remap(v, &map)).collect();
        match chains.get(&idx) {
            Some(chain) if !chain.is_empty() => {
                for (k, n) in chain.iter().enumerate() {
                    let ins =
                        if k == 0 { inputs.clone() } else { vec![ValueRef::Node(nodes.len() - 1)] };
                    nodes.push(Node { name: n.name.clone(), op: n.op.clone(), inputs: ins });
                }
            }
            _ => nodes.push(Node { name: node.name.clone(), op: node.op.clone(), inputs }),
        }
        map.push(nodes.len() - 1);
    }
    Ok(graph.with_nodes(nodes, |i| map[i])?)
}
