//! The exact Pareto front of an [`AdditiveObjective`] by dynamic programming over genes.
//!
//! This is a multi-objective multiple-choice knapsack. After gene `k`, the programme keeps the
//! set of partial sums `base + c_0 + ... + c_k` that no other partial sum weakly dominates: if
//! partial sum `a` is no worse than `b` in every objective, every completion of `b` is weakly
//! dominated by the same completion of `a`, so dropping `b` loses no front point. Upper-bound
//! constraints keep this property (a completion of `a` is feasible whenever the same completion
//! of `b` is).
//!
//! Constraint pruning drops a partial sum when even the smallest possible completion breaks a
//! bound: `partial_j + sum over remaining genes of min_c contribution_j > bound_j`. Because
//! contributions may be negative, the remaining genes' minima (not zero) are what makes this
//! valid. A small slack absorbs floating-point rounding; the final check is exact.
//!
//! Partial sums are accumulated in gene order from the base, exactly as
//! [`AdditiveObjective`] evaluates a genome, so the front's objective vectors are bit-identical
//! to the evaluations of its genomes.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SearchError};
use crate::executor::{Engine, SearchContext, StepStatus, TerminationReason};
use crate::objective::AdditiveObjective;

/// Settings of the exact dynamic programme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExactConfig {
    /// The largest number of non-dominated partial states allowed after any gene; beyond it
    /// the search stops with [`SearchError::ExactStateCapExceeded`]. Memory is about
    /// `max_states * n_choices * (8 * n_objectives + 8)` bytes at the peak.
    pub max_states: usize,
}

impl Default for ExactConfig {
    fn default() -> Self {
        ExactConfig { max_states: 500_000 }
    }
}

/// One point of the exact front.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExactPoint {
    /// A genome reaching this objective vector (one per distinct vector).
    pub genome: Vec<usize>,
    /// Its objective values, equal to its evaluation.
    pub objectives: Vec<f64>,
}

/// The exact Pareto front of the feasible genomes of `objective`, one genome per distinct
/// objective vector, sorted lexicographically by objectives.
///
/// Errors with [`SearchError::NoFeasibleGenome`] when the constraints exclude every genome and
/// with [`SearchError::ExactStateCapExceeded`] when the front of partial sums grows too large.
pub fn exact_pareto_front(
    objective: &AdditiveObjective,
    config: &ExactConfig,
) -> Result<Vec<ExactPoint>> {
    if config.max_states == 0 {
        return Err(SearchError::InvalidConfig {
            parameter: "max_states",
            reason: "must be at least 1".to_owned(),
        });
    }
    let space = objective.space();
    let n_genes = space.n_genes();
    let m = objective.base().len();
    let bounds = objective.upper_bounds();

    // remaining_min[k][j]: the smallest total that genes k.. can add to objective j;
    // remaining_abs[k][j]: the sum of their largest magnitudes, to size the rounding slack.
    let mut remaining_min = vec![vec![0.0; m]; n_genes + 1];
    let mut remaining_abs = vec![vec![0.0; m]; n_genes + 1];
    for g in (0..n_genes).rev() {
        for j in 0..m {
            let values = (0..space.n_choices(g)).map(|c| objective.contribution(g, c)[j]);
            remaining_min[g][j] =
                remaining_min[g + 1][j] + values.clone().fold(f64::INFINITY, f64::min);
            remaining_abs[g][j] =
                remaining_abs[g + 1][j] + values.map(f64::abs).fold(0.0, f64::max);
        }
    }
    let hopeless = |values: &[f64], next_gene: usize| -> bool {
        bounds.iter().enumerate().any(|(j, bound)| {
            bound.is_some_and(|bound| {
                if next_gene == n_genes {
                    values[j] > bound
                } else {
                    let slack =
                        1e-9 * (1.0 + values[j].abs() + remaining_abs[next_gene][j] + bound.abs());
                    values[j] + remaining_min[next_gene][j] > bound + slack
                }
            })
        })
    };

    // States of the current level: values (row-major, m per state) and, per level, the
    // (parent state, choice) that produced each state.
    let mut values: Vec<f64> = objective.base().to_vec();
    let mut back_pointers: Vec<Vec<(u32, u32)>> = Vec::with_capacity(n_genes);
    if hopeless(&values, 0) {
        return Err(SearchError::NoFeasibleGenome);
    }
    for gene_index in 0..n_genes {
        let n_choices = space.n_choices(gene_index);
        let (next_values, pointers) = if m == 2 {
            let contributions: Vec<[f64; 2]> = (0..n_choices)
                .map(|c| {
                    let v = objective.contribution(gene_index, c);
                    [v[0], v[1]]
                })
                .collect();
            next_level_2d(&values, &contributions, |v| hopeless(v, gene_index + 1))
        } else {
            let n_states = values.len() / m;
            let mut candidate_values: Vec<f64> = Vec::with_capacity(n_states * n_choices * m);
            let mut candidate_origin: Vec<(u32, u32)> = Vec::with_capacity(n_states * n_choices);
            for choice in 0..n_choices {
                let contribution = objective.contribution(gene_index, choice);
                for state in 0..n_states {
                    let start = candidate_values.len();
                    for j in 0..m {
                        candidate_values.push(values[state * m + j] + contribution[j]);
                    }
                    if hopeless(&candidate_values[start..], gene_index + 1) {
                        candidate_values.truncate(start);
                    } else {
                        candidate_origin.push((state as u32, choice as u32));
                    }
                }
            }
            let kept = non_dominated_general(&candidate_values, m);
            let mut next_values = Vec::with_capacity(kept.len() * m);
            let mut pointers = Vec::with_capacity(kept.len());
            for &k in &kept {
                next_values.extend_from_slice(&candidate_values[k * m..(k + 1) * m]);
                pointers.push(candidate_origin[k]);
            }
            (next_values, pointers)
        };
        let n_kept = pointers.len();
        if n_kept == 0 {
            return Err(SearchError::NoFeasibleGenome);
        }
        if n_kept > config.max_states {
            return Err(SearchError::ExactStateCapExceeded {
                gene_index,
                states: n_kept,
                cap: config.max_states,
            });
        }
        values = next_values;
        back_pointers.push(pointers);
    }

    let n_final = values.len() / m;
    let mut front: Vec<ExactPoint> = (0..n_final)
        .map(|state| {
            let mut genome = vec![0; n_genes];
            let mut current = state;
            for gene_index in (0..n_genes).rev() {
                let (parent, choice) = back_pointers[gene_index][current];
                genome[gene_index] = choice as usize;
                current = parent as usize;
            }
            ExactPoint { genome, objectives: values[state * m..(state + 1) * m].to_vec() }
        })
        .collect();
    front.sort_by(|a, b| compare_lexicographic(&a.objectives, &b.objectives));
    Ok(front)
}

