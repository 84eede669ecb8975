//! The rows of the run directory's tables: one type per table, with its columns, how a row is
//! written ([`record`](PlanRow::record)) and how it is read back.

use std::fmt;

use crate::quantity::Quantity;
use crate::table::TextTable;

/// Columns of `candidates.csv`, in order; `front.csv` adds [`FRONT_EXTRA_COLUMNS`] and, in runs
/// that recovered plans, [`RECOVERED_COLUMN`].
pub const PLAN_COLUMNS: [&str; 14] = [
    "plan_id",
    "accuracy_loss",
    "accuracy_loss_measured",
    "latency_s",
    "latency_s_measured",
    "energy_j",
    "size_bytes",
    "feasible",
    "violation",
    "violated",
    "on_front",
    "accuracy_source",
    "latency_source",
    "genome",
];

/// Columns `front.csv` has beyond [`PLAN_COLUMNS`].
pub const FRONT_EXTRA_COLUMNS: [&str; 1] = ["plan_file"];

/// The last column of `front.csv` in runs made with `--recover`.
pub const RECOVERED_COLUMN: &str = "accuracy_loss_recovered";

/// Columns of `tables/costs.csv`.
pub const COST_COLUMNS: [&str; 8] =
    ["layer", "option_id", "option", "latency_s", "energy_j", "bytes", "bound", "precision"];

/// Columns of `tables/sensitivity.csv`.
pub const SENSITIVITY_COLUMNS: [&str; 5] = ["layer", "option_id", "option", "delta", "kl"];

/// Columns of `tables/convergence.csv`.
pub const CONVERGENCE_COLUMNS: [&str; 3] = ["evaluations", "hypervolume", "front_size"];

/// Columns of `tables/layers.csv`.
pub const LAYER_COLUMNS: [&str; 11] = [
    "plan_id",
    "layer",
    "kind",
    "option",
    "weight_bits",
    "sparsity",
    "rank_ratio",
    "latency_s",
    "energy_j",
    "bytes",
    "bound",
];

/// Where a plan's `accuracy_loss` comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccuracySource {
    /// The per-layer sensitivity table (the search's proxy).
    Proxy,
    /// A full evaluation of the compressed model.
    Measured,
    /// The data-free proxy: relative weight reconstruction error, dimensionless.
    DataFree,
    /// Not recorded (a run of an older or newer sculpt).
    Unknown,
}

impl AccuracySource {
    /// The value in the `accuracy_source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            AccuracySource::Proxy => "proxy",
            AccuracySource::Measured => "measured",
            AccuracySource::DataFree => "data-free",
            AccuracySource::Unknown => "unknown",
        }
    }

    fn parse(text: &str) -> AccuracySource {
        match text {
            "proxy" => AccuracySource::Proxy,
            "measured" => AccuracySource::Measured,
            "data-free" => AccuracySource::DataFree,
            _ => AccuracySource::Unknown,
        }
    }
}

impl fmt::Display for AccuracySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a plan's `latency_s` comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LatencySource {
    /// The device's cost model.
    Modelled,
    /// Timed on the device.
    Measured,
    /// Not recorded.
    Unknown,
}

impl LatencySource {
    /// The value in the `latency_source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            LatencySource::Modelled => "modelled",
            LatencySource::Measured => "measured",
            LatencySource::Unknown => "unknown",
        }
    }

    fn parse(text: &str) -> LatencySource {
        match text {
            "modelled" => LatencySource::Modelled,
            "measured" => LatencySource::Measured,
            _ => LatencySource::Unknown,
        }
    }
}

impl fmt::Display for LatencySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One evaluated plan: a row of candidates.csv or front.csv.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanRow {
    /// 0-based index in evaluation order.
    pub plan_id: u64,
    /// The accuracy loss the search optimised (fraction).
    pub accuracy_loss: f64,
    /// The accuracy loss re-measured on held-out data, where done.
    pub accuracy_loss_measured: Option<f64>,
    /// The accuracy loss re-measured after recovery training (`sculpt search --recover`), for
    /// the front plans that were recovered.
    pub accuracy_loss_recovered: Option<f64>,
    /// Latency per inference, seconds.
    pub latency_s: f64,
    /// Latency measured on the device, where done.
    pub latency_s_measured: Option<f64>,
    /// Energy per inference, joules.
    pub energy_j: f64,
    /// Stored size of the compressed weights, bytes (written as a whole number).
    pub size_bytes: f64,
    /// Meets every constraint.
    pub feasible: bool,
    /// Summed relative excess over the constraints (0 when feasible).
    pub violation: f64,
    /// The constraint keys the plan violates.
    pub violated: Vec<String>,
    /// On the returned front.
    pub on_front: bool,
    /// Where `accuracy_loss` comes from.
    pub accuracy_source: AccuracySource,
    /// Where `latency_s` comes from.
    pub latency_source: LatencySource,
    /// Option id per searched layer, joined by `-`.
    pub genome: String,
    /// The plan's YAML file relative to the run directory (front rows only).
    pub plan_file: Option<String>,
}

