//! Channel groups: the sets of layers whose channels must be pruned together.
//!
//! A layer's output channels are *coupled* to every place they flow: a residual `Add` ties the
//! channels of its inputs together, a `Concat` gives each input an offset range of its output, a
//! depthwise convolution or a BatchNorm carries them through, a squeeze-excitation `Mul` ties
//! the gate's channels to the main path's, and a `Linear` or `Conv2d` finally reads them (its
//! input columns). [`channel_groups`] follows the channels of every producer (a `Conv2d` with one
//! group, a `Linear`) through the graph and joins the producers whose channels meet into one
//! group (a union-find over channel spaces), with the list of every member that must shrink.
//!
//! A group is blocked, with the reason, when its channels reach something that mixes them with
//! each other (a LayerNorm over them, a softmax or a reduction over them, an activation-by-
//! activation product, attention), a graph input or output, or an operator the analysis does not
//! know. Pruning a group then removes the same channel indices from every member
//! ([`prune_group`]), so the kept channels compute exactly what they computed before.

use std::collections::{BTreeMap, BTreeSet};

use candle_core::{Device, Tensor};

use sculpt_model::{Dim, Graph, InputKind, Op, ReshapeDim, TensorOp, ValueRef};

use crate::error::{Error, Result};
use crate::plan::Criterion;

/// How a member of a group holds the group's channels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Output channels: the rows of the weight and the bias (a `Conv2d` with one group, a
    /// `Linear`).
    Producer,
    /// Per-channel parameters at `offset` of its input (BatchNorm, InstanceNorm).
    PerChannel {
        /// The first channel of this group in the layer's channels.
        offset: usize,
    },
    /// A depthwise convolution at `offset`: rows, bias and groups shrink.
    Depthwise {
        /// The first channel of this group in the layer's channels.
        offset: usize,
    },
    /// Input columns of a `Conv2d` or `Linear`: channel `c` is columns
    /// `(offset + c) · block .. (offset + c + 1) · block`.
    Consumer {
        /// The first channel of this group in the layer's input.
        offset: usize,
        /// Input features per channel (the spatial size after a `Flatten`, else 1).
        block: usize,
    },
    /// A constant combined with the channels (a per-channel scale or bias), sliced along `axis`.
    Constant {
        /// The constant's axis that runs over the channels.
        axis: usize,
        /// The first channel of this group along it.
        offset: usize,
    },
    /// A shape attribute (`Reshape`, `Expand`) whose `axis` holds `per_channel` values per
    /// channel of the group, beside `rest` values from other channels.
    Shape {
        /// The attribute's axis.
        axis: usize,
        /// Values per channel.
        per_channel: usize,
    },
}

/// One layer's part in a group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    /// The node.
    pub node: usize,
    /// How it holds the channels.
    pub role: Role,
}

/// Channels that are pruned together.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelGroup {
    /// Channels in the group.
    pub channels: usize,
    /// The nodes whose output channels these are (a group is named by any of them).
    pub producers: Vec<usize>,
    /// Every member, producers included, in node order.
    pub members: Vec<Member>,
    /// Why the group cannot be pruned, when it cannot.
    pub blocked: Option<String>,
}

impl ChannelGroup {
    /// The group's name: its first producer's layer name, with the number of others.
    pub fn name(&self, graph: &Graph) -> String {
        let first = self.producers.first().map(|&p| graph.nodes()[p].name.clone());
        match (first, self.producers.len()) {
            (Some(n), 1) => n,
            (Some(n), k) => format!("{n}+{}", k - 1),
            (None, _) => "(no producer)".into(),
        }
    }

    /// The layer names of the members, each once, in node order.
    pub fn member_names(&self, graph: &Graph) -> Vec<String> {
        let nodes: BTreeSet<usize> = self.members.iter().map(|m| m.node).collect();
        nodes.into_iter().map(|n| graph.nodes()[n].name.clone()).collect()
    }
}

/// The channel groups of a graph.
#[derive(Clone, Debug, Default)]
pub struct ChannelGroups {
    /// Every group with at least one producer, in order of its first producer.
    pub groups: Vec<ChannelGroup>,
}

impl ChannelGroups {
    /// The group whose producers include node `idx`.
    pub fn of_producer(&self, idx: usize) -> Option<&ChannelGroup> {
        self.groups.iter().find(|g| g.producers.contains(&idx))
    }
}

/// A value's channels: the axis that carries them, the features per channel along it, and the
/// channel spaces laid end to end along it (one per concatenated input).
#[derive(Clone, Debug)]
struct ChanMap {
    axis: usize,
    block: usize,
    spaces: Vec<usize>,
}

