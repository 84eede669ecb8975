//! Timing random plans for the lookup table and for validation (`time_plans`).

use std::path::Path;

use sculpt_hw::{CostModel, Profile};
use sculpt_model::load_model;
use sculpt_pipeline::{
    PlanTimingConfig, SearchSpace, TimingStat, expand, graph_workloads, time_plans, validate_plans,
};

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
    let config = PlanTimingConfig {
        table_plans: 4,
        validation_plans: 3,
        batch: 1,
        reps: 3,
        stat: TimingStat::Median,
        seed: 7,
    };
    let t = time_plans(&pairs, &analytic, &config, &|_, _| {}).unwrap();
    assert_eq!(t.table_plans.len(), 8);
    assert_eq!(t.validation.len(), 6);
    for v in &t.validation {
        assert!(v.measured_s > 0.0 && v.measured_s < 1.0, "{}: {}", v.model, v.measured_s);
        assert!(
            !t.table_plans.iter().any(|(m, g)| *m == v.model && *g == v.genome),
            "validation plan {} of {} repeats a table plan",
            v.index,
            v.model
        );
    }
    // demo-cnn: conv1, relu1, pool1, conv2, relu2, pool2, fc1, fc_relu1, classifier = 9 timed
    // layers (a low-rank layer adds one); demo-mlp: 3 Linear + 2 ReLU = 5 (or more).
    for name in ["demo-cnn", "demo-mlp"] {
        assert_eq!(t.table_plans.iter().filter(|(m, _)| m == name).count(), 4, "{name}");
    }
    assert!(t.kernels.len() >= 4 * 9 + 4 * 5, "{} rows", t.kernels.len());
    assert!(t.kernels.iter().all(|k| k.latency_s > 0.0));
    // The analytic model predicts every validation plan (positive, finite).
    let v = validate_plans(&t.validation, &analytic, 1).unwrap();
    assert_eq!(v.rows.len(), 6);
    assert!(v.rows.iter().all(|r| r.2.is_finite() && r.2 > 0.0));
}
