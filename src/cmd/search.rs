//! `sculpt search`: the main job.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sculpt_pipeline::{EngineKind, ProxyMode, SearchConfig};
use sculpt_run::{Constraints, TerminationReason};

use crate::output;
use crate::progress::Progress;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The model.
    #[arg(long, default_value = super::DEFAULT_MODEL)]
    model: String,
    /// Data to calibrate and validate on (split into disjoint calibration and validation
    /// samples); default: the bundled Fashion-MNIST subsets.
    #[arg(long)]
    data: Option<String>,
    /// The device profile.
    #[arg(long, default_value = sculpt_pipeline::DEFAULT_HARDWARE)]
    hardware: PathBuf,
    /// The search space.
    #[arg(long, default_value = sculpt_pipeline::DEFAULT_SPACE)]
    space: PathBuf,
    /// The search engine.
    #[arg(long, default_value = "nsga2", value_parser = super::engine_parser())]
    engine: EngineKind,
    /// Plans to evaluate.
    #[arg(long, default_value_t = sculpt_pipeline::DEFAULT_BUDGET)]
    budget: usize,
    /// Seed.
    #[arg(long, default_value_t = sculpt_pipeline::DEFAULT_SEED)]
    seed: u64,
    /// The run directory.
    #[arg(long, default_value = sculpt_pipeline::DEFAULT_OUT)]
    out: PathBuf,
    /// Samples per inference for the cost model.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Tokens per sample, for text models.
    #[arg(long, default_value_t = sculpt_pipeline::DEFAULT_TOKENS)]
    tokens: usize,
    /// Latency limit (seconds).
    #[arg(long)]
    max_latency_s: Option<f64>,
    /// Energy limit (joules).
    #[arg(long)]
    max_energy_j: Option<f64>,
    /// Size limit (bytes).
    #[arg(long)]
    max_size_bytes: Option<f64>,
    /// Accuracy-loss limit (a fraction: 0.01 = one point).
    #[arg(long)]
    max_accuracy_drop: Option<f64>,
    /// Require weights plus activations to fit the device's memory.
    #[arg(long)]
    fits_in_memory: bool,
    /// Calibration samples for the sensitivity pass.
    #[arg(long, default_value_t = sculpt_pipeline::DEFAULT_CALIBRATION_SAMPLES)]
    calibration_samples: usize,
    /// Validation samples for the front's re-evaluation.
    #[arg(long, default_value_t = sculpt_pipeline::DEFAULT_VALIDATION_SAMPLES)]
    validation_samples: usize,
    /// Stop the engine after this many seconds.
    #[arg(long)]
    time_limit_s: Option<f64>,
    /// Continue from the run directory's checkpoint.
    #[arg(long)]
    resume: bool,
    /// Do not read or write the sensitivity cache.
    #[arg(long)]
    no_cache: bool,
    /// Accuracy proxy: hybrid (per-layer table in the search, the front re-evaluated on held-out
    /// data), table, full (every plan evaluated; small budgets, --engine bayes) or data-free
    /// (weight error, no data needed). Without --data, on a model the bundled Fashion-MNIST
    /// does not fit, hybrid falls back to data-free and says so.
    #[arg(long, default_value = "hybrid", value_parser = super::proxy_parser())]
    proxy: ProxyMode,
    /// Also write the additive problem (the searched objectives' tables) as JSON, the input of
    /// benches/peers.
    #[arg(long)]
    export_problem: Option<PathBuf>,
    /// After the search, train the chosen front plans back (finetune, distill or qat) and report
    /// their loss after recovery (`accuracy_loss_recovered`); the models go to `recovered/`.
    #[arg(long, value_name = "METHOD")]
    recover: Option<String>,
    /// How many front plans to recover, evenly spaced from the most damaged.
    #[arg(long, default_value_t = 3, value_name = "K")]
    recover_top: usize,
    /// Recovery epochs per plan.
    #[arg(long, default_value_t = 3)]
    recover_epochs: usize,
    /// Recovery learning rate (AdamW peak).
    #[arg(long, default_value_t = 1e-3)]
    recover_lr: f64,
    /// Recovery training data (default: the Fashion-MNIST training split, or the bundled
    /// calibration subset when the Debian package is absent).
    #[arg(long, default_value = "fashion-mnist:train")]
    recover_train_data: String,
    /// Train each recovery on at most this many samples (class-balanced).
    #[arg(long)]
    recover_train_samples: Option<usize>,
    /// Re-time every front plan through this runner (docs/runners.md) as an ONNX export; the
    /// report shows the measured latency beside the predicted one.
    #[arg(long, value_name = "RUNNER")]
    measure_front: Option<String>,
    #[command(flatten)]
    calls: super::RunnerCalls,
}

