//! Measured lookup tables: exact, interpolated and missing entries, scale mode, and malformed files.

mod common;

use std::path::{Path, PathBuf};

use common::{CPU, close, profile};
use sculpt_hw::{
    ActivationPrecision as Act, CostModel, CostSource, Error, Gemm, LayerCompression,
    LayerWorkload, LookupMode, LookupTable, MissingPolicy, Precision, WorkloadKind,
};

const TABLE: &str = "\
kind,precision,sparsity,m,n,k,groups,macs,latency_s,energy_j
linear,int8,dense,1,100,100,1,10000,0.001,0.5
linear,int8,dense,1,200,200,1,40000,0.004,
linear,int8,dense,2,100,100,1,20000,0.003,1.5
linear,int8,2:4,1,100,100,1,10000,0.0007,
conv2d,fp32,dense,,,,,1000,0.01,
";

fn int8() -> LayerCompression {
    LayerCompression::dense(Precision::Int8, Act::Int8)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn replace_model(missing: MissingPolicy) -> CostModel {
    let table = LookupTable::parse(TABLE, "m.csv".as_ref()).unwrap();
    CostModel::with_table(profile(CPU), table, LookupMode::Replace, missing).unwrap()
}

/// Looks `layer` up under `compression` and expects `latency` (and `energy` when measured).
fn check(
    layer: &LayerWorkload,
    compression: LayerCompression,
    latency: f64,
    source: CostSource,
    energy: Option<f64>,
) {
    let cost = replace_model(MissingPolicy::Error).layer_cost(layer, &compression).unwrap();
    assert!(
        close(cost.latency_s, latency, 1e-12),
        "{}: {} != {latency}",
        layer.name,
        cost.latency_s
    );
    assert_eq!(cost.source, source, "{}", layer.name);
    if let Some(energy) = energy {
        assert!(close(cost.energy_j, energy, 1e-12), "{}: energy {}", layer.name, cost.energy_j);
    }
}

#[test]
fn exact_and_interpolated_entries() {
    // Exact GEMM match, with measured energy.
    check(&LayerWorkload::linear("q", 1, 100, 100), int8(), 0.001, CostSource::Measured, Some(0.5));
    // A row without GEMM dimensions matches on MACs.
    let conv = LayerWorkload {
        name: "conv".into(),
        kind: WorkloadKind::Conv2d,
        macs: 1000,
        weight_elems: 100,
        in_act_elems: 100,
        out_act_elems: 100,
        gemm: Some(Gemm::new(10, 10, 10)),
    };
    check(&conv, LayerCompression::FP32, 0.01, CostSource::Measured, None);
    // 30,000 MACs lies halfway between 20,000 (3 ms) and 40,000 (4 ms): 3.5 ms.
    check(
        &LayerWorkload::linear("mid", 3, 100, 100),
        int8(),
        0.0035,
        CostSource::Interpolated,
        None,
    );
    // 25,000 MACs: a quarter of the way: 3.25 ms.
    check(
        &LayerWorkload::linear("quarter", 1, 250, 100),
        int8(),
        0.00325,
        CostSource::Interpolated,
        None,
    );
    // Same MACs as a row but other dimensions: not exact, the row's value at zero distance.
    check(
        &LayerWorkload::linear("same-macs", 4, 50, 100),
        int8(),
        0.003,
        CostSource::Interpolated,
        Some(1.5),
    );
    // Sparsity is part of the key.
    let two_four = int8().with_sparsity(sculpt_hw::Sparsity::parse("2:4").unwrap());
    check(
        &LayerWorkload::linear("sparse", 1, 100, 100),
        two_four,
        0.0007,
        CostSource::Measured,
        None,
    );
}

#[test]
fn interpolated_energy_without_measurements_is_analytic_at_the_measured_latency() {
    let model = replace_model(MissingPolicy::Error);
    let layer = LayerWorkload::linear("mid", 3, 100, 100);
    let analytic = CostModel::analytic(profile(CPU)).layer_cost(&layer, &int8()).unwrap();
    let cost = model.layer_cost(&layer, &int8()).unwrap();
    // The toy profile has no static power, so energy is the analytic compute + memory energy.
    assert!(close(cost.energy_j, analytic.energy.compute_j + analytic.energy.memory_j, 1e-12));
}

#[test]
fn a_missing_entry_errors_or_falls_back_as_configured() {
    // 50,000 MACs is above every int8 row: no extrapolation.
    let big = LayerWorkload::linear("big", 5, 100, 100);
    let err = replace_model(MissingPolicy::Error).layer_cost(&big, &int8()).unwrap_err();
    assert!(matches!(err, Error::LookupMiss { .. }));
    assert_eq!(
        err.to_string(),
        "m.csv: no measured entry for layer `big` (kind linear, precision int8, sparsity dense, \
         m=5 n=100 k=100 groups=1, macs 50000) and `missing: error` is set"
    );
    let cost = replace_model(MissingPolicy::Analytic).layer_cost(&big, &int8()).unwrap();
    let analytic = CostModel::analytic(profile(CPU)).layer_cost(&big, &int8()).unwrap();
    assert_eq!(cost, analytic);
    // Another precision is a miss as well, below the range too.
    let fp32 = LayerWorkload::linear("small", 1, 10, 10);
    assert!(
        replace_model(MissingPolicy::Error).layer_cost(&fp32, &LayerCompression::FP32).is_err()
    );
}

#[test]
fn scale_mode_applies_the_geometric_mean_ratio_per_kind() {
    // Two linear rows measured at 2× and 8× their analytic latency: factor sqrt(2 · 8) = 4.
    let analytic = CostModel::analytic(profile(CPU));
    let a = analytic.layer_cost(&LayerWorkload::linear("a", 10, 100, 100), &int8()).unwrap();
    let b = analytic.layer_cost(&LayerWorkload::linear("b", 1, 300, 200), &int8()).unwrap();
    let table = format!(
        "kind,precision,sparsity,m,n,k,groups,macs,latency_s,energy_j\n\
         linear,int8,dense,10,100,100,1,100000,{},\n\
         linear,int8,dense,1,200,300,1,60000,{},\n\
         conv2d,int8,dense,,,,,5000,1.0,\n",
        2.0 * a.latency_s,
        8.0 * b.latency_s
    );
    let table = LookupTable::parse(&table, "s.csv".as_ref()).unwrap();
    let model =
        CostModel::with_table(profile(CPU), table.clone(), LookupMode::Scale, MissingPolicy::Error)
            .unwrap();
    let factors = model.scale_factors();
    assert!(close(factors[&WorkloadKind::Linear], 4.0, 1e-9), "{factors:?}");
    // The conv2d row has no GEMM dimensions, so scale mode cannot use it.
    assert!(!factors.contains_key(&WorkloadKind::Conv2d));

    let other = LayerWorkload::linear("other", 7, 64, 32);
    let base = analytic.layer_cost(&other, &int8()).unwrap();
    let scaled = model.layer_cost(&other, &int8()).unwrap();
    assert!(close(scaled.latency_s, 4.0 * base.latency_s, 1e-9));
    assert!(matches!(scaled.source, CostSource::Scaled { factor } if close(factor, 4.0, 1e-9)));

    let conv = LayerWorkload { kind: WorkloadKind::Conv2d, ..other };
    assert!(matches!(model.layer_cost(&conv, &int8()), Err(Error::LookupMiss { .. })));
    let lenient =
        CostModel::with_table(profile(CPU), table, LookupMode::Scale, MissingPolicy::Analytic)
            .unwrap();
    assert_eq!(lenient.layer_cost(&conv, &int8()).unwrap().source, CostSource::Analytic);
}

/// Parses `text` as `t.csv` and expects exactly `expected` as the error message.
fn check_error(text: &str, expected: &str) {
    match LookupTable::parse(text, "t.csv".as_ref()) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => assert_eq!(e.to_string(), expected),
    }
}

