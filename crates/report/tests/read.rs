//! Reading run directories, good and bad: typed errors for an unusable run.yaml, notes and a
//! report for everything else.

mod common;

use common::{fixture, fixture_copy, out_dir, read_csv};
use sculpt_report::write_report;
use sculpt_run::{Constraint, Error, LayerPlan, Quantity, Table, read_run};

#[test]
fn complete_run_reads_every_table() {
    let run = read_run(&fixture("tpu-2obj")).unwrap();
    assert!(run.notes.is_empty(), "{:?}", run.notes);
    assert_eq!(run.meta.format_version, 1);
    assert_eq!(run.meta.objectives, vec![Quantity::AccuracyLoss, Quantity::Latency]);
    assert_eq!(run.meta.constraints, vec![Constraint::MaxLatency(0.0007)]);
    assert_eq!(run.meta.baseline.size_bytes, Some(1686568.0));
    assert_eq!(run.meta.device_name(), "tpu-like");
    assert_eq!(run.meta.seed, Some(1));
    // Row counts against an independent reading of the CSVs.
    assert_eq!(
        run.candidates.rows().unwrap().len(),
        read_csv(&fixture("tpu-2obj/candidates.csv")).len()
    );
    assert_eq!(run.front.rows().unwrap().len(), 7);
    assert_eq!(run.sensitivity.rows().unwrap().len(), 4 * 7);
    assert_eq!(run.convergence.rows().unwrap().len(), 8);
    let layers = run.layers.rows().unwrap();
    assert_eq!(layers.iter().filter(|r| r.plan == LayerPlan::Baseline).count(), 4);
    assert_eq!(layers.len(), 4 * 8);
    // A front row with every column.
    let first = &run.front.rows().unwrap()[0];
    assert_eq!(first.plan_id, 10);
    assert_eq!(first.accuracy_loss, 0.008);
    assert_eq!(first.accuracy_loss_measured, Some(0.0085));
    assert_eq!(first.latency_s, 0.000646056);
    assert_eq!(first.latency_s_measured, None);
    assert_eq!(first.size_bytes, 129768.0);
    assert!(first.feasible && first.on_front && first.violated.is_empty());
    assert_eq!(first.genome, "0-3-5-1");
    assert_eq!(first.plan_file.as_deref(), Some("plans/front-000.yaml"));
    let infeasible = read_run(&fixture("npu-infeasible")).unwrap();
    let plan = &infeasible.front.rows().unwrap()[0];
    assert_eq!(plan.violated, vec!["max_latency_s".to_string()]);
}

