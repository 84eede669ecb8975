//! The compression targets on the bundled CNN (issue: compression operators), measured against
//! the files really written and the model really reloaded.

use std::path::Path;

use candle_core::Tensor;

use sculpt_compress::{
    ApplyOptions, CompressionPlan, Kernels, apply_plan, load_any, write_compressed,
};
use sculpt_eval::{Data, evaluate, load_data};
use sculpt_model::{Batch, Model, Op, load_model};

fn plan(text: &str) -> CompressionPlan {
    sculpt_yaml::from_str(text, Path::new("plan.yaml")).unwrap()
}

struct Outcome {
    model: Model,
    file_ratio: f64,
    accuracy: f64,
    baseline: f64,
}

fn fp32_file_bytes() -> u64 {
    std::fs::metadata(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/demo-cnn.safetensors"),
    )
    .unwrap()
    .len()
}

/// Applies a plan to demo-cnn, writes it, reloads it from disk and evaluates the reloaded model.
fn run(text: &str) -> Outcome {
    let model = load_model("builtin:demo-cnn").unwrap();
    let data = load_data(sculpt_eval::BUILTIN_EVAL).unwrap();
    let baseline = evaluate(&model, &data, 500).unwrap().value;
    let compressed = apply_plan(&model, &plan(text), None, &ApplyOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.safetensors");
    let tensor_bytes = write_compressed(&compressed, &path, "{}").unwrap();
    let file_bytes = std::fs::metadata(&path).unwrap().len();
    // The reported size is the tensor data; the file adds only the 8-byte length and the header.
    let header = u64::from_le_bytes(std::fs::read(&path).unwrap()[..8].try_into().unwrap());
    assert_eq!(file_bytes, 8 + header + tensor_bytes);
    let reloaded = load_any(path.to_str().unwrap(), Kernels::Dequantized).unwrap();
    // The reloaded model computes exactly what the in-memory compressed model computes.
    let Data::Dense { inputs, .. } = &data.data else { panic!() };
    let x = inputs.narrow(0, 0, 16).unwrap();
    let a: Vec<Vec<f32>> =
        compressed.model.graph.forward(&Batch::Dense(x.clone())).unwrap().to_vec2().unwrap();
    let b: Vec<Vec<f32>> = reloaded.graph.forward(&Batch::Dense(x)).unwrap().to_vec2().unwrap();
    assert_eq!(a, b);
    let accuracy = evaluate(&reloaded, &data, 500).unwrap().value;
    Outcome {
        model: reloaded,
        file_ratio: file_bytes as f64 / fp32_file_bytes() as f64,
        accuracy,
        baseline,
    }
}

fn weight(model: &Model, layer: &str) -> Tensor {
    match &model.graph.node(layer).unwrap().op {
        Op::Linear(l) => l.weight.clone(),
        Op::Conv2d(c) => c.weight.clone(),
        _ => panic!("{layer}"),
    }
}

#[test]
fn int8_per_channel_is_a_quarter_of_the_file_and_loses_at_most_half_a_point() {
    let o = run("defaults:\n  quant: {weight_bits: 8, granularity: per_channel}\n");
    assert!(o.file_ratio <= 0.27, "file ratio {}", o.file_ratio);
    assert!(o.baseline - o.accuracy <= 0.005, "{} → {}", o.baseline, o.accuracy);
    // Every weight is on its row's int8 grid: w / scale is an integer within ±127.
    let w: Vec<Vec<f32>> = weight(&o.model, "fc1").to_vec2().unwrap();
    for row in w.iter().take(8) {
        let absmax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = half::f16::from_f32(absmax / 127.0).to_f32();
        for v in row {
            let q = v / scale;
            assert!((q - q.round()).abs() < 1e-3 && q.abs() <= 127.5, "{v} / {scale}");
        }
    }
}

#[test]
fn int4_per_group_is_at_most_016_of_the_file() {
    let o = run("defaults:\n  quant: {weight_bits: 4, granularity: per_group, group_size: 32}\n");
    assert!(o.file_ratio <= 0.16, "file ratio {}", o.file_ratio);
    eprintln!("int4 g32: accuracy {:.4} (baseline {:.4})", o.accuracy, o.baseline);
    assert!(o.baseline - o.accuracy < 0.05);
}

#[test]
fn two_four_leaves_exactly_two_zeros_in_every_group_of_four() {
    let o = run("defaults:\n  prune: {kind: n_m, n: 2, m: 4}\n");
    eprintln!("2:4: accuracy {:.4} (baseline {:.4})", o.accuracy, o.baseline);
    // conv1 has one input channel, so 2:4 does not apply to it; the others are checked.
    for layer in ["conv2", "fc1", "classifier"] {
        let w = weight(&o.model, layer);
        let dims = w.dims().to_vec();
        let v: Vec<f32> = w.flatten_all().unwrap().to_vec1().unwrap();
        let (out, inner) = (dims[0], dims[1]);
        let k: usize = dims[2..].iter().product();
        for oi in 0..out {
            for p in 0..k {
                for g in 0..inner / 4 {
                    let zeros =
                        (0..4).filter(|j| v[oi * inner * k + (g * 4 + j) * k + p] == 0.0).count();
                    assert_eq!(zeros, 2, "{layer} row {oi} pos {p} group {g}");
                }
            }
        }
    }
    let w1: Vec<f32> = weight(&o.model, "conv1").flatten_all().unwrap().to_vec1().unwrap();
    assert!(w1.iter().all(|v| *v != 0.0));
}

#[test]
fn half_of_the_conv_channels_pruned_gives_reduced_shapes_that_run() {
    let o = run("layers:\n  \"conv*\": {prune: {kind: channel, ratio: 0.5}}\n");
    assert_eq!(weight(&o.model, "conv1").dims(), &[16, 1, 3, 3]);
    assert_eq!(weight(&o.model, "conv2").dims(), &[32, 16, 3, 3]);
    // fc1 reads 32 channels × 7 × 7 after the flatten.
    assert_eq!(weight(&o.model, "fc1").dims(), &[128, 32 * 49]);
    let Op::BatchNorm2d(bn) = &o.model.graph.node("bn2").unwrap().op else { panic!() };
    assert_eq!(bn.running_var.dims(), &[32]);
    assert!(o.accuracy > 0.3, "{}", o.accuracy);
}

#[test]
fn half_rank_linear_layers_store_two_factors_with_the_hand_computed_parameters() {
    let o = run("layers:\n  fc1: {rank: {ratio: 0.5}}\n  classifier: {rank: {ratio: 0.5}}\n");
    // fc1 3136→128, full rank 128, half 64: 64·3136 + 128·64 (+128 bias);
    // classifier 128→10, full rank 10, half 5: 5·128 + 10·5 (+10 bias).
    assert_eq!(weight(&o.model, "fc1.lr").dims(), &[64, 3136]);
    assert_eq!(weight(&o.model, "fc1").dims(), &[128, 64]);
    assert_eq!(weight(&o.model, "classifier.lr").dims(), &[5, 128]);
    assert_eq!(weight(&o.model, "classifier").dims(), &[10, 5]);
    let p = sculpt_model::profile(&o.model.graph, 1, 0).unwrap().total.params;
    let conv_bn = 288 + 64 + 18_432 + 128;
    assert_eq!(p, conv_bn + 64 * 3136 + 128 * 64 + 128 + 5 * 128 + 10 * 5 + 10);
}

#[test]
fn candle_kernels_run_the_int8_model_to_nearly_the_same_accuracy() {
    let model = load_model("builtin:demo-cnn").unwrap();
    let compressed = apply_plan(
        &model,
        &plan("defaults:\n  quant: {weight_bits: 8, granularity: per_group, group_size: 32}\n"),
        None,
        &ApplyOptions::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.safetensors");
    write_compressed(&compressed, &path, "{}").unwrap();
    let fast = load_any(path.to_str().unwrap(), Kernels::Candle).unwrap();
    let Op::Linear(fc1) = &fast.graph.node("fc1").unwrap().op else { panic!() };
    assert!(fc1.kernel.is_some(), "fc1 (3136 inputs) maps onto Q8_0 blocks");
    let data = load_data(sculpt_eval::BUILTIN_EVAL).unwrap();
    let exact = evaluate(&compressed.model, &data, 500).unwrap().value;
    let kernels = evaluate(&fast, &data, 500).unwrap().value;
    assert!((exact - kernels).abs() <= 0.003, "{exact} vs {kernels}");
}

#[test]
fn activation_quantization_inserts_calibrated_quantizers() {
    let model = load_model("builtin:demo-cnn").unwrap();
    let calib = load_data(sculpt_eval::BUILTIN_CALIB).unwrap();
    let Data::Dense { inputs, .. } = &calib.data else { panic!() };
    let batch = Batch::Dense(inputs.clone());
    let p = plan("defaults:\n  quant: {weight_bits: 8, act_bits: 8}\n");
    let c = apply_plan(&model, &p, None, &ApplyOptions { calibration: Some(&batch) }).unwrap();
    let fq = c.model.graph.node("fc1.act_quant").expect("quantizer before fc1");
    let Op::FakeQuant(q) = &fq.op else { panic!() };
    // fc1 reads post-ReLU activations: the range starts at 0, so the zero point is 0.
    assert_eq!(q.zero_point, 0.0);
    let data = load_data(sculpt_eval::BUILTIN_EVAL).unwrap();
    let acc = evaluate(&c.model, &data, 500).unwrap().value;
    assert!(acc > 0.9, "{acc}");
    // Without calibration data the plan is refused.
    let err = apply_plan(&model, &p, None, &ApplyOptions::default()).unwrap_err().to_string();
    assert!(err.contains("needs calibration data"), "{err}");
}
