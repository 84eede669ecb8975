//! The analytic model against costs derived by hand from the toy profiles in `common`.
//!
//! Toy CPU: fp32 1 GMAC/s (4 pJ/MAC), int8 4 GMAC/s (1 pJ/MAC), int4 → int8 with work factor 1.5
//! (weights stored at 4 bits), fp16 rejected; SRAM 1 MiB, 100 GB/s, 1 pJ/B; DRAM 1 GiB, 1 GB/s,
//! 100 pJ/B; unstructured sparsity storage-only; 2:4 at 2× for int8; no overheads, no static power.

mod common;

use common::{ARRAY, CPU, close, profile};
use sculpt_hw::{
    ActivationPrecision as Act, Bound, CostContext, CostModel, Error, Gemm, GroupSize,
    LayerCompression, LayerWorkload, MemoryLevel, NmPattern, Precision, QuantGranularity, Sparsity,
    SparsityRatio, WorkloadKind, analytic_layer_cost,
};

fn cpu() -> CostModel {
    CostModel::analytic(profile(CPU))
}

fn fp32() -> LayerCompression {
    LayerCompression::FP32
}

fn int8() -> LayerCompression {
    LayerCompression::dense(Precision::Int8, Act::Int8)
}

fn assert_close(got: f64, expected: f64, what: &str) {
    assert!(close(got, expected, 1e-9), "{what}: got {got}, expected {expected}");
}

#[test]
fn a_compute_bound_layer() {
    // 1000 tokens × 100 → 100: 1e7 MACs at 1 GMAC/s = 10 ms.
    // Weights 1e4 × 4 B = 40,000 B from DRAM at 1 GB/s = 40 µs; activations (1e5 + 1e5) × 4 B
    // = 800,000 B ≤ 1 MiB from SRAM at 100 GB/s = 8 µs.
    let cost = cpu().layer_cost(&LayerWorkload::linear("fc", 1000, 100, 100), &fp32()).unwrap();
    assert_close(cost.compute_s, 0.01, "compute");
    assert_close(cost.memory_s, 40e-6 + 8e-6, "memory");
    assert_close(cost.latency_s, 0.01, "latency");
    assert_eq!(cost.bound, Bound::Compute);
    assert_eq!((cost.weight_bytes, cost.activation_bytes), (40_000, 800_000));
    assert_eq!((cost.weight_level, cost.activation_level), (MemoryLevel::Dram, MemoryLevel::Sram));
}

#[test]
fn a_memory_bound_layer() {
    // One token × 1000 → 1000: 1e6 MACs = 1 ms, but 4e6 weight bytes at 1 GB/s = 4 ms,
    // plus 8000 activation bytes at 100 GB/s = 80 ns.
    let cost = cpu().layer_cost(&LayerWorkload::linear("fc", 1, 1000, 1000), &fp32()).unwrap();
    assert_close(cost.compute_s, 1e-3, "compute");
    assert_close(cost.memory_s, 4e-3 + 80e-9, "memory");
    assert_close(cost.latency_s, 4e-3 + 80e-9, "latency");
    assert_eq!(cost.bound, Bound::Memory);
}

#[test]
fn the_knife_edge_counts_as_compute_bound() {
    // An element-wise layer without weights: 1e6 + 1e6 elements in and out.
    let layer = LayerWorkload {
        name: "add".into(),
        kind: WorkloadKind::Elementwise,
        macs: 2_000_000,
        weight_elems: 0,
        in_act_elems: 1_000_000,
        out_act_elems: 1_000_000,
        gemm: None,
    };
    // With int8 activations the kernel is int8: 2e6 ops at 4 GMAC/s = 0.5 ms; 2e6 B > 1 MiB come
    // from DRAM at 1 GB/s = 2 ms.
    let as_int8 =
        cpu().layer_cost(&layer, &LayerCompression::dense(Precision::Fp32, Act::Int8)).unwrap();
    assert_eq!(as_int8.precision, Precision::Int8);
    assert_close(as_int8.compute_s, 0.5e-3, "int8 compute");
    assert_close(as_int8.memory_s, 2e-3, "int8 memory");
    // With fp32 activations and 8e6 ops: 8 ms of compute at 1 GMAC/s against 8e6 B at 1 GB/s =
    // 8 ms of memory. A tie is reported as compute-bound.
    let tie = LayerWorkload { macs: 8_000_000, ..layer };
    let cost = cpu().layer_cost(&tie, &fp32()).unwrap();
    assert_close(cost.compute_s, 8e-3, "compute");
    assert_close(cost.memory_s, 8e-3, "memory");
    assert_eq!(cost.bound, Bound::Compute);
}

