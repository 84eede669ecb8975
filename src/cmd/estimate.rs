//! `sculpt estimate`: per-layer latency, energy and bytes of a (compressed) model on a device.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use sculpt_compress::{ApplyOptions, CompressionPlan, LayerOption};
use sculpt_hw::{Bound, CostModel};
use sculpt_model::Model;

use crate::output::{self, Format};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    input: super::ModelInput,
    /// The device profile (YAML).
    #[arg(long)]
    hardware: PathBuf,
    /// Also run the model on this CPU and print measured beside predicted latency.
    #[arg(long)]
    measure: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn bound_name(b: Bound) -> &'static str {
    match b {
        Bound::Compute => "compute",
        Bound::Memory => "memory",
        Bound::Overhead => "overhead",
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.input.batch >= 1 && args.input.tokens >= 1,
        "--batch and --tokens must be at least 1"
    );
    let cost_model = CostModel::load(&args.hardware)?;
    let base = super::load_model_with(&args.input.model, sculpt_compress::Kernels::Candle)?;
    let (model, options): (Model, BTreeMap<String, LayerOption>) = match &args.input.plan {
        None => (base, BTreeMap::new()),
        Some(path) => {
            let (plan, source) = CompressionPlan::from_path(path)?;
            // Costs do not depend on activation ranges, so a model without bundled data
            // calibrates its activation quantizers (if the plan has any) on random inputs.
            let calibration = match super::apply::calibration_batch(&base, None)? {
                Some(batch) => Some(batch),
                None => Some(sculpt_model::random_batch(&base.graph, 1, args.input.tokens)?),
            };
            let mut c = sculpt_compress::apply_plan(
                &base,
                &plan,
                Some(&source),
                &ApplyOptions { calibration: calibration.as_ref() },
            )?;
            sculpt_compress::attach_candle_kernels(&mut c)?;
            let options = c.applied.iter().cloned().collect();
            (c.model, options)
        }
    };
    let (cost, workloads) = sculpt_pipeline::graph_cost(
        &model.graph,
        &options,
        &cost_model,
        args.input.batch,
        args.input.tokens,
    )?;
    let measured = if args.measure {
        Some(measure(&model, args.input.batch, args.input.tokens)?)
    } else {
        None
    };
    let rows: Vec<Vec<String>> = cost
        .layers
        .iter()
        .zip(&workloads)
        .map(|(lc, nw)| {
            vec![
                lc.layer.clone(),
                model.graph.nodes()[nw.node].op.kind().to_string(),
                format!("{:.3e}", lc.latency_s),
                format!("{:.3e}", lc.energy_j),
                lc.weight_bytes.to_string(),
                bound_name(lc.bound).to_string(),
                lc.precision.name().to_string(),
            ]
        })
        .collect();
    match args.format {
        Format::Json => {
            let layers: Vec<_> = cost
                .layers
                .iter()
                .zip(&workloads)
                .map(|(lc, nw)| {
                    json!({
                        "name": lc.layer, "kind": model.graph.nodes()[nw.node].op.kind().to_string(),
                        "latency_s": lc.latency_s, "energy_j": lc.energy_j, "bytes": lc.weight_bytes,
                        "bound": bound_name(lc.bound), "precision": lc.precision.name(),
                        "requested_precision": lc.requested_precision.name(),
                    })
                })
                .collect();
            let mut doc = json!({
                "model": model.name, "hardware": cost_model.profile().name(), "batch": args.input.batch,
                "layers": layers,
                "total": {
                    "latency_s": cost.latency_s, "energy_j": cost.energy_j, "weight_bytes": cost.weight_bytes,
                    "peak_activation_bytes": cost.peak_activation_bytes, "fits_in_memory": cost.fits_in_memory,
                },
            });
            if let Some(m) = measured {
                doc["measured_latency_s"] = json!(m);
            }
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Csv => {
            print!(
                "{}",
                output::csv(
                    &["name", "kind", "latency_s", "energy_j", "bytes", "bound", "precision"],
                    &rows
                )?
            );
        }
        Format::Table => {
            print!(
                "{}",
                output::table(
                    &["name", "kind", "latency_s", "energy_j", "bytes", "bound", "precision"],
                    &rows
                )
            );
            println!(
                "\n{} on {} (batch {}): latency {:.3} ms, energy {:.3} mJ, weights {} bytes, peak activations {} bytes, {}",
                model.name,
                cost_model.profile().name(),
                args.input.batch,
                cost.latency_s * 1e3,
                cost.energy_j * 1e3,
                output::thousands(cost.weight_bytes),
                output::thousands(cost.peak_activation_bytes),
                if cost.fits_in_memory { "fits in memory" } else { "does NOT fit in memory" }
            );
            if let Some(m) = measured {
                println!(
                    "measured on this CPU: {:.3} ms (predicted {:.3} ms, {:+.1}%)",
                    m * 1e3,
                    cost.latency_s * 1e3,
                    100.0 * (cost.latency_s - m) / m
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The median of 20 timed forward passes after 3 warm-up passes, on random inputs.
pub(crate) fn measure(model: &Model, batch: usize, tokens: usize) -> anyhow::Result<f64> {
    let input = sculpt_model::random_batch(&model.graph, batch, tokens)?;
    let mut passes = sculpt_model::time_forward(&model.graph, &input, 3, 20)?;
    Ok(sculpt_stdx::stats::TimingStat::Median.of(&mut passes))
}
