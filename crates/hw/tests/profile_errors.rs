//! Every malformed profile is rejected with a message naming the file, the line and the key.

mod common;

use sculpt_hw::Profile;

/// Applies `from → to` to `base`, loads it as `toy.yaml`, and expects the error to read
/// `toy.yaml:<line>: key `<key>`: ...<fragment>...`. Line numbers were counted by hand in the
/// documents of `common`.
fn check(base: &str, from: &str, to: &str, line: usize, key: &str, fragment: &str) {
    assert!(base.contains(from), "test bug: `{from}` not in the base document");
    let text = base.replacen(from, to, 1);
    let err = match Profile::from_yaml(&text, "toy.yaml".as_ref()) {
        Ok(_) => panic!("`{from}` → `{to}` was accepted"),
        Err(e) => e.to_string(),
    };
    let prefix = format!("toy.yaml:{line}");
    assert!(err.starts_with(&prefix), "`{to}`: expected prefix {prefix}, got: {err}");
    assert!(err.contains(&format!("key `{key}`")), "`{to}`: expected key {key}, got: {err}");
    assert!(err.contains(fragment), "`{to}`: expected `{fragment}`, got: {err}");
}

#[test]
fn the_base_documents_are_valid() {
    common::profile(common::CPU);
    common::profile(common::ARRAY);
}

#[test]
fn non_positive_or_non_finite_numbers() {
    use common::CPU;
    check(
        CPU,
        "bandwidth_gb_per_s: 1\n",
        "bandwidth_gb_per_s: 0\n",
        27,
        "memory.dram.bandwidth_gb_per_s",
        "must be a finite number > 0, got 0",
    );
    check(
        CPU,
        "bandwidth_gb_per_s: 100",
        "bandwidth_gb_per_s: -5",
        23,
        "memory.sram.bandwidth_gb_per_s",
        "got -5",
    );
    check(
        CPU,
        "bandwidth_gb_per_s: 100",
        "bandwidth_gb_per_s: .nan",
        23,
        "memory.sram.bandwidth_gb_per_s",
        "got NaN",
    );
    check(
        CPU,
        "    gmac_per_s: 4",
        "    gmac_per_s: 0",
        9,
        "precisions.int8.gmac_per_s",
        "must be a finite number > 0",
    );
    check(CPU, "capacity_mib: 1024", "capacity_mib: 0", 26, "memory.dram.capacity_mib", "> 0");
    check(
        CPU,
        "energy_pj_per_byte: 100",
        "energy_pj_per_byte: -1",
        28,
        "memory.dram.energy_pj_per_byte",
        ">= 0, got -1",
    );
    check(CPU, "per_layer_us: 0", "per_layer_us: -3", 38, "overheads.per_layer_us", ">= 0");
    check(CPU, "static_w: 0", "static_w: -1", 41, "power.static_w", ">= 0");
    check(CPU, "work_factor: 1.5", "work_factor: 0", 13, "precisions.int4.work_factor", "> 0");
    check(
        CPU,
        "depthwise_conv2d: 0.5",
        "depthwise_conv2d: 1.5",
        19,
        "utilisation.depthwise_conv2d",
        "must be in (0, 1], got 1.5",
    );
    check(CPU, "default: 1.0", "default: 0", 18, "utilisation.default", "(0, 1]");
}

#[test]
fn unknown_and_mistyped_keys() {
    use common::CPU;
    check(
        CPU,
        "    energy_pj_per_mac: 1\n  int4:",
        "    energy_pj_per_mac: 1\n    turbo: true\n  int4:",
        11,
        "precisions.int8.turbo",
        "unknown field `turbo`",
    );
    check(CPU, "  fp16:", "  fp12:", 15, "precisions.fp12", "unknown field `fp12`");
    check(
        CPU,
        "  depthwise_conv2d: 0.5",
        "  dw_conv: 0.5",
        19,
        "utilisation.dw_conv",
        "unknown field `dw_conv`",
    );
    check(
        common::ARRAY,
        "dataflow: ws",
        "dataflow: diagonal",
        7,
        "systolic.dataflow",
        "unknown variant `diagonal`",
    );
    check(
        CPU,
        "support: storage_only",
        "support: sometimes",
        31,
        "sparsity.unstructured.support",
        "unknown variant `sometimes`",
    );
}

