//! Comparing several runs: [`comparison`] computes, [`compare`] writes the report.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use sculpt_run::{Constraint, PlanRow, Quantity, Run};
use sculpt_search::{hypervolume_exact, pareto_levels};

use crate::charts::{OverlayChart, render};
use crate::doc::{
    Block, Cell, DocTable, Document, Inline, Row, Section, Tone, code, rich, strong, text,
};
use crate::error::{Error, Result};
use crate::format::{TABLE_DIGITS, human, short_hash, sig};
use crate::io::{create_dir, relative_link, write_atomic};
use crate::report::ReportFiles;
use crate::units::{ConstraintText, Units};

/// Margin of the shared hypervolume reference point beyond the worst front value, as a fraction
/// of the objective's range over all runs.
pub const REFERENCE_MARGIN: f64 = 0.1;

/// The plan that does well on every run of a group of comparable runs.
#[derive(Clone, Debug, PartialEq)]
pub struct RobustPlan {
    /// Indexes (into the runs given) of the runs of the group: same model and search space.
    pub runs: Vec<usize>,
    /// The objectives the ranks are taken on (those all runs of the group minimised).
    pub objectives: Vec<Quantity>,
    /// The chosen plan's genome in the first run of the group, or `None` when no plan was
    /// evaluated and feasible in every run.
    pub genome: Option<String>,
    /// What the chosen plan does, `layer=option, …` over the genes with a choice, when plans were
    /// matched by content (every run's sensitivity table lists its genes); `None` when they were
    /// matched by genome.
    pub content: Option<String>,
    /// The plan's `plan_id` in each run of the group (same order as `runs`).
    pub plan_ids: Vec<u64>,
    /// Its normalised rank in each run: 0 on the run's own front, 1 in its last layer.
    pub normalised_ranks: Vec<f64>,
    /// The worst of `normalised_ranks` (the score minimised).
    pub worst_rank: f64,
    /// Genomes that were evaluated and feasible in every run of the group.
    pub n_common: usize,
}

/// What comparing runs concluded.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// A label per run naming the settings that differ between the runs (hardware, engine, model,
    /// space, seed, proxy, budget), or the directory name when none differs.
    pub labels: Vec<String>,
    /// Objectives every run minimised, in the first run's order.
    pub shared_objectives: Vec<Quantity>,
    /// Constraints set in every run; a bound set differently is applied at its strictest.
    pub shared_constraints: Vec<Constraint>,
    /// Per run: the front plan with the lowest accuracy loss among those meeting
    /// `shared_constraints`.
    pub best: Vec<Option<PlanRow>>,
    /// Per shared objective: the best value over all runs' feasible front plans (SI units).
    pub ideal: Vec<f64>,
    /// Per shared objective: the worst value over all runs' feasible front plans (SI units).
    pub nadir: Vec<f64>,
    /// Per run: the hypervolume of its feasible front on the shared objectives, as a fraction of
    /// the shared reference box (see [`comparison`]); `None` when the run has no feasible front plan.
    pub hypervolume: Vec<Option<f64>>,
    /// One entry per group of at least two runs with the same model and search space.
    pub robust: Vec<RobustPlan>,
    /// What the comparison had to leave out or assume, one sentence each.
    pub notes: Vec<String>,
}

