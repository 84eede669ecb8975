//! What a report concludes from a run: recommendations and the knee.

use sculpt_run::{Constraint, PlanRow, Quantity, Run};

use crate::units::{ConstraintText, Units};

/// The best plan for one or more of the user's constraints.
#[derive(Clone, Debug, PartialEq)]
pub struct Recommendation {
    /// The constraints this plan is the answer for (several when the answer is the same plan).
    pub constraints: Vec<Constraint>,
    /// The front plan with the lowest accuracy loss among those meeting `constraints`, or
    /// `None` when no front plan meets them.
    pub plan: Option<PlanRow>,
}

/// The conclusions of a run, computed once and shown by the report and the CLI.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// One recommendation per constraint the user gave, grouped when the answer is the same plan.
    /// Empty when the user gave no constraint.
    pub recommendations: Vec<Recommendation>,
    /// The knee of the feasible front (see [`knee`]); `None` when no front plan is feasible.
    pub knee: Option<PlanRow>,
    /// Front plans that meet every constraint.
    pub n_feasible: usize,
    /// When no front plan is feasible: the front plans ordered by `violation` (closest first).
    pub closest: Vec<PlanRow>,
    /// One line per finding, in plain words, for terminals and the report's summary.
    pub lines: Vec<String>,
}

/// The knee of a front: the plan with the smallest sum of normalised objectives, where each
/// objective is scaled to [0, 1] over the given plans (0 = the best value among them, 1 = the
/// worst; an objective on which all plans agree counts 0).
///
/// In two objectives the extremes of a front normalise to (0, 1) and (1, 0), so this is the plan
/// farthest below the straight line between the two extremes — the point where giving up more of
/// one objective buys the least of the other. In more objectives it is the plan farthest below the
/// hyperplane through the unit points. Ties go to the lower `plan_id`.
pub fn knee<'a>(plans: &[&'a PlanRow], objectives: &[Quantity]) -> Option<&'a PlanRow> {
    let first = plans.first()?;
    let mut lower = first.point(objectives);
    let mut upper = lower.clone();
    for plan in plans {
        for (j, v) in plan.point(objectives).into_iter().enumerate() {
            lower[j] = lower[j].min(v);
            upper[j] = upper[j].max(v);
        }
    }
    let score = |plan: &PlanRow| -> f64 {
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
    plans: impl Iterator<Item = &'a PlanRow>,
    objectives: &[Quantity],
) -> Option<&'a PlanRow> {
    plans.min_by(|a, b| {
        a.accuracy_loss
            .total_cmp(&b.accuracy_loss)
            .then_with(|| {
                objectives
                    .iter()
                    .map(|&o| a.quantity(o).total_cmp(&b.quantity(o)))
                    .find(|c| c.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .then(a.plan_id.cmp(&b.plan_id))
    })
}

/// How a plan compares with the baseline in plain words:
/// `13.0× smaller, 5.6× faster, 12.1× less energy, −0.80 points accuracy`.
pub(crate) fn versus_baseline(run: &Run, plan: &PlanRow) -> String {
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

/// `−0.80 points accuracy` for a loss of 0.008 (or `+0.10 points` for a gain); `weight error
/// 0.123` for the data-free proxy.
pub(crate) fn accuracy_words(run: &Run, loss: f64) -> String {
    Units::of(&run.meta).loss_words(loss)
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
    let units = Units::of(&run.meta);
    let front = run.front_plans();
    let objectives = &run.meta.objectives;
    let constraints = &run.meta.constraints;
    let feasible: Vec<&PlanRow> = front.iter().filter(|p| p.feasible).collect();
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
    let mut closest: Vec<PlanRow> = Vec::new();
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
        let all: Vec<String> = constraints.iter().map(|c| c.describe(&units)).collect();
        lines.push(format!(
            "No evaluated plan meets all constraints ({}) on {device}. The {} closest plans are listed below with the constraints they fail.",
            all.join(", "),
            closest.len()
        ));
    }
    for rec in &recommendations {
        let described: Vec<String> = rec.constraints.iter().map(|c| c.describe(&units)).collect();
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