/// What the analysis knows of a value.
#[derive(Clone, Debug)]
enum Flow {
    /// Channels from producers (or a graph input).
    Chan(ChanMap),
    /// The output of a `Constant` node: it takes whatever channels it is combined with.
    Constant(usize),
    /// Something without tracked channels (token ids, masks, shapes).
    Opaque,
}

/// Union-find over channel spaces, with their members and why they are blocked.
struct Spaces {
    size: Vec<usize>,
    parent: Vec<usize>,
    blocked: Vec<Option<String>>,
    members: Vec<Vec<Member>>,
}

impl Spaces {
    fn new() -> Spaces {
        Spaces { size: Vec::new(), parent: Vec::new(), blocked: Vec::new(), members: Vec::new() }
    }

    fn fresh(&mut self, size: usize, blocked: Option<String>) -> usize {
        self.size.push(size);
        self.parent.push(self.parent.len());
        self.blocked.push(blocked);
        self.members.push(Vec::new());
        self.parent.len() - 1
    }

    fn find(&mut self, mut s: usize) -> usize {
        while self.parent[s] != s {
            self.parent[s] = self.parent[self.parent[s]];
            s = self.parent[s];
        }
        s
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent[b] = a;
            if self.blocked[a].is_none() {
                self.blocked[a] = self.blocked[b].take();
            }
            let moved = std::mem::take(&mut self.members[b]);
            self.members[a].extend(moved);
        }
    }

    fn block(&mut self, s: usize, why: &str) {
        let r = self.find(s);
        if self.blocked[r].is_none() {
            self.blocked[r] = Some(why.to_string());
        }
    }

    fn add(&mut self, s: usize, member: Member) {
        let r = self.find(s);
        self.members[r].push(member);
    }
}