/// One level of the two-objective programme: the non-dominated set of
/// `{state + contribution[c]}` over all states and choices, sorted by the first objective, with
/// the (state, choice) each came from.
///
/// `states` is a two-column row-major matrix sorted by the first objective with the second
/// strictly decreasing (the previous level's output), so each choice's translate is sorted
/// too. The translates are merged through a heap keyed by (first, second, choice), and a
/// translate whose head is weakly dominated by the last kept point skips ahead by binary
/// search to its first row with a smaller second objective: the work grows with the size of
/// the kept front, not with `states x choices`.
fn next_level_2d(
    states: &[f64],
    contributions: &[[f64; 2]],
    hopeless: impl Fn(&[f64]) -> bool,
) -> (Vec<f64>, Vec<(u32, u32)>) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[derive(PartialEq)]
    struct Head {
        first: f64,
        second: f64,
        choice: u32,
        state: u32,
    }
    impl Eq for Head {}
    impl PartialOrd for Head {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Head {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.first
                .total_cmp(&other.first)
                .then(self.second.total_cmp(&other.second))
                .then(self.choice.cmp(&other.choice))
                .then(self.state.cmp(&other.state))
        }
    }

    let n_states = states.len() / 2;
    let head = |choice: usize, state: usize| Head {
        first: states[2 * state] + contributions[choice][0],
        second: states[2 * state + 1] + contributions[choice][1],
        choice: choice as u32,
        state: state as u32,
    };
    let mut heap: BinaryHeap<Reverse<Head>> = (0..contributions.len())
        .filter(|_| n_states > 0)
        .map(|choice| Reverse(head(choice, 0)))
        .collect();
    let mut values = Vec::new();
    let mut pointers = Vec::new();
    let mut lowest_second = f64::INFINITY;
    while let Some(Reverse(current)) = heap.pop() {
        let choice = current.choice as usize;
        let mut next_state = current.state as usize + 1;
        if current.second < lowest_second {
            let row = [current.first, current.second];
            if !hopeless(&row) {
                // Rounding can make two rows of one translate tie in the first objective, and
                // then they pop in translate order rather than by the second objective: the
                // earlier kept row is then weakly dominated by this one and is replaced.
                if values.len() >= 2 && values[values.len() - 2] == current.first {
                    values.truncate(values.len() - 2);
                    pointers.pop();
                }
                lowest_second = current.second;
                values.extend_from_slice(&row);
                pointers.push((current.state, current.choice));
            }
        } else {
            // Every row of this translate whose second objective is still >= the lowest kept
            // is weakly dominated (it also comes later in the first objective): skip them.
            // Translation is monotone under rounding, so the test is monotone in the state.
            let offset = contributions[choice][1];
            let (mut low, mut high) = (next_state, n_states);
            while low < high {
                let middle = low + (high - low) / 2;
                if states[2 * middle + 1] + offset >= lowest_second {
                    low = middle + 1;
                } else {
                    high = middle;
                }
            }
            next_state = low;
        }
        if next_state < n_states {
            heap.push(Reverse(head(choice, next_state)));
        }
    }
    (values, pointers)
}

