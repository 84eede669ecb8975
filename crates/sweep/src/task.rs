//! One job of a sweep, run in this process: `sculpt sweep task`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sculpt_pipeline::{EngineKind, RunMonitor, SearchConfig};

use crate::error::{Error, Result};
use crate::markers::{
    ATTEMPT, Attempt, DONE, DoneMarker, FAILED, FailedMarker, attempts, now_rfc3339, read_done,
    write_marker,
};
use crate::spec::{Job, JobSettings, Sweep};

/// How a task ended.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskOutcome {
    /// The search ran and its run directory is in place.
    Done {
        /// The job.
        job: Job,
        /// `<out>/jobs/<id>`.
        dir: PathBuf,
        /// Wall time, seconds.
        duration_s: f64,
        /// Problems that did not spoil the result.
        warnings: Vec<String>,
    },
    /// The job's result was already complete; nothing was run.
    AlreadyDone {
        /// The job.
        job: Job,
        /// `<out>/jobs/<id>`.
        dir: PathBuf,
    },
    /// The search failed; `<out>/jobs/<id>.failed/FAILED` records why.
    Failed {
        /// The job.
        job: Job,
        /// The error.
        error: String,
        /// `<out>/jobs/<id>.failed`.
        dir: PathBuf,
    },
}

/// The job a task names: the one at `index`, or, when `id` is given and the job at `index` has
/// another id (the sweep file was reordered since submission), the job with that id.
pub fn select_job<'a>(sweep: &'a Sweep, index: usize, id: Option<&str>) -> Result<&'a Job> {
    match id {
        None => sweep.job(index),
        Some(id) => match sweep.jobs.get(index) {
            Some(job) if job.id == id => Ok(job),
            _ => sweep
                .find(id)
                .ok_or_else(|| Error::NoSuchJob { file: sweep.file.clone(), id: id.to_string() }),
        },
    }
}

