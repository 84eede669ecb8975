//! Fitting a profile's free parameters to measured latencies, and validation statistics.
//!
//! [`fit`] minimises the mean squared error of log latency,
//! `L = (1/n) Σ (ln predicted_i − ln measured_i)²`, over the chosen [`FreeParam`]s with argmin's
//! Nelder–Mead simplex (the roofline's `max` makes the loss non-smooth, so no gradients). The
//! optimiser works on transformed parameters so every value stays valid: rates, bandwidths and
//! overheads as `ln(value)`, utilisations as `logit(value)`. The simplex restarts
//! [`FitConfig::restarts`] times from the best point, which recovers from premature collapse.
//!
//! Predictions are the analytic per-layer latencies with weights in DRAM
//! ([`crate::analytic_layer_cost`] with the default [`crate::CostContext`]).

use argmin::core::{CostFunction, Executor, State};
use argmin::solver::neldermead::NelderMead;

use crate::analytic::{CostContext, analytic_layer_cost};
use crate::error::Error;
use crate::profile::{PrecisionSupport, Profile};
use crate::workload::{LayerCompression, LayerWorkload, Precision, WorkloadKind};

/// One measured layer latency.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// The layer.
    pub workload: LayerWorkload,
    /// The option it ran with.
    pub compression: LayerCompression,
    /// The measured latency in seconds (> 0).
    pub latency_s: f64,
}

/// A profile parameter the fit may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FreeParam {
    /// A native precision's rate (`gmac_per_s`, or `macs_per_pe_per_cycle` on a systolic device).
    Throughput(Precision),
    /// `memory.sram.bandwidth_gb_per_s`.
    SramBandwidth,
    /// `memory.dram.bandwidth_gb_per_s`.
    DramBandwidth,
    /// `overheads.per_layer_us`.
    PerLayerOverhead,
    /// `utilisation.<kind>`, kept in `(0, 1)`.
    Utilisation(WorkloadKind),
}

/// Budget of a fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitConfig {
    /// Nelder–Mead iterations per run.
    pub max_iters: u64,
    /// Extra runs restarted from the best point so far.
    pub restarts: u32,
}

impl Default for FitConfig {
    fn default() -> FitConfig {
        FitConfig { max_iters: 3000, restarts: 3 }
    }
}

/// One fitted parameter, in the profile's units (GMAC/s, MAC/PE/cycle, GB/s, µs, fraction).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FittedParam {
    /// Which parameter.
    pub param: FreeParam,
    /// Its value before the fit.
    pub initial: f64,
    /// Its value after the fit.
    pub fitted: f64,
}

/// What a fit did.
#[derive(Clone, Debug, PartialEq)]
pub struct FitReport {
    /// The parameters, in the order given.
    pub params: Vec<FittedParam>,
    /// Mean squared log error before the fit.
    pub initial_loss: f64,
    /// Mean squared log error after the fit.
    pub final_loss: f64,
    /// Nelder–Mead iterations over all runs.
    pub iterations: u64,
    /// Statistics of the fitted profile on the training measurements.
    pub train: ValidationStats,
}

/// How well predictions match measurements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValidationStats {
    /// Number of measurements.
    pub n: usize,
    /// Mean absolute percentage error, as a fraction (0.05 is 5 %).
    pub mape: f64,
    /// Share of predictions within ±10 % of the measurement.
    pub within_10pct: f64,
    /// Spearman rank correlation between predictions and measurements (average ranks for ties);
    /// NaN when undefined (fewer than two points, or all values equal).
    pub spearman: f64,
}