/// Folds of a GEMM on the toy 4×4 weight-stationary array.
fn check_folds(gemm: Gemm, expected_cycles: u64) {
    let model = CostModel::analytic(profile(ARRAY));
    let layer = LayerWorkload {
        name: "g".into(),
        kind: WorkloadKind::Conv2d,
        macs: gemm.macs(),
        weight_elems: gemm.k * gemm.n * gemm.groups,
        in_act_elems: gemm.m * gemm.k * gemm.groups,
        out_act_elems: gemm.m * gemm.n * gemm.groups,
        gemm: Some(gemm),
    };
    let cost = model.layer_cost(&layer, &int8()).unwrap();
    assert_eq!(cost.array_cycles, Some(expected_cycles), "{gemm:?}");
    // 1 GHz, one MAC per PE per cycle, utilisation 1.
    assert_close(cost.compute_s, expected_cycles as f64 * 1e-9, "compute seconds");
}

#[test]
fn gemms_fold_onto_the_array_a_known_number_of_times() {
    // K = 8, N = 12 on 4×4: ceil(8/4)·ceil(12/4) = 6 folds of 2·4 + 4 + M − 2 = 20 cycles (M = 10).
    check_folds(Gemm::new(10, 12, 8), 6 * 20);
    // Exactly one tile: one fold of 2·4 + 4 + 4 − 2 = 14 cycles.
    check_folds(Gemm::new(4, 4, 4), 14);
    // One more column spills into a second, nearly empty fold.
    check_folds(Gemm::new(4, 5, 4), 2 * 14);
    // Depthwise 3×3 over 8 channels, 5×5 output: per group K = 9 → 3 folds, N = 1 → 1 fold,
    // 3 × (10 + 25) = 105 cycles per group, 8 groups.
    check_folds(Gemm { m: 25, n: 1, k: 9, groups: 8 }, 8 * 3 * 35);
}

#[test]
fn energy_of_a_hand_computed_layer() {
    // int8, one token, 1000 → 1000, per-channel scales, static power 2 W.
    // MACs: 1e6 × 1 pJ = 1e-6 J.
    // Weights: 1e6 B + 1000 scales × 2 B = 1,002,000 B from DRAM: × 100 pJ = 1.002e-4 J,
    //   taking 1.002 ms at 1 GB/s. Activations: 2000 B in SRAM: × 1 pJ = 2e-9 J, 20 ns.
    // Compute 1e6 / 4e9 = 0.25 ms, so latency = 1.002 ms + 20 ns, static = 2 W × latency.
    let text = CPU.replace("static_w: 0", "static_w: 2");
    let model = CostModel::analytic(profile(&text));
    let cost = model.layer_cost(&LayerWorkload::linear("fc", 1, 1000, 1000), &int8()).unwrap();
    assert_eq!(cost.weight_bytes, 1_002_000);
    let latency = 1.002e-3 + 20e-9;
    assert_close(cost.latency_s, latency, "latency");
    assert_close(cost.energy.compute_j, 1e-6, "compute energy");
    assert_close(cost.energy.memory_j, 1.002e-4 + 2e-9, "memory energy");
    assert_close(cost.energy.static_j, 2.0 * latency, "static energy");
    assert_close(cost.energy_j, 1e-6 + 1.002e-4 + 2e-9 + 2.0 * latency, "total");
}

