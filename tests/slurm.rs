//! `sculpt sweep submit --slurm` against a real SLURM (scripts/slurm-up.sh brings up a
//! single-node one). Skipped with a note when SLURM is not reachable, unless
//! `SCULPT_REQUIRE_SLURM=1` (set in CI), which turns its absence into a failure.

#[path = "common/sweep.rs"]
mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::{ARM, PlannedJob, TPU, check_merged, ok, plan, sculpt, slurm_sweep, states};

/// Whether `sbatch` exists and the controller answers with a node that takes jobs; otherwise
/// why not.
fn slurm_ready() -> Result<(), String> {
    let sbatch = Command::new("sbatch").arg("--version").output();
    if !sbatch.is_ok_and(|o| o.status.success()) {
        return Err("`sbatch` is not on PATH".into());
    }
    let sinfo = Command::new("sinfo").args(["--noheader", "--format=%t"]).output();
    match sinfo {
        Ok(o) if o.status.success() => {
            let states = String::from_utf8_lossy(&o.stdout).into_owned();
            if states.lines().any(|s| matches!(s.trim(), "idle" | "mix" | "alloc")) {
                Ok(())
            } else {
                Err(format!("no SLURM node takes jobs (sinfo: {})", states.trim()))
            }
        }
        Ok(o) => Err(format!("sinfo failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
        Err(e) => Err(format!("sinfo cannot run: {e}")),
    }
}

/// True when the test should run; panics when SLURM is required but absent.
fn need_slurm(test: &str) -> bool {
    match slurm_ready() {
        Ok(()) => true,
        Err(why) if std::env::var("SCULPT_REQUIRE_SLURM").is_ok_and(|v| v == "1") => {
            panic!(
                "SCULPT_REQUIRE_SLURM=1 but SLURM is unavailable: {why} (run scripts/slurm-up.sh)"
            )
        }
        Err(why) => {
            // Straight to the terminal: the test harness would swallow `eprintln!` of a test
            // that passes, and a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "note: skipping {test}: {why}; scripts/slurm-up.sh starts a test cluster"
            );
            false
        }
    }
}

/// The `slurm_job` recorded in a finished job's DONE marker (`<array>_<task>`).
fn slurm_job_of(out: &Path, id: &str) -> Option<String> {
    let done = std::fs::read_to_string(out.join("jobs").join(id).join("DONE")).ok()?;
    done.lines().find_map(|l| l.trim().strip_prefix("slurm_job: ")).map(|s| s.trim().to_string())
}

fn submit_wait(file: &str, extra: &[&str], cache: &Path) -> std::process::Output {
    let mut args = vec!["sweep", "submit", file, "--slurm", "--wait", "--poll-s", "1"];
    args.extend_from_slice(&["--max-wait-s", "900"]);
    args.extend_from_slice(extra);
    sculpt(&args, cache)
}

#[test]
fn slurm_sweep_runs_as_an_array_and_the_merge_job_merges() {
    if !need_slurm("slurm_sweep_runs_as_an_array_and_the_merge_job_merges") {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (file, cache, out) = slurm_sweep(dir.path(), "array", ARM, "[1, 2, 3]", "");
    let f = file.to_str().unwrap();
    let jobs = plan(&file, &cache);
    assert_eq!(jobs.len(), 6);

    let o = submit_wait(f, &[], &cache);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("submitted 6 jobs as array job"), "{stdout}");
    let st = states(&file, &cache);
    for job in &jobs {
        assert_eq!(st[&job.id].0, "done", "{}: {:?}", job.id, st[&job.id]);
        // It ran as a task of the array, not here.
        let slurm_job = slurm_job_of(&out, &job.id).expect("DONE names its SLURM task");
        assert!(slurm_job.ends_with(&format!("_{}", job.index)), "{slurm_job}");
    }
    // The merge job (not this test) wrote the merged tables.
    let logs: Vec<String> = std::fs::read_dir(out.join("slurm/logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(logs.iter().any(|n| n.starts_with("merge-")), "{logs:?}");
    assert_eq!(logs.iter().filter(|n| !n.starts_with("merge-")).count(), 6, "{logs:?}");
    let all: Vec<&PlannedJob> = jobs.iter().collect();
    check_merged(&out, "fronts.csv", "front.csv", &all);
    check_merged(&out, "candidates.csv", "candidates.csv", &all);
    assert!(out.join("merged/fronts.parquet").is_file());
    assert!(out.join("merged/report/index.html").is_file());
    eprintln!("slurm array sweep: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn slurm_failed_task_is_reported_and_only_missing_completes_the_sweep() {
    if !need_slurm("slurm_failed_task_is_reported_and_only_missing_completes_the_sweep") {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    // The second device profile does not exist yet: its tasks fail.
    let late = dir.path().join("late-device.yaml");
    let (file, cache, out) =
        slurm_sweep(dir.path(), "failing", &late.display().to_string(), "[1, 2]", "");
    let f = file.to_str().unwrap();
    let jobs = plan(&file, &cache);
    let (good, bad): (Vec<&PlannedJob>, Vec<&PlannedJob>) =
        jobs.iter().partition(|j| j.settings["hardware"] == TPU);
    assert_eq!((good.len(), bad.len()), (2, 2));

    let o = submit_wait(f, &[], &cache);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a sweep with failed tasks must not exit 0");
    assert!(stderr.contains("--only-missing"), "{stderr}");
    let st = states(&file, &cache);
    for job in &good {
        assert_eq!(st[&job.id].0, "done", "{:?}", st[&job.id]);
    }
    for job in &bad {
        assert_eq!(st[&job.id].0, "failed", "{:?}", st[&job.id]);
        assert!(st[&job.id].1.contains("late-device.yaml"), "{:?}", st[&job.id]);
    }
    // The merge job was killed by its failed dependency, not left pending and not run.
    assert!(!out.join("merged").exists(), "the merge job should not have run");
    // A merge by hand lists the failed jobs.
    let o = sculpt(&["sweep", "merge", f], &cache);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let merge_err = String::from_utf8_lossy(&o.stderr);
    for job in &bad {
        assert!(merge_err.contains(&format!("failed {}", job.id)), "{merge_err}");
    }
    check_merged(&out, "fronts.csv", "front.csv", &good);

    // The profile appears; --only-missing resubmits the two failed jobs only.
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(TPU), &late).unwrap();
    let done_before: Vec<String> = good
        .iter()
        .map(|j| std::fs::read_to_string(out.join("jobs").join(&j.id).join("DONE")).unwrap())
        .collect();
    let o = submit_wait(f, &["--only-missing"], &cache);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("submitted 2 jobs as array job"), "{stdout}");
    assert!(states(&file, &cache).values().all(|(s, _)| s == "done"));
    for (job, before) in good.iter().zip(&done_before) {
        let now = std::fs::read_to_string(out.join("jobs").join(&job.id).join("DONE")).unwrap();
        assert_eq!(&now, before, "{} ran again", job.id);
    }
    // This time the merge job ran and merged all four.
    let all: Vec<&PlannedJob> = jobs.iter().collect();
    check_merged(&out, "fronts.csv", "front.csv", &all);
    let again = ok(&["sweep", "submit", f, "--slurm", "--only-missing"], &cache);
    assert!(again.contains("nothing to submit"), "{again}");
    eprintln!("slurm failing sweep: {:.1} s", started.elapsed().as_secs_f64());
}