/// Fits `free` parameters of `profile` to `measurements`; returns the fitted profile and a report.
///
/// Errors when no parameter or measurement is given, a measurement is not positive, a layer cannot
/// be costed on the device, or a throughput parameter names a precision that is not native.
pub fn fit(
    profile: &Profile,
    measurements: &[Measurement],
    free: &[FreeParam],
    config: &FitConfig,
) -> Result<(Profile, FitReport), Error> {
    if free.is_empty() {
        return Err(Error::Fit { msg: "no free parameters".into() });
    }
    check_measurements(measurements)?;
    let initial: Vec<f64> =
        free.iter().map(|p| get_param(profile, *p)).collect::<Result<_, _>>()?;
    // Cost every layer once up front so that unsupported layers fail with their own error.
    predictions(profile, measurements)?;

    let x0: Vec<f64> = free.iter().zip(&initial).map(|(p, v)| to_free(*p, *v)).collect();
    let problem = LogLoss { profile, measurements, free, x0: x0.clone() };
    let initial_loss = problem.loss(&x0);
    let mut best = x0;
    let mut best_loss = initial_loss;
    let mut iterations = 0;
    for _ in 0..=config.restarts {
        let mut simplex = vec![best.clone()];
        for i in 0..best.len() {
            let mut vertex = best.clone();
            vertex[i] += 0.5;
            simplex.push(vertex);
        }
        let solver = NelderMead::new(simplex)
            .with_sd_tolerance(1e-14)
            .map_err(|e| Error::Fit { msg: e.to_string() })?;
        let result = Executor::new(problem_ref(&problem), solver)
            .configure(|state| state.max_iters(config.max_iters))
            .run()
            .map_err(|e| Error::Fit { msg: e.to_string() })?;
        let state = result.state();
        iterations += state.get_iter();
        if let Some(param) = state.get_best_param() {
            let loss = problem.loss(param);
            if loss <= best_loss {
                best_loss = loss;
                best = param.clone();
            }
        }
    }
    let fitted_profile = problem.profile_at(&best)?;
    let params = free
        .iter()
        .zip(&initial)
        .map(|(p, initial)| {
            Ok(FittedParam {
                param: *p,
                initial: *initial,
                fitted: get_param(&fitted_profile, *p)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let train = validate(&fitted_profile, measurements)?;
    let report = FitReport { params, initial_loss, final_loss: best_loss, iterations, train };
    Ok((fitted_profile, report))
}

/// Statistics of `profile`'s analytic predictions against `measurements` (held out from the fit).
pub fn validate(profile: &Profile, measurements: &[Measurement]) -> Result<ValidationStats, Error> {
    check_measurements(measurements)?;
    let predicted = predictions(profile, measurements)?;
    let measured: Vec<f64> = measurements.iter().map(|m| m.latency_s).collect();
    Ok(compare(&predicted, &measured))
}

/// Statistics of `predicted` against `measured` (same length; measured values > 0).
pub fn compare(predicted: &[f64], measured: &[f64]) -> ValidationStats {
    let n = predicted.len().min(measured.len());
    let rel: Vec<f64> = predicted.iter().zip(measured).map(|(p, m)| ((p - m) / m).abs()).collect();
    let mape = rel.iter().sum::<f64>() / n as f64;
    let within_10pct = rel.iter().filter(|r| **r <= 0.10 + 1e-12).count() as f64 / n as f64;
    ValidationStats {
        n,
        mape,
        within_10pct,
        spearman: sculpt_stdx::stats::spearman(&predicted[..n], &measured[..n]),
    }
}

fn check_measurements(measurements: &[Measurement]) -> Result<(), Error> {
    if measurements.is_empty() {
        return Err(Error::Fit { msg: "no measurements".into() });
    }
    for m in measurements {
        if !(m.latency_s.is_finite() && m.latency_s > 0.0) {
            return Err(Error::Fit {
                msg: format!(
                    "layer `{}`: measured latency {} is not > 0",
                    m.workload.name, m.latency_s
                ),
            });
        }
    }
    Ok(())
}

fn predictions(profile: &Profile, measurements: &[Measurement]) -> Result<Vec<f64>, Error> {
    measurements
        .iter()
        .map(|m| {
            analytic_layer_cost(profile, &m.workload, &m.compression, CostContext::default())
                .map(|c| c.latency_s)
        })
        .collect()
}

/// How far (natural log, or logit for utilisations) a rate, bandwidth or utilisation may move
/// from its initial value: a factor of 10⁴ either way. A parameter the measurements do not
/// constrain (a bandwidth when every layer is compute-bound) would otherwise drift until it
/// overflows to infinity. Overheads, which often start at 0, range from 10⁻⁹ µs to 1 s.
const MAX_LOG_STEP: f64 = 9.210_340_371_976_184; // ln(1e4)

/// The allowed range of a parameter in the free coordinates, given where it started.
fn bounds(param: FreeParam, x0: f64) -> (f64, f64) {
    match param {
        FreeParam::PerLayerOverhead => (1e-9f64.ln(), 1e6f64.ln()),
        _ => (x0 - MAX_LOG_STEP, x0 + MAX_LOG_STEP),
    }
}

struct LogLoss<'a> {
    profile: &'a Profile,
    measurements: &'a [Measurement],
    free: &'a [FreeParam],
    /// The initial point in the free coordinates.
    x0: Vec<f64>,
}

impl LogLoss<'_> {
    fn profile_at(&self, x: &[f64]) -> Result<Profile, Error> {
        let mut profile = self.profile.clone();
        for ((p, v), v0) in self.free.iter().zip(x).zip(&self.x0) {
            let (lo, hi) = bounds(*p, *v0);
            let v = v.clamp(lo, hi);
            set_param(&mut profile, *p, from_free(*p, v))?;
        }
        Ok(profile)
    }

    fn loss(&self, x: &[f64]) -> f64 {
        let Ok(profile) = self.profile_at(x) else { return f64::INFINITY };
        let Ok(predicted) = predictions(&profile, self.measurements) else { return f64::INFINITY };
        let sum: f64 = predicted
            .iter()
            .zip(self.measurements)
            .map(|(p, m)| (p.ln() - m.latency_s.ln()).powi(2))
            .sum();
        let loss = sum / self.measurements.len() as f64;
        if loss.is_finite() { loss } else { f64::INFINITY }
    }
}

/// argmin takes the problem by value; a thin borrowing wrapper keeps `LogLoss` reusable.
struct LogLossRef<'a, 'b>(&'b LogLoss<'a>);

fn problem_ref<'a, 'b>(problem: &'b LogLoss<'a>) -> LogLossRef<'a, 'b> {
    LogLossRef(problem)
}

impl CostFunction for LogLossRef<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.0.loss(x))
    }
}