/// Follows every producer's channels through `graph` and returns its channel groups.
pub fn channel_groups(graph: &Graph) -> Result<ChannelGroups> {
    let shapes = graph.shapes(1, 8)?;
    let input_shapes = graph.input_shapes(1, 8);
    let nodes = graph.nodes();
    let mut sp = Spaces::new();
    let shape_of = |v: ValueRef| -> &[usize] {
        match v {
            ValueRef::Input(i) => &input_shapes[i],
            ValueRef::Node(j) => &shapes[j],
        }
    };
    let mut inputs: Vec<Flow> = Vec::new();
    for (i, spec) in graph.inputs().iter().enumerate() {
        let why = format!("its channels come from the graph input `{}`", spec.name);
        inputs.push(match spec.kind {
            InputKind::Image { channels, .. } => Flow::Chan(ChanMap {
                axis: 1,
                block: 1,
                spaces: vec![sp.fresh(channels, Some(why))],
            }),
            InputKind::Features { dim } => Flow::Chan(ChanMap {
                axis: input_shapes[i].len() - 1,
                block: 1,
                spaces: vec![sp.fresh(dim, Some(why))],
            }),
            _ => Flow::Opaque,
        });
    }
    let mut flows: Vec<Flow> = Vec::with_capacity(nodes.len());
    let mut producers: Vec<(usize, usize)> = Vec::new();
    for (idx, node) in nodes.iter().enumerate() {
        let here = format!("`{}` ({})", node.name, node.op.kind());
        let flow_of = |v: &ValueRef, flows: &[Flow]| -> Flow {
            match v {
                ValueRef::Input(i) => inputs[*i].clone(),
                ValueRef::Node(j) => flows[*j].clone(),
            }
        };
        let ins: Vec<Flow> = node.inputs.iter().map(|v| flow_of(v, &flows)).collect();
        let out_shape = &shapes[idx];
        let in_shape = |k: usize| shape_of(node.inputs[k]);
        let first = ins.first().cloned().unwrap_or(Flow::Opaque);
        // Blocks every space of every channel-carrying input; the output is a fresh blocked
        // space on axis 1 (or opaque without one).
        let mut block_all = |sp: &mut Spaces, ins: &[Flow], why: &str| -> Flow {
            for f in ins {
                if let Flow::Chan(m) = f {
                    for &s in &m.spaces {
                        sp.block(s, why);
                    }
                }
            }
            // The output's channel axis: the input's where the rank stays, else axis 1 of an
            // image and the last axis of anything else.
            let axis = match ins.first() {
                Some(Flow::Chan(m)) if m.axis < out_shape.len() => m.axis,
                _ if out_shape.len() == 4 => 1,
                _ => out_shape.len().saturating_sub(1),
            };
            match out_shape.get(axis) {
                Some(&n) if out_shape.len() >= 2 => Flow::Chan(ChanMap {
                    axis,
                    block: 1,
                    spaces: vec![sp.fresh(n, Some(why.to_string()))],
                }),
                _ => Flow::Opaque,
            }
        };
        let mixes = format!("its channels reach {here}, which mixes them");
        let out = match &node.op {
            Op::Linear(l) => {
                consume(&mut sp, idx, &first, in_shape(0).len() - 1, &here);
                let s = sp.fresh(l.out_features(), None);
                sp.add(s, Member { node: idx, role: Role::Producer });
                producers.push((idx, s));
                Flow::Chan(ChanMap { axis: out_shape.len() - 1, block: 1, spaces: vec![s] })
            }
            Op::Conv2d(c) if c.groups == 1 => {
                consume(&mut sp, idx, &first, 1, &here);
                let s = sp.fresh(c.out_channels(), None);
                sp.add(s, Member { node: idx, role: Role::Producer });
                producers.push((idx, s));
                Flow::Chan(ChanMap { axis: 1, block: 1, spaces: vec![s] })
            }
            Op::Conv2d(c) if c.is_depthwise() && c.out_channels() == c.in_channels() => {
                per_channel(&mut sp, idx, &first, 1, &here, |offset| Role::Depthwise { offset })
            }
            Op::Conv2d(_) => block_all(
                &mut sp,
                &ins,
                &format!("its channels reach the grouped convolution {here}"),
            ),
            Op::BatchNorm2d(_) | Op::InstanceNorm(_) => {
                per_channel(&mut sp, idx, &first, 1, &here, |offset| Role::PerChannel { offset })
            }
            Op::LayerNorm(_) => {
                if let Flow::Chan(m) = &first
                    && m.axis + 1 == out_shape.len()
                {
                    // The channels pass through, but a LayerNorm's statistics run over all of
                    // them.
                    let why = format!("its channels reach {here}, which normalises over them");
                    for &s in &m.spaces {
                        sp.block(s, &why);
                    }
                }
                first.clone()
            }
            Op::Relu | Op::Relu6 | Op::Gelu | Op::Tanh | Op::FakeQuant(_) => first.clone(),
            Op::MaxPool2d(_) | Op::AvgPool2d(_) | Op::AdaptiveAvgPool2d { .. } => match &first {
                Flow::Chan(m) if m.axis != 1 => block_all(&mut sp, &ins, &mixes),
                _ => first.clone(),
            },
            Op::Flatten => match &first {
                Flow::Chan(m) if m.axis == 1 => {
                    let rest: usize = in_shape(0).iter().skip(2).product();
                    Flow::Chan(ChanMap { axis: 1, block: m.block * rest.max(1), ..m.clone() })
                }
                Flow::Chan(_) => block_all(&mut sp, &ins, &mixes),
                other => other.clone(),
            },
            Op::Add => elementwise(&mut sp, graph, idx, &ins, &shapes, &input_shapes, &here),
            Op::Softmax | Op::L2Normalize => match &first {
                Flow::Chan(m) if m.axis + 1 == out_shape.len() => block_all(&mut sp, &ins, &mixes),
                _ => first.clone(),
            },
            Op::MeanPool => match &first {
                Flow::Chan(m) if m.axis == 2 => Flow::Chan(ChanMap { axis: 1, ..m.clone() }),
                Flow::Chan(_) => block_all(&mut sp, &ins, &mixes),
                other => other.clone(),
            },
            Op::SelectToken { .. } => match &first {
                Flow::Chan(m) if m.axis == 2 => Flow::Chan(ChanMap { axis: 1, ..m.clone() }),
                Flow::Chan(_) => block_all(&mut sp, &ins, &mixes),
                other => other.clone(),
            },
            Op::Embedding(e) => {
                let width = e.weight.dims()[1];
                Flow::Chan(ChanMap {
                    axis: out_shape.len() - 1,
                    block: 1,
                    spaces: vec![sp.fresh(
                        width,
                        Some(format!("its channels are the embedding width of {here}")),
                    )],
                })
            }
            Op::Attention(_) => block_all(
                &mut sp,
                &ins,
                &format!("its channels feed the attention {here} (prune its heads instead)"),
            ),
            Op::Constant(_) => Flow::Constant(idx),
            Op::ConvTranspose2d(_) => block_all(
                &mut sp,
                &ins,
                &format!("its channels reach {here}, which is not channel-pruned"),
            ),
            Op::Tensor(t) => tensor_flow(
                &mut sp,
                graph,
                idx,
                t,
                &ins,
                &shapes,
                &input_shapes,
                &here,
                &mut block_all,
            ),
            _ => block_all(
                &mut sp,
                &ins,
                &format!("its channels reach {here}, which the analysis does not follow"),
            ),
        };
        flows.push(out);
    }
    for (name, v) in graph.outputs() {
        let flow = match v {
            ValueRef::Input(i) => inputs[*i].clone(),
            ValueRef::Node(j) => flows[*j].clone(),
        };
        if let Flow::Chan(m) = flow {
            for s in m.spaces {
                sp.block(s, &format!("its channels reach the model output `{name}`"));
            }
        }
    }
    // Collect the groups, in order of their first producer.
    let mut by_root: BTreeMap<usize, ChannelGroup> = BTreeMap::new();
    let mut order: Vec<usize> = Vec::new();
    for &(node, s) in &producers {
        let r = sp.find(s);
        let size = sp.size[r];
        let entry = by_root.entry(r).or_insert_with(|| {
            order.push(r);
            ChannelGroup {
                channels: size,
                producers: Vec::new(),
                members: Vec::new(),
                blocked: None,
            }
        });
        entry.producers.push(node);
    }
    let mut groups = Vec::new();
    for r in order {
        let mut g = by_root.remove(&r).expect("collected above");
        let mut members = sp.members[r].clone();
        members.sort();
        members.dedup();
        g.members = members;
        g.blocked = sp.blocked[r].clone();
        groups.push(g);
    }
    // A constant shared by two groups (or read twice at different places) cannot be sliced for
    // one of them alone.
    let mut constant_uses: BTreeMap<usize, Vec<(usize, Role)>> = BTreeMap::new();
    for (k, g) in groups.iter().enumerate() {
        for m in &g.members {
            if matches!(m.role, Role::Constant { .. }) {
                constant_uses.entry(m.node).or_default().push((k, m.role.clone()));
            }
        }
    }
    for (node, uses) in constant_uses {
        let first = &uses[0];
        if uses.iter().any(|u| u != first) {
            for (k, _) in &uses {
                if groups[*k].blocked.is_none() {
                    groups[*k].blocked = Some(format!(
                        "the constant `{}` is shared with other channels",
                        nodes[node].name
                    ));
                }
            }
        }
    }
    for g in &mut groups {
        if g.blocked.is_none() && !g.members.iter().any(|m| matches!(m.role, Role::Consumer { .. }))
        {
            g.blocked = Some("no layer reads its channels".into());
        }
    }
    Ok(ChannelGroups { groups })
}

