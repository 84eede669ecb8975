//! ONNX export checked against onnxruntime (PyPI, in the venv scripts/fetch-fixtures.sh makes),
//! through the shipped runner `scripts/runners/onnxruntime.py`: every compression the plan
//! format offers is exported, run by onnxruntime on the bundled evaluation images, and compared
//! with sculpt's own forward pass of the same compressed model.

use std::path::{Path, PathBuf};
use std::time::Duration;

use candle_core::Tensor;

use sculpt_compress::{ApplyOptions, Compressed, CompressionPlan, apply_plan};
use sculpt_model::{Batch, load_model};
use sculpt_pipeline::Runner;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The runner command with the venv's Python, or `None` (skipped) without the fixtures.
fn runner() -> Option<Runner> {
    let python = root().join(".fixtures/venv/bin/python");
    if !python.is_file() {
        assert!(
            std::env::var_os("SCULPT_REQUIRE_FIXTURES").is_none(),
            "{} missing; run scripts/fetch-fixtures.sh",
            python.display()
        );
        eprintln!("skipped: no onnxruntime venv (run scripts/fetch-fixtures.sh)");
        return None;
    }
    let script = root().join("scripts/runners/onnxruntime.py");
    Some(Runner {
        command: format!("{} {}", python.display(), script.display()),
        warmup: 0,
        repeat: 1,
        timeout: Duration::from_secs(300),
    })
}

fn plan(text: &str) -> CompressionPlan {
    sculpt_yaml::from_str(text, Path::new("plan.yaml")).unwrap()
}

fn eval_images() -> Tensor {
    match sculpt_eval::load_data(sculpt_eval::BUILTIN_EVAL).unwrap().data {
        sculpt_eval::Data::Dense { inputs, .. } => inputs,
        _ => panic!("the bundled evaluation set holds images"),
    }
}

fn calib_images() -> Tensor {
    match sculpt_eval::load_data(sculpt_eval::BUILTIN_CALIB).unwrap().data {
        sculpt_eval::Data::Dense { inputs, .. } => inputs,
        _ => panic!(),
    }
}

/// onnxruntime's first output for `batch`, through the runner.
fn onnxruntime(runner: &Runner, file: &Path, graph: &sculpt_model::Graph, batch: &Batch) -> Tensor {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    sculpt_model::write_onnx_inputs(graph, batch, &inputs).unwrap();
    let outputs = dir.path().join("outputs");
    let samples = runner.run(file, &inputs, Some(&outputs)).unwrap();
    assert_eq!(samples.latencies_ms.len(), 1);
    let name = &graph.outputs()[0].0;
    Tensor::read_npy(outputs.join(format!("{name}.npy"))).unwrap()
}

fn argmax(t: &Tensor) -> Vec<u32> {
    t.argmax(1).unwrap().to_vec1().unwrap()
}

struct Compared {
    agreement: f64,
    max_rel_diff: f32,
    onnx_bytes: u64,
    packed_bytes: u64,
}

fn compare(runner: &Runner, c: &Compressed, images: &Tensor) -> Compared {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.onnx");
    let onnx_bytes = sculpt_compress::export_compressed(c, "{}", &file).unwrap();
    let packed = dir.path().join("m.safetensors");
    sculpt_compress::write_compressed(c, &packed, "{}").unwrap();
    let packed_bytes = std::fs::metadata(&packed).unwrap().len();
    let batch = Batch::Dense(images.clone());
    let ours = c.model.graph.forward(&batch).unwrap();
    let theirs = onnxruntime(runner, &file, &c.model.graph, &batch);
    assert_eq!(ours.dims(), theirs.dims());
    let (a, b) = (argmax(&ours), argmax(&theirs));
    let agreement = a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64;
    let diff: f32 =
        (&ours - &theirs).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    let scale: f32 = ours.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    Compared { agreement, max_rel_diff: diff / scale, onnx_bytes, packed_bytes }
}

