//! `sculpt calibrate`: micro-benchmarks of sculpt's own candle runtime on this CPU, a least-squares
//! fit of a profile's free parameters to them, and validation on held-out shapes and on whole
//! compressed models.

use std::collections::BTreeMap;
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use sculpt_hw::{
    ActivationPrecision, CostModel, FitConfig, FitReport, FreeParam, LayerCompression, Measurement,
    Precision, Profile, QuantGranularity, ValidationStats, WorkloadKind,
};
use sculpt_model::{
    Batch, Conv2d, Graph, InputKind, InputSpec, Linear, Model, Node, Op, Pool2d, Task, ValueRef,
};
use sculpt_stdx::stats::TimingStat;

use crate::costs::{graph_cost, graph_workloads};
use crate::error::Result;
use crate::space::ExpandedSpace;

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
            // Q8_0 for 8 bits; Q4K where the inner width is a multiple of 256, else Q4_0.
            sculpt_compress::attach_quantized_kernel(&mut l, b)?;
            let p = if b == 8 { Precision::Int8 } else { Precision::Int4 };
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
        let mut passes = sculpt_model::time_forward(&c.graph, &c.input, 2, reps.max(1))?;
        let latency_s = TimingStat::Median.of(&mut passes);
        out.push(Measurement { workload: nw.workload, compression: c.compression, latency_s });
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
    FreeParam::Utilisation(WorkloadKind::Conv2d),
    FreeParam::Utilisation(WorkloadKind::Activation),
    FreeParam::Utilisation(WorkloadKind::Pool),
];

/// The parameters of [`FREE_PARAMS`] that `measurements` can determine: a precision's rate only
/// when some layer with weights was measured at it, a kind's utilisation only when the kind was
/// measured. Fitting a parameter no measurement depends on would leave it anywhere.
pub fn free_params_for(measurements: &[Measurement]) -> Vec<FreeParam> {
    FREE_PARAMS
        .iter()
        .copied()
        .filter(|p| match p {
            FreeParam::Throughput(precision) => measurements.iter().any(|m| {
                m.workload.gemm.is_some()
                    && m.compression.requested_precision(&m.workload) == *precision
            }),
            FreeParam::Utilisation(kind) => measurements.iter().any(|m| m.workload.kind == *kind),
            _ => true,
        })
        .collect()
}

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

/// A random compressed plan of a demo model and its timed passes.
#[derive(Debug)]
pub struct TimedPlan {
    /// The model's name.
    pub model: String,
    /// Index of the plan among its model's plans of the same role.
    pub index: usize,
    /// The plan's genome in its model's expanded space.
    pub genome: Vec<usize>,
    /// Timed layer by layer for the lookup table (`true`) or whole for validation.
    pub for_table: bool,
    /// The runnable graph.
    pub graph: Graph,
    /// Each layer's option.
    pub options: BTreeMap<String, sculpt_compress::LayerOption>,
    /// The input of in-process timing (none when a runner times the plan).
    pub(crate) input: Option<Batch>,
    /// Seconds of each timed whole pass.
    pub whole_s: Vec<f64>,
    /// Seconds of each node in each timed pass: `node_s[node][pass]`.
    pub node_s: Vec<Vec<f64>>,
}

/// What [`time_plans`] measured: the raw passes of every plan.
#[derive(Debug)]
pub struct PlanTimings {
    /// Table plans and validation plans, model by model.
    pub plans: Vec<TimedPlan>,
    /// Samples per inference.
    pub batch: usize,
}

impl PlanTimings {
    /// The table plans' layers as lookup-table measurements, each layer's passes summarised by
    /// `stat`, and the median per-inference overhead (a whole pass minus the sum of its layers).
    pub fn kernel_table(
        &self,
        stat: TimingStat,
        cost_model: &CostModel,
    ) -> Result<(Vec<Measurement>, f64)> {
        let (mut kernels, overhead) = self.layer_shares(stat, cost_model)?;
        kernels.retain(|k| k.latency_s > 0.0);
        Ok((kernels, overhead))
    }

    /// As [`PlanTimings::kernel_table`], with every layer's share, zero and negative ones too
    /// (a share found as a difference of two timings can be either).
    pub fn layer_shares(
        &self,
        stat: TimingStat,
        cost_model: &CostModel,
    ) -> Result<(Vec<Measurement>, f64)> {
        let mut kernels = Vec::new();
        let mut overheads = Vec::new();
        for plan in self.plans.iter().filter(|p| p.for_table) {
            let node_s: Vec<f64> = plan.node_s.iter().map(|v| stat.of(&mut v.clone())).collect();
            overheads.push(stat.of(&mut plan.whole_s.clone()) - node_s.iter().sum::<f64>());
            let graph = &plan.graph;
            for nw in graph_workloads(graph, self.batch, 1)? {
                if matches!(graph.nodes()[nw.node].op, Op::Attention(_)) {
                    continue;
                }
                let name = &graph.nodes()[nw.node].name;
                let base = name.strip_suffix(".lr").unwrap_or(name);
                let comp = match plan.options.get(base) {
                    Some(o) => crate::costs::layer_compression(o)?,
                    None => LayerCompression::FP32,
                };
                let comp =
                    crate::costs::runtime_compression(cost_model, &graph.nodes()[nw.node].op, comp);
                kernels.push(Measurement {
                    workload: nw.workload,
                    compression: comp,
                    latency_s: node_s[nw.node],
                });
            }
        }
        Ok((kernels, TimingStat::Median.of(&mut overheads).max(0.0)))
    }

