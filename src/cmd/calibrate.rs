//! `sculpt calibrate`: fit a profile to measurements, either micro-benchmarks of sculpt's candle
//! runtime on this CPU, or random compressed plans timed through a runner on any device.

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
    /// random plans (default 51, or 3 with --runner, where each round is a runner call).
    #[arg(long)]
    reps: Option<usize>,
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
    /// Time the plans through this runner (docs/runners.md), as ONNX exports, instead of with
    /// sculpt's own runtime: the profile then describes whatever device the runner runs on.
    #[arg(long)]
    runner: Option<String>,
    #[command(flatten)]
    calls: super::RunnerCalls,
    /// The models whose random plans are timed (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "builtin:demo-cnn,builtin:demo-mlp")]
    models: Vec<String>,
    /// The search space the random plans are drawn from.
    #[arg(long, default_value = "search-spaces/default.yaml")]
    space: PathBuf,
    /// The fitted device's name (default: the --out file's stem).
    #[arg(long)]
    name: Option<String>,
    /// Keep the runner's exported models and inputs in this directory (default: a temporary
    /// one, removed afterwards).
    #[arg(long)]
    keep: Option<PathBuf>,
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
    anyhow::ensure!(!args.models.is_empty(), "--models: name at least one model");
    let models: Vec<sculpt_model::Model> =
        args.models.iter().map(|m| super::load_model(m)).collect::<anyhow::Result<_>>()?;
    let space_file = SearchSpace::from_path(&args.space)?;
    let progress = Progress::new();
    let stat: TimingStat = args.stat.into();
    let timings = match &args.runner {
        Some(command) => {
            let runner = args.calls.runner(command)?;
            let reps = args.reps.unwrap_or(3).max(1);
            let name = device_name(args);
            // The base profile's runtime (candle, for cpu-host) does not run the exports.
            let profile = profile.renamed(
                &name,
                &format!("{name}: measured through the runner `{command}`"),
                None,
            );
            let analytic = sculpt_hw::CostModel::analytic(profile.clone());
            let spaces = expand_spaces(&models, &space_file, &analytic, args.batch)?;
            let pairs: Vec<_> = models.iter().zip(&spaces).collect();
            let temp;
            let dir = match &args.keep {
                Some(d) => d.clone(),
                None => {
                    temp = tempfile::tempdir()?;
                    temp.path().to_path_buf()
                }
            };
            progress.stage("timing random plans through the runner");
            let (timings, log) = sculpt_pipeline::time_plans_through_runner(
                &pairs,
                &plan_config(args, reps),
                &runner,
                &dir,
                &|calls, most| progress.count("runner calls", calls, most, ""),
            )?;
            progress.finish();
            let (shares, overhead_s) = timings.layer_shares(stat, &analytic)?;
            let kernels = sculpt_pipeline::median_per_layer(&shares);
            anyhow::ensure!(
                !kernels.is_empty(),
                "no layer was timed: give --kernel-plans above 0 and models with layers"
            );
            let config = sculpt_hw::FitConfig { max_iters: 4000, restarts: 4 };
            let free = sculpt_pipeline::free_params_for(&kernels);
            let (fitted, report) = sculpt_hw::fit(&profile, &kernels, &free, &config)?;
            print_fit(&report);
            let about: Vec<String> = log.about.iter().map(|v| v.to_string()).collect();
            let header = format!(
                "# Fitted by `sculpt calibrate --runner \"{command}\"` from {} layer timings taken in\n# context (prefix differences) of {} random plans per model of {} from {}, {} rounds\n# ({} runner calls, {} prefixes reused; runner: {}).\n# The empty model took {:.1} µs per call (the per-inference overhead).\n# Every number not fitted is from {}.\n",
                kernels.len(),
                args.kernel_plans,
                args.models.join(", "),
                args.space.display(),
                reps,
                log.calls,
                log.reused,
                if about.is_empty() { "no description".into() } else { about.join(" ") },
                overhead_s * 1e6,
                args.hardware.display(),
            );
            write_fitted(args, (&profile, &fitted), &header, &kernels, overhead_s, stat, reps)?;
            timings
        }
        None => {
            let reps = args.reps.unwrap_or(51).max(3);
            progress.stage("micro-benchmarks");
            let cal = sculpt_pipeline::calibrate(&profile, reps, args.seed, &|d, t| {
                progress.count("micro-benchmarks", d, t, "")
            })?;
            let analytic = sculpt_hw::CostModel::analytic(cal.profile.clone());
            let spaces = expand_spaces(&models, &space_file, &analytic, args.batch)?;
            let pairs: Vec<_> = models.iter().zip(&spaces).collect();
            progress.stage("timing random plans");
            let timings =
                sculpt_pipeline::time_plans(&pairs, &plan_config(args, reps), &|d, t| {
                    progress.count("timing random plans", d, t, "")
                })?;
            progress.finish();
            print_fit(&cal.report);
            show("held-out shapes, before", &cal.held_out_before);
            show("held-out shapes, fitted", &cal.held_out_after);
            let header = format!(
                "# Fitted by `sculpt calibrate` on this machine from {} micro-benchmarks of sculpt's candle runtime\n# (held-out: {}).\n# Timed with {} candle thread(s) (RAYON_NUM_THREADS); the numbers hold for that setting.\n# Every number not fitted is from {}.\n",
                cal.measurements.0,
                cal.measurements.1,
                sculpt_model::runtime_threads(),
                args.hardware.display(),
            );
            let (kernels, overhead_s) = if args.kernel_plans > 0 {
                timings.kernel_table(stat, &analytic)?
            } else {
                (Vec::new(), 0.0)
            };
            write_fitted(
                args,
                (&profile, &cal.profile),
                &header,
                &kernels,
                overhead_s,
                stat,
                reps,
            )?;
            timings
        }
    };
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
                "end-to-end, {} held-out random plans ({}, batch {})",
                v.rows.len(),
                args.models.join(", "),
                args.batch
            ),
            &v.stats,
        );
    }
    println!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn show(label: &str, s: &sculpt_hw::ValidationStats) {
    println!(
        "{label}: n = {}, MAPE {:.1}%, within ±10% {:.0}%, Spearman {:.3}",
        s.n,
        100.0 * s.mape,
        100.0 * s.within_10pct,
        s.spearman
    )
}

