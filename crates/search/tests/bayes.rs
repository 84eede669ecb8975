//! The Bayesian engine against random search with the same budget.

mod support;

use sculpt_search::{
    AdditiveObjective, BayesianSearch, Engine, Executor, ExecutorConfig, HypervolumeIndicator,
    Objective, ObjectiveBounds, RandomSearch, Space,
};
use support::{DiscreteZdt1, synthetic_mobilenet_problem};

fn final_hypervolume<O: Objective, E: Engine<O>>(
    objective: &O,
    space: &Space,
    engine: E,
    indicator: &HypervolumeIndicator,
    budget: usize,
    seed: u64,
) -> f64 {
    let config = ExecutorConfig {
        hypervolume: Some(indicator.clone()),
        ..ExecutorConfig::new(budget, seed)
    };
    let result = Executor::new(objective, space.clone(), engine, config).unwrap().run().unwrap();
    assert_eq!(result.archive.len(), budget);
    result.final_hypervolume().unwrap()
}

/// Mean hypervolume of Bayesian and random search over `seeds`.
fn compare<O: Objective>(
    objective: &O,
    space: &Space,
    indicator: &HypervolumeIndicator,
    budget: usize,
) -> (f64, f64) {
    // Without the uniform seeds, so that the comparison is about the surrogate alone.
    let bayes = BayesianSearch { seed_uniform_genomes: false, ..BayesianSearch::default() };
    let seeds = 0..4u64;
    let n = seeds.clone().count() as f64;
    let bayes_mean = seeds
        .clone()
        .map(|seed| final_hypervolume(objective, space, bayes.clone(), indicator, budget, seed))
        .sum::<f64>()
        / n;
    let random_mean = seeds
        .map(|seed| {
            final_hypervolume(
                objective,
                space,
                RandomSearch { batch_size: 8 },
                indicator,
                budget,
                seed,
            )
        })
        .sum::<f64>()
        / n;
    (bayes_mean, random_mean)
}

#[test]
fn beats_random_search_on_a_non_additive_problem() {
    let problem = DiscreteZdt1 { n_genes: 8, n_choices: 9 };
    // f1 in [0, 1]; f2 up to g = 10 for the worst genomes: a box every run scores in.
    let bounds = ObjectiveBounds::new(vec![0.0, 0.0], vec![1.0, 10.0]).unwrap();
    let indicator = HypervolumeIndicator::normalized(bounds, 0.1).unwrap();
    let (bayes, random) = compare(&problem, &problem.space(), &indicator, 50);
    eprintln!("ZDT1 8x9, 50 evaluations: bayes {bayes:.4}, random {random:.4}");
    assert!(bayes > random * 1.10, "bayes {bayes} vs random {random}");
}

#[test]
fn beats_random_search_on_an_additive_problem() {
    let objective = AdditiveObjective::new(synthetic_mobilenet_problem(4, 12)).unwrap();
    let indicator =
        HypervolumeIndicator::normalized(objective.objective_bounds().unwrap(), 0.1).unwrap();
    let (bayes, random) = compare(&objective, objective.space(), &indicator, 50);
    eprintln!("synthetic 12x20, 50 evaluations: bayes {bayes:.4}, random {random:.4}");
    assert!(bayes > random * 1.02, "bayes {bayes} vs random {random}");
}
