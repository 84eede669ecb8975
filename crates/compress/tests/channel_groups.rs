//! Channel groups on random graphs built from residual, concatenation, squeeze-excitation,
//! depthwise and grouped-convolution blocks, and on the built-in architectures.
//!
//! The independent check: removing channels of a group must compute exactly what the unpruned
//! graph computes when the consumers of those channels ignore them (their input columns set to
//! zero). Nothing else may change, so the two outputs agree to rounding.

use candle_core::{DType, Device, Tensor};

use sculpt_compress::groups::{Role, channel_groups, kept_channels, remove_channels};
use sculpt_model::{
    BatchNorm2d, BinaryFn, Conv2d, Graph, InputKind, InputSpec, Linear, Node, Op, Pool2d, Task,
    TensorOp, UnaryFn, ValueRef, load_model,
};

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn tensor(&mut self, dims: &[usize]) -> Tensor {
        let n: usize = dims.iter().product();
        let v: Vec<f32> =
            (0..n).map(|_| (self.next() % 2001) as f32 / 1000.0 - 1.0).map(|x| x * 0.5).collect();
        Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
    }
}

struct Builder {
    nodes: Vec<Node>,
    rng: Rng,
}

impl Builder {
    fn push(&mut self, name: &str, op: Op, inputs: Vec<ValueRef>) -> ValueRef {
        self.nodes.push(Node { name: name.into(), op, inputs });
        ValueRef::Node(self.nodes.len() - 1)
    }
    fn conv(
        &mut self,
        name: &str,
        x: ValueRef,
        c_in: usize,
        c_out: usize,
        k: usize,
        groups: usize,
    ) -> ValueRef {
        let weight = self.rng.tensor(&[c_out, c_in / groups, k, k]);
        let bias = Some(self.rng.tensor(&[c_out]));
        let op = Op::Conv2d(Conv2d {
            weight,
            bias,
            stride: (1, 1),
            padding: (k / 2, k / 2),
            dilation: 1,
            groups,
        });
        self.push(name, op, vec![x])
    }
    fn bn(&mut self, name: &str, x: ValueRef, c: usize) -> ValueRef {
        let var = (self.rng.tensor(&[c]).abs().unwrap() + 0.5).unwrap();
        let op = Op::BatchNorm2d(BatchNorm2d {
            weight: self.rng.tensor(&[c]),
            bias: self.rng.tensor(&[c]),
            running_mean: self.rng.tensor(&[c]),
            running_var: var,
            eps: 1e-5,
        });
        self.push(name, op, vec![x])
    }
}

