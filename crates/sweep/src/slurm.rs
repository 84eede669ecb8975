//! The SLURM backend: sbatch scripts, submission, the queue (squeue) and waiting.
//!
//! `sacct` needs slurmdbd, which many small clusters (and the test cluster) lack, so job states
//! come from `squeue --states=all`, which shows finished jobs for `MinJobAge` seconds, and from
//! the result markers, which last.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::markers::{now_rfc3339, write_atomic};
use crate::queue::{ACTIVE_STATES, Queue, QueueEntry};
use crate::spec::Sweep;
use crate::status::{JobState, job_status};

/// The sbatch scripts of a sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scripts {
    /// `<out>/slurm/array.sbatch`: one array task per job.
    pub array: PathBuf,
    /// `<out>/slurm/merge.sbatch`: `sculpt sweep merge`, run after the array.
    pub merge: PathBuf,
}

/// One `sculpt sweep submit`, as recorded in `<out>/slurm/submissions.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// The array's SLURM job id.
    pub array_job: String,
    /// The merge job's SLURM job id (absent when its submission failed).
    pub merge_job: Option<String>,
    /// The array indices submitted.
    pub indices: Vec<usize>,
    /// The job id of every array index at submission time (index → id).
    pub ids: Vec<String>,
    /// RFC 3339, UTC.
    pub submitted_at: String,
}

/// What `submit` should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitConfig {
    /// The sculpt executable the scripts run (unless the sweep's `slurm.sculpt` names another).
    pub sculpt: PathBuf,
    /// Submit only the failed and missing jobs.
    pub only_missing: bool,
    /// Write the scripts and show the commands without submitting.
    pub dry_run: bool,
}

/// What `submit` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Scripts written, nothing submitted; the commands that would have been run.
    DryRun {
        /// The scripts.
        scripts: Scripts,
        /// The array indices that would be submitted.
        indices: Vec<usize>,
        /// The sbatch command lines (the merge job's dependency shows `<array job id>`).
        commands: Vec<String>,
    },
    /// `--only-missing` found every job done or running.
    NothingToSubmit,
    /// Submitted.
    Submitted {
        /// The scripts.
        scripts: Scripts,
        /// The record of the submission.
        submission: Submission,
    },
}

/// Progress seen while waiting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WaitProgress {
    /// Array tasks and merge jobs not ended, by state.
    pub active: Vec<(String, usize)>,
    /// Seconds since waiting began.
    pub elapsed_s: u64,
}

fn submissions_file(sweep: &Sweep) -> PathBuf {
    sweep.slurm_dir().join("submissions.jsonl")
}

/// The submissions recorded for the sweep, oldest first.
pub fn submissions(sweep: &Sweep) -> Vec<Submission> {
    let Ok(text) = std::fs::read_to_string(submissions_file(sweep)) else { return Vec::new() };
    text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
}

fn record(sweep: &Sweep, submission: &Submission) -> Result<()> {
    let path = submissions_file(sweep);
    let line = serde_json::to_string(submission).unwrap_or_default();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    writeln!(file, "{line}").map_err(|e| Error::io(&path, e))
}

/// `0-2,5,7-8`: SLURM's array syntax for sorted indices.
pub fn array_spec(indices: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        let mut end = start;
        while i + 1 < indices.len() && indices[i + 1] == end + 1 {
            i += 1;
            end = indices[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
        i += 1;
    }
    out
}

/// Quotes a word for bash.
fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%,".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    Ok(cwd.join(path))
}

/// The `#SBATCH` lines both scripts share.
fn common_directives(sweep: &Sweep, time: Option<&String>, workdir: &Path) -> String {
    let s = &sweep.slurm;
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str("#SBATCH ");
        out.push_str(&text);
        out.push('\n');
    };
    if let Some(p) = &s.partition {
        line(format!("--partition={p}"));
    }
    if let Some(t) = time {
        line(format!("--time={t}"));
    }
    if let Some(a) = &s.account {
        line(format!("--account={a}"));
    }
    if let Some(q) = &s.qos {
        line(format!("--qos={q}"));
    }
    if let Some(m) = &s.mem {
        line(format!("--mem={m}"));
    }
    line(format!("--chdir={}", workdir.display()));
    out
}

