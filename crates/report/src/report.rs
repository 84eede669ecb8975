//! The report of one run: [`write_report`].

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use sculpt_run::{LayerPlan, PlanRow, Quantity, Run, Source, TerminationReason};

use crate::analysis::{Summary, join_words, summarize};
use crate::charts::{
    ConvergenceChart, Figure, LayersChart, ParetoChart, PlanLayers, SensitivityChart, TimeChart,
    render,
};
use crate::doc::{
    Block, Cell, DocTable, Document, Inline, Row, Section, Tone, code, rich, strong, text,
};
use crate::error::Result;
use crate::format::{TABLE_DIGITS, duration, human, sig};
use crate::io::{create_dir, relative_link, write_atomic};
use crate::units::{ConstraintText, Units};

/// The most plans off the front a trade-off chart draws.
const MAX_DOTS: usize = 3000;

/// The files a report consists of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportFiles {
    /// The self-contained HTML report.
    pub index_html: PathBuf,
    /// The Markdown report (references the PNG charts next to it).
    pub report_md: PathBuf,
    /// Every chart written, as `.svg` and `.png`.
    pub charts: Vec<PathBuf>,
    /// What the report could not show and why (also stated inside the report).
    pub notes: Vec<String>,
}

/// A plan the report points at, with its tag (`R1`, `knee`, `R1 · knee`).
#[derive(Clone, Debug)]
struct Marked {
    tag: String,
    plan: PlanRow,
    why: String,
}

fn marked_plans(summary: &Summary, units: &Units) -> Vec<Marked> {
    let mut marked: Vec<Marked> = Vec::new();
    let mut index = 0;
    for rec in &summary.recommendations {
        if let Some(plan) = &rec.plan {
            index += 1;
            let described: Vec<String> =
                rec.constraints.iter().map(|c| c.describe(units)).collect();
            marked.push(Marked {
                tag: format!("R{index}"),
                plan: plan.clone(),
                why: format!("best at {}", join_words(&described)),
            });
        }
    }
    if let Some(knee) = &summary.knee {
        match marked.iter_mut().find(|m| m.plan.plan_id == knee.plan_id) {
            Some(existing) => {
                existing.tag.push_str(" · knee");
                existing.why.push_str(", and the knee");
            }
            None => marked.push(Marked {
                tag: "knee".to_string(),
                plan: knee.clone(),
                why: "the knee of the front".to_string(),
            }),
        }
    }
    marked
}

/// Writes the report of `run` into `out_dir` (created if needed): `index.html`, `report.md` and
/// every chart as `NAME.svg` and `NAME.png`. Every file is written atomically.
///
/// Sections that lack their table say so instead of failing; [`ReportFiles::notes`] lists them.
pub fn write_report(run: &Run, out_dir: &Path) -> Result<ReportFiles> {
    create_dir(out_dir)?;
    let summary = summarize(run);
    let marked = marked_plans(&summary, &Units::of(&run.meta));
    let mut charts: Vec<PathBuf> = Vec::new();
    let mut keep = |figure: Figure| -> Block {
        charts.extend(figure.files.iter().cloned());
        Block::Figure(figure)
    };

    let model = run.meta.model_name().to_string();
    let device = run.meta.device_name().to_string();
    let mut subtitle = vec![format!("{} plans evaluated", evaluated_count(run))];
    if let Some(engine) = &run.meta.engine {
        subtitle.push(format!("engine {engine}"));
    }
    if let Some(seed) = run.meta.seed {
        subtitle.push(format!("seed {seed}"));
    }
    if let Some(started) = &run.meta.started_at {
        subtitle.push(format!("started {started}"));
    }
    // The directory as it was named, so a report generated in one checkout reads the same in
    // another.
    subtitle.push(format!("run directory {}", run.dir.display()));

    let mut sections = vec![summary_section(run, &summary, &marked)];
    sections.push(tradeoff_section(run, &summary, &marked, out_dir, &mut keep)?);
    sections.push(front_section(run, &marked, out_dir));
    sections.push(layers_section(run, &marked, out_dir, &mut keep)?);
    sections.push(time_section(run, &marked, out_dir, &mut keep)?);
    sections.push(sensitivity_section(run, out_dir, &mut keep)?);
    sections.push(convergence_section(run, out_dir, &mut keep)?);
    sections.push(provenance_section(run));

    let document = Document {
        title: format!("sculpt report: {model} on {device}"),
        subtitle: subtitle.join(" · "),
        sections,
    };
    let index_html = out_dir.join("index.html");
    let report_md = out_dir.join("report.md");
    write_atomic(&index_html, document.to_html().as_bytes())?;
    write_atomic(&report_md, document.to_markdown().as_bytes())?;
    Ok(ReportFiles { index_html, report_md, charts, notes: run.notes.clone() })
}

