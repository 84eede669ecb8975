//! The files `write_report` produces: self-contained HTML, Markdown whose numbers parse back to
//! front.csv, charts that decode and are not blank.

mod common;

use std::path::Path;

use common::{
    assert_rounded, assert_self_contained, fixture, html_table_values, markdown_table, out_dir,
    png_info, read_csv,
};
use sculpt_report::write_report;
use sculpt_run::read_run;

/// Writes the report of a fixture into a fresh folder and returns (html, markdown, folder).
/// `test` names the output folder, so that tests running in parallel never share one.
fn report_of(name: &str, test: &str) -> (String, String, std::path::PathBuf) {
    let run = read_run(&fixture(name)).unwrap();
    let out = out_dir(&format!("report-{name}-{test}"));
    let files = write_report(&run, &out).unwrap();
    assert_eq!(files.index_html, out.join("index.html"));
    let html = std::fs::read_to_string(&files.index_html).unwrap();
    let md = std::fs::read_to_string(&files.report_md).unwrap();
    (html, md, out)
}

/// The HTML front table's exact values equal front.csv, cell by cell.
fn check_html_numbers(html: &str, front_csv: &Path) {
    let front = read_csv(front_csv);
    let rows = html_table_values(html, "front-table");
    assert_eq!(rows.len(), front.len(), "one HTML row per front.csv row");
    for ((plan_id, cells), csv_row) in rows.iter().zip(&front) {
        assert_eq!(plan_id, &csv_row["plan_id"]);
        let mut seen = Vec::new();
        for (column, value) in cells {
            let exact: f64 = csv_row[column.as_str()].parse().unwrap();
            let shown: f64 = value.parse().unwrap();
            assert_eq!(shown, exact, "plan {plan_id} column {column}");
            seen.push(column.as_str());
        }
        for column in ["plan_id", "accuracy_loss", "latency_s", "energy_j", "size_bytes"] {
            assert!(seen.contains(&column), "plan {plan_id}: no data-value for {column}");
        }
    }
}

/// The Markdown front table shows front.csv in the documented units and digits.
fn check_markdown_numbers(md: &str, run_dir: &Path, out: &Path) {
    let front_csv = run_dir.join("front.csv");
    let front_csv = front_csv.as_path();
    let front = read_csv(front_csv);
    let (header, rows) = markdown_table(md, "## The front");
    assert_eq!(rows.len(), front.len());
    let col = |title: &str| {
        header.iter().position(|h| h == title).unwrap_or_else(|| panic!("column {title}"))
    };
    let units = [
        ("Accuracy loss (points)", "accuracy_loss", 100.0),
        ("Latency (ms)", "latency_s", 1e3),
        ("Energy (mJ)", "energy_j", 1e3),
        ("Size (MB)", "size_bytes", 1e-6),
    ];
    for (row, csv_row) in rows.iter().zip(&front) {
        assert_eq!(row[col("Plan")], csv_row["plan_id"]);
        for (title, column, factor) in units {
            let exact: f64 = csv_row[column].parse::<f64>().unwrap() * factor;
            assert_rounded(
                &row[col(title)],
                exact,
                4,
                &format!("plan {} {title}", csv_row["plan_id"]),
            );
        }
        if header.iter().any(|h| h == "Measured loss (points)") {
            let cell = &row[col("Measured loss (points)")];
            match csv_row["accuracy_loss_measured"].as_str() {
                "" => assert_eq!(cell, "–"),
                v => assert_rounded(cell, v.parse::<f64>().unwrap() * 100.0, 4, "measured loss"),
            }
        }
        // Each row links its plan file with a path relative to the report folder.
        let cell = &row[col("Plan file")];
        let link = common::between(cell, "](", ")").unwrap();
        assert!(!link.starts_with('/'), "{link}");
        let target = out.join(link).canonicalize().unwrap();
        assert_eq!(target, run_dir.join(&csv_row["plan_file"]).canonicalize().unwrap());
    }
}

