//! Pareto dominance, non-dominated sorting and crowding distance (all objectives minimised).

use std::borrow::Borrow;
use std::cmp::Ordering;

use crate::objective::Evaluation;

/// Whether `a` Pareto-dominates `b`: no worse in every objective and better in at least one.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    let mut strictly_better = false;
    for (&x, &y) in a.iter().zip(b) {
        if x > y {
            return false;
        }
        if x < y {
            strictly_better = true;
        }
    }
    strictly_better
}

/// Deb's constrained domination: a feasible evaluation dominates an infeasible one, of two
/// infeasible ones the less violating dominates, and two feasible ones compare by [`dominates`].
pub fn constrained_dominates(a: &Evaluation, b: &Evaluation) -> bool {
    match (a.is_feasible(), b.is_feasible()) {
        (true, true) => dominates(&a.objectives, &b.objectives),
        (true, false) => true,
        (false, true) => false,
        (false, false) => a.constraint_violation < b.constraint_violation,
    }
}

/// The non-domination level of every point: 1 for the points no other point dominates, 2 for
/// those dominated only by level-1 points, and so on ([`non_dominated_sort`] as one number per
/// point).
pub fn pareto_levels<P: AsRef<[f64]>>(points: &[P]) -> Vec<usize> {
    let mut levels = vec![0; points.len()];
    for (k, front) in non_dominated_sort(points).iter().enumerate() {
        for &i in front {
            levels[i] = k + 1;
        }
    }
    levels
}

/// Fast non-dominated sorting (Deb et al. 2002): the indices of `points`, grouped into fronts.
///
/// Front 0 holds the non-dominated points, front 1 those dominated only by front 0, and so on.
/// Indices within a front are ascending. Identical points share a front.
pub fn non_dominated_sort<P: AsRef<[f64]>>(points: &[P]) -> Vec<Vec<usize>> {
    if points.iter().all(|p| p.as_ref().len() == 2) {
        return non_dominated_sort_2d(points);
    }
    let n = points.len();
    let mut dominated_by_count = vec![0usize; n];
    let mut dominates_list: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        for k in (i + 1)..n {
            let (a, b) = (points[i].as_ref(), points[k].as_ref());
            if dominates(a, b) {
                dominates_list[i].push(k);
                dominated_by_count[k] += 1;
            } else if dominates(b, a) {
                dominates_list[k].push(i);
                dominated_by_count[i] += 1;
            }
        }
    }
    let mut fronts = Vec::new();
    let mut current: Vec<usize> = (0..n).filter(|&i| dominated_by_count[i] == 0).collect();
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            for &k in &dominates_list[i] {
                dominated_by_count[k] -= 1;
                if dominated_by_count[k] == 0 {
                    next.push(k);
                }
            }
        }
        next.sort_unstable();
        fronts.push(std::mem::replace(&mut current, next));
    }
    fronts
}

/// Two-objective non-dominated sorting in `O(n log n)` (the efficient non-dominated sort of
/// Zhang et al. 2015 with binary search, which is exact in two objectives).
///
/// Points are visited in lexicographic order, so every point that can dominate the current one
/// was visited before it. A point visited earlier dominates the current one exactly when its
/// second objective is not larger (identical points aside), so a front fails to dominate the
/// current point exactly when its smallest second objective so far is larger; those minima
/// do not decrease from one front to the next, so the first such front is found by binary
/// search.
fn non_dominated_sort_2d<P: AsRef<[f64]>>(points: &[P]) -> Vec<Vec<usize>> {
    let order: Vec<usize> = sorted_pairs(points).into_iter().map(|(_, _, i)| i).collect();
    let mut fronts: Vec<Vec<usize>> = Vec::new();
    let mut lowest_second: Vec<f64> = Vec::new();
    let mut previous: Option<(usize, usize)> = None;
    for &i in &order {
        let point = points[i].as_ref();
        let front = match previous {
            // An identical point is dominated by exactly the same points: same front.
            Some((k, front)) if points[k].as_ref() == point => front,
            _ => lowest_second.partition_point(|&lowest| lowest <= point[1]),
        };
        if front == fronts.len() {
            fronts.push(Vec::new());
            lowest_second.push(point[1]);
        }
        fronts[front].push(i);
        lowest_second[front] = lowest_second[front].min(point[1]);
        previous = Some((i, front));
    }
    for front in &mut fronts {
        front.sort_unstable();
    }
    fronts
}

