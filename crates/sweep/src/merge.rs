//! `sculpt sweep merge`: every finished job into one table per kind and one comparison report,
//! with the failed and missing jobs listed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sculpt_report::{MergeInput, MergeValue, MergedTables};

use crate::error::{Error, Result};
use crate::markers::write_atomic;
use crate::queue::Queue;
use crate::spec::{Axis, Sweep};
use crate::status::{JobState, JobStatus, count_states, job_status};

/// What [`merge`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeSummary {
    /// `<out>/merged`.
    pub dir: PathBuf,
    /// Every job and its state at merge time; only `done` jobs are in the tables.
    pub statuses: Vec<JobStatus>,
    /// The merged tables, when at least one job is done.
    pub tables: Option<MergedTables>,
    /// `<out>/merged/report/index.html`, when the comparison report was written.
    pub report: Option<PathBuf>,
    /// What the merge had to leave out, one sentence each.
    pub notes: Vec<String>,
}

impl MergeSummary {
    /// The jobs not in the tables, with their state and detail.
    pub fn incomplete(&self) -> impl Iterator<Item = &JobStatus> {
        self.statuses.iter().filter(|s| s.state != JobState::Done)
    }
}

/// Merges the finished jobs of the sweep into `<out>/merged/`:
///
/// * `fronts.csv`/`.parquet` and `candidates.csv`/`.parquet`: every row of every finished job's
///   `front.csv` / `candidates.csv`, led by `job_id` and the job's `model`, `hardware`, `space`,
///   `engine`, `seed` and `budget` (see [`sculpt_report::merge_runs`]);
/// * `jobs.csv`: one row per job of the sweep — `job_id, index, state, model, hardware, space,
///   engine, seed, budget, detail, run_dir` — so failed, running and missing jobs are listed, not
///   dropped;
/// * `summary.md`: the counts, the jobs that are not done and why, and links to each job's report;
/// * `report/`: the comparison report of the finished jobs (`sculpt report compare`).
///
/// Everything is regenerated from the job folders each time, so merge can run at any time and
/// again.
pub fn merge(sweep: &Sweep, queue: &Queue) -> Result<MergeSummary> {
    let dir = sweep.merged_dir();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let statuses = job_status(sweep, queue);
    let mut notes = queue.notes.clone();
    let done: Vec<&JobStatus> = statuses.iter().filter(|s| s.state == JobState::Done).collect();

    let inputs: Vec<MergeInput> = done
        .iter()
        .map(|s| {
            let settings = &s.job.settings;
            MergeInput {
                job_id: s.job.id.clone(),
                values: Axis::ALL
                    .iter()
                    .map(|&axis| {
                        let value = match axis {
                            Axis::Seed => MergeValue::Int(settings.seed as i64),
                            Axis::Budget => MergeValue::Int(settings.budget as i64),
                            _ => MergeValue::Text(settings.axis_value(axis)),
                        };
                        (axis.name().to_string(), value)
                    })
                    .collect(),
                dir: sweep.job_dir(&s.job.id),
            }
        })
        .collect();
    let tables = if inputs.is_empty() {
        for stem in ["fronts", "candidates"] {
            for ext in ["csv", "parquet"] {
                let _ = std::fs::remove_file(dir.join(format!("{stem}.{ext}")));
            }
        }
        notes.push("no job has finished, so there are no merged tables".into());
        None
    } else {
        let tables = sculpt_report::merge_runs(&inputs, &dir)?;
        for missing in &tables.missing {
            notes.push(format!(
                "{} is missing; that job adds no rows to its table",
                missing.display()
            ));
        }
        Some(tables)
    };

    let report = write_comparison(sweep, &done, &dir, &mut notes);
    let jobs = dir.join("jobs.csv");
    write_atomic(&jobs, &jobs_csv(&statuses).map_err(|e| Error::io(&jobs, e))?)?;
    write_atomic(&dir.join("summary.md"), summary_md(sweep, &statuses, &notes).as_bytes())?;
    Ok(MergeSummary { dir, statuses, tables, report, notes })
}

