//! The search problem: additive tables of cost (latency, energy, bytes) and accuracy loss per
//! gene × option, and the objective the engines minimise over them.

use sculpt_hw::{Bound, CostModel, LayerCompression, ModelCost};
use sculpt_model::Graph;
use sculpt_run::{Constraints, Quantity};
use sculpt_search::{
    AdditiveGene, AdditiveObjective, AdditiveProblem, Evaluation, Objective, ObjectiveBounds,
};

use crate::costs::{NodeWorkload, default_activation_precision, option_workloads};
use crate::error::Result;
use crate::space::ExpandedSpace;

/// The modelled cost of one option of one gene (summed over its layers and factors).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptionCost {
    /// Seconds.
    pub latency_s: f64,
    /// Joules.
    pub energy_j: f64,
    /// Stored weight bytes.
    pub bytes: f64,
    /// The bound of the slowest part (`compute`, `memory`, `overhead`).
    pub bound: String,
    /// The precision that ran (after fallbacks), e.g. `int8`.
    pub precision: String,
}

/// Additive cost tables.
#[derive(Clone, Debug)]
pub struct CostTables {
    /// Everything outside the genes (weight-less layers, fixed layers, per-inference overhead).
    pub base: OptionCost,
    /// Per gene, per option.
    pub genes: Vec<Vec<OptionCost>>,
    /// The baseline model's cost (every gene at its identity option), as the cost model sums it.
    pub baseline: ModelCost,
    /// The largest activation footprint of any layer (bytes), for `fits_in_memory`.
    pub peak_activation_bytes: f64,
    /// The device's memory capacity in bytes (DRAM).
    pub memory_bytes: f64,
}

fn bound_name(b: Bound) -> &'static str {
    match b {
        Bound::Compute => "compute",
        Bound::Memory => "memory",
        Bound::Overhead => "overhead",
    }
}

/// Costs every gene × option on the device (layer by layer, additive).
pub fn cost_tables(
    graph: &Graph,
    space: &ExpandedSpace,
    workloads: &[NodeWorkload],
    cost_model: &CostModel,
) -> Result<CostTables> {
    let in_gene: Vec<bool> = {
        let mut v = vec![false; graph.nodes().len()];
        for g in &space.genes {
            for &l in &g.layers {
                v[l] = true;
            }
        }
        v
    };
    let act = default_activation_precision(cost_model);
    let with_act = |c: LayerCompression, weightless: bool| {
        if weightless { LayerCompression { activations: act, ..c } } else { c }
    };
    let base_layers: Vec<_> = workloads
        .iter()
        .filter(|w| !in_gene[w.node])
        .map(|w| {
            (w.workload.clone(), with_act(LayerCompression::FP32, w.workload.weight_elems == 0))
        })
        .collect();
    let base_cost = cost_model.model_cost(&base_layers)?;
    let base = OptionCost {
        latency_s: base_cost.latency_s,
        energy_j: base_cost.energy_j,
        bytes: base_cost.weight_bytes as f64,
        bound: String::new(),
        precision: String::new(),
    };
    let mut genes = Vec::with_capacity(space.genes.len());
    for gene in &space.genes {
        let mut per_option = Vec::with_capacity(gene.options.len());
        for option in &gene.options {
            let mut cost = OptionCost::default();
            let mut slowest = 0.0;
            for &l in &gene.layers {
                let base_w: Vec<_> =
                    workloads.iter().filter(|w| w.node == l).map(|w| w.workload.clone()).collect();
                for (w, c) in option_workloads(&base_w, &graph.nodes()[l].op, option)? {
                    let c = crate::costs::runtime_compression(cost_model, &graph.nodes()[l].op, c);
                    let lc = cost_model.layer_cost(&w, &c)?;
                    cost.latency_s += lc.latency_s;
                    cost.energy_j += lc.energy_j;
                    cost.bytes += lc.weight_bytes as f64;
                    if lc.latency_s >= slowest {
                        slowest = lc.latency_s;
                        cost.bound = bound_name(lc.bound).to_string();
                        cost.precision = lc.precision.name().to_string();
                    }
                }
            }
            per_option.push(cost);
        }
        genes.push(per_option);
    }
    let all: Vec<_> = workloads
        .iter()
        .map(|w| {
            (w.workload.clone(), with_act(LayerCompression::FP32, w.workload.weight_elems == 0))
        })
        .collect();
    let baseline = match cost_model.model_cost(&all) {
        Ok(cost) => cost,
        Err(fp32_error) => {
            // A device that rejects fp32: the baseline is costed at int8 (see `record::baseline`).
            let int8 = crate::costs::layer_compression(&crate::costs::int8_baseline_option())?;
            let all8: Vec<_> = workloads
                .iter()
                .map(|w| match w.workload.weight_elems {
                    0 => (w.workload.clone(), with_act(LayerCompression::FP32, true)),
                    _ => (w.workload.clone(), int8),
                })
                .collect();
            cost_model.model_cost(&all8).map_err(|_| fp32_error)?
        }
    };
    Ok(CostTables {
        base,
        genes,
        peak_activation_bytes: baseline.peak_activation_bytes as f64,
        baseline,
        memory_bytes: cost_model.profile().dram().capacity_bytes,
    })
}

