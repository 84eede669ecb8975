//! Constraint handling: feasible fronts when possible, least-violating flagged fronts when not.

mod support;

use sculpt_search::{
    AdditiveObjective, Engine, Executor, ExecutorConfig, ExhaustiveSearch, Nsga2, RandomSearch,
    SearchResult,
};
use support::{all_genomes, random_additive_problem, sort_dedup};

fn run<E: Engine<AdditiveObjective>>(
    objective: &AdditiveObjective,
    engine: E,
    budget: usize,
) -> SearchResult {
    Executor::new(objective, objective.space().clone(), engine, ExecutorConfig::new(budget, 17))
        .unwrap()
        .run()
        .unwrap()
}

#[test]
fn infeasible_genomes_never_reach_the_front_when_a_feasible_one_was_found() {
    let mut checked = 0;
    for seed in 0..20 {
        let objective = random_additive_problem(seed, 8, 6, 2, true);
        for result in [
            run(&objective, Nsga2 { population_size: 20, ..Nsga2::default() }, 300),
            run(&objective, RandomSearch::default(), 300),
        ] {
            let any_feasible = result.archive.iter().any(|c| c.evaluation.is_feasible());
            let any_infeasible = result.archive.iter().any(|c| !c.evaluation.is_feasible());
            if !(any_feasible && any_infeasible) {
                continue;
            }
            checked += 1;
            assert!(result.front_feasible, "seed {seed}");
            assert!(result.front.iter().all(|c| c.evaluation.is_feasible()), "seed {seed}");
            // The front is the non-dominated subset of the feasible archive: nothing feasible
            // in the archive dominates a front member.
            for member in &result.front {
                assert!(!result.archive.iter().any(|c| c.evaluation.is_feasible()
                    && sculpt_search::dominates(
                        &c.evaluation.objectives,
                        &member.evaluation.objectives
                    )));
            }
        }
    }
    assert!(checked >= 20, "only {checked} runs mixed feasible and infeasible genomes");
}

#[test]
fn without_feasible_genomes_the_least_violating_are_returned_and_flagged() {
    for seed in 0..10 {
        let mut problem = random_additive_problem(seed, 4, 4, 2, false).to_problem();
        // Both objectives bounded far below anything reachable: nothing is feasible.
        problem.upper_bounds = vec![Some(-100.0), Some(-100.0)];
        let objective = AdditiveObjective::new(problem).unwrap();
        let space = objective.space().clone();
        // Independent truth: enumerate, keep the minimum violation, then the non-dominated.
        let evaluations: Vec<_> =
            all_genomes(&space).iter().map(|g| objective.try_evaluate(g).unwrap()).collect();
        let least =
            evaluations.iter().map(|e| e.constraint_violation).fold(f64::INFINITY, f64::min);
        let least_points: Vec<Vec<f64>> = evaluations
            .iter()
            .filter(|e| e.constraint_violation == least)
            .map(|e| e.objectives.clone())
            .collect();
        let mut expected: Vec<Vec<f64>> = least_points
            .iter()
            .filter(|p| !least_points.iter().any(|q| sculpt_search::dominates(q, p)))
            .cloned()
            .collect();
        sort_dedup(&mut expected);
        let size = space.size().unwrap() as usize;
        for result in [
            run(&objective, ExhaustiveSearch::default(), size),
            run(&objective, Nsga2 { population_size: 10, ..Nsga2::default() }, size),
        ] {
            assert!(!result.front_feasible, "seed {seed}");
            let mut found: Vec<Vec<f64>> =
                result.front.iter().map(|c| c.evaluation.objectives.clone()).collect();
            sort_dedup(&mut found);
            assert_eq!(found, expected, "seed {seed}");
            assert!(result.front.iter().all(|c| c.evaluation.constraint_violation == least));
            assert_eq!(result.final_hypervolume(), Some(0.0), "no feasible hypervolume");
        }
    }
}