fn print_fit(report: &sculpt_hw::FitReport) {
    println!("fitted parameters:");
    for p in &report.params {
        println!("  {:?}: {:.4} (was {:.4})", p.param, p.fitted, p.initial);
    }
    show("training layers, fitted", &report.train);
}

fn device_name(args: &Args) -> String {
    args.name.clone().unwrap_or_else(|| {
        args.out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "device".into())
    })
}

fn plan_config(args: &Args, reps: usize) -> sculpt_pipeline::PlanTimingConfig {
    sculpt_pipeline::PlanTimingConfig {
        table_plans: args.kernel_plans,
        validation_plans: args.validate_plans,
        batch: args.batch,
        reps,
        seed: args.seed + 1000,
    }
}

fn expand_spaces(
    models: &[sculpt_model::Model],
    space: &SearchSpace,
    analytic: &sculpt_hw::CostModel,
    batch: usize,
) -> anyhow::Result<Vec<sculpt_pipeline::ExpandedSpace>> {
    let mut spaces = Vec::new();
    for m in models {
        let w = sculpt_pipeline::graph_workloads(&m.graph, batch, 1)?;
        spaces.push(sculpt_pipeline::expand(space, &m.graph, &w, Some(analytic))?);
    }
    Ok(spaces)
}

/// Writes the fitted profile (fitted from `base`) to `--out` under `header`, with `kernels` (layer timings summarised
/// by `stat` over `reps` rounds) as its lookup table `<stem>.lookup.csv` when there are any.
fn write_fitted(
    args: &Args,
    (base, profile): (&sculpt_hw::Profile, &sculpt_hw::Profile),
    header: &str,
    kernels: &[sculpt_hw::Measurement],
    overhead_s: f64,
    stat: TimingStat,
    reps: usize,
) -> anyhow::Result<()> {
    let out = &args.out;
    let mut yaml = profile.to_yaml()?;
    let mut table_note = String::new();
    if !kernels.is_empty() {
        let table = sidecar(out, ".lookup.csv");
        output::write_file(
            &table,
            sculpt_pipeline::lookup_csv(kernels).as_bytes(),
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
            "# Lookup table: {} layer timings ({:?} of {reps} rounds) from {} random plans per model in {}\n# (per-inference overhead {:.1} µs).\n",
            kernels.len(),
            stat,
            args.kernel_plans,
            table.display(),
            overhead_s * 1e6
        );
    }
    let yaml = annotate(
        &yaml,
        &base.to_yaml()?,
        &args.hardware.display().to_string(),
        !kernels.is_empty(),
    );
    let yaml = format!("{header}{table_note}{yaml}\n");
    output::write_file(out, yaml.as_bytes(), "the fitted profile")
}

