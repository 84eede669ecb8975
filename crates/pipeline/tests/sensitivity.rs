//! The sensitivity table: values against an independent computation, and the disk cache.

use std::path::Path;

use sculpt_compress::{ApplyOptions, CompressionPlan};
use sculpt_eval::{Data, evaluate, load_data};
use sculpt_model::{Batch, load_model};
use sculpt_pipeline::{
    EvalSet, SearchSpace, expand, graph_workloads, sensitivity, tensor_fingerprint,
};

const SPACE: &str = "\
rules:
  - match: {name: classifier}
    options: {}
  - match: {kind: [linear]}
    options:
      quant: [null, {weight_bits: 4, granularity: per_tensor}]
      prune: [null, {kind: channel, ratio: 0.5}]
";

fn calib(n: usize) -> (EvalSet, sculpt_eval::Dataset) {
    let ds = load_data(sculpt_eval::BUILTIN_CALIB).unwrap();
    let ds = ds.select(&(0..n).collect::<Vec<_>>()).unwrap();
    let Data::Dense { inputs, labels } = &ds.data else { panic!() };
    let set = EvalSet {
        batches: vec![Batch::Dense(inputs.clone())],
        labels: labels.clone(),
        fingerprint: tensor_fingerprint(&[inputs]).unwrap(),
        name: "calib".into(),
    };
    (set, ds)
}

#[test]
fn deltas_equal_independent_evaluations_and_the_cache_serves_a_second_run() {
    let model = load_model("builtin:demo-mlp").unwrap();
    let space_file = SearchSpace::from_yaml(SPACE, Path::new("s.yaml")).unwrap();
    let w = graph_workloads(&model.graph, 1, 0).unwrap();
    let space = expand(&space_file, &model.graph, &w, None).unwrap();
    assert_eq!(space.genes.len(), 2); // fc1, fc2
    let (set, ds) = calib(256);
    let cache = tempfile::tempdir().unwrap();
    let table = sensitivity(&model, &space, &set, None, Some(cache.path()), &|_, _| {}).unwrap();
    assert_eq!(table.cached, 2); // only the identity options
    // Independent truth: apply the single-layer plan and evaluate accuracy with sculpt-eval.
    let base = evaluate(&model, &ds, 256).unwrap().value;
    assert!((table.baseline - base).abs() < 1e-12);
    for (g, gene) in space.genes.iter().enumerate() {
        for (o, option) in gene.options.iter().enumerate() {
            let name = model.graph.nodes()[gene.layers[0]].name.clone();
            let plan =
                CompressionPlan { layers: [(name, option.clone())].into(), ..Default::default() };
            let c =
                sculpt_compress::apply_plan(&model, &plan, None, &ApplyOptions::default()).unwrap();
            let acc = evaluate(&c.model, &ds, 256).unwrap().value;
            assert!((table.entries[g][o].delta - (base - acc)).abs() < 1e-12, "{g} {o}");
        }
    }
    // A second run reads everything from the cache.
    let again = sensitivity(&model, &space, &set, None, Some(cache.path()), &|_, _| {}).unwrap();
    assert_eq!(again.cached, space.genes.iter().map(|g| g.options.len()).sum::<usize>());
    assert_eq!(again.entries, table.entries);
    // A corrupt cache is ignored with a warning and recomputed to the same values.
    let file = std::fs::read_dir(cache.path().join("sensitivity"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&file, "{ not json").unwrap();
    let fixed = sensitivity(&model, &space, &set, None, Some(cache.path()), &|_, _| {}).unwrap();
    assert!(fixed.warnings.iter().any(|w| w.contains("corrupt")), "{:?}", fixed.warnings);
    assert_eq!(fixed.entries, table.entries);
    // Different data: a different cache entry, nothing served.
    let (other, _) = calib(128);
    let t = sensitivity(&model, &space, &other, None, Some(cache.path()), &|_, _| {}).unwrap();
    assert_eq!(t.cached, 2);
}
