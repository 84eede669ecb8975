//! [`CostModel`]: a profile plus, optionally, the measured lookup table it refers to.

use std::collections::BTreeMap;
use std::path::Path;

use crate::analytic::{
    CostContext, CostSource, LayerCost, ModelCost, analytic_layer_cost, model_cost_with,
};
use crate::error::Error;
use crate::lookup::{LookupTable, TableRow};
use crate::profile::{LookupMode, MissingPolicy, Profile};
use crate::workload::{
    ActivationPrecision, LayerCompression, LayerWorkload, Precision, QuantGranularity, WorkloadKind,
};

/// Costs layers and models on one device: the analytic model, optionally replaced or scaled by a
/// measured lookup table (see [`crate::LookupTable`] for the rules).
///
/// ```
/// use sculpt_hw::{ActivationPrecision, CostModel, LayerCompression, LayerWorkload, Precision, Profile};
///
/// let profile = Profile::from_yaml(
///     include_str!("../../../hardware-profiles/edge-gpu.yaml"),
///     "edge-gpu.yaml".as_ref(),
/// )?;
/// let model = CostModel::analytic(profile);
/// let layer = LayerWorkload::linear("encoder.0.ffn.up", 128, 512, 2048);
/// let fp16 = LayerCompression::dense(Precision::Fp16, ActivationPrecision::Fp16);
/// let int8 = LayerCompression::dense(Precision::Int8, ActivationPrecision::Int8);
/// let (slow, fast) = (model.layer_cost(&layer, &fp16)?, model.layer_cost(&layer, &int8)?);
/// assert!(fast.latency_s < slow.latency_s);
/// assert!(fast.weight_bytes < slow.weight_bytes);
/// # Ok::<(), sculpt_hw::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct CostModel {
    profile: Profile,
    lookup: Option<Lookup>,
}

#[derive(Clone, Debug)]
struct Lookup {
    table: LookupTable,
    mode: LookupMode,
    missing: MissingPolicy,
    /// Per-kind latency factors (measured / analytic), for [`LookupMode::Scale`].
    factors: BTreeMap<WorkloadKind, f64>,
}

impl CostModel {
    /// Loads the profile at `path` and the lookup table it refers to, if any.
    pub fn load(path: &Path) -> Result<CostModel, Error> {
        CostModel::new(Profile::from_path(path)?)
    }

    /// A cost model for `profile`, with the lookup table its `lookup` section refers to.
    pub fn new(profile: Profile) -> Result<CostModel, Error> {
        match profile.lookup() {
            None => Ok(CostModel::analytic(profile)),
            Some(spec) => {
                let table = LookupTable::from_path(&spec.path)?;
                CostModel::with_table(profile, table, spec.mode, spec.missing)
            }
        }
    }

    /// The analytic model alone, ignoring any lookup table the profile refers to.
    pub fn analytic(profile: Profile) -> CostModel {
        CostModel { profile, lookup: None }
    }

    /// A cost model that uses `table` in `mode`, with `missing` deciding misses.
    pub fn with_table(
        profile: Profile,
        table: LookupTable,
        mode: LookupMode,
        missing: MissingPolicy,
    ) -> Result<CostModel, Error> {
        let factors = match mode {
            LookupMode::Replace => BTreeMap::new(),
            LookupMode::Scale => scale_factors(&profile, &table)?,
        };
        Ok(CostModel { profile, lookup: Some(Lookup { table, mode, missing, factors }) })
    }

    /// The device profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The per-kind latency factors of a `scale`-mode table (empty otherwise).
    pub fn scale_factors(&self) -> BTreeMap<WorkloadKind, f64> {
        self.lookup.as_ref().map(|l| l.factors.clone()).unwrap_or_default()
    }

    /// Whether the device can run `workload` with `compression` at all (the precision policy and
    /// the workload's consistency); the cheap check for filtering a search space.
    pub fn check_supported(
        &self,
        workload: &LayerWorkload,
        compression: &LayerCompression,
    ) -> Result<(), Error> {
        workload.validate()?;
        crate::analytic::resolve_kernel(&self.profile, workload, compression).map(|_| ())
    }

    /// The cost of one layer, with weights in DRAM (the additive per-layer cost a search tabulates).
    pub fn layer_cost(
        &self,
        workload: &LayerWorkload,
        compression: &LayerCompression,
    ) -> Result<LayerCost, Error> {
        self.layer_cost_in(workload, compression, CostContext::default())
    }