/// Compares runs without writing anything.
///
/// * **Shared objectives**: those every run minimised. Runs with different objective sets are
///   compared on the ones they share (with a note); with none shared, only the tables that need no
///   objective are filled.
/// * **Hypervolume**: each run's feasible front plans on the shared objectives are normalised with
///   the ideal and nadir taken over all runs together, `u = (f − ideal) / (nadir − ideal)` (0 where
///   all runs agree), and measured against the reference point `1 + REFERENCE_MARGIN` in every
///   objective. It is reported as a fraction of the reference box `(1 + margin)^d`, so 1 would be a
///   single plan at the shared ideal point. All runs share the normalisation, so the numbers are
///   comparable with each other (and only with each other).
/// * **Best plan**: per run, the front plan with the lowest accuracy loss among those meeting the
///   shared constraints ([`Constraint::is_met_by`]).
/// * **Robust plan**: runs with the same model and space (by hash, else by name) form a group.
///   In each run the feasible evaluated plans (candidates.csv, else front.csv) are sorted into
///   non-domination levels on the group's shared objectives; a plan's normalised rank in a run
///   is `(level − 1) / (levels − 1)` (0 = on that run's front). Plans are the same across runs
///   when they choose the same option for every layer with a choice (from each run's
///   sensitivity table, which lists its genes; devices that expand a space differently number
///   the same plan differently), or, when a run lacks that table, when their genomes are equal.
///   Among the plans evaluated and feasible in every run of the group, the robust plan has the
///   smallest worst normalised rank; ties go to the smaller mean rank, then the lower accuracy
///   loss summed over the runs, then the plan's text.
pub fn comparison(runs: &[Run]) -> Result<Comparison> {
    if runs.is_empty() {
        return Err(Error::NoRuns);
    }
    let mut notes = Vec::new();
    let labels = labels(runs);

    let shared_objectives: Vec<Quantity> = runs[0]
        .meta
        .objectives
        .iter()
        .copied()
        .filter(|o| runs.iter().all(|r| r.meta.objectives.contains(o)))
        .collect();
    let differ = runs.iter().any(|r| r.meta.objectives != runs[0].meta.objectives);
    if differ {
        let sets: Vec<String> = runs
            .iter()
            .zip(&labels)
            .map(|(r, l)| {
                format!(
                    "{l}: {}",
                    r.meta.objectives.iter().map(|o| o.column()).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        if shared_objectives.is_empty() {
            notes.push(format!(
                "The runs minimised different objectives and share none ({}); fronts and hypervolumes cannot be compared",
                sets.join("; ")
            ));
        } else {
            notes.push(format!(
                "The runs minimised different objectives ({}); they are compared on the objectives they share: {}",
                sets.join("; "),
                shared_objectives.iter().map(|o| o.column()).collect::<Vec<_>>().join(", ")
            ));
        }
    }

    let shared_constraints = shared_constraints(runs, &mut notes);

    let best: Vec<Option<PlanRow>> = runs
        .iter()
        .map(|run| {
            run.front_plans()
                .iter()
                .filter(|p| shared_constraints.iter().all(|c| c.is_met_by(p)))
                .filter(|p| !shared_constraints.is_empty() || p.feasible)
                .min_by(|a, b| {
                    a.accuracy_loss.total_cmp(&b.accuracy_loss).then(a.plan_id.cmp(&b.plan_id))
                })
                .cloned()
        })
        .collect();

    // Hypervolume on a shared normalisation.
    let points: Vec<Vec<Vec<f64>>> = runs
        .iter()
        .map(|run| {
            run.front_plans()
                .iter()
                .filter(|p| p.feasible)
                .map(|p| p.point(&shared_objectives))
                .collect()
        })
        .collect();
    let d = shared_objectives.len();
    let mut ideal = vec![f64::INFINITY; d];
    let mut nadir = vec![f64::NEG_INFINITY; d];
    for p in points.iter().flatten() {
        for j in 0..d {
            ideal[j] = ideal[j].min(p[j]);
            nadir[j] = nadir[j].max(p[j]);
        }
    }
    let any_points = points.iter().any(|p| !p.is_empty());
    let hypervolume_values: Vec<Option<f64>> = points
        .iter()
        .map(|run_points| {
            if d == 0 || run_points.is_empty() {
                return None;
            }
            let normalised: Vec<Vec<f64>> = run_points
                .iter()
                .map(|p| {
                    (0..d)
                        .map(|j| {
                            let range = nadir[j] - ideal[j];
                            if range > 0.0 { (p[j] - ideal[j]) / range } else { 0.0 }
                        })
                        .collect()
                })
                .collect();
            let reference = vec![1.0 + REFERENCE_MARGIN; d];
            let total = (1.0 + REFERENCE_MARGIN).powi(d as i32);
            Some(hypervolume_exact(&normalised, &reference) / total)
        })
        .collect();
    if !any_points {
        ideal.clear();
        nadir.clear();
    }
    for ((run, label), hv) in runs.iter().zip(&labels).zip(&hypervolume_values) {
        if hv.is_none() && d > 0 {
            notes.push(format!(
                "{label} ({}) has no feasible front plan, so it has no hypervolume",
                run.dir.display()
            ));
        }
    }

    let robust = robust_groups(runs, &mut notes);
    Ok(Comparison {
        labels,
        shared_objectives,
        shared_constraints,
        best,
        ideal,
        nadir,
        hypervolume: hypervolume_values,
        robust,
        notes,
    })
}

fn labels(runs: &[Run]) -> Vec<String> {
    type Getter = fn(&Run) -> Option<String>;
    let fields: [(Getter, &str); 7] = [
        (|r| r.meta.hardware.as_ref().and_then(|h| h.name.clone()), ""),
        (|r| r.meta.engine.clone(), ""),
        (|r| r.meta.model.as_ref().and_then(|m| m.name.clone()), ""),
        (|r| r.meta.space.as_ref().and_then(|s| s.name.clone()), "space "),
        (|r| r.meta.seed.map(|s| s.to_string()), "seed "),
        (|r| r.meta.proxy.clone(), "proxy "),
        (|r| r.meta.budget.map(|b| b.to_string()), "budget "),
    ];
    let mut labels: Vec<Vec<String>> = vec![Vec::new(); runs.len()];
    for (get, prefix) in fields {
        let values: Vec<Option<String>> = runs.iter().map(get).collect();
        if values.iter().any(|v| v != &values[0]) {
            for (label, value) in labels.iter_mut().zip(&values) {
                label.push(format!("{prefix}{}", value.clone().unwrap_or_else(|| "?".into())));
            }
        }
    }
    let dir_name = |r: &Run| {
        r.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| r.dir.display().to_string())
    };
    let mut out: Vec<String> = runs
        .iter()
        .zip(labels)
        .map(|(r, parts)| if parts.is_empty() { dir_name(r) } else { parts.join(" · ") })
        .collect();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for l in &out {
        *counts.entry(l.clone()).or_default() += 1;
    }
    for (label, run) in out.iter_mut().zip(runs) {
        if counts[label.as_str()] > 1 {
            *label = format!("{label} ({})", dir_name(run));
        }
    }
    out
}

fn shared_constraints(runs: &[Run], notes: &mut Vec<String>) -> Vec<Constraint> {
    let units = Units::of(&runs[0].meta);
    let mut keys: Vec<String> = Vec::new();
    for run in runs {
        for c in &run.meta.constraints {
            if !keys.iter().any(|k| k == c.key()) {
                keys.push(c.key().to_string());
            }
        }
    }
    let mut shared = Vec::new();
    for key in keys {
        let found: Vec<Option<&Constraint>> =
            runs.iter().map(|r| r.meta.constraints.iter().find(|c| c.key() == key)).collect();
        if found.iter().any(Option::is_none) {
            notes.push(format!(
                "`{key}` is set in only some of the runs, so it is not applied to the comparison"
            ));
            continue;
        }
        let all: Vec<&Constraint> = found.into_iter().flatten().collect();
        let strictest = all
            .iter()
            .copied()
            .min_by(|a, b| {
                let (a, b) = (a.limit().map_or(0.0, |l| l.1), b.limit().map_or(0.0, |l| l.1));
                a.total_cmp(&b)
            })
            .cloned();
        if let Some(strictest) = strictest {
            if all.iter().any(|c| **c != strictest) {
                let values: Vec<String> = all.iter().map(|c| c.describe(&units)).collect();
                notes.push(format!(
                    "`{key}` differs between the runs ({}); the strictest, {}, is applied to every run",
                    values.join(", "),
                    strictest.describe(&units)
                ));
            }
            shared.push(strictest);
        }
    }
    shared
}

fn group_key(run: &Run) -> Option<(String, String)> {
    let pick = |input: Option<&sculpt_run::Source>| {
        input.and_then(|i| i.sha256.clone().or_else(|| i.name.clone()))
    };
    Some((pick(run.meta.model.as_ref())?, pick(run.meta.space.as_ref())?))
}

/// A run's genes in genome order: each gene's layer(s) and its option labels by index.
type Genes = Vec<(String, Vec<String>)>;

/// The genes of a run from its sensitivity table (rows gene by gene, option ids 0, 1, … in
/// order); `None` when the table is missing or not in that shape.
fn genes_of(run: &Run) -> Option<Genes> {
    let mut genes: Genes = Vec::new();
    for row in run.sensitivity.rows()? {
        let id = row.option_id? as usize;
        match genes.last_mut() {
            Some((layer, options)) if *layer == row.layer && id == options.len() => {
                options.push(row.option.clone())
            }
            _ if id == 0 => genes.push((row.layer.clone(), vec![row.option.clone()])),
            _ => return None,
        }
    }
    (!genes.is_empty()).then_some(genes)
}

/// What `genome` (option indices joined by `-`) chooses: `layer=option` for every gene with
/// more than one option, joined by `, ` (genes with a single option, such as layers a device
/// forces to int8, are not choices). `None` when the genome does not fit `genes`.
fn plan_content(genes: &Genes, genome: &str) -> Option<String> {
    let picks: Vec<usize> = genome.split('-').map(|s| s.parse().ok()).collect::<Option<_>>()?;
    if picks.len() != genes.len() {
        return None;
    }
    let parts: Vec<String> = genes
        .iter()
        .zip(&picks)
        .filter(|((_, options), _)| options.len() > 1)
        .map(|((layer, options), &pick)| options.get(pick).map(|o| format!("{layer}={o}")))
        .collect::<Option<_>>()?;
    Some(parts.join(", "))
}

fn robust_groups(runs: &[Run], notes: &mut Vec<String>) -> Vec<RobustPlan> {
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        if let Some(key) = group_key(run) {
            groups.entry(key).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for members in groups.into_values().filter(|m| m.len() >= 2) {
        let objectives: Vec<Quantity> = runs[members[0]]
            .meta
            .objectives
            .iter()
            .copied()
            .filter(|o| members.iter().all(|&i| runs[i].meta.objectives.contains(o)))
            .collect();
        // Plans are matched by what they do when every run lists its genes: devices whose
        // spaces expand differently (an int8-only device drops fp32 options and adds forced
        // genes) number the same plan differently. Otherwise by genome.
        let genes: Option<Vec<Genes>> = members.iter().map(|&i| genes_of(&runs[i])).collect();
        // Per run: key → (plan, normalised rank).
        let mut per_run: Vec<HashMap<String, (PlanRow, f64)>> = Vec::new();
        for (k, &i) in members.iter().enumerate() {
            let run = &runs[i];
            let source = run.candidates.rows().unwrap_or_else(|| run.front_plans());
            let key = |p: &PlanRow| match &genes {
                Some(g) => plan_content(&g[k], &p.genome),
                None => Some(p.genome.clone()),
            };
            let mut seen = HashSet::new();
            let plans: Vec<(&PlanRow, String)> = source
                .iter()
                .filter(|p| p.feasible && !p.genome.is_empty())
                .filter_map(|p| key(p).map(|k| (p, k)))
                .filter(|(_, k)| seen.insert(k.clone()))
                .collect();
            let points: Vec<Vec<f64>> = plans.iter().map(|(p, _)| p.point(&objectives)).collect();
            let levels = pareto_levels(&points);
            let n_levels = levels.iter().copied().max().unwrap_or(1);
            let map = plans
                .iter()
                .zip(levels)
                .map(|((p, key), level)| {
                    let rank =
                        if n_levels > 1 { (level - 1) as f64 / (n_levels - 1) as f64 } else { 0.0 };
                    (key.clone(), ((*p).clone(), rank))
                })
                .collect();
            per_run.push(map);
        }
        let mut common: Vec<&String> =
            per_run[0].keys().filter(|g| per_run.iter().all(|m| m.contains_key(*g))).collect();
        common.sort();
        let score = |key: &String| -> (f64, f64, f64) {
            let ranks: Vec<f64> = per_run.iter().map(|m| m[key].1).collect();
            let worst = ranks.iter().copied().fold(0.0, f64::max);
            let mean = ranks.iter().sum::<f64>() / ranks.len() as f64;
            let loss: f64 = per_run.iter().map(|m| m[key].0.accuracy_loss).sum();
            (worst, mean, loss)
        };
        let best = common.iter().copied().min_by(|a, b| {
            let (sa, sb) = (score(a), score(b));
            sa.0.total_cmp(&sb.0)
                .then(sa.1.total_cmp(&sb.1))
                .then(sa.2.total_cmp(&sb.2))
                .then(a.cmp(b))
        });
        let n_common = common.len();
        match best {
            Some(key) => {
                let plan_ids = per_run.iter().map(|m| m[key].0.plan_id).collect();
                let normalised_ranks: Vec<f64> = per_run.iter().map(|m| m[key].1).collect();
                out.push(RobustPlan {
                    runs: members,
                    objectives,
                    genome: Some(per_run[0][key].0.genome.clone()),
                    content: genes.is_some().then(|| key.clone()),
                    plan_ids,
                    worst_rank: score(key).0,
                    normalised_ranks,
                    n_common,
                });
            }
            None => {
                notes.push(format!(
                    "No plan was evaluated and feasible in every run of the group {}, so no robust plan can be named",
                    members.iter().map(|i| runs[*i].dir.display().to_string()).collect::<Vec<_>>().join(", ")
                ));
                out.push(RobustPlan {
                    runs: members,
                    objectives,
                    genome: None,
                    content: None,
                    plan_ids: Vec::new(),
                    normalised_ranks: Vec::new(),
                    worst_rank: f64::NAN,
                    n_common,
                });
            }
        }
    }
    out
}

/// Writes a comparison report of `runs` into `out_dir`: `index.html`, `report.md` and the
/// overlay charts (`compare-Y-vs-X.svg`/`.png`), computed by [`comparison`].
///
/// Runs whose objectives differ are compared on the objectives they share, with a note in the
/// report and in [`ReportFiles::notes`]; the files are written in every case.
pub fn compare(runs: &[Run], out_dir: &Path) -> Result<ReportFiles> {
    let cmp = comparison(runs)?;
    create_dir(out_dir)?;
    let mut all_notes = cmp.notes.clone();
    for (run, label) in runs.iter().zip(&cmp.labels) {
        for note in &run.notes {
            all_notes.push(format!("{label}: {note}"));
        }
    }
    // Every run's accuracy loss is shown in the first run's units (runs compared on shared axes
    // measure the same metric).
    let units = Units::of(&runs[0].meta);
    let mut charts = Vec::new();
    let sections = vec![
        summary_section(runs, &cmp, &units, &all_notes),
        fronts_section(runs, &cmp, &units, out_dir, &mut charts)?,
        best_section(runs, &cmp, &units, out_dir),
        hypervolume_section(runs, &cmp, &units),
        robust_section(runs, &cmp, &units),
    ];
    let document = Document {
        title: format!("sculpt comparison of {} runs", runs.len()),
        subtitle: cmp.labels.join(" · "),
        sections,
    };
    let index_html = out_dir.join("index.html");
    let report_md = out_dir.join("report.md");
    write_atomic(&index_html, document.to_html().as_bytes())?;
    write_atomic(&report_md, document.to_markdown().as_bytes())?;
    Ok(ReportFiles { index_html, report_md, charts, notes: all_notes })
}

/// Notes, findings (best hypervolume, best plan per run, robust plans) and the runs compared.
fn summary_section(runs: &[Run], cmp: &Comparison, units: &Units, notes: &[String]) -> Section {
    let mut blocks = Vec::new();
    if !notes.is_empty() {
        blocks.push(Block::Callout {
            tone: Tone::Warning,
            lines: notes.iter().map(|n| rich(&format!("{n}."))).collect(),
        });
    }
    let mut findings = Vec::new();
    if let Some((i, hv)) = cmp
        .hypervolume
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.map(|h| (i, h)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
    {
        findings.push(vec![text(format!(
            "The best trade-offs on the shared objectives come from {} (hypervolume {} of the shared reference box).",
            cmp.labels[i],
            sig(hv, 3)
        ))]);
    }
    for (i, best) in cmp.best.iter().enumerate() {
        match best {
            Some(plan) => findings.push(vec![text(format!(
                "{}: best plan {} — {}.",
                cmp.labels[i],
                plan.plan_id,
                crate::analysis::versus_baseline(&runs[i], plan)
            ))]),
            None => findings.push(vec![text(format!(
                "{}: no front plan meets the shared constraints.",
                cmp.labels[i]
            ))]),
        }
    }
    for group in &cmp.robust {
        if let Some(genome) = &group.genome {
            let what = match &group.content {
                Some(content) => format!("the plan {{{content}}}"),
                None => format!("the plan with genome {genome}"),
            };
            let names: Vec<String> = group.runs.iter().map(|&i| cmp.labels[i].clone()).collect();
            let standing = if group.worst_rank == 0.0 {
                "it is on the front of every one of them".to_string()
            } else {
                format!("worst normalised rank {}", sig(group.worst_rank, 3))
            };
            findings.push(vec![text(format!(
                "Robust across {}: {what} ({standing}).",
                crate::analysis::join_words(&names),
            ))]);
        }
    }
    if !findings.is_empty() {
        blocks.push(Block::Callout { tone: Tone::Finding, lines: findings });
    }
    let mut run_rows = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let meta = &run.meta;
        run_rows.push(Row {
            cells: vec![
                Cell::text(cmp.labels[i].clone()),
                Cell::inlines(vec![code(run.dir.display().to_string())]),
                Cell::text(meta.model_name().to_string()),
                Cell::text(meta.device_name().to_string()),
                Cell::text(meta.engine.clone().unwrap_or_else(|| "?".into())),
                Cell::text(meta.seed.map(|s| s.to_string()).unwrap_or_else(|| "?".into())),
                Cell::text(
                    meta.objectives.iter().map(|o| o.column()).collect::<Vec<_>>().join(", "),
                ),
                Cell::text(if meta.constraints.is_empty() {
                    "none".into()
                } else {
                    meta.constraints
                        .iter()
                        .map(|c| c.describe(units))
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                Cell::text(meta.evaluations.map(|e| e.to_string()).unwrap_or_else(|| "?".into())),
                Cell::inlines(
                    meta.space
                        .as_ref()
                        .and_then(|s| s.sha256.as_ref())
                        .map(|h| vec![code(short_hash(h))])
                        .unwrap_or_else(|| vec![text("?")]),
                ),
            ],
            data: vec![("run".into(), i.to_string())],
        });
    }
    blocks.push(Block::Table(DocTable {
        id: "runs".into(),
        header: [
            "Run",
            "Directory",
            "Model",
            "Hardware",
            "Engine",
            "Seed",
            "Objectives",
            "Constraints",
            "Evaluations",
            "Space hash",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows: run_rows,
    }));
    Section { id: "summary".into(), title: "Summary".into(), blocks }
}

/// Every run's feasible front on shared axes, one chart per pair of shared objectives.
fn fronts_section(
    runs: &[Run],
    cmp: &Comparison,
    units: &Units,
    out_dir: &Path,
    charts: &mut Vec<std::path::PathBuf>,
) -> Result<Section> {
    let mut blocks = Vec::new();
    let objectives = &cmp.shared_objectives;
    if objectives.len() < 2 {
        blocks.push(Block::Para(vec![text(
            "The runs share fewer than two objectives, so their fronts cannot be drawn on shared axes.",
        )]));
    } else {
        blocks.push(Block::Para(vec![text(
            "Feasible front plans of every run on shared axes, one colour per run; lower is better on both axes.",
        )]));
        for i in 0..objectives.len() {
            for j in (i + 1)..objectives.len() {
                let (x, y) = crate::units::chart_axes(objectives[i], objectives[j]);
                let series = runs
                    .iter()
                    .zip(&cmp.labels)
                    .map(|(run, label)| {
                        let pts = run
                            .front_plans()
                            .iter()
                            .filter(|p| p.feasible)
                            .map(|p| {
                                (
                                    units.to_display(x, p.quantity(x)),
                                    units.to_display(y, p.quantity(y)),
                                )
                            })
                            .collect();
                        let staircase = run.meta.objectives.len() == 2;
                        (label.clone(), pts, staircase)
                    })
                    .collect();
                let chart = OverlayChart {
                    title: format!("{} vs {}", capitalised(&units.label(y)), units.label(x)),
                    x_title: units.axis_title(x),
                    y_title: units.axis_title(y),
                    series,
                };
                let name = format!("compare-{}-vs-{}", y.column(), x.column());
                let caption = format!(
                    "Fronts of {} runs: {} against {}.",
                    runs.len(),
                    units.axis_title(y),
                    units.axis_title(x)
                );
                let figure = render(&chart, &name, &caption, out_dir)?;
                charts.extend(figure.files.iter().cloned());
                blocks.push(Block::Figure(figure));
            }
        }
    }
    Ok(Section { id: "fronts".into(), title: "Fronts".into(), blocks })
}

/// The best plan of each run under the shared constraints.
fn best_section(runs: &[Run], cmp: &Comparison, units: &Units, out_dir: &Path) -> Section {
    let mut blocks = Vec::new();
    blocks.push(Block::Para(vec![text(if cmp.shared_constraints.is_empty() {
        "The front plan with the lowest accuracy loss in each run (no constraint is shared by all runs).".to_string()
    } else {
        format!(
            "The front plan with the lowest accuracy loss in each run among those meeting the shared constraints: {}.",
            cmp.shared_constraints.iter().map(|c| c.describe(units)).collect::<Vec<_>>().join(", ")
        )
    })]));
    let mut rows = Vec::new();
    for (i, (run, best)) in runs.iter().zip(&cmp.best).enumerate() {
        let mut cells = vec![Cell::text(cmp.labels[i].clone())];
        match best {
            Some(plan) => {
                cells.push(Cell::number(
                    plan.plan_id.to_string(),
                    "plan_id",
                    Some(plan.plan_id as f64),
                ));
                for objective in Quantity::ALL {
                    let si = plan.quantity(objective);
                    cells.push(Cell::number(
                        sig(units.to_display(objective, si), TABLE_DIGITS),
                        objective.column(),
                        Some(si),
                    ));
                }
                cells.push(Cell::text(crate::analysis::versus_baseline(run, plan)));
                cells.push(match &plan.plan_file {
                    Some(file) => Cell::inlines(vec![Inline::Link {
                        text: file.clone(),
                        href: relative_link(out_dir, &run.dir.join(file)),
                    }]),
                    None => Cell::text("–"),
                });
            }
            None => {
                cells.push(Cell::text("none"));
                for _ in Quantity::ALL {
                    cells.push(Cell::number("–".into(), "", None));
                }
                cells.push(Cell::text("no front plan meets the shared constraints"));
                cells.push(Cell::text("–"));
            }
        }
        rows.push(Row { cells, data: vec![("run".into(), i.to_string())] });
    }
    let mut header = vec!["Run".to_string(), "Plan".to_string()];
    header.extend(Quantity::ALL.iter().map(|o| capitalised(&units.axis_title(*o))));
    header.extend(["Against its baseline".to_string(), "Plan file".to_string()]);
    blocks.push(Block::Table(DocTable { id: "best".into(), header, rows }));
    Section { id: "best".into(), title: "Best plan per run".into(), blocks }
}

/// Hypervolume of each run's feasible front in a shared, normalised box.
fn hypervolume_section(runs: &[Run], cmp: &Comparison, units: &Units) -> Section {
    let mut blocks = Vec::new();
    if cmp.shared_objectives.is_empty() || cmp.ideal.is_empty() {
        blocks.push(Block::Para(vec![text(
            "No hypervolume: the runs share no objective or have no feasible front plan.",
        )]));
    } else {
        let describe = |values: &[f64]| -> String {
            cmp.shared_objectives
                .iter()
                .zip(values)
                .map(|(o, v)| {
                    format!(
                        "{} {} {}",
                        units.label(*o),
                        human(units.to_display(*o, *v)),
                        units.unit(*o)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        blocks.push(Block::Para(vec![text(format!(
            "Each run's feasible front on {} is scaled with the same bounds for every run — best values over all runs ({}) map to 0, worst values ({}) to 1 — and measured against the reference point {} in every objective. \
             The number is the dominated fraction of that reference box: higher is better, 1 would be a single plan with every best value at once. The numbers compare these runs with each other only.",
            cmp.shared_objectives.iter().map(|o| units.label(*o)).collect::<Vec<_>>().join(", "),
            describe(&cmp.ideal),
            describe(&cmp.nadir),
            1.0 + REFERENCE_MARGIN
        ))]));
        let rows = runs
            .iter()
            .enumerate()
            .map(|(i, run)| {
                let n_front = run.front_plans().len();
                let n_feasible = run.front_plans().iter().filter(|p| p.feasible).count();
                Row {
                    cells: vec![
                        Cell::text(cmp.labels[i].clone()),
                        Cell::number(n_front.to_string(), "front_size", Some(n_front as f64)),
                        Cell::number(n_feasible.to_string(), "feasible", Some(n_feasible as f64)),
                        match cmp.hypervolume[i] {
                            Some(hv) => {
                                Cell::number(sig(hv, TABLE_DIGITS), "hypervolume", Some(hv))
                            }
                            None => Cell::number("–".into(), "hypervolume", None),
                        },
                    ],
                    data: vec![("run".into(), i.to_string())],
                }
            })
            .collect();
        blocks.push(Block::Table(DocTable {
            id: "hypervolume".into(),
            header: vec![
                "Run".into(),
                "Front plans".into(),
                "Feasible".into(),
                "Hypervolume (fraction)".into(),
            ],
            rows,
        }));
    }
    Section { id: "hypervolume".into(), title: "Hypervolume".into(), blocks }
}

/// The plan most robust across runs of the same model and space.
fn robust_section(runs: &[Run], cmp: &Comparison, units: &Units) -> Section {
    let mut blocks = Vec::new();
    blocks.push(Block::Small(vec![text(
        "Runs with the same model and search space can be compared plan by plan. In each run, its feasible evaluated plans are sorted into non-domination levels on the shared objectives (level 1 is that run's own front); \
         a plan's normalised rank is (level − 1) / (levels − 1), so 0 is on the run's front and 1 is in its last level. The robust plan is the one, among those evaluated and feasible in every run, whose worst normalised rank is smallest.",
    )]));
    if cmp.robust.is_empty() {
        blocks.push(Block::Para(vec![text(
            "No two runs share a model and a search space, so no plan can be compared across runs.",
        )]));
    }
    for group in &cmp.robust {
        let names: Vec<String> = group.runs.iter().map(|&i| cmp.labels[i].clone()).collect();
        match &group.genome {
            None => blocks.push(Block::Para(vec![text(format!(
                "{}: no plan was evaluated and feasible in every run.",
                crate::analysis::join_words(&names)
            ))])),
            Some(genome) => {
                blocks.push(Block::Para(vec![
                    strong(crate::analysis::join_words(&names)),
                    text(format!(
                        ": {} plans were evaluated and feasible in every run; the most robust is ",
                        group.n_common
                    )),
                    code(match &group.content {
                        Some(content) => content.clone(),
                        None => format!("genome {genome}"),
                    }),
                    text(format!(" (worst normalised rank {}).", sig(group.worst_rank, 3))),
                ]));
                let rows = group
                    .runs
                    .iter()
                    .enumerate()
                    .map(|(k, &i)| {
                        let plan = runs[i]
                            .candidates
                            .rows()
                            .unwrap_or_else(|| runs[i].front_plans())
                            .iter()
                            .find(|p| p.plan_id == group.plan_ids[k]);
                        let mut cells = vec![
                            Cell::text(cmp.labels[i].clone()),
                            Cell::number(
                                group.plan_ids[k].to_string(),
                                "plan_id",
                                Some(group.plan_ids[k] as f64),
                            ),
                            Cell::number(
                                sig(group.normalised_ranks[k], 3),
                                "normalised_rank",
                                Some(group.normalised_ranks[k]),
                            ),
                        ];
                        for objective in Quantity::ALL {
                            match plan {
                                Some(p) => {
                                    let si = p.quantity(objective);
                                    cells.push(Cell::number(
                                        sig(units.to_display(objective, si), TABLE_DIGITS),
                                        objective.column(),
                                        Some(si),
                                    ));
                                }
                                None => {
                                    cells.push(Cell::number("–".into(), objective.column(), None))
                                }
                            }
                        }
                        Row { cells, data: vec![("run".into(), i.to_string())] }
                    })
                    .collect();
                let mut header =
                    vec!["Run".to_string(), "Plan".to_string(), "Normalised rank".to_string()];
                header.extend(Quantity::ALL.iter().map(|o| capitalised(&units.axis_title(*o))));
                blocks.push(Block::Table(DocTable {
                    id: format!("robust-{genome}"),
                    header,
                    rows,
                }));
            }
        }
    }
    Section { id: "robust".into(), title: "Robust plan".into(), blocks }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}