/// The four quantities of a plan, in [`Quantity::ALL`] order.
pub type Quantities = [f64; 4];

/// Additive tables of all four quantities and the objective engines minimise.
#[derive(Clone, Debug)]
pub struct TableObjective {
    /// Base values of the four quantities.
    pub base: Quantities,
    /// Per gene, per option, the four contributions.
    pub genes: Vec<Vec<Quantities>>,
    /// The objectives minimised (indices into the four quantities).
    pub objectives: Vec<usize>,
    /// Upper bounds on the four quantities.
    pub bounds: [Option<f64>; 4],
}

impl TableObjective {
    /// Builds the objective from cost and sensitivity tables.
    pub fn new(
        costs: &CostTables,
        sensitivity: &[Vec<f64>],
        objectives: &[Quantity],
        constraints: &Constraints,
    ) -> TableObjective {
        let genes = costs
            .genes
            .iter()
            .zip(sensitivity)
            .map(|(opts, sens)| {
                opts.iter().zip(sens).map(|(c, s)| [*s, c.latency_s, c.energy_j, c.bytes]).collect()
            })
            .collect();
        let mut bounds = constraints.bounds();
        if constraints.fits_in_memory == Some(true) {
            let room = costs.memory_bytes - costs.peak_activation_bytes;
            bounds[3] = Some(bounds[3].map_or(room, |b| b.min(room)));
        }
        TableObjective {
            base: [0.0, costs.base.latency_s, costs.base.energy_j, costs.base.bytes],
            genes,
            objectives: objectives.iter().map(|o| o.index()).collect(),
            bounds,
        }
    }

    /// All four quantities of a genome.
    pub fn quantities(&self, genome: &[usize]) -> Quantities {
        let mut q = self.base;
        for (gene, &c) in self.genes.iter().zip(genome) {
            for (j, v) in gene[c].iter().enumerate() {
                q[j] += v;
            }
        }
        q
    }

    /// The summed relative excess over the bounds (0 when feasible) and the names of the
    /// violated constraints.
    pub fn violation(&self, q: &Quantities) -> (f64, Vec<&'static str>) {
        const NAMES: [&str; 4] =
            ["max_accuracy_drop", "max_latency_s", "max_energy_j", "max_size_bytes"];
        let mut total = 0.0;
        let mut names = Vec::new();
        for j in 0..4 {
            if let Some(b) = self.bounds[j]
                && q[j] > b
            {
                total += (q[j] - b) / b.abs().max(1e-12);
                names.push(NAMES[j]);
            }
        }
        (total, names)
    }