/// Records node `idx` as a consumer of `flow` along `axis`; anything else blocks.
fn consume(sp: &mut Spaces, idx: usize, flow: &Flow, axis: usize, here: &str) {
    let Flow::Chan(m) = flow else { return };
    if m.axis != axis {
        for &s in &m.spaces {
            sp.block(s, &format!("{here} reads its channels along another axis"));
        }
        return;
    }
    let mut offset = 0;
    for &s in &m.spaces {
        sp.add(s, Member { node: idx, role: Role::Consumer { offset, block: m.block } });
        offset += sp.size[s];
    }
}

/// A per-channel layer on `axis`: every space of the input gets a member; the channels pass.
fn per_channel(
    sp: &mut Spaces,
    idx: usize,
    flow: &Flow,
    axis: usize,
    here: &str,
    role: impl Fn(usize) -> Role,
) -> Flow {
    let Flow::Chan(m) = flow else { return flow.clone() };
    if m.axis != axis || m.block != 1 {
        for &s in &m.spaces {
            sp.block(s, &format!("{here} holds its channels along another axis"));
        }
        return flow.clone();
    }
    let mut offset = 0;
    for &s in &m.spaces {
        sp.add(s, Member { node: idx, role: role(offset) });
        offset += sp.size[s];
    }
    flow.clone()
}

/// Joins two channel maps position by position; maps that do not line up block each other.
fn unify(sp: &mut Spaces, a: &ChanMap, b: &ChanMap, here: &str) {
    let sizes = |sp: &Spaces, m: &ChanMap| m.spaces.iter().map(|&s| sp.size[s]).collect::<Vec<_>>();
    if a.block == b.block && sizes(sp, a) == sizes(sp, b) {
        for (&x, &y) in a.spaces.iter().zip(&b.spaces) {
            sp.union(x, y);
        }
    } else {
        let why = format!("{here} combines channels that do not line up");
        for &s in a.spaces.iter().chain(&b.spaces) {
            sp.block(s, &why);
        }
    }
}