#[test]
fn missing_required_fields() {
    use common::CPU;
    // serde reports a missing field at the mapping that lacks it.
    check(
        CPU,
        "    energy_pj_per_byte: 100\n",
        "",
        26,
        "memory.dram.energy_pj_per_byte",
        "missing field `energy_pj_per_byte`",
    );
    check(CPU, "    energy_pj_per_mac: 4\n", "", 5, "precisions.fp32", "needs `energy_pj_per_mac`");
    check(
        CPU,
        "support: storage_only",
        "support: compute",
        31,
        "sparsity.unstructured.support",
        "`compute` needs `min_ratio`",
    );
    check(CPU, "kind: cpu", "kind: systolic", 3, "kind", "needs a `systolic` section");
}

#[test]
fn missing_top_level_section() {
    let text = common::CPU.replace("power:\n  static_w: 0\n", "");
    let err = Profile::from_yaml(&text, "toy.yaml".as_ref()).unwrap_err().to_string();
    assert!(err.starts_with("toy.yaml:1:"), "{err}");
    assert!(err.contains("key `power`") && err.contains("missing field `power`"), "{err}");
}

#[test]
fn inconsistent_precision_policies() {
    use common::CPU;
    check(
        CPU,
        "fallback_to: int8",
        "fallback_to: fp16",
        12,
        "precisions.int4.fallback_to",
        "falls back to `fp16`, which the device does not run natively",
    );
    check(
        CPU,
        "    fallback_to: int8\n",
        "    gmac_per_s: 3\n    fallback_to: int8\n",
        11,
        "precisions.int4",
        "give exactly one of",
    );
    check(
        CPU,
        "reject: \"no half-precision units\"",
        "reject: \"  \"",
        16,
        "precisions.fp16.reject",
        "give the reason",
    );
    check(
        CPU,
        "schema_version: 1",
        "schema_version: 2",
        1,
        "schema_version",
        "unsupported schema version 2; this build reads version 1",
    );
    check(CPU, "name: toy-cpu", "name: \"\"", 2, "name", "must not be empty");
}

#[test]
fn sparsity_support_is_checked() {
    use common::CPU;
    check(CPU, "      m: 4", "      m: 2", 33, "sparsity.nm.0.n", "2:2 is not a pattern");
    check(CPU, "speedup: 2", "speedup: 0.5", 35, "sparsity.nm.0.speedup", ">= 1, got 0.5");
    check(
        CPU,
        "precisions: [int8]",
        "precisions: [int4]",
        36,
        "sparsity.nm.0.precisions",
        "`int4` is not a native precision",
    );
    check(
        CPU,
        "support: storage_only",
        "support: storage_only\n    min_ratio: 0.5",
        30,
        "sparsity.unstructured",
        "apply only to `support: compute`",
    );
}

#[test]
fn systolic_specific_checks() {
    use common::{ARRAY, CPU};
    check(ARRAY, "rows: 4", "rows: 0", 5, "systolic.rows", "at least 1");
    check(ARRAY, "clock_mhz: 1000", "clock_mhz: -1", 8, "systolic.clock_mhz", "> 0");
    check(
        ARRAY,
        "macs_per_pe_per_cycle: 1.0",
        "gmac_per_s: 1.0",
        11,
        "precisions.int8.gmac_per_s",
        "a systolic device gives `macs_per_pe_per_cycle`",
    );
    check(
        CPU,
        "    gmac_per_s: 4",
        "    macs_per_pe_per_cycle: 4",
        9,
        "precisions.int8.macs_per_pe_per_cycle",
        "only a systolic device",
    );
    check(ARRAY, "kind: systolic", "kind: npu", 4, "systolic", "only a device of kind `systolic`");
}

#[test]
fn files_that_cannot_be_read_or_are_empty() {
    let err = Profile::from_path("/nonexistent/dev.yaml".as_ref()).unwrap_err().to_string();
    assert!(err.starts_with("/nonexistent/dev.yaml: cannot read"), "{err}");
    let err = Profile::from_yaml("\n", "e.yaml".as_ref()).unwrap_err().to_string();
    assert_eq!(err, "e.yaml: the document is empty");
}