fn elementwise(in_elems: u64, out_elems: u64) -> LayerWorkload {
    LayerWorkload {
        name: "act".into(),
        kind: WorkloadKind::Activation,
        macs: out_elems,
        weight_elems: 0,
        in_act_elems: in_elems,
        out_act_elems: out_elems,
        gemm: None,
    }
}

#[test]
fn activations_use_sram_when_they_fit_and_dram_otherwise() {
    let option = LayerCompression::dense(Precision::Int8, Act::Int8);
    // Exactly 1 MiB of int8 activations fits: 1,048,576 B at 100 GB/s.
    let fits = cpu().layer_cost(&elementwise(524_288, 524_288), &option).unwrap();
    assert_eq!(fits.activation_level, MemoryLevel::Sram);
    assert_close(fits.memory_s, 1_048_576.0 / 100e9, "sram time");
    // One byte more spills to DRAM at 1 GB/s.
    let spills = cpu().layer_cost(&elementwise(524_289, 524_288), &option).unwrap();
    assert_eq!(spills.activation_level, MemoryLevel::Dram);
    assert_close(spills.memory_s, 1_048_577.0 / 1e9, "dram time");
}

#[test]
fn fallback_and_rejection_follow_the_profile() {
    let layer = LayerWorkload::linear("enc.fc1", 1000, 100, 100);
    // int4 → int8 kernel, 1.5× the work: 1e7 / 4e9 × 1.5 = 3.75 ms; weights stay 4-bit:
    // 1e4 × 0.5 B + 100 scales × 2 B = 5200 B.
    let int4 = LayerCompression::dense(Precision::Int4, Act::Int8);
    let cost = cpu().layer_cost(&layer, &int4).unwrap();
    assert_eq!((cost.requested_precision, cost.precision), (Precision::Int4, Precision::Int8));
    assert_close(cost.compute_s, 3.75e-3, "fallback compute");
    assert_eq!(cost.weight_bytes, 5200);
    assert_close(cost.energy.compute_j, 1e7 * 1.5 * 1e-12, "fallback MAC energy");

    let fp16 = LayerCompression::dense(Precision::Fp16, Act::Fp16);
    let err = cpu().layer_cost(&layer, &fp16).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }));
    assert_eq!(
        err.to_string(),
        "device `toy-cpu` cannot run layer `enc.fc1` with option `weights fp16 / activations fp16 / dense`: \
         precision `fp16` is rejected: no half-precision units"
    );
    // Not listed at all: bf16.
    let bf16 = LayerCompression::dense(Precision::Bf16, Act::Bf16);
    let err = cpu().check_supported(&layer, &bf16).unwrap_err().to_string();
    assert!(err.ends_with("precision `bf16` is rejected: not listed in the profile"), "{err}");
}

#[test]
fn sparsity_changes_storage_and_compute_as_the_profile_says() {
    let layer = LayerWorkload::linear("fc", 1000, 100, 100);
    let dense = cpu().layer_cost(&layer, &int8()).unwrap();
    // Dense int8: 1e4 B + 100 scales × 2 B.
    assert_eq!(dense.weight_bytes, 10_200);
    // Storage-only unstructured 75 %: 2500 × 8 bits + 1e4 bitmap bits = 30,000 bits = 3750 B,
    // plus 200 B of scales; compute unchanged.
    let sparse = int8().with_sparsity(Sparsity::Unstructured(SparsityRatio::new(0.75).unwrap()));
    let cost = cpu().layer_cost(&layer, &sparse).unwrap();
    assert_eq!(cost.weight_bytes, 3950);
    assert_close(cost.compute_s, dense.compute_s, "storage-only compute");
    // 2:4 with int8 (listed, 2×): half the compute; 5000 values × (8 + 2 index bits) = 6250 B + 200.
    let nm = int8().with_sparsity(Sparsity::Nm(NmPattern::new(2, 4).unwrap()));
    let cost = cpu().layer_cost(&layer, &nm).unwrap();
    assert_close(cost.compute_s, dense.compute_s / 2.0, "2:4 compute");
    assert_eq!(cost.weight_bytes, 6450);
    // 2:4 with fp32 (not listed): no speed-up, but stored as 2:4.
    let nm32 = fp32().with_sparsity(Sparsity::Nm(NmPattern::new(2, 4).unwrap()));
    let dense32 = cpu().layer_cost(&layer, &fp32()).unwrap();
    let cost = cpu().layer_cost(&layer, &nm32).unwrap();
    assert_close(cost.compute_s, dense32.compute_s, "2:4 fp32 compute");
    assert_eq!(cost.weight_bytes, 5000 * 34 / 8);
    // 1:8 is not a supported pattern: it is 87.5 % unstructured sparsity, storage only.
    let one_eight = int8().with_sparsity(Sparsity::Nm(NmPattern::new(1, 8).unwrap()));
    let cost = cpu().layer_cost(&layer, &one_eight).unwrap();
    assert_eq!(cost.weight_bytes, (1250 * 8 + 10_000) / 8 + 200);
    assert_close(cost.compute_s, dense.compute_s, "1:8 compute");
}

