//! The same plans on MobileNetV2 (depthwise convolutions, residual adds) and on a BERT encoder
//! (heads, FFN neurons, q/k/v/o projections).

use std::path::Path;

use candle_core::{Device, Tensor};

use sculpt_compress::{
    ApplyOptions, CompressionPlan, Kernels, apply_plan, load_any, write_compressed,
};
use sculpt_model::{Batch, Op, TokenBatch, load_model};

fn plan(text: &str) -> CompressionPlan {
    sculpt_yaml::from_str(text, Path::new("plan.yaml")).unwrap()
}

fn dims(model: &sculpt_model::Model, layer: &str) -> Vec<usize> {
    match &model.graph.node(layer).unwrap().op {
        Op::Linear(l) => l.weight.dims().to_vec(),
        Op::Conv2d(c) => c.weight.dims().to_vec(),
        _ => panic!(),
    }
}

#[test]
fn mobilenet_channel_pruning_follows_depthwise_and_prunes_residual_stages_together() {
    let model = load_model("builtin:mobilenet_v2").unwrap();
    let p = plan(
        "layers:\n  \"features.*\": {prune: {kind: channel, ratio: 0.5}, quant: {weight_bits: 8}}\n",
    );
    let c = apply_plan(&model, &p, None, &ApplyOptions::default()).unwrap();
    // features.2's expansion conv (16 → 96) keeps 48 channels and reads the 8 channels left of
    // features.1's projection (16, halved); its depthwise conv follows (48 groups).
    assert_eq!(dims(&c.model, "features.2.conv.0.0"), vec![48, 8, 1, 1]);
    assert_eq!(dims(&c.model, "features.2.conv.1.0"), vec![48, 1, 3, 3]);
    // The projections of features.2 and features.3 meet in features.3's residual add: one group
    // of 24 channels, halved together, and features.4's expansion reads the 12 left.
    assert_eq!(dims(&c.model, "features.2.conv.2"), vec![12, 48, 1, 1]);
    assert_eq!(dims(&c.model, "features.3.conv.2"), vec![12, 72, 1, 1]);
    assert_eq!(dims(&c.model, "features.3.conv.0.0"), vec![72, 12, 1, 1]);
    assert_eq!(dims(&c.model, "features.4.conv.0.0"), vec![72, 12, 1, 1]);
    assert!(!c.notes.iter().any(|n| n.contains("ties them")), "{:?}", c.notes);
    let x = Tensor::rand(0f32, 1., (1, 3, 224, 224), &Device::Cpu).unwrap();
    let y = c.model.graph.forward(&Batch::Dense(x)).unwrap();
    assert_eq!(y.dims(), &[1, 1000]);
    // Naming one member of a residual stage prunes the whole stage.
    let p = plan("layers:\n  features.2.conv.2: {prune: {kind: channel, ratio: 0.5}}\n");
    let c = apply_plan(&model, &p, None, &ApplyOptions::default()).unwrap();
    assert_eq!(dims(&c.model, "features.2.conv.2"), vec![12, 96, 1, 1]);
    assert_eq!(dims(&c.model, "features.3.conv.2"), vec![12, 144, 1, 1]);
    assert_eq!(dims(&c.model, "features.4.conv.0.0"), vec![144, 12, 1, 1]);
}

