//! End-to-end tests of the `sculpt` binary: the bundled demo, published figures through the
//! CLI, and every bad-input case of the foundation ending in one clear line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sculpt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sculpt")).args(args).output().expect("run sculpt")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = sculpt(args);
    assert!(
        out.status.success(),
        "sculpt {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// Runs a command that must fail and returns its one-line error.
fn fails(args: &[&str]) -> String {
    let out = sculpt(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "sculpt {args:?} succeeded");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_string()
}

fn check_fails(args: &[&str], expected: &[&str]) {
    let line = fails(args);
    for e in expected {
        assert!(line.contains(e), "{line:?} lacks {e:?}");
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn profile_json_of_the_demo_matches_hand_counts() {
    let doc = json(&["profile", "--format", "json"]);
    assert_eq!(doc["total"]["params"], 421_738);
    assert_eq!(doc["total"]["macs"], 28 * 28 * 32 * 9 + 14 * 14 * 64 * 32 * 9 + 3136 * 128 + 1280);
    let layers = doc["layers"].as_array().unwrap();
    assert_eq!(layers[0]["name"], "conv1");
    assert_eq!(layers[0]["kind"], "conv2d");
    assert_eq!(layers[0]["weight_bytes"], 4 * 288);
    for key in
        ["name", "kind", "params", "macs", "weight_bytes", "activation_bytes", "output_shape"]
    {
        assert!(layers.iter().all(|l| l.get(key).is_some()), "{key}");
    }
}

#[test]
fn profile_of_mobilenet_v2_and_minilm_through_the_cli() {
    let doc = json(&["profile", "--model", "builtin:mobilenet_v2", "--format", "json"]);
    assert_eq!(doc["total"]["params"], 3_504_872);
    let macs = doc["total"]["macs"].as_u64().unwrap();
    assert!((297_000_000..303_000_000).contains(&macs), "{macs}");
    let doc =
        json(&["profile", "--model", "builtin:bert-minilm", "--format", "json", "--tokens", "16"]);
    assert_eq!(doc["total"]["params"], 22_713_216);
}

#[test]
fn profile_csv_has_one_row_per_layer() {
    let out =
        sculpt(&["profile", "--model", "builtin:demo-mlp", "--format", "csv", "--batch", "4"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "name,kind,input,output,params,macs,weight_bytes,activation_bytes");
    // flatten, fc1, relu1, fc2, relu2, classifier.
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[2], "fc1,linear,4x784,4x256,200960,802816,803840,4096");
}

#[test]
fn evaluate_demo_models_on_the_bundled_subset() {
    let doc = json(&["evaluate", "--format", "json"]);
    assert_eq!(doc["metric"], "accuracy");
    assert_eq!(doc["n_samples"], 2000);
    let acc = doc["value"].as_f64().unwrap();
    assert!(acc >= 0.89, "demo-cnn accuracy {acc}");
    let doc = json(&["evaluate", "--model", "builtin:demo-mlp", "--format", "json"]);
    assert!(doc["value"].as_f64().unwrap() >= 0.85);
}

#[test]
fn demo_cnn_reaches_89_percent_on_the_full_test_set() {
    if !Path::new("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").exists() {
        assert!(
            std::env::var_os("SCULPT_REQUIRE_FIXTURES").is_none(),
            "dataset-fashion-mnist is not installed"
        );
        eprintln!("skipped: install dataset-fashion-mnist");
        return;
    }
    let doc = json(&["evaluate", "--data", "fashion-mnist:test", "--format", "json"]);
    assert_eq!(doc["n_samples"], 10_000);
    assert!(doc["value"].as_f64().unwrap() >= 0.89, "{}", doc["value"]);
    // The same file through the IDX path reader gives the same number.
    let doc2 = json(&[
        "evaluate",
        "--data",
        "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
        "--format",
        "json",
    ]);
    assert_eq!(doc["value"], doc2["value"]);
}

#[test]
fn evaluate_a_spec_file_and_a_weights_file_with_its_spec() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("cnn.yaml");
    std::fs::copy(repo().join("models/demo-cnn.safetensors"), dir.path().join("w.safetensors"))
        .unwrap();
    std::fs::write(&spec, format!("{}weights: w.safetensors\n", sculpt_model_spec())).unwrap();
    let a = json(&["evaluate", "--model", spec.to_str().unwrap(), "--format", "json"]);
    let b = json(&["evaluate", "--model", "models/demo-cnn.safetensors", "--format", "json"]);
    let c = json(&["evaluate", "--format", "json"]);
    assert_eq!(a["value"], c["value"]);
    assert_eq!(b["value"], c["value"]);
}

fn sculpt_model_spec() -> &'static str {
    "arch: cnn\ninput: {channels: 1, height: 28, width: 28, mean: [0.2860], std: [0.3530]}\n\
     channels: [32, 64]\nkernel: 3\nbatch_norm: true\nhidden: [128]\nclasses: 10\n"
}

#[test]
fn bad_models_end_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();

    check_fails(
        &["profile", "--model", "/no/such/model.yaml"],
        &["/no/such/model.yaml", "No such file"],
    );
    check_fails(&["profile", "--model", "builtin:resnet"], &["builtin:resnet", "builtin:demo-cnn"]);

    std::fs::write(d.join("arch.yaml"), "arch: resnet50\nclasses: 10\n").unwrap();
    check_fails(
        &["profile", "--model", &p("arch.yaml")],
        &["arch.yaml:1:7", "key `arch`", "unknown variant `resnet50`"],
    );

    std::fs::write(d.join("key.yaml"), "arch: mlp\ninput: {features: 4}\nclasses: 3\nlayerz: 2\n")
        .unwrap();
    check_fails(
        &["profile", "--model", &p("key.yaml")],
        &["key.yaml:4:1", "unknown field `layerz`"],
    );

    // A weights file lacking a tensor: the spec asks for a wider classifier head.
    let w = repo().join("models/demo-mlp.safetensors");
    std::fs::copy(&w, d.join("mlp.safetensors")).unwrap();
    std::fs::write(
        d.join("missing.yaml"),
        "arch: mlp\nweights: mlp.safetensors\ninput: {channels: 1, height: 28, width: 28}\nhidden: [256, 128, 64]\nclasses: 10\n",
    )
    .unwrap();
    check_fails(
        &["profile", "--model", &p("missing.yaml")],
        &["mlp.safetensors", "tensor `fc3.weight`", "[64, 128]"],
    );
    std::fs::write(
        d.join("shape.yaml"),
        "arch: mlp\nweights: mlp.safetensors\ninput: {channels: 1, height: 28, width: 28}\nhidden: [200, 128]\nclasses: 10\n",
    )
    .unwrap();
    check_fails(
        &["profile", "--model", &p("shape.yaml")],
        &["mlp.safetensors", "tensor `fc1.weight` has shape [256, 784], expected [200, 784]"],
    );

    // Truncated and corrupt safetensors files.
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(d.join("trunc.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    check_fails(
        &["evaluate", "--model", &p("trunc.safetensors")],
        &["trunc.safetensors", "not a valid safetensors file"],
    );
    std::fs::write(d.join("junk.safetensors"), b"\x05\x00\x00\x00\x00\x00\x00\x00{oops").unwrap();
    check_fails(
        &["evaluate", "--model", &p("junk.safetensors")],
        &["junk.safetensors", "not a valid safetensors file"],
    );
}

#[test]
fn bad_data_ends_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();
    check_fails(
        &["evaluate", "--data", "/no/such/images-idx3-ubyte"],
        &["/no/such/images-idx3-ubyte"],
    );
    std::fs::write(d.join("bad-images-idx3-ubyte"), b"\x00\x00\x08\x03\x00\x00").unwrap();
    check_fails(
        &["evaluate", "--data", &p("bad-images-idx3-ubyte")],
        &["bad-images-idx3-ubyte", "IDX header is truncated"],
    );
    std::fs::write(d.join("gif-images-idx3-ubyte"), b"GIF89a").unwrap();
    check_fails(&["evaluate", "--data", &p("gif-images-idx3-ubyte")], &["not an IDX file"]);
    // Images of the wrong size for the model.
    let mut idx = vec![0u8, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 8];
    idx.extend(std::iter::repeat_n(0u8, 64));
    std::fs::write(d.join("small-images-idx3-ubyte"), &idx).unwrap();
    std::fs::write(d.join("small-labels-idx1-ubyte"), [0u8, 0, 8, 1, 0, 0, 0, 1, 3]).unwrap();
    check_fails(
        &["evaluate", "--data", &p("small-images-idx3-ubyte")],
        &["shape [1, 1, 8, 8]", "[N, 1, 28, 28]"],
    );
    // Labels out of range.
    let mut idx = vec![0u8, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28];
    idx.extend(std::iter::repeat_n(0u8, 784));
    std::fs::write(d.join("big-images-idx3-ubyte"), &idx).unwrap();
    std::fs::write(d.join("big-labels-idx1-ubyte"), [0u8, 0, 8, 1, 0, 0, 0, 1, 12]).unwrap();
    check_fails(&["evaluate", "--data", &p("big-images-idx3-ubyte")], &["label 12", "10 classes"]);
}