/// Overheads below this (in µs) are fitted as this, so that their logarithm exists.
const MIN_OVERHEAD_US: f64 = 1e-3;

fn to_free(param: FreeParam, value: f64) -> f64 {
    match param {
        FreeParam::Utilisation(_) => {
            let v = value.clamp(1e-6, 1.0 - 1e-6);
            (v / (1.0 - v)).ln()
        }
        FreeParam::PerLayerOverhead => value.max(MIN_OVERHEAD_US).ln(),
        _ => value.ln(),
    }
}

fn from_free(param: FreeParam, x: f64) -> f64 {
    match param {
        FreeParam::Utilisation(_) => 1.0 / (1.0 + (-x).exp()),
        _ => x.exp(),
    }
}

fn get_param(profile: &Profile, param: FreeParam) -> Result<f64, Error> {
    let raw = &profile.raw;
    Ok(match param {
        FreeParam::Throughput(p) => {
            let entry = raw
                .precisions
                .get(p)
                .filter(|_| matches!(profile.precision(p), PrecisionSupport::Native { .. }));
            let entry = entry.ok_or_else(|| Error::Fit {
                msg: format!("`{p}` is not a native precision of `{}`", profile.name()),
            })?;
            entry.gmac_per_s.or(entry.macs_per_pe_per_cycle).unwrap_or(0.0)
        }
        FreeParam::SramBandwidth => raw.memory.sram.bandwidth_gb_per_s,
        FreeParam::DramBandwidth => raw.memory.dram.bandwidth_gb_per_s,
        FreeParam::PerLayerOverhead => raw.overheads.per_layer_us,
        FreeParam::Utilisation(kind) => profile.utilisation(kind),
    })
}

