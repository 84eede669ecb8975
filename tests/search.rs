//! End-to-end tests of `sculpt search` on the bundled demo.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sculpt(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sculpt"));
    c.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run sculpt")
}

fn search(out: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let cache = out.with_extension("cache");
    let mut args = vec!["search", "--out", out.to_str().unwrap(), "--validation-samples", "500"];
    if !extra.contains(&"--budget") {
        args.extend_from_slice(&["--budget", "150"]);
    }
    args.extend_from_slice(extra);
    let mut envs = envs.to_vec();
    envs.push(("SCULPT_CACHE", cache.to_str().unwrap()));
    let o = sculpt(&args, &envs);
    assert!(o.status.success(), "search failed: {}", String::from_utf8_lossy(&o.stderr));
    o
}

fn csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines.map(|l| l.split(',').map(String::from).collect()).collect();
    (header, rows)
}

fn col(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

#[test]
fn default_search_writes_the_documented_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    search(&out, &[], &[]);
    for f in [
        "run.yaml",
        "front.csv",
        "candidates.csv",
        "candidates.parquet",
        "front.parquet",
        "tables/costs.csv",
        "tables/sensitivity.csv",
        "tables/convergence.csv",
        "tables/layers.csv",
        "report/index.html",
        "report/report.md",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let (h, rows) = csv(&out.join("candidates.csv"));
    for c in [
        "plan_id",
        "accuracy_loss",
        "accuracy_loss_measured",
        "latency_s",
        "energy_j",
        "size_bytes",
        "feasible",
    ] {
        col(&h, c);
    }
    assert!(!rows.is_empty() && rows.len() <= 150);
    let (h, rows) = csv(&out.join("tables/sensitivity.csv"));
    assert_eq!(&h[..4], ["layer", "option_id", "option", "delta"]);
    // The identity option of every layer has zero delta.
    assert!(rows.iter().filter(|r| r[1] == "0").all(|r| r[3].parse::<f64>().unwrap() == 0.0));
    let (h, _) = csv(&out.join("tables/costs.csv"));
    assert_eq!(&h[..6], ["layer", "option_id", "option", "latency_s", "energy_j", "bytes"]);
    // Every front plan applies and its measured loss matches an independent evaluation.
    let (h, front) = csv(&out.join("front.csv"));
    assert!(!front.is_empty());
    let run_yaml = std::fs::read_to_string(out.join("run.yaml")).unwrap();
    assert!(run_yaml.contains("format_version: 1") && run_yaml.contains("engine: nsga2"));
    let row = &front[front.len() - 1];
    let plan = out.join(&row[col(&h, "plan_file")]);
    let model = dir.path().join("c.safetensors");
    let o =
        sculpt(&["apply", "--plan", plan.to_str().unwrap(), "--out", model.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = sculpt(&["evaluate", "--model", model.to_str().unwrap(), "--format", "json"], &[]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let base = sculpt(&["evaluate", "--format", "json"], &[]);
    let base: serde_json::Value = serde_json::from_slice(&base.stdout).unwrap();
    // The run validated on the first 500 of the 2,000 bundled images; evaluate uses all 2,000, so
    // compare loosely: the measured loss is within 3 points of the full-set loss.
    let measured: f64 = row[col(&h, "accuracy_loss_measured")].parse().unwrap();
    let full = base["value"].as_f64().unwrap() - doc["value"].as_f64().unwrap();
    assert!((measured - full).abs() < 0.03, "{measured} vs {full}");
}

#[test]
fn same_seed_same_front_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    search(&a, &["--seed", "7"], &[("RAYON_NUM_THREADS", "1")]);
    search(&b, &["--seed", "7"], &[("RAYON_NUM_THREADS", "2")]);
    let (_, fa) = csv(&a.join("front.csv"));
    let (_, fb) = csv(&b.join("front.csv"));
    assert_eq!(fa, fb);
    let (_, ca) = csv(&a.join("candidates.csv"));
    let (_, cb) = csv(&b.join("candidates.csv"));
    assert_eq!(ca, cb);
}

#[test]
fn exact_front_equals_exhaustive_enumeration_on_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let exact = dir.path().join("exact");
    let all = dir.path().join("all");
    search(&exact, &["--engine", "exact", "--budget", "100000"], &[]);
    search(&all, &["--engine", "exhaustive", "--budget", "100000"], &[]);
    let key = |p: &PathBuf| {
        let (h, rows) = csv(&p.join("front.csv"));
        let (a, l) = (col(&h, "accuracy_loss"), col(&h, "latency_s"));
        let mut v: Vec<(String, String)> =
            rows.iter().map(|r| (r[a].clone(), r[l].clone())).collect();
        v.sort();
        v
    };
    assert_eq!(key(&exact), key(&all));
    // Exhaustive really enumerated the whole space.
    let (_, rows) = csv(&all.join("candidates.csv"));
    let run = std::fs::read_to_string(all.join("run.yaml")).unwrap();
    let size: f64 =
        run.lines().find_map(|l| l.strip_prefix("space_size: ")).unwrap().trim().parse().unwrap();
    assert_eq!(rows.len() as f64, size);
}

#[test]
fn impossible_constraints_still_write_the_closest_plans_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = search(&out, &["--max-latency-s", "1e-9"], &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("NO plan meets the constraints"), "{stdout}");
    let (h, front) = csv(&out.join("front.csv"));
    assert!(!front.is_empty());
    assert!(front.iter().all(|r| r[col(&h, "feasible")] == "false" && r[col(&h, "violated")] == "max_latency_s"));

    // front.csv holds the plans closest to the limits, each with its real violation (the summed
    // relative excess of its latency over 1e-9 s and its size over 1000 B, recomputed here from
    // its columns), not 0/1.
    let out = dir.path().join("run2");
    search(&out, &["--max-latency-s", "1e-9", "--max-size-bytes", "1000"], &[]);
    let run = sculpt_run::read_run(&out).unwrap();
    let plans = run.front_plans();
    assert_eq!(plans.len(), 5);
    for p in plans {
        let expected = (p.latency_s - 1e-9) / 1e-9 + (p.size_bytes - 1000.0) / 1000.0;
        assert!((p.violation - expected).abs() <= 1e-9 * expected, "{} vs {expected}", p.violation);
        assert_eq!(p.violated, ["max_latency_s", "max_size_bytes"]);
    }
    assert!(plans[0].violation < plans[4].violation, "violations differ");
    // No evaluated plan is closer than the closest one listed.
    let least = run.candidates.rows().unwrap().iter().map(|p| p.violation).fold(f64::MAX, f64::min);
    assert_eq!(least, plans[0].violation);
    // The report lists them closest first.
    let summary = sculpt_report::summarize(&run);
    let mut by_violation: Vec<_> = plans.to_vec();
    by_violation.sort_by(|a, b| a.violation.total_cmp(&b.violation));
    let ids = |v: &[sculpt_run::PlanRow]| v.iter().map(|p| p.plan_id).collect::<Vec<_>>();
    assert_eq!(ids(&summary.closest), ids(&by_violation));
}

#[test]
fn bad_search_input_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let check = |args: &[&str], expected: &str| {
        let mut a = vec!["search", "--out", out.to_str().unwrap()];
        a.extend_from_slice(args);
        let o = sculpt(&a, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(err.lines().last().unwrap_or("").contains(expected), "{err}");
        assert!(!err.contains("panicked"));
    };
    // clap names the flag and the engines it takes.
    let o = sculpt(&["search", "--out", out.to_str().unwrap(), "--engine", "annealing"], &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("invalid value 'annealing' for '--engine <ENGINE>'"), "{err}");
    assert!(err.contains("[possible values: nsga2, bayes, exact, random, exhaustive]"), "{err}");
    check(&["--space", "/no/space.yaml"], "/no/space.yaml");
    let space = dir.path().join("s.yaml");
    std::fs::write(&space, "rules:\n  - match: {kind: [conv2d]}\n    options: {quant: [{weight_bits: 8}], colour: red}\n").unwrap();
    check(&["--space", space.to_str().unwrap()], "s.yaml:3");
    // The default proxy falls back to data-free (tests/onnx.rs); an explicit table proxy cannot.
    check(&["--model", "builtin:mobilenet_v2", "--proxy", "table"], "give --data");
}

#[test]
fn data_free_and_full_proxies_are_labelled_in_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let df = dir.path().join("df");
    // MobileNetV2 with random weights has no data at all: only the data-free proxy can search it.
    search(
        &df,
        &["--model", "builtin:mobilenet_v2", "--proxy", "data-free", "--budget", "100"],
        &[],
    );
    let (h, rows) = csv(&df.join("candidates.csv"));
    assert!(rows.iter().all(|r| r[col(&h, "accuracy_source")] == "data-free"));
    assert!(rows.iter().all(|r| r[col(&h, "accuracy_loss_measured")].is_empty()));
    let run = std::fs::read_to_string(df.join("run.yaml")).unwrap();
    assert!(run.contains("proxy: data-free") && run.contains("metric: weight_error"), "{run}");
    let full = dir.path().join("full");
    search(&full, &["--proxy", "full", "--engine", "bayes", "--budget", "20"], &[]);
    let (h, rows) = csv(&full.join("candidates.csv"));
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r[col(&h, "accuracy_source")] == "measured"));
    let o = sculpt(
        &["search", "--proxy", "full", "--engine", "exact", "--out", full.to_str().unwrap()],
        &[],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("the exact engine needs additive tables"));
}