fn evaluated_count(run: &Run) -> String {
    match (run.meta.evaluations, run.candidates.rows()) {
        (Some(n), _) => n.to_string(),
        (None, Some(rows)) => rows.len().to_string(),
        (None, None) => "an unknown number of".to_string(),
    }
}

fn notes_block(notes: &[String]) -> Option<Block> {
    if notes.is_empty() {
        return None;
    }
    Some(Block::Callout {
        tone: Tone::Warning,
        lines: notes.iter().map(|n| rich(&format!("{n}."))).collect(),
    })
}

fn summary_section(run: &Run, summary: &Summary, marked: &[Marked]) -> Section {
    let units = Units::of(&run.meta);
    let mut blocks = Vec::new();
    if let Some(block) = notes_block(&run.notes) {
        blocks.push(block);
    }
    // Big numbers only for a plan that meets every constraint; otherwise the warning leads.
    if let Some(primary) = marked.first().filter(|m| m.plan.feasible) {
        let plan = &primary.plan;
        let baseline = &run.meta.baseline;
        let mut figures = Vec::new();
        let ratio = |base: Option<f64>,
                     value: f64,
                     better: &str,
                     worse: &str|
         -> Option<(String, String)> {
            let base = base.filter(|b| *b > 0.0)?;
            if value <= 0.0 {
                return None;
            }
            let r = base / value;
            Some(if r >= 1.0 {
                (crate::format::factor(r), better.to_string())
            } else {
                (crate::format::factor(1.0 / r), worse.to_string())
            })
        };
        figures.extend(ratio(
            baseline.size_bytes,
            plan.size_bytes,
            "smaller than the baseline",
            "larger than the baseline",
        ));
        figures.extend(ratio(
            baseline.latency_s,
            plan.latency_s,
            "faster than the baseline",
            "slower than the baseline",
        ));
        figures.extend(ratio(
            baseline.energy_j,
            plan.energy_j,
            "less energy per inference",
            "more energy per inference",
        ));
        figures.push(match run.meta.loss_is_metric() {
            true => {
                let points = -plan.accuracy_loss * 100.0;
                let metric = run.meta.metric.as_deref().unwrap_or("accuracy");
                (
                    format!("{}{:.2}", if points < 0.0 { "−" } else { "+" }, points.abs()),
                    format!("points of {metric} vs the baseline"),
                )
            }
            false => (
                sig(plan.accuracy_loss, 3),
                "relative weight error (data-free proxy: no accuracy was measured)".to_string(),
            ),
        });
        let heading = vec![
            text(format!("{} — plan {}: ", primary.tag, plan.plan_id)),
            text(primary.why.clone()),
            text(format!(" on {}", run.meta.device_name())),
        ];
        blocks.push(Block::KeyFigures { heading, figures });
    }
    if !summary.lines.is_empty() {
        let tone = if summary.n_feasible == 0 { Tone::Warning } else { Tone::Finding };
        blocks.push(Block::Callout {
            tone,
            lines: summary.lines.iter().map(|l| vec![text(l.clone())]).collect(),
        });
    }
    if !summary.closest.is_empty() {
        let mut rows = Vec::new();
        for plan in &summary.closest {
            let reasons: Vec<String> = run
                .meta
                .constraints
                .iter()
                .filter(|c| !c.is_met_by(plan))
                .map(|c| c.explain_failure(plan, &units))
                .collect();
            let mut cells =
                vec![Cell::number(plan.plan_id.to_string(), "plan_id", Some(plan.plan_id as f64))];
            for objective in Quantity::ALL {
                cells.push(objective_cell(plan, objective, &units));
            }
            cells.push(Cell::number(sig(plan.violation, 3), "violation", Some(plan.violation)));
            cells.push(Cell::text(plan.violated.join(", ")));
            cells.push(Cell::text(reasons.join("; ")));
            rows.push(Row { cells, data: vec![("plan-id".into(), plan.plan_id.to_string())] });
        }
        let mut header = vec!["Plan".to_string()];
        header.extend(Quantity::ALL.iter().map(|o| capitalised(&units.axis_title(*o))));
        header.extend([
            "Violation".to_string(),
            "Violated".to_string(),
            "Why it fails".to_string(),
        ]);
        blocks.push(Block::Para(vec![
            strong("Closest plans"),
            text(" (smallest summed relative excess over the constraints first):"),
        ]));
        blocks.push(Block::Table(DocTable { id: "closest".into(), header, rows }));
    }
    let baseline = &run.meta.baseline;
    let mut base_parts = Vec::new();
    if let Some(m) = baseline.metric_value {
        base_parts.push(format!("{} {}", run.meta.metric.as_deref().unwrap_or("metric"), human(m)));
    }
    for objective in [Quantity::Latency, Quantity::Energy, Quantity::Size] {
        if let Some(v) = baseline.quantity(objective) {
            base_parts.push(format!(
                "{} {} {}",
                units.label(objective),
                human(units.to_display(objective, v)),
                units.unit(objective)
            ));
        }
    }
    if !base_parts.is_empty() {
        blocks.push(Block::Para(vec![
            strong("Baseline"),
            text(format!(
                " (uncompressed, on {}): {}.",
                run.meta.device_name(),
                base_parts.join(", ")
            )),
        ]));
    }
    blocks.push(Block::Small(vec![text(
        "How the plans are chosen: a recommendation (R1, R2, …) is the front plan with the lowest accuracy loss among those that meet the constraint named; \
         the knee is the feasible front plan with the smallest sum of objectives after scaling each objective to [0, 1] over the front — in two objectives, the plan farthest below the line joining the two ends of the front. \
         Factors compare with the uncompressed baseline on the same device; a loss of a metric is in points (1 point = 0.01 of the metric), the data-free proxy's weight error is relative (dimensionless).",
    )]));
    Section { id: "summary".into(), title: "Summary".into(), blocks }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

fn objective_cell(plan: &PlanRow, objective: Quantity, units: &Units) -> Cell {
    let si = plan.quantity(objective);
    Cell::number(sig(units.to_display(objective, si), TABLE_DIGITS), objective.column(), Some(si))
}

fn tradeoff_section(
    run: &Run,
    summary: &Summary,
    marked: &[Marked],
    out_dir: &Path,
    keep: &mut impl FnMut(Figure) -> Block,
) -> Result<Section> {
    let units = Units::of(&run.meta);
    let mut blocks = Vec::new();
    let objectives = &run.meta.objectives;
    let front = run.front_plans();
    if front.is_empty() {
        blocks.push(Block::Para(vec![text("No front plans to plot.")]));
        return Ok(Section { id: "tradeoffs".into(), title: "Trade-offs".into(), blocks });
    }
    if objectives.len() < 2 {
        blocks.push(Block::Para(vec![text(
            "The run minimised a single objective, so there is no trade-off to plot; the front table lists the plans.",
        )]));
        return Ok(Section { id: "tradeoffs".into(), title: "Trade-offs".into(), blocks });
    }
    let front_ids: HashSet<u64> = front.iter().map(|p| p.plan_id).collect();
    let mut others: Vec<&PlanRow> = run
        .candidates
        .rows()
        .map(|rows| rows.iter().filter(|p| !front_ids.contains(&p.plan_id)).collect())
        .unwrap_or_default();
    // Thousands of faint dots add megabytes to the HTML and nothing to the picture: beyond
    // MAX_DOTS, every k-th plan (in evaluation order) is drawn.
    let n_others = others.len();
    let mut thinned = None;
    if n_others > MAX_DOTS {
        let stride = n_others.div_ceil(MAX_DOTS);
        others = others.into_iter().step_by(stride).collect();
        thinned = Some(format!(
            "{n_others} plans off the front: one in {stride} is drawn to keep the report small."
        ));
    }
    blocks.push(Block::Para(vec![text(format!(
        "Each chart shows two of the objectives the search minimised ({}); lower is better on both axes. \
         The front is highlighted, every other evaluated plan is faint{}.",
        objectives.iter().map(|o| units.label(*o)).collect::<Vec<_>>().join(", "),
        if objectives.len() >= 3 { ", and the colour of a front plan shows the objective not on the axes" } else { "" }
    ))]));
    if run.candidates.rows().is_none() {
        blocks.push(Block::Small(vec![text(
            "candidates.csv is unavailable, so only the front is drawn.",
        )]));
    }
    if let Some(note) = thinned {
        blocks.push(Block::Small(vec![text(note)]));
    }
    for i in 0..objectives.len() {
        for j in (i + 1)..objectives.len() {
            let (x, y) = crate::units::chart_axes(objectives[i], objectives[j]);
            let colour_by = objectives.iter().copied().find(|o| *o != x && *o != y);
            let point = |p: &PlanRow| {
                (units.to_display(x, p.quantity(x)), units.to_display(y, p.quantity(y)))
            };
            let baseline = match (run.meta.baseline.quantity(x), run.meta.baseline.quantity(y)) {
                (Some(bx), Some(by)) => Some((units.to_display(x, bx), units.to_display(y, by))),
                _ => None,
            };
            let mut x_limits = Vec::new();
            let mut y_limits = Vec::new();
            for c in &run.meta.constraints {
                if let Some((objective, limit)) = c.limit() {
                    let label = format!(
                        "≤ {} {}",
                        human(units.to_display(objective, limit)),
                        units.unit(objective)
                    );
                    if objective == x {
                        x_limits.push((units.to_display(x, limit), label));
                    } else if objective == y {
                        y_limits.push((units.to_display(y, limit), label));
                    }
                }
            }
            let chart = ParetoChart {
                title: format!("{} vs {}", capitalised(&units.label(y)), units.label(x)),
                x_title: units.axis_title(x),
                y_title: units.axis_title(y),
                colour_title: colour_by.map(|c| units.axis_title(c)),
                others: others.iter().filter(|p| p.feasible).map(|p| point(p)).collect(),
                infeasible: others.iter().filter(|p| !p.feasible).map(|p| point(p)).collect(),
                front: front
                    .iter()
                    .map(|p| {
                        let (px, py) = point(p);
                        (px, py, colour_by.map_or(0.0, |c| units.to_display(c, p.quantity(c))))
                    })
                    .collect(),
                staircase: objectives.len() == 2 && summary.n_feasible > 0,
                front_infeasible: summary.n_feasible == 0,
                baseline,
                x_limits,
                y_limits,
                marks: marked
                    .iter()
                    .map(|m| (point(&m.plan).0, point(&m.plan).1, m.tag.clone()))
                    .collect(),
                mark_legend: marked
                    .iter()
                    .map(|m| format!("{}: plan {}, {}", m.tag, m.plan.plan_id, m.why))
                    .collect(),
            };
            let name = format!("tradeoff-{}-vs-{}", y.column(), x.column());
            let caption = format!(
                "{} against {} for every evaluated plan{}; the baseline is the cross, constraints are dashed lines and the recommended plans are ringed.",
                capitalised(&units.axis_title(y)),
                units.axis_title(x),
                colour_by
                    .map(|c| format!(", front coloured by {}", units.axis_title(c)))
                    .unwrap_or_default()
            );
            blocks.push(keep(render(&chart, &name, &caption, out_dir)?));
        }
    }
    Ok(Section { id: "tradeoffs".into(), title: "Trade-offs".into(), blocks })
}

fn front_section(run: &Run, marked: &[Marked], out_dir: &Path) -> Section {
    let units = Units::of(&run.meta);
    let mut blocks = Vec::new();
    let Some(front) = run.front.rows() else {
        blocks.push(Block::Para(vec![text(format!(
            "The front is not available: {}.",
            run.front.problem().unwrap_or("front.csv could not be read")
        ))]));
        return Section { id: "front".into(), title: "The front".into(), blocks };
    };
    if front.is_empty() {
        blocks.push(Block::Para(vec![text("The front is empty.")]));
        return Section { id: "front".into(), title: "The front".into(), blocks };
    }
    let any_measured = front.iter().any(|p| p.accuracy_loss_measured.is_some());
    let any_recovered = front.iter().any(|p| p.accuracy_loss_recovered.is_some());
    let any_latency_measured = front.iter().any(|p| p.latency_s_measured.is_some());
    let mut header = vec!["Plan".to_string(), "Tag".to_string()];
    let loss_unit = units.unit(Quantity::AccuracyLoss);
    header.push(capitalised(&units.axis_title(Quantity::AccuracyLoss)));
    if any_measured {
        header.push(format!("Measured loss ({loss_unit})"));
    }
    if any_recovered {
        header.push(format!("Loss after recovery ({loss_unit})"));
    }
    header.push("Latency (ms)".into());
    if any_latency_measured {
        header.push("Measured latency (ms)".into());
    }
    header.extend([
        "Energy (mJ)".to_string(),
        "Size (MB)".to_string(),
        "Feasible".into(),
        "Sources (accuracy / latency)".into(),
        "Plan file".into(),
    ]);
    let mut rows = Vec::new();
    for plan in front {
        let tag = marked
            .iter()
            .find(|m| m.plan.plan_id == plan.plan_id)
            .map(|m| m.tag.clone())
            .unwrap_or_default();
        let mut cells = vec![
            Cell::number(plan.plan_id.to_string(), "plan_id", Some(plan.plan_id as f64)),
            Cell::text(tag),
            objective_cell(plan, Quantity::AccuracyLoss, &units),
        ];
        if any_measured {
            cells.push(optional_cell(
                plan.accuracy_loss_measured,
                Quantity::AccuracyLoss,
                "accuracy_loss_measured",
                &units,
            ));
        }
        if any_recovered {
            cells.push(optional_cell(
                plan.accuracy_loss_recovered,
                Quantity::AccuracyLoss,
                "accuracy_loss_recovered",
                &units,
            ));
        }
        cells.push(objective_cell(plan, Quantity::Latency, &units));
        if any_latency_measured {
            cells.push(optional_cell(
                plan.latency_s_measured,
                Quantity::Latency,
                "latency_s_measured",
                &units,
            ));
        }
        cells.push(objective_cell(plan, Quantity::Energy, &units));
        cells.push(objective_cell(plan, Quantity::Size, &units));
        cells.push(Cell::text(if plan.feasible {
            "yes".to_string()
        } else {
            format!("no: {}", plan.violated.join(", "))
        }));
        cells.push(Cell::text(format!("{} / {}", plan.accuracy_source, plan.latency_source)));
        cells.push(match &plan.plan_file {
            Some(file) => Cell::inlines(vec![Inline::Link {
                text: Path::new(file)
                    .file_name()
                    .map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned()),
                href: relative_link(out_dir, &run.dir.join(file)),
            }]),
            None => Cell::text("–"),
        });
        rows.push(Row { cells, data: vec![("plan-id".into(), plan.plan_id.to_string())] });
    }
    blocks.push(Block::Para(vec![text(format!(
        "{} plans, ordered as in front.csv. Numbers are shown with {TABLE_DIGITS} significant digits; each plan file can be applied with ",
        front.len()
    )), code("sculpt apply --plan FILE"), text(".")]));
    blocks.push(Block::Table(DocTable { id: "front-table".into(), header, rows }));
    Section { id: "front".into(), title: "The front".into(), blocks }
}

