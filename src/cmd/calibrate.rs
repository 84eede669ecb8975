//! `sculpt calibrate`: fit the host-CPU profile to micro-benchmarks of sculpt's candle runtime.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use sculpt_pipeline::SearchSpace;
use sculpt_stdx::stats::TimingStat;

use crate::output;
use crate::progress::Progress;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The profile to fit (its other numbers are kept).
    #[arg(long, default_value = "hardware-profiles/cpu-host.yaml")]
    hardware: PathBuf,
    /// Where to write the fitted profile.
    #[arg(long)]
    out: PathBuf,
    /// Timed repetitions per micro-benchmark (the median is used) and timed rounds over the
    /// random plans.
    #[arg(long, default_value_t = 51)]
    reps: usize,
    /// How the rounds' timings of a plan and of its layers are summarised.
    #[arg(long, value_enum, default_value_t = Stat::Median)]
    stat: Stat,
    /// Also validate end to end on this many random compressed plans of the demo CNN and MLP.
    #[arg(long, default_value_t = 30)]
    validate_plans: usize,
    /// Samples per inference for the end-to-end validation.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Seed of the shapes' weights and of the plan draw.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Random plans per demo model whose layers are timed for the measured lookup table
    /// (0: analytic fit only).
    #[arg(long, default_value_t = 40)]
    kernel_plans: usize,
}

/// `--stat`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Stat {
    /// The fastest round.
    Min,
    /// The 10th percentile.
    P10,
    /// The median round.
    Median,
    /// The mean of all rounds.
    Mean,
    /// The mean of the middle half of the rounds.
    Iqm,
}

impl From<Stat> for TimingStat {
    fn from(s: Stat) -> Self {
        match s {
            Stat::Min => TimingStat::Min,
            Stat::P10 => TimingStat::P10,
            Stat::Median => TimingStat::Median,
            Stat::Mean => TimingStat::Mean,
            Stat::Iqm => TimingStat::Iqm,
        }
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let profile = sculpt_hw::Profile::from_path(&args.hardware)?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let progress = Progress::new();
    progress.stage("micro-benchmarks");
    let cal = sculpt_pipeline::calibrate(&profile, args.reps.max(3), args.seed, &|d, t| {
        progress.count("micro-benchmarks", d, t, "")
    })?;
    let models: Vec<sculpt_model::Model> = ["builtin:demo-cnn", "builtin:demo-mlp"]
        .iter()
        .map(|m| super::load_model(m))
        .collect::<anyhow::Result<_>>()?;
    let space_file = SearchSpace::from_path(std::path::Path::new("search-spaces/default.yaml"))?;
    let analytic = sculpt_hw::CostModel::analytic(cal.profile.clone());
    let mut spaces = Vec::new();
    for m in &models {
        let w = sculpt_pipeline::graph_workloads(&m.graph, args.batch, 1)?;
        spaces.push(sculpt_pipeline::expand(&space_file, &m.graph, &w, Some(&analytic))?);
    }
    let pairs: Vec<_> = models.iter().zip(&spaces).collect();
    progress.stage("timing random plans");
    let timings = sculpt_pipeline::time_plans(
        &pairs,
        &sculpt_pipeline::PlanTimingConfig {
            table_plans: args.kernel_plans,
            validation_plans: args.validate_plans,
            batch: args.batch,
            reps: args.reps.max(3),
            seed: args.seed + 1000,
        },
        &|d, t| progress.count("timing random plans", d, t, ""),
    )?;
    progress.finish();
    let show = |label: &str, s: &sculpt_hw::ValidationStats| {
        println!(
            "{label}: n = {}, MAPE {:.1}%, within ±10% {:.0}%, Spearman {:.3}",
            s.n,
            100.0 * s.mape,
            100.0 * s.within_10pct,
            s.spearman
        )
    };
    let stat = args.stat.into();
    write_fitted(args, &cal, &timings, stat, &analytic)?;
    println!("fitted parameters:");
    for p in &cal.report.params {
        println!("  {:?}: {:.4} (was {:.4})", p.param, p.fitted, p.initial);
    }
    show("training shapes, fitted", &cal.report.train);
    show("held-out shapes, before", &cal.held_out_before);
    show("held-out shapes, fitted", &cal.held_out_after);
    if args.validate_plans > 0 {
        let cost_model = sculpt_hw::CostModel::load(&args.out)?;
        let v = sculpt_pipeline::validate_plans(&timings, stat, &cost_model)?;
        let mut csv = String::from("model,plan,predicted_s,measured_s\n");
        for (model, plan, predicted, measured) in &v.rows {
            csv.push_str(&format!("{model},{plan},{predicted:e},{measured:e}\n"));
        }
        let rows_path = sidecar(&args.out, ".validation.csv");
        output::write_file(&rows_path, csv.as_bytes(), "the validation rows")?;
        println!("per-plan predictions and measurements: {}", rows_path.display());
        show(
            &format!(
                "end-to-end, {} random plans (demo-cnn, demo-mlp, batch {})",
                v.rows.len(),
                args.batch
            ),
            &v.stats,
        );
    }
    println!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes the fitted profile to `--out`, with the table plans' layers (summarised by `stat`) as
/// its lookup table `<stem>.lookup.csv` when there are table plans.
fn write_fitted(
    args: &Args,
    cal: &sculpt_pipeline::Calibration,
    timings: &sculpt_pipeline::PlanTimings,
    stat: TimingStat,
    analytic: &sculpt_hw::CostModel,
) -> anyhow::Result<()> {
    let out = &args.out;
    let mut yaml = cal.profile.to_yaml()?;
    let mut table_note = String::new();
    if args.kernel_plans > 0 {
        let (kernels, overhead_s) = timings.kernel_table(stat, analytic)?;
        let table = sidecar(out, ".lookup.csv");
        output::write_file(
            &table,
            sculpt_pipeline::lookup_csv(&kernels).as_bytes(),
            "the lookup table",
        )?;
        yaml = yaml
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("per_inference_us:") {
                    format!("  per_inference_us: {:.3}", overhead_s * 1e6)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        if !yaml.contains("\nlookup:") {
            yaml.push_str(&format!(
                "\nlookup:\n  path: {}\n  mode: replace\n  missing: analytic\n",
                table.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
            ));
        }
        table_note = format!(
            "; {} layer timings ({:?} of {} rounds) from {} random plans per demo model in {} (per-inference overhead {:.1} µs)",
            kernels.len(),
            stat,
            args.reps.max(3),
            args.kernel_plans,
            table.display(),
            overhead_s * 1e6
        );
    }
    let yaml = format!(
        "# Fitted by `sculpt calibrate` on this machine from {} micro-benchmarks of sculpt's candle runtime\n# (held-out: {}){table_note}.\n# Timed with {} candle thread(s) (RAYON_NUM_THREADS); the numbers hold for that setting.\n# Every number not fitted is from {}.\n{yaml}\n",
        cal.measurements.0,
        cal.measurements.1,
        sculpt_model::runtime_threads(),
        args.hardware.display(),
    );
    output::write_file(out, yaml.as_bytes(), "the fitted profile")
}

/// `<dir>/<stem><suffix>` next to the fitted profile `out`.
fn sidecar(out: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fitted".into());
    out.with_file_name(format!("{stem}{suffix}"))
}