/// Non-dominated sorting under [`constrained_dominates`].
///
/// Feasible evaluations come first, sorted by [`non_dominated_sort`]; then each distinct
/// violation level of the infeasible ones forms one front, least violating first.
pub fn constrained_non_dominated_sort<E: Borrow<Evaluation>>(evaluations: &[E]) -> Vec<Vec<usize>> {
    let evaluations: Vec<&Evaluation> = evaluations.iter().map(Borrow::borrow).collect();
    let feasible: Vec<usize> =
        (0..evaluations.len()).filter(|&i| evaluations[i].is_feasible()).collect();
    let feasible_points: Vec<&[f64]> =
        feasible.iter().map(|&i| evaluations[i].objectives.as_slice()).collect();
    let mut fronts: Vec<Vec<usize>> = non_dominated_sort(&feasible_points)
        .into_iter()
        .map(|front| front.into_iter().map(|k| feasible[k]).collect())
        .collect();
    let mut infeasible: Vec<usize> =
        (0..evaluations.len()).filter(|&i| !evaluations[i].is_feasible()).collect();
    infeasible.sort_by(|&a, &b| {
        evaluations[a]
            .constraint_violation
            .total_cmp(&evaluations[b].constraint_violation)
            .then(a.cmp(&b))
    });
    for chunk in infeasible.chunk_by(|&a, &b| {
        evaluations[a].constraint_violation == evaluations[b].constraint_violation
    }) {
        fronts.push(chunk.to_vec());
    }
    fronts
}

/// Indices of the non-dominated points of `points`, ascending.
///
/// Runs in `O(n log n + n * f)` for a front of size `f`, much faster than a full sort when only
/// the first front is wanted. Identical non-dominated points are all kept.
pub fn pareto_front<P: AsRef<[f64]>>(points: &[P]) -> Vec<usize> {
    let mut kept: Vec<usize> = Vec::new();
    if points.iter().all(|p| p.as_ref().len() == 2) {
        // In two objectives an earlier point dominates a later one exactly when its second
        // objective is not larger (identical points aside): one sweep suffices.
        let mut lowest_second = f64::INFINITY;
        let mut last: Option<(f64, f64)> = None;
        for (first, second, i) in sorted_pairs(points) {
            if second < lowest_second || last == Some((first, second)) {
                lowest_second = lowest_second.min(second);
                kept.push(i);
                last = Some((first, second));
            }
        }
    } else {
        let mut order: Vec<usize> = (0..points.len()).collect();
        order.sort_by(|&a, &b| {
            lexicographic(points[a].as_ref(), points[b].as_ref()).then(a.cmp(&b))
        });
        // A point can only be dominated by a point that precedes it lexicographically, and
        // dominance is transitive, so checking against the kept points is enough.
        for &i in &order {
            let point = points[i].as_ref();
            if !kept.iter().any(|&k| dominates(points[k].as_ref(), point)) {
                kept.push(i);
            }
        }
    }
    kept.sort_unstable();
    kept
}

/// The best front of a set of evaluations and whether it is feasible.
///
/// If any evaluation is feasible, this is the Pareto front of the feasible ones. Otherwise it
/// is the Pareto front of the least-violating evaluations (those whose violation equals the
/// minimum), and the flag is `false`. Empty input gives an empty, "feasible" front.
pub fn best_front<E: Borrow<Evaluation>>(evaluations: &[E]) -> (Vec<usize>, bool) {
    let evaluations: Vec<&Evaluation> = evaluations.iter().map(Borrow::borrow).collect();
    let any_feasible = evaluations.iter().any(|e| e.is_feasible());
    let candidates: Vec<usize> = if any_feasible || evaluations.is_empty() {
        (0..evaluations.len()).filter(|&i| evaluations[i].is_feasible()).collect()
    } else {
        let least =
            evaluations.iter().map(|e| e.constraint_violation).fold(f64::INFINITY, f64::min);
        (0..evaluations.len()).filter(|&i| evaluations[i].constraint_violation == least).collect()
    };
    let points: Vec<&[f64]> =
        candidates.iter().map(|&i| evaluations[i].objectives.as_slice()).collect();
    let front = pareto_front(&points).into_iter().map(|k| candidates[k]).collect();
    (front, any_feasible || evaluations.is_empty())
}