fn optional_cell(value: Option<f64>, objective: Quantity, column: &str, units: &Units) -> Cell {
    match value {
        Some(v) => Cell::number(sig(units.to_display(objective, v), TABLE_DIGITS), column, Some(v)),
        None => Cell::number("–".to_string(), column, None),
    }
}

/// Layer names in file order (first appearance).
fn layer_order(rows: &[sculpt_run::LayerRow]) -> Vec<String> {
    let mut seen = HashSet::new();
    rows.iter().filter(|r| seen.insert(r.layer.clone())).map(|r| r.layer.clone()).collect()
}

fn layers_section(
    run: &Run,
    marked: &[Marked],
    out_dir: &Path,
    keep: &mut impl FnMut(Figure) -> Block,
) -> Result<Section> {
    let mut blocks = Vec::new();
    let title = "Per-layer plans";
    match (run.layers.rows(), marked.is_empty()) {
        (None, _) => blocks.push(Block::Para(rich(&format!(
            "Not shown: {}.",
            run.layers.problem().unwrap_or("tables/layers.csv could not be read")
        )))),
        (Some(_), true) => {
            blocks.push(Block::Para(vec![text("There is no recommended plan to show.")]))
        }
        (Some(rows), false) => {
            let layers = layer_order(rows);
            let mut plans = Vec::new();
            let mut missing = Vec::new();
            for m in marked {
                let cells: Vec<_> = layers
                    .iter()
                    .map(|layer| {
                        rows.iter()
                            .find(|r| {
                                r.plan == LayerPlan::Plan(m.plan.plan_id) && &r.layer == layer
                            })
                            .map(|r| (r.weight_bits, r.sparsity, r.rank_ratio))
                    })
                    .collect();
                if cells.iter().all(Option::is_none) {
                    missing.push(m.plan.plan_id.to_string());
                }
                plans.push(PlanLayers {
                    label: format!("{} · plan {}", m.tag, m.plan.plan_id),
                    cells,
                });
            }
            blocks.push(Block::Para(vec![text(
                "Weight bits, sparsity (fraction of weights removed) and kept rank fraction of every layer; darker cells are compressed harder.",
            )]));
            if !missing.is_empty() {
                blocks.push(Block::Small(vec![text(format!(
                    "tables/layers.csv has no rows for plan {}.",
                    missing.join(", ")
                ))]));
            }
            let chart = LayersChart { layers, plans };
            let caption = "Bits, sparsity and rank per layer of the recommended plans.";
            blocks.push(keep(render(&chart, "layers", caption, out_dir)?));
        }
    }
    Ok(Section { id: "layers".into(), title: title.into(), blocks })
}

