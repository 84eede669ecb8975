//! `sculpt export`: writes a (compressed) model as ONNX.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use crate::output::{self, Format};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The model: a compressed file from `sculpt apply`, builtin:NAME, a Hugging Face folder, a
    /// YAML spec or a sculpt safetensors file.
    #[arg(long, default_value = super::DEFAULT_MODEL)]
    model: String,
    /// The file format to write (only `onnx`).
    #[arg(long = "to", default_value = "onnx")]
    to: String,
    /// Where to write the model (`.onnx`).
    #[arg(long)]
    out: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Checks the output path of an ONNX export: the extension, and an existing file without
/// `--force`.
pub(crate) fn check_onnx_out(out: &std::path::Path, force: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        out.extension().is_some_and(|e| e == "onnx"),
        "--out {}: an ONNX export is written to a `.onnx` file",
        out.display()
    );
    anyhow::ensure!(
        force || !out.exists(),
        "--out {}: the file exists; pass --force to replace it",
        out.display()
    );
    Ok(())
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.to == "onnx", "--to {}: sculpt exports only `onnx`", args.to);
    check_onnx_out(&args.out, args.force)?;
    let bytes = sculpt_compress::export_model_file(&args.model, &args.out)
        .with_context(|| format!("cannot export {} to ONNX", args.model))?;
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": args.model, "out": args.out.display().to_string(), "file_bytes": bytes,
            }))?
        ),
        Format::Table | Format::Csv => {
            println!("wrote {}: {} bytes", args.out.display(), output::thousands(bytes))
        }
    }
    Ok(ExitCode::SUCCESS)
}
