//! The exact dynamic programme against brute-force enumeration.

mod support;

use sculpt_search::{
    AdditiveObjective, ExactConfig, ExactEngine, Executor, ExecutorConfig, SearchError,
    TerminationReason, exact_pareto_front,
};
use support::{brute_force_front, random_additive_problem, sort_dedup};

fn dp_front(objective: &AdditiveObjective) -> Result<Vec<Vec<f64>>, SearchError> {
    let mut front: Vec<Vec<f64>> = exact_pareto_front(objective, &ExactConfig::default())?
        .into_iter()
        .map(|point| {
            // Each genome must really evaluate to the objective vector reported for it.
            let evaluation = objective.try_evaluate(&point.genome).unwrap();
            assert_eq!(evaluation.objectives, point.objectives);
            assert!(evaluation.is_feasible());
            point.objectives
        })
        .collect();
    let before = front.len();
    sort_dedup(&mut front);
    assert_eq!(front.len(), before, "one genome per distinct objective vector");
    Ok(front)
}

/// Compares the DP with enumeration on one random problem.
fn check(seed: u64, n_genes: usize, max_choices: usize, m: usize, constrained: bool) {
    let objective = random_additive_problem(seed, n_genes, max_choices, m, constrained);
    let expected = brute_force_front(&objective, objective.space());
    match dp_front(&objective) {
        Ok(front) => assert_eq!(front, expected, "seed {seed}, m {m}, constrained {constrained}"),
        Err(SearchError::NoFeasibleGenome) => {
            assert!(expected.is_empty(), "seed {seed}: DP found no feasible genome")
        }
        Err(other) => panic!("seed {seed}: {other}"),
    }
}

#[test]
fn equals_enumeration_on_random_problems() {
    let mut infeasible_cases = 0;
    let mut constrained_cases = 0;
    for seed in 0..60 {
        for m in 1..=3 {
            check(seed, 5, 5, m, false);
            check(seed + 1000, 5, 5, m, true);
            constrained_cases += 1;
            let objective = random_additive_problem(seed + 1000, 5, 5, m, true);
            if brute_force_front(&objective, objective.space()).is_empty() {
                infeasible_cases += 1;
            }
        }
    }
    // The generator must exercise both outcomes of the constraint, or the test proves little.
    assert!(infeasible_cases < constrained_cases / 2, "{infeasible_cases} infeasible cases");
}

#[test]
fn constraint_pruning_accounts_for_negative_later_contributions() {
    // Gene 0 overshoots the bound, gene 1 can bring it back: pruning on the partial sum alone
    // (ignoring that contributions can be negative) would wrongly report no feasible genome.
    let objective = AdditiveObjective::new(sculpt_search::AdditiveProblem {
        objective_names: vec!["a".into(), "b".into()],
        base: vec![0.0, 0.0],
        genes: vec![
            sculpt_search::AdditiveGene {
                name: "x".into(),
                contributions: vec![vec![5.0, 0.0], vec![6.0, -1.0]],
            },
            sculpt_search::AdditiveGene {
                name: "y".into(),
                contributions: vec![vec![-4.0, 1.0], vec![0.0, 0.0]],
            },
        ],
        upper_bounds: vec![Some(2.0), None],
    })
    .unwrap();
    assert_eq!(dp_front(&objective).unwrap(), vec![vec![1.0, 1.0], vec![2.0, 0.0]]);
    assert_eq!(
        brute_force_front(&objective, objective.space()),
        vec![vec![1.0, 1.0], vec![2.0, 0.0]]
    );
}

#[test]
fn engine_through_the_executor_returns_the_exact_front() {
    let objective = random_additive_problem(5, 6, 4, 2, true);
    let expected = brute_force_front(&objective, objective.space());
    let result = Executor::new(
        &objective,
        objective.space().clone(),
        ExactEngine::default(),
        ExecutorConfig::new(10_000, 0),
    )
    .unwrap()
    .run()
    .unwrap();
    assert_eq!(result.termination, TerminationReason::Completed);
    let mut found: Vec<Vec<f64>> =
        result.front.iter().map(|c| c.evaluation.objectives.clone()).collect();
    sort_dedup(&mut found);
    assert_eq!(found, expected);
    assert_eq!(result.archive.len(), expected.len(), "only the front is evaluated");
}

#[test]
fn engine_with_a_small_budget_evaluates_an_evenly_spaced_subset() {
    let objective = random_additive_problem(9, 8, 6, 2, false);
    let exact = exact_pareto_front(&objective, &ExactConfig::default()).unwrap();
    assert!(exact.len() > 4, "the test needs a front larger than the budget");
    let result = Executor::new(
        &objective,
        objective.space().clone(),
        ExactEngine::default(),
        ExecutorConfig::new(3, 0),
    )
    .unwrap()
    .run()
    .unwrap();
    let found: Vec<&[f64]> =
        result.archive.iter().map(|c| c.evaluation.objectives.as_slice()).collect();
    let expected =
        [0, (exact.len() - 1) / 2, exact.len() - 1].map(|i| exact[i].objectives.as_slice());
    assert_eq!(found, expected);
}
