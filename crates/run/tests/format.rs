//! The run directory's format: what the writer writes reads back unchanged, and
//! docs/run-format.md documents exactly the columns and keys this crate writes.

use sculpt_run::{
    AccuracySource, Baseline, CONVERGENCE_COLUMNS, COST_COLUMNS, ConstraintMap, Constraints,
    ConvergenceRow, CostRow, DataSources, FORMAT_VERSION, LAYER_COLUMNS, LatencySource, LayerPlan,
    LayerRow, PLAN_COLUMNS, PlanRow, Quantity, RunWriter, RunYaml, SENSITIVITY_COLUMNS,
    SensitivityRow, Source, TerminationReason,
};

fn plan(id: u64, on_front: bool) -> PlanRow {
    PlanRow {
        plan_id: id,
        accuracy_loss: 0.0125 * id as f64,
        accuracy_loss_measured: id.is_multiple_of(2).then_some(1.0 / 3.0),
        accuracy_loss_recovered: None,
        latency_s: 1.0e-4 / (id + 1) as f64,
        latency_s_measured: None,
        energy_j: 7.25e-4,
        size_bytes: 220_328.0,
        feasible: id != 3,
        violation: if id == 3 { 0.37 } else { 0.0 },
        violated: if id == 3 {
            vec!["max_latency_s".into(), "max_size_bytes".into()]
        } else {
            vec![]
        },
        on_front,
        accuracy_source: AccuracySource::Proxy,
        latency_source: LatencySource::Modelled,
        genome: format!("{id}-0-2"),
        plan_file: on_front.then(|| format!("plans/front-{id:03}.yaml")),
    }
}

fn full_run_yaml() -> RunYaml {
    RunYaml {
        format_version: FORMAT_VERSION,
        sculpt_version: Some("0.1.0".into()),
        started_at: Some("2026-12-04T10:00:00Z".into()),
        duration_s: Some(6.25),
        model: Some(Source {
            name: Some("demo-cnn".into()),
            origin: Some("builtin:demo-cnn".into()),
            sha256: Some("ab".into()),
            ..Source::default()
        }),
        data: Some(DataSources {
            calibration: Some(Source {
                name: Some("calib".into()),
                sha256: Some("cd".into()),
                n_samples: Some(512),
                ..Source::default()
            }),
            validation: None,
        }),
        hardware: Some(Source {
            name: Some("tpu-like".into()),
            path: Some("hardware-profiles/tpu-like.yaml".into()),
            sha256: Some("ef".into()),
            ..Source::default()
        }),
        space: Some(Source { name: Some("default".into()), ..Source::default() }),
        engine: Some("nsga2".into()),
        seed: Some(1),
        budget: Some(2000),
        proxy: Some("hybrid".into()),
        objectives: Some(vec![Quantity::AccuracyLoss, Quantity::Size]),
        constraints: Some(ConstraintMap::from(&Constraints {
            max_latency_s: Some(0.002),
            fits_in_memory: Some(true),
            ..Constraints::default()
        })),
        metric: Some("accuracy".into()),
        baseline: Some(Baseline {
            metric_value: Some(0.928),
            latency_s: Some(1.7e-4),
            energy_j: Some(1.3e-3),
            size_bytes: Some(1_687_720.0),
        }),
        termination: Some(TerminationReason::Stalled),
        evaluations: Some(216),
        genes: Some(3),
        space_size: Some(216.0),
        batch: Some(1),
        notes: Some(vec!["a note, with a comma".into()]),
        hypervolume_reference: None,
    }
}