/// On a device that runs int8 operators only, layers the space keeps at fp32 run at int8 and
/// the baseline is the all-int8 model; both are said in the notes.
#[test]
fn an_int8_only_device_searches_with_an_int8_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    search(&out, &["--hardware", "hardware-profiles/edge-npu-int8.yaml", "--budget", "60"], &[]);
    let run_yaml = std::fs::read_to_string(out.join("run.yaml")).unwrap();
    assert!(run_yaml.contains("cannot run the uncompressed model"), "{run_yaml}");
    assert!(
        run_yaml.contains(
            "classifier): device `edge-npu-int8` rejects fp32, so the layer runs at int8"
        )
    );
    // Baseline size: 421,738 parameters at one byte each plus per-channel scales and the float
    // biases and BatchNorm entries, so within 2 % above 421,738 bytes (fp32 would be 1,687,720).
    let size: f64 = run_yaml
        .lines()
        .skip_while(|l| !l.starts_with("baseline:"))
        .find_map(|l| l.trim().strip_prefix("size_bytes:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!((421_738.0..421_738.0 * 1.02).contains(&size), "baseline size {size}");
    // Every front plan stores the classifier at int8.
    for entry in std::fs::read_dir(out.join("plans")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let after = text.split("  classifier:").nth(1).expect("classifier in every plan");
        assert!(after.trim_start().starts_with("quant:\n      weight_bits: 8"), "{text}");
    }
}
