//! A finished search as the rows and settings of its run directory (sculpt-run's types), and the
//! baseline the front is compared with.

use std::collections::BTreeMap;

use sculpt_compress::{CompressionPlan, LayerOption, PruneKind};
use sculpt_hw::CostModel;
use sculpt_model::Model;
use sculpt_run::{
    AccuracySource, ConvergenceRow, CostRow, LatencySource, LayerPlan, LayerRow, PlanRow,
    SensitivityRow,
};
use sculpt_search::{EvaluatedCandidate, SearchResult};

use crate::config::ProxyMode;
use crate::costs::{graph_cost, graph_workloads, option_workloads};
use crate::error::Result;
use crate::problem::{CostTables, Quantities, TableObjective};
use crate::sensitivity::SensitivityEntry;
use crate::space::ExpandedSpace;

/// Where a run's accuracy losses come from.
pub(crate) fn accuracy_source(proxy: ProxyMode) -> AccuracySource {
    match proxy {
        ProxyMode::DataFree => AccuracySource::DataFree,
        ProxyMode::Full => AccuracySource::Measured,
        ProxyMode::Table | ProxyMode::Hybrid => AccuracySource::Proxy,
    }
}

/// A genome as the tables write it: option ids joined by `-`.
pub(crate) fn genome_text(genome: &[usize]) -> String {
    genome.iter().map(|g| g.to_string()).collect::<Vec<_>>().join("-")
}

/// A plan's row before any re-measurement: its quantities from the tables and its feasibility.
pub(crate) fn plan_row(
    candidate: &EvaluatedCandidate,
    q: &Quantities,
    objective: &TableObjective,
    proxy: ProxyMode,
    on_front: bool,
) -> PlanRow {
    let (violation, violated) = objective.violation(q);
    PlanRow {
        plan_id: candidate.index as u64,
        accuracy_loss: q[0],
        accuracy_loss_measured: None,
        accuracy_loss_recovered: None,
        latency_s: q[1],
        latency_s_measured: None,
        energy_j: q[2],
        size_bytes: q[3],
        feasible: violated.is_empty(),
        violation,
        violated: violated.into_iter().map(String::from).collect(),
        on_front,
        accuracy_source: accuracy_source(proxy),
        latency_source: LatencySource::Modelled,
        genome: genome_text(&candidate.genome),
        plan_file: None,
    }
}

/// Every evaluated plan, with the re-measured numbers of the front plans.
pub(crate) fn candidate_rows(
    result: &SearchResult,
    objective: &TableObjective,
    quantities: &dyn Fn(&[usize]) -> Quantities,
    front: &[PlanRow],
    proxy: ProxyMode,
) -> Vec<PlanRow> {
    let by_id: BTreeMap<u64, &PlanRow> = front.iter().map(|r| (r.plan_id, r)).collect();
    result
        .archive
        .iter()
        .map(|c| {
            let mut row = plan_row(c, &quantities(&c.genome), objective, proxy, false);
            if let Some(f) = by_id.get(&row.plan_id) {
                row.on_front = true;
                row.accuracy_loss_measured = f.accuracy_loss_measured;
                row.latency_s_measured = f.latency_s_measured;
                row.latency_source = f.latency_source;
            }
            row
        })
        .collect()
}

/// The layers a gene sets, by name, joined by `+`.
fn gene_layers(model: &Model, layers: &[usize]) -> String {
    layers.iter().map(|&l| model.graph.nodes()[l].name.as_str()).collect::<Vec<_>>().join("+")
}

/// tables/costs.csv: every gene × option's modelled cost.
pub(crate) fn cost_rows(model: &Model, space: &ExpandedSpace, costs: &CostTables) -> Vec<CostRow> {
    let mut rows = Vec::new();
    for (gene, opts) in space.genes.iter().zip(&costs.genes) {
        let layer = gene_layers(model, &gene.layers);
        for (k, (o, c)) in gene.options.iter().zip(opts).enumerate() {
            rows.push(CostRow {
                layer: layer.clone(),
                option_id: k as u64,
                option: o.to_string(),
                latency_s: c.latency_s,
                energy_j: c.energy_j,
                bytes: c.bytes as u64,
                bound: c.bound.clone(),
                precision: c.precision.clone(),
            });
        }
    }
    rows
}

/// tables/sensitivity.csv: every gene × option's proxy loss.
pub fn sensitivity_rows(
    model: &Model,
    space: &ExpandedSpace,
    entries: &[Vec<SensitivityEntry>],
) -> Vec<SensitivityRow> {
    let mut rows = Vec::new();
    for (gene, es) in space.genes.iter().zip(entries) {
        let layer = gene_layers(model, &gene.layers);
        for (k, (o, e)) in gene.options.iter().zip(es).enumerate() {
            rows.push(SensitivityRow {
                layer: layer.clone(),
                option_id: Some(k as u64),
                option: o.to_string(),
                delta: e.delta,
                kl: Some(e.kl),
            });
        }
    }
    rows
}

/// tables/convergence.csv: the front after each engine step.
pub(crate) fn convergence_rows(result: &SearchResult) -> Vec<ConvergenceRow> {
    result
        .history
        .iter()
        .map(|h| ConvergenceRow {
            evaluations: h.evaluations as u64,
            hypervolume: h.hypervolume,
            front_size: Some(h.front_size as u64),
        })
        .collect()
}