#[test]
fn every_table_reads_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let writer = RunWriter::create(dir.path()).unwrap();
    writer.write_run_yaml(&full_run_yaml()).unwrap();
    let candidates: Vec<PlanRow> = (0..5).map(|i| plan(i, i == 1 || i == 3)).collect();
    let mut front: Vec<PlanRow> = vec![plan(1, true), plan(3, true)];
    front[1].accuracy_loss_recovered = Some(0.002);
    writer.write_candidates(&candidates).unwrap();
    writer.write_front(&front).unwrap();
    let costs = vec![CostRow {
        layer: "conv1+conv2".into(),
        option_id: 2,
        option: "w4 g32, p0.25".into(),
        latency_s: 1.5e-6,
        energy_j: 2.0e-7,
        bytes: 1234,
        bound: "memory".into(),
        precision: "int4".into(),
    }];
    writer.write_costs(&costs).unwrap();
    let sensitivity = vec![SensitivityRow {
        layer: "fc1".into(),
        option_id: Some(0),
        option: "fp32".into(),
        delta: -0.0005,
        kl: Some(0.0),
    }];
    writer.write_sensitivity(&sensitivity).unwrap();
    let convergence = vec![
        ConvergenceRow { evaluations: 100, hypervolume: Some(0.5), front_size: Some(4) },
        ConvergenceRow { evaluations: 200, hypervolume: None, front_size: Some(5) },
    ];
    writer.write_convergence(&convergence).unwrap();
    let layers = vec![LayerRow {
        plan: LayerPlan::Baseline,
        layer: "conv1".into(),
        kind: "conv2d".into(),
        option: "fp32".into(),
        weight_bits: Some(32.0),
        sparsity: Some(0.0),
        rank_ratio: Some(1.0),
        latency_s: Some(1e-5),
        energy_j: Some(2e-6),
        bytes: Some(1280.0),
        bound: "compute".into(),
    }];
    writer.write_layers(&layers).unwrap();

    let run = sculpt_run::read_run(dir.path()).unwrap();
    assert!(run.notes.is_empty(), "{:?}", run.notes);
    assert_eq!(
        run.candidates.rows().unwrap(),
        candidates
            .iter()
            .cloned()
            .map(|mut p| {
                // candidates.csv names no plan file.
                p.plan_file = None;
                p
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(run.front.rows().unwrap(), front);
    assert_eq!(run.costs.rows().unwrap(), costs);
    assert_eq!(run.sensitivity.rows().unwrap(), sensitivity);
    assert_eq!(run.convergence.rows().unwrap(), convergence);
    assert_eq!(run.layers.rows().unwrap(), layers);
    assert_eq!(run.meta.termination, Some(TerminationReason::Stalled));
    assert_eq!(run.meta.objectives, [Quantity::AccuracyLoss, Quantity::Size]);
    assert_eq!(run.meta.constraints.len(), 2);
    assert_eq!(run.meta.run_notes, ["a note, with a comma"]);

    // The infeasible front row keeps its real violation (front.csv once wrote 0/1).
    let text = std::fs::read_to_string(dir.path().join("front.csv")).unwrap();
    let line = text.lines().find(|l| l.starts_with("3,")).unwrap();
    assert!(line.contains(",0.37,max_latency_s;max_size_bytes,"), "{line}");
    // A stalled search is recorded as stalled, not as converged.
    let yaml = std::fs::read_to_string(dir.path().join("run.yaml")).unwrap();
    assert!(yaml.contains("\ntermination: stalled\n"), "{yaml}");
}

/// The backticked names that open the rows of the markdown table under `heading`.
fn doc_table_names(doc: &str, heading: &str) -> Vec<String> {
    let section = doc.split(heading).nth(1).expect(heading);
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .filter_map(|l| l.split('`').nth(1).map(String::from))
        .collect()
}

/// The first backticked, comma-separated column list after `heading`.
fn doc_column_list(doc: &str, heading: &str) -> Vec<String> {
    let section = doc.split(heading).nth(1).expect(heading);
    let list = section.split('`').nth(1).expect("a column list");
    list.split(',').map(|c| c.trim().to_string()).collect()
}

#[test]
fn run_format_doc_names_every_column_and_key() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/run-format.md"))
            .unwrap();
    assert_eq!(doc_table_names(&doc, "## candidates.csv and front.csv"), PLAN_COLUMNS);
    assert_eq!(doc_column_list(&doc, "## tables/costs.csv"), COST_COLUMNS);
    assert_eq!(doc_column_list(&doc, "## tables/sensitivity.csv"), SENSITIVITY_COLUMNS);
    assert_eq!(doc_column_list(&doc, "## tables/convergence.csv"), CONVERGENCE_COLUMNS);
    assert_eq!(doc_column_list(&doc, "## tables/layers.csv"), LAYER_COLUMNS);
    assert!(doc.contains(&format!("(format version {FORMAT_VERSION})")));

    // Every key the writer sets is in the documented example, and nothing more.
    let written = sculpt_yaml::to_string(&RunYaml {
        hypervolume_reference: Some(vec![1.0]),
        ..full_run_yaml()
    })
    .unwrap();
    let keys = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with([' ', '#', '-']) && l.contains(':'))
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    let example = doc.split("```yaml").nth(1).unwrap().split("```").next().unwrap();
    assert_eq!(keys(example), keys(&written));
}
