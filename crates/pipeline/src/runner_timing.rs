//! Timing random compressed plans through a runner, for `sculpt calibrate --runner`.
//!
//! A runner only reports whole-model latencies, and a runtime fuses layers (onnxruntime turns a
//! `DequantizeLinear → Conv → QuantizeLinear` group into one integer kernel), so a layer timed
//! alone is not the layer inside its model. Each table plan is therefore timed as a series of
//! prefixes, the first `k` layers for `k = 0 ..= n` ([`Graph::prefix`]): the difference of
//! consecutive prefixes is layer `k`'s share of a whole pass, and the shares of a plan add up to
//! its whole pass minus the empty prefix (the runner's own per-call cost, which becomes the
//! profile's per-inference overhead). Prefixes equal to one timed before (a plan that starts like
//! an earlier one) are not timed again. Validation plans are timed whole, in interleaved rounds.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use sculpt_compress::{ApplyOptions, Compressed};
use sculpt_hw::Measurement;
use sculpt_model::{Graph, Model, Op, ValueRef};

use crate::calibrate::{PlanTimingConfig, PlanTimings, TimedPlan, draw_genomes};
use crate::error::{Error, Result};
use crate::runner::{Runner, Samples};
use crate::space::ExpandedSpace;

/// What the runner said about itself, and how many calls it took.
#[derive(Clone, Debug, Default)]
pub struct RunnerLog {
    /// The runner's description lines (`runtime`, `version`, ...), from its first call.
    pub about: Vec<serde_json::Value>,
    /// Runner calls made.
    pub calls: usize,
    /// Prefix timings reused because an identical prefix was timed before.
    pub reused: usize,
    /// Median latency of the empty model (input passed through), seconds, over all calls.
    pub empty_s: f64,
}

struct Timer<'a> {
    runner: &'a Runner,
    log: RunnerLog,
    progress: &'a dyn Fn(usize, usize),
    /// Calls if no prefix is reused.
    most: usize,
}

impl Timer<'_> {
    /// The median latency of one call, seconds.
    fn time(&mut self, model: &Path, inputs: &Path) -> Result<f64> {
        let samples: Samples = self.runner.run(model, inputs, None)?;
        if self.log.about.is_empty() {
            self.log.about = samples.about.clone();
        }
        self.log.calls += 1;
        (self.progress)(self.log.calls, self.most);
        Ok(samples.quantile(0.5) * 1e-3)
    }
}

fn median(v: &mut [f64]) -> f64 {
    sculpt_stdx::stats::TimingStat::Median.of(v)
}

fn content_hash(path: &Path) -> Result<u64> {
    let bytes = std::fs::read(path).map_err(|error| Error::Io { path: path.into(), error })?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Ok(h.finish())
}

/// For each node of `graph` (as exported), the node of `folded` its time belongs to: the node of
/// the same name, or for a BatchNorm folded away, the layer it was folded into.
fn fold_map(graph: &Graph, folded: &Graph) -> Vec<Option<usize>> {
    let mut map: Vec<Option<usize>> = Vec::with_capacity(graph.nodes().len());
    for node in graph.nodes() {
        let target = folded.node_index(&node.name).or_else(|| match (&node.op, &node.inputs[..]) {
            (Op::BatchNorm2d(_), [ValueRef::Node(p)]) => map[*p],
            _ => None,
        });
        map.push(target);
    }
    map
}

/// One drawn plan, compressed and ready to export.
struct Drawn {
    model: String,
    index: usize,
    genome: Vec<usize>,
    for_table: bool,
    compressed: Compressed,
    folded: Graph,
    options: BTreeMap<String, sculpt_compress::LayerOption>,
    inputs: PathBuf,
}