fn extra_directives(sweep: &Sweep) -> String {
    let mut out = String::new();
    for extra in &sweep.slurm.extra {
        let extra = extra.trim();
        let extra = extra.strip_prefix("#SBATCH").map(str::trim).unwrap_or(extra);
        let _ = writeln!(out, "#SBATCH {extra}");
    }
    out
}

fn setup_lines(sweep: &Sweep) -> String {
    let mut out = String::from("set -e\n");
    for line in &sweep.slurm.setup {
        let _ = writeln!(out, "{line}");
    }
    out.push_str("set -uo pipefail\n");
    out
}

/// Writes `<out>/slurm/array.sbatch` and `merge.sbatch` (and creates `<out>/slurm/logs/`).
///
/// The array script covers every job (`--array=0-(n-1)%array_limit`); `submit --only-missing`
/// narrows it on the sbatch command line. Paths in the scripts are absolute: the working
/// directory (`--chdir`) is the current one, against which the sweep file's relative paths are
/// resolved, as they are here.
pub fn write_scripts(sweep: &Sweep, sculpt: &Path) -> Result<Scripts> {
    let dir = sweep.slurm_dir();
    let logs = absolute(&dir.join("logs"))?;
    std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    let workdir = absolute(Path::new("."))?;
    let workdir = workdir.canonicalize().unwrap_or(workdir);
    let file = absolute(&sweep.file)?;
    let sculpt = sweep.slurm.sculpt.clone().unwrap_or_else(|| sculpt.display().to_string());
    let n = sweep.jobs.len();
    let limit = sweep.slurm.array_limit.map(|l| format!("%{l}")).unwrap_or_default();
    let axes_of = |job: &crate::spec::Job| {
        let axes: Vec<String> = sweep
            .axes
            .iter()
            .map(|a| format!("{}={}", a.name(), job.settings.axis_value(*a)))
            .collect();
        axes.join(" ")
    };

    let mut array = String::new();
    let _ = write!(
        array,
        "#!/bin/bash\n\
         # sculpt sweep `{name}` ({file}): one array task per job. Written by `sculpt sweep submit`,\n\
         # which rewrites it on every submission; adapt the sweep file's `slurm:` options rather than\n\
         # this file, or copy it and submit the copy yourself with `sbatch`.\n\
         # Array index i runs job i of the sweep file; `ids` holds the id of every index at writing\n\
         # time, so a task still runs its own job if the file is reordered before it starts.\n\
         #SBATCH --job-name=sculpt-{name}\n\
         #SBATCH --array=0-{last}{limit}\n",
        name = sweep.name,
        file = file.display(),
        last = n.saturating_sub(1),
    );
    array.push_str(&common_directives(sweep, sweep.slurm.time.as_ref(), &workdir));
    if let Some(c) = sweep.slurm.cpus_per_task {
        let _ = writeln!(array, "#SBATCH --cpus-per-task={c}");
    }
    let _ = writeln!(array, "#SBATCH --output={}/%A_%a.out", logs.display());
    array.push_str(&extra_directives(sweep));
    array.push_str(&setup_lines(sweep));
    array.push_str("ids=(\n");
    for job in &sweep.jobs {
        let _ = writeln!(array, "    {}  # {}: {}", job.id, job.index, axes_of(job));
    }
    array.push_str(")\n");
    // The search's threads follow the CPUs SLURM gave the task.
    array.push_str("export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
    let _ = writeln!(array, "SCULPT=\"${{SCULPT:-{}}}\"", sculpt.replace('"', "\\\""));
    let _ = writeln!(
        array,
        "exec \"$SCULPT\" sweep task {} --index \"$SLURM_ARRAY_TASK_ID\" --id \"${{ids[$SLURM_ARRAY_TASK_ID]}}\"",
        shell_quote(&file.display().to_string())
    );

    let mut merge = String::new();
    let _ = write!(
        merge,
        "#!/bin/bash\n\
         # sculpt sweep `{name}` ({file}): merges the results once every array task succeeded\n\
         # (submitted with --dependency=afterok:<array job> --kill-on-invalid-dep=yes). Written by\n\
         # `sculpt sweep submit`; `sculpt sweep merge` does the same by hand at any time.\n\
         #SBATCH --job-name=sculpt-{name}-merge\n",
        name = sweep.name,
        file = file.display(),
    );
    let merge_time = sweep.slurm.merge_time.as_ref().or(sweep.slurm.time.as_ref());
    merge.push_str(&common_directives(sweep, merge_time, &workdir));
    merge.push_str("#SBATCH --cpus-per-task=1\n");
    // The dependency names the array's job id, known only after submission, so it is given on the
    // sbatch command line; this line keeps a hand-made `--dependency` from waiting forever too.
    merge.push_str("#SBATCH --kill-on-invalid-dep=yes\n");
    let _ = writeln!(merge, "#SBATCH --output={}/merge-%j.out", logs.display());
    merge.push_str(&extra_directives(sweep));
    merge.push_str(&setup_lines(sweep));
    let _ = writeln!(merge, "SCULPT=\"${{SCULPT:-{}}}\"", sculpt.replace('"', "\\\""));
    let _ = writeln!(
        merge,
        "exec \"$SCULPT\" sweep merge {}",
        shell_quote(&file.display().to_string())
    );

    let scripts = Scripts { array: dir.join("array.sbatch"), merge: dir.join("merge.sbatch") };
    write_atomic(&scripts.array, array.as_bytes())?;
    write_atomic(&scripts.merge, merge.as_bytes())?;
    Ok(scripts)
}

/// Runs a command and returns its standard output, or an [`Error::Slurm`] with its message.
fn run(program: &str, args: &[String]) -> Result<String> {
    let command_line = std::iter::once(program.to_string())
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new(program).args(args).output().map_err(|e| Error::Slurm {
        command: command_line.clone(),
        msg: if e.kind() == std::io::ErrorKind::NotFound {
            format!("`{program}` is not installed or not on PATH")
        } else {
            e.to_string()
        },
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(Error::Slurm {
            command: command_line,
            msg: format!("{} ({})", stderr, output.status),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The job id from `sbatch --parsable` (`123` or `123;cluster`).
fn parsable_id(stdout: &str) -> Option<String> {
    let id = stdout.trim().split(';').next()?.trim();
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then(|| id.to_string())
}

/// Writes the scripts and submits the array job and the merge job.
///
/// Without `only_missing` every job is submitted (tasks of finished jobs end at once). With it,
/// only failed and missing jobs (see [`job_status`]; running ones are left alone) are, as
/// `--array=<indices>%<limit>` on the sbatch command line. The merge job depends on the array
/// with `afterok` and `--kill-on-invalid-dep=yes`, so it runs only when every submitted task
/// succeeded and is cancelled, not left pending forever, when one fails. Each submission is
/// appended to `<out>/slurm/submissions.jsonl`, which `status` reads.
pub fn submit(sweep: &Sweep, config: &SubmitConfig) -> Result<SubmitOutcome> {
    let indices: Vec<usize> = if config.only_missing {
        let queue = query_queue(sweep);
        job_status(sweep, &queue)
            .into_iter()
            .filter(|s| matches!(s.state, JobState::Failed | JobState::Missing))
            .map(|s| s.job.index)
            .collect()
    } else {
        (0..sweep.jobs.len()).collect()
    };
    if indices.is_empty() {
        return Ok(SubmitOutcome::NothingToSubmit);
    }
    let scripts = write_scripts(sweep, &config.sculpt)?;
    let mut array_args = vec!["--parsable".to_string()];
    if config.only_missing {
        let limit = sweep.slurm.array_limit.map(|l| format!("%{l}")).unwrap_or_default();
        array_args.push(format!("--array={}{limit}", array_spec(&indices)));
    }
    array_args.push(absolute(&scripts.array)?.display().to_string());
    let merge_args = |array_job: &str| {
        vec![
            "--parsable".to_string(),
            format!("--dependency=afterok:{array_job}"),
            "--kill-on-invalid-dep=yes".to_string(),
            absolute(&scripts.merge).map(|p| p.display().to_string()).unwrap_or_default(),
        ]
    };
    if config.dry_run {
        let show = |args: &[String]| {
            std::iter::once("sbatch".to_string())
                .chain(args.iter().map(|a| shell_quote(a)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let commands = vec![show(&array_args), show(&merge_args("<array job id>"))];
        return Ok(SubmitOutcome::DryRun { scripts, indices, commands });
    }
    let stdout = run("sbatch", &array_args)?;
    let array_job = parsable_id(&stdout).ok_or_else(|| Error::Slurm {
        command: "sbatch --parsable".into(),
        msg: format!("unexpected output `{}`", stdout.trim()),
    })?;
    let merge_result = run("sbatch", &merge_args(&array_job)).and_then(|out| {
        parsable_id(&out).ok_or_else(|| Error::Slurm {
            command: "sbatch --parsable".into(),
            msg: format!("unexpected output `{}`", out.trim()),
        })
    });
    let submission = Submission {
        array_job,
        merge_job: merge_result.as_ref().ok().cloned(),
        indices,
        ids: sweep.jobs.iter().map(|j| j.id.clone()).collect(),
        submitted_at: now_rfc3339(),
    };
    record(sweep, &submission)?;
    merge_result?;
    Ok(SubmitOutcome::Submitted { scripts, submission })
}

/// One line of `squeue -o %i|%T|%r`: (job, array index, state, reason).
type SqueueLine = (String, Option<usize>, String, String);

/// Parses one line of `squeue -o %i|%T|%r`.
fn parse_squeue_line(line: &str) -> Option<SqueueLine> {
    let mut parts = line.trim().splitn(3, '|');
    let id = parts.next()?.trim();
    let state = parts.next()?.trim().to_string();
    let reason = parts.next().unwrap_or("").trim().to_string();
    match id.split_once('_') {
        Some((job, task)) => Some((job.to_string(), task.parse().ok(), state, reason)),
        None => Some((id.to_string(), None, state, reason)),
    }
}

/// `squeue` lines for these SLURM job ids, finished ones included; an empty list when the queue
/// has forgotten them all.
fn squeue(job_ids: &[String]) -> Result<Vec<SqueueLine>> {
    if job_ids.is_empty() {
        return Ok(Vec::new());
    }
    let args = vec![
        "--noheader".to_string(),
        "--array".to_string(),
        "--states=all".to_string(),
        format!("--jobs={}", job_ids.join(",")),
        "--format=%i|%T|%r".to_string(),
    ];
    match run("squeue", &args) {
        Ok(out) => Ok(out.lines().filter_map(parse_squeue_line).collect()),
        // squeue refuses a list of which it knows no job.
        Err(Error::Slurm { msg, .. }) if msg.contains("Invalid job id") => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// What `squeue` knows about the sweep's submitted array tasks.
pub fn query_queue(sweep: &Sweep) -> Queue {
    let submissions = submissions(sweep);
    if submissions.is_empty() {
        return Queue::default();
    }
    let arrays: Vec<String> = submissions.iter().map(|s| s.array_job.clone()).collect();
    let lines = match squeue(&arrays) {
        Ok(lines) => lines,
        Err(e) => return Queue { entries: HashMap::new(), notes: vec![e.to_string()] },
    };
    let rank: HashMap<&str, usize> =
        submissions.iter().enumerate().map(|(i, s)| (s.array_job.as_str(), i)).collect();
    let mut best: HashMap<String, (usize, QueueEntry)> = HashMap::new();
    for (job, task, state, reason) in lines {
        let (Some(&r), Some(task)) = (rank.get(job.as_str()), task) else { continue };
        let Some(id) = submissions[r].ids.get(task) else { continue };
        let entry = QueueEntry { slurm_id: format!("{job}_{task}"), state, reason };
        match best.get(id) {
            Some((older, _)) if *older > r => {}
            _ => {
                best.insert(id.clone(), (r, entry));
            }
        }
    }
    Queue { entries: best.into_iter().map(|(id, (_, e))| (id, e)).collect(), notes: Vec::new() }
}

/// Polls `squeue` every `poll` until no task of the submission's array and not its merge job
/// is pending or running. Fails after `max_wait`, or when squeue fails five times in a row.
pub fn wait(
    submission: &Submission,
    poll: Duration,
    max_wait: Option<Duration>,
    on_poll: &mut dyn FnMut(&WaitProgress),
) -> Result<()> {
    let started = Instant::now();
    let mut ids = vec![submission.array_job.clone()];
    ids.extend(submission.merge_job.clone());
    let mut failures = 0;
    loop {
        match squeue(&ids) {
            Ok(lines) => {
                failures = 0;
                let mut active: Vec<(String, usize)> = Vec::new();
                for (_, _, state, _) in &lines {
                    if ACTIVE_STATES.contains(&state.as_str()) {
                        match active.iter_mut().find(|(s, _)| s == state) {
                            Some((_, n)) => *n += 1,
                            None => active.push((state.clone(), 1)),
                        }
                    }
                }
                let progress =
                    WaitProgress { active: active.clone(), elapsed_s: started.elapsed().as_secs() };
                on_poll(&progress);
                if active.is_empty() {
                    return Ok(());
                }
            }
            Err(e) => {
                failures += 1;
                if failures >= 5 {
                    return Err(e);
                }
            }
        }
        if let Some(max) = max_wait
            && started.elapsed() > max
        {
            return Err(Error::Slurm {
                command: "squeue".into(),
                msg: format!(
                    "jobs {} still not finished after {} s",
                    ids.join(", "),
                    max.as_secs()
                ),
            });
        }
        std::thread::sleep(poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_sweep;

    #[test]
    fn array_specs() {
        let check = |indices: &[usize], expected: &str| assert_eq!(array_spec(indices), expected);
        check(&[0], "0");
        check(&[0, 1, 2, 3], "0-3");
        check(&[0, 1, 2, 5, 7, 8], "0-2,5,7-8");
        check(&[4, 9], "4,9");
    }

    #[test]
    fn squeue_lines_and_sbatch_output() {
        assert_eq!(
            parse_squeue_line("12_3|PENDING|Resources"),
            Some(("12".into(), Some(3), "PENDING".into(), "Resources".into()))
        );
        assert_eq!(
            parse_squeue_line("13|CANCELLED|DependencyNeverSatisfied"),
            Some(("13".into(), None, "CANCELLED".into(), "DependencyNeverSatisfied".into()))
        );
        assert_eq!(parsable_id("42\n"), Some("42".into()));
        assert_eq!(parsable_id("42;cluster1\n"), Some("42".into()));
        assert_eq!(parsable_id("Submitted batch job 42"), None);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/a/b.yaml"), "/a/b.yaml");
        assert_eq!(shell_quote("/a b/c'd"), r"'/a b/c'\''d'");
    }

    #[test]
    fn scripts_carry_the_options_and_one_id_per_index() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "name: demo\nout: {}\nmatrix:\n  seed: [1, 2, 3]\nslurm:\n  partition: debug\n  time: \"00:10:00\"\n  cpus_per_task: 2\n  mem: 2G\n  array_limit: 2\n  extra: [\"--gres=gpu:1\", \"#SBATCH --exclusive\"]\n  setup: [\"module load x\"]\n  merge_time: \"00:05:00\"\n",
            dir.path().display()
        );
        let file = dir.path().join("s.yaml");
        std::fs::write(&file, &text).unwrap();
        let sweep = crate::spec::load_sweep(&file).unwrap();
        let scripts = write_scripts(&sweep, Path::new("/opt/sculpt")).unwrap();
        let array = std::fs::read_to_string(&scripts.array).unwrap();
        for line in [
            "#SBATCH --job-name=sculpt-demo",
            "#SBATCH --array=0-2%2",
            "#SBATCH --partition=debug",
            "#SBATCH --time=00:10:00",
            "#SBATCH --cpus-per-task=2",
            "#SBATCH --mem=2G",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --exclusive",
            "module load x",
            "SCULPT=\"${SCULPT:-/opt/sculpt}\"",
        ] {
            assert!(array.lines().any(|l| l == line), "`{line}` missing from\n{array}");
        }
        for job in &sweep.jobs {
            assert!(array.contains(&format!("    {}  # {}: seed=", job.id, job.index)));
        }
        assert!(array.contains(&format!(
            "sweep task {} --index \"$SLURM_ARRAY_TASK_ID\" --id \"${{ids[$SLURM_ARRAY_TASK_ID]}}\"",
            file.display()
        )));
        let logs = dir.path().join("slurm/logs");
        assert!(logs.is_dir());
        assert!(array.contains(&format!("#SBATCH --output={}/%A_%a.out", logs.display())));
        let merge = std::fs::read_to_string(&scripts.merge).unwrap();
        assert!(merge.lines().any(|l| l == "#SBATCH --time=00:05:00"));
        assert!(merge.lines().any(|l| l == "#SBATCH --cpus-per-task=1"));
        assert!(merge.lines().any(|l| l == "#SBATCH --kill-on-invalid-dep=yes"));
        assert!(!merge.contains("--array"));
        assert!(merge.contains(&format!("sweep merge {}", file.display())));

        // The array script is valid bash and maps each index to its id.
        let probe = array.replace("exec \"$SCULPT\"", "echo").replace("module load x", ":");
        for job in &sweep.jobs {
            let out = Command::new("bash")
                .arg("-c")
                .arg(&probe)
                .env("SLURM_ARRAY_TASK_ID", job.index.to_string())
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let printed = String::from_utf8_lossy(&out.stdout);
            assert!(printed.trim_end().ends_with(&format!("--id {}", job.id)), "{printed}");
        }
    }

    #[test]
    fn dry_run_writes_scripts_and_submits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("name: d\nout: {}\nmatrix:\n  seed: [1, 2]\n", dir.path().display());
        let sweep = parse_sweep(&text, &dir.path().join("s.yaml")).unwrap();
        let outcome = submit(
            &sweep,
            &SubmitConfig { sculpt: "/bin/sculpt".into(), only_missing: false, dry_run: true },
        )
        .unwrap();
        let SubmitOutcome::DryRun { scripts, indices, commands } = outcome else {
            panic!("expected a dry run")
        };
        assert!(scripts.array.is_file() && scripts.merge.is_file());
        assert_eq!(indices, vec![0, 1]);
        assert_eq!(commands[0], format!("sbatch --parsable {}", scripts.array.display()));
        assert_eq!(
            commands[1],
            format!(
                "sbatch --parsable '--dependency=afterok:<array job id>' --kill-on-invalid-dep=yes {}",
                scripts.merge.display()
            )
        );
        assert!(submissions(&sweep).is_empty());
    }
}