    /// The cost of one layer under model-level `context`.
    pub fn layer_cost_in(
        &self,
        workload: &LayerWorkload,
        compression: &LayerCompression,
        context: CostContext,
    ) -> Result<LayerCost, Error> {
        let analytic = analytic_layer_cost(&self.profile, workload, compression, context)?;
        let Some(lookup) = &self.lookup else { return Ok(analytic) };
        let miss = |analytic: LayerCost| match lookup.missing {
            MissingPolicy::Analytic => Ok(analytic),
            MissingPolicy::Error => Err(Error::LookupMiss {
                path: lookup.table.path().to_path_buf(),
                layer: workload.name.clone(),
                entry: describe_entry(workload, compression),
            }),
        };
        match lookup.mode {
            LookupMode::Replace => {
                let hit = lookup.table.lookup(
                    workload.kind,
                    compression.requested_precision(workload),
                    &compression.sparsity,
                    workload.gemm.as_ref(),
                    workload.macs,
                );
                match hit {
                    None => miss(analytic),
                    Some(hit) => {
                        let source =
                            if hit.exact { CostSource::Measured } else { CostSource::Interpolated };
                        Ok(with_latency(
                            analytic,
                            hit.latency_s,
                            hit.energy_j,
                            &self.profile,
                            source,
                        ))
                    }
                }
            }
            LookupMode::Scale => match lookup.factors.get(&workload.kind) {
                None => miss(analytic),
                Some(&factor) => {
                    let latency = analytic.latency_s * factor;
                    Ok(with_latency(
                        analytic,
                        latency,
                        None,
                        &self.profile,
                        CostSource::Scaled { factor },
                    ))
                }
            },
        }
    }

    /// The cost of a model: every layer with its option, in order. Weights are kept on chip when
    /// the device caches weights and all of them fit in SRAM together with the peak activations.
    pub fn model_cost(
        &self,
        layers: &[(LayerWorkload, LayerCompression)],
    ) -> Result<ModelCost, Error> {
        model_cost_with(&self.profile, layers.len(), |idx, context| {
            let (workload, compression) = &layers[idx];
            self.layer_cost_in(workload, compression, context)
        })
    }
}

/// Replaces a cost's latency (and energy, when measured); static energy follows the new latency.
fn with_latency(
    mut cost: LayerCost,
    latency_s: f64,
    energy_j: Option<f64>,
    profile: &Profile,
    source: CostSource,
) -> LayerCost {
    cost.latency_s = latency_s;
    cost.energy.static_j = profile.static_power_w() * latency_s;
    cost.energy_j = energy_j.unwrap_or_else(|| cost.energy.total_j());
    cost.source = source;
    cost
}

fn describe_entry(workload: &LayerWorkload, compression: &LayerCompression) -> String {
    let dims = workload.gemm.map_or("no GEMM".to_string(), |g| {
        format!("m={} n={} k={} groups={}", g.m, g.n, g.k, g.groups)
    });
    format!(
        "kind {}, precision {}, sparsity {}, {dims}, macs {}",
        workload.kind,
        compression.requested_precision(workload),
        compression.sparsity,
        workload.macs
    )
}

/// A table row as a workload and option, for costing it analytically (scale mode).
///
/// Weights are `groups·k·n` (none for attention), input `groups·m·k`, output `groups·m·n`;
/// integer precisions run with int8 activations, float ones with activations of the same type.
pub(crate) fn row_as_layer(row: &TableRow) -> Option<(LayerWorkload, LayerCompression)> {
    let gemm = row.gemm?;
    let weight_elems =
        if row.kind == WorkloadKind::Attention { 0 } else { gemm.groups * gemm.k * gemm.n };
    let workload = LayerWorkload {
        name: format!("table line {}", row.line),
        kind: row.kind,
        macs: row.macs,
        weight_elems,
        in_act_elems: gemm.groups * gemm.m * gemm.k,
        out_act_elems: gemm.groups * gemm.m * gemm.n,
        gemm: Some(gemm),
    };
    let activations = match row.precision {
        Precision::Fp32 => ActivationPrecision::Fp32,
        Precision::Fp16 => ActivationPrecision::Fp16,
        Precision::Bf16 => ActivationPrecision::Bf16,
        _ => ActivationPrecision::Int8,
    };
    let compression = LayerCompression {
        weights: row.precision,
        granularity: QuantGranularity::PerChannel,
        activations,
        sparsity: row.sparsity,
    };
    Some((workload, compression))
}

/// Per kind, the geometric mean of measured / analytic latency over the rows with GEMM dimensions.
fn scale_factors(
    profile: &Profile,
    table: &LookupTable,
) -> Result<BTreeMap<WorkloadKind, f64>, Error> {
    let mut logs: BTreeMap<WorkloadKind, Vec<f64>> = BTreeMap::new();
    for row in table.rows() {
        let Some((workload, compression)) = row_as_layer(row) else { continue };
        let analytic =
            analytic_layer_cost(profile, &workload, &compression, CostContext::default()).map_err(
                |e| Error::Table {
                    path: table.path().to_path_buf(),
                    row: Some(row.line),
                    column: None,
                    msg: format!("cannot cost this row analytically: {e}"),
                },
            )?;
        logs.entry(row.kind).or_default().push((row.latency_s / analytic.latency_s).ln());
    }
    Ok(logs
        .into_iter()
        .map(|(kind, l)| (kind, (l.iter().sum::<f64>() / l.len() as f64).exp()))
        .collect())
}