/// A random network on 3×8×8 images: a stem, `blocks` random blocks, a head. Returns the graph
/// and a description of its blocks.
fn random_graph(seed: u64, blocks: usize) -> (Graph, Vec<&'static str>) {
    let mut b = Builder { nodes: Vec::new(), rng: Rng(seed * 2654435761 + 1) };
    let mut c = 8;
    let mut x = b.conv("stem", ValueRef::Input(0), 3, c, 3, 1);
    let mut kinds = Vec::new();
    for k in 0..blocks {
        let n = |s: &str| format!("b{k}.{s}");
        match b.rng.below(6) {
            0 => {
                kinds.push("residual");
                let y = b.conv(&n("conv1"), x, c, c, 3, 1);
                let y = b.bn(&n("bn1"), y, c);
                let y = b.push(&n("relu"), Op::Relu, vec![y]);
                let y = b.conv(&n("conv2"), y, c, c, 3, 1);
                let y = b.bn(&n("bn2"), y, c);
                x = b.push(&n("add"), Op::Add, vec![y, x]);
            }
            1 => {
                kinds.push("concat");
                let (p, q) = (4 + b.rng.below(4), 4 + b.rng.below(4));
                let y1 = b.conv(&n("left"), x, c, p, 1, 1);
                let y2 = b.conv(&n("right"), x, c, q, 3, 1);
                x = b.push(&n("cat"), Op::Tensor(TensorOp::Concat { axis: 1 }), vec![y1, y2]);
                c = p + q;
            }
            2 => {
                kinds.push("squeeze-excitation");
                let s = b.push(&n("pool"), Op::AdaptiveAvgPool2d { output: (1, 1) }, vec![x]);
                let s = b.conv(&n("fc1"), s, c, 4, 1, 1);
                let s = b.push(&n("relu"), Op::Relu, vec![s]);
                let s = b.conv(&n("fc2"), s, 4, c, 1, 1);
                let s = b.push(
                    &n("gate"),
                    Op::Tensor(TensorOp::Unary { f: UnaryFn::Sigmoid }),
                    vec![s],
                );
                x = b.push(
                    &n("scale"),
                    Op::Tensor(TensorOp::Binary { f: BinaryFn::Mul }),
                    vec![x, s],
                );
            }
            3 => {
                kinds.push("depthwise");
                let y = b.conv(&n("dw"), x, c, c, 3, c);
                let y = b.bn(&n("bn"), y, c);
                x = b.push(&n("relu6"), Op::Relu6, vec![y]);
            }
            4 => {
                kinds.push("grouped");
                let even = c - c % 2;
                let y = if even != c { b.conv(&n("fit"), x, c, even, 1, 1) } else { x };
                x = b.conv(&n("grouped"), y, even, even, 3, 2);
                c = even;
            }
            _ => {
                kinds.push("plain");
                let d = 4 + b.rng.below(8);
                let y = b.conv(&n("conv"), x, c, d, 3, 1);
                let y = b.push(
                    &n("pool"),
                    Op::MaxPool2d(Pool2d { kernel: (3, 3), stride: (1, 1), padding: (1, 1) }),
                    vec![y],
                );
                x = b.push(&n("relu"), Op::Relu, vec![y]);
                c = d;
            }
        }
    }
    // Half the heads flatten the 8×8 map straight into the classifier (64 features a channel).
    let x = if b.rng.below(2) == 0 {
        b.push("gap", Op::AdaptiveAvgPool2d { output: (1, 1) }, vec![x])
    } else {
        x
    };
    let features =
        if matches!(b.nodes.last().unwrap().op, Op::AdaptiveAvgPool2d { .. }) { c } else { c * 64 };
    let x = b.push("flatten", Op::Flatten, vec![x]);
    let w = b.rng.tensor(&[10, features]);
    let bias = b.rng.tensor(&[10]);
    let out = b.push("fc", Op::Linear(Linear::new(w, Some(bias))), vec![x]);
    let input = InputSpec {
        name: "image".into(),
        kind: InputKind::Image { channels: 3, height: 8, width: 8, mean: vec![], std: vec![] },
    };
    let graph = Graph::new(
        vec![input],
        b.nodes,
        vec![("logits".into(), out)],
        Task::Classification { classes: 10 },
    )
    .unwrap();
    (graph, kinds)
}

/// The graph with the consumers of the group's removed channels reading zeros instead.
fn ignoring_removed(graph: &Graph, group_index: usize, keep: &[u32]) -> Graph {
    let groups = channel_groups(graph).unwrap();
    let group = &groups.groups[group_index];
    let mut g = graph.clone();
    for m in &group.members {
        let Role::Consumer { offset, block } = m.role else { continue };
        let op = &mut g.nodes_mut()[m.node].op;
        let w = match op {
            Op::Linear(l) => &mut l.weight,
            Op::Conv2d(c) => &mut c.weight,
            _ => panic!("a consumer is a Linear or Conv2d"),
        };
        let cols = w.dims()[1];
        let mut mask = vec![1f32; cols];
        for ch in 0..group.channels {
            if !keep.contains(&(ch as u32)) {
                for j in 0..block {
                    mask[(offset + ch) * block + j] = 0.0;
                }
            }
        }
        let mut shape = vec![1usize; w.rank()];
        shape[1] = cols;
        let mask = Tensor::from_vec(mask, shape.as_slice(), &Device::Cpu).unwrap();
        *w = w.broadcast_mul(&mask).unwrap();
    }
    g
}

fn max_rel_diff(a: &Tensor, b: &Tensor) -> f32 {
    let d: f32 = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    let s: f32 = b.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    d / s.max(1e-6)
}

#[test]
fn pruning_any_group_keeps_what_the_kept_channels_computed() {
    let x = Tensor::rand(-1f32, 1., (2, 3, 8, 8), &Device::Cpu).unwrap();
    let batch = sculpt_model::Batch::Dense(x);
    let mut pruned_groups = 0;
    let mut seen_kinds = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let (graph, kinds) = random_graph(seed, 4);
        seen_kinds.extend(kinds.iter().copied());
        let groups = channel_groups(&graph).unwrap();
        let mut rng = Rng(seed + 99);
        for (gi, group) in groups.groups.iter().enumerate() {
            if group.blocked.is_some() {
                continue;
            }
            // A random non-empty subset of the channels.
            let mut keep: Vec<u32> =
                (0..group.channels as u32).filter(|_| rng.below(3) != 0).collect();
            if keep.is_empty() || keep.len() == group.channels {
                keep = (0..group.channels as u32).step_by(2).collect();
            }
            let mut pruned = graph.clone();
            remove_channels(&mut pruned, group, &keep).unwrap_or_else(|e| {
                panic!("seed {seed} {kinds:?}, group {}: {e}", group.name(&graph))
            });
            let got = pruned.forward(&batch).unwrap();
            let want = ignoring_removed(&graph, gi, &keep).forward(&batch).unwrap();
            let d = max_rel_diff(&got, &want);
            assert!(d < 1e-5, "seed {seed} {kinds:?}, group {}: {d}", group.name(&graph));
            assert!(pruned.n_params() < graph.n_params());
            pruned_groups += 1;
        }
    }
    assert!(pruned_groups > 100, "{pruned_groups} groups pruned");
    assert_eq!(seen_kinds.len(), 6, "{seen_kinds:?}");
}

