//! `sculpt calibrate`: micro-benchmarks of sculpt's own candle runtime on this CPU, a least-squares
//! fit of a profile's free parameters to them, and validation on held-out shapes and on whole
//! compressed models.

use std::collections::BTreeMap;
use std::time::Instant;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sculpt_hw::{
    ActivationPrecision, CostModel, FitConfig, FitReport, FreeParam, LayerCompression, LayerKind,
    Measurement, Precision, Profile, QuantGranularity, ValidationStats,
};
use sculpt_model::{
    Batch, Conv2d, Graph, InputKind, InputSpec, Linear, Model, Node, Op, Pool2d, Task, ValueRef,
};

use crate::costs::{graph_cost, graph_workloads};
use crate::error::{Error, Result};
use crate::space::ExpandedSpace;

/// The median of `reps` timed forward passes after two warm-up passes.
pub fn time_forward(graph: &Graph, input: &Batch, reps: usize) -> Result<f64> {
    for _ in 0..2 {
        graph.forward(input)?;
    }
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let s = Instant::now();
        graph.forward(input)?;
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// One micro-benchmark: a one-layer graph, its input and how it is stored.
struct Case {
    graph: Graph,
    input: Batch,
    compression: LayerCompression,
}

fn rand_t(shape: &[usize], rng: &mut StdRng) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-0.1f32..0.1)).collect();
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

fn linear_case(
    d_in: usize,
    d_out: usize,
    tokens: usize,
    bits: Option<u8>,
    rng: &mut StdRng,
) -> Result<Case> {
    let mut l = Linear::new(rand_t(&[d_out, d_in], rng)?, Some(rand_t(&[d_out], rng)?));
    let (weights, granularity) = match bits {
        None => (Precision::Fp32, QuantGranularity::PerTensor),
        Some(b) => {
            let k = d_in.is_multiple_of(256);
            let (dtype, p) = match b {
                8 => (GgmlDType::Q8_0, Precision::Int8),
                _ if k => (GgmlDType::Q4K, Precision::Int4),
                _ => (GgmlDType::Q4_0, Precision::Int4),
            };
            l.kernel = Some(QMatMul::from_qtensor(QTensor::quantize(&l.weight, dtype)?)?);
            (p, QuantGranularity::PerGroup(sculpt_hw::GroupSize::new(32).expect("32 > 0")))
        }
    };
    let graph = Graph::new(
        vec![InputSpec { name: "x".into(), kind: InputKind::Features { dim: d_in } }],
        vec![Node { name: "fc".into(), op: Op::Linear(l), inputs: vec![ValueRef::Input(0)] }],
        vec![("y".into(), ValueRef::Node(0))],
        Task::Classification { classes: d_out },
    )?;
    let input = Batch::Dense(rand_t(&[tokens, d_in], rng)?);
    Ok(Case {
        graph,
        input,
        compression: LayerCompression {
            weights,
            granularity,
            activations: ActivationPrecision::Fp32,
            sparsity: Default::default(),
        },
    })
}

fn image_graph(c: usize, hw: usize, op: Op) -> Result<Graph> {
    Ok(Graph::new(
        vec![InputSpec {
            name: "image".into(),
            kind: InputKind::Image {
                channels: c,
                height: hw,
                width: hw,
                mean: vec![0.0],
                std: vec![1.0],
            },
        }],
        vec![Node { name: "layer".into(), op, inputs: vec![ValueRef::Input(0)] }],
        vec![("y".into(), ValueRef::Node(0))],
        Task::Embedding { dim: 1 },
    )?)
}

fn conv_case(
    c_in: usize,
    c_out: usize,
    k: usize,
    hw: usize,
    batch: usize,
    groups: usize,
    rng: &mut StdRng,
) -> Result<Case> {
    let conv = Conv2d {
        weight: rand_t(&[c_out, c_in / groups, k, k], rng)?,
        bias: Some(rand_t(&[c_out], rng)?),
        stride: (1, 1),
        padding: (k / 2, k / 2),
        dilation: 1,
        groups,
    };
    Ok(Case {
        graph: image_graph(c_in, hw, Op::Conv2d(conv))?,
        input: Batch::Dense(Tensor::rand(0f32, 1., (batch, c_in, hw, hw), &Device::Cpu)?),
        compression: LayerCompression::FP32,
    })
}

