//! Comparing runs: shared objectives, hypervolume against a shared reference, best plan under
//! shared constraints, the robust plan, and the files.

mod common;

use common::{assert_self_contained, fixture, html_table_values, out_dir, png_info};
use sculpt_report::{Error, compare, comparison};
use sculpt_run::{Baseline, Constraint, PlanRow, Quantity, Run, RunMeta, Table, read_run};

fn runs(names: &[&str]) -> Vec<Run> {
    names.iter().map(|n| read_run(&fixture(n)).unwrap()).collect()
}

#[test]
fn two_devices_with_different_objective_sets() {
    let runs = runs(&["tpu-2obj", "arm-3obj"]);
    let cmp = comparison(&runs).unwrap();
    assert_eq!(cmp.labels, vec!["tpu-like", "arm-a76"]);
    assert_eq!(cmp.shared_objectives, vec![Quantity::AccuracyLoss, Quantity::Latency]);
    assert!(
        cmp.notes[0].starts_with("The runs minimised different objectives (tpu-like: accuracy_loss, latency_s; arm-a76: accuracy_loss, latency_s, size_bytes); they are compared on the objectives they share: accuracy_loss, latency_s"),
        "{:?}",
        cmp.notes
    );
    // max_latency_s is 0.7 ms on one and 0.25 ms on the other: the strictest applies to both;
    // max_size_bytes is set on one run only and is not applied.
    assert_eq!(cmp.shared_constraints, vec![Constraint::MaxLatency(0.00025)]);
    assert!(cmp.notes.iter().any(|n| n.starts_with("`max_latency_s` differs between the runs")));
    assert!(cmp.notes.iter().any(|n| n == "`max_size_bytes` is set in only some of the runs, so it is not applied to the comparison"));
    // Best under ≤ 0.25 ms: nothing on the TPU front is that fast (its fastest is 0.4338 ms);
    // on the A76 plan 10 (0.2067 ms) is the most accurate.
    assert!(cmp.best[0].is_none());
    assert_eq!(cmp.best[1].as_ref().unwrap().plan_id, 10);

    // Hypervolume by hand. Feasible front points (accuracy loss, latency s):
    //   TPU: (0.008, 6.46056e-4) (0.0128, 6.36446e-4) (0.0178, 6.2939e-4) (0.0208, 5.35912e-4)
    //        (0.0228, 5.28856e-4) (0.0322, 4.38216e-4) (0.0382, 4.33816e-4)
    //   A76: (0.008, 2.06672e-4) (0.0192, 2.06507e-4) (0.0208, 1.72081e-4) (0.0228, 1.69258e-4)
    //        (0.0322, 1.4554e-4) (0.0382, 1.4444e-4)
    // Shared ideal (0.008, 1.4444e-4), nadir (0.0382, 6.46056e-4); reference 1.1 after scaling.
    assert_eq!(cmp.ideal, vec![0.008, 0.00014444]);
    assert_eq!(cmp.nadir, vec![0.0382, 0.000646056]);
    // Scaled A76 points: (0, 0.124063) (0.370861, 0.123734) (0.423841, 0.055104)
    // (0.490066, 0.049476) (0.801325, 0.002193) (1, 0). Summing vertical strips to x = 1.1:
    //   0.370861·(1.1−0.124063) + 0.052980·(1.1−0.123734) + 0.066225·(1.1−0.055104)
    //   + 0.311259·(1.1−0.049476) + 0.198675·(1.1−0.002193) + 0.1·(1.1−0) = 1.137950,
    // over the box 1.1² = 1.21: 0.940454.
    assert!((cmp.hypervolume[1].unwrap() - 0.940454).abs() < 2e-6, "{:?}", cmp.hypervolume);
    // Scaled TPU points: (0, 1) (0.158940, 0.980842) (0.324503, 0.966775) (0.423841, 0.780422)
    // (0.490066, 0.766355) (0.801325, 0.585659) (1, 0.576887). Strips:
    //   0.158940·0.1 + 0.165563·0.119158 + 0.099338·0.133225 + 0.066225·0.319578
    //   + 0.311259·0.333645 + 0.198675·0.514341 + 0.1·0.523113 = 0.328368; / 1.21 = 0.271379.
    assert!((cmp.hypervolume[0].unwrap() - 0.271379).abs() < 2e-6, "{:?}", cmp.hypervolume);

    // Both runs share model and space, so they form one robust-plan group. Plans 10, 0, 38, 37
    // and 26 have the same genomes on both devices and are on both fronts (rank 0 in both);
    // the tie goes to the lowest summed accuracy loss: genome 0-3-5-1 (plan 10 on both).
    assert_eq!(cmp.robust.len(), 1);
    let group = &cmp.robust[0];
    assert_eq!(group.runs, vec![0, 1]);
    assert_eq!(group.genome.as_deref(), Some("0-3-5-1"));
    assert_eq!(group.plan_ids, vec![10, 10]);
    assert_eq!(group.normalised_ranks, vec![0.0, 0.0]);
}