/// Crowding distance (Deb et al. 2002) of the members of one front.
///
/// `front` lists indices into `points`; the result is parallel to `front`. The extreme points
/// of every objective get `f64::INFINITY`; an objective with zero range adds nothing.
pub fn crowding_distance<P: AsRef<[f64]>>(points: &[P], front: &[usize]) -> Vec<f64> {
    let n = front.len();
    let mut distance = vec![0.0; n];
    if n == 0 {
        return distance;
    }
    let n_objectives = points[front[0]].as_ref().len();
    // (value, position in front), sorted contiguously per objective.
    let mut sorted: Vec<(f64, usize)> = Vec::with_capacity(n);
    for j in 0..n_objectives {
        sorted.clear();
        sorted.extend(front.iter().enumerate().map(|(k, &i)| (points[i].as_ref()[j], k)));
        sorted.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (low, high) = (sorted[0].0, sorted[n - 1].0);
        distance[sorted[0].1] = f64::INFINITY;
        distance[sorted[n - 1].1] = f64::INFINITY;
        let range = high - low;
        if range <= 0.0 {
            continue;
        }
        for w in 1..n.saturating_sub(1) {
            distance[sorted[w].1] += (sorted[w + 1].0 - sorted[w - 1].0) / range;
        }
    }
    distance
}

/// Two-objective points as (first, second, index), sorted lexicographically (`-0.0` taken as
/// `0.0`, ties by index). Sorting contiguous triples is much cheaper than sorting indices with
/// an indirect comparison.
fn sorted_pairs<P: AsRef<[f64]>>(points: &[P]) -> Vec<(f64, f64, usize)> {
    let mut sorted: Vec<(f64, f64, usize)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_ref()[0] + 0.0, p.as_ref()[1] + 0.0, i))
        .collect();
    sorted
        .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    sorted
}

