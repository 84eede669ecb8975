//! Helpers shared by the end-to-end tests of `sculpt sweep` (tests/sweep.rs, tests/slurm.rs).

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Settings that keep each job of a test sweep to a second or two on the bundled demo CNN.
pub const TINY_BASE: &str =
    "{budget: 12, engine: random, validation_samples: 100, calibration_samples: 64}";

/// The device profiles the test sweeps use.
pub const TPU: &str = "hardware-profiles/tpu-like.yaml";
pub const ARM: &str = "hardware-profiles/arm-a76.yaml";

/// Writes a test sweep `name` in `dir` over `hardware: [tpu-like, second]` × `seeds` (a YAML
/// list) with SLURM settings `{partition: debug, time: "00:10:00", cpus_per_task: 1<extra>}`,
/// writing to `<dir>/out`; returns the sweep file, the cache folder and the output folder.
pub fn slurm_sweep(
    dir: &Path,
    name: &str,
    second: &str,
    seeds: &str,
    extra: &str,
) -> (PathBuf, PathBuf, PathBuf) {
    let out = dir.join("out");
    let file = write_sweep(
        dir,
        name,
        &format!(
            "name: {name}\nout: {}\nbase: {TINY_BASE}\nmatrix:\n  hardware: [{TPU}, {second}]\n  seed: {seeds}\n\
             slurm: {{partition: debug, time: \"00:10:00\", cpus_per_task: 1{extra}}}\n",
            out.display()
        ),
    );
    (file, dir.join("cache"), out)
}

/// Runs the built `sculpt` from the repository root (where the sweep files' relative paths
/// point), with the sensitivity cache in `cache`.
pub fn sculpt(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SCULPT_CACHE", cache)
        .output()
        .expect("run sculpt")
}

/// `sculpt ...` that must succeed; returns its stdout.
pub fn ok(args: &[&str], cache: &Path) -> String {
    let o = sculpt(args, cache);
    assert!(
        o.status.success(),
        "sculpt {args:?} failed ({}):\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Writes a sweep file into `dir` and returns its path.
pub fn write_sweep(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// One planned job: its id and settings as `sweep plan --format json` prints them.
#[derive(Clone, Debug)]
pub struct PlannedJob {
    pub id: String,
    pub index: usize,
    pub settings: serde_json::Value,
}

/// `sweep plan --format json`.
pub fn plan(file: &Path, cache: &Path) -> Vec<PlannedJob> {
    let out = ok(&["sweep", "plan", file.to_str().unwrap(), "--format", "json"], cache);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    doc["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| PlannedJob {
            id: j["id"].as_str().unwrap().to_string(),
            index: j["index"].as_u64().unwrap() as usize,
            settings: j.clone(),
        })
        .collect()
}

/// `sweep status --format json`: state by job id.
pub fn states(file: &Path, cache: &Path) -> BTreeMap<String, (String, String)> {
    let out = ok(&["sweep", "status", file.to_str().unwrap(), "--format", "json"], cache);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    doc["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["id"].as_str().unwrap().to_string(),
                (
                    j["state"].as_str().unwrap().to_string(),
                    j["detail"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// A CSV file as (header, rows), with RFC 4180 quoting.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    let mut records = records.into_iter();
    let header = records.next().unwrap_or_default();
    (header, records.collect())
}

/// Two CSV cells hold the same value: equal text, or equal numbers however they are written
/// (`0` and `0.0`; polars and Rust print floats differently).
pub fn same_cell(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
        _ => false,
    }
}

/// Checks `<out>/merged/<merged_name>` against the per-job `<out>/jobs/<id>/<job_name>`: every
/// row carries its job's id and matrix values, and the rows of each job are exactly the rows of
/// its own table (same columns, same order). `jobs` are the jobs that must be in the table.
pub fn check_merged(out: &Path, merged_name: &str, job_name: &str, jobs: &[&PlannedJob]) {
    let (mh, mrows) = read_csv(&out.join("merged").join(merged_name));
    let keys = ["job_id", "model", "hardware", "space", "engine", "seed", "budget"];
    assert_eq!(&mh[..keys.len()], keys, "{merged_name} header");
    let mut total = 0;
    for job in jobs {
        let (jh, jrows) = read_csv(&out.join("jobs").join(&job.id).join(job_name));
        assert_eq!(&mh[keys.len()..], &jh[..], "{merged_name} columns after the keys");
        let mine: Vec<&Vec<String>> = mrows.iter().filter(|r| r[0] == job.id).collect();
        assert_eq!(mine.len(), jrows.len(), "rows of job {} in {merged_name}", job.id);
        assert!(!jrows.is_empty(), "job {} has an empty {job_name}", job.id);
        for (m, j) in mine.iter().zip(&jrows) {
            for key in &keys[1..] {
                let expected = match &job.settings[*key] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let c = mh.iter().position(|h| h == key).unwrap();
                assert_eq!(m[c], expected, "{key} of job {} in {merged_name}", job.id);
            }
            for (c, (a, b)) in m[keys.len()..].iter().zip(j).enumerate() {
                assert!(
                    same_cell(a, b),
                    "{merged_name}, job {}, column {}: merged `{a}`, job `{b}`",
                    job.id,
                    jh[c]
                );
            }
        }
        total += jrows.len();
    }
    assert_eq!(mrows.len(), total, "{merged_name} holds the finished jobs' rows and no others");
}