    /// An additive problem over the objectives plus every constrained quantity, for the exact
    /// engine (its front is filtered back to the objectives afterwards).
    pub fn additive(&self) -> Result<(AdditiveObjective, Vec<usize>)> {
        let mut dims = self.objectives.clone();
        for j in 0..4 {
            if self.bounds[j].is_some() && !dims.contains(&j) {
                dims.push(j);
            }
        }
        const NAMES: [&str; 4] = ["accuracy_loss", "latency_s", "energy_j", "size_bytes"];
        let problem = AdditiveProblem {
            objective_names: dims.iter().map(|&j| NAMES[j].to_string()).collect(),
            base: dims.iter().map(|&j| self.base[j]).collect(),
            genes: self
                .genes
                .iter()
                .enumerate()
                .map(|(g, opts)| AdditiveGene {
                    name: format!("gene{g}"),
                    contributions: opts
                        .iter()
                        .map(|q| dims.iter().map(|&j| q[j]).collect())
                        .collect(),
                })
                .collect(),
            upper_bounds: dims.iter().map(|&j| self.bounds[j]).collect(),
        };
        Ok((
            AdditiveObjective::new(problem)
                .map_err(|e| crate::Error::Invalid { msg: e.to_string() })?,
            dims,
        ))
    }
}

impl Objective for TableObjective {
    fn n_objectives(&self) -> usize {
        self.objectives.len()
    }

    fn evaluate(&self, genome: &[usize]) -> Evaluation {
        let q = self.quantities(genome);
        let (violation, _) = self.violation(&q);
        Evaluation {
            objectives: self.objectives.iter().map(|&j| q[j]).collect(),
            constraint_violation: violation,
        }
    }

    fn objective_bounds(&self) -> Option<ObjectiveBounds> {
        let mut lower: Vec<f64> = self.objectives.iter().map(|&j| self.base[j]).collect();
        let mut upper = lower.clone();
        for gene in &self.genes {
            for (k, &j) in self.objectives.iter().enumerate() {
                lower[k] += gene.iter().map(|q| q[j]).fold(f64::INFINITY, f64::min);
                upper[k] += gene.iter().map(|q| q[j]).fold(f64::NEG_INFINITY, f64::max);
            }
        }
        ObjectiveBounds::new(lower, upper).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objective() -> TableObjective {
        // Two genes; quantities (acc, latency, energy, bytes).
        TableObjective {
            base: [0.0, 1.0, 0.5, 100.0],
            genes: vec![
                vec![[0.0, 3.0, 1.0, 400.0], [0.01, 2.0, 0.5, 100.0]],
                vec![[0.0, 4.0, 2.0, 800.0], [0.05, 1.0, 0.2, 200.0]],
            ],
            objectives: vec![0, 1],
            bounds: [None, None, Some(2.0), None],
        }
    }

    #[test]
    fn sums_and_violations_by_hand() {
        let o = objective();
        assert_eq!(o.quantities(&[1, 0]), [0.01, 7.0, 3.0, 1000.0]);
        // Energy 3.0 against a bound of 2.0: relative excess 0.5.
        let e = o.evaluate(&[1, 0]);
        assert_eq!(e.objectives, vec![0.01, 7.0]);
        assert!((e.constraint_violation - 0.5).abs() < 1e-12);
        assert_eq!(o.violation(&o.quantities(&[1, 0])).1, vec!["max_energy_j"]);
        // Energy 0.5 + 0.5 + 0.2 = 1.2 ≤ 2: feasible.
        assert_eq!(o.evaluate(&[1, 1]).constraint_violation, 0.0);
    }

    #[test]
    fn the_exact_problem_adds_constrained_quantities() {
        let (add, dims) = objective().additive().unwrap();
        assert_eq!(dims, vec![0, 1, 2]);
        assert_eq!(add.n_objectives(), 3);
    }
}
