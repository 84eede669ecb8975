//! `sculpt evaluate`.

use std::process::ExitCode;

use serde_json::json;

use sculpt_model::{InputKind, Task};

use crate::output::{self, Format};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The model: builtin:NAME, a Hugging Face folder, a YAML spec or a sculpt safetensors file.
    #[arg(long, default_value = super::DEFAULT_MODEL)]
    model: String,
    /// The data: builtin:fashion-mnist-eval (default for 28×28 classifiers), fashion-mnist:test,
    /// an IDX or safetensors file, or a .txt file of sentences for text models.
    #[arg(long)]
    data: Option<String>,
    /// Samples per forward pass.
    #[arg(long, default_value_t = sculpt_eval::DEFAULT_BATCH)]
    batch_size: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Run quantized Linear layers of a compressed model on candle's quantized matmul kernels
    /// instead of dequantized f32 weights.
    #[arg(long)]
    candle_kernels: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.batch_size >= 1, "--batch-size must be at least 1");
    let kernels = if args.candle_kernels {
        sculpt_compress::Kernels::Candle
    } else {
        sculpt_compress::Kernels::Dequantized
    };
    let model = super::load_model_with(&args.model, kernels)?;
    let data_name = match &args.data {
        Some(d) => d.clone(),
        None => default_data(&model)?,
    };
    let data = sculpt_eval::load_data(&data_name)?;
    let report = sculpt_eval::evaluate(&model, &data, args.batch_size)?;
    match args.format {
        Format::Json => {
            let mut doc = json!({
                "model": model.name, "data": data.name, "metric": report.metric,
                "value": report.value, "n_samples": report.n_samples,
            });
            for (k, v) in &report.details {
                doc[k] = json!(v);
            }
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Csv | Format::Table => {
            let mut rows = vec![
                vec!["model".to_string(), model.name.clone()],
                vec!["data".to_string(), data.name.clone()],
                vec![report.metric.clone(), format!("{:.4}", report.value)],
                vec!["n_samples".to_string(), report.n_samples.to_string()],
            ];
            rows.extend(report.details.iter().map(|(k, v)| vec![k.clone(), format!("{v:.4}")]));
            if args.format == Format::Csv {
                print!("{}", output::csv(&["key", "value"], &rows)?);
            } else {
                print!("{}", output::table(&["key", "value"], &rows));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The bundled evaluation set fits 28×28 single-channel classifiers; other models need `--data`.
pub(crate) fn default_data(model: &sculpt_model::Model) -> anyhow::Result<String> {
    let fits = matches!(model.graph.task(), Task::Classification { classes: 10 })
        && matches!(
            model.graph.inputs().first().map(|i| &i.kind),
            Some(InputKind::Image { channels: 1, height: 28, width: 28, .. })
        );
    anyhow::ensure!(
        fits,
        "model `{}` does not read 28×28 grey images with 10 classes, so the bundled Fashion-MNIST subset does not fit it; give --data",
        model.name
    );
    Ok(sculpt_eval::BUILTIN_EVAL.to_string())
}