/// `fitted` (YAML) with the source of every number in a comment, as shipped profiles have it:
/// fitted (with the base's value, when the base has the key), measured (the per-inference
/// overhead), or kept from the base profile `base_name`. Lines are matched by their key path
/// (the keys of the lines they nest in); lines without a number are left as they are.
fn annotate(fitted: &str, base: &str, base_name: &str, measured_overhead: bool) -> String {
    fn paths(text: &str) -> Vec<Option<(String, Option<f64>)>> {
        let mut stack: Vec<(usize, String)> = Vec::new();
        text.lines()
            .map(|line| {
                let indent = line.len() - line.trim_start().len();
                let (key, value) = line.trim_start().split_once(':')?;
                if key.starts_with('-') || key.starts_with('#') {
                    return None;
                }
                while stack.last().is_some_and(|(i, _)| *i >= indent) {
                    stack.pop();
                }
                stack.push((indent, key.to_string()));
                let path = stack.iter().map(|(_, k)| k.as_str()).collect::<Vec<_>>().join(".");
                Some((path, value.trim().parse::<f64>().ok()))
            })
            .collect()
    }
    let base: std::collections::HashMap<String, Option<f64>> =
        paths(base).into_iter().flatten().collect();
    fitted
        .lines()
        .zip(paths(fitted))
        .map(|(line, entry)| {
            let Some((path, Some(v))) = entry else { return line.to_string() };
            if path == "schema_version" {
                return line.to_string();
            }
            if measured_overhead && path.ends_with("per_inference_us") {
                return format!("{line}  # measured (header)");
            }
            match base.get(&path) {
                Some(Some(w)) if *w == v => format!("{line}  # as in {base_name}"),
                Some(Some(w)) => format!("{line}  # fitted by sculpt calibrate (was {w})"),
                _ => format!("{line}  # fitted by sculpt calibrate"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `<dir>/<stem><suffix>` next to the fitted profile `out`.
fn sidecar(out: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fitted".into());
    out.with_file_name(format!("{stem}{suffix}"))
}

#[cfg(test)]
mod tests {
    /// Every number gets its source; a changed one names the value it replaced; lines without a
    /// partner (the lookup section) are left alone.
    #[test]
    fn annotate_names_the_source_of_every_number() {
        let base = "schema_version: 1\nname: a\noverheads:\n  per_layer_us: 2\n  per_inference_us: 20\npower:\n  static_w: 8.8";
        // The fit added a key the base lacks (`conv2d`), which shifts every later line.
        let fitted = "schema_version: 1\nname: a\nutilisation:\n  default: 1.0\n  conv2d: 0.99\noverheads:\n  per_layer_us: 1.5\n  per_inference_us: 7.1\npower:\n  static_w: 8.8\nlookup:\n  path: t.csv";
        let base = format!("{base}\nutilisation:\n  default: 1.0");
        let out = super::annotate(fitted, &base, "base.yaml", true);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "schema_version: 1");
        assert_eq!(lines[3], "  default: 1.0  # as in base.yaml");
        assert_eq!(lines[4], "  conv2d: 0.99  # fitted by sculpt calibrate");
        assert_eq!(lines[6], "  per_layer_us: 1.5  # fitted by sculpt calibrate (was 2)");
        assert_eq!(lines[7], "  per_inference_us: 7.1  # measured (header)");
        assert_eq!(lines[9], "  static_w: 8.8  # as in base.yaml");
        assert_eq!(lines[11], "  path: t.csv");
    }
}
