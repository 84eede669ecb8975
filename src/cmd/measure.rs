//! `sculpt measure`: end-to-end latency of a (compressed) model through a runner.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use sculpt_compress::CompressionPlan;

use crate::output::{self, Format};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    input: super::ModelInput,
    /// The runner command (e.g. `scripts/runners/onnxruntime.py --threads 1`); see
    /// docs/runners.md for the protocol.
    #[arg(long)]
    runner: String,
    #[command(flatten)]
    calls: super::RunnerCalls,
    /// Keep the exported model and inputs in this directory (default: a temporary one).
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Calibration data for activation quantization in the plan.
    #[arg(long)]
    data: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.input.batch > 0, "--batch: needs at least 1 sample");
    let runner = args.calls.runner(&args.runner)?;
    let model = super::load_model(&args.input.model)?;
    let plan = match &args.input.plan {
        Some(p) => Some(CompressionPlan::from_path(p)?),
        None => None,
    };
    let calibration = match &plan {
        Some(_) => super::apply::calibration_batch(&model, args.data.as_deref())?,
        None => None,
    };
    let input = sculpt_model::random_batch(&model.graph, args.input.batch, args.input.tokens)?;
    let temp;
    let dir = match &args.keep {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let m = sculpt_pipeline::measure_through_runner(
        &model,
        plan.as_ref().map(|(p, s)| (p, Some(s))),
        calibration.as_ref(),
        &input,
        &runner,
        &dir,
    )?;
    let s = &m.samples;
    let (p10, median, p90) = (s.quantile(0.1), s.quantile(0.5), s.quantile(0.9));
    let min = s.latencies_ms.iter().copied().fold(f64::INFINITY, f64::min);
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": args.input.model,
                "plan": args.input.plan.as_ref().map(|p| p.display().to_string()),
                "file_bytes": m.file_bytes,
                "batch": args.input.batch,
                "samples": s.latencies_ms.len(),
                "median_ms": median, "p10_ms": p10, "p90_ms": p90, "min_ms": min,
                "runner": args.runner,
                "about": s.about,
            }))?
        ),
        Format::Table | Format::Csv => {
            let rows = vec![vec![
                format!("{median:.3}"),
                format!("{p10:.3}"),
                format!("{p90:.3}"),
                format!("{min:.3}"),
                s.latencies_ms.len().to_string(),
                output::thousands(m.file_bytes),
            ]];
            let headers = ["median ms", "p10 ms", "p90 ms", "min ms", "samples", "file bytes"];
            if args.format == Format::Csv {
                print!("{}", output::csv(&headers, &rows)?);
            } else {
                print!("{}", output::table(&headers, &rows));
                for about in &s.about {
                    println!("runner: {about}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
