//! What SLURM's queue says about a sweep's jobs, as both the status and the SLURM modules read it.

use std::collections::HashMap;

/// A job's entry in the SLURM queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueEntry {
    /// `<array job id>_<array index>`.
    pub slurm_id: String,
    /// The SLURM state (`PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `TIMEOUT`, ...).
    pub state: String,
    /// SLURM's reason (`Resources`, `Dependency`, `NonZeroExitCode`, `None`).
    pub reason: String,
}

/// What the queue knows about a sweep's jobs: by job id, from the latest submission the queue
/// still remembers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Queue {
    /// Entries by job id.
    pub entries: HashMap<String, QueueEntry>,
    /// Why the queue could not be read, when it could not.
    pub notes: Vec<String>,
}

/// SLURM states of a job that has not ended.
pub(crate) const ACTIVE_STATES: [&str; 13] = [
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
    "RESV_DEL_HOLD",
];

/// SLURM states of a job that ended without success.
const FAILED_STATES: [&str; 8] = [
    "FAILED",
    "TIMEOUT",
    "CANCELLED",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
];

pub(crate) fn is_active(entry: &QueueEntry) -> bool {
    ACTIVE_STATES.contains(&entry.state.as_str())
}

pub(crate) fn is_failed(entry: &QueueEntry) -> bool {
    // squeue may print `CANCELLED by 0`.
    FAILED_STATES.iter().any(|s| entry.state.split_whitespace().next() == Some(s))
}
