//! Batch sweeps of sculpt searches: many models × devices × spaces × engines × seeds × budgets,
//! run on this machine or as a SLURM array, resumable, merged into one table and one report.
//!
//! * [`load_sweep`] reads a sweep file (YAML, unknown keys rejected, errors with file, line and
//!   key) into a [`Sweep`]: its [`Job`]s are the cartesian product of the matrix axes, each with a
//!   content-derived id ([`job_id`]) that survives reordering the file.
//! * [`run_task`] runs one job in this process (`sculpt sweep task`), through a temporary folder
//!   renamed into place only when complete; a failure leaves a `FAILED` marker instead.
//! * [`run_local`] runs every unfinished job as a child process, N at a time.
//! * [`write_scripts`], [`submit`], [`query_queue`] and [`wait`] drive SLURM (sbatch arrays,
//!   an `afterok` merge job, squeue).
//! * [`job_status`] says which jobs are done, running, failed or missing; [`merge`] stacks the
//!   finished ones into `<out>/merged/` and lists the rest.
//!
//! The output folder of a sweep (`out` in the file):
//!
//! ```text
//! <out>/jobs/<id>/            a finished job: its run directory (docs/run-format.md) and DONE
//! <out>/jobs/<id>.tmp-<pid>/  an attempt in progress (ATTEMPT names host and pid)
//! <out>/jobs/<id>.failed/     the last failed attempt, with FAILED (the error)
//! <out>/logs/<id>.log         a job's output under the local runner
//! <out>/slurm/                array.sbatch, merge.sbatch, logs/, submissions.jsonl
//! <out>/merged/               fronts.*, candidates.*, jobs.csv, summary.md, report/
//! ```
//!
//! ```
//! let text = "name: demo\nout: sweeps/demo\nbase: {budget: 300}\n\
//!             matrix: {seed: [1, 2], engine: [nsga2, random]}\n";
//! let sweep = sculpt_sweep::parse_sweep(text, "demo.yaml".as_ref()).unwrap();
//! assert_eq!(sweep.jobs.len(), 4);
//! // The same jobs written in another order keep their ids.
//! let reordered = "name: demo\nout: sweeps/demo\nbase: {budget: 300}\n\
//!                  matrix: {engine: [random, nsga2], seed: [2, 1]}\n";
//! let other = sculpt_sweep::parse_sweep(reordered, "demo.yaml".as_ref()).unwrap();
//! assert_eq!(other.jobs[0].settings.engine, "random");
//! assert_eq!(other.find(&sweep.jobs[0].id).unwrap().settings, sweep.jobs[0].settings);
//! ```
#![deny(missing_docs)]

mod error;
mod local;
mod markers;
mod merge;
mod queue;
mod slurm;
mod spec;
mod status;
mod task;

pub use error::{Error, Result};
pub use local::{LocalConfig, LocalEvent, LocalSummary, run_local};
pub use markers::{
    ATTEMPT, Attempt, DONE, DoneMarker, FAILED, FailedMarker, read_done, read_failed,
};
pub use merge::{MergeSummary, merge};
pub use queue::{Queue, QueueEntry};
pub use slurm::{
    Scripts, Submission, SubmitConfig, SubmitOutcome, WaitProgress, array_spec, query_queue,
    submissions, submit, wait, write_scripts,
};
pub use spec::{
    Axis, ConstraintSettings, DEFAULT_BUDGET, DEFAULT_ENGINE, DEFAULT_HARDWARE, DEFAULT_MODEL,
    DEFAULT_SEED, DEFAULT_SPACE, JOB_ID_LEN, Job, JobSettings, SlurmOptions, Sweep, job_id,
    load_sweep, parse_sweep,
};
pub use status::{JobState, JobStatus, count_states, job_status};
pub use task::{TaskOutcome, run_task, select_job};
