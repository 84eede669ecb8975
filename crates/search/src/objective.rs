//! What is optimised: the [`Objective`] trait, [`Evaluation`] and the [`AdditiveObjective`].

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SearchError};
use crate::hypervolume::ObjectiveBounds;
use crate::space::{Gene, Space};

/// The result of evaluating one genome.
///
/// All objectives are minimised. Constraints are folded into one number,
/// `constraint_violation`: `0.0` means feasible, a positive value says how far the genome is
/// from feasibility (objectives decide how to add up several constraints; the
/// [`AdditiveObjective`] sums relative excesses). Engines compare infeasible genomes by this
/// number alone, following Deb's constrained domination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Objective values, all minimised.
    pub objectives: Vec<f64>,
    /// `0.0` if feasible, otherwise a positive measure of how far from feasible.
    pub constraint_violation: f64,
}

impl Evaluation {
    /// A feasible evaluation with the given objective values.
    pub fn feasible(objectives: Vec<f64>) -> Self {
        Evaluation { objectives, constraint_violation: 0.0 }
    }

    /// Whether every constraint is satisfied.
    pub fn is_feasible(&self) -> bool {
        self.constraint_violation <= 0.0
    }
}

/// Anything the engines can minimise over a discrete [`Space`].
///
/// Implementations must be deterministic: the same genome gives the same evaluation, which is
/// what makes a seeded search reproducible. They must also be `Sync`, since batches are
/// evaluated in parallel with rayon.
pub trait Objective: Sync {
    /// Number of objectives of every evaluation.
    fn n_objectives(&self) -> usize;

    /// Evaluates one genome. The executor only passes genomes that are valid for its space.
    fn evaluate(&self, genome: &[usize]) -> Evaluation;

    /// Evaluates several genomes; results are in input order.
    ///
    /// The default evaluates in parallel on the current rayon pool. Override it for objectives
    /// that batch better themselves (e.g. a model that runs several plans at once).
    fn evaluate_batch(&self, genomes: &[Vec<usize>]) -> Vec<Evaluation> {
        genomes.par_iter().map(|genome| self.evaluate(genome)).collect()
    }

    /// Bounds of the objective values over the whole space, if known cheaply.
    ///
    /// The executor uses them to normalise hypervolumes when no reference point is given.
    fn objective_bounds(&self) -> Option<ObjectiveBounds> {
        None
    }
}

/// The serialisable description of an additive problem (the JSON format of
/// `benches/peers`, and what the binary builds from cost and sensitivity tables).
///
/// The value of objective `j` for a genome is `base[j] + sum over genes of
/// genes[g].contributions[choice_g][j]`, summed in gene order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdditiveProblem {
    /// One name per objective, e.g. `["accuracy_loss", "latency_s"]`.
    pub objective_names: Vec<String>,
    /// The objective values of the part of the model that no gene controls.
    pub base: Vec<f64>,
    /// The genes with their per-choice contribution vectors.
    pub genes: Vec<AdditiveGene>,
    /// Per objective, an optional upper bound (a constraint); empty means no constraints.
    #[serde(default)]
    pub upper_bounds: Vec<Option<f64>>,
}

/// One gene of an [`AdditiveProblem`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdditiveGene {
    /// Name of the gene (layer or tied group).
    pub name: String,
    /// `contributions[choice][objective]`; may be negative.
    pub contributions: Vec<Vec<f64>>,
}

/// An objective whose values are a base vector plus one contribution vector per gene.
///
/// Constraints are upper bounds on some objectives. The constraint violation of a genome is
/// the sum, over the bounded objectives it exceeds, of `(value - bound) / scale` where
/// `scale = |bound|`, or `1` when the bound is zero; relative excesses make constraints on
/// objectives of different units comparable.
#[derive(Debug, Clone)]
pub struct AdditiveObjective {
    space: Space,
    objective_names: Vec<String>,
    base: Vec<f64>,
    /// Row `offsets[g] + choice` of a row-major `n_rows x n_objectives` matrix.
    contributions: Vec<f64>,
    offsets: Vec<usize>,
    /// `offsets[g] + n_choices(g)`: one past gene `g`'s last row.
    row_ends: Vec<usize>,
    upper_bounds: Vec<Option<f64>>,
}

