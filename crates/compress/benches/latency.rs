//! Real CPU latency of compressed models: fp32 against int8 and int4 (candle's quantized matmul),
//! 50 % channel pruning and half-rank Linear layers, on the bundled CNN; and one BERT-size
//! Linear layer in f32 against candle's Q8_0 and Q4K kernels.
//!
//! Run with `cargo bench -p sculpt-compress --bench latency`; results go in benches/README.md.

use std::path::Path;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use sculpt_compress::{
    ApplyOptions, CompressionPlan, Kernels, apply_plan, load_any, write_compressed,
};
use sculpt_model::{Batch, Graph, Model, ValueRef, load_model};

fn compressed(plan: &str, dir: &Path, name: &str) -> Model {
    let model = load_model("builtin:demo-cnn").unwrap();
    let plan: CompressionPlan = sculpt_yaml::from_str(plan, Path::new("plan.yaml")).unwrap();
    let c = apply_plan(&model, &plan, None, &ApplyOptions::default()).unwrap();
    let path = dir.join(format!("{name}.safetensors"));
    write_compressed(&c, &path, "{}").unwrap();
    load_any(path.to_str().unwrap(), Kernels::Candle).unwrap()
}

/// The graph up to and including `last` (the convolutional trunk).
fn truncated(graph: &Graph, last: &str) -> Graph {
    let k = graph.node_index(last).unwrap();
    let nodes = graph.nodes()[..=k].to_vec();
    Graph::new(
        graph.inputs().to_vec(),
        nodes,
        vec![("x".into(), ValueRef::Node(k))],
        graph.task().clone(),
    )
    .unwrap()
}

fn cnn(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let models = [
        ("fp32", load_model("builtin:demo-cnn").unwrap()),
        (
            "int8",
            compressed(
                "defaults:\n  quant: {weight_bits: 8, granularity: per_group, group_size: 32}\n",
                dir.path(),
                "int8",
            ),
        ),
        (
            "int4",
            compressed(
                "defaults:\n  quant: {weight_bits: 4, granularity: per_group, group_size: 32}\n",
                dir.path(),
                "int4",
            ),
        ),
        (
            "channels50",
            compressed(
                "layers:\n  \"conv*\": {prune: {kind: channel, ratio: 0.5}}\n",
                dir.path(),
                "ch",
            ),
        ),
        (
            "rank50",
            compressed(
                "layers:\n  fc1: {rank: {ratio: 0.5}}\n  classifier: {rank: {ratio: 0.5}}\n",
                dir.path(),
                "rank",
            ),
        ),
    ];
    for batch in [1usize, 32] {
        let x = Tensor::rand(0f32, 1., (batch, 1, 28, 28), &Device::Cpu).unwrap();
        let mut group = c.benchmark_group(format!("demo-cnn/batch{batch}"));
        for (name, m) in &models {
            group.bench_with_input(BenchmarkId::from_parameter(name), &x, |b, x| {
                b.iter(|| m.graph.forward(&Batch::Dense(x.clone())).unwrap())
            });
        }
        group.finish();
        let mut group = c.benchmark_group(format!("demo-cnn-convs/batch{batch}"));
        for (name, m) in models.iter().filter(|(n, _)| *n == "fp32" || *n == "channels50") {
            let trunk = truncated(&m.graph, "pool2");
            group.bench_with_input(BenchmarkId::from_parameter(name), &x, |b, x| {
                b.iter(|| trunk.forward(&Batch::Dense(x.clone())).unwrap())
            });
        }
        group.finish();
    }
}

fn bert_linear(c: &mut Criterion) {
    // MiniLM's FFN down-projection: 1536 → 384 (its inner dimension fits the 256-value k-quant
    // blocks), for one token and for 128 tokens.
    let w = Tensor::randn(0f32, 0.05, (384, 1536), &Device::Cpu).unwrap();
    for tokens in [1usize, 128] {
        let x = Tensor::randn(0f32, 1., (tokens, 1536), &Device::Cpu).unwrap();
        let mut group = c.benchmark_group(format!("bert-ffn-1536x384/tokens{tokens}"));
        let wt = w.t().unwrap();
        group.bench_function("f32", |b| b.iter(|| x.matmul(&wt).unwrap()));
        for (name, dtype) in
            [("q8_0", GgmlDType::Q8_0), ("q4_0", GgmlDType::Q4_0), ("q4k", GgmlDType::Q4K)]
        {
            let q = QMatMul::from_qtensor(QTensor::quantize(&w, dtype).unwrap()).unwrap();
            let _ = q.forward(&x).unwrap(); // the first call repacks the weights
            group.bench_function(name, |b| b.iter(|| q.forward(&x).unwrap()));
        }
        group.finish();
    }
}

criterion_group!(benches, cnn, bert_linear);
criterion_main!(benches);
