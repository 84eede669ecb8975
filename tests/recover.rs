//! `sculpt apply --recover` and `sculpt search --recover` end to end on the bundled CNN, trained
//! on the bundled calibration subset so that the tests take seconds.

use std::path::Path;
use std::process::{Command, Output};

fn sculpt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run sculpt")
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "sculpt failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `sculpt evaluate --format json` of a model on the bundled evaluation subset: the accuracy.
fn accuracy(model: &Path) -> f64 {
    let o = ok(sculpt(&["evaluate", "--model", model.to_str().unwrap(), "--format", "json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["n_samples"], 2000);
    v["value"].as_f64().unwrap()
}

const CALIB: &str = "builtin:fashion-mnist-calib";

fn write_plan(dir: &Path, text: &str) -> String {
    let p = dir.join("plan.yaml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn apply_recover_writes_a_better_model_and_its_training_record() {
    let dir = tempfile::tempdir().unwrap();
    let plan =
        write_plan(dir.path(), "layers:\n  \"conv*\": {prune: {kind: channel, ratio: 0.5}}\n");
    let out = dir.path().join("ch50.safetensors");
    let o = ok(sculpt(&[
        "apply",
        "--plan",
        &plan,
        "--out",
        out.to_str().unwrap(),
        "--recover",
        "distill",
        "--epochs",
        "1",
        "--train-data",
        CALIB,
        "--held-out",
        "none",
        "--format",
        "json",
    ]));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(doc["file_bytes"].as_u64().unwrap() > 0);
    // 71.65 % without recovery (benches/README.md); one epoch on 412 images adds > 8 points.
    let acc = accuracy(&out);
    assert!(acc > 0.80, "accuracy after recovery {acc}");
    let csv = std::fs::read_to_string(dir.path().join("ch50.recovery.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "step,epoch,loss,train_accuracy,validation,seconds");
    assert_eq!(lines.len(), 2, "{csv}");
    // The provenance in the file records the recovery.
    let bytes = std::fs::read(&out).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8_lossy(&bytes[8..8 + header_len]);
    assert!(header.contains("distill") && header.contains("validation_after"), "{header}");
}

#[test]
fn progressive_writes_steps_and_a_chart() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "layers:\n  conv2: {prune: {kind: channel, ratio: 0.5}}\n");
    let out = dir.path().join("p.safetensors");
    let o = ok(sculpt(&[
        "apply",
        "--plan",
        &plan,
        "--out",
        out.to_str().unwrap(),
        "--recover",
        "finetune",
        "--epochs",
        "1",
        "--progressive",
        "2",
        "--train-data",
        CALIB,
    ]));
    assert!(stderr(&o).contains("step 2/2 done"), "{}", stderr(&o));
    let steps = std::fs::read_to_string(dir.path().join("p.steps.csv")).unwrap();
    assert_eq!(steps.lines().count(), 3, "{steps}");
    let epochs = std::fs::read_to_string(dir.path().join("p.recovery.csv")).unwrap();
    // One epoch in each of the two steps.
    let step_col: Vec<&str> =
        epochs.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(step_col, ["1", "2"]);
    let svg = std::fs::read_to_string(dir.path().join("p.steps.svg")).unwrap();
    assert!(svg.contains("after recovery"));
    assert!(dir.path().join("p.steps.png").is_file());
}

#[test]
fn bad_recovery_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "defaults:\n  quant: {weight_bits: 8}\n");
    let out = dir.path().join("x.safetensors");
    let run = |extra: &[&str]| {
        let mut args = vec!["apply", "--plan", &plan, "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = sculpt(&args);
        assert!(!o.status.success(), "{extra:?} should fail");
        stderr(&o)
    };
    let e = run(&["--recover", "prune"]);
    assert!(e.contains("unknown method `prune`; expected finetune, distill or qat"), "{e}");
    let e = run(&["--progressive", "3"]);
    assert!(e.contains("--progressive needs --recover"), "{e}");
    let e = run(&["--recover", "distill", "--alpha", "2", "--train-data", CALIB]);
    assert!(e.contains("alpha must be in [0, 1], got 2"), "{e}");
    let e = run(&["--recover", "finetune", "--train-data", "/nonexistent/train.idx"]);
    assert!(e.contains("/nonexistent/train.idx"), "{e}");
    assert!(!out.exists(), "a failed run must not leave a model behind");
}

#[test]
fn search_recover_reports_the_recovered_loss_of_the_chosen_plans() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = ok(Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args([
            "search",
            "--out",
            out.to_str().unwrap(),
            "--budget",
            "120",
            "--recover",
            "distill",
            "--recover-top",
            "1",
            "--recover-epochs",
            "1",
            "--recover-train-data",
            CALIB,
        ])
        .env("SCULPT_CACHE", dir.path().join("cache"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap());
    let text = std::fs::read_to_string(out.join("front.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let recovered: Vec<&Vec<&str>> =
        rows.iter().filter(|r| !r[col("accuracy_loss_recovered")].is_empty()).collect();
    assert_eq!(recovered.len(), 1, "{text}");
    // The one recovered plan is the front's most damaged one.
    let measured = |r: &Vec<&str>| r[col("accuracy_loss_measured")].parse::<f64>().unwrap();
    let worst = rows.iter().map(measured).fold(f64::MIN, f64::max);
    assert_eq!(measured(recovered[0]), worst);
    // The recovered model is written, and `sculpt evaluate` on the validation split (the whole
    // bundled evaluation subset here) gives baseline − accuracy_loss_recovered.
    let loss: f64 = recovered[0][col("accuracy_loss_recovered")].parse().unwrap();
    let models: Vec<_> = std::fs::read_dir(out.join("recovered")).unwrap().collect();
    assert_eq!(models.len(), 1);
    let model = models[0].as_ref().unwrap().path();
    let run_yaml = std::fs::read_to_string(out.join("run.yaml")).unwrap();
    let baseline: f64 = run_yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("metric_value:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!((baseline - accuracy(&model) - loss).abs() < 1e-9);
    assert!(run_yaml.contains("recovery: 1 front plan(s) trained back with distill"));
    let html = std::fs::read_to_string(out.join("report/index.html")).unwrap();
    assert!(html.contains("Loss after recovery"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("loss_recovered_pts"));
}