/// Times random compressed plans of each model through `runner`, with `dir` as scratch space:
/// table plans prefix by prefix (module documentation), validation plans whole in
/// `config.reps` interleaved rounds. `progress` gets the runner calls so far and the most there
/// can be (fewer when prefixes are reused).
pub fn time_plans_through_runner(
    models: &[(&Model, &ExpandedSpace)],
    config: &PlanTimingConfig,
    runner: &Runner,
    dir: &Path,
    progress: &dyn Fn(usize, usize),
) -> Result<(PlanTimings, RunnerLog)> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| Error::Io { path, error }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let rounds = config.reps.max(1);
    let mut drawn = Vec::new();
    for (m, (model, space)) in models.iter().enumerate() {
        let input = sculpt_model::random_batch(&model.graph, config.batch, 1)?;
        let inputs = dir.join(format!("inputs-{m}"));
        std::fs::create_dir_all(&inputs).map_err(io(&inputs))?;
        sculpt_model::write_onnx_inputs(&model.graph, &input, &inputs)?;
        for (for_table, index, genome) in draw_genomes(space, config, true, &mut rng) {
            let plan = space.plan(&model.graph, &genome, &model.name);
            // Activation quantizers need ranges; random inputs give them (values do not change
            // the timing of dense kernels).
            let compressed = sculpt_compress::apply_plan(
                model,
                &plan,
                None,
                &ApplyOptions { calibration: Some(&input) },
            )?;
            let folded = compressed.model.graph.fold_batch_norms()?;
            let options = compressed.applied.iter().cloned().collect();
            drawn.push(Drawn {
                model: model.name.clone(),
                index,
                genome,
                for_table,
                compressed,
                folded,
                options,
                inputs: inputs.clone(),
            });
        }
    }
    let most = drawn
        .iter()
        .map(|d| if d.for_table { d.compressed.model.graph.nodes().len() + 1 } else { 1 })
        .sum::<usize>()
        * rounds;
    let mut timer = Timer { runner, log: RunnerLog::default(), progress, most };
    let mut empties = Vec::new();
    let mut known: HashMap<u64, f64> = HashMap::new();
    let mut plans = Vec::with_capacity(drawn.len());
    // Table plans, one after another: every prefix once per round, in a fresh order each round.
    for d in drawn.iter().filter(|d| d.for_table) {
        let graph = &d.compressed.model.graph;
        let n = graph.nodes().len();
        let mut files: Vec<(usize, PathBuf, u64)> = Vec::new();
        let mut prefix_s: Vec<Option<f64>> = vec![None; n + 1];
        for (len, slot) in prefix_s.iter_mut().enumerate() {
            let file = dir.join(format!("prefix-{len}.onnx"));
            sculpt_compress::export_part(&d.compressed, &graph.prefix(len)?, &file)?;
            let hash = content_hash(&file)?;
            match known.get(&hash) {
                Some(t) => {
                    *slot = Some(*t);
                    timer.log.reused += 1;
                }
                None => files.push((len, file, hash)),
            }
        }
        let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); n + 1];
        for _ in 0..rounds {
            files.shuffle(&mut rng);
            for (len, file, _) in &files {
                samples[*len].push(timer.time(file, &d.inputs)?);
            }
        }
        for (len, file, hash) in &files {
            let t = median(&mut samples[*len]);
            prefix_s[*len] = Some(t);
            known.insert(*hash, t);
            let _ = std::fs::remove_file(file);
        }
        let prefix_s: Vec<f64> = prefix_s.into_iter().map(|t| t.unwrap_or(f64::NAN)).collect();
        empties.push(prefix_s[0]);
        let map = fold_map(graph, &d.folded);
        let mut node_s = vec![Vec::new(); d.folded.nodes().len()];
        let mut shares = vec![0.0; d.folded.nodes().len()];
        for (k, target) in map.iter().enumerate() {
            if let Some(f) = target {
                shares[*f] += prefix_s[k + 1] - prefix_s[k];
            }
        }
        for (slot, share) in node_s.iter_mut().zip(shares) {
            slot.push(share);
        }
        plans.push(timed(d, node_s, vec![prefix_s[n]]));
    }
    // Validation plans, whole, interleaved.
    let validation: Vec<&Drawn> = drawn.iter().filter(|d| !d.for_table).collect();
    let mut files = Vec::with_capacity(validation.len());
    for (i, d) in validation.iter().enumerate() {
        let file = dir.join(format!("plan-{i}.onnx"));
        sculpt_compress::export_part(&d.compressed, &d.compressed.model.graph, &file)?;
        files.push(file);
    }
    let mut whole: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); validation.len()];
    let mut order: Vec<usize> = (0..validation.len()).collect();
    for _ in 0..rounds {
        order.shuffle(&mut rng);
        for &i in &order {
            whole[i].push(timer.time(&files[i], &validation[i].inputs)?);
        }
    }
    for ((d, file), whole_s) in validation.iter().zip(&files).zip(whole) {
        let _ = std::fs::remove_file(file);
        let nodes = d.folded.nodes().len();
        plans.push(timed(d, vec![Vec::new(); nodes], whole_s));
    }
    let mut log = timer.log;
    log.empty_s = if empties.is_empty() { f64::NAN } else { median(&mut empties) };
    Ok((PlanTimings { plans, batch: config.batch }, log))
}

fn timed(d: &Drawn, node_s: Vec<Vec<f64>>, whole_s: Vec<f64>) -> TimedPlan {
    TimedPlan {
        model: d.model.clone(),
        index: d.index,
        genome: d.genome.clone(),
        for_table: d.for_table,
        graph: d.folded.clone(),
        options: d.options.clone(),
        input: None,
        whole_s,
        node_s,
    }
}

/// One row per distinct layer of `shares` (same kind, shape, requested precision and sparsity,
/// the lookup table's key): the median of its shares, kept when positive. Shares found as
/// differences of two noisy timings scatter both ways; the median keeps the negative ones in the
/// vote instead of dropping them, which would bias every layer upwards.
pub fn median_per_layer(shares: &[Measurement]) -> Vec<Measurement> {
    let mut groups: Vec<(Measurement, Vec<f64>)> = Vec::new();
    for m in shares {
        let same = |g: &Measurement| {
            g.workload.kind == m.workload.kind
                && g.workload.gemm == m.workload.gemm
                && g.workload.macs == m.workload.macs
                && g.compression.requested_precision(&g.workload)
                    == m.compression.requested_precision(&m.workload)
                && g.compression.sparsity.same_as(&m.compression.sparsity)
        };
        match groups.iter_mut().find(|(g, _)| same(g)) {
            Some((_, v)) => v.push(m.latency_s),
            None => groups.push((m.clone(), vec![m.latency_s])),
        }
    }
    groups
        .into_iter()
        .filter_map(|(m, mut v)| {
            let latency_s = median(&mut v);
            (latency_s > 0.0).then_some(Measurement { latency_s, ..m })
        })
        .collect()
}
