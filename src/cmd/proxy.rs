//! `sculpt sensitivity` and `sculpt proxy-check`: the accuracy proxy and how far to trust it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use sculpt_pipeline::{Constraints, EngineKind, ProxyKind, SearchConfig, SearchSpace};
use serde_json::json;

use crate::output::Format;

#[derive(clap::Args, Debug)]
pub(crate) struct Common {
    /// The model.
    #[arg(long, default_value = super::DEFAULT_MODEL)]
    model: String,
    /// Data, split into disjoint calibration and held-out samples (default: the bundled subsets).
    #[arg(long)]
    data: Option<String>,
    /// The search space whose options are measured.
    #[arg(long, default_value = "search-spaces/default.yaml")]
    space: PathBuf,
    /// A device profile: options it cannot run are left out.
    #[arg(long)]
    hardware: Option<PathBuf>,
    /// Calibration samples.
    #[arg(long, default_value_t = 512)]
    calibration_samples: usize,
    /// Held-out samples.
    #[arg(long, default_value_t = 2000)]
    validation_samples: usize,
    /// Tokens per sample, for text models.
    #[arg(long, default_value_t = 128)]
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
    #[arg(long, default_value = "table")]
    proxy: String,
    /// Full evaluations the `corrected` proxy is fitted on.
    #[arg(long, default_value_t = 12)]
    fit: usize,
    /// table or json.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

struct Prepared {
    model: sculpt_model::Model,
    space: sculpt_pipeline::ExpandedSpace,
    splits: sculpt_pipeline::Splits,
    table: sculpt_pipeline::SensitivityTable,
}

fn bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn prepare(c: &Common) -> anyhow::Result<Prepared> {
    let model = super::load_model(&c.model)?;
    let space_file = SearchSpace::from_path(&c.space)?;
    let cost_model = match &c.hardware {
        Some(h) => Some(sculpt_hw::CostModel::load(h)?),
        None => None,
    };
    let workloads = sculpt_pipeline::graph_workloads(&model.graph, 1, c.tokens)?;
    let space =
        sculpt_pipeline::expand(&space_file, &model.graph, &workloads, cost_model.as_ref())?;
    let cfg = SearchConfig {
        model: c.model.clone(),
        data: c.data.clone(),
        hardware: PathBuf::new(),
        space: c.space.clone(),
        engine: EngineKind::Nsga2,
        budget: 1,
        seed: 0,
        out: PathBuf::new(),
        batch: 1,
        tokens: c.tokens,
        constraints: Constraints::default(),
        calibration_samples: c.calibration_samples,
        validation_samples: c.validation_samples,
        cache_dir: None,
        time_limit: None,
        stop: None,
        checkpoint: None,
        resume: false,
        proxy: sculpt_pipeline::ProxyMode::Hybrid,
        export_problem: None,
        recovery: None,
    };
    let splits = sculpt_pipeline::splits(&model, &cfg)?;
    let cache = (!c.no_cache).then(sculpt_pipeline::default_cache_dir);
    let b = bar();
    b.set_message("sensitivity");
    let table = sculpt_pipeline::sensitivity(
        &model,
        &space,
        &splits.calibration,
        splits.calib_batch.as_ref(),
        cache.as_deref(),
        &|d, t| {
            b.set_length(t as u64);
            b.set_position(d as u64);
        },
    )?;
    b.finish_and_clear();
    for w in &table.warnings {
        eprintln!("warning: {w}");
    }
    Ok(Prepared { model, space, splits, table })
}

pub(crate) fn sensitivity(args: &SensitivityArgs) -> anyhow::Result<ExitCode> {
    let p = prepare(&args.common)?;
    let mut rows = Vec::new();
    for (gene, entries) in p.space.genes.iter().zip(&p.table.entries) {
        let layer = gene
            .layers
            .iter()
            .map(|&l| p.model.graph.nodes()[l].name.clone())
            .collect::<Vec<_>>()
            .join("+");
        for (k, (o, e)) in gene.options.iter().zip(entries).enumerate() {
            rows.push((layer.clone(), k, o.to_string(), e.delta, e.kl));
        }
    }
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&json!({
            "model": p.model.name, "data": p.splits.calibration.name, "baseline": p.table.baseline,
            "entries": rows.iter().map(|(l, k, o, d, kl)| json!({"layer": l, "option_id": k, "option": o, "delta": d, "kl": kl})).collect::<Vec<_>>(),
        }))?,
        _ => {
            let mut s = String::from("layer,option_id,option,delta,kl\n");
            for (l, k, o, d, kl) in &rows {
                let _ = writeln!(s, "{l},{k},\"{o}\",{d},{kl}");
            }
            s
        }
    };
    sculpt_model::write_atomic(&args.out, text.as_bytes())?;
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
    let kind = match args.proxy.as_str() {
        "table" => ProxyKind::Table,
        "corrected" => ProxyKind::TableCorrected { fit: args.fit.max(4) },
        other => anyhow::bail!("unknown proxy `{other}`; expected table or corrected"),
    };
    let p = prepare(&args.common)?;
    let b = bar();
    b.set_message("full evaluations");
    let check = sculpt_pipeline::proxy_check(
        &p.model,
        &p.space,
        &p.table,
        &p.splits.validation,
        p.splits.calib_batch.as_ref(),
        args.samples,
        args.seed,
        kind,
        &|d, t| {
            b.set_length(t as u64);
            b.set_position(d as u64);
        },
    )?;
    b.finish_and_clear();
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
