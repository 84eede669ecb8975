//! End-to-end tests of `sculpt sweep` on this machine (local mode), and of the SLURM scripts it
//! writes with `--dry-run` (no SLURM needed). Submitting to a real SLURM is in tests/slurm.rs.

#[path = "common/sweep.rs"]
mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{
    ARM, PlannedJob, TINY_BASE, TPU, check_merged, ok, plan, read_csv, sculpt, slurm_sweep, states,
    write_sweep,
};

#[test]
fn plan_ids_are_content_derived_and_survive_reordering() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let a = write_sweep(
        dir.path(),
        "a",
        &format!(
            "name: a\nout: {out}\nbase: {{budget: 300, space: search-spaces/default.yaml}}\n\
             matrix:\n  hardware: [{TPU}, {ARM}]\n  engine: [nsga2, random]\n  seed: [1, 2, 3]\n",
            out = dir.path().join("a-out").display()
        ),
    );
    // The same sweep with the keys, the axes and every axis's values in another order.
    let b = write_sweep(
        dir.path(),
        "b",
        &format!(
            "matrix:\n  seed: [3, 1, 2]\n  hardware: [{ARM}, ./{TPU}]\n  engine: [random, nsga2]\n\
             base: {{space: search-spaces/default.yaml, budget: 300}}\nout: {out}\nname: b\n",
            out = dir.path().join("b-out").display()
        ),
    );
    let ja = plan(&a, &cache);
    let jb = plan(&b, &cache);
    // The job count is the product of the axis lengths, and the jobs are exactly the cartesian
    // product, enumerated here independently.
    assert_eq!(ja.len(), 2 * 2 * 3);
    let mut expected = BTreeSet::new();
    for hw in [TPU, ARM] {
        for engine in ["nsga2", "random"] {
            for seed in [1, 2, 3] {
                expected.insert((hw.to_string(), engine.to_string(), seed));
            }
        }
    }
    let triples = |jobs: &[PlannedJob]| -> BTreeSet<(String, String, u64)> {
        jobs.iter()
            .map(|j| {
                (
                    j.settings["hardware"].as_str().unwrap().to_string(),
                    j.settings["engine"].as_str().unwrap().to_string(),
                    j.settings["seed"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(triples(&ja), expected);
    assert_eq!(triples(&jb), expected);
    for (i, job) in ja.iter().enumerate() {
        assert_eq!(job.index, i);
        assert_eq!(job.id.len(), 12);
        assert!(job.id.chars().all(|c| c.is_ascii_hexdigit()), "{}", job.id);
    }
    // Ids: distinct, the same set for both files, and each id names the same settings in both.
    let ids_a: BTreeSet<&str> = ja.iter().map(|j| j.id.as_str()).collect();
    let ids_b: BTreeSet<&str> = jb.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids_a.len(), ja.len(), "ids are distinct");
    assert_eq!(ids_a, ids_b);
    let order_a: Vec<&str> = ja.iter().map(|j| j.id.as_str()).collect();
    let order_b: Vec<&str> = jb.iter().map(|j| j.id.as_str()).collect();
    assert_ne!(order_a, order_b, "the files list the jobs in different orders");
    for job in &ja {
        let twin = jb.iter().find(|j| j.id == job.id).unwrap();
        for key in ["hardware", "engine", "seed", "budget", "space", "model"] {
            assert_eq!(job.settings[key], twin.settings[key], "{key} of {}", job.id);
        }
    }
    // A different budget is a different search: every id changes.
    let c = write_sweep(
        dir.path(),
        "c",
        &std::fs::read_to_string(&a).unwrap().replace("budget: 300", "budget: 301"),
    );
    let ids_c: BTreeSet<String> = plan(&c, &cache).into_iter().map(|j| j.id).collect();
    assert!(ids_c.iter().all(|id| !ids_a.contains(id.as_str())));

    // The text format lists every id too.
    let text = ok(&["sweep", "plan", a.to_str().unwrap()], &cache);
    assert!(ja.iter().all(|j| text.contains(&j.id)), "{text}");
    assert!(text.contains("12 jobs"), "{text}");
}

#[test]
fn the_shipped_demo_sweep_plans_eight_jobs_on_shipped_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let jobs = plan(&root.join("sweeps/demo.yaml"), &dir.path().join("cache"));
    assert_eq!(jobs.len(), 2 * 2 * 2);
    for job in &jobs {
        for key in ["hardware", "space"] {
            let file = root.join(job.settings[key].as_str().unwrap());
            assert!(file.is_file(), "{} does not exist", file.display());
        }
        assert_eq!(job.settings["budget"], 300);
    }
}

fn mtime(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn local_run_status_merge_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    let file = write_sweep(
        dir.path(),
        "local",
        &format!(
            "name: local\nout: {}\nbase: {TINY_BASE}\nmatrix:\n  hardware: [{TPU}, {ARM}]\n  seed: [1, 2]\n",
            out.display()
        ),
    );
    let f = file.to_str().unwrap();
    let jobs = plan(&file, &cache);
    assert_eq!(jobs.len(), 4);

    ok(&["sweep", "run", f, "--local", "-j", "2"], &cache);
    let st = states(&file, &cache);
    assert_eq!(st.len(), 4);
    for job in &jobs {
        assert_eq!(st[&job.id].0, "done", "{}: {:?}", job.id, st[&job.id]);
        let dir = out.join("jobs").join(&job.id);
        for f in ["DONE", "run.yaml", "front.csv", "candidates.csv", "report/index.html"] {
            assert!(dir.join(f).is_file(), "{} has no {f}", dir.display());
        }
    }
    // No attempt folder is left behind.
    let leftovers: Vec<String> = std::fs::read_dir(out.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-") || n.ends_with(".failed"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Merge: every row carries its job id and matrix values and equals its job's own row.
    let merged = ok(&["sweep", "merge", f], &cache);
    assert!(merged.contains("4 of 4 jobs merged"), "{merged}");
    let all: Vec<&PlannedJob> = jobs.iter().collect();
    check_merged(&out, "fronts.csv", "front.csv", &all);
    check_merged(&out, "candidates.csv", "candidates.csv", &all);
    for f in ["fronts.parquet", "candidates.parquet", "summary.md", "report/index.html"] {
        let path = out.join("merged").join(f);
        assert!(std::fs::metadata(&path).is_ok_and(|m| m.len() > 0), "{} missing", path.display());
    }
    let (h, rows) = read_csv(&out.join("merged/jobs.csv"));
    let state = h.iter().position(|c| c == "state").unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r[state] == "done"), "{rows:?}");

    // Resume: delete one job's result; a second run reruns that job only.
    let victim = &jobs[2];
    let kept: Vec<&PlannedJob> = jobs.iter().filter(|j| j.id != victim.id).collect();
    let before: Vec<(String, std::time::SystemTime)> = kept
        .iter()
        .map(|j| {
            let done = out.join("jobs").join(&j.id).join("DONE");
            (std::fs::read_to_string(&done).unwrap(), mtime(&done))
        })
        .collect();
    let log_before = mtime(&out.join("logs").join(format!("{}.log", kept[0].id)));
    std::fs::remove_dir_all(out.join("jobs").join(&victim.id)).unwrap();
    assert_eq!(states(&file, &cache)[&victim.id].0, "missing");
    let o = sculpt(&["sweep", "run", f, "--local", "-j", "2"], &cache);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("1 run now, 3 already done, 0 failed"), "{stdout}");
    for (job, (text, time)) in kept.iter().zip(&before) {
        let done = out.join("jobs").join(&job.id).join("DONE");
        assert_eq!(&std::fs::read_to_string(&done).unwrap(), text, "{} was rerun", job.id);
        assert_eq!(mtime(&done), *time, "{} was rerun", job.id);
    }
    assert_eq!(mtime(&out.join("logs").join(format!("{}.log", kept[0].id))), log_before);
    assert!(out.join("jobs").join(&victim.id).join("DONE").is_file());
    assert!(states(&file, &cache).values().all(|(s, _)| s == "done"));

    // A task of a finished job does nothing.
    let o = ok(&["sweep", "task", f, "--index", &victim.index.to_string()], &cache);
    assert!(o.contains("already done"), "{o}");
}