/// Runs one job unless its result is complete.
///
/// The search writes into `<out>/jobs/<id>.tmp-<pid>`, which is renamed to `<out>/jobs/<id>`
/// only when the run directory, its Parquet tables, its report and the `DONE` marker are all
/// written, so a killed task never leaves a half result under the final name. A failing search
/// (an error or a panic) is not an `Err`: its attempt folder becomes `<out>/jobs/<id>.failed` with
/// a `FAILED` marker, and [`TaskOutcome::Failed`] is returned. `Err` means the sweep itself is
/// unusable (no such job, the output folder cannot be written).
pub fn run_task(
    sweep: &Sweep,
    index: usize,
    id: Option<&str>,
    monitor: &dyn RunMonitor,
) -> Result<TaskOutcome> {
    let job = select_job(sweep, index, id)?.clone();
    let final_dir = sweep.job_dir(&job.id);
    if read_done(sweep, &job).is_some() {
        return Ok(TaskOutcome::AlreadyDone { job, dir: final_dir });
    }
    let jobs_dir = sweep.jobs_dir();
    std::fs::create_dir_all(&jobs_dir).map_err(|e| Error::io(&jobs_dir, e))?;
    // A folder under the final name without a valid DONE is not a result (it cannot come from
    // this code, which renames complete folders only); it would block the rename.
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| Error::io(&final_dir, e))?;
    }
    // Attempts of this job that died on this host leave folders nobody will finish.
    for (dir, attempt) in attempts(sweep, &job.id) {
        if attempt.is_some_and(|a| a.is_alive() == Some(false)) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    let attempt = Attempt::current();
    let tmp = jobs_dir.join(format!("{}.tmp-{}", job.id, attempt.pid));
    if tmp.exists() {
        // A folder of an earlier process that had our pid.
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    write_marker(&tmp, ATTEMPT, &attempt)?;

    let started = Instant::now();
    let result = search(&job.settings, &tmp, monitor);
    let duration_s = started.elapsed().as_secs_f64();
    match result {
        Ok(warnings) => {
            let marker = DoneMarker {
                id: job.id.clone(),
                settings: job.settings.clone(),
                finished_at: now_rfc3339(),
                duration_s,
                attempt,
                warnings: warnings.clone(),
            };
            write_marker(&tmp, DONE, &marker)?;
            let _ = std::fs::remove_file(tmp.join(ATTEMPT));
            if let Err(e) = std::fs::rename(&tmp, &final_dir) {
                // Another attempt of the same job finished first: its result stands.
                let _ = std::fs::remove_dir_all(&tmp);
                if read_done(sweep, &job).is_some() {
                    return Ok(TaskOutcome::AlreadyDone { job, dir: final_dir });
                }
                return Err(Error::io(&final_dir, e));
            }
            let failed = sweep.failed_dir(&job.id);
            if failed.exists() {
                let _ = std::fs::remove_dir_all(&failed);
            }
            Ok(TaskOutcome::Done { job, dir: final_dir, duration_s, warnings })
        }
        Err(error) => {
            let marker = FailedMarker {
                id: job.id.clone(),
                settings: job.settings.clone(),
                failed_at: now_rfc3339(),
                error: error.clone(),
                attempt,
            };
            let dir = record_failure(sweep, &job, &tmp, &marker)?;
            Ok(TaskOutcome::Failed { job, error, dir })
        }
    }
}

/// Turns an attempt folder into `<out>/jobs/<id>.failed` with a `FAILED` marker (replacing the
/// previous failure), and returns that folder. The local runner uses it for tasks that died
/// without writing their own marker.
pub(crate) fn record_failure(
    sweep: &Sweep,
    job: &Job,
    attempt_dir: &Path,
    marker: &FailedMarker,
) -> Result<PathBuf> {
    let failed = sweep.failed_dir(&job.id);
    std::fs::create_dir_all(attempt_dir).map_err(|e| Error::io(attempt_dir, e))?;
    write_marker(attempt_dir, FAILED, marker)?;
    let _ = std::fs::remove_file(attempt_dir.join(ATTEMPT));
    if failed.exists() {
        std::fs::remove_dir_all(&failed).map_err(|e| Error::io(&failed, e))?;
    }
    std::fs::rename(attempt_dir, &failed).map_err(|e| Error::io(&failed, e))?;
    Ok(failed)
}

/// The search and its report, into `out`; the error as the user would read it.
fn search(
    settings: &JobSettings,
    out: &Path,
    monitor: &dyn RunMonitor,
) -> std::result::Result<Vec<String>, String> {
    let engine = EngineKind::parse(&settings.engine)
        .ok_or_else(|| format!("unknown engine `{}`", settings.engine))?;
    let config = SearchConfig {
        data: settings.data.clone(),
        hardware: PathBuf::from(&settings.hardware),
        space: PathBuf::from(&settings.space),
        engine,
        budget: settings.budget,
        seed: settings.seed,
        out: out.to_path_buf(),
        batch: settings.batch,
        tokens: settings.tokens,
        constraints: settings.constraints.clone(),
        calibration_samples: settings.calibration_samples,
        validation_samples: settings.validation_samples,
        cache_dir: Some(sculpt_pipeline::default_cache_dir()),
        time_limit: settings.time_limit_s.map(std::time::Duration::from_secs_f64),
        ..SearchConfig::new(settings.model.clone())
    };
    // A panic is a bug, but it must still end as a recorded failure of this job.
    let summary =
        catch_unwind(AssertUnwindSafe(|| sculpt_pipeline::run_search(&config, monitor, None)))
            .map_err(|panic| {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                format!("the search panicked: {msg}")
            })?
            .map_err(|e| e.to_string())?;
    if summary.termination == sculpt_run::TerminationReason::Interrupted {
        return Err("the search was interrupted".into());
    }
    let mut warnings = Vec::new();
    match sculpt_report::write_tables(out) {
        Ok(written) => warnings.extend(
            written.missing.iter().map(|m| format!("{} is missing; no Parquet copy", m.display())),
        ),
        Err(e) => warnings.push(format!("Parquet tables: {e}")),
    }
    match sculpt_run::read_run(out) {
        Ok(run) => {
            if let Err(e) = sculpt_report::write_report(&run, &out.join("report")) {
                warnings.push(format!("report: {e}"));
            }
        }
        Err(e) => warnings.push(format!("report: {e}")),
    }
    Ok(warnings)
}