/// An element-wise op with broadcasting over `ins` (the output's shape is the broadcast).
fn elementwise(
    sp: &mut Spaces,
    graph: &Graph,
    idx: usize,
    ins: &[Flow],
    shapes: &[Vec<usize>],
    input_shapes: &[Vec<usize>],
    here: &str,
) -> Flow {
    let node = &graph.nodes()[idx];
    let out_rank = shapes[idx].len();
    let shape_of = |v: ValueRef| -> Vec<usize> {
        match v {
            ValueRef::Input(i) => input_shapes[i].clone(),
            ValueRef::Node(j) => shapes[j].clone(),
        }
    };
    // The channel map of the output: the first channel-carrying input's, moved to output axes.
    let mut result: Option<ChanMap> = None;
    for (k, f) in ins.iter().enumerate() {
        if let Flow::Chan(m) = f {
            let lead = out_rank - shape_of(node.inputs[k]).len();
            let moved = ChanMap { axis: m.axis + lead, ..m.clone() };
            match &result {
                None => result = Some(moved),
                Some(r) if r.axis == moved.axis => unify(sp, r, &moved, here),
                Some(r) => {
                    let why = format!("{here} combines channels along different axes");
                    for &s in r.spaces.iter().chain(&moved.spaces) {
                        sp.block(s, &why);
                    }
                }
            }
        }
    }
    let Some(result) = result else { return Flow::Opaque };
    let total: usize = result.spaces.iter().map(|&s| sp.size[s]).sum::<usize>() * result.block;
    for (k, f) in ins.iter().enumerate() {
        let shape = shape_of(node.inputs[k]);
        let lead = out_rank - shape.len();
        // The operand's size along the channel axis (1 or missing: broadcast).
        let along = result.axis.checked_sub(lead).and_then(|a| shape.get(a).copied()).unwrap_or(1);
        match f {
            Flow::Chan(_) => {}
            _ if along == 1 => {}
            Flow::Constant(c) if along == total && result.block == 1 => {
                let axis = result.axis - lead;
                let mut offset = 0;
                for &s in &result.spaces {
                    sp.add(s, Member { node: *c, role: Role::Constant { axis, offset } });
                    offset += sp.size[s];
                }
            }
            _ => {
                let why = format!("{here} combines its channels with values sculpt cannot slice");
                for &s in &result.spaces {
                    sp.block(s, &why);
                }
            }
        }
    }
    Flow::Chan(result)
}

/// The channel flow through a general tensor op.
#[allow(clippy::too_many_arguments)]
fn tensor_flow(
    sp: &mut Spaces,
    graph: &Graph,
    idx: usize,
    op: &TensorOp,
    ins: &[Flow],
    shapes: &[Vec<usize>],
    input_shapes: &[Vec<usize>],
    here: &str,
    block_all: &mut dyn FnMut(&mut Spaces, &[Flow], &str) -> Flow,
) -> Flow {
    let node = &graph.nodes()[idx];
    let first = ins.first().cloned().unwrap_or(Flow::Opaque);
    let in_shape = |k: usize| -> Vec<usize> {
        match node.inputs[k] {
            ValueRef::Input(i) => input_shapes[i].clone(),
            ValueRef::Node(j) => shapes[j].clone(),
        }
    };
    let out_shape = &shapes[idx];
    let mixes = format!("its channels reach {here}, which mixes them");
    let Flow::Chan(m) = &first else {
        // Only an element-wise op can bring channels in through a later input.
        return match op {
            TensorOp::Binary { .. } | TensorOp::Where => {
                elementwise(sp, graph, idx, ins, shapes, input_shapes, here)
            }
            TensorOp::Concat { .. } if ins.iter().any(|f| matches!(f, Flow::Chan(_))) => {
                block_all(sp, ins, &mixes)
            }
            TensorOp::MatMul => block_all(sp, ins, &mixes),
            _ => first,
        };
    };
    let c = m.axis;
    match op {
        TensorOp::Unary { .. } | TensorOp::Resize { .. } => first.clone(),
        TensorOp::Binary { .. } | TensorOp::Where => {
            elementwise(sp, graph, idx, ins, shapes, input_shapes, here)
        }
        TensorOp::Transpose { perm } => match perm.iter().position(|&p| p == c) {
            Some(axis) => Flow::Chan(ChanMap { axis, ..m.clone() }),
            None => block_all(sp, ins, &mixes),
        },
        TensorOp::Reshape { shape } => {
            let src = in_shape(0);
            let before: usize = src[..c].iter().product();
            let mut acc = 1usize;
            let mut found = None;
            for (a, &d) in out_shape.iter().enumerate() {
                if acc == before {
                    let rest: usize = src[c + 1..].iter().product();
                    if d == src[c] {
                        found = Some((a, 1));
                    } else if d == src[c] * rest && a + 1 == out_shape.len() {
                        found = Some((a, rest));
                    }
                    break;
                }
                acc *= d;
            }
            match found {
                Some((axis, scale)) => {
                    if let Some(ReshapeDim::Dim(Dim::Fixed(_))) = shape.get(axis) {
                        let per_channel = m.block * scale;
                        for &s in &m.spaces {
                            sp.add(
                                s,
                                Member { node: idx, role: Role::Shape { axis, per_channel } },
                            );
                        }
                    } else if let Some(ReshapeDim::Dim(Dim::Batch(_))) = shape.get(axis) {
                        return block_all(sp, ins, &mixes);
                    }
                    Flow::Chan(ChanMap { axis, block: m.block * scale, spaces: m.spaces.clone() })
                }
                None => block_all(sp, ins, &format!("{here} reshapes its channels")),
            }
        }
        TensorOp::Expand { shape } => {
            let lead = out_shape.len() - in_shape(0).len();
            let axis = c + lead;
            if let Some(Dim::Fixed(n)) = shape.get(axis)
                && *n != 1
            {
                for &s in &m.spaces {
                    sp.add(
                        s,
                        Member { node: idx, role: Role::Shape { axis, per_channel: m.block } },
                    );
                }
            }
            Flow::Chan(ChanMap { axis, ..m.clone() })
        }
        TensorOp::Concat { axis } if *axis == c => {
            let mut spaces = Vec::new();
            for (k, f) in ins.iter().enumerate() {
                match f {
                    Flow::Chan(o) if o.axis == c && o.block == m.block => {
                        spaces.extend(o.spaces.iter().copied())
                    }
                    _ => {
                        let n = in_shape(k).get(c).copied().unwrap_or(0) / m.block.max(1);
                        spaces.push(
                            sp.fresh(n, Some(format!("{here} joins it with channels of no layer"))),
                        );
                    }
                }
            }
            Flow::Chan(ChanMap { axis: c, block: m.block, spaces })
        }
        TensorOp::Concat { .. } => {
            // Joined along another axis: every input carries the same channels.
            elementwise_same_shape(sp, m, ins, here);
            first.clone()
        }
        TensorOp::Slice { axis, .. } | TensorOp::Gather { axis, keep_axis: true, .. }
            if *axis == c =>
        {
            block_all(sp, ins, &format!("{here} takes part of its channels"))
        }
        TensorOp::Slice { .. } | TensorOp::Pad { .. } => {
            if let TensorOp::Pad { pads, .. } = op
                && pads.get(c).is_some_and(|&(a, b)| a + b > 0)
            {
                return block_all(sp, ins, &format!("{here} pads its channels"));
            }
            first.clone()
        }
        TensorOp::Gather { axis, keep_axis, .. } => {
            if *axis == c {
                block_all(sp, ins, &format!("{here} picks one of its channels"))
            } else if !keep_axis && *axis < c {
                Flow::Chan(ChanMap { axis: c - 1, ..m.clone() })
            } else {
                first.clone()
            }
        }
        TensorOp::Reduce { axes, keep_dims, .. } => {
            if axes.contains(&c) {
                block_all(sp, ins, &mixes)
            } else if *keep_dims {
                first.clone()
            } else {
                let shift = axes.iter().filter(|&&a| a < c).count();
                Flow::Chan(ChanMap { axis: c - shift, ..m.clone() })
            }
        }
        TensorOp::Softmax { axis, .. } => {
            if *axis == c {
                block_all(sp, ins, &mixes)
            } else {
                first.clone()
            }
        }
        _ => block_all(
            sp,
            ins,
            &format!("its channels reach {here}, which sculpt does not prune through"),
        ),
    }
}