fn set_param(profile: &mut Profile, param: FreeParam, value: f64) -> Result<(), Error> {
    let raw = &mut profile.raw;
    match param {
        FreeParam::Throughput(p) => {
            let entry = raw
                .precisions
                .get_mut(p)
                .ok_or_else(|| Error::Fit { msg: format!("`{p}` is not in the profile") })?;
            if entry.gmac_per_s.is_some() {
                entry.gmac_per_s = Some(value);
            } else {
                entry.macs_per_pe_per_cycle = Some(value);
            }
        }
        FreeParam::SramBandwidth => raw.memory.sram.bandwidth_gb_per_s = value,
        FreeParam::DramBandwidth => raw.memory.dram.bandwidth_gb_per_s = value,
        FreeParam::PerLayerOverhead => raw.overheads.per_layer_us = value,
        FreeParam::Utilisation(kind) => raw.utilisation.set(kind, value),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_counts_the_ten_percent_band() {
        let stats = compare(&[1.0, 1.1, 0.5, 2.0], &[1.0, 1.0, 1.0, 1.0]);
        assert_eq!(stats.n, 4);
        assert!((stats.mape - (0.0 + 0.1 + 0.5 + 1.0) / 4.0).abs() < 1e-12);
        assert!((stats.within_10pct - 0.5).abs() < 1e-12);
    }

    #[test]
    fn parameters_are_clamped_to_their_bounds() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../hardware-profiles/cpu-host.yaml");
        let profile = Profile::from_path(path.as_ref()).unwrap();
        let free = [FreeParam::DramBandwidth, FreeParam::PerLayerOverhead];
        let initial = get_param(&profile, FreeParam::DramBandwidth).unwrap();
        let x0: Vec<f64> =
            free.iter().map(|p| to_free(*p, get_param(&profile, *p).unwrap())).collect();
        let problem = LogLoss { profile: &profile, measurements: &[], free: &free, x0: x0.clone() };
        // 1000 natural-log units out would overflow to infinity; the bound stops at 10⁴× (and
        // 10⁻⁴×) the initial bandwidth and at 1 s (and 10⁻⁹ µs) of per-layer overhead.
        let far = problem.profile_at(&[x0[0] + 1000.0, 1000.0]).unwrap();
        let got = get_param(&far, FreeParam::DramBandwidth).unwrap();
        assert!((got / (initial * 1e4) - 1.0).abs() < 1e-9, "{got} vs {initial}");
        assert!((get_param(&far, FreeParam::PerLayerOverhead).unwrap() - 1e6).abs() < 1e-3);
        let near = problem.profile_at(&[x0[0] - 1000.0, -1000.0]).unwrap();
        let got = get_param(&near, FreeParam::DramBandwidth).unwrap();
        assert!((got / (initial * 1e-4) - 1.0).abs() < 1e-9, "{got} vs {initial}");
        let overhead = get_param(&near, FreeParam::PerLayerOverhead).unwrap();
        assert!((overhead / 1e-9 - 1.0).abs() < 1e-9, "{overhead}");
    }

    #[test]
    fn transforms_round_trip() {
        for (param, value) in [
            (FreeParam::DramBandwidth, 17.0),
            (FreeParam::Utilisation(WorkloadKind::Linear), 0.3),
            (FreeParam::PerLayerOverhead, 5.0),
        ] {
            let back = from_free(param, to_free(param, value));
            assert!((back - value).abs() < 1e-9 * value, "{param:?}");
        }
    }
}
