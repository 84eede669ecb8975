//! `sculpt apply`: turns a plan into a compressed model file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use sculpt_compress::{ApplyOptions, CompressionPlan, Encoding};
use sculpt_model::Batch;

use crate::output::{self, Format};

mod recover;

/// The recovery settings of `--recover`, checked; `None` without `--recover`.
pub(crate) fn recovery_config(
    args: &RecoveryArgs,
) -> anyhow::Result<Option<sculpt_compress::RecoveryConfig>> {
    let Some(name) = &args.recover else {
        anyhow::ensure!(
            args.progressive.is_none(),
            "--progressive needs --recover (finetune, distill or qat) to recover between steps"
        );
        return Ok(None);
    };
    let method = sculpt_compress::RecoveryMethod::parse(name).with_context(|| {
        format!("--recover: unknown method `{name}`; expected finetune, distill or qat")
    })?;
    let mut config = sculpt_compress::RecoveryConfig::new(method);
    config.epochs = args.epochs;
    config.learning_rate = args.lr;
    config.batch_size = args.batch_size;
    config.temperature = args.temperature;
    config.alpha = args.alpha;
    config.feature_layers = args.feature_layers.clone();
    config.seed = args.recover_seed;
    if args.progressive == Some(0) {
        anyhow::bail!("--progressive: needs at least 1 step, got 0");
    }
    Ok(Some(config))
}

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The model to compress.
    #[arg(long, default_value = super::DEFAULT_MODEL)]
    model: String,
    /// The compression plan (YAML).
    #[arg(long)]
    plan: PathBuf,
    /// Where to write the compressed model: `.safetensors` (sculpt's packed format) or `.onnx`
    /// (for onnxruntime and other runtimes).
    #[arg(long)]
    out: PathBuf,
    /// Calibration data for activation quantization (default: the bundled calibration subset
    /// for models it fits).
    #[arg(long)]
    data: Option<String>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(flatten)]
    recovery: RecoveryArgs,
}

/// Accuracy recovery after compression (`--recover`).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RecoveryArgs {
    /// Train the compressed model back: `finetune` (labels), `distill` (the uncompressed model
    /// as teacher) or `qat` (fake-quantized forward, straight-through gradients).
    #[arg(long, value_name = "METHOD")]
    pub(crate) recover: Option<String>,
    /// Epochs of recovery (per step with --progressive).
    #[arg(long, default_value_t = 3)]
    pub(crate) epochs: usize,
    /// Peak learning rate of AdamW (cosine decay).
    #[arg(long, default_value_t = 1e-3)]
    pub(crate) lr: f64,
    /// Samples per optimiser step.
    #[arg(long, default_value_t = 64)]
    pub(crate) batch_size: usize,
    /// Distillation temperature T.
    #[arg(long, default_value_t = 4.0)]
    pub(crate) temperature: f64,
    /// Weight α of the distillation term (1 − α weighs cross-entropy on labels).
    #[arg(long, default_value_t = 0.7)]
    pub(crate) alpha: f64,
    /// Layers whose outputs the student matches to the teacher's (feature distillation),
    /// comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub(crate) feature_layers: Vec<String>,
    /// Reach the plan in K steps, recovering after each.
    #[arg(long, value_name = "K")]
    pub(crate) progressive: Option<usize>,
    /// Training data (default: the Fashion-MNIST training split, or the bundled calibration
    /// subset when the Debian package is not installed).
    #[arg(long, default_value = "fashion-mnist:train")]
    pub(crate) train_data: String,
    /// Train on at most this many samples (class-balanced).
    #[arg(long)]
    pub(crate) train_samples: Option<usize>,
    /// Data scored before and after recovery, never used to choose anything (default: the
    /// Fashion-MNIST test split when installed and the model reads it, else the bundled
    /// evaluation subset; `none` to skip).
    #[arg(long)]
    pub(crate) held_out: Option<String>,
    /// Seed of shuffling and splits.
    #[arg(long, default_value_t = 0)]
    pub(crate) recover_seed: u64,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let onnx = match args.out.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => false,
        Some("onnx") => true,
        _ => anyhow::bail!(
            "--out {}: sculpt writes `.safetensors` (its packed format) or `.onnx`; name the file \
             with one of those extensions",
            args.out.display()
        ),
    };
    let model = super::load_model(&args.model)?;
    let (plan, source) = CompressionPlan::from_path(&args.plan)?;
    let calibration = calibration_batch(&model, args.data.as_deref())?;
    let options = ApplyOptions { calibration: calibration.as_ref() };
    let mut provenance = json!({
        "sculpt_version": env!("CARGO_PKG_VERSION"),
        "source_model": model.origin,
        "plan_file": args.plan.display().to_string(),
    });
    let compressed = match recovery_config(&args.recovery)? {
        None => sculpt_compress::apply_plan(&model, &plan, Some(&source), &options)?,
        Some(config) => {
            let recovered =
                recover::run(&model, &plan, &source, &options, &args.recovery, &config, &args.out)?;
            provenance["recovery"] = recovered.provenance;
            recovered.compressed
        }
    };
    let provenance = provenance.to_string();
    let predicted = if onnx {
        sculpt_compress::export_compressed(&compressed, &provenance, &args.out)
            .context("cannot export the compressed model to ONNX")?
    } else {
        sculpt_compress::write_compressed(&compressed, &args.out, &provenance)
            .context("cannot write the compressed model")?
    };
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
                print!("{}", output::csv(&headers, &rows)?);
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
