//! `sculpt profile`.

use std::process::ExitCode;

use serde_json::json;

use crate::output::{self, Format};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The model: builtin:NAME, a Hugging Face folder, a YAML spec or a sculpt safetensors file.
    #[arg(long, default_value = super::DEFAULT_MODEL)]
    model: String,
    /// Samples per forward pass.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Tokens per sample, for text models.
    #[arg(long, default_value_t = 128)]
    tokens: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.batch >= 1, "--batch must be at least 1");
    anyhow::ensure!(args.tokens >= 1, "--tokens must be at least 1");
    let model = super::load_model(&args.model)?;
    let profile = sculpt_model::profile(&model.graph, args.batch, args.tokens)?;
    match args.format {
        Format::Json => {
            let layers: Vec<_> = profile
                .layers
                .iter()
                .map(|l| {
                    json!({
                        "name": l.name, "kind": l.kind, "input_shapes": l.input_shapes,
                        "output_shape": l.output_shape, "params": l.params, "macs": l.macs,
                        "weight_bytes": l.weight_bytes, "activation_bytes": l.activation_bytes,
                        "live": l.live,
                    })
                })
                .collect();
            let doc = json!({
                "model": model.name, "batch": profile.batch, "tokens": profile.tokens,
                "layers": layers, "total": profile.total,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Csv | Format::Table => {
            let headers = [
                "name",
                "kind",
                "input",
                "output",
                "params",
                "macs",
                "weight_bytes",
                "activation_bytes",
            ];
            let rows: Vec<Vec<String>> = profile
                .layers
                .iter()
                .map(|l| {
                    let input = l
                        .input_shapes
                        .iter()
                        .map(|s| output::shape(s))
                        .collect::<Vec<_>>()
                        .join(" ");
                    let num = |v: u64| {
                        if args.format == Format::Table {
                            output::thousands(v)
                        } else {
                            v.to_string()
                        }
                    };
                    vec![
                        l.name.clone(),
                        l.kind.clone(),
                        input,
                        output::shape(&l.output_shape),
                        num(l.params),
                        num(l.macs),
                        num(l.weight_bytes),
                        num(l.activation_bytes),
                    ]
                })
                .collect();
            if args.format == Format::Csv {
                print!("{}", output::csv(&headers, &rows)?);
            } else {
                print!("{}", output::table(&headers, &rows));
                let t = &profile.total;
                println!(
                    "\n{}: {} layers, {} parameters, {} MACs, {} weight bytes at fp32, peak activations {} bytes (batch {})",
                    model.name,
                    profile.layers.len(),
                    output::thousands(t.params),
                    output::thousands(t.macs),
                    output::thousands(t.weight_bytes),
                    output::thousands(t.peak_activation_bytes),
                    profile.batch,
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