/// `sculpt calibrate` (small settings): the fitted profile loads and is what `estimate` uses, the
/// lookup table holds one row per timed layer, and the validation file one row per plan, with
/// the measured time of each plan's real forward pass.
#[test]
fn calibrate_writes_a_loadable_profile_its_lookup_table_and_validation_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("host.yaml");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args(["calibrate", "--out", out.to_str().unwrap()])
        .args(["--reps", "3", "--kernel-plans", "2", "--validate-plans", "2"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("end-to-end, 4 held-out random plans"), "{stdout}");
    let lookup = std::fs::read_to_string(dir.path().join("host.lookup.csv")).unwrap();
    assert_eq!(
        lookup.lines().next().unwrap(),
        "kind,precision,sparsity,m,n,k,groups,macs,latency_s,energy_j"
    );
    // 2 plans of demo-cnn: at least its 4 Conv/Linear layers each, so 8 rows or more, every
    // latency positive.
    let rows: Vec<&str> = lookup.lines().skip(1).collect();
    assert!(rows.len() >= 8, "{lookup}");
    for r in &rows {
        let latency: f64 = r.split(',').nth(8).unwrap().parse().unwrap();
        assert!(latency > 0.0 && latency < 1.0, "{r}");
    }
    let validation = std::fs::read_to_string(dir.path().join("host.validation.csv")).unwrap();
    let v: Vec<&str> = validation.lines().collect();
    assert_eq!(v[0], "model,plan,predicted_s,measured_s");
    assert_eq!(v.len(), 5, "{validation}");
    // The fitted profile is a valid profile that names its table.
    let yaml = std::fs::read_to_string(&out).unwrap();
    assert!(yaml.contains("path: host.lookup.csv"), "{yaml}");
    // The header says how many threads the timings ran on (they hold for that setting only).
    assert!(
        yaml.lines().any(|l| l.starts_with("# Timed with ") && l.contains("candle thread(s)")),
        "{yaml}"
    );
    let e = std::process::Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args(["estimate", "--hardware", out.to_str().unwrap(), "--format", "json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    assert!(doc["total"]["latency_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn estimate_costs_activation_quantization_without_data() {
    // MobileNetV2 (random weights) fits no bundled data; costs do not depend on activation
    // ranges, so a plan with int8 activations is costed anyway.
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("act8.yaml");
    std::fs::write(&plan, "defaults: {quant: {weight_bits: 8, act_bits: 8}}\n").unwrap();
    let tpu = repo().join("hardware-profiles/tpu-like.yaml");
    let doc = json(&[
        "estimate",
        "--model",
        "builtin:mobilenet_v2",
        "--plan",
        plan.to_str().unwrap(),
        "--hardware",
        tpu.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let fp32 = json(&[
        "estimate",
        "--model",
        "builtin:mobilenet_v2",
        "--hardware",
        tpu.to_str().unwrap(),
        "--format",
        "json",
    ]);
    // int8 weights store a quarter of the fp32 bytes, plus per-channel scales.
    let w8 = doc["total"]["weight_bytes"].as_f64().unwrap();
    let w32 = fp32["total"]["weight_bytes"].as_f64().unwrap();
    assert!(w8 > w32 / 4.0 && w8 < w32 / 4.0 * 1.05, "{w8} vs {w32}");
}

#[test]
fn a_model_larger_than_memory_is_refused_before_it_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("huge.yaml");
    // fc1 alone holds 10^10 weights (40 GB at fp32).
    std::fs::write(&spec, "arch: mlp\ninput: {features: 100000}\nhidden: [100000]\nclasses: 10\n")
        .unwrap();
    check_fails(
        &["profile", "--model", spec.to_str().unwrap()],
        &["need 40.0 GB at fp32 by layer `fc1`", "of memory available"],
    );
}

#[test]
fn unwritable_outputs_say_what_was_written_where_once() {
    let dir = tempfile::tempdir().unwrap();
    let plan = repo().join("reports/demo/plans/front-000.yaml");
    let missing = dir.path().join("no/such/folder");
    let out = missing.join("model.safetensors");
    let line = fails(&["apply", "--plan", plan.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(line.starts_with("error: cannot write the compressed model: "), "{line}");
    assert_eq!(line.matches("No such file or directory").count(), 1, "{line}");
    // A search fails before its sensitivity pass, after one progress line.
    let o = sculpt(&["search", "--budget", "5", "--out", "/proc/sculpt-run"]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("sensitivity"), "{stderr}");
    let line = stderr.lines().last().unwrap_or("");
    assert!(line.starts_with("error: cannot create the run directory /proc/sculpt-run"), "{line}");
    assert_eq!(line.matches("(os error").count(), 1, "{line}");
}

#[test]
fn a_search_without_a_terminal_logs_its_progress() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args(["search", "--budget", "60", "--validation-samples", "200", "--no-cache"])
        .args(["--out", out.to_str().unwrap()])
        .current_dir(repo())
        .env("SCULPT_PROGRESS_EVERY_S", "0")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = String::from_utf8_lossy(&o.stderr);
    for stage in
        ["cost tables", "per-layer sensitivity", "searching with nsga2", "re-evaluating the front"]
    {
        assert!(log.lines().any(|l| l == stage), "no `{stage}` line in:\n{log}");
    }
    // With a period of 0 every update is a line: counts, then the rate and the time left.
    assert!(log.contains("sensitivity: 1/18 (6 %)"), "{log}");
    assert!(log.lines().any(|l| l.starts_with("sensitivity: 18/18 (100 %), ")), "{log}");
    assert!(
        log.lines().any(|l| l.starts_with("sensitivity: 2/18 (11 %), ") && l.contains(" left")),
        "{log}"
    );
    assert!(log.lines().any(|l| l.starts_with("search: ") && l.contains("front ")), "{log}");
}

#[test]
fn groups_of_the_demo_cnn_and_mobilenet() {
    let doc = json(&["groups", "--model", "builtin:demo-cnn", "--format", "json"]);
    let groups = doc["groups"].as_array().unwrap();
    let summary: Vec<(String, u64, bool)> = groups
        .iter()
        .map(|g| {
            (
                g["group"].as_str().unwrap().to_string(),
                g["channels"].as_u64().unwrap(),
                g["prunable"].as_bool().unwrap(),
            )
        })
        .collect();
    let expect = |n: &str, c: u64, p: bool| (n.to_string(), c, p);
    assert_eq!(
        summary,
        [
            expect("conv1", 32, true),
            expect("conv2", 64, true),
            expect("fc1", 128, true),
            expect("classifier", 10, false)
        ]
    );
    // conv2's channels reach fc1 through the flatten (49 features each).
    assert_eq!(groups[1]["members"], serde_json::json!(["conv2", "bn2", "fc1"]));
    // MobileNetV2: every group prunes, residual stages included, except the classifier's.
    let doc = json(&["groups", "--model", "builtin:mobilenet_v2", "--format", "json"]);
    let groups = doc["groups"].as_array().unwrap();
    let blocked: Vec<&str> = groups
        .iter()
        .filter(|g| !g["prunable"].as_bool().unwrap())
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(blocked, ["classifier.1"]);
    let stage = groups.iter().find(|g| g["group"] == "features.2.conv.2+1").unwrap();
    assert_eq!(stage["producers"], serde_json::json!(["features.2.conv.2", "features.3.conv.2"]));
}
