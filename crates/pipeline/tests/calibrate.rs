//! Timing random plans for the lookup table and for validation (`time_plans`).

use std::path::Path;

use sculpt_hw::{CostModel, Profile};
use sculpt_model::load_model;
use sculpt_pipeline::{
    PlanTimingConfig, SearchSpace, expand, graph_workloads, time_plans, validate_plans,
};
use sculpt_stdx::stats::TimingStat;

/// Validation plans are held out (no genome of a table plan), every table plan contributes one
/// measured row per timed layer, and a lookup table of those rows predicts each validation plan
/// from the same rows `graph_cost` would use.
#[test]
fn table_and_validation_plans_are_disjoint_and_every_layer_is_timed() {
    let models = [load_model("builtin:demo-cnn").unwrap(), load_model("builtin:demo-mlp").unwrap()];
    let profile = Profile::from_path(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hardware-profiles/cpu-host.yaml"),
    )
    .unwrap();
    let analytic = CostModel::analytic(profile);
    let space_file = SearchSpace::from_path(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../search-spaces/default.yaml"),
    )
    .unwrap();
    let spaces: Vec<_> = models
        .iter()
        .map(|m| {
            let w = graph_workloads(&m.graph, 1, 1).unwrap();
            expand(&space_file, &m.graph, &w, Some(&analytic)).unwrap()
        })
        .collect();
    let pairs: Vec<_> = models.iter().zip(&spaces).collect();
    let config =
        PlanTimingConfig { table_plans: 4, validation_plans: 3, batch: 1, reps: 3, seed: 7 };
    let t = time_plans(&pairs, &config, &|_, _| {}).unwrap();
    let table: Vec<_> = t.plans.iter().filter(|p| p.for_table).collect();
    assert_eq!(table.len(), 8);
    assert_eq!(t.validation().count(), 6);
    // Every plan was timed once per round, whole and node by node.
    for p in &t.plans {
        assert_eq!(p.whole_s.len(), 3);
        assert!(p.node_s.iter().all(|n| n.len() == 3));
        assert!(p.whole_s.iter().all(|&s| s > 0.0 && s < 1.0), "{}: {:?}", p.model, p.whole_s);
    }
    for v in t.validation() {
        assert!(
            !table.iter().any(|p| p.model == v.model && p.genome == v.genome),
            "validation plan {} of {} repeats a table plan",
            v.index,
            v.model
        );
    }
    // demo-cnn: conv1, relu1, pool1, conv2, relu2, pool2, fc1, fc_relu1, classifier = 9 timed
    // layers (a low-rank layer adds one); demo-mlp: 3 Linear + 2 ReLU = 5 (or more).
    for name in ["demo-cnn", "demo-mlp"] {
        assert_eq!(table.iter().filter(|p| p.model == name).count(), 4, "{name}");
    }
    let (kernels, overhead) = t.kernel_table(TimingStat::Median, &analytic).unwrap();
    assert!(kernels.len() >= 4 * 9 + 4 * 5, "{} rows", kernels.len());
    assert!(kernels.iter().all(|k| k.latency_s > 0.0));
    assert!((0.0..1e-3).contains(&overhead), "{overhead}");
    // With `Min`, each row is the fastest of its layer's passes: recompute one by hand.
    let (mins, _) = t.kernel_table(TimingStat::Min, &analytic).unwrap();
    let first = table[0];
    let conv1 = first.graph.nodes().iter().position(|n| n.name == "conv1").unwrap();
    let fastest = first.node_s[conv1].iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(mins[0].latency_s, fastest);
    // Validation rows: the measured value is the statistic of the plan's whole passes, and the
    // analytic model predicts every plan (positive, finite).
    let v = validate_plans(&t, TimingStat::Min, &analytic).unwrap();
    assert_eq!(v.rows.len(), 6);
    for (row, plan) in v.rows.iter().zip(t.validation()) {
        assert!(row.2.is_finite() && row.2 > 0.0);
        assert_eq!(row.3, plan.whole_s.iter().copied().fold(f64::INFINITY, f64::min));
    }
}
