//! Fitting recovers the parameters of a known profile from measurements it generated.

mod common;

use common::{CPU, close, profile};
use sculpt_hw::{
    ActivationPrecision as Act, Error, FitConfig, FreeParam, Gemm, LayerCompression, LayerWorkload,
    Measurement, Precision, Profile, WorkloadKind, analytic_layer_cost, fit, validate,
};

/// The "true" device: the toy CPU with fp32 at 2.5 GMAC/s, int8 at 7 GMAC/s, DRAM at 3 GB/s and
/// 20 µs per layer (the toy starts from 1, 4, 1 and 0).
fn truth() -> Profile {
    let text = CPU
        .replace("    gmac_per_s: 1\n", "    gmac_per_s: 2.5\n")
        .replace("    gmac_per_s: 4\n", "    gmac_per_s: 7\n")
        .replace("bandwidth_gb_per_s: 1\n", "bandwidth_gb_per_s: 3\n")
        .replace("per_layer_us: 0", "per_layer_us: 20");
    profile(&text)
}

/// Compute-bound and memory-bound layers of several sizes in both precisions, "measured" on
/// `device` with a multiplicative error pattern of amplitude `noise`.
fn measurements(device: &Profile, sizes: &[(u64, u64, u64)], noise: f64) -> Vec<Measurement> {
    let mut out = Vec::new();
    for (idx, &(tokens, d_in, d_out)) in sizes.iter().enumerate() {
        for compression in
            [LayerCompression::FP32, LayerCompression::dense(Precision::Int8, Act::Int8)]
        {
            let workload = LayerWorkload::linear(&format!("l{idx}"), tokens, d_in, d_out);
            let exact =
                analytic_layer_cost(device, &workload, &compression, Default::default()).unwrap();
            let wiggle = if out.len() % 2 == 0 { 1.0 + noise } else { 1.0 - noise };
            out.push(Measurement { workload, compression, latency_s: exact.latency_s * wiggle });
        }
    }
    out
}

const TRAIN: [(u64, u64, u64); 6] = [
    (1, 256, 256),
    (1, 1024, 1024),
    (1, 2048, 512),
    (64, 256, 256),
    (512, 128, 128),
    (256, 512, 512),
];
const HELD_OUT: [(u64, u64, u64); 4] =
    [(1, 512, 768), (32, 384, 384), (128, 64, 1024), (2, 3000, 100)];

const FREE: [FreeParam; 4] = [
    FreeParam::Throughput(Precision::Fp32),
    FreeParam::Throughput(Precision::Int8),
    FreeParam::DramBandwidth,
    FreeParam::PerLayerOverhead,
];

#[test]
fn recovers_known_parameters_from_exact_measurements() {
    let train = measurements(&truth(), &TRAIN, 0.0);
    let start = profile(CPU);
    let (fitted, report) = fit(&start, &train, &FREE, &FitConfig::default()).unwrap();
    let expected = [2.5, 7.0, 3.0, 20.0];
    for (param, expected) in report.params.iter().zip(expected) {
        assert!(
            close(param.fitted, expected, 1e-3),
            "{:?}: fitted {} expected {expected}",
            param.param,
            param.fitted
        );
    }
    assert_eq!(report.params[0].initial, 1.0);
    assert!(report.final_loss < 1e-8 && report.initial_loss > 0.1, "{report:?}");

    let held_out = measurements(&truth(), &HELD_OUT, 0.0);
    let stats = validate(&fitted, &held_out).unwrap();
    assert_eq!(stats.n, 8);
    assert!(stats.mape < 1e-3, "{stats:?}");
    assert_eq!(stats.within_10pct, 1.0);
    assert!(close(stats.spearman, 1.0, 1e-12), "{stats:?}");
    // The unfitted profile is far off on the same held-out set.
    let before = validate(&start, &held_out).unwrap();
    assert!(before.mape > 0.3 && before.within_10pct < 0.5, "{before:?}");
}

#[test]
fn tolerates_measurement_noise() {
    // ±5 % alternating errors: rates and bandwidth within 6 %; the per-layer overhead, a small
    // term in every latency, within 15 %; held-out predictions within 10 %.
    let train = measurements(&truth(), &TRAIN, 0.05);
    let (fitted, report) = fit(&profile(CPU), &train, &FREE, &FitConfig::default()).unwrap();
    for (param, expected, tolerance) in report
        .params
        .iter()
        .zip([2.5, 7.0, 3.0, 20.0])
        .zip([0.06, 0.06, 0.06, 0.15])
        .map(|((p, e), t)| (p, e, t))
    {
        assert!(
            close(param.fitted, expected, tolerance),
            "{:?}: {} vs {expected}",
            param.param,
            param.fitted
        );
    }
    // The optimiser found a point at least as good as the truth on the noisy data.
    let truth_loss = train
        .iter()
        .map(|m| {
            let predicted =
                analytic_layer_cost(&truth(), &m.workload, &m.compression, Default::default())
                    .unwrap();
            (predicted.latency_s.ln() - m.latency_s.ln()).powi(2)
        })
        .sum::<f64>()
        / train.len() as f64;
    assert!(report.final_loss <= truth_loss * (1.0 + 1e-9), "{} > {truth_loss}", report.final_loss);
    let stats = validate(&fitted, &measurements(&truth(), &HELD_OUT, 0.0)).unwrap();
    assert_eq!(stats.within_10pct, 1.0, "{stats:?}");
}