/// The `--recover` settings, checked.
fn recovery(args: &Args) -> anyhow::Result<Option<sculpt_pipeline::SearchRecovery>> {
    let Some(name) = &args.recover else { return Ok(None) };
    let method = sculpt_compress::RecoveryMethod::parse(name).ok_or_else(|| {
        anyhow::anyhow!("--recover: unknown method `{name}`; expected finetune, distill or qat")
    })?;
    anyhow::ensure!(args.recover_top >= 1, "--recover-top must be at least 1");
    let mut config = sculpt_compress::RecoveryConfig::new(method);
    config.epochs = args.recover_epochs;
    config.learning_rate = args.recover_lr;
    config.seed = args.seed;
    Ok(Some(sculpt_pipeline::SearchRecovery {
        config,
        data: sculpt_compress::RecoveryDataConfig {
            train_data: args.recover_train_data.clone(),
            train_samples: args.recover_train_samples,
            seed: args.seed,
            ..Default::default()
        },
        top: args.recover_top,
    }))
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C while stopping ends the process the usual way.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    let config = SearchConfig {
        model: args.model.clone(),
        data: args.data.clone(),
        hardware: args.hardware.clone(),
        space: args.space.clone(),
        engine: args.engine,
        budget: args.budget,
        seed: args.seed,
        out: args.out.clone(),
        batch: args.batch,
        tokens: args.tokens,
        constraints: Constraints {
            max_latency_s: args.max_latency_s,
            max_energy_j: args.max_energy_j,
            max_size_bytes: args.max_size_bytes,
            max_accuracy_drop: args.max_accuracy_drop,
            fits_in_memory: args.fits_in_memory.then_some(true),
        },
        calibration_samples: args.calibration_samples,
        validation_samples: args.validation_samples,
        cache_dir: (!args.no_cache).then(sculpt_pipeline::default_cache_dir),
        time_limit: args.time_limit_s.map(Duration::from_secs_f64),
        stop: Some(stop.clone()),
        checkpoints: true,
        resume: args.resume,
        proxy: args.proxy,
        export_problem: args.export_problem.clone(),
        recovery: recovery(args)?,
        measure_front: args.measure_front.as_deref().map(|r| args.calls.runner(r)).transpose()?,
    };
    let progress = Progress::new();
    let summary = sculpt_pipeline::run_search(&config, &progress, Some(progress.observer()));
    progress.finish();
    let summary = summary?;
    let report = crate::cmd::report::write_report(&summary.out);
    for note in &summary.notes {
        eprintln!("note: {note}");
    }
    let recovered = summary.front_rows.iter().any(|r| r.accuracy_loss_recovered.is_some());
    // Losses of a task metric are shown in points; the data-free proxy's weight error has no unit.
    let data_free = summary.metric == "weight_error";
    let loss = |v: f64| if data_free { format!("{v:.4}") } else { format!("{:.2}", 100.0 * v) };
    let rows: Vec<Vec<String>> = summary
        .front_rows
        .iter()
        .map(|r| {
            let mut row = vec![
                r.plan_id.to_string(),
                loss(r.accuracy_loss),
                r.accuracy_loss_measured.map(loss).unwrap_or_default(),
                format!("{:.4}", r.latency_s * 1e3),
                r.latency_s_measured.map(|v| format!("{:.4}", v * 1e3)).unwrap_or_default(),
                format!("{:.4}", r.energy_j * 1e3),
                output::thousands(r.size_bytes as u64),
                if r.feasible { "yes".into() } else { format!("no: {}", r.violated.join(";")) },
                r.plan_file.clone().unwrap_or_default(),
            ];
            if recovered {
                row.insert(3, r.accuracy_loss_recovered.map(loss).unwrap_or_default());
            }
            row
        })
        .collect();
    let mut headers = vec![
        "plan",
        if data_free { "weight_error" } else { "loss_pts" },
        "loss_measured_pts",
        "latency_ms",
        "measured_ms",
        "energy_mJ",
        "size_bytes",
        "feasible",
        "plan_file",
    ];
    if recovered {
        headers.insert(3, "loss_recovered_pts");
    }
    print!("{}", output::table(&headers, &rows));
    println!(
        "\n{} plans evaluated ({}), {} on the front{}, baseline metric {:.4}, {:.1} s; results in {}",
        summary.evaluations,
        summary.termination,
        summary.front,
        if summary.feasible { "" } else { " — NO plan meets the constraints" },
        summary.baseline_metric,
        summary.duration_s,
        summary.out.display()
    );
    match report {
        Ok(path) => println!("report: {}", path.display()),
        Err(e) => eprintln!("warning: the report could not be written: {e:#}"),
    }
    Ok(if summary.termination == TerminationReason::Interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
