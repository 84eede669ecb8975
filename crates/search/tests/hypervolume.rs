//! Exact hypervolume against independent computations: inclusion–exclusion over boxes and
//! Monte Carlo estimates on random point sets.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use sculpt_search::{
    HypervolumeIndicator, ObjectiveBounds, ReferencePoint, hypervolume, hypervolume_monte_carlo,
};

/// Volume of the union of the boxes [p, reference] by inclusion–exclusion: the sum over
/// non-empty subsets S of (-1)^(|S|+1) times the volume of the box [max over S, reference].
fn inclusion_exclusion(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let n = points.len();
    let mut total = 0.0;
    for mask in 1u32..(1 << n) {
        let mut corner = vec![f64::NEG_INFINITY; reference.len()];
        for (i, point) in points.iter().enumerate() {
            if mask & (1 << i) != 0 {
                for (c, &v) in corner.iter_mut().zip(point) {
                    *c = c.max(v);
                }
            }
        }
        let volume: f64 = corner.iter().zip(reference).map(|(c, r)| (r - c).max(0.0)).product();
        let sign = if mask.count_ones() % 2 == 1 { 1.0 } else { -1.0 };
        total += sign * volume;
    }
    total
}

fn random_set(rng: &mut ChaCha8Rng, n: usize, m: usize) -> Vec<Vec<f64>> {
    // Integer coordinates in 0..8 make ties, duplicates and dominated points common; a few
    // points lie beyond the reference (8) and must not count.
    (0..n).map(|_| (0..m).map(|_| rng.random_range(0..9) as f64).collect()).collect()
}

#[test]
fn exact_equals_inclusion_exclusion_in_two_and_three_objectives() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for trial in 0..300 {
        let m = 2 + trial % 2;
        let n = rng.random_range(0..=10);
        let points = random_set(&mut rng, n, m);
        let reference = vec![8.0; m];
        let expected = inclusion_exclusion(&points, &reference);
        let got = hypervolume(&points, &ReferencePoint::new(reference).unwrap()).unwrap().value;
        assert!((got - expected).abs() < 1e-9, "trial {trial}: {points:?}: {got} != {expected}");
    }
}

#[test]
fn exact_agrees_with_monte_carlo_on_larger_random_fronts() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for trial in 0..12 {
        let m = 2 + trial % 2;
        // Points on a noisy simplex-like surface: many mutually non-dominated points.
        let points: Vec<Vec<f64>> = (0..200)
            .map(|_| {
                let raw: Vec<f64> = (0..m).map(|_| rng.random::<f64>()).collect();
                let sum: f64 = raw.iter().sum();
                raw.iter().map(|v| v / sum + 0.1 * rng.random::<f64>()).collect()
            })
            .collect();
        let reference = vec![1.2; m];
        let exact = hypervolume(&points, &ReferencePoint::new(reference.clone()).unwrap()).unwrap();
        let estimate = hypervolume_monte_carlo(&points, &reference, 100_000, trial as u64);
        assert!(
            (exact.value - estimate.value).abs() < 5.0 * estimate.standard_error,
            "trial {trial}: exact {} vs {estimate:?}",
            exact.value
        );
    }
}

#[test]
fn normalised_indicator_is_invariant_to_objective_units() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let points = random_set(&mut rng, 30, 2);
    let scaled: Vec<Vec<f64>> =
        points.iter().map(|p| vec![p[0] * 1e-3, p[1] * 250.0 + 7.0]).collect();
    let indicator =
        HypervolumeIndicator::normalized(ObjectiveBounds::from_points(&points).unwrap(), 0.1)
            .unwrap();
    let scaled_indicator =
        HypervolumeIndicator::normalized(ObjectiveBounds::from_points(&scaled).unwrap(), 0.1)
            .unwrap();
    let a = indicator.evaluate(&points).unwrap().value;
    let b = scaled_indicator.evaluate(&scaled).unwrap().value;
    assert!(a > 0.0 && (a - b).abs() < 1e-9, "{a} vs {b}");
}