impl AdditiveObjective {
    /// Validates a problem and builds the objective.
    pub fn new(problem: AdditiveProblem) -> Result<Self> {
        let n_objectives = problem.objective_names.len();
        if n_objectives == 0 {
            return Err(SearchError::InvalidConfig {
                parameter: "objective_names",
                reason: "must name at least one objective".to_owned(),
            });
        }
        check_len("base", n_objectives, problem.base.len())?;
        for (j, &value) in problem.base.iter().enumerate() {
            check_finite(|| format!("base value of objective {j}"), value)?;
        }
        let upper_bounds = if problem.upper_bounds.is_empty() {
            vec![None; n_objectives]
        } else {
            check_len("upper_bounds", n_objectives, problem.upper_bounds.len())?;
            problem.upper_bounds
        };
        for (j, bound) in upper_bounds.iter().enumerate() {
            if let Some(bound) = *bound {
                check_finite(|| format!("upper bound of objective {j}"), bound)?;
            }
        }
        let space = Space::new(
            problem
                .genes
                .iter()
                .map(|g| Gene { name: g.name.clone(), n_choices: g.contributions.len() })
                .collect(),
        )?;
        let mut contributions = Vec::new();
        let mut offsets = Vec::with_capacity(problem.genes.len());
        let mut row = 0;
        for (gene_index, gene) in problem.genes.iter().enumerate() {
            offsets.push(row);
            for (choice, values) in gene.contributions.iter().enumerate() {
                check_len(
                    &format!("contributions of gene {gene_index}, choice {choice}"),
                    n_objectives,
                    values.len(),
                )?;
                for (j, &value) in values.iter().enumerate() {
                    check_finite(
                        || {
                            format!(
                                "contribution of gene {gene_index}, choice {choice} to objective {j}"
                            )
                        },
                        value,
                    )?;
                }
                contributions.extend_from_slice(values);
                row += 1;
            }
        }
        let row_ends = offsets.iter().enumerate().map(|(g, &o)| o + space.n_choices(g)).collect();
        Ok(AdditiveObjective {
            space,
            objective_names: problem.objective_names,
            base: problem.base,
            contributions,
            offsets,
            row_ends,
            upper_bounds,
        })
    }

    /// The space of this objective (one gene per problem gene).
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// The objective names.
    pub fn objective_names(&self) -> &[String] {
        &self.objective_names
    }

    /// The base vector.
    pub fn base(&self) -> &[f64] {
        &self.base
    }

    /// The per-objective upper bounds (constraints).
    pub fn upper_bounds(&self) -> &[Option<f64>] {
        &self.upper_bounds
    }

    /// The contribution vector of `choice` of gene `gene_index`.
    ///
    /// # Panics
    /// If the gene or choice is out of range.
    pub fn contribution(&self, gene_index: usize, choice: usize) -> &[f64] {
        assert!(choice < self.space.n_choices(gene_index), "choice out of range");
        let m = self.base.len();
        let row = self.offsets[gene_index] + choice;
        &self.contributions[row * m..(row + 1) * m]
    }

    /// Evaluates a genome after checking it against the space.
    pub fn try_evaluate(&self, genome: &[usize]) -> Result<Evaluation> {
        // A cheap range check first (it runs for every evaluation); the space's check builds
        // the detailed error.
        let in_range = genome.len() == self.offsets.len()
            && genome
                .iter()
                .zip(self.offsets.iter().zip(&self.row_ends))
                .all(|(&c, (&o, &e))| o + c < e);
        if !in_range {
            self.space.check_genome(genome)?;
        }
        let objectives = self.objective_values_unchecked(genome);
        let constraint_violation = self.constraint_violation(&objectives);
        Ok(Evaluation { objectives, constraint_violation })
    }

    /// The constraint violation of an objective vector (see the type's documentation).
    pub fn constraint_violation(&self, objectives: &[f64]) -> f64 {
        let mut violation = 0.0;
        for (&value, bound) in objectives.iter().zip(&self.upper_bounds) {
            if let Some(bound) = *bound
                && value > bound
            {
                let scale = if bound == 0.0 { 1.0 } else { bound.abs() };
                violation += (value - bound) / scale;
            }
        }
        violation
    }

    /// The problem this objective was built from (for export).
    pub fn to_problem(&self) -> AdditiveProblem {
        AdditiveProblem {
            objective_names: self.objective_names.clone(),
            base: self.base.clone(),
            genes: (0..self.space.n_genes())
                .map(|g| AdditiveGene {
                    name: self.space.genes()[g].name.clone(),
                    contributions: (0..self.space.n_choices(g))
                        .map(|c| self.contribution(g, c).to_vec())
                        .collect(),
                })
                .collect(),
            upper_bounds: self.upper_bounds.clone(),
        }
    }

    fn objective_values_unchecked(&self, genome: &[usize]) -> Vec<f64> {
        let m = self.base.len();
        if m == 2 {
            // The common case, without the inner loop; same additions in the same order.
            let (mut first, mut second) = (self.base[0], self.base[1]);
            for (&offset, &choice) in self.offsets.iter().zip(genome) {
                let row = (offset + choice) * 2;
                first += self.contributions[row];
                second += self.contributions[row + 1];
            }
            return vec![first, second];
        }
        let mut values = self.base.clone();
        for (&offset, &choice) in self.offsets.iter().zip(genome) {
            let row = (offset + choice) * m;
            for (value, contribution) in values.iter_mut().zip(&self.contributions[row..row + m]) {
                *value += contribution;
            }
        }
        values
    }
}

impl Objective for AdditiveObjective {
    fn n_objectives(&self) -> usize {
        self.base.len()
    }

    /// Evaluates a genome. A genome that does not fit the space gives NaN objectives and an
    /// infinite violation instead of a panic; the executor rejects such evaluations.
    fn evaluate(&self, genome: &[usize]) -> Evaluation {
        self.try_evaluate(genome).unwrap_or_else(|_| Evaluation {
            objectives: vec![f64::NAN; self.base.len()],
            constraint_violation: f64::INFINITY,
        })
    }

