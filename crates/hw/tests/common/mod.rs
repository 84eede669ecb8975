//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use sculpt_hw::Profile;

/// A small, valid, hand-checkable CPU profile. Numbers are round so that tests can derive costs by
/// hand: 1 GMAC/s fp32, 4 GMAC/s int8, SRAM 1 MiB at 100 GB/s, DRAM 1 GiB at 1 GB/s.
pub const CPU: &str = "\
schema_version: 1
name: toy-cpu
kind: cpu
precisions:
  fp32:
    gmac_per_s: 1
    energy_pj_per_mac: 4
  int8:
    gmac_per_s: 4
    energy_pj_per_mac: 1
  int4:
    fallback_to: int8
    work_factor: 1.5
    weights: stored
  fp16:
    reject: \"no half-precision units\"
utilisation:
  default: 1.0
  depthwise_conv2d: 0.5
memory:
  sram:
    capacity_mib: 1
    bandwidth_gb_per_s: 100
    energy_pj_per_byte: 1
  dram:
    capacity_mib: 1024
    bandwidth_gb_per_s: 1
    energy_pj_per_byte: 100
sparsity:
  unstructured:
    support: storage_only
  nm:
    - n: 2
      m: 4
      speedup: 2
      precisions: [int8]
overheads:
  per_layer_us: 0
  per_inference_us: 0
power:
  static_w: 0
";

/// A 4x4 weight-stationary array at 1 GHz, int8 only.
pub const ARRAY: &str = "\
schema_version: 1
name: toy-array
kind: systolic
systolic:
  rows: 4
  cols: 4
  dataflow: ws
  clock_mhz: 1000
precisions:
  int8:
    macs_per_pe_per_cycle: 1.0
    energy_pj_per_mac: 1
utilisation:
  default: 1.0
memory:
  sram:
    capacity_mib: 1
    bandwidth_gb_per_s: 1000
    energy_pj_per_byte: 0
  dram:
    capacity_mib: 1024
    bandwidth_gb_per_s: 1000
    energy_pj_per_byte: 0
sparsity:
  unstructured:
    support: none
overheads:
  per_layer_us: 0
  per_inference_us: 0
power:
  static_w: 0
";

pub fn profile(text: &str) -> Profile {
    match Profile::from_yaml(text, "toy.yaml".as_ref()) {
        Ok(p) => p,
        Err(e) => panic!("test profile does not load: {e}"),
    }
}

pub fn shipped_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../hardware-profiles")
}

pub fn shipped(name: &str) -> Profile {
    let path = shipped_dir().join(format!("{name}.yaml"));
    match Profile::from_path(&path) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// Relative closeness.
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}