#[test]
fn residual_concat_and_se_couple_the_layers_they_join() {
    // Find seeds with each block kind at block 0 and check its group by hand.
    let mut checked = std::collections::BTreeSet::new();
    for seed in 0..60 {
        let (graph, kinds) = random_graph(seed, 1);
        let groups = channel_groups(&graph).unwrap();
        let names = |p: &str| {
            groups.of_producer(graph.node_index(p).unwrap()).unwrap().member_names(&graph)
        };
        match kinds[0] {
            "residual" => {
                // The stem and the second conv meet at the add; the first conv reads them, as
                // does the classifier (through the flatten or the pool).
                let m = names("stem");
                for l in ["stem", "b0.conv2", "b0.bn2", "b0.conv1", "fc"] {
                    assert!(m.contains(&l.to_string()), "{m:?} lacks {l}");
                }
                assert!(!m.contains(&"b0.bn1".to_string()), "{m:?}");
            }
            "concat" => {
                // Each branch is its own group; the classifier reads both at their offsets.
                let left = groups.of_producer(graph.node_index("b0.left").unwrap()).unwrap();
                let right = groups.of_producer(graph.node_index("b0.right").unwrap()).unwrap();
                assert_ne!(left.producers, right.producers);
                let fc = graph.node_index("fc").unwrap();
                let offset = |g: &sculpt_compress::groups::ChannelGroup| {
                    g.members.iter().find_map(|m| match m.role {
                        Role::Consumer { offset, .. } if m.node == fc => Some(offset),
                        _ => None,
                    })
                };
                assert_eq!(offset(left), Some(0));
                assert_eq!(offset(right), Some(left.channels));
            }
            "squeeze-excitation" => {
                // The gate's channels multiply the stem's: fc2 joins the stem's group, and fc1
                // reads it.
                let m = names("stem");
                for l in ["stem", "b0.fc2", "b0.fc1", "fc"] {
                    assert!(m.contains(&l.to_string()), "{m:?} lacks {l}");
                }
                assert!(
                    groups
                        .of_producer(graph.node_index("b0.fc1").unwrap())
                        .unwrap()
                        .blocked
                        .is_none()
                );
            }
            "grouped" => {
                // A grouped convolution reads its input channels group by group: the stem's
                // channels stop there.
                let g = groups.of_producer(graph.node_index("stem").unwrap()).unwrap();
                assert!(g.blocked.as_deref().unwrap_or("").contains("grouped"), "{:?}", g.blocked);
                assert!(groups.of_producer(graph.node_index("b0.grouped").unwrap()).is_none());
            }
            "depthwise" => {
                let m = names("stem");
                assert!(m.contains(&"b0.dw".to_string()), "{m:?}");
            }
            _ => continue,
        }
        checked.insert(kinds[0]);
    }
    assert_eq!(checked.len(), 5, "{checked:?}");
}

#[test]
fn kept_counts_round_to_the_alignment_and_refuse_nonsense() {
    assert_eq!(kept_channels(64, 0.25, None, "g").unwrap(), 48);
    assert_eq!(kept_channels(10, 0.25, None, "g").unwrap(), 8); // ⌊2.5⌋ = 2 removed
    assert_eq!(kept_channels(100, 0.3, Some(8), "g").unwrap(), 72); // 70 → 72
    assert_eq!(kept_channels(20, 0.1, Some(8), "g").unwrap(), 20); // 18 → 24, capped at 20
    assert_eq!(kept_channels(16, 0.99, None, "g").unwrap(), 1); // ⌊15.84⌋ = 15 removed
    let e = kept_channels(16, 1.0, None, "stage2").unwrap_err().to_string();
    assert!(e.contains("stage2") && e.contains("removes all 16"), "{e}");
    let e = kept_channels(4, 0.5, Some(8), "stage1").unwrap_err().to_string();
    assert!(e.contains("stage1") && e.contains("fewer than the alignment multiple 8"), "{e}");
}

