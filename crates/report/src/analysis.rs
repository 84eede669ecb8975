//! What a report concludes from a run: recommendations, the knee, hypervolume, Pareto levels.

use crate::run::{Constraint, Objective, Plan, Run};

/// The best plan for one or more of the user's constraints.
#[derive(Clone, Debug, PartialEq)]
pub struct Recommendation {
    /// The constraints this plan is the answer for (several when the answer is the same plan).
    pub constraints: Vec<Constraint>,
    /// The front plan with the lowest accuracy loss among those meeting `constraints`, or
    /// `None` when no front plan meets them.
    pub plan: Option<Plan>,
}

/// The conclusions of a run, computed once and shown by the report and the CLI.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// One recommendation per constraint the user gave, grouped when the answer is the same plan.
    /// Empty when the user gave no constraint.
    pub recommendations: Vec<Recommendation>,
    /// The knee of the feasible front (see [`knee`]); `None` when no front plan is feasible.
    pub knee: Option<Plan>,
    /// Front plans that meet every constraint.
    pub n_feasible: usize,
    /// When no front plan is feasible: the front plans ordered by `violation` (closest first).
    pub closest: Vec<Plan>,
    /// One line per finding, in plain words, for terminals and the report's summary.
    pub lines: Vec<String>,
}

/// Whether `a` Pareto-dominates `b` (all minimised): no worse in every coordinate and better in one.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
}

/// Non-domination levels: 1 for the points no other point dominates, 2 for those dominated only
/// by level-1 points, and so on (the "fronts" of non-dominated sorting).
///
/// Every dominator of a point sorts before it lexicographically, so one pass in that order gives
/// each point 1 + the highest level among its dominators: O(n²) time, O(n) memory.
pub fn pareto_levels(points: &[Vec<f64>]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        points[a]
            .iter()
            .zip(&points[b])
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut level = vec![0usize; points.len()];
    for (k, &i) in order.iter().enumerate() {
        let dominated_by = order[..k]
            .iter()
            .filter(|&&j| dominates(&points[j], &points[i]))
            .map(|&j| level[j])
            .max()
            .unwrap_or(0);
        level[i] = dominated_by + 1;
    }
    level
}

/// The exact hypervolume of `points` (minimised) against `reference`: the volume of the region
/// dominated by at least one point and bounded by the reference point. Points that are not
/// strictly better than the reference in every coordinate add nothing.
///
/// Dimension-sweep recursion (slices along the last objective); exact in any dimension and fast
/// enough for report-sized fronts (hundreds of points in up to four objectives).
///
/// ```
/// // Two points in 2-D against (4, 4): 3×1 + 1×2 (the union of two boxes) = 5.
/// let hv = sculpt_report::hypervolume(&[vec![1.0, 3.0], vec![2.0, 2.0]], &[4.0, 4.0]);
/// assert_eq!(hv, 5.0);
/// ```
pub fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let inside: Vec<&[f64]> = points
        .iter()
        .map(Vec::as_slice)
        .filter(|p| p.len() == reference.len() && p.iter().zip(reference).all(|(x, r)| x < r))
        .collect();
    hv_recursive(&inside, reference)
}

fn hv_recursive(points: &[&[f64]], reference: &[f64]) -> f64 {
    let d = reference.len();
    if points.is_empty() || d == 0 {
        return 0.0;
    }
    if d == 1 {
        let best = points.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min);
        return reference[0] - best;
    }
    if d == 2 {
        let mut sorted: Vec<&[f64]> = points.to_vec();
        sorted.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
        let mut area = 0.0;
        let mut best_y = reference[1];
        for p in sorted {
            if p[1] < best_y {
                area += (reference[0] - p[0]) * (best_y - p[1]);
                best_y = p[1];
            }
        }
        return area;
    }
    let last = d - 1;
    let mut sorted: Vec<&[f64]> = points.to_vec();
    sorted.sort_by(|a, b| a[last].total_cmp(&b[last]));
    let mut volume = 0.0;
    for (i, p) in sorted.iter().enumerate() {
        let top = sorted.get(i + 1).map_or(reference[last], |q| q[last]);
        let height = top - p[last];
        if height <= 0.0 {
            continue;
        }
        let slice: Vec<&[f64]> = sorted[..=i].iter().map(|q| &q[..last]).collect();
        volume += hv_recursive(&slice, &reference[..last]) * height;
    }
    volume
}