#[test]
fn missing_run_yaml_is_a_typed_error() {
    let dir = out_dir("no-run-yaml");
    let err = read_run(&dir).unwrap_err();
    assert!(matches!(err, Error::MissingRunYaml { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{}: not a sculpt run directory (run.yaml is missing)", dir.display())
    );
    let err = read_run(&dir.join("nope")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[test]
fn unusable_run_yaml_names_file_line_and_key() {
    let dir = fixture_copy("tpu-2obj", "bad-yaml");
    let yaml_path = dir.join("run.yaml");
    let original = std::fs::read_to_string(&yaml_path).unwrap();

    std::fs::write(&yaml_path, original.replace("seed: 1", "seed: one")).unwrap();
    let err = read_run(&dir).unwrap_err();
    assert!(matches!(err, Error::RunYaml(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with(&format!("{}:12:", yaml_path.display())), "{text}");
    assert!(text.contains("key `seed`"), "{text}");

    std::fs::write(&yaml_path, original.replace("format_version: 1\n", "")).unwrap();
    let err = read_run(&dir).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: no `format_version`: this is not a run.yaml written by sculpt",
            yaml_path.display()
        )
    );

    std::fs::write(&yaml_path, "- just\n- a list\n").unwrap();
    assert!(matches!(read_run(&dir).unwrap_err(), Error::RunYaml(_)));

    std::fs::write(&yaml_path, original.replace("max_latency_s: 0.0007", "max_latency_s: fast"))
        .unwrap();
    let err = read_run(&dir).unwrap_err();
    assert!(
        err.to_string().contains("key `constraints.max_latency_s`: expected a number"),
        "{err}"
    );
}

#[test]
fn other_format_version_gives_a_note_and_a_report() {
    let dir = fixture_copy("tpu-2obj", "format-2");
    let yaml_path = dir.join("run.yaml");
    let original = std::fs::read_to_string(&yaml_path).unwrap();
    // A future format that renamed a key and changed the type of another.
    let future = original
        .replace("format_version: 1", "format_version: 2")
        .replace("seed: 1", "seed: {value: 1}");
    std::fs::write(&yaml_path, future).unwrap();
    let run = read_run(&dir).unwrap();
    assert_eq!(run.meta.format_version, 2);
    assert!(
        run.notes[0]
            .starts_with("run.yaml has format_version 2, but this sculpt reads format version 1"),
        "{:?}",
        run.notes
    );
    assert_eq!(run.notes[1], "run.yaml keys that changed meaning in format 2 are not shown: seed");
    assert_eq!(run.notes.len(), 2, "{:?}", run.notes);
    // Every other setting still reads.
    assert_eq!(run.meta.seed, None);
    assert_eq!(run.meta.engine.as_deref(), Some("nsga2"));
    assert_eq!(run.meta.objectives, vec![Quantity::AccuracyLoss, Quantity::Latency]);
    // The tables still read, so the report still has its front.
    assert_eq!(run.front.rows().unwrap().len(), 7);
    let out = out_dir("format-2-report");
    let files = write_report(&run, &out).unwrap();
    let html = std::fs::read_to_string(files.index_html).unwrap();
    common::assert_self_contained(&html);
    assert!(html.contains("run.yaml has format_version 2"));
    assert_eq!(common::html_table_values(&html, "front-table").len(), 7);
}

#[test]
fn empty_front_still_makes_a_report() {
    let dir = fixture_copy("tpu-2obj", "empty-front");
    let header =
        std::fs::read_to_string(dir.join("front.csv")).unwrap().lines().next().unwrap().to_string();
    std::fs::write(dir.join("front.csv"), format!("{header}\n")).unwrap();
    let run = read_run(&dir).unwrap();
    assert_eq!(run.front, Table::Loaded(Vec::new()));
    assert!(run.notes.iter().any(|n| n.starts_with("front.csv has no plans")), "{:?}", run.notes);
    let out = out_dir("empty-front-report");
    let files = write_report(&run, &out).unwrap();
    let html = std::fs::read_to_string(&files.index_html).unwrap();
    common::assert_self_contained(&html);
    assert!(html.contains("The search returned an empty front: there is no plan to recommend."));
    let md = std::fs::read_to_string(&files.report_md).unwrap();
    assert!(md.contains("The search returned an empty front"));
    // The sections that do not need the front are still there.
    assert!(out.join("sensitivity.png").is_file());
    assert!(out.join("convergence.png").is_file());
}

#[test]
fn broken_table_cell_is_named_and_only_that_table_is_dropped() {
    let dir = fixture_copy("tpu-2obj", "bad-cell");
    let path = dir.join("tables/sensitivity.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[3] = lines[3].rsplit_once(',').map(|(head, _)| format!("{head},lots")).unwrap();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("tables/convergence.csv"), "").unwrap();
    let run = read_run(&dir).unwrap();
    assert_eq!(
        run.sensitivity.problem(),
        Some("tables/sensitivity.csv line 4: column `delta`: `lots` is not a finite number")
    );
    assert!(
        run.convergence
            .problem()
            .unwrap()
            .starts_with("tables/convergence.csv cannot be read as CSV"),
        "{:?}",
        run.convergence
    );
    assert!(run.front.rows().is_some() && run.layers.rows().is_some());
    let out = out_dir("bad-cell-report");
    write_report(&run, &out).unwrap();
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains(
        "Not shown: tables/sensitivity.csv line 4: column <code>delta</code>: <code>lots</code> is not a finite number."
    ));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains(
        "Not shown: tables/sensitivity.csv line 4: column `delta`: `lots` is not a finite number."
    ));
}

#[test]
fn missing_front_is_a_note_not_an_error() {
    let dir = fixture_copy("tpu-2obj", "no-front");
    std::fs::remove_file(dir.join("front.csv")).unwrap();
    let run = read_run(&dir).unwrap();
    assert_eq!(run.front.problem(), Some("front.csv is missing"));
    let out = out_dir("no-front-report");
    let files = write_report(&run, &out).unwrap();
    let html = std::fs::read_to_string(files.index_html).unwrap();
    common::assert_self_contained(&html);
    assert!(html.contains("No front could be read, so there is no recommendation."));
    assert!(html.contains("The front is not available: front.csv is missing."));
}