fn time_section(
    run: &Run,
    marked: &[Marked],
    out_dir: &Path,
    keep: &mut impl FnMut(Figure) -> Block,
) -> Result<Section> {
    let mut blocks = Vec::new();
    let title = "Where the time goes";
    let Some(rows) = run.layers.rows() else {
        blocks.push(Block::Para(rich(&format!(
            "Not shown: {}.",
            run.layers.problem().unwrap_or("tables/layers.csv could not be read")
        ))));
        return Ok(Section { id: "time".into(), title: title.into(), blocks });
    };
    let Some(primary) = marked.first() else {
        blocks.push(Block::Para(vec![text("There is no recommended plan to break down.")]));
        return Ok(Section { id: "time".into(), title: title.into(), blocks });
    };
    let layers = layer_order(rows);
    let pick = |plan: LayerPlan| -> Vec<Option<(f64, f64, String)>> {
        layers
            .iter()
            .map(|layer| {
                rows.iter()
                    .find(|r| r.plan == plan && &r.layer == layer)
                    .and_then(|r| Some((r.latency_s?, r.energy_j.unwrap_or(0.0), r.bound.clone())))
            })
            .collect()
    };
    let baseline = pick(LayerPlan::Baseline);
    let plan = pick(LayerPlan::Plan(primary.plan.plan_id));
    let label = format!("plan {} ({})", primary.plan.plan_id, primary.tag);
    let mut sentences = Vec::new();
    let bound_share = |values: &[Option<(f64, f64, String)>], bound: &str| -> f64 {
        let total: f64 = values.iter().flatten().map(|v| v.0).sum();
        let part: f64 = values.iter().flatten().filter(|v| v.2 == bound).map(|v| v.0).sum();
        if total > 0.0 { part / total * 100.0 } else { 0.0 }
    };
    if baseline.iter().any(Option::is_some) {
        sentences.push(format!(
            "In the baseline {:.0}% of the modelled latency is in memory-bound layers and {:.0}% in compute-bound ones",
            bound_share(&baseline, "memory"),
            bound_share(&baseline, "compute")
        ));
    }
    if plan.iter().any(Option::is_some) {
        sentences.push(format!(
            "in {label} {:.0}% and {:.0}%",
            bound_share(&plan, "memory"),
            bound_share(&plan, "compute")
        ));
    } else {
        blocks.push(Block::Small(vec![text(format!(
            "tables/layers.csv has no rows for plan {}.",
            primary.plan.plan_id
        ))]));
    }
    if !sentences.is_empty() {
        blocks.push(Block::Para(vec![text(format!(
            "{}. A layer is memory-bound when moving its weights and activations takes longer than its arithmetic on {}; compressing the weights of memory-bound layers pays most.",
            sentences.join("; "),
            run.meta.device_name()
        ))]));
    }
    let chart = TimeChart { plan_label: label.clone(), layers, baseline, plan };
    let caption = format!(
        "Modelled latency and energy per layer of the baseline and of {label}; colours mark what bounds each layer."
    );
    blocks.push(keep(render(&chart, "time", &caption, out_dir)?));
    Ok(Section { id: "time".into(), title: title.into(), blocks })
}