/// Every chart exists as SVG and PNG; the PNG decodes, has the size of the SVG and is not blank.
fn check_charts(html: &str, out: &Path, expected: &[&str]) {
    for name in expected {
        let svg_path = out.join(format!("{name}.svg"));
        let svg = std::fs::read_to_string(&svg_path).unwrap_or_else(|_| panic!("{name}.svg"));
        let width: u32 = common::between(&svg, "width=\"", "\"").unwrap().parse().unwrap();
        let height: u32 = common::between(&svg, "height=\"", "\"").unwrap().parse().unwrap();
        let (w, h, colours) = png_info(&out.join(format!("{name}.png")));
        assert_eq!((w, h), (width, height), "{name}.png has the SVG's size");
        assert!(w >= 900 && h >= 200, "{name}.png is {w}×{h}");
        // Text is anti-aliased and the charts use several colours: a blank or single-colour
        // image has 1–2 colours.
        assert!(colours > 40, "{name}.png has only {colours} colours");
        assert!(
            html.contains(&format!("<figure id=\"fig-{name}\">")),
            "{name} inlined in the HTML"
        );
    }
    // No temporary files are left behind.
    for entry in std::fs::read_dir(out).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "leftover temporary file {name}");
    }
}

#[test]
fn two_objective_report() {
    let (html, md, out) = report_of("tpu-2obj", "two_objective_report");
    assert_self_contained(&html);
    check_html_numbers(&html, &fixture("tpu-2obj/front.csv"));
    check_markdown_numbers(&md, &fixture("tpu-2obj"), &out);
    check_charts(
        &html,
        &out,
        &["tradeoff-accuracy_loss-vs-latency_s", "layers", "time", "sensitivity", "convergence"],
    );
    // Markdown references the PNGs relatively.
    for name in
        ["tradeoff-accuracy_loss-vs-latency_s", "layers", "time", "sensitivity", "convergence"]
    {
        assert!(md.contains(&format!("]({name}.png)")), "{name}.png referenced");
    }
    // Summary first, with the recommendation in words.
    let summary_at = html.find("<section id=\"summary\">").unwrap();
    assert!(summary_at < html.find("<section id=\"tradeoffs\">").unwrap());
    assert!(html.contains("At ≤ 0.7 ms latency on tpu-like: 13.0× smaller, 5.6× faster"));
    assert!(md.contains("At ≤ 0.7 ms latency on tpu-like: 13.0× smaller, 5.6× faster"));
    // Provenance names the inputs with their hashes and the sources of the numbers.
    let provenance = common::between(&html, "<section id=\"provenance\">", "</section>").unwrap();
    assert!(
        provenance.contains("3f1c9a0e5b7d2c4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e")
    );
    assert!(provenance.contains("hardware-profiles/tpu-like.yaml"));
    assert!(provenance.contains("proxy for 7"));
    assert!(provenance.contains("modelled for 7"));
    assert!(provenance.contains("41.2 s"));
    // Tags in the front table: plan 10 is R1, plan 37 the knee.
    assert!(html.contains("<tr data-plan-id=\"10\"><td class=\"num\" data-column=\"plan_id\" data-value=\"10\">10</td><td>R1</td>"));
    assert!(html.contains("<tr data-plan-id=\"37\"><td class=\"num\" data-column=\"plan_id\" data-value=\"37\">37</td><td>knee</td>"));
}

#[test]
fn three_objective_report_has_every_pair() {
    let (html, md, out) = report_of("arm-3obj", "three_objective_report_has_every_pair");
    assert_self_contained(&html);
    check_html_numbers(&html, &fixture("arm-3obj/front.csv"));
    check_markdown_numbers(&md, &fixture("arm-3obj"), &out);
    // Three objectives: three pairs, accuracy on the y axis where present.
    check_charts(
        &html,
        &out,
        &[
            "tradeoff-accuracy_loss-vs-latency_s",
            "tradeoff-accuracy_loss-vs-size_bytes",
            "tradeoff-size_bytes-vs-latency_s",
        ],
    );
    let svg = std::fs::read_to_string(out.join("tradeoff-accuracy_loss-vs-latency_s.svg")).unwrap();
    assert!(svg.contains("colour: size (MB)"), "the third objective is the colour");
    assert!(svg.contains("≤ 0.25 ms"), "constraint line labelled");
    // The axes zoom to the front; the uncompressed baseline lies beyond them and is marked on
    // the edge, as are the far-off plans.
    assert!(svg.contains(">\nbaseline (beyond the axes)\n<"), "baseline marked");
    assert!(svg.contains("plans beyond the axes,\n"), "far plans drawn on the edge");
    assert!(svg.contains("R1 · plan 10") || svg.contains("R1: plan 10"), "recommendation labelled");
}

