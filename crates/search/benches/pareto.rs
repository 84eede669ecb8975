//! Pareto utilities: non-dominated sorting and hypervolume.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use sculpt_search::{ReferencePoint, hypervolume, non_dominated_sort, pareto_front};

/// Points near a front with noise: a realistic mix of front sizes.
fn points(n: usize, m: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let raw: Vec<f64> = (0..m).map(|_| rng.random::<f64>()).collect();
            let sum: f64 = raw.iter().sum();
            raw.iter().map(|v| v / sum + 0.3 * rng.random::<f64>()).collect()
        })
        .collect()
}

fn sorting(c: &mut Criterion) {
    let mut group = c.benchmark_group("non_dominated_sort");
    for (n, m) in [(200, 2), (200, 3), (1000, 2)] {
        let set = points(n, m, 1);
        group.bench_with_input(BenchmarkId::new(format!("{m}obj"), n), &set, |b, set| {
            b.iter(|| non_dominated_sort(black_box(set)))
        });
    }
    let set = points(10_000, 2, 2);
    group.bench_function("pareto_front_only/2obj/10000", |b| {
        b.iter(|| pareto_front(black_box(&set)))
    });
    group.finish();
}

fn hypervolumes(c: &mut Criterion) {
    let mut group = c.benchmark_group("hypervolume");
    for (n, m) in [(100, 2), (1000, 2), (100, 3), (1000, 3)] {
        let set = points(n, m, 3);
        let front: Vec<Vec<f64>> = pareto_front(&set).into_iter().map(|i| set[i].clone()).collect();
        let reference = ReferencePoint::new(vec![2.0; m]).unwrap();
        group.bench_with_input(
            BenchmarkId::new(format!("{m}obj"), format!("{n}pts_front{}", front.len())),
            &front,
            |b, front| b.iter(|| hypervolume(black_box(front), &reference).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, sorting, hypervolumes);
criterion_main!(benches);
