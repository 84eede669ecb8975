//! Recommendations, knee and wording on the sample runs, against answers derived by hand from
//! the fronts (`python3 tests/fixtures/runs/generate.py --print` lists them).

mod common;

use common::fixture;
use sculpt_report::{knee, summarize};
use sculpt_run::{Constraint, PlanRow, Quantity, read_run};

fn plan_ids(plans: &[PlanRow]) -> Vec<u64> {
    plans.iter().map(|p| p.plan_id).collect()
}

#[test]
fn two_objective_run_recommendation_and_knee() {
    let run = read_run(&fixture("tpu-2obj")).unwrap();
    let summary = summarize(&run);
    // Front (accuracy_loss, latency_s), all feasible under max_latency_s = 0.7 ms:
    //   10 (0.008, 0.000646056)   12 (0.0128, 0.000636446)   2 (0.0178, 0.00062939)
    //    0 (0.0208, 0.000535912)  38 (0.0228, 0.000528856)  37 (0.0322, 0.000438216)
    //   26 (0.0382, 0.000433816)
    // Best accuracy meeting the constraint: plan 10.
    assert_eq!(summary.recommendations.len(), 1);
    assert_eq!(summary.recommendations[0].constraints, vec![Constraint::MaxLatency(0.0007)]);
    assert_eq!(summary.recommendations[0].plan.as_ref().unwrap().plan_id, 10);
    // Knee: accuracy range 0.008..0.0382 (0.0302), latency range 0.000433816..0.000646056
    // (0.00021224). Normalised sums: 10 → 0 + 1 = 1; 12 → 0.1589 + 0.9547 = 1.1137;
    // 2 → 0.3245 + 0.9215 = 1.2460; 0 → 0.4238 + 0.4810 = 0.9049; 38 → 0.4901 + 0.4478 = 0.9379;
    // 37 → 0.8013 + 0.0207 = 0.8221; 26 → 1 + 0 = 1. Smallest: plan 37.
    assert_eq!(summary.knee.as_ref().unwrap().plan_id, 37);
    assert_eq!(summary.n_feasible, 7);
    assert!(summary.closest.is_empty());
    // Against the baseline (1686568 B, 3.610536 ms, 49.423622 µJ): plan 10 has 129768 B
    // (13.0× smaller), 0.646056 ms (5.59 → 5.6× faster), 4.100432 µJ (12.05 → 12.1× less
    // energy) and loses 0.008 = 0.80 points.
    assert_eq!(
        summary.lines[0],
        "At ≤ 0.7 ms latency on tpu-like: 13.0× smaller, 5.6× faster, 12.1× less energy, \
         −0.80 points accuracy (plan 10)."
    );
    // Plan 37: 127864 B (13.19 → 13.2×), 0.438216 ms (8.24 → 8.2×), 3.049601 µJ (16.21 → 16.2×),
    // 3.22 points.
    assert_eq!(
        summary.lines[1],
        "Knee of the front: 13.2× smaller, 8.2× faster, 16.2× less energy, −3.22 points accuracy \
         (plan 37)."
    );
}

#[test]
fn three_objective_run_groups_constraints_with_the_same_answer() {
    let run = read_run(&fixture("arm-3obj")).unwrap();
    assert_eq!(
        run.meta.objectives,
        vec![Quantity::AccuracyLoss, Quantity::Latency, Quantity::Size]
    );
    let summary = summarize(&run);
    // Both constraints (0.25 ms, 300000 B) are met by the whole front; the most accurate plan is
    // 10, so the two constraints share one recommendation.
    assert_eq!(summary.recommendations.len(), 1);
    assert_eq!(
        summary.recommendations[0].constraints,
        vec![Constraint::MaxLatency(0.00025), Constraint::MaxSize(300000.0)]
    );
    assert_eq!(summary.recommendations[0].plan.as_ref().unwrap().plan_id, 10);
    assert!(summary.lines[0].starts_with("At ≤ 0.25 ms latency and ≤ 0.3 MB size on arm-a76: "));
    // Knee over (accuracy, latency, size), ranges 0.0302, 6.2232e-5 s, 92184 B:
    //   10: 0 + 1 + 0.1114 = 1.1114          27: 0.3709 + 0.9973 + 0.1043 = 1.4725
    //    0: 0.4238 + 0.4442 + 0.9997 = 1.8677 38: 0.4901 + 0.3988 + 1 = 1.8889
    //   37: 0.8013 + 0.0177 + 0.0908 = 0.9098 26: 1 + 0 + 0 = 1
    assert_eq!(summary.knee.as_ref().unwrap().plan_id, 37);
}