/// Lexicographic order by `total_cmp`, with `-0.0` and `0.0` equal (as [`dominates`] sees them).
fn lexicographic(a: &[f64], b: &[f64]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match (x + 0.0).total_cmp(&(y + 0.0)) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Fronts by repeated peeling with an O(n^2) dominance check: the textbook definition.
    fn brute_force_fronts(
        points: &[Vec<f64>],
        dom: impl Fn(usize, usize) -> bool,
    ) -> Vec<Vec<usize>> {
        let mut remaining: Vec<usize> = (0..points.len()).collect();
        let mut fronts = Vec::new();
        while !remaining.is_empty() {
            let front: Vec<usize> = remaining
                .iter()
                .copied()
                .filter(|&i| !remaining.iter().any(|&k| dom(k, i)))
                .collect();
            remaining.retain(|i| !front.contains(i));
            fronts.push(front);
        }
        fronts
    }

    fn random_points(rng: &mut ChaCha8Rng, n: usize, m: usize, levels: u32) -> Vec<Vec<f64>> {
        // Few distinct levels force ties and duplicates.
        (0..n).map(|_| (0..m).map(|_| rng.random_range(0..levels) as f64).collect()).collect()
    }

    #[test]
    fn dominance_table() {
        let check = |a: &[f64], b: &[f64], expected: bool| {
            assert_eq!(dominates(a, b), expected, "{a:?} vs {b:?}");
        };
        check(&[1.0, 2.0], &[2.0, 3.0], true);
        check(&[1.0, 3.0], &[2.0, 3.0], true);
        check(&[2.0, 3.0], &[2.0, 3.0], false);
        check(&[1.0, 4.0], &[2.0, 3.0], false);
        check(&[2.0, 3.0], &[1.0, 2.0], false);
    }

    #[test]
    fn non_dominated_sort_matches_brute_force_peeling() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for trial in 0..200 {
            let m = 2 + trial % 3;
            let n = rng.random_range(0..40);
            let points = random_points(&mut rng, n, m, 6);
            let expected = brute_force_fronts(&points, |k, i| dominates(&points[k], &points[i]));
            assert_eq!(non_dominated_sort(&points), expected, "trial {trial}");
            let first = expected.first().cloned().unwrap_or_default();
            assert_eq!(pareto_front(&points), first, "trial {trial}");
        }
    }

    #[test]
    fn constrained_sort_matches_brute_force_peeling() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        for trial in 0..200 {
            let n = rng.random_range(0..30);
            let points = random_points(&mut rng, n, 2, 5);
            let evaluations: Vec<Evaluation> = points
                .iter()
                .map(|p| Evaluation {
                    objectives: p.clone(),
                    constraint_violation: if rng.random_bool(0.4) {
                        rng.random_range(1..4) as f64
                    } else {
                        0.0
                    },
                })
                .collect();
            let expected = brute_force_fronts(&points, |k, i| {
                constrained_dominates(&evaluations[k], &evaluations[i])
            });
            assert_eq!(constrained_non_dominated_sort(&evaluations), expected, "trial {trial}");
        }
    }

    #[test]
    fn best_front_prefers_feasible_then_least_violating() {
        let e = |objectives: [f64; 2], violation: f64| Evaluation {
            objectives: objectives.to_vec(),
            constraint_violation: violation,
        };
        let evaluations =
            [e([0.0, 0.0], 1.0), e([5.0, 5.0], 0.0), e([6.0, 4.0], 0.0), e([6.0, 6.0], 0.0)];
        assert_eq!(best_front(&evaluations), (vec![1, 2], true));
        let evaluations =
            [e([0.0, 0.0], 2.0), e([5.0, 5.0], 0.5), e([4.0, 6.0], 0.5), e([6.0, 6.0], 0.5)];
        assert_eq!(best_front(&evaluations), (vec![1, 2], false));
    }

    #[test]
    fn crowding_distance_hand_computed() {
        // Front sorted by f0: (0,4) (1,2) (3,1) (4,0); ranges 4 and 4.
        let points = vec![vec![3.0, 1.0], vec![0.0, 4.0], vec![4.0, 0.0], vec![1.0, 2.0]];
        let distance = crowding_distance(&points, &[0, 1, 2, 3]);
        // Point (1,2): (3-0)/4 + (4-1)/4 = 1.5; point (3,1): (4-1)/4 + (2-0)/4 = 1.25.
        assert_eq!(distance, vec![1.25, f64::INFINITY, f64::INFINITY, 1.5]);
        assert_eq!(crowding_distance(&points, &[0, 3]), vec![f64::INFINITY; 2]);
    }

    /// Levels by repeatedly peeling off the non-dominated points.
    fn peeled_levels(points: &[Vec<f64>]) -> Vec<usize> {
        let mut level = vec![0usize; points.len()];
        let mut remaining: Vec<usize> = (0..points.len()).collect();
        let mut current = 1;
        while !remaining.is_empty() {
            let layer: Vec<usize> = remaining
                .iter()
                .copied()
                .filter(|&i| !remaining.iter().any(|&j| dominates(&points[j], &points[i])))
                .collect();
            for &i in &layer {
                level[i] = current;
            }
            remaining.retain(|i| !layer.contains(i));
            current += 1;
        }
        level
    }

    #[test]
    fn levels_match_peeling() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Coarse values so that ties and duplicates occur.
            ((state >> 11) % 7) as f64
        };
        for d in 2..=4 {
            for _ in 0..30 {
                let pts: Vec<Vec<f64>> =
                    (0..25).map(|_| (0..d).map(|_| next()).collect()).collect();
                assert_eq!(pareto_levels(&pts), peeled_levels(&pts), "{pts:?}");
            }
        }
        let pts =
            vec![vec![1.0, 4.0], vec![2.0, 2.0], vec![3.0, 3.0], vec![4.0, 4.0], vec![4.0, 1.0]];
        assert_eq!(pareto_levels(&pts), vec![1, 1, 2, 3, 1]);
    }
}
