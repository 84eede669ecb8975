//! `merge_runs`: many run directories stacked into one table, each row tagged with its run.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{fixture, out_dir, read_csv};
use polars::prelude::{DataType, ParquetReader, SerReader};
use sculpt_report::{MergeInput, MergeValue, merge_runs};

fn input(job_id: &str, hardware: &str, seed: i64, dir: PathBuf) -> MergeInput {
    MergeInput {
        job_id: job_id.into(),
        values: vec![
            ("hardware".into(), MergeValue::Text(hardware.into())),
            ("seed".into(), MergeValue::Int(seed)),
        ],
        dir,
    }
}

fn read_parquet(path: &Path) -> polars::prelude::DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

/// One CSV row, column name to text.
type Row = HashMap<String, String>;

/// The merged rows must be the source rows, in order, each with its run's identifying values.
fn check_stacked(merged: &[Row], sources: &[(&str, &str, &str, Vec<Row>)]) {
    let expected_rows: usize = sources.iter().map(|s| s.3.len()).sum();
    assert_eq!(merged.len(), expected_rows);
    let mut rows = merged.iter();
    for (job_id, hardware, seed, source) in sources {
        for source_row in source {
            let row = rows.next().unwrap();
            assert_eq!(row["job_id"], *job_id);
            assert_eq!(row["hardware"], *hardware);
            assert_eq!(row["seed"], *seed);
            assert_eq!(row["plan_id"], source_row["plan_id"]);
            assert_eq!(row["genome"], source_row["genome"]);
            let value = |r: &HashMap<String, String>, c: &str| r[c].parse::<f64>().unwrap();
            assert_eq!(value(row, "latency_s"), value(source_row, "latency_s"));
            assert_eq!(value(row, "accuracy_loss"), value(source_row, "accuracy_loss"));
        }
    }
}

#[test]
fn stacks_fronts_and_candidates_with_identifying_columns() {
    let out = out_dir("merge-two");
    let runs = [
        input("aaa111", "tpu-like.yaml", 1, fixture("tpu-2obj")),
        input("bbb222", "arm-a76.yaml", 2, fixture("arm-3obj")),
    ];
    let merged = merge_runs(&runs, &out).unwrap();
    assert!(merged.missing.is_empty());
    assert_eq!(merged.written.len(), 4);

    let tpu_front = read_csv(&fixture("tpu-2obj").join("front.csv"));
    let arm_front = read_csv(&fixture("arm-3obj").join("front.csv"));
    // Counted from the fixture files by hand: 7 + 6 front rows, 40 + 40 candidates.
    assert_eq!((tpu_front.len(), arm_front.len()), (7, 6));
    assert_eq!(merged.front_rows, 13);
    assert_eq!(merged.candidate_rows, 80);

    let fronts = read_csv(&out.join("fronts.csv"));
    check_stacked(
        &fronts,
        &[("aaa111", "tpu-like.yaml", "1", tpu_front), ("bbb222", "arm-a76.yaml", "2", arm_front)],
    );
    let header = std::fs::read_to_string(out.join("fronts.csv")).unwrap();
    let header: Vec<&str> = header.lines().next().unwrap().split(',').collect();
    assert_eq!(&header[..4], &["job_id", "hardware", "seed", "plan_id"]);
    assert_eq!(header.last(), Some(&"plan_file"));

    let candidates = read_csv(&out.join("candidates.csv"));
    check_stacked(
        &candidates,
        &[
            ("aaa111", "tpu-like.yaml", "1", read_csv(&fixture("tpu-2obj").join("candidates.csv"))),
            ("bbb222", "arm-a76.yaml", "2", read_csv(&fixture("arm-3obj").join("candidates.csv"))),
        ],
    );

    let df = read_parquet(&out.join("fronts.parquet"));
    assert_eq!(df.height(), 13);
    let dtype = |name: &str| df.column(name).unwrap().dtype().clone();
    assert_eq!(dtype("job_id"), DataType::String);
    assert_eq!(dtype("seed"), DataType::Int64);
    assert_eq!(dtype("plan_id"), DataType::Int64);
    assert_eq!(dtype("feasible"), DataType::Boolean);
    assert_eq!(dtype("latency_s_measured"), DataType::Float64);
    let seeds: Vec<Option<i64>> = df.column("seed").unwrap().i64().unwrap().iter().collect();
    assert_eq!(seeds, [vec![Some(1); 7], vec![Some(2); 6]].concat());
    assert_eq!(read_parquet(&out.join("candidates.parquet")).height(), 80);
}

#[test]
fn a_run_without_candidates_is_reported_and_merging_again_replaces_the_tables() {
    let out = out_dir("merge-incomplete");
    let runs = [
        input("aaa111", "tpu-like.yaml", 1, fixture("tpu-2obj")),
        input("ccc333", "tpu-like.yaml", 3, fixture("tpu-incomplete")),
    ];
    let merged = merge_runs(&runs, &out).unwrap();
    assert_eq!(merged.missing, vec![fixture("tpu-incomplete").join("candidates.csv")]);
    assert_eq!(merged.front_rows, 7 + 7);
    assert_eq!(merged.candidate_rows, 40);

    // Merging again with one run rewrites the tables rather than appending.
    let merged = merge_runs(&runs[..1], &out).unwrap();
    assert_eq!(merged.front_rows, 7);
    assert_eq!(read_csv(&out.join("fronts.csv")).len(), 7);
}

#[test]
fn identifying_columns_must_agree_and_not_collide() {
    let out = out_dir("merge-bad");
    let mut other = input("bbb222", "arm-a76.yaml", 2, fixture("arm-3obj"));
    other.values.pop();
    let err = merge_runs(&[input("aaa111", "tpu-like.yaml", 1, fixture("tpu-2obj")), other], &out)
        .unwrap_err();
    assert!(err.to_string().contains("identified by columns"), "{err}");

    let clash = MergeInput {
        job_id: "aaa111".into(),
        values: vec![("genome".into(), MergeValue::Text("x".into()))],
        dir: fixture("tpu-2obj"),
    };
    let err = merge_runs(&[clash], &out).unwrap_err();
    assert!(err.to_string().contains("`genome`"), "{err}");
}
