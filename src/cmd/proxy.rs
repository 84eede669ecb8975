//! `sculpt sensitivity` and `sculpt proxy-check`: the accuracy proxy and how far to trust it.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use sculpt_pipeline::{DataSelection, Inputs, TableProxy};

use crate::output::{self, Format};
use crate::progress::Progress;

#[derive(clap::Args, Debug)]
pub(crate) struct Common {
    /// The model.
    #[arg(long, default_value = super::DEFAULT_MODEL)]
    model: String,
    /// Data, split into disjoint calibration and held-out samples (default: the bundled subsets).
    #[arg(long)]
    data: Option<String>,
    /// The search space whose options are measured.
    #[arg(long, default_value = sculpt_pipeline::DEFAULT_SPACE)]
    space: PathBuf,
    /// A device profile: options it cannot run are left out.
    #[arg(long)]
    hardware: Option<PathBuf>,
    /// Calibration samples.
    #[arg(long, default_value_t = sculpt_pipeline::DEFAULT_CALIBRATION_SAMPLES)]
    calibration_samples: usize,
    /// Held-out samples.
    #[arg(long, default_value_t = sculpt_pipeline::DEFAULT_VALIDATION_SAMPLES)]
    validation_samples: usize,
    /// Tokens per sample, for text models.
    #[arg(long, default_value_t = sculpt_pipeline::DEFAULT_TOKENS)]
    tokens: usize,
    /// Do not read or write the sensitivity cache.
    #[arg(long)]
    no_cache: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct SensitivityArgs {
    #[command(flatten)]
    common: Common,
    /// Where to write the table (CSV, or JSON with --format json).
    #[arg(long)]
    out: PathBuf,
    /// csv or json.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ProxyCheckArgs {
    #[command(flatten)]
    common: Common,
    /// Random plans to check.
    #[arg(long, default_value_t = 100)]
    samples: usize,
    /// Seed of the plan draw.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `table` (sum of per-layer deltas) or `corrected` (fitted on --fit extra full evaluations).
    #[arg(long, value_enum, default_value_t = CheckedProxy::Table)]
    proxy: CheckedProxy,
    /// Full evaluations the `corrected` proxy is fitted on.
    #[arg(long, default_value_t = 12)]
    fit: usize,
    /// table or json.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// The proxy `proxy-check` scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CheckedProxy {
    /// The sum of per-layer deltas.
    Table,
    /// The table corrected by a least-squares fit on extra full evaluations.
    Corrected,
}

struct Prepared {
    inputs: Inputs,
    splits: sculpt_pipeline::Splits,
    table: sculpt_pipeline::SensitivityTable,
}

/// Steps 1, 2 and 4 of a search: the model, the space (filtered by the device when named), the
/// data splits and the sensitivity table.
fn prepare(c: &Common, progress: &Progress) -> anyhow::Result<Prepared> {
    progress.stage("loading model and space");
    let inputs = Inputs::load(&c.model, c.hardware.as_deref(), &c.space, 1, c.tokens)?;
    let splits = sculpt_pipeline::splits(
        &inputs.model,
        &DataSelection {
            data: c.data.clone(),
            calibration_samples: c.calibration_samples,
            validation_samples: c.validation_samples,
        },
    )?;
    let cache = (!c.no_cache).then(sculpt_pipeline::default_cache_dir);
    progress.stage("per-layer sensitivity");
    let table = inputs.sensitivity(Some(&splits), cache.as_deref(), progress)?;
    for w in &table.warnings {
        eprintln!("warning: {w}");
    }
    Ok(Prepared { inputs, splits, table })
}

pub(crate) fn sensitivity(args: &SensitivityArgs) -> anyhow::Result<ExitCode> {
    let progress = Progress::new();
    let p = prepare(&args.common, &progress);
    progress.finish();
    let p = p?;
    let rows =
        sculpt_pipeline::sensitivity_rows(&p.inputs.model, &p.inputs.space, &p.table.entries);
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&json!({
            "model": p.inputs.model.name, "data": p.splits.calibration.name, "baseline": p.table.baseline,
            "entries": rows.iter().map(|r| json!({"layer": r.layer, "option_id": r.option_id, "option": r.option, "delta": r.delta, "kl": r.kl})).collect::<Vec<_>>(),
        }))?,
        _ => sculpt_run::table_csv(&rows)?,
    };
    output::write_file(&args.out, text.as_bytes(), "the sensitivity table")?;
    println!(
        "{} entries ({} from the cache), baseline {:.4} on {} calibration samples; wrote {}",
        rows.len(),
        p.table.cached,
        p.table.baseline,
        p.splits.calibration.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn proxy_check(args: &ProxyCheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.samples >= 3, "--samples must be at least 3");
    let kind = match args.proxy {
        CheckedProxy::Table => TableProxy::Plain,
        CheckedProxy::Corrected => TableProxy::Corrected { fit: args.fit.max(4) },
    };
    let progress = Progress::new();
    let p = prepare(&args.common, &progress)?;
    progress.stage("full evaluations");
    let check = sculpt_pipeline::proxy_check(
        &p.inputs.model,
        &p.inputs.space,
        &p.table,
        &p.splits.validation,
        p.splits.calib_batch.as_ref(),
        args.samples,
        args.seed,
        kind,
        &|d, t| progress.count("full evaluations", d, t, ""),
    );
    progress.finish();
    let check = check?;
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "proxy": check.proxy, "samples": check.samples, "kendall_tau": check.kendall_tau,
                "spearman": check.spearman, "mae": check.mae,
                "held_out": p.splits.validation.name, "held_out_samples": p.splits.validation.len(),
            }))?
        ),
        _ => println!(
            "proxy {} on {} random plans (held-out {} × {}): Kendall τ {:.3}, Spearman {:.3}, MAE {:.2} points",
            check.proxy,
            check.samples,
            p.splits.validation.name,
            p.splits.validation.len(),
            check.kendall_tau,
            check.spearman,
            100.0 * check.mae
        ),
    }
    Ok(ExitCode::SUCCESS)
}