/// The comparison report of the finished jobs, built beside `report/` and swapped in.
fn write_comparison(
    sweep: &Sweep,
    done: &[&JobStatus],
    dir: &Path,
    notes: &mut Vec<String>,
) -> Option<PathBuf> {
    let final_dir = dir.join("report");
    let mut runs = Vec::new();
    for s in done {
        match sculpt_run::read_run(&sweep.job_dir(&s.job.id)) {
            Ok(run) => runs.push(run),
            Err(e) => notes.push(format!("job {} is left out of the report: {e}", s.job.id)),
        }
    }
    if runs.is_empty() {
        let _ = std::fs::remove_dir_all(&final_dir);
        return None;
    }
    let tmp = dir.join(format!(".report.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    match sculpt_report::compare(&runs, &tmp) {
        Ok(files) => {
            notes.extend(files.notes);
            let _ = std::fs::remove_dir_all(&final_dir);
            match std::fs::rename(&tmp, &final_dir) {
                Ok(()) => Some(final_dir.join("index.html")),
                Err(e) => {
                    notes.push(format!("the report could not be moved into place: {e}"));
                    None
                }
            }
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            notes.push(format!("the comparison report could not be written: {e}"));
            None
        }
    }
}

/// Columns of `merged/jobs.csv`.
const JOB_COLUMNS: [&str; 11] = [
    "job_id", "index", "state", "model", "hardware", "space", "engine", "seed", "budget", "detail",
    "run_dir",
];

fn jobs_csv(statuses: &[JobStatus]) -> std::io::Result<Vec<u8>> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(JOB_COLUMNS)?;
    for s in statuses {
        let settings = &s.job.settings;
        let run_dir =
            if s.state == JobState::Done { format!("jobs/{}", s.job.id) } else { String::new() };
        let fields = [
            s.job.id.clone(),
            s.job.index.to_string(),
            s.state.name().to_string(),
            settings.model.clone(),
            settings.hardware.clone(),
            settings.space.clone(),
            settings.engine.clone(),
            settings.seed.to_string(),
            settings.budget.to_string(),
            s.detail.replace(['\n', '\r'], " "),
            run_dir,
        ];
        out.write_record(&fields)?;
    }
    out.into_inner().map_err(|e| e.into_error())
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn summary_md(sweep: &Sweep, statuses: &[JobStatus], notes: &[String]) -> String {
    let [done, running, failed, missing] = count_states(statuses);
    let mut md = String::new();
    let _ = writeln!(md, "# Sweep `{}`: {done} of {} jobs merged\n", sweep.name, statuses.len());
    let _ = writeln!(
        md,
        "{done} done, {running} running, {failed} failed, {missing} missing. Only done jobs are in \
         `fronts.csv` and `candidates.csv`; `jobs.csv` lists every job. The comparison of the done \
         jobs is in [report/index.html](report/index.html).\n"
    );
    let axes: Vec<Axis> =
        if sweep.axes.is_empty() { vec![Axis::Hardware] } else { sweep.axes.clone() };
    let describe = |s: &JobStatus| {
        axes.iter()
            .map(|a| format!("{}={}", a.name(), s.job.settings.axis_value(*a)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (state, title) in [
        (JobState::Failed, "Failed jobs"),
        (JobState::Missing, "Missing jobs"),
        (JobState::Running, "Running jobs"),
    ] {
        let of_state: Vec<&JobStatus> = statuses.iter().filter(|s| s.state == state).collect();
        if of_state.is_empty() {
            continue;
        }
        let _ = writeln!(md, "## {title}\n");
        for s in of_state {
            let detail =
                if s.detail.is_empty() { "never run".to_string() } else { md_cell(&s.detail) };
            let _ =
                writeln!(md, "- `{}` (index {}, {}): {detail}", s.job.id, s.job.index, describe(s));
        }
        md.push('\n');
    }
    if !notes.is_empty() {
        md.push_str("## Notes\n\n");
        for note in notes {
            let _ = writeln!(md, "- {}", md_cell(note));
        }
        md.push('\n');
    }
    md.push_str("## Jobs\n\n| job | index | state |");
    for a in &axes {
        let _ = write!(md, " {} |", a.name());
    }
    md.push_str(" report |\n|---|---|---|");
    for _ in &axes {
        md.push_str("---|");
    }
    md.push_str("---|\n");
    for s in statuses {
        let _ = write!(md, "| `{}` | {} | {} |", s.job.id, s.job.index, s.state);
        for a in &axes {
            let _ = write!(md, " {} |", md_cell(&s.job.settings.axis_value(*a)));
        }
        if s.state == JobState::Done {
            let _ = writeln!(md, " [report](../jobs/{}/report/index.html) |", s.job.id);
        } else {
            md.push_str(" – |\n");
        }
    }
    md
}
