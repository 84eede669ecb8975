//! The files that record a job's fate: `ATTEMPT` in a running attempt's folder, `DONE` in a
//! finished job's folder, `FAILED` in the folder of its last failed attempt. All are YAML.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spec::{Job, JobSettings, Sweep};

/// Marker file of a complete result.
pub const DONE: &str = "DONE";
/// Marker file of a failed attempt.
pub const FAILED: &str = "FAILED";
/// Marker file of an attempt in progress.
pub const ATTEMPT: &str = "ATTEMPT";

/// Who ran an attempt: enough to tell whether it still runs and to find its log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    /// Host name.
    pub host: String,
    /// Process id of the task.
    pub pid: u32,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// `<array job id>_<task id>` (or the job id) when the task ran under SLURM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job: Option<String>,
}

impl Attempt {
    /// This process, now.
    pub(crate) fn current() -> Attempt {
        let slurm_job = match (
            std::env::var("SLURM_ARRAY_JOB_ID"),
            std::env::var("SLURM_ARRAY_TASK_ID"),
            std::env::var("SLURM_JOB_ID"),
        ) {
            (Ok(array), Ok(task), _) => Some(format!("{array}_{task}")),
            (_, _, Ok(job)) => Some(job),
            _ => None,
        };
        Attempt { host: hostname(), pid: std::process::id(), started_at: now_rfc3339(), slurm_job }
    }

    /// Whether the attempt's process is alive; `None` when it ran on another host.
    pub(crate) fn is_alive(&self) -> Option<bool> {
        (self.host == hostname()).then(|| Path::new("/proc").join(self.pid.to_string()).exists())
    }
}

/// `DONE`: the job finished and its folder holds the complete run directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoneMarker {
    /// The job id.
    pub id: String,
    /// The job's settings (their hash is the id).
    pub settings: JobSettings,
    /// RFC 3339, UTC.
    pub finished_at: String,
    /// Wall time of the attempt, seconds.
    pub duration_s: f64,
    /// Who ran it.
    pub attempt: Attempt,
    /// Things that went wrong without spoiling the result (the report could not be drawn, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// `FAILED`: the last attempt of the job failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailedMarker {
    /// The job id.
    pub id: String,
    /// The job's settings.
    pub settings: JobSettings,
    /// RFC 3339, UTC.
    pub failed_at: String,
    /// The error, as the user would see it from `sculpt search`.
    pub error: String,
    /// Who ran it.
    pub attempt: Attempt,
}

/// The `DONE` marker of a job, when its result is complete and is this job's.
pub fn read_done(sweep: &Sweep, job: &Job) -> Option<DoneMarker> {
    let marker: DoneMarker = sculpt_yaml::from_path(&sweep.job_dir(&job.id).join(DONE)).ok()?;
    (marker.id == job.id && marker.settings == job.settings).then_some(marker)
}

/// The `FAILED` marker of a job's last failed attempt, if any.
pub fn read_failed(sweep: &Sweep, job: &Job) -> Option<FailedMarker> {
    let marker: FailedMarker =
        sculpt_yaml::from_path(&sweep.failed_dir(&job.id).join(FAILED)).ok()?;
    (marker.id == job.id).then_some(marker)
}

/// Attempt folders (`<out>/jobs/<id>.tmp-<pid>`) of a job and what their `ATTEMPT` says.
pub(crate) fn attempts(sweep: &Sweep, id: &str) -> Vec<(PathBuf, Option<Attempt>)> {
    let prefix = format!("{id}.tmp-");
    let Ok(entries) = std::fs::read_dir(sweep.jobs_dir()) else { return Vec::new() };
    let mut out: Vec<(PathBuf, Option<Attempt>)> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| {
            let attempt = sculpt_yaml::from_path(&e.path().join(ATTEMPT)).ok();
            (e.path(), attempt)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Writes a YAML marker atomically (a temporary file renamed into place) and syncs it.
pub(crate) fn write_marker<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<()> {
    let text = sculpt_yaml::to_string(value)?;
    write_atomic(&dir.join(name), text.as_bytes())
}

/// Writes `bytes` to `path` atomically, with an error that names the file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    sculpt_stdx::write_atomic(path, bytes).map_err(|e| Error::io(path, e))
}

/// The host name (the short one SLURM uses), or `unknown`.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().split('.').next().unwrap_or("").to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

pub(crate) use sculpt_stdx::now_rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive() {
        let attempt = Attempt::current();
        assert_eq!(attempt.is_alive(), Some(true));
        let elsewhere = Attempt { host: format!("{}-other", attempt.host), ..attempt };
        assert_eq!(elsewhere.is_alive(), None);
    }
}