#[test]
fn infeasible_run_lists_closest_plans_and_per_constraint_answers() {
    let run = read_run(&fixture("npu-infeasible")).unwrap();
    let summary = summarize(&run);
    assert_eq!(summary.n_feasible, 0);
    assert!(summary.knee.is_none());
    // Violations: 15 → 2.92108, 4 → 2.36975, 0 → 1.890571, 28 → 2.132783, 6 → 2.792935.
    assert_eq!(plan_ids(&summary.closest), vec![0, 28, 4, 6, 15]);
    assert!(
        summary.lines[0].starts_with("No evaluated plan meets all constraints"),
        "{}",
        summary.lines[0]
    );
    // Latency ≤ 0.1 ms: no front plan. Accuracy loss ≤ 1.1 points: plans 15 (0.77) and 4 (1.07)
    // meet it alone; 15 is the more accurate.
    assert_eq!(summary.recommendations.len(), 2);
    assert_eq!(summary.recommendations[0].constraints, vec![Constraint::MaxLatency(0.0001)]);
    assert!(summary.recommendations[0].plan.is_none());
    assert_eq!(summary.recommendations[1].constraints, vec![Constraint::MaxAccuracyDrop(0.011)]);
    assert_eq!(summary.recommendations[1].plan.as_ref().unwrap().plan_id, 15);
    assert!(
        summary
            .lines
            .iter()
            .any(|l| l == "At ≤ 0.1 ms latency on edge-npu-int8: no plan on the front meets this.")
    );
    assert!(summary.lines.iter().any(|l| l.contains("(plan 15), but it violates max_latency_s.")));
}

#[test]
fn knee_of_hand_made_fronts() {
    fn plan(id: u64, loss: f64, latency: f64) -> PlanRow {
        PlanRow {
            plan_id: id,
            accuracy_loss: loss,
            accuracy_loss_measured: None,
            accuracy_loss_recovered: None,
            latency_s: latency,
            latency_s_measured: None,
            energy_j: 0.0,
            size_bytes: 0.0,
            feasible: true,
            violation: 0.0,
            violated: Vec::new(),
            on_front: true,
            accuracy_source: sculpt_run::AccuracySource::Proxy,
            latency_source: sculpt_run::LatencySource::Modelled,
            genome: String::new(),
            plan_file: None,
        }
    }
    let objectives = [Quantity::AccuracyLoss, Quantity::Latency];
    // A convex front: the corner (0.1, 0.1) is farthest below the line from (0, 1) to (1, 0).
    let front = [plan(0, 0.0, 1.0), plan(1, 0.1, 0.1), plan(2, 1.0, 0.0), plan(3, 0.5, 0.4)];
    let refs: Vec<&PlanRow> = front.iter().collect();
    assert_eq!(knee(&refs, &objectives).unwrap().plan_id, 1);
    // A straight front: every plan is on the line, the tie goes to the lowest plan id.
    let line = [plan(5, 0.5, 0.5), plan(4, 0.0, 1.0), plan(6, 1.0, 0.0)];
    let refs: Vec<&PlanRow> = line.iter().collect();
    assert_eq!(knee(&refs, &objectives).unwrap().plan_id, 4);
    // One plan is its own knee; no plans, no knee.
    assert_eq!(knee(&[&front[3]], &objectives).unwrap().plan_id, 3);
    assert!(knee(&[], &objectives).is_none());
}
