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

/// The fixtures venv's Python (with onnx and onnxruntime), or `None` (skipped) without it.
fn venv_python() -> Option<PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".fixtures/venv/bin/python");
    if python.is_file() {
        return Some(python);
    }
    assert!(std::env::var_os("SCULPT_REQUIRE_FIXTURES").is_none(), "no fixtures venv");
    eprintln!("skipped: run scripts/fetch-fixtures.sh");
    None
}

/// `sculpt calibrate --runner` against a made-up device whose latencies are known by hand
/// (tests/fixtures/fake_runner.py: 5 µs per call plus a fixed cost per ONNX node type): each
/// layer's share, found by timing prefixes, is the cost of the nodes the layer exports to, the
/// empty model's time becomes the per-inference overhead, and the fitted profile predicts
/// held-out plans to within the few helper nodes that belong to no costed layer.
#[test]
fn calibrate_through_a_runner_recovers_per_layer_costs_known_by_hand() {
    let Some(python) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("made-up.yaml");
    let runner = format!("{} tests/fixtures/fake_runner.py", python.display());
    let stdout = ok(&[
        "calibrate",
        "--runner",
        &runner,
        "--out",
        out.to_str().unwrap(),
        "--models",
        "builtin:demo-cnn",
        "--kernel-plans",
        "10",
        "--validate-plans",
        "8",
        "--reps",
        "1",
        "--repeat",
        "2",
        "--warmup",
        "0",
    ]);
    assert!(stdout.contains("end-to-end, 8 held-out random plans"), "{stdout}");
    let yaml = std::fs::read_to_string(&out).unwrap();
    assert!(yaml.contains("name: made-up"), "{yaml}");
    assert!(!yaml.contains("runtime:"), "a runner's profile names no runtime: {yaml}");
    // Empty model: 5 µs + Sub, Div (normalisation) + Identity (output), 0.5 µs each.
    assert!(yaml.contains("per_inference_us: 6.500"), "{yaml}");
    let table = std::fs::read_to_string(dir.path().join("made-up.lookup.csv")).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for row in table.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        let us = cells[8].parse::<f64>().unwrap() * 1e6;
        // Conv 20 + BatchNorm 4 (its share goes to the conv it folds into) at fp32; with
        // integer weights the export folds the BatchNorm itself and adds a DequantizeLinear (3),
        // and a Reshape (0.5) after the per-group ones (int4 in blocks of 32, when a row,
        // k = c_in·kh·kw, is longer than a block); Relu 1; MaxPool 4.
        let k: usize = cells[5].parse().unwrap_or(0);
        let expected = match (cells[0], cells[1]) {
            ("conv2d", "fp32") => 24.0,
            ("conv2d", "int8") => 23.0,
            ("conv2d", "int4") if k > 32 => 23.5,
            ("conv2d", "int4") => 23.0,
            ("activation", _) => 1.0,
            ("pool", _) => 4.0,
            _ => continue,
        };
        assert!((us - expected).abs() < 1e-6, "{row}: {us} µs, expected {expected}");
        kinds.insert(format!("{}/{}", cells[0], cells[1]));
    }
    for k in ["conv2d/fp32", "conv2d/int8", "conv2d/int4", "activation/fp32", "pool/fp32"] {
        assert!(kinds.contains(k), "no {k} row in\n{table}");
    }
    let validation = std::fs::read_to_string(dir.path().join("made-up.validation.csv")).unwrap();
    let rows: Vec<&str> = validation.lines().skip(1).collect();
    assert_eq!(rows.len(), 8, "{validation}");
    for row in rows {
        let cells: Vec<f64> = row.split(',').skip(2).map(|c| c.parse().unwrap()).collect();
        let (predicted, measured) = (cells[0], cells[1]);
        // Flatten (0.5 µs) has no costed workload; the rest is exact.
        assert!(
            (predicted - measured).abs() <= 0.6e-6,
            "{row}: predicted {predicted}, measured {measured}"
        );
    }
}

/// The made-up device's latency of an ONNX file, seconds (tests/fixtures/fake_runner.py's rule,
/// computed here by counting the file's nodes with the `onnx` package).
fn made_up_latency_s(python: &Path, file: &Path) -> f64 {
    let script = "import onnx, sys\n\
        c = {'Conv': 20, 'Gemm': 12, 'MatMul': 12, 'DequantizeLinear': 3, 'QuantizeLinear': 2,\n\
             'BatchNormalization': 4, 'Relu': 1, 'MaxPool': 4}\n\
        m = onnx.load(sys.argv[1])\n\
        print((5 + sum(c.get(n.op_type, 0.5) for n in m.graph.node)) * 1e-6)\n";
    let out = Command::new(python).args(["-c", script]).arg(file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// `sculpt search --measure-front R`: every front plan is exported and timed through the runner,
/// and front.csv holds that time as the measured latency (checked against the made-up device's
/// cost of each plan's own `sculpt apply --out x.onnx` export).
#[test]
fn search_measures_its_front_through_a_runner() {
    let Some(python) = venv_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let runner = format!("{} tests/fixtures/fake_runner.py", python.display());
    ok(&[
        "search",
        "--proxy",
        "data-free",
        "--hardware",
        "tpu-like",
        "--budget",
        "200",
        "--no-cache",
        "--out",
        run.to_str().unwrap(),
        "--measure-front",
        &runner,
        "--warmup",
        "0",
        "--repeat",
        "1",
    ]);
    let run_yaml = std::fs::read_to_string(run.join("run.yaml")).unwrap();
    assert!(run_yaml.contains("timed through the runner"), "{run_yaml}");
    let front = std::fs::read_to_string(run.join("front.csv")).unwrap();
    let mut lines = front.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut distinct = std::collections::BTreeSet::new();
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[col("latency_source")], "measured", "{line}");
        let measured: f64 = cells[col("latency_s_measured")].parse().unwrap();
        let plan = run.join(cells[col("plan_file")]);
        let onnx = tmp.path().join(format!("plan-{i}.onnx"));
        ok(&["apply", "--plan", plan.to_str().unwrap(), "--out", onnx.to_str().unwrap()]);
        let expected = made_up_latency_s(&python, &onnx);
        assert!((measured - expected).abs() < 1e-9, "{line}: {measured} vs {expected}");
        distinct.insert((expected * 1e9) as u64);
    }
    // The front differs in what its plans export to (integer weights add DequantizeLinear nodes).
    assert!(distinct.len() > 1, "{front}");
}
