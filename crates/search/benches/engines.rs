//! Engines: the exact dynamic programme on a 50 x 20 ctx and one NSGA-II generation.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sculpt_search::{
    AdditiveObjective, Engine, ExactConfig, Nsga2, SearchContext, exact_pareto_front,
};

fn exact(c: &mut Criterion) {
    let objective = AdditiveObjective::new(support::synthetic_mobilenet_problem(1, 50)).unwrap();
    let mut group = c.benchmark_group("exact");
    group.sample_size(20);
    group.bench_function("two_objectives_50x20", |b| {
        b.iter(|| exact_pareto_front(black_box(&objective), &ExactConfig::default()).unwrap())
    });
    group.finish();
}

fn nsga2_generation(c: &mut Criterion) {
    let objective = AdditiveObjective::new(support::synthetic_mobilenet_problem(1, 50)).unwrap();
    let space = objective.space().clone();
    let engine = Nsga2::default();
    // One long run: every measured iteration is the next generation of the same search
    // (100 evaluations), after 20 generations of warm-up, so the archive, the cache and the
    // population are those of a real run.
    let mut ctx = SearchContext::standalone(&objective, &space, 1, usize::MAX);
    let mut state = Default::default();
    for _ in 0..20 {
        state = engine.step(&mut ctx, state).unwrap().0;
    }
    c.bench_function("nsga2/one_generation_pop100_50x20", |b| {
        b.iter_custom(|iterations| {
            let start = std::time::Instant::now();
            for _ in 0..iterations {
                let next = engine.step(&mut ctx, std::mem::take(&mut state)).unwrap().0;
                state = black_box(next);
            }
            start.elapsed()
        })
    });
}

criterion_group!(benches, exact, nsga2_generation);
criterion_main!(benches);
