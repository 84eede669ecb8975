//! `sculpt sweep`: many searches from one sweep file, on this machine or as a SLURM array.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};

use sculpt_sweep::{
    JobStatus, LocalConfig, LocalEvent, SubmitConfig, SubmitOutcome, Sweep, TaskOutcome,
    WaitProgress,
};

use crate::output;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

/// How `plan` and `status` print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// An aligned table for people.
    Text,
    /// JSON for programs.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the jobs of a sweep file (the cartesian product of its matrix) with their ids.
    Plan {
        /// The sweep file (YAML).
        sweep: PathBuf,
        /// text or json (`{"jobs": [{"id": ..., ...}]}`).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Run every unfinished job on this machine, N at a time.
    Run {
        /// The sweep file (YAML).
        sweep: PathBuf,
        /// Run here (the only mode of `run`; `submit --slurm` runs on a cluster).
        #[arg(long)]
        local: bool,
        /// Jobs at a time; each gets an equal share of the CPUs.
        #[arg(short = 'j', long = "jobs", default_value_t = 1, value_name = "N")]
        jobs: usize,
    },
    /// Write the sbatch scripts (an array, one task per job, and an `afterok` merge job) into
    /// <out>/slurm and submit them.
    Submit {
        /// The sweep file (YAML).
        sweep: PathBuf,
        /// Submit to SLURM (the only scheduler sculpt drives).
        #[arg(long)]
        slurm: bool,
        /// Write the scripts and print the sbatch commands, submit nothing.
        #[arg(long)]
        dry_run: bool,
        /// Submit only the failed and missing jobs.
        #[arg(long)]
        only_missing: bool,
        /// Wait until the array and the merge job have ended, then print the status.
        #[arg(long)]
        wait: bool,
        /// Seconds between two looks at the queue while waiting.
        #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
        poll_s: f64,
        /// Give up waiting after this many seconds (the jobs keep running).
        #[arg(long, value_name = "SECONDS")]
        max_wait_s: Option<f64>,
    },
    /// Done / running / failed / missing per job, from the result markers and squeue.
    Status {
        /// The sweep file (YAML).
        sweep: PathBuf,
        /// text or json.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Merge every finished job into <out>/merged (fronts, candidates, jobs.csv, summary.md and
    /// a comparison report); failed and missing jobs are listed.
    Merge {
        /// The sweep file (YAML).
        sweep: PathBuf,
    },
    /// Run one job of a sweep in this process (what each SLURM array task and each local job
    /// runs).
    Task {
        /// The sweep file (YAML).
        sweep: PathBuf,
        /// The job's index in the sweep (the SLURM array index).
        #[arg(long)]
        index: usize,
        /// The job's id; when the job at `--index` has another id (the file was reordered since
        /// submission), the job with this id runs.
        #[arg(long)]
        id: Option<String>,
    },
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        Command::Plan { sweep, format } => plan(&load(sweep)?, *format),
        Command::Run { sweep, local, jobs } => {
            anyhow::ensure!(
                *local,
                "`sweep run` runs the jobs on this machine: add --local (or use \
                 `sculpt sweep submit {} --slurm` for a cluster)",
                sweep.display()
            );
            anyhow::ensure!(*jobs >= 1, "-j must be at least 1");
            run_local(&load(sweep)?, *jobs)
        }
        Command::Submit { sweep, slurm, dry_run, only_missing, wait, poll_s, max_wait_s } => {
            anyhow::ensure!(
                *slurm,
                "`sweep submit` needs a scheduler: add --slurm (or use `sculpt sweep run {} \
                 --local` on this machine)",
                sweep.display()
            );
            anyhow::ensure!(
                poll_s.is_finite() && *poll_s > 0.0,
                "--poll-s must be a positive number of seconds"
            );
            if let Some(m) = max_wait_s {
                anyhow::ensure!(
                    m.is_finite() && *m > 0.0,
                    "--max-wait-s must be a positive number of seconds"
                );
            }
            let options = SubmitOptions {
                dry_run: *dry_run,
                only_missing: *only_missing,
                wait: *wait,
                poll: Duration::from_secs_f64(*poll_s),
                max_wait: max_wait_s.map(Duration::from_secs_f64),
            };
            submit(&load(sweep)?, &options)
        }
        Command::Status { sweep, format } => status(&load(sweep)?, *format),
        Command::Merge { sweep } => merge(&load(sweep)?),
        Command::Task { sweep, index, id } => task(&load(sweep)?, *index, id.as_deref()),
    }
}

fn load(path: &Path) -> anyhow::Result<Sweep> {
    Ok(sculpt_sweep::load_sweep(path)?)
}

/// This executable, which local jobs and SLURM tasks run.
fn this_sculpt() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the path of the sculpt executable")?;
    // SLURM tasks start in another working directory, so the path must be absolute.
    Ok(exe.canonicalize().unwrap_or(exe))
}

fn axes_header(sweep: &Sweep) -> Vec<&'static str> {
    sweep.axes.iter().map(|a| a.name()).collect()
}

