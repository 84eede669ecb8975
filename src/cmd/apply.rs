//! `sculpt apply`: turns a plan into a compressed model file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sculpt_compress::{ApplyOptions, CompressionPlan, Encoding};
use sculpt_model::Batch;
use serde_json::json;

use crate::output::{self, Format};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The model to compress.
    #[arg(long, default_value = super::DEFAULT_MODEL)]
    model: String,
    /// The compression plan (YAML).
    #[arg(long)]
    plan: PathBuf,
    /// Where to write the compressed model (safetensors).
    #[arg(long)]
    out: PathBuf,
    /// Calibration data for activation quantization (default: the bundled calibration subset
    /// for models it fits).
    #[arg(long)]
    data: Option<String>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let model = super::load_model(&args.model)?;
    let (plan, source) = CompressionPlan::from_path(&args.plan)?;
    let calibration = calibration_batch(&model, args.data.as_deref())?;
    let options = ApplyOptions { calibration: calibration.as_ref() };
    let compressed = sculpt_compress::apply_plan(&model, &plan, Some(&source), &options)?;
    let provenance = json!({
        "sculpt_version": env!("CARGO_PKG_VERSION"),
        "source_model": model.origin,
        "plan_file": args.plan.display().to_string(),
    })
    .to_string();
    let predicted = sculpt_compress::write_compressed(&compressed, &args.out, &provenance)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let file_bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    let fp32_bytes: u64 = sculpt_model::profile(&model.graph, 1, 8)?.total.weight_bytes;
    let rows: Vec<Vec<String>> = compressed
        .applied
        .iter()
        .map(|(layer, option)| {
            let stored = compressed
                .stored
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{layer}.")))
                .map(|(_, s)| match &s.encoding {
                    Encoding::Dense => "f32".to_string(),
                    Encoding::Float(f) => format!("{f:?}").to_lowercase(),
                    Encoding::Int(q) => format!("int{}", q.bits),
                })
                .collect::<Vec<_>>()
                .join("+");
            vec![
                layer.clone(),
                option.to_string(),
                if stored.is_empty() { "f32".into() } else { stored },
            ]
        })
        .collect();
    match args.format {
        Format::Json => {
            let doc = json!({
                "out": args.out.display().to_string(),
                "file_bytes": file_bytes,
                "tensor_bytes": predicted,
                "fp32_weight_bytes": fp32_bytes,
                "layers": rows.iter().map(|r| json!({"layer": r[0], "option": r[1], "stored": r[2]})).collect::<Vec<_>>(),
                "notes": compressed.notes,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Table | Format::Csv => {
            let headers = ["layer", "option", "stored"];
            if args.format == Format::Csv {
                print!("{}", output::csv(&headers, &rows));
            } else {
                print!("{}", output::table(&headers, &rows));
                for note in &compressed.notes {
                    println!("note: {note}");
                }
                println!(
                    "\nwrote {}: {} bytes ({} of tensor data; fp32 weights {} bytes, {:.3}×)",
                    args.out.display(),
                    output::thousands(file_bytes),
                    output::thousands(predicted),
                    output::thousands(fp32_bytes),
                    predicted as f64 / fp32_bytes.max(1) as f64
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Calibration inputs for activation quantization: `--data`, else the bundled calibration subset
/// when it fits the model, else none.
pub(crate) fn calibration_batch(
    model: &sculpt_model::Model,
    data: Option<&str>,
) -> anyhow::Result<Option<Batch>> {
    let name = match data {
        Some(d) => d.to_string(),
        None => {
            if super::evaluate::default_data(model).is_err() {
                return Ok(None);
            }
            sculpt_eval::BUILTIN_CALIB.to_string()
        }
    };
    let ds = sculpt_eval::load_data(&name)?;
    match &ds.data {
        sculpt_eval::Data::Dense { inputs, .. } => {
            Ok(Some(Batch::Dense(sculpt_eval::fit_inputs(&model.graph, inputs)?)))
        }
        sculpt_eval::Data::Text { sentences } | sculpt_eval::Data::Pairs { a: sentences, .. } => {
            let tok = model
                .tokenizer
                .as_ref()
                .context("the model has no tokenizer for text calibration data")?;
            let n = sentences.len().min(64);
            Ok(Some(Batch::Tokens(tok.encode(&sentences[..n])?)))
        }
    }
}
