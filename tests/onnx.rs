//! ONNX models end to end through the `sculpt` binary: search on the TPU-like profile, apply a
//! front plan, evaluate the compressed model. The models and their evaluation data (labelled
//! with onnxruntime's top-1 class, so accuracy is agreement with onnxruntime) come from
//! scripts/fetch-fixtures.sh.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sculpt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run sculpt")
}

fn ok(args: &[&str]) -> String {
    let out = sculpt(args);
    assert!(
        out.status.success(),
        "sculpt {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn models() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".fixtures/onnx");
    if dir.join("demo-cnn.onnx").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("SCULPT_REQUIRE_FIXTURES").is_none(),
        "{} missing; run scripts/fetch-fixtures.sh",
        dir.display()
    );
    eprintln!("skipped: run scripts/fetch-fixtures.sh");
    None
}

/// The model argument: the sidecar when there is one, else the bare ONNX file.
fn model_arg(dir: &Path, name: &str) -> String {
    let sidecar = dir.join(format!("{name}.yaml"));
    let path = if sidecar.is_file() { sidecar } else { dir.join(format!("{name}.onnx")) };
    path.to_str().unwrap().to_string()
}

/// `sculpt evaluate --format json`'s value.
fn evaluate(model: &str, data: Option<&str>) -> f64 {
    let mut args = vec!["evaluate", "--model", model, "--format", "json"];
    if let Some(d) = data {
        args.extend(["--data", d]);
    }
    let doc: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    doc["value"].as_f64().unwrap()
}

/// Searches `name` on tpu-like, applies the front's lowest-loss plan and returns the compressed
/// model's metric on `eval` (and the run's notes).
fn search_apply_evaluate(
    name: &str,
    data: Option<&str>,
    eval: Option<&str>,
    budget: &str,
) -> Option<(f64, String)> {
    let dir = models()?;
    let model = model_arg(&dir, name);
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut args = vec![
        "search",
        "--model",
        &model,
        "--hardware",
        "tpu-like",
        "--budget",
        budget,
        "--out",
        run.to_str().unwrap(),
    ];
    if let Some(d) = data {
        args.extend(["--data", d]);
    }
    ok(&args);
    let run_yaml = std::fs::read_to_string(run.join("run.yaml")).unwrap();
    let plan = run.join("plans/front-000.yaml");
    let out = tmp.path().join("compressed.safetensors");
    let mut args = vec![
        "apply",
        "--model",
        &model,
        "--plan",
        plan.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    if let Some(d) = data {
        args.extend(["--data", d]);
    }
    ok(&args);
    Some((evaluate(out.to_str().unwrap(), eval), run_yaml))
}

fn eval_file(name: &str) -> Option<String> {
    let path = models()?.join(format!("{name}.eval.safetensors"));
    Some(path.to_str().unwrap().to_string())
}

#[test]
fn imported_classifiers_agree_with_onnxruntime_on_every_evaluation_image() {
    let Some(dir) = models() else { return };
    for name in ["resnet", "zoo", "ops", "vit", "mobilenet_v2"] {
        let data = eval_file(name).unwrap();
        let agreement = evaluate(&model_arg(&dir, name), Some(&data));
        assert_eq!(agreement, 1.0, "{name}");
    }
    // The demo CNN's accuracy on the bundled subset is the built-in model's, to the sample.
    assert_eq!(evaluate(&model_arg(&dir, "demo-cnn"), None), evaluate("builtin:demo-cnn", None));
}

#[test]
fn demo_cnn_onnx_search_apply_evaluate() {
    let Some((accuracy, _)) = search_apply_evaluate("demo-cnn", None, None, "300") else {
        return;
    };
    // The front's first plan loses little of the 0.928 baseline.
    assert!(accuracy > 0.9, "{accuracy}");
}

#[test]
fn resnet_vit_and_operator_models_search_apply_evaluate() {
    for name in ["resnet", "vit", "zoo", "ops"] {
        let Some(data) = eval_file(name) else { return };
        let (agreement, _) = search_apply_evaluate(name, Some(&data), Some(&data), "150").unwrap();
        assert!(agreement > 0.8, "{name}: {agreement}");
    }
}

#[test]
fn mobilenet_and_minilm_search_without_data() {
    // Without --data the search falls back to the data-free proxy and says so.
    let Some(data) = eval_file("mobilenet_v2") else { return };
    let (agreement, run) = search_apply_evaluate("mobilenet_v2", None, Some(&data), "100").unwrap();
    assert!(run.contains("data-free proxy"), "{run}");
    assert!(agreement > 0.5, "{agreement}");
    let (spearman, _) =
        search_apply_evaluate("minilm", None, Some("tests/fixtures/pairs.tsv"), "100").unwrap();
    assert!(spearman > 0.8, "{spearman}");
}

#[test]
fn a_broken_onnx_file_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.onnx");
    std::fs::write(&bad, b"\x08\x07\x12\xff\xff").unwrap();
    let out = sculpt(&["profile", "--model", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains("bad.onnx"), "{stderr}");
    assert!(lines[0].contains("not an ONNX model"), "{stderr}");
}