fn sensitivity_section(
    run: &Run,
    out_dir: &Path,
    keep: &mut impl FnMut(Figure) -> Block,
) -> Result<Section> {
    let units = Units::of(&run.meta);
    let loss = Quantity::AccuracyLoss;
    let mut blocks = Vec::new();
    let title = "Sensitivity";
    match run.sensitivity.rows() {
        None => blocks.push(Block::Para(rich(&format!(
            "Not shown: {}.",
            run.sensitivity.problem().unwrap_or("tables/sensitivity.csv could not be read")
        )))),
        Some([]) => blocks.push(Block::Para(vec![text("tables/sensitivity.csv has no rows.")])),
        Some(rows) => {
            let mut order: Vec<String> = Vec::new();
            let mut by_layer: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
            for row in rows {
                if !by_layer.contains_key(&row.layer) {
                    order.push(row.layer.clone());
                }
                let label = if row.option.is_empty() {
                    row.option_id.map(|id| format!("option {id}")).unwrap_or_else(|| "?".into())
                } else {
                    row.option.clone()
                };
                by_layer
                    .entry(row.layer.clone())
                    .or_default()
                    .push((label, units.to_display(loss, row.delta)));
            }
            let layers: Vec<(String, Vec<(String, f64)>)> = order
                .into_iter()
                .map(|l| {
                    let v = by_layer.remove(&l).unwrap_or_default();
                    (l, v)
                })
                .collect();
            let most = layers
                .iter()
                .filter_map(|(l, opts)| {
                    opts.iter().map(|o| o.1).reduce(f64::max).map(|m| (l.clone(), m))
                })
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let mut para = vec![text(
                "The accuracy proxy's loss when a single layer takes an option and every other layer stays uncompressed.",
            )];
            if let Some((layer, worst)) = most {
                para.push(text(format!(
                    " The most sensitive layer is {layer} (up to {} {}).",
                    human(worst),
                    units.unit(loss)
                )));
            }
            blocks.push(Block::Para(para));
            let chart = SensitivityChart {
                layers,
                axis_title: units.axis_title(loss),
                value_suffix: if units.unit(loss) == "points" {
                    " pts".into()
                } else {
                    String::new()
                },
            };
            let caption = "Per-layer sensitivity: the bar is the most damaging option, dots are every option.";
            blocks.push(keep(render(&chart, "sensitivity", caption, out_dir)?));
        }
    }
    Ok(Section { id: "sensitivity".into(), title: title.into(), blocks })
}