/// Inputs of an op that keeps the channels of all of them in place (Concat along another axis):
/// they are one set of channels.
fn elementwise_same_shape(sp: &mut Spaces, m: &ChanMap, ins: &[Flow], here: &str) {
    for f in ins.iter().skip(1) {
        match f {
            Flow::Chan(o) if o.axis == m.axis => unify(sp, m, o, here),
            Flow::Chan(o) => {
                for &s in m.spaces.iter().chain(&o.spaces) {
                    sp.block(s, &format!("{here} joins channels along different axes"));
                }
            }
            _ => {
                for &s in &m.spaces {
                    sp.block(s, &format!("{here} joins its channels with values of no layer"));
                }
            }
        }
    }
}

fn select(t: &Tensor, keep: &[u32], dim: usize) -> Result<Tensor> {
    let idx = Tensor::new(keep, &Device::Cpu)?;
    Ok(t.index_select(&idx, dim)?.contiguous()?)
}

/// Positions `0..total` of a dimension minus the group's pruned channels, which sit at
/// `offset..offset + channels`, each `block` wide.
fn kept_positions(
    total: usize,
    offset: usize,
    channels: usize,
    block: usize,
    keep: &[u32],
) -> Vec<u32> {
    let start = offset * block;
    let end = (offset + channels) * block;
    let mut out: Vec<u32> = (0..start as u32).collect();
    for &k in keep {
        let k = k as usize;
        out.extend(((offset + k) * block..(offset + k + 1) * block).map(|p| p as u32));
    }
    out.extend((end as u32)..(total as u32));
    out
}