#[test]
fn compare_writes_a_valid_report() {
    let runs = runs(&["tpu-2obj", "arm-3obj", "npu-infeasible"]);
    let out = out_dir("compare-three");
    let files = compare(&runs, &out).unwrap();
    let html = std::fs::read_to_string(&files.index_html).unwrap();
    assert_self_contained(&html);
    // The NPU run minimised energy instead of latency: only accuracy is shared, so no overlay.
    assert!(html.contains("they are compared on the objectives they share: accuracy_loss"));
    assert!(html.contains("The runs share fewer than two objectives"));
    assert!(files.charts.is_empty());
    // Hypervolume table: one row per run with the exact value; the NPU run has none.
    let rows = html_table_values(&html, "hypervolume");
    assert!(rows.is_empty(), "rows are keyed by run, not plan");
    let table = common::between(&html, "<table id=\"hypervolume\">", "</table>").unwrap();
    assert_eq!(table.matches("<tr data-run=").count(), 3);
    let md = std::fs::read_to_string(&files.report_md).unwrap();
    assert!(md.contains("## Hypervolume"));

    // Two runs with shared axes: one overlay chart that decodes and is not blank.
    let out = out_dir("compare-two");
    let files = compare(&runs[..2], &out).unwrap();
    assert_eq!(files.charts.len(), 2);
    let (w, h, colours) = png_info(&out.join("compare-accuracy_loss-vs-latency_s.png"));
    assert_eq!((w, h), (960, 600));
    assert!(colours > 40, "{colours} colours");
    let html = std::fs::read_to_string(&files.index_html).unwrap();
    assert_self_contained(&html);
    // The hypervolume cells carry the exact values computed above.
    let table = common::between(&html, "<table id=\"hypervolume\">", "</table>").unwrap();
    let values: Vec<f64> = table
        .split("data-column=\"hypervolume\" data-value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(values.len(), 2);
    assert!(
        (values[0] - 0.271379).abs() < 2e-6 && (values[1] - 0.940454).abs() < 2e-6,
        "{values:?}"
    );
}

#[test]
fn no_runs_is_an_error() {
    assert!(matches!(comparison(&[]).unwrap_err(), Error::NoRuns));
    assert!(matches!(compare(&[], &out_dir("compare-none")).unwrap_err(), Error::NoRuns));
}

fn synthetic_plan(id: u64, genome: &str, loss: f64, latency: f64, feasible: bool) -> PlanRow {
    PlanRow {
        plan_id: id,
        accuracy_loss: loss,
        accuracy_loss_measured: None,
        accuracy_loss_recovered: None,
        latency_s: latency,
        latency_s_measured: None,
        energy_j: 1e-6,
        size_bytes: 1e5,
        feasible,
        violation: 0.0,
        violated: Vec::new(),
        on_front: false,
        accuracy_source: sculpt_run::AccuracySource::Proxy,
        latency_source: sculpt_run::LatencySource::Modelled,
        genome: genome.into(),
        plan_file: None,
    }
}

fn synthetic_run(device: &str, plans: Vec<PlanRow>, objectives: Vec<Quantity>) -> Run {
    let meta = RunMeta {
        format_version: 1,
        model: Some(sculpt_run::Source {
            name: Some("m".into()),
            sha256: Some("aa".into()),
            ..Default::default()
        }),
        space: Some(sculpt_run::Source {
            name: Some("s".into()),
            sha256: Some("bb".into()),
            ..Default::default()
        }),
        hardware: Some(sculpt_run::Source { name: Some(device.into()), ..Default::default() }),
        objectives,
        baseline: Baseline {
            metric_value: Some(0.9),
            latency_s: Some(1.0),
            energy_j: Some(1.0),
            size_bytes: Some(1e6),
        },
        ..Default::default()
    };
    Run {
        dir: device.into(),
        meta,
        front: Table::Loaded(Vec::new()),
        candidates: Table::Loaded(plans),
        costs: Table::Unavailable("x".into()),
        convergence: Table::Unavailable("x".into()),
        sensitivity: Table::Unavailable("x".into()),
        layers: Table::Unavailable("x".into()),
        notes: Vec::new(),
    }
}

#[test]
fn robust_plan_minimises_the_worst_rank() {
    let objectives = vec![Quantity::AccuracyLoss, Quantity::Latency];
    // Device A: levels by hand — a, b on the front (level 1); c dominated by b (level 2);
    // d dominated by c (level 3). Normalised ranks: a 0, b 0, c 0.5, d 1.
    let a = vec![
        synthetic_plan(0, "a", 0.01, 4.0, true),
        synthetic_plan(1, "b", 0.02, 2.0, true),
        synthetic_plan(2, "c", 0.03, 3.0, true),
        synthetic_plan(3, "d", 0.04, 3.5, true),
    ];
    // Device B: c and d on the front (level 1); b dominated by c (level 2); a dominated by b
    // (level 3). Normalised ranks: a 1, b 0.5, c 0, d 0.
    let b = vec![
        synthetic_plan(0, "a", 0.025, 9.0, true),
        synthetic_plan(1, "b", 0.02, 5.0, true),
        synthetic_plan(2, "c", 0.015, 4.0, true),
        synthetic_plan(3, "d", 0.005, 8.0, true),
    ];
    // Worst ranks: a 1, b 0.5, c 0.5, d 1. b and c tie on the worst (0.5) and the mean (0.25);
    // summed loss: b 0.04, c 0.045 → b.
    let runs =
        vec![synthetic_run("A", a, objectives.clone()), synthetic_run("B", b, objectives.clone())];
    let cmp = comparison(&runs).unwrap();
    let group = &cmp.robust[0];
    assert_eq!(group.genome.as_deref(), Some("b"));
    assert_eq!(group.normalised_ranks, vec![0.0, 0.5]);
    assert_eq!(group.worst_rank, 0.5);
    assert_eq!(group.n_common, 4);

    // A plan infeasible on one device is not eligible: with b infeasible on A, c wins.
    let mut a2 = runs[0].clone();
    if let Table::Loaded(rows) = &mut a2.candidates {
        rows[1].feasible = false;
    }
    // Without b on A: a and c on the front, d (dominated by c) in level 2, so c has rank 0 on
    // both devices; b is no longer eligible.
    let cmp = comparison(&[a2, runs[1].clone()]).unwrap();
    assert_eq!(cmp.robust[0].genome.as_deref(), Some("c"));
    assert_eq!(cmp.robust[0].worst_rank, 0.0);
    assert_eq!(cmp.robust[0].n_common, 3);
}

fn sensitivity(genes: &[(&str, &[&str])]) -> Table<sculpt_run::SensitivityRow> {
    let mut rows = Vec::new();
    for (layer, options) in genes {
        for (k, o) in options.iter().enumerate() {
            rows.push(sculpt_run::SensitivityRow {
                layer: (*layer).into(),
                option_id: Some(k as u64),
                option: (*o).into(),
                delta: 0.0,
                kl: None,
            });
        }
    }
    Table::Loaded(rows)
}

/// Device B expands the space differently (an int8-only device: no fp32 options, and a forced
/// int8 classifier gene with one option), so the same plan has another genome there. Plans are
/// matched by the options they choose.
#[test]
fn robust_plans_are_matched_by_content_across_differently_expanded_spaces() {
    let objectives = vec![Quantity::AccuracyLoss, Quantity::Latency];
    // A: conv [fp32, q8, q8+ch0.5], fc [fp32, q8]. Plans: q8/q8 = "1-1", q8+ch0.5/q8 = "2-1",
    // fp32/fp32 = "0-0".
    let mut a = synthetic_run(
        "A",
        vec![
            synthetic_plan(0, "1-1", 0.01, 2.0, true),
            synthetic_plan(1, "2-1", 0.03, 1.0, true),
            synthetic_plan(2, "0-0", 0.0, 4.0, true),
        ],
        objectives.clone(),
    );
    a.sensitivity = sensitivity(&[("conv", &["fp32", "q8", "q8+ch0.5"]), ("fc", &["fp32", "q8"])]);
    // B: conv [q8, q8+ch0.5], fc [q8, q8+ch0.5], classifier [q8] (forced). q8/q8 = "0-0-0",
    // q8+ch0.5/q8 = "1-0-0", and "0-1-0" (fc pruned), which A never evaluated.
    let mut b = synthetic_run(
        "B",
        vec![
            synthetic_plan(0, "0-0-0", 0.012, 1.0, true),
            synthetic_plan(1, "1-0-0", 0.02, 1.5, true),
            synthetic_plan(2, "0-1-0", 0.05, 0.5, true),
        ],
        objectives.clone(),
    );
    b.sensitivity = sensitivity(&[
        ("conv", &["q8", "q8+ch0.5"]),
        ("fc", &["q8", "q8+ch0.5"]),
        ("classifier", &["q8"]),
    ]);
    // By genome nothing is shared ("1-1", "2-1", "0-0" against "0-0-0", …). By content two
    // plans are: {conv=q8, fc=q8} (A: front, rank 0; B: front, rank 0) and
    // {conv=q8+ch0.5, fc=q8} (A: front; B: dominated by 0-0-0, rank 1 of levels 1..2).
    let cmp = comparison(&[a.clone(), b.clone()]).unwrap();
    let group = &cmp.robust[0];
    assert_eq!(group.n_common, 2);
    assert_eq!(group.content.as_deref(), Some("conv=q8, fc=q8"));
    assert_eq!(group.genome.as_deref(), Some("1-1"));
    assert_eq!(group.plan_ids, vec![0, 0]);
    assert_eq!(group.worst_rank, 0.0);
    // Without B's gene table the runs fall back to genomes and share nothing.
    b.sensitivity = Table::Unavailable("x".into());
    let cmp = comparison(&[a, b]).unwrap();
    assert_eq!(cmp.robust[0].genome, None);
    assert_eq!(cmp.robust[0].n_common, 0);
}
