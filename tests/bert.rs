//! The BERT path end to end with the real all-MiniLM-L6-v2 (fetched by scripts/fetch-fixtures.sh):
//! scored sentence pairs, and per-layer sensitivity on text.

use std::path::{Path, PathBuf};
use std::process::Command;

fn minilm() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".fixtures/all-MiniLM-L6-v2");
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("SCULPT_REQUIRE_FIXTURES").is_none(),
        "all-MiniLM-L6-v2 missing; run scripts/fetch-fixtures.sh"
    );
    eprintln!("skipped: run scripts/fetch-fixtures.sh");
    None
}

fn sculpt(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn minilm_ranks_hand_scored_pairs_like_people_do() {
    let Some(dir) = minilm() else { return };
    let o = sculpt(&[
        "evaluate",
        "--model",
        dir.to_str().unwrap(),
        "--data",
        "tests/fixtures/pairs.tsv",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["metric"], "spearman");
    assert_eq!(doc["n_samples"], 10);
    // The pairs were scored by hand: paraphrases high, unrelated sentences near zero. A working
    // sentence encoder orders them nearly the same way.
    assert!(doc["value"].as_f64().unwrap() > 0.8, "{doc}");
}

#[test]
fn text_sensitivity_of_minilm_layers() {
    let Some(dir) = minilm() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let space = tmp.path().join("space.yaml");
    std::fs::write(
        &space,
        "rules:\n  - match: {name: \"encoder.layer.0.*\", kind: [linear]}\n    options:\n      quant: [null, {weight_bits: 8}, {weight_bits: 2, granularity: per_tensor}]\n",
    )
    .unwrap();
    let out = tmp.path().join("sens.csv");
    let o = sculpt(&[
        "sensitivity",
        "--model",
        dir.to_str().unwrap(),
        "--data",
        "tests/fixtures/sentences.txt",
        "--space",
        space.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-cache",
        "--calibration-samples",
        "4",
        "--validation-samples",
        "4",
        "--tokens",
        "32",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split(',').collect()).collect();
    // Six Linear layers in encoder layer 0 (q, k, v, output, intermediate, output dense) × 3.
    assert_eq!(rows.len(), 18);
    // Per layer: fp32 loses nothing, int8 almost nothing (cosine ≥ 0.99), 2-bit per-tensor more.
    for layer in rows.chunks(3) {
        let d: Vec<f64> = layer.iter().map(|r| r[r.len() - 2].parse().unwrap()).collect();
        assert_eq!(d[0], 0.0);
        assert!(d[1] >= -1e-6 && d[1] < 0.01, "{layer:?}");
        assert!(d[2] > d[1], "{layer:?}");
    }
}