#[test]
fn infeasible_report_says_so_and_explains() {
    let (html, md, _out) = report_of("npu-infeasible", "infeasible_report_says_so_and_explains");
    assert_self_contained(&html);
    check_html_numbers(&html, &fixture("npu-infeasible/front.csv"));
    assert!(html.contains("No evaluated plan meets all constraints"));
    assert!(md.contains("No evaluated plan meets all constraints"));
    // The closest plans, ordered by violation, each with its reason.
    let rows = html_table_values(&html, "closest");
    let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(ids, ["0", "28", "4", "6", "15"]);
    let closest = common::between(&html, "<table id=\"closest\">", "</table>").unwrap();
    // Plan 15: latency 0.392 ms against 0.1 ms; plan 0 also loses 1.33 points against 1.1.
    assert!(closest.contains("latency 0.392 ms &gt; 0.1 ms"), "{closest}");
    assert!(closest.contains("accuracy loss 1.33 points &gt; 1.1 points"), "{closest}");
}

#[test]
fn incomplete_run_degrades_section_by_section() {
    let (html, md, out) = report_of("tpu-incomplete", "incomplete_run_degrades_section_by_section");
    assert_self_contained(&html);
    check_html_numbers(&html, &fixture("tpu-incomplete/front.csv"));
    for missing in [
        "candidates.csv is missing",
        "tables/sensitivity.csv is missing",
        "tables/layers.csv is missing",
        "tables/convergence.csv is missing",
    ] {
        assert!(html.contains(missing), "HTML says `{missing}`");
        assert!(md.contains(missing), "Markdown says `{missing}`");
    }
    // The trade-off chart is still drawn (front only); the per-layer charts are not.
    assert!(out.join("tradeoff-accuracy_loss-vs-latency_s.png").is_file());
    assert!(!out.join("sensitivity.png").exists());
    assert!(!out.join("layers.png").exists());
}

#[test]
fn text_from_the_run_is_escaped() {
    let dir = common::fixture_copy("tpu-incomplete", "escape");
    let yaml = std::fs::read_to_string(dir.join("run.yaml")).unwrap();
    let yaml = yaml
        .replace("model: {name: demo-cnn,", "model: {name: \"<b>demo</b> & co\",")
        .replace("engine: nsga2", "engine: \"<script>alert(1)</script>\"");
    std::fs::write(dir.join("run.yaml"), yaml).unwrap();
    let run = read_run(&dir).unwrap();
    let out = out_dir("escape-report");
    write_report(&run, &out).unwrap();
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("&lt;b&gt;demo&lt;/b&gt; &amp; co"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("\\<b\\>demo\\</b\\> & co"));
}

#[test]
fn many_candidates_are_thinned_in_the_charts() {
    let dir = common::fixture_copy("tpu-2obj", "many-candidates");
    let text = std::fs::read_to_string(dir.join("candidates.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    // 40 real rows plus 6960 copies of the off-front rows under new plan ids: 7000 in all.
    let off_front: Vec<&str> =
        rows.iter().copied().filter(|r| r.contains(",false,proxy,")).collect();
    let mut out = vec![header.to_string()];
    out.extend(rows.iter().map(|r| r.to_string()));
    for k in 0..6960 {
        let row = off_front[k % off_front.len()];
        let (_, rest) = row.split_once(',').unwrap();
        out.push(format!("{},{rest}", 1000 + k));
    }
    std::fs::write(dir.join("candidates.csv"), out.join("\n") + "\n").unwrap();
    let run = read_run(&dir).unwrap();
    assert_eq!(run.candidates.rows().unwrap().len(), 7000);
    let report = out_dir("many-candidates-report");
    write_report(&run, &report).unwrap();
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    // 6993 plans off the front, drawn every 3rd: 2331 faint dots.
    assert!(html.contains("6993 plans off the front: one in 3 is drawn"));
    let svg =
        std::fs::read_to_string(report.join("tradeoff-accuracy_loss-vs-latency_s.svg")).unwrap();
    // Plans within the zoomed axes are circles, plans beyond them triangles on the edge.
    let shapes = svg.matches("<circle").count() + svg.matches("<polygon").count();
    assert!(shapes < 3000 + 100, "{shapes} shapes");
    assert!(shapes > 2331, "{shapes} shapes");
}

#[test]
fn key_figures_only_for_a_feasible_plan() {
    let (html, _, _) = report_of("tpu-2obj", "key_figures_only_for_a_feasible_plan");
    assert!(html.contains(
        "<div class=\"keyfigures\"><h3>R1 — plan 10: best at ≤ 0.7 ms latency on tpu-like</h3>"
    ));
    let (html, _, _) = report_of("npu-infeasible", "key_figures_only_for_a_feasible_plan");
    assert!(
        !html.contains("class=\"keyfigures\""),
        "no headline numbers for a plan that breaks a constraint"
    );
}