impl PlanRow {
    /// The plan's value of `quantity` in SI units.
    pub fn quantity(&self, quantity: Quantity) -> f64 {
        match quantity {
            Quantity::AccuracyLoss => self.accuracy_loss,
            Quantity::Latency => self.latency_s,
            Quantity::Energy => self.energy_j,
            Quantity::Size => self.size_bytes,
        }
    }

    /// The values of `quantities`, in that order.
    pub fn point(&self, quantities: &[Quantity]) -> Vec<f64> {
        quantities.iter().map(|&q| self.quantity(q)).collect()
    }

    /// The cells of [`PLAN_COLUMNS`].
    pub(crate) fn record(&self) -> Vec<String> {
        vec![
            self.plan_id.to_string(),
            num(self.accuracy_loss),
            opt(self.accuracy_loss_measured),
            num(self.latency_s),
            opt(self.latency_s_measured),
            num(self.energy_j),
            whole(self.size_bytes),
            self.feasible.to_string(),
            num(self.violation),
            self.violated.join(";"),
            self.on_front.to_string(),
            self.accuracy_source.to_string(),
            self.latency_source.to_string(),
            self.genome.clone(),
        ]
    }

    pub(crate) fn parse(t: &TextTable, row: usize, is_front: bool) -> Result<PlanRow, String> {
        Ok(PlanRow {
            plan_id: t.uint("plan_id", row)?,
            accuracy_loss: t.float("accuracy_loss", row)?,
            accuracy_loss_measured: t.opt_float("accuracy_loss_measured", row)?,
            accuracy_loss_recovered: t.opt_float(RECOVERED_COLUMN, row)?,
            latency_s: t.float("latency_s", row)?,
            latency_s_measured: t.opt_float("latency_s_measured", row)?,
            energy_j: t.float("energy_j", row)?,
            size_bytes: t.float("size_bytes", row)?,
            feasible: t.boolean("feasible", row)?,
            violation: t.opt_float("violation", row)?.unwrap_or(0.0),
            violated: t
                .opt_text("violated", row)
                .map(|s| {
                    s.split(';')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            on_front: t.opt_boolean("on_front", row)?.unwrap_or(is_front),
            accuracy_source: t
                .opt_text("accuracy_source", row)
                .map_or(AccuracySource::Unknown, |s| AccuracySource::parse(&s)),
            latency_source: t
                .opt_text("latency_source", row)
                .map_or(LatencySource::Unknown, |s| LatencySource::parse(&s)),
            genome: t.opt_text("genome", row).unwrap_or_default(),
            plan_file: t.opt_text("plan_file", row),
        })
    }
}

/// One row of tables/costs.csv: the modelled cost of one layer (or tied group) × option.
#[derive(Clone, Debug, PartialEq)]
pub struct CostRow {
    /// The layer, or the layers of a tied gene joined by `+`.
    pub layer: String,
    /// The option's id in the gene.
    pub option_id: u64,
    /// The option's short label (`w4 g32 p0.25`).
    pub option: String,
    /// Modelled latency, seconds.
    pub latency_s: f64,
    /// Modelled energy, joules.
    pub energy_j: f64,
    /// Stored bytes of the weights.
    pub bytes: u64,
    /// `compute`, `memory` or `overhead`.
    pub bound: String,
    /// The precision the device runs the layer at.
    pub precision: String,
}

impl CostRow {
    pub(crate) fn record(&self) -> Vec<String> {
        vec![
            self.layer.clone(),
            self.option_id.to_string(),
            self.option.clone(),
            num(self.latency_s),
            num(self.energy_j),
            self.bytes.to_string(),
            self.bound.clone(),
            self.precision.clone(),
        ]
    }

    pub(crate) fn parse(t: &TextTable, row: usize) -> Result<CostRow, String> {
        Ok(CostRow {
            layer: t.text("layer", row)?,
            option_id: t.uint("option_id", row)?,
            option: t.opt_text("option", row).unwrap_or_default(),
            latency_s: t.float("latency_s", row)?,
            energy_j: t.float("energy_j", row)?,
            bytes: t.uint("bytes", row)?,
            bound: t.opt_text("bound", row).unwrap_or_default(),
            precision: t.opt_text("precision", row).unwrap_or_default(),
        })
    }
}

/// One row of tables/sensitivity.csv.
#[derive(Clone, Debug, PartialEq)]
pub struct SensitivityRow {
    /// The layer, or the layers of a tied gene joined by `+`.
    pub layer: String,
    /// The option's id in the gene.
    pub option_id: Option<u64>,
    /// The option's short label (`w4 g32 p0.25`).
    pub option: String,
    /// Accuracy-proxy loss when only this layer takes this option (fraction).
    pub delta: f64,
    /// KL divergence of the outputs from the uncompressed model's, where measured.
    pub kl: Option<f64>,
}

impl SensitivityRow {
    pub(crate) fn record(&self) -> Vec<String> {
        vec![
            self.layer.clone(),
            self.option_id.map(|v| v.to_string()).unwrap_or_default(),
            self.option.clone(),
            num(self.delta),
            opt(self.kl),
        ]
    }

    pub(crate) fn parse(t: &TextTable, row: usize) -> Result<SensitivityRow, String> {
        Ok(SensitivityRow {
            layer: t.text("layer", row)?,
            option_id: t.opt_uint("option_id", row)?,
            option: t.opt_text("option", row).unwrap_or_default(),
            delta: t.float("delta", row)?,
            kl: t.opt_float("kl", row)?,
        })
    }
}

/// One row of tables/convergence.csv, written after every engine step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvergenceRow {
    /// Evaluations so far.
    pub evaluations: u64,
    /// Hypervolume of the feasible front so far, in the executor's normalised objective space
    /// (empty when the objectives have no bounds).
    pub hypervolume: Option<f64>,
    /// Size of the front so far.
    pub front_size: Option<u64>,
}

impl ConvergenceRow {
    pub(crate) fn record(&self) -> Vec<String> {
        vec![
            self.evaluations.to_string(),
            opt(self.hypervolume),
            self.front_size.map(|v| v.to_string()).unwrap_or_default(),
        ]
    }

