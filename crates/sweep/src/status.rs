//! Where each job of a sweep stands, from the result markers and the SLURM queue.

use std::fmt;

use crate::markers::{attempts, read_done, read_failed};
use crate::queue::{Queue, is_active, is_failed};
use crate::spec::{Job, Sweep};

/// The state of one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobState {
    /// Its result is complete (`<out>/jobs/<id>/DONE`).
    Done,
    /// Queued or running under SLURM, or running here under the local runner.
    Running,
    /// Its last attempt failed (a `FAILED` marker, or SLURM reports it failed, timed out or was
    /// cancelled).
    Failed,
    /// Never run, or its attempt vanished without a trace.
    Missing,
}

impl JobState {
    /// `done`, `running`, `failed`, `missing`.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Done => "done",
            JobState::Running => "running",
            JobState::Failed => "failed",
            JobState::Missing => "missing",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One job and its state.
#[derive(Clone, Debug, PartialEq)]
pub struct JobStatus {
    /// The job.
    pub job: Job,
    /// Its state.
    pub state: JobState,
    /// One line for people: when it finished, where it runs, why it failed.
    pub detail: String,
}

/// The state of every job, in index order.
///
/// Precedence: a complete result is `done` whatever else is found; then a SLURM task that has not
/// ended, or a local attempt whose process is alive, is `running`; then a `FAILED` marker or a
/// SLURM task that ended badly (timeout, out of memory, cancelled: these leave no marker) is
/// `failed`; anything else is `missing`.
pub fn job_status(sweep: &Sweep, queue: &Queue) -> Vec<JobStatus> {
    sweep
        .jobs
        .iter()
        .map(|job| {
            let (state, detail) = state_of(sweep, job, queue);
            JobStatus { job: job.clone(), state, detail }
        })
        .collect()
}

fn state_of(sweep: &Sweep, job: &Job, queue: &Queue) -> (JobState, String) {
    if let Some(done) = read_done(sweep, job) {
        let mut detail = format!(
            "finished {} in {:.1} s on {}",
            done.finished_at, done.duration_s, done.attempt.host
        );
        if !done.warnings.is_empty() {
            detail.push_str(&format!("; warnings: {}", done.warnings.join("; ")));
        }
        return (JobState::Done, detail);
    }
    let entry = queue.entries.get(&job.id);
    if let Some(entry) = entry.filter(|e| is_active(e)) {
        let mut detail = format!("slurm {} {}", entry.slurm_id, entry.state);
        if !entry.reason.is_empty() && entry.reason != "None" {
            detail.push_str(&format!(" ({})", entry.reason));
        }
        return (JobState::Running, detail);
    }
    let local = attempts(sweep, &job.id);
    if let Some(attempt) =
        local.iter().filter_map(|(_, a)| a.as_ref()).find(|a| a.is_alive() == Some(true))
    {
        return (
            JobState::Running,
            format!("pid {} on {} since {}", attempt.pid, attempt.host, attempt.started_at),
        );
    }
    let marker = read_failed(sweep, job);
    let slurm_failure = entry.filter(|e| is_failed(e)).map(|e| {
        let reason = if e.reason.is_empty() || e.reason == "None" {
            String::new()
        } else {
            format!(" ({})", e.reason)
        };
        format!("slurm {} ended {}{reason}", e.slurm_id, e.state)
    });
    match (marker, slurm_failure) {
        (Some(marker), Some(slurm))
            if marker.attempt.slurm_job.as_deref() != entry.map(|e| e.slurm_id.as_str()) =>
        {
            // The marker is from an older attempt than the one SLURM reports.
            return (JobState::Failed, format!("{slurm}; before that: {}", marker.error));
        }
        (Some(marker), _) => return (JobState::Failed, marker.error),
        (None, Some(slurm)) => return (JobState::Failed, slurm),
        (None, None) => {}
    }
    let mut detail = String::new();
    if let Some(e) = entry {
        detail = format!("slurm {} {} without a result", e.slurm_id, e.state);
    }
    if let Some((dir, _)) = local.first() {
        if !detail.is_empty() {
            detail.push_str("; ");
        }
        detail.push_str(&format!("an unfinished attempt was left in {}", dir.display()));
    }
    (JobState::Missing, detail)
}

/// How many jobs are in each state: (done, running, failed, missing).
pub fn count_states(statuses: &[JobStatus]) -> [usize; 4] {
    let mut counts = [0; 4];
    for s in statuses {
        counts[s.state as usize] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::markers::{Attempt, DONE, DoneMarker, FAILED, FailedMarker, write_marker};
    use crate::queue::QueueEntry;
    use crate::spec::parse_sweep;

    fn sweep(out: &std::path::Path) -> Sweep {
        let text =
            format!("name: t\nout: {}\nmatrix:\n  seed: [1, 2, 3, 4, 5, 6]\n", out.display());
        parse_sweep(&text, "t.yaml".as_ref()).unwrap()
    }

    fn attempt(pid: u32, host: &str) -> Attempt {
        Attempt {
            host: host.into(),
            pid,
            started_at: "2026-01-01T00:00:00Z".into(),
            slurm_job: None,
        }
    }

    #[test]
    fn markers_queue_and_live_attempts_decide_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let sweep = sweep(dir.path());
        let jobs = &sweep.jobs;
        let here = crate::markers::hostname();
        // Job 0: done.
        let d = sweep.job_dir(&jobs[0].id);
        std::fs::create_dir_all(&d).unwrap();
        let done = DoneMarker {
            id: jobs[0].id.clone(),
            settings: jobs[0].settings.clone(),
            finished_at: "2026-01-01T00:01:00Z".into(),
            duration_s: 3.0,
            attempt: attempt(1, &here),
            warnings: vec![],
        };
        write_marker(&d, DONE, &done).unwrap();
        // Job 1: a DONE marker of other settings does not count (missing).
        let d = sweep.job_dir(&jobs[1].id);
        std::fs::create_dir_all(&d).unwrap();
        write_marker(&d, DONE, &DoneMarker { id: jobs[1].id.clone(), ..done.clone() }).unwrap();
        // Job 2: failed, with its marker.
        let d = sweep.failed_dir(&jobs[2].id);
        std::fs::create_dir_all(&d).unwrap();
        let failed = FailedMarker {
            id: jobs[2].id.clone(),
            settings: jobs[2].settings.clone(),
            failed_at: "2026-01-01T00:02:00Z".into(),
            error: "hw.yaml: cannot read".into(),
            attempt: attempt(2, &here),
        };
        write_marker(&d, FAILED, &failed).unwrap();
        // Job 3: running here (this process is alive).
        let d = sweep.jobs_dir().join(format!("{}.tmp-{}", jobs[3].id, std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        write_marker(&d, crate::markers::ATTEMPT, &Attempt::current()).unwrap();
        // Job 4: pending in SLURM.  Job 5: timed out in SLURM, no marker.
        let mut entries = HashMap::new();
        let entry = |id: &str, state: &str, reason: &str| QueueEntry {
            slurm_id: id.into(),
            state: state.into(),
            reason: reason.into(),
        };
        entries.insert(jobs[4].id.clone(), entry("7_4", "PENDING", "Resources"));
        entries.insert(jobs[5].id.clone(), entry("7_5", "TIMEOUT", "None"));
        let queue = Queue { entries, notes: vec![] };

        let statuses = job_status(&sweep, &queue);
        let states: Vec<JobState> = statuses.iter().map(|s| s.state).collect();
        use JobState::*;
        assert_eq!(states, vec![Done, Missing, Failed, Running, Running, Failed]);
        assert!(statuses[2].detail.contains("hw.yaml: cannot read"));
        assert!(statuses[3].detail.contains(&format!("pid {}", std::process::id())));
        assert_eq!(statuses[4].detail, "slurm 7_4 PENDING (Resources)");
        assert_eq!(statuses[5].detail, "slurm 7_5 ended TIMEOUT");
        assert_eq!(count_states(&statuses), [1, 2, 2, 1]);

        // Without the queue, job 4 is missing and job 5 is missing too.
        let statuses = job_status(&sweep, &Queue::default());
        assert_eq!(statuses[4].state, Missing);
        assert_eq!(statuses[5].state, Missing);
    }
}
