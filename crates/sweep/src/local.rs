//! The local runner: every job of a sweep on this machine, a few at a time, each in its own
//! process so that a crashing job cannot take the runner down.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::markers::{Attempt, FailedMarker, hostname, now_rfc3339, read_done, read_failed};
use crate::spec::{Job, Sweep};
use crate::task::record_failure;

/// How the local runner runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalConfig {
    /// The sculpt executable; each job runs `<sculpt> sweep task <file> --index I --id ID`.
    pub sculpt: PathBuf,
    /// Jobs at a time (at least 1).
    pub parallel: usize,
}

/// Something the runner did, for progress output.
#[derive(Clone, Debug, PartialEq)]
pub enum LocalEvent<'a> {
    /// The job's result was complete; it was not run.
    Skipped {
        /// The job.
        job: &'a Job,
    },
    /// A job process started.
    Started {
        /// The job.
        job: &'a Job,
        /// Its log file.
        log: &'a Path,
    },
    /// A job process ended.
    Finished {
        /// The job.
        job: &'a Job,
        /// `None` when it succeeded; otherwise why it failed.
        error: Option<&'a str>,
        /// Wall time, seconds.
        duration_s: f64,
    },
}

/// What a local run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LocalSummary {
    /// Jobs run to completion now.
    pub done: Vec<String>,
    /// Jobs whose result was already complete.
    pub skipped: Vec<String>,
    /// Jobs that failed now: (id, error).
    pub failed: Vec<(String, String)>,
}

struct Running<'a> {
    job: &'a Job,
    child: Child,
    started: Instant,
    started_at: String,
    log: PathBuf,
}

/// Runs every job of the sweep whose result is not complete, `parallel` at a time.
///
/// Each job is a child process of `config.sculpt` (`sweep task`), with its output in
/// `<out>/logs/<id>.log`. A child that dies without recording its fate (killed, crashed) gets a
/// `FAILED` marker written by the runner, naming its exit status and the end of its log. Unless
/// `RAYON_NUM_THREADS` is set, each child gets an equal share of the machine's threads.
pub fn run_local(
    sweep: &Sweep,
    config: &LocalConfig,
    on_event: &mut dyn FnMut(LocalEvent<'_>),
) -> Result<LocalSummary> {
    let parallel = config.parallel.max(1);
    let mut summary = LocalSummary::default();
    let mut queue: Vec<&Job> = Vec::new();
    for job in &sweep.jobs {
        if read_done(sweep, job).is_some() {
            summary.skipped.push(job.id.clone());
            on_event(LocalEvent::Skipped { job });
        } else {
            queue.push(job);
        }
    }
    queue.reverse();
    let logs = sweep.out.join("logs");
    if !queue.is_empty() {
        std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    }
    let threads = std::env::var_os("RAYON_NUM_THREADS").is_none().then(|| {
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        (cpus / parallel).max(1)
    });

    let mut running: Vec<Running<'_>> = Vec::new();
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < parallel {
            let Some(job) = queue.pop() else { break };
            let log = sweep.log_file(&job.id);
            let child = spawn(sweep, config, job, &log, threads)?;
            on_event(LocalEvent::Started { job, log: &log });
            running.push(Running {
                job,
                child,
                started: Instant::now(),
                started_at: now_rfc3339(),
                log,
            });
        }
        let mut i = 0;
        let mut ended = false;
        while i < running.len() {
            let status = running[i]
                .child
                .try_wait()
                .map_err(|e| Error::Runner { msg: format!("cannot watch a job process: {e}") })?;
            let Some(status) = status else {
                i += 1;
                continue;
            };
            ended = true;
            let r = running.swap_remove(i);
            let duration_s = r.started.elapsed().as_secs_f64();
            let error = outcome(sweep, &r, status)?;
            on_event(LocalEvent::Finished { job: r.job, error: error.as_deref(), duration_s });
            match error {
                None => summary.done.push(r.job.id.clone()),
                Some(e) => summary.failed.push((r.job.id.clone(), e)),
            }
        }
        if !ended {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(summary)
}

fn spawn(
    sweep: &Sweep,
    config: &LocalConfig,
    job: &Job,
    log: &Path,
    threads: Option<usize>,
) -> Result<Child> {
    let file = std::fs::File::create(log).map_err(|e| Error::io(log, e))?;
    let err = file.try_clone().map_err(|e| Error::io(log, e))?;
    let mut command = Command::new(&config.sculpt);
    command
        .arg("sweep")
        .arg("task")
        .arg(&sweep.file)
        .args(["--index", &job.index.to_string(), "--id", &job.id])
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err);
    if let Some(n) = threads {
        command.env("RAYON_NUM_THREADS", n.to_string());
    }
    command.spawn().map_err(|e| Error::Runner {
        msg: format!("cannot start `{} sweep task`: {e}", config.sculpt.display()),
    })
}

/// `None` when the job's result is complete; otherwise the error, recorded in a `FAILED` marker.
fn outcome(sweep: &Sweep, r: &Running<'_>, status: ExitStatus) -> Result<Option<String>> {
    let job = r.job;
    if read_done(sweep, job).is_some() {
        return Ok(None);
    }
    let pid = r.child.id();
    if let Some(marker) = read_failed(sweep, job).filter(|m| m.attempt.pid == pid) {
        return Ok(Some(marker.error));
    }
    // The task died before it could say why.
    let mut error =
        format!("the task process ended ({}) without recording a result", describe_status(status));
    let tail = log_tail(&r.log, 3);
    if !tail.is_empty() {
        error.push_str(&format!("; its log {} ends: {}", r.log.display(), tail.join(" | ")));
    }
    let marker = FailedMarker {
        id: job.id.clone(),
        settings: job.settings.clone(),
        failed_at: now_rfc3339(),
        error: error.clone(),
        attempt: Attempt {
            host: hostname(),
            pid,
            started_at: r.started_at.clone(),
            slurm_job: None,
        },
    };
    let attempt_dir = sweep.jobs_dir().join(format!("{}.tmp-{pid}", job.id));
    record_failure(sweep, job, &attempt_dir, &marker)?;
    Ok(Some(error))
}

fn describe_status(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    }
}

fn log_tail(log: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}