/// MobileNetV2's multiply-accumulates with every channel group pruned by `ratio`, from the
/// architecture table (torchvision's inverted-residual settings), not from the graph.
fn mobilenet_macs(ratio: f64) -> u64 {
    let keep = |c: usize| (c - ((c as f64) * ratio).floor() as usize) as u64;
    let settings = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ];
    let mut hw = 112u64;
    // Stem: 3 → 32 at stride 2, 3×3.
    let mut macs = hw * hw * 3 * keep(32) * 9;
    // Each stage's output channels are one group (its blocks are joined by residual adds).
    let mut c_in = 32usize;
    let mut c_in_kept = keep(32);
    for (t, c, n, s) in settings {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            let hidden = c_in * t;
            let hidden_kept = if t == 1 { c_in_kept } else { keep(hidden) };
            if t != 1 {
                macs += hw * hw * c_in_kept * hidden_kept;
            }
            let out = hw / stride as u64;
            macs += out * out * hidden_kept * 9;
            macs += out * out * hidden_kept * keep(c);
            hw = out;
            c_in = c;
            c_in_kept = keep(c);
        }
    }
    macs += hw * hw * c_in_kept * keep(1280);
    macs + keep(1280) * 1000
}

#[test]
fn every_mobilenet_v2_stage_prunes_and_the_macs_match_the_table() {
    let m = load_model("builtin:mobilenet_v2").unwrap();
    let before = sculpt_model::profile(&m.graph, 1, 0).unwrap().total.macs;
    assert_eq!(before, mobilenet_macs(0.0));
    let groups = channel_groups(&m.graph).unwrap();
    // Projection convs that feed residual adds are prunable now, with their stage.
    let stage = groups.of_producer(m.graph.node_index("features.2.conv.2").unwrap()).unwrap();
    assert!(stage.blocked.is_none(), "{:?}", stage.blocked);
    assert!(stage.producers.contains(&m.graph.node_index("features.3.conv.2").unwrap()));
    // Every group but the classifier's (a model output) is prunable.
    let blocked: Vec<String> =
        groups.groups.iter().filter(|g| g.blocked.is_some()).map(|g| g.name(&m.graph)).collect();
    assert_eq!(blocked, vec!["classifier.1".to_string()]);
    // 25 % of every group.
    let mut g = m.graph.clone();
    for group in groups.groups.iter().filter(|g| g.blocked.is_none()) {
        sculpt_compress::prune_channels(&mut g, group.producers[0], 0.25, Default::default(), None)
            .unwrap();
    }
    let after = sculpt_model::profile(&g, 1, 0).unwrap().total.macs;
    assert_eq!(after, mobilenet_macs(0.25));
    let x = Tensor::rand(0f32, 1., (1, 3, 224, 224), &Device::Cpu).unwrap();
    let y = g.forward(&sculpt_model::Batch::Dense(x)).unwrap();
    assert_eq!(y.dims(), &[1, 1000]);
    assert_eq!(y.dtype(), DType::F32);
}

#[test]
fn bert_ffn_neurons_prune_and_the_hidden_width_is_blocked_by_layernorm() {
    let m = load_model("builtin:bert-minilm").unwrap();
    let groups = channel_groups(&m.graph).unwrap();
    let ffn = m.graph.node_index("encoder.layer.0.intermediate.dense").unwrap();
    let g = groups.of_producer(ffn).unwrap();
    assert!(g.blocked.is_none(), "{:?}", g.blocked);
    assert_eq!(
        g.member_names(&m.graph),
        ["encoder.layer.0.intermediate.dense", "encoder.layer.0.output.dense"]
    );
    // The hidden width is one group across every layer (residuals and LayerNorms tie it to
    // the embeddings), reported but blocked.
    let out = m.graph.node_index("encoder.layer.0.output.dense").unwrap();
    let hidden = groups.of_producer(out).unwrap();
    let last = m.graph.node_index("encoder.layer.5.attention.output.dense").unwrap();
    assert!(hidden.producers.contains(&last));
    let why = hidden.blocked.clone().unwrap();
    assert!(why.contains("embedding width") || why.contains("normalises"), "{why}");
    let q = m.graph.node_index("encoder.layer.0.attention.self.query").unwrap();
    let why = groups.of_producer(q).unwrap().blocked.clone().unwrap();
    assert!(why.contains("prune its heads instead"), "{why}");
}