#[test]
fn malformed_files_name_the_file_row_and_column() {
    const HEADER: &str = "kind,precision,sparsity,m,n,k,groups,macs,latency_s,energy_j\n";
    const GOOD: &str = "linear,int8,dense,1,100,100,1,10000,0.001,\n";
    let with = |row: &str| format!("{HEADER}{GOOD}{row}\n");
    check_error(
        &with("linear,int9,dense,1,100,100,1,10000,0.001,"),
        "t.csv:3: column `precision`: not a precision, got `int9`",
    );
    check_error(
        &with("lstm,int8,dense,1,100,100,1,10000,0.001,"),
        "t.csv:3: column `kind`: not a layer kind, got `lstm`",
    );
    check_error(
        &with("linear,int8,3:3,1,100,100,1,10000,0.001,"),
        "t.csv:3: column `sparsity`: expected `dense`, `N:M` or `unstructured:R`, got `3:3`",
    );
    check_error(
        &with("linear,int8,dense,1,100,100,1,10000,-2,"),
        "t.csv:3: column `latency_s`: expected a number > 0, got `-2`",
    );
    check_error(
        &with("linear,int8,dense,1,100,100,1,10000,0.001,lots"),
        "t.csv:3: column `energy_j`: expected a number >= 0 or nothing, got `lots`",
    );
    check_error(
        &with("linear,int8,dense,1,100,100,1,ten,0.001,"),
        "t.csv:3: column `macs`: expected an integer, got `ten`",
    );
    check_error(
        &with("linear,int8,dense,1,100,100,1,10001,0.001,"),
        "t.csv:3: column `macs`: 10001 differs from groups·m·n·k = 10000",
    );
    check_error(
        &with("linear,int8,dense,1,,100,1,10000,0.001,"),
        "t.csv:3: column `n`: expected a positive integer (or all of m, n, k, groups empty), got ``",
    );
    check_error(
        &with("linear,int8,dense,1,100"),
        "t.csv:3: malformed row: CSV error: record 2 (line: 3, byte: 104): found record with 5 fields, but the previous record has 10 fields",
    );
    check_error(
        "kind,precision,sparsity,m,n,k,groups,macs,latency\n",
        "t.csv:1: column `latency`: unknown column; expected kind, precision, sparsity, m, n, k, groups, macs, latency_s, energy_j",
    );
    check_error(
        "kind,precision,sparsity,m,n,k,groups,macs,latency_s\n",
        "t.csv:1: column `energy_j`: missing column",
    );
}

#[test]
fn a_profile_refers_to_its_table_by_a_relative_path() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "measured.csv", TABLE);
    let text = format!("{CPU}lookup:\n  path: measured.csv\n  mode: replace\n  missing: error\n");
    let profile_path = write(dir.path(), "dev.yaml", &text);
    let model = CostModel::load(&profile_path).unwrap();
    let cost = model.layer_cost(&LayerWorkload::linear("q", 1, 100, 100), &int8()).unwrap();
    assert_eq!(cost.source, CostSource::Measured);

    // A missing table is an error that names the resolved CSV path.
    std::fs::remove_file(dir.path().join("measured.csv")).unwrap();
    let err = CostModel::load(&profile_path).unwrap_err().to_string();
    let expected = format!("{}: cannot read", dir.path().join("measured.csv").display());
    assert!(err.starts_with(&expected), "{err}");

    // An unknown mode is a profile error with file, line and key.
    let bad = text.replace("mode: replace", "mode: blend");
    let bad_path = write(dir.path(), "bad.yaml", &bad);
    let err = CostModel::load(&bad_path).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:44", bad_path.display())), "{err}");
    assert!(err.contains("key `lookup.mode`") && err.contains("unknown variant `blend`"), "{err}");
}