#[test]
fn a_failing_job_is_reported_and_listed_by_merge_then_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    // The second device profile does not exist yet: its jobs fail.
    let late = dir.path().join("late-device.yaml");
    let file = write_sweep(
        dir.path(),
        "failing",
        &format!(
            "name: failing\nout: {}\nbase: {TINY_BASE}\nmatrix:\n  hardware: [{TPU}, {}]\n  seed: [1]\n",
            out.display(),
            late.display()
        ),
    );
    let f = file.to_str().unwrap();
    let jobs = plan(&file, &cache);
    let (good, bad) = (&jobs[0], &jobs[1]);
    assert_eq!(bad.settings["hardware"], late.to_str().unwrap());

    let o = sculpt(&["sweep", "run", f, "--local", "-j", "2"], &cache);
    assert!(!o.status.success(), "a sweep with a failed job must not exit 0");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains(&format!("failed: {}", bad.id)), "{stderr}");
    assert!(stderr.contains("late-device.yaml"), "{stderr}");

    let st = states(&file, &cache);
    assert_eq!(st[&good.id].0, "done");
    assert_eq!(st[&bad.id].0, "failed");
    assert!(st[&bad.id].1.contains("late-device.yaml"), "{:?}", st[&bad.id]);
    let failed_marker = out.join("jobs").join(format!("{}.failed", bad.id)).join("FAILED");
    assert!(std::fs::read_to_string(&failed_marker).unwrap().contains("late-device.yaml"));
    assert!(!out.join("jobs").join(&bad.id).exists(), "a failed job has no result folder");

    // Merge keeps the finished job and lists the failed one instead of dropping it.
    let o = sculpt(&["sweep", "merge", f], &cache);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stdout.contains("1 of 2 jobs merged"), "{stdout}");
    assert!(stderr.contains(&format!("failed {}", bad.id)), "{stderr}");
    check_merged(&out, "fronts.csv", "front.csv", &[good]);
    let (h, rows) = read_csv(&out.join("merged/jobs.csv"));
    let (id, state, detail) = (0, h.iter().position(|c| c == "state").unwrap(), h.len() - 2);
    let row = rows.iter().find(|r| r[id] == bad.id).expect("the failed job is in jobs.csv");
    assert_eq!(row[state], "failed");
    assert!(row[detail].contains("late-device.yaml"), "{row:?}");
    let summary = std::fs::read_to_string(out.join("merged/summary.md")).unwrap();
    let failed_section = summary.split("## Failed jobs").nth(1).expect("a Failed jobs section");
    assert!(failed_section.split("## ").next().unwrap().contains(&bad.id), "{summary}");

    // The profile appears; a rerun runs the failed job only and completes the sweep.
    let tpu = Path::new(env!("CARGO_MANIFEST_DIR")).join(TPU);
    std::fs::copy(tpu, &late).unwrap();
    let stdout = ok(&["sweep", "run", f, "--local"], &cache);
    assert!(stdout.contains("1 run now, 1 already done, 0 failed"), "{stdout}");
    assert!(states(&file, &cache).values().all(|(s, _)| s == "done"));
    assert!(!failed_marker.exists(), "the failure record goes once the job succeeds");
    ok(&["sweep", "merge", f], &cache);
    check_merged(&out, "fronts.csv", "front.csv", &[good, bad]);
}