fn axes_values(sweep: &Sweep, job: &sculpt_sweep::Job) -> Vec<String> {
    sweep.axes.iter().map(|a| job.settings.axis_value(*a)).collect()
}

fn plan(sweep: &Sweep, format: Format) -> anyhow::Result<ExitCode> {
    match format {
        Format::Json => {
            let jobs: Vec<serde_json::Value> = sweep
                .jobs
                .iter()
                .map(|job| {
                    let mut value = serde_json::json!({"id": job.id, "index": job.index});
                    if let (Some(object), Ok(serde_json::Value::Object(settings))) =
                        (value.as_object_mut(), serde_json::to_value(&job.settings))
                    {
                        object.extend(settings);
                    }
                    value
                })
                .collect();
            let doc = serde_json::json!({
                "name": sweep.name,
                "file": sweep.file,
                "out": sweep.out,
                "axes": sweep.axes.iter().map(|a| a.name()).collect::<Vec<_>>(),
                "jobs": jobs,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Text => {
            let mut headers = vec!["index", "id"];
            headers.extend(axes_header(sweep));
            let rows: Vec<Vec<String>> = sweep
                .jobs
                .iter()
                .map(|job| {
                    let mut row = vec![job.index.to_string(), job.id.clone()];
                    row.extend(axes_values(sweep, job));
                    row
                })
                .collect();
            print!("{}", output::table(&headers, &rows));
            println!("\n{} jobs; results in {}", sweep.jobs.len(), sweep.out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_local(sweep: &Sweep, parallel: usize) -> anyhow::Result<ExitCode> {
    let config = LocalConfig { sculpt: this_sculpt()?, parallel };
    let total = sweep.jobs.len();
    let mut ended = 0;
    let mut on_event = |event: LocalEvent<'_>| match event {
        LocalEvent::Skipped { job } => {
            ended += 1;
            eprintln!("[{ended}/{total}] {} already done", job.id);
        }
        LocalEvent::Started { job, log } => {
            eprintln!(
                "        {} started ({}), log {}",
                job.id,
                axes_values(sweep, job).join(" "),
                log.display()
            );
        }
        LocalEvent::Finished { job, error: None, duration_s } => {
            ended += 1;
            eprintln!("[{ended}/{total}] {} done in {duration_s:.1} s", job.id);
        }
        LocalEvent::Finished { job, error: Some(error), duration_s } => {
            ended += 1;
            eprintln!("[{ended}/{total}] {} FAILED after {duration_s:.1} s: {error}", job.id);
        }
    };
    let summary = sculpt_sweep::run_local(sweep, &config, &mut on_event)?;
    println!(
        "{} jobs: {} run now, {} already done, {} failed; results in {}",
        total,
        summary.done.len(),
        summary.skipped.len(),
        summary.failed.len(),
        sweep.jobs_dir().display()
    );
    if summary.failed.is_empty() {
        println!("next: sculpt sweep merge {}", sweep.file.display());
        return Ok(ExitCode::SUCCESS);
    }
    for (id, error) in &summary.failed {
        eprintln!("failed: {id}: {error}");
    }
    eprintln!(
        "{} of {total} jobs failed; `sculpt sweep run {} --local` retries them, \
         `sculpt sweep merge` merges the others",
        summary.failed.len(),
        sweep.file.display()
    );
    Ok(ExitCode::FAILURE)
}

struct SubmitOptions {
    dry_run: bool,
    only_missing: bool,
    wait: bool,
    poll: Duration,
    max_wait: Option<Duration>,
}

fn submit(sweep: &Sweep, options: &SubmitOptions) -> anyhow::Result<ExitCode> {
    let config = SubmitConfig {
        sculpt: this_sculpt()?,
        only_missing: options.only_missing,
        dry_run: options.dry_run,
    };
    let submission = match sculpt_sweep::submit(sweep, &config)? {
        SubmitOutcome::NothingToSubmit => {
            println!("nothing to submit: every job is done or running");
            return Ok(ExitCode::SUCCESS);
        }
        SubmitOutcome::DryRun { scripts, indices, commands } => {
            println!("wrote {}", scripts.array.display());
            println!("wrote {}", scripts.merge.display());
            println!(
                "{} of {} jobs would be submitted (array indices {}); the commands:",
                indices.len(),
                sweep.jobs.len(),
                sculpt_sweep::array_spec(&indices)
            );
            for command in commands {
                println!("  {command}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        SubmitOutcome::Submitted { scripts, submission } => {
            println!(
                "submitted {} jobs as array job {} ({}); merge job {}",
                submission.indices.len(),
                submission.array_job,
                scripts.array.display(),
                submission.merge_job.as_deref().unwrap_or("-"),
            );
            println!("logs in {}", sweep.slurm_dir().join("logs").display());
            submission
        }
    };
    if !options.wait {
        println!("follow with: sculpt sweep status {}", sweep.file.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut last = String::new();
    let mut on_poll = |progress: &WaitProgress| {
        let active: Vec<String> = progress
            .active
            .iter()
            .map(|(state, n)| format!("{n} {}", state.to_lowercase()))
            .collect();
        let line = if active.is_empty() { "all ended".to_string() } else { active.join(", ") };
        if line != last {
            eprintln!("[{} s] {line}", progress.elapsed_s);
            last = line;
        }
    };
    sculpt_sweep::wait(&submission, options.poll, options.max_wait, &mut on_poll)?;
    let statuses = sculpt_sweep::job_status(sweep, &sculpt_sweep::query_queue(sweep));
    print_status(sweep, &statuses);
    let [done, ..] = sculpt_sweep::count_states(&statuses);
    if done == statuses.len() {
        println!("merged: {}", sweep.merged_dir().display());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} of {} jobs are not done, so the merge job did not run; `sculpt sweep merge {file}` \
             merges the finished ones, `sculpt sweep submit {file} --slurm --only-missing` reruns \
             the rest",
            statuses.len() - done,
            statuses.len(),
            file = sweep.file.display()
        );
        Ok(ExitCode::FAILURE)
    }
}

fn print_status(sweep: &Sweep, statuses: &[JobStatus]) {
    let mut headers = vec!["index", "id", "state"];
    headers.extend(axes_header(sweep));
    headers.push("detail");
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .map(|s| {
            let mut row = vec![s.job.index.to_string(), s.job.id.clone(), s.state.to_string()];
            row.extend(axes_values(sweep, &s.job));
            row.push(s.detail.clone());
            row
        })
        .collect();
    print!("{}", output::table(&headers, &rows));
    let [done, running, failed, missing] = sculpt_sweep::count_states(statuses);
    println!(
        "\n{} jobs: {done} done, {running} running, {failed} failed, {missing} missing",
        statuses.len()
    );
}

fn status(sweep: &Sweep, format: Format) -> anyhow::Result<ExitCode> {
    let queue = sculpt_sweep::query_queue(sweep);
    for note in &queue.notes {
        eprintln!("note: the SLURM queue could not be read: {note}");
    }
    let statuses = sculpt_sweep::job_status(sweep, &queue);
    match format {
        Format::Text => print_status(sweep, &statuses),
        Format::Json => {
            let [done, running, failed, missing] = sculpt_sweep::count_states(&statuses);
            let jobs: Vec<serde_json::Value> = statuses
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "id": s.job.id,
                        "index": s.job.index,
                        "state": s.state.name(),
                        "detail": s.detail,
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "counts": {"done": done, "running": running, "failed": failed, "missing": missing},
                "jobs": jobs,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn merge(sweep: &Sweep) -> anyhow::Result<ExitCode> {
    let queue = sculpt_sweep::query_queue(sweep);
    let summary = sculpt_sweep::merge(sweep, &queue)?;
    for note in &summary.notes {
        eprintln!("note: {note}");
    }
    let [done, ..] = sculpt_sweep::count_states(&summary.statuses);
    match &summary.tables {
        Some(tables) => {
            for file in &tables.written {
                println!("wrote {}", file.display());
            }
            println!(
                "{done} of {} jobs merged: {} front rows, {} candidate rows",
                summary.statuses.len(),
                tables.front_rows,
                tables.candidate_rows
            );
        }
        None => println!("0 of {} jobs merged: none has finished", summary.statuses.len()),
    }
    println!("wrote {}", summary.dir.join("jobs.csv").display());
    println!("wrote {}", summary.dir.join("summary.md").display());
    if let Some(report) = &summary.report {
        println!("report: {}", report.display());
    }
    let incomplete: Vec<&JobStatus> = summary.incomplete().collect();
    if !incomplete.is_empty() {
        eprintln!("{} jobs are not in the merged tables:", incomplete.len());
        for s in incomplete {
            let detail = if s.detail.is_empty() { "never run" } else { s.detail.as_str() };
            eprintln!("  {} {} (index {}): {detail}", s.state, s.job.id, s.job.index);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn task(sweep: &Sweep, index: usize, id: Option<&str>) -> anyhow::Result<ExitCode> {
    let job = sculpt_sweep::select_job(sweep, index, id)?;
    eprintln!(
        "job {} (index {} of sweep `{}`): {}",
        job.id,
        job.index,
        sweep.name,
        serde_json::to_string(&job.settings)?
    );
    let progress = crate::progress::Progress::new();
    let outcome = sculpt_sweep::run_task(sweep, index, id, &progress);
    progress.finish();
    match outcome? {
        TaskOutcome::Done { job, dir, duration_s, warnings } => {
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            println!("job {} done in {duration_s:.1} s: {}", job.id, dir.display());
            Ok(ExitCode::SUCCESS)
        }
        TaskOutcome::AlreadyDone { job, dir } => {
            println!("job {} was already done: {}", job.id, dir.display());
            Ok(ExitCode::SUCCESS)
        }
        TaskOutcome::Failed { job, error, dir } => {
            // A non-zero exit makes SLURM mark the array task failed, which cancels the merge job.
            eprintln!("error: job {} failed: {error} (recorded in {})", job.id, dir.display());
            Ok(ExitCode::FAILURE)
        }
    }
}