fn simple_case(op: Op, c: usize, hw: usize, batch: usize) -> Result<Case> {
    Ok(Case {
        graph: image_graph(c, hw, op)?,
        input: Batch::Dense(Tensor::rand(0f32, 1., (batch, c, hw, hw), &Device::Cpu)?),
        compression: LayerCompression::FP32,
    })
}

/// The micro-benchmark shapes: `(training, held_out)`. Held-out shapes are not in the training
/// set.
fn cases(rng: &mut StdRng) -> Result<(Vec<Case>, Vec<Case>)> {
    let mut train = Vec::new();
    let mut held = Vec::new();
    let linear_shapes = [
        (256, 256),
        (784, 256),
        (256, 128),
        (1024, 1024),
        (3136, 128),
        (512, 2048),
        (1536, 384),
        (384, 1536),
        (128, 10),
    ];
    let held_linear = [(768, 512), (2048, 256), (1280, 1000)];
    for bits in [None, Some(8u8), Some(4u8)] {
        for tokens in [1usize, 8, 32] {
            for &(i, o) in &linear_shapes {
                if bits.is_some() && i % 32 != 0 {
                    continue;
                }
                train.push(linear_case(i, o, tokens, bits, rng)?);
            }
            for &(i, o) in &held_linear {
                held.push(linear_case(i, o, tokens, bits, rng)?);
            }
        }
    }
    for batch in [1usize, 8] {
        for &(ci, co, k, hw) in &[
            (1, 32, 3, 28),
            (32, 64, 3, 14),
            (16, 32, 3, 28),
            (64, 64, 3, 7),
            (32, 32, 1, 14),
            (64, 128, 1, 7),
        ] {
            train.push(conv_case(ci, co, k, hw, batch, 1, rng)?);
        }
        for &(ci, co, k, hw) in &[(8, 16, 3, 28), (48, 96, 3, 14), (96, 32, 1, 14)] {
            held.push(conv_case(ci, co, k, hw, batch, 1, rng)?);
        }
        for &(c, hw) in &[(32, 28), (64, 14), (128, 7)] {
            train.push(simple_case(Op::Relu, c, hw, batch)?);
            let pool = Pool2d { kernel: (2, 2), stride: (2, 2), padding: (0, 0) };
            train.push(simple_case(Op::MaxPool2d(pool), c, hw, batch)?);
        }
        held.push(simple_case(Op::Relu, 48, 20, batch)?);
    }
    Ok((train, held))
}

fn measure_cases(
    cases: &[Case],
    reps: usize,
    progress: &dyn Fn(usize, usize),
) -> Result<Vec<Measurement>> {
    let mut out = Vec::with_capacity(cases.len());
    for (i, c) in cases.iter().enumerate() {
        let batch = c.input.len();
        let w = graph_workloads(&c.graph, batch, 1)?;
        let Some(nw) = w.into_iter().next() else { continue };
        let t = time_forward(&c.graph, &c.input, reps)?;
        out.push(Measurement { workload: nw.workload, compression: c.compression, latency_s: t });
        progress(i + 1, cases.len());
    }
    Ok(out)
}

/// The outcome of a calibration.
#[derive(Debug)]
pub struct Calibration {
    /// The fitted profile.
    pub profile: Profile,
    /// The fit.
    pub report: FitReport,
    /// The initial profile on the held-out micro-benchmarks.
    pub held_out_before: ValidationStats,
    /// The fitted profile on the held-out micro-benchmarks.
    pub held_out_after: ValidationStats,
    /// Measurements taken (training, held out).
    pub measurements: (usize, usize),
}