#[test]
fn group_scales_are_counted() {
    // 1e4 int8 weights in groups of 32: 313 scales.
    let option = LayerCompression {
        granularity: QuantGranularity::PerGroup(GroupSize::new(32).unwrap()),
        ..int8()
    };
    let cost = cpu().layer_cost(&LayerWorkload::linear("fc", 1, 100, 100), &option).unwrap();
    assert_eq!(cost.weight_bytes, 10_000 + 313 * 2);
}

#[test]
fn an_embedding_reads_only_the_rows_it_gathers() {
    // 1000 × 64 fp32 table, 10 tokens gathered: 640 of 64,000 elements → 1 % of 256,000 B.
    let layer = LayerWorkload {
        name: "embed".into(),
        kind: WorkloadKind::Embedding,
        macs: 0,
        weight_elems: 64_000,
        in_act_elems: 0,
        out_act_elems: 640,
        gemm: None,
    };
    let cost = cpu().layer_cost(&layer, &fp32()).unwrap();
    assert_eq!((cost.weight_bytes, cost.weight_bytes_moved), (256_000, 2560));
    assert_close(cost.memory_s, 2560.0 / 1e9 + 2560.0 / 100e9, "embedding memory");
}

#[test]
fn an_empty_layer_is_overhead_bound() {
    let text = CPU.replace("per_layer_us: 0", "per_layer_us: 3");
    let model = CostModel::analytic(profile(&text));
    let cost = model.layer_cost(&elementwise(0, 0), &fp32()).unwrap();
    assert_eq!(cost.bound, Bound::Overhead);
    assert_close(cost.latency_s, 3e-6, "overhead");
}

#[test]
fn inconsistent_workloads_are_rejected() {
    let mut layer = LayerWorkload::linear("fc", 2, 3, 4);
    layer.macs += 1;
    let err = cpu().layer_cost(&layer, &fp32()).unwrap_err();
    assert!(matches!(err, Error::InvalidWorkload { .. }), "{err}");
}

#[test]
fn depthwise_utilisation_scales_compute() {
    // utilisation.depthwise_conv2d = 0.5 in the toy profile.
    let gemm = Gemm { m: 100, n: 1, k: 9, groups: 10 };
    let layer = LayerWorkload {
        name: "dw".into(),
        kind: WorkloadKind::DepthwiseConv2d,
        macs: gemm.macs(),
        weight_elems: 90,
        in_act_elems: 1000,
        out_act_elems: 1000,
        gemm: Some(gemm),
    };
    let cost = cpu().layer_cost(&layer, &fp32()).unwrap();
    assert_close(cost.compute_s, 9000.0 / 1e9 / 0.5, "depthwise");
}