/// Bits, sparsity and kept rank share of an option (fp32, dense, full rank without one).
fn option_traits(o: Option<&LayerOption>) -> (u8, f64, f64) {
    let Some(o) = o else { return (32, 0.0, 1.0) };
    let sparsity = match &o.prune {
        Some(p) if p.kind == PruneKind::NM => {
            1.0 - p.n.unwrap_or(2) as f64 / p.m.unwrap_or(4) as f64
        }
        Some(p) => p.ratio.unwrap_or(0.0),
        None => 0.0,
    };
    let rank =
        o.rank.as_ref().and_then(|r| r.ratio).unwrap_or(if o.rank.is_some() { 0.5 } else { 1.0 });
    (o.weight_bits(), sparsity, rank)
}

/// The plan the front is compared with, its cost on the device, and a note when it is not the
/// uncompressed model: on a device that rejects fp32 (an int8-only NPU) the uncompressed model
/// cannot run, so the baseline's costs are those of every weight at int8 per channel, the least
/// any deployment on that device does (its accuracy stays the uncompressed model's).
pub(crate) fn baseline(
    model: &Model,
    cost_model: &CostModel,
    batch: usize,
    tokens: usize,
) -> Result<(CompressionPlan, sculpt_hw::ModelCost, Option<String>)> {
    let fp32 = graph_cost(&model.graph, &BTreeMap::new(), cost_model, batch, tokens);
    let fp32_error = match fp32 {
        Ok((cost, _)) => return Ok((CompressionPlan::default(), cost, None)),
        Err(e) => e,
    };
    let int8 = crate::costs::int8_baseline_option();
    let layers: BTreeMap<String, LayerOption> = model
        .graph
        .nodes()
        .iter()
        .filter(|n| sculpt_compress::is_plan_target(&n.op))
        .map(|n| (n.name.clone(), int8.clone()))
        .collect();
    let Ok((cost, _)) = graph_cost(&model.graph, &layers, cost_model, batch, tokens) else {
        return Err(fp32_error);
    };
    let note = format!(
        "device `{}` cannot run the uncompressed model ({fp32_error}); the baseline's latency, \
         energy and size are those of every weight at int8 per channel, its accuracy the \
         uncompressed model's",
        cost_model.profile().name()
    );
    Ok((CompressionPlan { layers, ..CompressionPlan::default() }, cost, Some(note)))
}

/// tables/layers.csv: each compressible layer of the baseline and of every front plan.
pub(crate) fn layer_rows(
    model: &Model,
    cost_model: &CostModel,
    baseline: &CompressionPlan,
    plans: &[(usize, CompressionPlan)],
    batch: usize,
    tokens: usize,
) -> Result<Vec<LayerRow>> {
    let workloads = graph_workloads(&model.graph, batch, tokens)?;
    let mut all: Vec<(LayerPlan, &CompressionPlan)> = vec![(LayerPlan::Baseline, baseline)];
    all.extend(plans.iter().map(|(id, p)| (LayerPlan::Plan(*id as u64), p)));
    let mut rows = Vec::new();
    for (id, plan) in all {
        for (idx, node) in model.graph.nodes().iter().enumerate() {
            if !sculpt_compress::is_plan_target(&node.op) {
                continue;
            }
            let option = plan.layers.get(&node.name);
            let base: Vec<_> =
                workloads.iter().filter(|w| w.node == idx).map(|w| w.workload.clone()).collect();
            let parts =
                option_workloads(&base, &node.op, option.unwrap_or(&LayerOption::default()))?;
            let (mut lat, mut en, mut bytes, mut bound, mut slow) = (0.0, 0.0, 0u64, "", 0.0);
            for (w, c) in parts {
                let lc = cost_model.layer_cost(&w, &c)?;
                lat += lc.latency_s;
                en += lc.energy_j;
                bytes += lc.weight_bytes;
                if lc.latency_s >= slow {
                    slow = lc.latency_s;
                    bound = match lc.bound {
                        sculpt_hw::Bound::Compute => "compute",
                        sculpt_hw::Bound::Memory => "memory",
                        sculpt_hw::Bound::Overhead => "overhead",
                    };
                }
            }
            let (bits, sparsity, rank) = option_traits(option);
            rows.push(LayerRow {
                plan: id,
                layer: node.name.clone(),
                kind: node.op.kind().to_string(),
                option: option.map(|o| o.to_string()).unwrap_or_else(|| "fp32".into()),
                weight_bits: Some(f64::from(bits)),
                sparsity: Some(sparsity),
                rank_ratio: Some(rank),
                latency_s: Some(lat),
                energy_j: Some(en),
                bytes: Some(bytes as f64),
                bound: bound.to_string(),
            });
        }
    }
    Ok(rows)
}

/// A front plan's YAML file: the plan with its quantities in a header comment.
pub(crate) fn plan_yaml(plan: &CompressionPlan, plan_id: usize, q: &Quantities) -> String {
    format!(
        "# sculpt plan {plan_id}: accuracy_loss {:.5} (proxy), latency_s {:.6e}, energy_j {:.6e}, size_bytes {:.0}\n# apply with: sculpt apply --plan <this file> --out model.safetensors\n{}",
        q[0],
        q[1],
        q[2],
        q[3],
        plan.to_yaml()
    )
}