#[test]
fn mobilenet_int4_low_rank_and_two_four_apply_and_round_trip() {
    let model = load_model("builtin:mobilenet_v2").unwrap();
    let p = plan(
        "defaults:\n  quant: {weight_bits: 4, granularity: per_group, group_size: 32}\nlayers:\n  classifier.1: {rank: {ratio: 0.25}, quant: {weight_bits: 8}}\n  \"features.1?.conv.0.0\": {prune: {kind: n_m, n: 2, m: 4}}\n  \"features.18.0\": {prune: {kind: n_m, n: 2, m: 4}, quant: {weight_bits: 8}}\n",
    );
    let c = apply_plan(&model, &p, None, &ApplyOptions::default()).unwrap();
    assert_eq!(dims(&c.model, "classifier.1.lr"), vec![250, 1280]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    write_compressed(&c, &path, "{}").unwrap();
    let back = load_any(path.to_str().unwrap(), Kernels::Dequantized).unwrap();
    let x = Tensor::rand(0f32, 1., (1, 3, 224, 224), &Device::Cpu).unwrap();
    let a: Vec<Vec<f32>> =
        c.model.graph.forward(&Batch::Dense(x.clone())).unwrap().to_vec2().unwrap();
    let b: Vec<Vec<f32>> = back.graph.forward(&Batch::Dense(x)).unwrap().to_vec2().unwrap();
    assert_eq!(a, b);
    let bytes = std::fs::metadata(&path).unwrap().len();
    // Mostly int4 (plus fp32 2:4 layers, whose entries replace the defaults): under a quarter of
    // the 14,155,936 fp32 bytes.
    assert!(bytes < 14_155_936 / 4, "{bytes}");
}

#[test]
fn bert_heads_ffn_neurons_and_projections() {
    let model = load_model("builtin:bert-minilm").unwrap();
    let p = plan(
        "layers:\n  \"*.attention.self\": {prune: {kind: head, ratio: 0.5}}\n  \"*.intermediate.dense\": {prune: {kind: channel, ratio: 0.25}}\n  \"*.query\": {quant: {weight_bits: 4, granularity: per_group, group_size: 32}}\n  \"*.attention.output.dense\": {rank: {ratio: 0.5}}\n",
    );
    let c = apply_plan(&model, &p, None, &ApplyOptions::default()).unwrap();
    // 12 heads of 32 → 6 heads: q/k/v keep 192 rows, the output projection reads 192.
    assert_eq!(dims(&c.model, "encoder.layer.0.attention.self.query"), vec![192, 384]);
    assert_eq!(dims(&c.model, "encoder.layer.0.attention.self.value"), vec![192, 384]);
    assert_eq!(dims(&c.model, "encoder.layer.0.attention.output.dense.lr"), vec![96, 192]);
    let Op::Attention(a) = &c.model.graph.node("encoder.layer.0.attention.self").unwrap().op else {
        panic!()
    };
    assert_eq!(a.n_heads, 6);
    // FFN 1536 → 1152 neurons; the output dense reads 1152.
    assert_eq!(dims(&c.model, "encoder.layer.5.intermediate.dense"), vec![1152, 384]);
    assert_eq!(dims(&c.model, "encoder.layer.5.output.dense"), vec![384, 1152]);
    let ids = Tensor::new(&[[101u32, 2023, 2003, 102, 0]], &Device::Cpu).unwrap();
    let mask = Tensor::new(&[[1f32, 1., 1., 1., 0.]], &Device::Cpu).unwrap();
    let e =
        c.model.graph.forward(&Batch::Tokens(TokenBatch { ids, type_ids: None, mask })).unwrap();
    let norm: f32 = e.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
    assert!((norm - 1.0).abs() < 1e-4);
    // q/k/v are tied through attention: channel pruning one of them is refused.
    let p = plan(
        "layers:\n  encoder.layer.0.attention.self.key: {prune: {kind: channel, ratio: 0.5}}\n",
    );
    let err = apply_plan(&model, &p, None, &ApplyOptions::default()).unwrap_err().to_string();
    assert!(err.contains("attention"), "{err}");
}

#[test]
fn bad_plans_name_the_key_and_the_reason() {
    let model = load_model("builtin:demo-cnn").unwrap();
    let check = |text: &str, expected: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, text).unwrap();
        let err = match CompressionPlan::from_path(&path) {
            Err(e) => e.to_string(),
            Ok((p, src)) => apply_plan(&model, &p, Some(&src), &ApplyOptions::default())
                .unwrap_err()
                .to_string(),
        };
        assert!(err.contains(expected), "{err:?} lacks {expected:?}");
        assert!(err.contains("p.yaml"), "{err}");
    };
    check(
        "layers:\n  fc9: {quant: {weight_bits: 8}}\n",
        "p.yaml:2: key `layers.fc9`: no layer of the model matches `fc9`",
    );
    check(
        "layers:\n  conv1: {prune: {kind: channel, ratio: 1.5}}\n",
        "key `layers.conv1.prune.ratio`: must be in [0, 1), got 1.5",
    );
    check("defaults:\n  quant: {weight_bits: 5}\n", "5 bits is not supported");
    check(
        "layers:\n  fc1: {rank: {rank: 500}}\n",
        "rank 500 is larger than the layer allows (1..=128)",
    );
    check("layers:\n  classifier: {prune: {kind: channel, ratio: 0.5}}\n", "model output");
    check(
        "layers:\n  fc1: {rank: {ratio: 0.5}, prune: {kind: magnitude, ratio: 0.5}}\n",
        "cannot be combined",
    );
    check("layers:\n  relu1: {quant: {weight_bits: 8}}\n", "has no weights to compress");
    check("defaults:\n  quant: {weight_bits: 8, colour: red}\n", "p.yaml:2");
    // A plan written for BERT does not fit the CNN.
    check(
        "layers:\n  \"*.attention.self\": {prune: {kind: head, ratio: 0.5}}\n",
        "no layer of the model matches",
    );
}