#[test]
fn fits_a_utilisation_and_a_systolic_rate() {
    // Depthwise utilisation on the toy CPU: truth 0.2, start 0.5.
    let truth = profile(&CPU.replace("depthwise_conv2d: 0.5", "depthwise_conv2d: 0.2"));
    let train: Vec<Measurement> = [(4096, 16), (16384, 32), (1024, 64)]
        .into_iter()
        .map(|(m, groups)| {
            let gemm = Gemm { m, n: 1, k: 9, groups };
            let workload = LayerWorkload {
                name: format!("dw{groups}"),
                kind: WorkloadKind::DepthwiseConv2d,
                macs: gemm.macs(),
                weight_elems: 9 * groups,
                in_act_elems: m * groups,
                out_act_elems: m * groups,
                gemm: Some(gemm),
            };
            let latency_s =
                analytic_layer_cost(&truth, &workload, &LayerCompression::FP32, Default::default())
                    .unwrap()
                    .latency_s;
            Measurement { workload, compression: LayerCompression::FP32, latency_s }
        })
        .collect();
    let free = [FreeParam::Utilisation(WorkloadKind::DepthwiseConv2d)];
    let (fitted, report) = fit(&profile(CPU), &train, &free, &FitConfig::default()).unwrap();
    assert!(close(report.params[0].fitted, 0.2, 1e-4), "{report:?}");
    assert!(close(fitted.utilisation(WorkloadKind::DepthwiseConv2d), 0.2, 1e-4));

    // A systolic array's per-PE rate: truth 0.5 MAC/PE/cycle, start 1.0.
    let array_truth =
        profile(&common::ARRAY.replace("macs_per_pe_per_cycle: 1.0", "macs_per_pe_per_cycle: 0.5"));
    let int8 = LayerCompression::dense(Precision::Int8, Act::Int8);
    let train: Vec<Measurement> = [(10, 12, 8), (100, 4, 4)]
        .into_iter()
        .map(|(t, i, o)| {
            let workload = LayerWorkload::linear("fc", t, i, o);
            let latency_s = analytic_layer_cost(&array_truth, &workload, &int8, Default::default())
                .unwrap()
                .latency_s;
            Measurement { workload, compression: int8, latency_s }
        })
        .collect();
    let free = [FreeParam::Throughput(Precision::Int8)];
    let (_, report) = fit(&profile(common::ARRAY), &train, &free, &FitConfig::default()).unwrap();
    assert!(close(report.params[0].fitted, 0.5, 1e-4), "{report:?}");
}

#[test]
fn the_fitted_profile_round_trips_through_yaml() {
    let train = measurements(&truth(), &TRAIN, 0.0);
    let (fitted, _) = fit(&profile(CPU), &train, &FREE, &FitConfig::default()).unwrap();
    let text = fitted.to_yaml().unwrap();
    let again = Profile::from_yaml(&text, "fitted.yaml".as_ref()).unwrap();
    let stats = validate(&again, &measurements(&truth(), &HELD_OUT, 0.0)).unwrap();
    assert!(stats.mape < 1e-3, "{stats:?}");
}

#[test]
fn bad_fit_requests_are_errors() {
    let train = measurements(&truth(), &TRAIN[..1], 0.0);
    let config = FitConfig::default();
    let start = profile(CPU);
    let err = fit(&start, &train, &[FreeParam::Throughput(Precision::Int4)], &config).unwrap_err();
    assert_eq!(err.to_string(), "fit: `int4` is not a native precision of `toy-cpu`");
    let err = fit(&start, &[], &FREE, &config).unwrap_err();
    assert_eq!(err.to_string(), "fit: no measurements");
    let err = fit(&start, &train, &[], &config).unwrap_err();
    assert_eq!(err.to_string(), "fit: no free parameters");
    let mut zero = train.clone();
    zero[0].latency_s = 0.0;
    let err = fit(&start, &zero, &FREE, &config).unwrap_err();
    assert_eq!(err.to_string(), "fit: layer `l0`: measured latency 0 is not > 0");
    // A layer the device refuses fails with the device's own error.
    let mut refused = train;
    refused[0].compression = LayerCompression::dense(Precision::Fp16, Act::Fp16);
    assert!(matches!(fit(&start, &refused, &FREE, &config), Err(Error::Unsupported { .. })));
}

/// Layers that are all compute-bound leave the DRAM bandwidth unconstrained: the fit keeps it
/// finite, within a factor 10⁴ of where it started, and the profile still loads.
#[test]
fn an_unconstrained_parameter_stays_within_its_bound() {
    let fast_memory = profile(&CPU.replace("bandwidth_gb_per_s: 1\n", "bandwidth_gb_per_s: 1e9\n"));
    let train = measurements(&fast_memory, &TRAIN, 0.0);
    let free = [FreeParam::Throughput(Precision::Fp32), FreeParam::DramBandwidth];
    let (fitted, report) = fit(&profile(CPU), &train, &free, &FitConfig::default()).unwrap();
    let bandwidth = report.params[1].fitted;
    assert!(bandwidth.is_finite() && bandwidth <= 1e4 * (1.0 + 1e-9), "{report:?}");
    let text = fitted.to_yaml().unwrap();
    Profile::from_yaml(&text, "fitted.yaml".as_ref()).unwrap();
}
