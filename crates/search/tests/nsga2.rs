//! NSGA-II on problems with a known front.

mod support;

use sculpt_search::{
    ExactConfig, Executor, ExecutorConfig, HypervolumeIndicator, Mutation, Nsga2, ObjectiveBounds,
    exact_pareto_front,
};
use support::{DiscreteZdt1, random_additive_problem, sort_dedup};

fn zdt_fraction(seed: u64, budget: usize) -> f64 {
    let problem = DiscreteZdt1 { n_genes: 30, n_choices: 21 };
    let known = problem.known_front();
    // Normalise by the known front's ideal and nadir; reference 1.1 in both objectives.
    let indicator =
        HypervolumeIndicator::normalized(ObjectiveBounds::from_points(&known).unwrap(), 0.1)
            .unwrap();
    let best = indicator.evaluate(&known).unwrap().value;
    let config =
        ExecutorConfig { hypervolume: Some(indicator), ..ExecutorConfig::new(budget, seed) };
    let result =
        Executor::new(&problem, problem.space(), Nsga2::default(), config).unwrap().run().unwrap();
    result.final_hypervolume().unwrap() / best
}

#[test]
fn reaches_most_of_the_known_zdt1_front() {
    // 30 genes x 21 choices (about 10^40 genomes). Stated target: on average over four seeds
    // at least 0.97 of the known front's hypervolume with 10,000 evaluations (population 100,
    // 100 generations), and no seed below 0.94. (Observed when written: 0.99-1.00.)
    let fractions: Vec<f64> = (0..4).map(|seed| zdt_fraction(seed, 10_000)).collect();
    let mean = fractions.iter().sum::<f64>() / 4.0;
    eprintln!("ZDT1 hypervolume fractions: {fractions:?}");
    assert!(mean >= 0.97 && fractions.iter().all(|&f| f >= 0.94), "{fractions:?}");
    // And never above the known optimum, which would mean the "known front" is wrong.
    assert!(fractions.iter().all(|&f| f <= 1.0 + 1e-12));
}

#[test]
fn seeding_with_the_exact_front_keeps_it() {
    let objective = random_additive_problem(21, 12, 6, 2, true);
    let exact = exact_pareto_front(&objective, &ExactConfig::default()).unwrap();
    let engine = Nsga2 {
        initial_population: exact.iter().map(|p| p.genome.clone()).collect(),
        population_size: exact.len().max(2),
        mutation: Mutation::Neighbour { max_step: 2 },
        ..Nsga2::default()
    };
    let result =
        Executor::new(&objective, objective.space().clone(), engine, ExecutorConfig::new(2_000, 3))
            .unwrap()
            .run()
            .unwrap();
    let mut found: Vec<Vec<f64>> =
        result.front.iter().map(|c| c.evaluation.objectives.clone()).collect();
    sort_dedup(&mut found);
    let expected: Vec<Vec<f64>> = exact.iter().map(|p| p.objectives.clone()).collect();
    assert!(result.front_feasible);
    assert_eq!(found, expected);
}