/// `sweep plan` of a broken sweep file fails with `file:line` and the key in the message.
fn check_bad_sweep(text: &str, line: usize, key: &str, words: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = write_sweep(dir.path(), "bad", text);
    let o = sculpt(&["sweep", "plan", file.to_str().unwrap()], &dir.path().join("cache"));
    assert!(!o.status.success(), "{text}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains(&format!("{}:{line}", file.display())), "{stderr}");
    assert!(stderr.contains(key), "{stderr}");
    assert!(stderr.contains(words), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_sweep_files_are_refused_with_file_line_and_key() {
    check_bad_sweep("name: x\nout: o\nmatrix:\n  seeds: [1, 2]\n", 4, "matrix.seeds", "unknown");
    check_bad_sweep(
        "name: x\nout: o\nmatrix:\n  seed: [1]\n  engine: [nsga2, nsga3]\n",
        5,
        "matrix.engine",
        "nsga3",
    );
    check_bad_sweep("name: x\nout: o\nmatrix:\n  hardware: []\n", 4, "matrix.hardware", "value");
    check_bad_sweep("name: x\nout: o\nbase:\n  budget: 0\n", 4, "base.budget", "at least 1");
    check_bad_sweep(
        "name: x\nout: o\nslurm:\n  partition: debug\n  cpus: 2\n",
        5,
        "slurm.cpus",
        "unknown",
    );

    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let missing = dir.path().join("nowhere.yaml");
    let o = sculpt(&["sweep", "status", missing.to_str().unwrap()], &cache);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains(missing.to_str().unwrap()));
    // `run` and `submit` say which mode they need.
    let o = sculpt(&["sweep", "run", "sweeps/demo.yaml"], &cache);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--local"));
    let o = sculpt(&["sweep", "submit", "sweeps/demo.yaml"], &cache);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--slurm"));
    // An index the sweep does not have.
    let o = sculpt(&["sweep", "task", "sweeps/demo.yaml", "--index", "8"], &cache);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("there is no job 8"));
}

#[test]
fn dry_run_writes_the_array_and_merge_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let (file, cache, out) = slurm_sweep(dir.path(), "dry", ARM, "[1, 2, 3]", ", array_limit: 4");
    let f = file.to_str().unwrap();
    let jobs = plan(&file, &cache);
    let stdout = ok(&["sweep", "submit", f, "--slurm", "--dry-run"], &cache);
    let array = std::fs::read_to_string(out.join("slurm/array.sbatch")).unwrap();
    let merge = std::fs::read_to_string(out.join("slurm/merge.sbatch")).unwrap();
    let has = |script: &str, line: &str| script.lines().any(|l| l == line);
    assert!(has(&array, "#SBATCH --array=0-5%4"), "{array}");
    assert!(has(&array, "#SBATCH --partition=debug"), "{array}");
    assert!(has(&array, "#SBATCH --time=00:10:00"), "{array}");
    assert!(has(&array, "#SBATCH --cpus-per-task=1"), "{array}");
    assert!(has(&array, &format!("#SBATCH --chdir={}", env!("CARGO_MANIFEST_DIR"))), "{array}");
    // The tasks run this very binary and this sweep file, by absolute paths.
    let exe = Path::new(env!("CARGO_BIN_EXE_sculpt")).canonicalize().unwrap();
    assert!(array.contains(&format!("SCULPT=\"${{SCULPT:-{}}}\"", exe.display())), "{array}");
    assert!(array.contains(&format!("sweep task {f} --index \"$SLURM_ARRAY_TASK_ID\"")), "{array}");
    for job in &jobs {
        assert!(array.contains(&format!("    {}  # {}:", job.id, job.index)), "{array}");
    }
    assert!(has(&merge, "#SBATCH --kill-on-invalid-dep=yes"), "{merge}");
    assert!(merge.contains(&format!("sweep merge {f}")), "{merge}");
    assert!(!merge.contains("--array"), "{merge}");
    // The merge job's submission depends on the array with afterok and is killed, not left
    // pending, when a task fails.
    let merge_command = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("sbatch") && l.contains("merge.sbatch"))
        .unwrap_or_default();
    assert!(merge_command.contains("--dependency=afterok:"), "{stdout}");
    assert!(merge_command.contains("--kill-on-invalid-dep=yes"), "{stdout}");
    assert!(stdout.contains("6 of 6 jobs would be submitted"), "{stdout}");
    // Nothing was submitted.
    assert!(!out.join("slurm/submissions.jsonl").exists());
    assert!(!out.join("jobs").exists());
}