fn convergence_section(
    run: &Run,
    out_dir: &Path,
    keep: &mut impl FnMut(Figure) -> Block,
) -> Result<Section> {
    let mut blocks = Vec::new();
    let title = "Convergence";
    match run.convergence.rows() {
        None => blocks.push(Block::Para(rich(&format!(
            "Not shown: {}.",
            run.convergence.problem().unwrap_or("tables/convergence.csv could not be read")
        )))),
        Some([]) => blocks.push(Block::Para(vec![text("tables/convergence.csv has no rows.")])),
        Some(rows) if rows.iter().all(|r| r.hypervolume.is_none()) => {
            blocks.push(Block::Para(vec![text(
                "tables/convergence.csv records no hypervolume: the objectives had no bounds to measure it against.",
            )]))
        }
        Some(rows) => {
            let mut para = Vec::new();
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|r| r.hypervolume.map(|h| (r.evaluations as f64, h)))
                .collect();
            if let Some(last) = rows.iter().rev().find(|r| r.hypervolume.is_some()) {
                let reference = run
                    .meta
                    .hypervolume_reference
                    .as_ref()
                    .map(|r| {
                        let parts: Vec<String> = r.iter().map(|v| v.to_string()).collect();
                        format!(
                            " against the reference point ({}) in {}",
                            parts.join(", "),
                            run.meta
                                .objectives
                                .iter()
                                .map(|o| o.column())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                    .unwrap_or_default();
                para.push(text(format!(
                    "Hypervolume of the feasible front after each engine step{reference}; it reached {} after {} evaluations",
                    human(last.hypervolume.unwrap_or(0.0)),
                    last.evaluations
                )));
                if let Some(t) = &run.meta.termination {
                    para.push(text(format!(
                        " and the search stopped because {}",
                        termination_words(t)
                    )));
                }
                para.push(text(". A curve that has flattened means more evaluations are unlikely to improve the front."));
            }
            blocks.push(Block::Para(para));
            let chart = ConvergenceChart {
                points,
            };
            let caption = "Hypervolume of the front against the number of evaluated plans.";
            blocks.push(keep(render(&chart, "convergence", caption, out_dir)?));
        }
    }
    Ok(Section { id: "convergence".into(), title: title.into(), blocks })
}

/// Why a search stopped, in words.
fn termination_words(termination: &TerminationReason) -> &'static str {
    match termination {
        TerminationReason::BudgetExhausted => "the evaluation budget was used up",
        TerminationReason::TimeLimit => "the time limit was reached",
        TerminationReason::Converged => "the front stopped improving",
        TerminationReason::Stalled => "many steps in a row found no new plan",
        TerminationReason::SpaceExhausted => "every plan of the space was evaluated",
        TerminationReason::Completed => "the engine computed the exact front",
        TerminationReason::Interrupted => "it was interrupted",
        _ => "the engine stopped",
    }
}

fn input_cells(input: Option<&Source>) -> Vec<Inline> {
    let Some(input) = input else {
        return vec![text("not recorded")];
    };
    let mut out = Vec::new();
    if let Some(name) = &input.name {
        out.push(strong(name.clone()));
    }
    for extra in [&input.origin, &input.path].into_iter().flatten() {
        if input.name.as_deref() != Some(extra.as_str()) {
            out.push(text(" "));
            out.push(code(extra.clone()));
        }
    }
    if let Some(n) = input.n_samples {
        out.push(text(format!(", {n} samples")));
    }
    if let Some(hash) = &input.sha256 {
        out.push(text(" · sha256 "));
        out.push(code(hash.clone()));
    }
    if out.is_empty() {
        out.push(text("not recorded"));
    }
    out
}

fn provenance_section(run: &Run) -> Section {
    let meta = &run.meta;
    let units = Units::of(meta);
    let mut rows = Vec::new();
    let mut add = |key: &str, value: Vec<Inline>| {
        rows.push(Row { cells: vec![Cell::text(key), Cell::inlines(value)], data: Vec::new() });
    };
    let or_unknown = |v: Option<String>| text(v.unwrap_or_else(|| "not recorded".into()));
    add("Model", input_cells(meta.model.as_ref()));
    add("Calibration data", input_cells(meta.data.calibration.as_ref()));
    add("Validation data", input_cells(meta.data.validation.as_ref()));
    add("Hardware profile", input_cells(meta.hardware.as_ref()));
    add("Search space", input_cells(meta.space.as_ref()));
    add("Engine", vec![or_unknown(meta.engine.clone())]);
    add("Seed", vec![or_unknown(meta.seed.map(|s| s.to_string()))]);
    add("Budget", vec![or_unknown(meta.budget.map(|b| format!("{b} evaluations")))]);
    add("Evaluations", vec![or_unknown(meta.evaluations.map(|b| b.to_string()))]);
    add("Stopped because", vec![or_unknown(meta.termination.map(|t| t.name().replace('_', " ")))]);
    add("Duration", vec![or_unknown(meta.duration_s.map(duration))]);
    add("Started", vec![or_unknown(meta.started_at.clone())]);
    add(
        "Objectives",
        vec![text(meta.objectives.iter().map(|o| o.column()).collect::<Vec<_>>().join(", "))],
    );
    add(
        "Constraints",
        vec![text(if meta.constraints.is_empty() {
            "none".to_string()
        } else {
            meta.constraints
                .iter()
                .map(|c| format!("{} ({})", c.describe(&units), c.key()))
                .collect::<Vec<_>>()
                .join(", ")
        })],
    );
    add("Accuracy proxy", vec![or_unknown(meta.proxy.clone())]);
    add("Metric", vec![or_unknown(meta.metric.clone())]);
    add("sculpt version", vec![or_unknown(meta.sculpt_version.clone())]);
    add("Run format", vec![text(format!("version {}", meta.format_version))]);

    let mut blocks = vec![Block::Table(DocTable {
        id: "provenance".into(),
        header: vec!["Input or setting".into(), "Value".into()],
        rows,
    })];
    let front = run.front_plans();
    if !front.is_empty() {
        let count = |f: &dyn Fn(&PlanRow) -> &'static str| -> String {
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for p in front {
                *counts.entry(f(p).to_string()).or_default() += 1;
            }
            counts.into_iter().map(|(k, n)| format!("{k} for {n}")).collect::<Vec<_>>().join(", ")
        };
        let measured = front.iter().filter(|p| p.accuracy_loss_measured.is_some()).count();
        let measured_latency = front.iter().filter(|p| p.latency_s_measured.is_some()).count();
        blocks.push(Block::Para(vec![strong("Where the numbers come from."), text(format!(
            " Accuracy loss of the front plans: {} (re-measured on held-out data for {measured} of {}). \
             Latency: {} (measured on this machine for {measured_latency}). Energy and size are modelled from the hardware profile and the stored weights. \
             \"proxy\" numbers come from the per-layer sensitivity table and are estimates; \"modelled\" numbers come from the cost model of the profile; \"measured\" numbers were observed.",
            count(&|p| p.accuracy_source.as_str()),
            front.len(),
            count(&|p| p.latency_source.as_str()),
        ))]));
    }
    Section { id: "provenance".into(), title: "Provenance".into(), blocks }
}