#[test]
fn model_totals() {
    let text = CPU
        .replace("per_inference_us: 0", "per_inference_us: 100")
        .replace("static_w: 0", "static_w: 1");
    let model = CostModel::analytic(profile(&text));
    let layers = vec![
        (LayerWorkload::linear("a", 1000, 100, 100), fp32()),
        (LayerWorkload::linear("b", 1, 1000, 1000), fp32()),
    ];
    let total = model.model_cost(&layers).unwrap();
    let a = 0.01;
    let b = 4e-3 + 80e-9;
    assert_close(total.latency_s, a + b + 100e-6, "latency");
    assert_eq!(total.weight_bytes, 40_000 + 4_000_000);
    assert_eq!(total.peak_activation_bytes, 800_000);
    assert!(total.fits_in_memory);
    assert!(!total.weights_on_chip);
    let energy: f64 = total.layers.iter().map(|l| l.energy_j).sum::<f64>() + 1.0 * 100e-6;
    assert_close(total.energy_j, energy, "energy");

    // 300 × (1000 → 1000) fp32 layers: 1.2e9 B of weights exceed 1 GiB of DRAM.
    let big: Vec<_> = (0..300)
        .map(|i| (LayerWorkload::linear(&format!("l{i}"), 1, 1000, 1000), fp32()))
        .collect();
    assert!(!model.model_cost(&big).unwrap().fits_in_memory);
}

#[test]
fn a_weight_caching_device_keeps_small_models_on_chip() {
    let text = CPU.replace(
        "    energy_pj_per_byte: 1\n",
        "    energy_pj_per_byte: 1\n    caches_weights: true\n",
    );
    let model = CostModel::analytic(profile(&text));
    // 40,000 B of weights + 800,000 B of activations fit in 1 MiB: weights read at 100 GB/s.
    let small = vec![(LayerWorkload::linear("a", 1000, 100, 100), fp32())];
    let cost = model.model_cost(&small).unwrap();
    assert!(cost.weights_on_chip);
    assert_eq!(cost.layers[0].weight_level, MemoryLevel::Sram);
    assert_close(cost.layers[0].memory_s, 40_000.0 / 100e9 + 8e-6, "on-chip memory");
    // 4e6 B of weights do not fit: read from DRAM.
    let large = vec![(LayerWorkload::linear("b", 1, 1000, 1000), fp32())];
    let cost = model.model_cost(&large).unwrap();
    assert!(!cost.weights_on_chip);
    assert_eq!(cost.layers[0].weight_level, MemoryLevel::Dram);
    // The per-layer entry point takes the context explicitly.
    let on_chip = analytic_layer_cost(
        model.profile(),
        &large[0].0,
        &fp32(),
        CostContext { weights_on_chip: true },
    )
    .unwrap();
    assert_eq!(on_chip.weight_level, MemoryLevel::Sram);
}

#[test]
fn absurd_workloads_give_numbers_or_errors_not_panics() {
    let huge = u64::MAX;
    let layers = [
        LayerWorkload {
            name: "huge".into(),
            kind: WorkloadKind::Other,
            macs: huge,
            weight_elems: huge,
            in_act_elems: huge,
            out_act_elems: huge,
            gemm: None,
        },
        LayerWorkload {
            name: "embed".into(),
            kind: WorkloadKind::Embedding,
            macs: 0,
            weight_elems: huge,
            in_act_elems: 0,
            out_act_elems: huge,
            gemm: None,
        },
        LayerWorkload::linear("wide", huge, huge, huge),
        LayerWorkload {
            name: "zero-gemm".into(),
            kind: WorkloadKind::Linear,
            macs: 0,
            weight_elems: 0,
            in_act_elems: 0,
            out_act_elems: 0,
            gemm: Some(Gemm::new(0, 1, 1)),
        },
    ];
    for model in [cpu(), CostModel::analytic(profile(ARRAY))] {
        for layer in &layers {
            for option in
                [fp32(), int8(), int8().with_sparsity(Sparsity::Nm(NmPattern::new(2, 4).unwrap()))]
            {
                if let Ok(cost) = model.layer_cost(layer, &option) {
                    assert!(cost.latency_s >= 0.0 && !cost.latency_s.is_nan(), "{}", layer.name);
                }
            }
        }
    }
    // A GEMM with a zero dimension is an invalid workload, not a zero-cost layer.
    assert!(matches!(cpu().layer_cost(&layers[3], &fp32()), Err(Error::InvalidWorkload { .. })));
}