#[test]
fn every_compression_of_the_demo_cnn_runs_in_onnxruntime_as_in_sculpt() {
    let Some(runner) = runner() else { return };
    let model = load_model("builtin:demo-cnn").unwrap();
    let images = eval_images();
    let calib = Batch::Dense(calib_images());
    let options = ApplyOptions { calibration: Some(&calib) };
    // (name, plan, minimum top-1 agreement, largest relative logit difference)
    let cases = [
        ("fp32", "layers: {}\n", 1.0, 1e-5),
        ("int8 per channel", "defaults:\n  quant: {weight_bits: 8}\n", 1.0, 1e-5),
        (
            "int8 per tensor, asymmetric",
            "defaults:\n  quant: {weight_bits: 8, granularity: per_tensor, symmetric: false}\n",
            1.0,
            1e-5,
        ),
        (
            "int4 per group of 32",
            "defaults:\n  quant: {weight_bits: 4, granularity: per_group, group_size: 32}\n",
            1.0,
            1e-5,
        ),
        ("fp16", "defaults:\n  quant: {weight_bits: 16, float: fp16}\n", 1.0, 1e-5),
        (
            "50% conv channels",
            "layers:\n  \"conv*\": {prune: {kind: channel, ratio: 0.5}}\n",
            1.0,
            1e-5,
        ),
        ("2:4", "defaults:\n  prune: {kind: n_m, n: 2, m: 4}\n", 1.0, 1e-5),
        ("half rank fc1", "layers:\n  fc1: {rank: {ratio: 0.5}}\n", 1.0, 1e-5),
        // Rounding of exact halves differs (onnxruntime rounds to even), so a few activations
        // can land one grid step apart.
        (
            "int8 weights and activations",
            "defaults:\n  quant: {weight_bits: 8, act_bits: 8}\n",
            0.995,
            0.05,
        ),
    ];
    let mut report = Vec::new();
    for (name, text, min_agreement, max_diff) in cases {
        let c = apply_plan(&model, &plan(text), None, &options).unwrap();
        let r = compare(&runner, &c, &images);
        report.push(format!(
            "{name}: agreement {:.4}, max rel diff {:.2e}, onnx {} B, packed {} B",
            r.agreement, r.max_rel_diff, r.onnx_bytes, r.packed_bytes
        ));
        assert!(r.agreement >= min_agreement, "{}", report.join("\n"));
        assert!(r.max_rel_diff <= max_diff, "{}", report.join("\n"));
        if name == "int8 per channel" {
            // The exported int8 file is no larger than 1.1× sculpt's packed file.
            assert!(r.onnx_bytes as f64 <= 1.1 * r.packed_bytes as f64, "{}", report.join("\n"));
        }
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn mobilenet_v2_with_coupled_pruning_and_int8_exports() {
    let Some(runner) = runner() else { return };
    let model = load_model("builtin:mobilenet_v2").unwrap();
    let p = plan(
        "defaults:\n  quant: {weight_bits: 8}\nlayers:\n  \"features.*\": {prune: {kind: channel, ratio: 0.25}}\n",
    );
    let c = apply_plan(&model, &p, None, &ApplyOptions::default()).unwrap();
    let images = Tensor::rand(0f32, 1., (4, 3, 224, 224), &candle_core::Device::Cpu).unwrap();
    let r = compare(&runner, &c, &images);
    assert_eq!(r.agreement, 1.0);
    assert!(r.max_rel_diff < 1e-4, "{}", r.max_rel_diff);
}

#[test]
fn runners_that_fail_hang_or_print_garbage_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    std::fs::write(&model, b"").unwrap();
    let script = |name: &str, body: &str| -> String {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        p.display().to_string()
    };
    let run = |command: String, timeout: f64| -> String {
        let r = Runner {
            command: command.clone(),
            warmup: 0,
            repeat: 3,
            timeout: Duration::from_secs_f64(timeout),
        };
        let e = r.run(&model, dir.path(), None).unwrap_err().to_string();
        assert!(e.contains(&format!("runner `{command}`")), "{e}");
        e
    };
    let e = run(script("fails.sh", "echo 'model broken' >&2; exit 3"), 30.0);
    assert!(e.contains("exit status: 3") && e.contains("model broken"), "{e}");
    let e = run(script("hangs.sh", "sleep 30"), 0.5);
    assert!(e.contains("no answer within"), "{e}");
    let e = run(script("garbage.sh", "echo '{\"latency_ms\": 1.0}'; echo 'hello'"), 30.0);
    assert!(e.contains("line 2") && e.contains("hello"), "{e}");
    let e = run(script("silent.sh", "echo '{\"runtime\": \"x\"}'"), 30.0);
    assert!(e.contains("no latency samples"), "{e}");
    let e = run(script("negative.sh", "echo '{\"latency_ms\": -2}'"), 30.0);
    assert!(e.contains("finite number"), "{e}");
    let e = run(dir.path().join("missing").display().to_string(), 30.0);
    assert!(e.contains("cannot start"), "{e}");
    // A good runner's samples and quantiles.
    let r = Runner {
        command: script(
            "ok.sh",
            "echo '{\"runtime\": \"sh\"}'; for v in 4 1 3 2; do echo \"{\\\"latency_ms\\\": $v}\"; done",
        ),
        warmup: 0,
        repeat: 4,
        timeout: Duration::from_secs(30),
    };
    let s = r.run(&model, dir.path(), None).unwrap();
    assert_eq!(s.latencies_ms, vec![4.0, 1.0, 3.0, 2.0]);
    assert_eq!(s.quantile(0.5), 2.5);
    assert_eq!(s.quantile(0.0), 1.0);
    assert_eq!(s.about.len(), 1);
}

/// all-MiniLM-L6-v2 (real weights from the fixtures) exported at fp32, with int8 weights and with
/// int4 weights in blocks of 32: onnxruntime's sentence embeddings point where sculpt's own
/// forward pass of the same compressed model points (cosine ≥ 0.999 per sentence).
#[test]
fn minilm_embeddings_from_onnxruntime_match_sculpt() {
    let Some(runner) = runner() else { return };
    let dir = root().join(".fixtures/all-MiniLM-L6-v2");
    if !dir.join("model.safetensors").is_file() {
        assert!(std::env::var_os("SCULPT_REQUIRE_FIXTURES").is_none(), "no MiniLM fixture");
        return;
    }
    let model = load_model(dir.to_str().unwrap()).unwrap();
    let text = std::fs::read_to_string(root().join("tests/fixtures/sentences.txt")).unwrap();
    let sentences: Vec<String> = text.lines().take(12).map(str::to_string).collect();
    let tokens = model.tokenizer.as_ref().unwrap().encode(&sentences).unwrap();
    let batch = Batch::Tokens(tokens);
    let cases = [
        ("fp32", "layers: {}\n"),
        ("int8 per channel", "defaults:\n  quant: {weight_bits: 8}\n"),
        (
            "int4 per group of 32",
            "defaults:\n  quant: {weight_bits: 4, granularity: per_group, group_size: 32}\n",
        ),
    ];
    for (name, text) in cases {
        let c = apply_plan(&model, &plan(text), None, &ApplyOptions::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.onnx");
        sculpt_compress::export_compressed(&c, "{}", &file).unwrap();
        let ours = c.model.graph.forward(&batch).unwrap();
        let theirs = onnxruntime(&runner, &file, &c.model.graph, &batch);
        assert_eq!(ours.dims(), theirs.dims(), "{name}");
        let dot: Vec<f32> = (&ours * &theirs).unwrap().sum(1).unwrap().to_vec1().unwrap();
        let na: Vec<f32> = ours.sqr().unwrap().sum(1).unwrap().sqrt().unwrap().to_vec1().unwrap();
        let nb: Vec<f32> = theirs.sqr().unwrap().sum(1).unwrap().sqrt().unwrap().to_vec1().unwrap();
        let worst = (0..dot.len()).map(|i| dot[i] / (na[i] * nb[i])).fold(f32::INFINITY, f32::min);
        eprintln!("{name}: lowest cosine {worst:.6}");
        assert!(worst >= 0.999, "{name}: lowest cosine {worst}");
    }
}