/// The parameters `calibrate` fits.
pub const FREE_PARAMS: [FreeParam; 9] = [
    FreeParam::Throughput(Precision::Fp32),
    FreeParam::Throughput(Precision::Int8),
    FreeParam::Throughput(Precision::Int4),
    FreeParam::DramBandwidth,
    FreeParam::SramBandwidth,
    FreeParam::PerLayerOverhead,
    FreeParam::Utilisation(LayerKind::Conv2d),
    FreeParam::Utilisation(LayerKind::Activation),
    FreeParam::Utilisation(LayerKind::Pool),
];

/// Measures, fits and validates.
pub fn calibrate(
    profile: &Profile,
    reps: usize,
    seed: u64,
    progress: &dyn Fn(usize, usize),
) -> Result<Calibration> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (train_cases, held_cases) = cases(&mut rng)?;
    let total = train_cases.len() + held_cases.len();
    let train = measure_cases(&train_cases, reps, &|d, _| progress(d, total))?;
    let held = measure_cases(&held_cases, reps, &|d, _| progress(train_cases.len() + d, total))?;
    let config = FitConfig { max_iters: 4000, restarts: 4 };
    let (fitted, report) = sculpt_hw::fit(profile, &train, &FREE_PARAMS, &config)?;
    Ok(Calibration {
        held_out_before: sculpt_hw::validate(profile, &held)?,
        held_out_after: sculpt_hw::validate(&fitted, &held)?,
        profile: fitted,
        report,
        measurements: (train.len(), held.len()),
    })
}

/// A compressed plan ready to time: BatchNorm folded (as the cost model assumes) and integer
/// Linear layers on candle's quantized kernels.
fn runnable(
    model: &Model,
    plan: &sculpt_compress::CompressionPlan,
) -> Result<(Graph, BTreeMap<String, sculpt_compress::LayerOption>)> {
    let mut c =
        sculpt_compress::apply_plan(model, plan, None, &sculpt_compress::ApplyOptions::default())?;
    sculpt_compress::attach_candle_kernels(&mut c)?;
    let options = c.applied.iter().cloned().collect();
    Ok((c.model.graph.fold_batch_norms()?, options))
}

fn random_input(graph: &Graph, batch: usize) -> Result<Batch> {
    Ok(match graph.inputs().first().map(|s| &s.kind) {
        Some(InputKind::Image { channels, height, width, .. }) => {
            Batch::Dense(Tensor::rand(0f32, 1., (batch, *channels, *height, *width), &Device::Cpu)?)
        }
        Some(InputKind::Features { dim }) => {
            Batch::Dense(Tensor::rand(0f32, 1., (batch, *dim), &Device::Cpu)?)
        }
        _ => return Err(Error::Invalid { msg: "timing supports image and feature models".into() }),
    })
}