    pub(crate) fn parse(t: &TextTable, row: usize) -> Result<ConvergenceRow, String> {
        Ok(ConvergenceRow {
            evaluations: t.uint("evaluations", row)?,
            hypervolume: t.opt_float("hypervolume", row)?,
            front_size: t.opt_uint("front_size", row)?,
        })
    }
}

/// Which plan a row of tables/layers.csv belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerPlan {
    /// The baseline (the uncompressed model, or int8 where the device cannot run fp32).
    Baseline,
    /// The plan with this `plan_id`.
    Plan(u64),
}

/// One row of tables/layers.csv: one layer of the baseline or of a front plan.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRow {
    /// The plan.
    pub plan: LayerPlan,
    /// The layer.
    pub layer: String,
    /// The layer kind (`conv2d`, `linear`).
    pub kind: String,
    /// The option's short label (`fp32` when uncompressed).
    pub option: String,
    /// Weight bits (32 for fp32).
    pub weight_bits: Option<f64>,
    /// Fraction of weights removed, in [0, 1).
    pub sparsity: Option<f64>,
    /// Rank kept as a fraction (1 for full rank).
    pub rank_ratio: Option<f64>,
    /// Modelled latency of the layer, seconds.
    pub latency_s: Option<f64>,
    /// Modelled energy of the layer, joules.
    pub energy_j: Option<f64>,
    /// Stored bytes of the layer.
    pub bytes: Option<f64>,
    /// `compute`, `memory` or `overhead`: what bounds the layer's slowest part.
    pub bound: String,
}

impl LayerRow {
    pub(crate) fn record(&self) -> Vec<String> {
        vec![
            match self.plan {
                LayerPlan::Baseline => "baseline".to_string(),
                LayerPlan::Plan(id) => id.to_string(),
            },
            self.layer.clone(),
            self.kind.clone(),
            self.option.clone(),
            opt(self.weight_bits),
            opt(self.sparsity),
            opt(self.rank_ratio),
            opt(self.latency_s),
            opt(self.energy_j),
            self.bytes.map(whole).unwrap_or_default(),
            self.bound.clone(),
        ]
    }

    pub(crate) fn parse(t: &TextTable, row: usize) -> Result<LayerRow, String> {
        let plan_text = t.text("plan_id", row)?;
        let plan =
            if plan_text == "baseline" {
                LayerPlan::Baseline
            } else {
                LayerPlan::Plan(plan_text.parse().map_err(|_| {
                    t.cell_error("plan_id", row, &plan_text, "`baseline` or a plan id")
                })?)
            };
        Ok(LayerRow {
            plan,
            layer: t.text("layer", row)?,
            kind: t.opt_text("kind", row).unwrap_or_default(),
            option: t.opt_text("option", row).unwrap_or_default(),
            weight_bits: t.opt_float("weight_bits", row)?,
            sparsity: t.opt_float("sparsity", row)?,
            rank_ratio: t.opt_float("rank_ratio", row)?,
            latency_s: t.opt_float("latency_s", row)?,
            energy_j: t.opt_float("energy_j", row)?,
            bytes: t.opt_float("bytes", row)?,
            bound: t.opt_text("bound", row).unwrap_or_default(),
        })
    }
}

/// A number as the tables write it: Rust's shortest text that parses back to the same `f64`.
fn num(x: f64) -> String {
    format!("{x}")
}

/// An optional number; empty when absent.
fn opt(x: Option<f64>) -> String {
    x.map(num).unwrap_or_default()
}

/// A count of bytes, written as a whole number.
fn whole(x: f64) -> String {
    (x as u64).to_string()
}