/// The weight a member's importance is judged by, and the dimension that runs over its
/// positions.
fn judged_weight<'a>(op: &'a Op, role: &Role) -> Option<(&'a Tensor, usize)> {
    match (role, op) {
        (Role::Producer | Role::Depthwise { .. }, Op::Linear(l)) => Some((&l.weight, 0)),
        (Role::Producer | Role::Depthwise { .. }, Op::Conv2d(c)) => Some((&c.weight, 0)),
        (Role::Consumer { .. }, Op::Linear(l)) => Some((&l.weight, 1)),
        (Role::Consumer { .. }, Op::Conv2d(c)) => Some((&c.weight, 1)),
        _ => None,
    }
}

/// The per-channel importance of one member: the norm of its slice of weights, or |γ| of a
/// BatchNorm; `None` for members without weights to judge by.
fn member_scores(
    graph: &Graph,
    m: &Member,
    channels: usize,
    criterion: Criterion,
    use_gamma: bool,
) -> Result<Option<Vec<f32>>> {
    let op = &graph.nodes()[m.node].op;
    if use_gamma {
        return Ok(match (&m.role, op) {
            (Role::PerChannel { offset }, Op::BatchNorm2d(bn)) => {
                let g: Vec<f32> = bn.weight.abs()?.to_vec1()?;
                Some(g[*offset..offset + channels].to_vec())
            }
            _ => None,
        });
    }
    let Some((w, dim)) = judged_weight(op, &m.role) else { return Ok(None) };
    let (offset, block) = match m.role {
        Role::Producer => (0, 1),
        Role::Depthwise { offset } => (offset, 1),
        Role::Consumer { offset, block } => (offset, block),
        _ => return Ok(None),
    };
    // One value per position of `dim`: the sum of |w| or of w² over everything else.
    let t = if dim == 0 { w.clone() } else { w.transpose(0, dim)?.contiguous()? };
    let flat = t.flatten_from(1)?;
    let per_position: Vec<f32> = match criterion {
        Criterion::L1 => flat.abs()?.sum(1)?.to_vec1()?,
        Criterion::L2 => flat.sqr()?.sum(1)?.to_vec1()?,
    };
    let mut out = Vec::with_capacity(channels);
    for c in 0..channels {
        let from = (offset + c) * block;
        let sum: f32 = per_position[from..from + block].iter().sum();
        out.push(if criterion == Criterion::L2 { sum.sqrt() } else { sum });
    }
    Ok(Some(out))
}

/// The importance of each channel of a group: every member's scores divided by their mean (so
/// that one large layer does not decide alone), summed. BatchNorm |γ| is used when the group
/// has BatchNorms, the norm of the weights otherwise.
pub fn group_scores(graph: &Graph, group: &ChannelGroup, criterion: Criterion) -> Result<Vec<f32>> {
    let has_bn = group.members.iter().any(|m| {
        matches!(m.role, Role::PerChannel { .. })
            && matches!(graph.nodes()[m.node].op, Op::BatchNorm2d(_))
    });
    let mut total = vec![0f32; group.channels];
    for m in &group.members {
        let Some(s) = member_scores(graph, m, group.channels, criterion, has_bn)? else {
            continue;
        };
        let mean = s.iter().sum::<f32>() / s.len().max(1) as f32;
        if mean > 0.0 && mean.is_finite() {
            for (t, v) in total.iter_mut().zip(&s) {
                *t += v / mean;
            }
        }
    }
    Ok(total)
}

/// The channels a group keeps at `ratio`: `channels − ⌊channels · ratio⌋`, rounded up to a
/// multiple of `align` (at most all of them). A ratio that removes every channel, or leaves
/// fewer than `align`, is an error that names the group.
pub fn kept_channels(
    channels: usize,
    ratio: f64,
    align: Option<usize>,
    group: &str,
) -> Result<usize> {
    let removed = ((channels as f64) * ratio).floor() as usize;
    if removed >= channels {
        return Err(Error::Invalid {
            msg: format!("channel group `{group}`: ratio {ratio} removes all {channels} channels"),
        });
    }
    let keep = channels - removed;
    match align {
        Some(a) if a > 1 => {
            if channels < a {
                return Err(Error::Invalid {
                    msg: format!(
                        "channel group `{group}` has {channels} channels, fewer than the alignment \
                         multiple {a}"
                    ),
                });
            }
            Ok(keep.div_ceil(a).saturating_mul(a).min(channels))
        }
        _ => Ok(keep),
    }
}

fn keep_top(scores: &[f32], keep: usize) -> Vec<u32> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // Highest first; ties keep the lower index.
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut kept: Vec<u32> = order[..keep].iter().map(|&i| i as u32).collect();
    kept.sort_unstable();
    kept
}