/// The knee of a front: the plan with the smallest sum of normalised objectives, where each
/// objective is scaled to [0, 1] over the given plans (0 = the best value among them, 1 = the
/// worst; an objective on which all plans agree counts 0).
///
/// In two objectives the extremes of a front normalise to (0, 1) and (1, 0), so this is the plan
/// farthest below the straight line between the two extremes — the point where giving up more of
/// one objective buys the least of the other. In more objectives it is the plan farthest below the
/// hyperplane through the unit points. Ties go to the lower `plan_id`.
pub fn knee<'a>(plans: &[&'a Plan], objectives: &[Objective]) -> Option<&'a Plan> {
    let first = plans.first()?;
    let mut lower = first.point(objectives);
    let mut upper = lower.clone();
    for plan in plans {
        for (j, v) in plan.point(objectives).into_iter().enumerate() {
            lower[j] = lower[j].min(v);
            upper[j] = upper[j].max(v);
        }
    }
    let score = |plan: &Plan| -> f64 {
        plan.point(objectives)
            .iter()
            .enumerate()
            .map(|(j, v)| {
                let range = upper[j] - lower[j];
                if range > 0.0 { (v - lower[j]) / range } else { 0.0 }
            })
            .sum()
    };
    plans
        .iter()
        .copied()
        .min_by(|a, b| score(a).total_cmp(&score(b)).then(a.plan_id.cmp(&b.plan_id)))
}