    /// The validation plans.
    pub fn validation(&self) -> impl Iterator<Item = &TimedPlan> {
        self.plans.iter().filter(|p| !p.for_table)
    }
}

/// Settings of [`time_plans`].
#[derive(Clone, Copy, Debug)]
pub struct PlanTimingConfig {
    /// Random plans per model whose layers are timed for the lookup table.
    pub table_plans: usize,
    /// Other random plans per model timed whole for validation.
    pub validation_plans: usize,
    /// Samples per inference.
    pub batch: usize,
    /// Timed rounds (every plan is timed once per round).
    pub reps: usize,
    /// Seed of the plan draws and of the order within rounds.
    pub seed: u64,
}

/// Random genomes of `space`: `(for_table, index, genome)`, the table plans first. With
/// `uniform_first`, the first table plans are the uniform ones (option `j` of every gene, or its
/// last option when it has fewer), which span each precision's range of layer sizes, so that a
/// lookup interpolates instead of falling off the table's ends. Validation plans are held out:
/// none repeats a table plan (unless the space is too small to draw a new one in 100 tries).
pub(crate) fn draw_genomes(
    space: &ExpandedSpace,
    config: &PlanTimingConfig,
    uniform_first: bool,
    rng: &mut StdRng,
) -> Vec<(bool, usize, Vec<usize>)> {
    let mut table_genomes = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    let widest = space.genes.iter().map(|g| g.options.len()).max().unwrap_or(0);
    for (count, for_table) in [(config.table_plans, true), (config.validation_plans, false)] {
        for index in 0..count {
            let mut genome: Vec<usize> = Vec::new();
            if for_table && uniform_first && index < widest {
                genome = space.genes.iter().map(|g| index.min(g.options.len() - 1)).collect();
                table_genomes.insert(genome.clone());
                out.push((true, index, genome));
                continue;
            }
            for _ in 0..100 {
                genome = space.genes.iter().map(|g| rng.random_range(0..g.options.len())).collect();
                if for_table || !table_genomes.contains(&genome) {
                    break;
                }
            }
            if for_table {
                table_genomes.insert(genome.clone());
            }
            out.push((for_table, index, genome));
        }
    }
    out
}

/// Times random compressed plans of each model, nn-Meter style: `table_plans` per model are timed
/// layer by layer where each layer runs inside its model (the lookup table), `validation_plans`
/// others whole. Every plan is visited once per round, in a fresh random order each round, after
/// two warm-up rounds; a visit is an untimed pass and a timed one. A machine whose speed drifts
/// over seconds then shifts table and validation timings alike instead of biasing one against
/// the other.
pub fn time_plans(
    models: &[(&Model, &ExpandedSpace)],
    config: &PlanTimingConfig,
    progress: &dyn Fn(usize, usize),
) -> Result<PlanTimings> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let reps = config.reps.max(1);
    let mut plans = Vec::new();
    for (model, space) in models {
        for (for_table, index, genome) in draw_genomes(space, config, false, &mut rng) {
            let plan = space.plan(&model.graph, &genome, &model.name);
            let (graph, options) = runnable(model, &plan)?;
            let input = sculpt_model::random_batch(&graph, config.batch, 1)?;
            let nodes = graph.nodes().len();
            plans.push(TimedPlan {
                model: model.name.clone(),
                index,
                genome,
                for_table,
                graph,
                options,
                input: Some(input),
                whole_s: Vec::with_capacity(reps),
                node_s: vec![Vec::with_capacity(reps); nodes],
            });
        }
    }
    let opts = sculpt_model::ForwardOptions::default();
    let mut order: Vec<usize> = (0..plans.len()).collect();
    let rounds = reps + 2;
    for round in 0..rounds {
        order.shuffle(&mut rng);
        for &i in &order {
            let p = &mut plans[i];
            let Some(input) = &p.input else { continue };
            // An untimed pass first: the timed one then finds the plan's weights in cache, as
            // a model serving requests back to back does.
            p.graph.forward_with(input, &opts)?;
            let s = Instant::now();
            let f = p.graph.forward_with(input, &opts)?;
            let t = s.elapsed().as_secs_f64();
            if round >= 2 {
                p.whole_s.push(t);
                for (v, t) in p.node_s.iter_mut().zip(f.node_seconds) {
                    v.push(t);
                }
            }
        }
        progress(round + 1, rounds);
    }
    Ok(PlanTimings { plans, batch: config.batch })
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

/// The cost model's predictions for the validation plans of `timings`, beside their passes
/// summarised by `stat`.
pub fn validate_plans(
    timings: &PlanTimings,
    stat: TimingStat,
    cost_model: &CostModel,
) -> Result<PlanValidation> {
    let mut rows = Vec::new();
    for p in timings.validation() {
        let (cost, _) = graph_cost(&p.graph, &p.options, cost_model, timings.batch, 1)?;
        rows.push((p.model.clone(), p.index, cost.latency_s, stat.of(&mut p.whole_s.clone())));
    }
    let predicted: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let measured: Vec<f64> = rows.iter().map(|r| r.3).collect();
    Ok(PlanValidation { stats: sculpt_hw::compare(&predicted, &measured), rows })
}