    /// Additive objectives are so cheap that parallel evaluation only pays off for big batches.
    fn evaluate_batch(&self, genomes: &[Vec<usize>]) -> Vec<Evaluation> {
        const PARALLEL_THRESHOLD: usize = 4096;
        if genomes.len() < PARALLEL_THRESHOLD {
            genomes.iter().map(|genome| self.evaluate(genome)).collect()
        } else {
            genomes.par_iter().map(|genome| self.evaluate(genome)).collect()
        }
    }

    fn objective_bounds(&self) -> Option<ObjectiveBounds> {
        let m = self.base.len();
        let mut lower = self.base.clone();
        let mut upper = self.base.clone();
        for g in 0..self.space.n_genes() {
            for j in 0..m {
                let values = (0..self.space.n_choices(g)).map(|c| self.contribution(g, c)[j]);
                lower[j] += values.clone().fold(f64::INFINITY, f64::min);
                upper[j] += values.fold(f64::NEG_INFINITY, f64::max);
            }
        }
        ObjectiveBounds::new(lower, upper).ok()
    }
}

fn check_len(what: &str, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(SearchError::DimensionMismatch { what: what.to_owned(), expected, found })
    }
}

fn check_finite(what: impl FnOnce() -> String, value: f64) -> Result<()> {
    if value.is_finite() { Ok(()) } else { Err(SearchError::NonFinite { what: what(), value }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem() -> AdditiveProblem {
        AdditiveProblem {
            objective_names: vec!["loss".into(), "latency".into()],
            base: vec![1.0, 10.0],
            genes: vec![
                AdditiveGene {
                    name: "conv1".into(),
                    contributions: vec![vec![0.0, 5.0], vec![0.5, 2.0], vec![-0.25, 4.0]],
                },
                AdditiveGene {
                    name: "fc".into(),
                    contributions: vec![vec![0.0, 3.0], vec![1.0, 1.0]],
                },
            ],
            upper_bounds: vec![None, Some(15.0)],
        }
    }

    #[test]
    fn sums_base_and_chosen_contributions_and_measures_relative_violation() {
        let objective = AdditiveObjective::new(problem()).unwrap();
        // Table: genome, expected objectives (hand-summed), expected violation.
        let cases: [(&[usize], [f64; 2], f64); 4] = [
            (&[0, 0], [1.0, 18.0], 3.0 / 15.0),
            (&[1, 1], [2.5, 13.0], 0.0),
            (&[2, 0], [0.75, 17.0], 2.0 / 15.0),
            (&[2, 1], [1.75, 15.0], 0.0),
        ];
        for (genome, objectives, violation) in cases {
            let evaluation = objective.try_evaluate(genome).unwrap();
            assert_eq!(evaluation.objectives, objectives, "genome {genome:?}");
            assert!((evaluation.constraint_violation - violation).abs() < 1e-15, "{genome:?}");
        }
    }

    #[test]
    fn invalid_genome_is_an_error_or_a_nan_evaluation_never_a_panic() {
        let objective = AdditiveObjective::new(problem()).unwrap();
        assert!(objective.try_evaluate(&[3, 0]).is_err());
        assert!(objective.try_evaluate(&[0]).is_err());
        let evaluation = objective.evaluate(&[0, 0, 0]);
        assert!(evaluation.objectives.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn rejects_malformed_problems() {
        let mut p = problem();
        p.genes[1].contributions[0] = vec![1.0];
        assert!(matches!(AdditiveObjective::new(p), Err(SearchError::DimensionMismatch { .. })));
        let mut p = problem();
        p.base[0] = f64::NAN;
        assert!(matches!(AdditiveObjective::new(p), Err(SearchError::NonFinite { .. })));
        let mut p = problem();
        p.genes[0].contributions.clear();
        assert!(matches!(AdditiveObjective::new(p), Err(SearchError::GeneWithoutChoices { .. })));
        let mut p = problem();
        p.genes.clear();
        assert!(matches!(AdditiveObjective::new(p), Err(SearchError::EmptySpace)));
        let mut p = problem();
        p.upper_bounds = vec![None];
        assert!(matches!(AdditiveObjective::new(p), Err(SearchError::DimensionMismatch { .. })));
    }

    #[test]
    fn bounds_enclose_every_genome() {
        let objective = AdditiveObjective::new(problem()).unwrap();
        let bounds = objective.objective_bounds().unwrap();
        assert_eq!(bounds.lower(), &[0.75, 13.0]);
        assert_eq!(bounds.upper(), &[2.5, 18.0]);
    }

    #[test]
    fn round_trips_through_json() {
        let objective = AdditiveObjective::new(problem()).unwrap();
        let json = serde_json::to_string(&objective.to_problem()).unwrap();
        let back: AdditiveProblem = serde_json::from_str(&json).unwrap();
        assert_eq!(back, problem());
    }
}