/// Orders plans by accuracy loss, then the run's other objectives, then `plan_id`.
fn best_accuracy<'a>(
    plans: impl Iterator<Item = &'a Plan>,
    objectives: &[Objective],
) -> Option<&'a Plan> {
    plans.min_by(|a, b| {
        a.accuracy_loss
            .total_cmp(&b.accuracy_loss)
            .then_with(|| {
                objectives
                    .iter()
                    .map(|&o| a.objective(o).total_cmp(&b.objective(o)))
                    .find(|c| c.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .then(a.plan_id.cmp(&b.plan_id))
    })
}

/// How a plan compares with the baseline in plain words:
/// `13.0× smaller, 5.6× faster, 12.1× less energy, −0.80 points accuracy`.
pub(crate) fn versus_baseline(run: &Run, plan: &Plan) -> String {
    let baseline = &run.meta.baseline;
    let mut parts = Vec::new();
    let mut push_factor = |base: Option<f64>, value: f64, better: &str, worse: &str| {
        if let Some(base) = base.filter(|b| *b > 0.0 && value > 0.0) {
            let ratio = base / value;
            if ratio >= 1.0 {
                parts.push(format!("{} {better}", crate::format::factor(ratio)));
            } else {
                parts.push(format!("{} {worse}", crate::format::factor(1.0 / ratio)));
            }
        }
    };
    push_factor(baseline.size_bytes, plan.size_bytes, "smaller", "larger");
    push_factor(baseline.latency_s, plan.latency_s, "faster", "slower");
    push_factor(baseline.energy_j, plan.energy_j, "less energy", "more energy");
    parts.push(accuracy_words(run, plan.accuracy_loss));
    parts.join(", ")
}

/// `−0.80 points accuracy` for a loss of 0.008 (or `+0.10 points` for a gain).
pub(crate) fn accuracy_words(run: &Run, loss: f64) -> String {
    let metric = run.meta.metric.as_deref().unwrap_or("accuracy");
    let points = -loss * 100.0;
    let sign = if points < 0.0 { "−" } else { "+" };
    if metric == "accuracy" || metric.starts_with("top") {
        format!("{sign}{:.2} points {metric}", points.abs())
    } else {
        format!("{metric} loss {}", crate::format::sig(loss, 3))
    }
}

/// Computes the summary of a run: the recommendation per constraint, the knee and, when nothing
/// is feasible, the closest plans.
///
/// * **Recommendation.** For each constraint the user gave, the front plan with the lowest
///   accuracy loss among the front plans that meet it ([`Constraint::is_met_by`]); ties go to
///   the run's other objectives in order, then the lower `plan_id`. Constraints answered by the
///   same plan are reported together, so a run whose front is all feasible gets one line.
/// * **Knee.** [`knee`] over the feasible front plans and the run's objectives.
/// * **Nothing feasible.** The front then holds the closest plans; they are listed by
///   `violation`, each with the constraints it fails and by how much.
pub fn summarize(run: &Run) -> Summary {
    let front = run.front_plans();
    let objectives = &run.meta.objectives;
    let constraints = &run.meta.constraints;
    let feasible: Vec<&Plan> = front.iter().filter(|p| p.feasible).collect();
    let device = run.meta.device_name();

    let mut recommendations: Vec<Recommendation> = Vec::new();
    for constraint in constraints {
        let best = best_accuracy(front.iter().filter(|p| constraint.is_met_by(p)), objectives);
        match recommendations.iter_mut().find(|r| {
            r.plan.is_some() && r.plan.as_ref().map(|p| p.plan_id) == best.map(|p| p.plan_id)
        }) {
            Some(existing) => existing.constraints.push(constraint.clone()),
            None => recommendations.push(Recommendation {
                constraints: vec![constraint.clone()],
                plan: best.cloned(),
            }),
        }
    }
    let knee = knee(&feasible, objectives).cloned();
    let mut closest: Vec<Plan> = Vec::new();
    if feasible.is_empty() {
        closest = front.to_vec();
        closest.sort_by(|a, b| a.violation.total_cmp(&b.violation).then(a.plan_id.cmp(&b.plan_id)));
    }

    let mut lines = Vec::new();
    if run.front.rows().is_none() {
        lines.push("No front could be read, so there is no recommendation.".to_string());
    } else if front.is_empty() {
        lines
            .push("The search returned an empty front: there is no plan to recommend.".to_string());
    } else if feasible.is_empty() {
        let all: Vec<String> = constraints.iter().map(Constraint::describe).collect();
        lines.push(format!(
            "No evaluated plan meets all constraints ({}) on {device}. The {} closest plans are listed below with the constraints they fail.",
            all.join(", "),
            closest.len()
        ));
    }
    for rec in &recommendations {
        let described: Vec<String> = rec.constraints.iter().map(Constraint::describe).collect();
        let at = format!("At {} on {device}", join_words(&described));
        match &rec.plan {
            Some(plan) => {
                let mut line =
                    format!("{at}: {} (plan {})", versus_baseline(run, plan), plan.plan_id);
                if !plan.feasible && !plan.violated.is_empty() {
                    line.push_str(&format!(", but it violates {}", plan.violated.join(", ")));
                }
                line.push('.');
                lines.push(line);
            }
            None => lines.push(format!("{at}: no plan on the front meets this.")),
        }
    }
    if let Some(plan) = &knee {
        lines.push(format!(
            "Knee of the front: {} (plan {}).",
            versus_baseline(run, plan),
            plan.plan_id
        ));
    }
    Summary { recommendations, knee, n_feasible: feasible.len(), closest, lines }
}

/// `a`, `a and b`, `a, b and c`.
pub(crate) fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inclusion–exclusion over all subsets: the volume of a union of boxes
    /// [p, reference) is Σ over non-empty subsets S of (−1)^(|S|+1) · vol(∩ S), and the
    /// intersection of such boxes is the box from the component-wise max.
    fn brute_force_hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
        let n = points.len();
        let mut total = 0.0;
        for mask in 1u32..(1 << n) {
            let mut corner = vec![f64::NEG_INFINITY; reference.len()];
            for (i, p) in points.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    for j in 0..reference.len() {
                        corner[j] = corner[j].max(p[j]);
                    }
                }
            }
            let vol: f64 = corner.iter().zip(reference).map(|(c, r)| (r - c).max(0.0)).product();
            let sign = if mask.count_ones() % 2 == 1 { 1.0 } else { -1.0 };
            total += sign * vol;
        }
        total
    }

    #[test]
    fn hypervolume_hand_computed() {
        // 2-D staircase against (4, 4): boxes [1,4)×[3,4), [2,4)×[2,4), [3,4)×[1,4):
        // 3·1 + 2·1 + 1·1 (the columns above each step) = 3 + 2 + 1 = 6.
        let pts = vec![vec![1.0, 3.0], vec![2.0, 2.0], vec![3.0, 1.0]];
        assert_eq!(hypervolume(&pts, &[4.0, 4.0]), 6.0);
        // A dominated point and a point outside the reference add nothing.
        let mut more = pts.clone();
        more.push(vec![3.0, 3.0]);
        more.push(vec![0.5, 5.0]);
        assert_eq!(hypervolume(&more, &[4.0, 4.0]), 6.0);
        // 3-D: two unit-reference boxes [0,1)^2×[0.5,1) ∪ [0.5,1)×[0,1)×[0,1):
        // 0.5 + 0.5 − 0.25 = 0.75.
        let pts3 = vec![vec![0.0, 0.0, 0.5], vec![0.5, 0.0, 0.0]];
        assert!((hypervolume(&pts3, &[1.0, 1.0, 1.0]) - 0.75).abs() < 1e-12);
        // 1-D: the best point's distance to the reference.
        assert_eq!(hypervolume(&[vec![2.0], vec![1.0]], &[5.0]), 4.0);
    }

    #[test]
    fn hypervolume_matches_inclusion_exclusion() {
        // A fixed pseudo-random generator (xorshift) keeps the test deterministic.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for d in 2..=4 {
            for _ in 0..20 {
                let n = 1 + (next() * 9.0) as usize;
                let pts: Vec<Vec<f64>> = (0..n).map(|_| (0..d).map(|_| next()).collect()).collect();
                let reference = vec![1.0; d];
                let exact = brute_force_hypervolume(&pts, &reference);
                let got = hypervolume(&pts, &reference);
                assert!((exact - got).abs() < 1e-12, "d={d} n={n}: {got} vs {exact}");
            }
        }
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
        for d in 2..=3 {
            for _ in 0..30 {
                let pts: Vec<Vec<f64>> =
                    (0..25).map(|_| (0..d).map(|_| next()).collect()).collect();
                assert_eq!(pareto_levels(&pts), peeled_levels(&pts), "{pts:?}");
            }
        }
    }

    #[test]
    fn levels_of_a_small_set() {
        let pts =
            vec![vec![1.0, 4.0], vec![2.0, 2.0], vec![3.0, 3.0], vec![4.0, 4.0], vec![4.0, 1.0]];
        assert_eq!(pareto_levels(&pts), vec![1, 1, 2, 3, 1]);
    }
}
