//! `sculpt calibrate`: fit the host-CPU profile to micro-benchmarks of sculpt's candle runtime.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sculpt_pipeline::SearchSpace;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The profile to fit (its other numbers are kept).
    #[arg(long, default_value = "hardware-profiles/cpu-host.yaml")]
    hardware: PathBuf,
    /// Where to write the fitted profile.
    #[arg(long)]
    out: PathBuf,
    /// Timed repetitions per micro-benchmark (the median is used).
    #[arg(long, default_value_t = 15)]
    reps: usize,
    /// Also validate end to end on this many random compressed plans of the demo CNN and MLP.
    #[arg(long, default_value_t = 30)]
    validate_plans: usize,
    /// Samples per inference for the end-to-end validation.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Seed of the shapes' weights and of the plan draw.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let profile = sculpt_hw::Profile::from_path(&args.hardware)?;
    let b = bar();
    b.set_message("micro-benchmarks");
    let cal = sculpt_pipeline::calibrate(&profile, args.reps.max(3), args.seed, &|d, t| {
        b.set_length(t as u64);
        b.set_position(d as u64);
    })?;
    b.finish_and_clear();
    let yaml = format!(
        "# Fitted by `sculpt calibrate` on this machine from {} micro-benchmarks of sculpt's candle runtime\n# (held-out: {}); the parameters fitted are listed below, every other number is from {}.\n{}",
        cal.measurements.0,
        cal.measurements.1,
        args.hardware.display(),
        cal.profile.to_yaml()?
    );
    sculpt_model::write_atomic(&args.out, yaml.as_bytes())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("fitted parameters:");
    for p in &cal.report.params {
        println!("  {:?}: {:.4} (was {:.4})", p.param, p.fitted, p.initial);
    }
    let show = |label: &str, s: &sculpt_hw::ValidationStats| {
        println!(
            "{label}: n = {}, MAPE {:.1}%, within ±10% {:.0}%, Spearman {:.3}",
            s.n,
            100.0 * s.mape,
            100.0 * s.within_10pct,
            s.spearman
        )
    };
    show("training shapes, fitted", &cal.report.train);
    show("held-out shapes, before", &cal.held_out_before);
    show("held-out shapes, fitted", &cal.held_out_after);
    if args.validate_plans > 0 {
        let cost_model = sculpt_hw::CostModel::analytic(cal.profile.clone());
        let space_file =
            SearchSpace::from_path(std::path::Path::new("search-spaces/default.yaml"))?;
        let mut spaces = Vec::new();
        let models: Vec<sculpt_model::Model> = ["builtin:demo-cnn", "builtin:demo-mlp"]
            .iter()
            .map(|m| super::load_model(m))
            .collect::<anyhow::Result<_>>()?;
        for m in &models {
            let w = sculpt_pipeline::graph_workloads(&m.graph, args.batch, 1)?;
            spaces.push(sculpt_pipeline::expand(&space_file, &m.graph, &w, Some(&cost_model))?);
        }
        let pairs: Vec<_> = models.iter().zip(&spaces).collect();
        let b = bar();
        b.set_message("end-to-end plans");
        let v = sculpt_pipeline::validate_plans(
            &pairs,
            &cost_model,
            args.validate_plans,
            args.batch,
            args.seed,
            &|d, t| {
                b.set_length(t as u64);
                b.set_position(d as u64);
            },
        )?;
        b.finish_and_clear();
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