/// Per-layer kernel timings of compressed models, nn-Meter style: random plans of each model are
/// run whole and every layer's op is timed where it runs (median over `reps` passes). Returns the
/// measurements and the median per-inference overhead (whole pass minus the sum of its layers).
pub fn profile_kernels(
    models: &[(&Model, &ExpandedSpace)],
    cost_model: &CostModel,
    plans: usize,
    batch: usize,
    reps: usize,
    seed: u64,
    progress: &dyn Fn(usize, usize),
) -> Result<(Vec<Measurement>, f64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut overheads = Vec::new();
    let total = plans * models.len();
    let mut done = 0;
    for (model, space) in models {
        for _ in 0..plans {
            let genome: Vec<usize> =
                space.genes.iter().map(|g| rng.random_range(0..g.options.len())).collect();
            let plan = space.plan(&model.graph, &genome, &model.name);
            let (graph, options) = runnable(model, &plan)?;
            let input = random_input(&graph, batch)?;
            let opts = sculpt_model::ForwardOptions::default();
            for _ in 0..2 {
                graph.forward_with(&input, &opts)?;
            }
            let mut per_node: Vec<Vec<f64>> = vec![Vec::new(); graph.nodes().len()];
            let mut whole = Vec::new();
            for _ in 0..reps.max(1) {
                let s = Instant::now();
                let f = graph.forward_with(&input, &opts)?;
                whole.push(s.elapsed().as_secs_f64());
                for (v, t) in per_node.iter_mut().zip(f.node_seconds) {
                    v.push(t);
                }
            }
            let median = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let node_median: Vec<f64> = per_node.iter_mut().map(median).collect();
            overheads.push(median(&mut whole) - node_median.iter().sum::<f64>());
            for nw in graph_workloads(&graph, batch, 1)? {
                if matches!(graph.nodes()[nw.node].op, Op::Attention(_))
                    || node_median[nw.node] <= 0.0
                {
                    continue;
                }
                let name = &graph.nodes()[nw.node].name;
                let base = name.strip_suffix(".lr").unwrap_or(name);
                let comp = match options.get(base) {
                    Some(o) => crate::costs::layer_compression(o)?,
                    None => LayerCompression::FP32,
                };
                let comp =
                    crate::costs::runtime_compression(cost_model, &graph.nodes()[nw.node].op, comp);
                out.push(Measurement {
                    workload: nw.workload,
                    compression: comp,
                    latency_s: node_median[nw.node],
                });
            }
            done += 1;
            progress(done, total);
        }
    }
    overheads.sort_by(f64::total_cmp);
    Ok((out, overheads.get(overheads.len() / 2).copied().unwrap_or(0.0).max(0.0)))
}

/// The lookup-table CSV (docs/hardware-profiles.md) of measurements.
pub fn lookup_csv(measurements: &[Measurement]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("kind,precision,sparsity,m,n,k,groups,macs,latency_s,energy_j\n");
    for m in measurements {
        let p = m.compression.requested_precision(&m.workload);
        let (gm, gn, gk, gg) = match m.workload.gemm {
            Some(g) => (g.m.to_string(), g.n.to_string(), g.k.to_string(), g.groups.to_string()),
            None => (String::new(), String::new(), String::new(), String::new()),
        };
        let _ = writeln!(
            s,
            "{},{},dense,{gm},{gn},{gk},{gg},{},{:e},",
            m.workload.kind.name(),
            p.name(),
            m.workload.macs,
            m.latency_s
        );
    }
    s
}

/// Predicted against measured end-to-end latency of random compressed plans.
#[derive(Debug)]
pub struct PlanValidation {
    /// (model, plan index, predicted seconds, measured seconds).
    pub rows: Vec<(String, usize, f64, f64)>,
    /// Statistics over all rows.
    pub stats: ValidationStats,
}

/// Draws `n` random plans per model from its expanded space, applies each, measures it with
/// candle's quantized kernels (median of `reps` passes), and compares with the cost model's prediction.
pub fn validate_plans(
    models: &[(&Model, &ExpandedSpace)],
    cost_model: &CostModel,
    n: usize,
    batch: usize,
    reps: usize,
    seed: u64,
    progress: &dyn Fn(usize, usize),
) -> Result<PlanValidation> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rows = Vec::new();
    let total = n * models.len();
    for (model, space) in models {
        for i in 0..n {
            let genome: Vec<usize> =
                space.genes.iter().map(|g| rng.random_range(0..g.options.len())).collect();
            let plan = space.plan(&model.graph, &genome, &model.name);
            let (graph, options) = runnable(model, &plan)?;
            let (cost, _) = graph_cost(&graph, &options, cost_model, batch, 1)?;
            let input = random_input(&graph, batch)?;
            let measured = time_forward(&graph, &input, reps)?;
            rows.push((model.name.clone(), i, cost.latency_s, measured));
            progress(rows.len(), total);
        }
    }
    let predicted: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let measured: Vec<f64> = rows.iter().map(|r| r.3).collect();
    Ok(PlanValidation { stats: sculpt_hw::compare(&predicted, &measured), rows })
}