/// Indices (in lexicographic order) of the rows of an `m`-column matrix that no other row
/// weakly dominates, one per distinct row: `O(n log n + n f)` for `f` kept rows.
fn non_dominated_general(values: &[f64], m: usize) -> Vec<usize> {
    let n = values.len() / m;
    let row = |k: usize| &values[k * m..(k + 1) * m];
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| compare_lexicographic(row(a), row(b)));
    let mut kept: Vec<usize> = Vec::new();
    for k in order {
        let candidate = row(k);
        // Only earlier rows in lexicographic order can weakly dominate a row.
        let weakly_dominated =
            kept.iter().any(|&other| row(other).iter().zip(candidate).all(|(x, y)| x <= y));
        if !weakly_dominated {
            kept.push(k);
        }
    }
    kept
}

fn compare_lexicographic(a: &[f64], b: &[f64]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// The exact dynamic programme as an [`Engine`]: its one step computes the front and then
/// evaluates its genomes through the executor, so they appear in the archive and the front of
/// the [`SearchResult`](crate::SearchResult). If the budget is smaller than the front, an evenly
/// spaced subset (in the order of the first objective) is evaluated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExactEngine {
    /// Settings of the dynamic programme.
    pub config: ExactConfig,
}

impl Engine<AdditiveObjective> for ExactEngine {
    type State = ();

    fn step(
        &self,
        ctx: &mut SearchContext<'_, AdditiveObjective>,
        _state: (),
    ) -> Result<((), StepStatus)> {
        let front = exact_pareto_front(ctx.objective(), &self.config)?;
        let n = front.len().min(ctx.remaining_evaluations());
        let genomes: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                let position = if n == 1 { 0 } else { i * (front.len() - 1) / (n - 1) };
                front[position].genome.clone()
            })
            .collect();
        ctx.evaluate_batch(genomes)?;
        Ok(((), StepStatus::Finished(TerminationReason::Completed)))
    }

    fn name(&self) -> &'static str {
        "exact"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::{AdditiveGene, AdditiveProblem};

    #[test]
    fn two_gene_front_by_hand() {
        // Genomes and sums: (0,0)->(0,4)  (0,1)->(1,2)  (1,0)->(2,3)  (1,1)->(3,1)
        // Non-dominated: (0,4), (1,2), (3,1); (2,3) is dominated by (1,2).
        let objective = AdditiveObjective::new(AdditiveProblem {
            objective_names: vec!["a".into(), "b".into()],
            base: vec![0.0, 0.0],
            genes: vec![
                AdditiveGene {
                    name: "x".into(),
                    contributions: vec![vec![0.0, 2.0], vec![2.0, 1.0]],
                },
                AdditiveGene {
                    name: "y".into(),
                    contributions: vec![vec![0.0, 2.0], vec![1.0, 0.0]],
                },
            ],
            upper_bounds: vec![],
        })
        .unwrap();
        let front = exact_pareto_front(&objective, &ExactConfig::default()).unwrap();
        let got: Vec<(Vec<usize>, Vec<f64>)> =
            front.into_iter().map(|p| (p.genome, p.objectives)).collect();
        assert_eq!(
            got,
            vec![
                (vec![0, 0], vec![0.0, 4.0]),
                (vec![0, 1], vec![1.0, 2.0]),
                (vec![1, 1], vec![3.0, 1.0]),
            ]
        );
    }

    #[test]
    fn state_cap_and_infeasibility_are_typed_errors() {
        let objective = AdditiveObjective::new(AdditiveProblem {
            objective_names: vec!["a".into(), "b".into()],
            base: vec![0.0, 0.0],
            genes: (0..4)
                .map(|g| AdditiveGene {
                    name: format!("g{g}"),
                    contributions: (0..3)
                        .map(|c| vec![c as f64 * 3f64.powi(g), -(c as f64) * 3f64.powi(g)])
                        .collect(),
                })
                .collect(),
            upper_bounds: vec![],
        })
        .unwrap();
        // Every genome is on the front (a + b = 0), so 3^4 = 81 states at the end.
        assert_eq!(exact_pareto_front(&objective, &ExactConfig::default()).unwrap().len(), 81);
        let err = exact_pareto_front(&objective, &ExactConfig { max_states: 20 }).unwrap_err();
        assert!(matches!(
            err,
            SearchError::ExactStateCapExceeded { gene_index: 2, states: 27, cap: 20 }
        ));

        let mut problem = objective.to_problem();
        problem.upper_bounds = vec![Some(-1.0), Some(-1.0)];
        let infeasible = AdditiveObjective::new(problem).unwrap();
        assert!(matches!(
            exact_pareto_front(&infeasible, &ExactConfig::default()),
            Err(SearchError::NoFeasibleGenome)
        ));
    }
}