/// Shrinks every member of `group` to the channels `keep` (ascending indices).
pub fn remove_channels(graph: &mut Graph, group: &ChannelGroup, keep: &[u32]) -> Result<()> {
    let n = group.channels;
    let name = group.name(graph);
    let shapes = graph.shapes(1, 8)?;
    let nodes = graph.nodes_mut();
    for m in &group.members {
        let node = &mut nodes[m.node];
        match (&m.role, &mut node.op) {
            (Role::Producer, Op::Linear(l)) => {
                l.weight = select(&l.weight, keep, 0)?;
                l.bias = l.bias.as_ref().map(|b| select(b, keep, 0)).transpose()?;
                l.kernel = None;
            }
            (Role::Producer, Op::Conv2d(c)) => {
                c.weight = select(&c.weight, keep, 0)?;
                c.bias = c.bias.as_ref().map(|b| select(b, keep, 0)).transpose()?;
            }
            (Role::Depthwise { offset }, Op::Conv2d(c)) => {
                let rows = kept_positions(c.weight.dims()[0], *offset, n, 1, keep);
                c.weight = select(&c.weight, &rows, 0)?;
                c.bias = c.bias.as_ref().map(|b| select(b, &rows, 0)).transpose()?;
                c.groups = rows.len();
            }
            (Role::PerChannel { offset }, Op::BatchNorm2d(bn)) => {
                let rows = kept_positions(bn.weight.dims()[0], *offset, n, 1, keep);
                bn.weight = select(&bn.weight, &rows, 0)?;
                bn.bias = select(&bn.bias, &rows, 0)?;
                bn.running_mean = select(&bn.running_mean, &rows, 0)?;
                bn.running_var = select(&bn.running_var, &rows, 0)?;
            }
            (Role::PerChannel { offset }, Op::InstanceNorm(inorm)) => {
                let rows = kept_positions(inorm.weight.dims()[0], *offset, n, 1, keep);
                inorm.weight = select(&inorm.weight, &rows, 0)?;
                inorm.bias = select(&inorm.bias, &rows, 0)?;
            }
            (Role::Consumer { offset, block }, Op::Linear(l)) => {
                let cols = kept_positions(l.weight.dims()[1], *offset, n, *block, keep);
                l.weight = select(&l.weight, &cols, 1)?;
                l.kernel = None;
            }
            (Role::Consumer { offset, block }, Op::Conv2d(c)) => {
                let cols = kept_positions(c.weight.dims()[1], *offset, n, *block, keep);
                c.weight = select(&c.weight, &cols, 1)?;
            }
            (Role::Constant { axis, offset }, Op::Constant(k)) => {
                let len = k.value.dims()[*axis];
                let rows = kept_positions(len, *offset, n, 1, keep);
                k.value = select(&k.value, &rows, *axis)?;
            }
            (Role::Shape { axis, per_channel }, Op::Tensor(t)) => {
                let before = shapes[m.node].get(*axis).copied().unwrap_or(0);
                let after = before - (n - keep.len()) * per_channel;
                match t {
                    TensorOp::Reshape { shape } => {
                        shape[*axis] = ReshapeDim::Dim(Dim::Fixed(after));
                    }
                    TensorOp::Expand { shape } => shape[*axis] = Dim::Fixed(after),
                    _ => {}
                }
            }
            (role, op) => {
                return Err(Error::Invalid {
                    msg: format!(
                        "channel group `{name}`: cannot shrink `{}` ({}) as {role:?}",
                        node.name,
                        op.kind()
                    ),
                });
            }
        }
    }
    graph.shapes(1, 8).map_err(|e| Error::Invalid {
        msg: format!("channel group `{name}`: the pruned graph does not fit together: {e}"),
    })?;
    Ok(())
}

/// Prunes the `ratio` share of the channels of the group whose producers include `producer`,
/// ranked by [`group_scores`], keeping a multiple of `align` when given; returns the channels
/// kept.
pub fn prune_group(
    graph: &mut Graph,
    producer: usize,
    ratio: f64,
    criterion: Criterion,
    align: Option<usize>,
) -> Result<usize> {
    let layer = graph.nodes()[producer].name.clone();
    let groups = channel_groups(graph)?;
    let Some(group) = groups.of_producer(producer) else {
        return Err(Error::NotPrunable {
            layer,
            reason: "channel pruning applies to Conv2d (one group) and Linear layers".into(),
        });
    };
    if let Some(why) = &group.blocked {
        return Err(Error::NotPrunable {
            layer,
            reason: format!("{why} (group {})", group.member_names(graph).join(", ")),
        });
    }
    let keep = kept_channels(group.channels, ratio, align, &group.name(graph))?;
    if keep == group.channels {
        return Ok(keep);
    }
    let scores = group_scores(graph, group, criterion)?;
    let kept = keep_top(&scores, keep);
    let group = group.clone();
    remove_channels(graph, &group, &kept)?;
    Ok(keep)
}