/// The imported ONNX test models (scripts/fetch-fixtures.sh).
fn onnx_dir() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.fixtures/onnx");
    if dir.join("resnet.onnx").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("SCULPT_REQUIRE_FIXTURES").is_none(),
        "{} missing; run scripts/fetch-fixtures.sh",
        dir.display()
    );
    None
}

#[test]
fn imported_graphs_prune_through_their_residuals_and_reshapes() {
    let Some(dir) = onnx_dir() else { return };
    let mut rng = Rng(7);
    for (name, shape, prunable_at_least) in [
        ("resnet.onnx", [2, 3, 32, 32], 4),
        ("zoo.onnx", [2, 3, 12, 12], 2),
        ("vit.onnx", [2, 3, 32, 32], 1),
    ] {
        let m = load_model(dir.join(name).to_str().unwrap()).unwrap();
        let x = Tensor::rand(-1f32, 1., &shape, &Device::Cpu).unwrap();
        let batch = sculpt_model::Batch::Dense(x);
        let groups = channel_groups(&m.graph).unwrap();
        let mut pruned_groups = 0;
        for (gi, group) in groups.groups.iter().enumerate() {
            if group.blocked.is_some() {
                continue;
            }
            let keep: Vec<u32> = (0..group.channels as u32).filter(|_| rng.below(2) == 0).collect();
            let keep = if keep.is_empty() { vec![0] } else { keep };
            let mut pruned = m.graph.clone();
            remove_channels(&mut pruned, group, &keep)
                .unwrap_or_else(|e| panic!("{name}, group {}: {e}", group.name(&m.graph)));
            let got = pruned.forward(&batch).unwrap();
            let want = ignoring_removed(&m.graph, gi, &keep).forward(&batch).unwrap();
            let d = max_rel_diff(&got, &want);
            assert!(d < 1e-5, "{name}, group {}: {d}", group.name(&m.graph));
            pruned_groups += 1;
        }
        assert!(pruned_groups >= prunable_at_least, "{name}: {pruned_groups} groups");
    }
}

fn plan(text: &str) -> sculpt_compress::CompressionPlan {
    sculpt_yaml::from_str(text, "plan.yaml".as_ref()).unwrap()
}

fn apply_error(model: &sculpt_model::Model, text: &str) -> String {
    match sculpt_compress::apply_plan(model, &plan(text), None, &Default::default()) {
        Ok(_) => panic!("applied: {text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn plans_name_a_group_by_any_producer_and_conflicts_are_refused() {
    let m = load_model("builtin:mobilenet_v2").unwrap();
    // Naming both producers of stage 2 the same way prunes the stage once.
    let same = "layers:\n  features.2.conv.2: {prune: {kind: channel, ratio: 0.5}}\n  features.3.conv.2: {prune: {kind: channel, ratio: 0.5}}\n";
    let c = sculpt_compress::apply_plan(&m, &plan(same), None, &Default::default()).unwrap();
    let out = |name: &str| match &c.model.graph.node(name).unwrap().op {
        Op::Conv2d(conv) => conv.out_channels(),
        _ => panic!(),
    };
    assert_eq!((out("features.2.conv.2"), out("features.3.conv.2")), (12, 12));
    // Differently: one error naming both and the group's members.
    let e = apply_error(
        &m,
        "layers:\n  features.2.conv.2: {prune: {kind: channel, ratio: 0.5}}\n  features.3.conv.2: {prune: {kind: channel, ratio: 0.25}}\n",
    );
    assert!(e.contains("features.2.conv.2") && e.contains("features.3.conv.2"), "{e}");
    assert!(e.contains("one channel group") && e.contains("features.4.conv.0.0"), "{e}");
    // A group that reaches the output, named exactly.
    let e = apply_error(&m, "layers:\n  classifier.1: {prune: {kind: channel, ratio: 0.5}}\n");
    assert!(e.contains("model output `logits`") && e.contains("classifier.1"), "{e}");
    // An alignment the group cannot meet.
    let e = apply_error(
        &m,
        "layers:\n  features.1.conv.1: {prune: {kind: channel, ratio: 0.5, align: 32}}\n",
    );
    assert!(e.contains("16 channels, fewer than the alignment multiple 32"), "{e}");
    // Alignment rounds the kept channels up: 96 · 0.7 = 67.2 → 29 removed → 67 → 72.
    let aligned = "layers:\n  features.11.conv.2: {prune: {kind: channel, ratio: 0.3, align: 8}}\n";
    let c = sculpt_compress::apply_plan(&m, &plan(aligned), None, &Default::default()).unwrap();
    let Op::Conv2d(conv) = &c.model.graph.node("features.12.conv.2").unwrap().op else { panic!() };
    assert_eq!(conv.out_channels(), 72);
}
