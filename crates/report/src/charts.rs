//! Charts drawn with plotters, each rendered twice from the same drawing code: as an SVG string
//! (inlined in index.html and written as `NAME.svg`) and as a PNG file (for report.md).
//!
//! PNG text is rasterised with the DejaVu Sans font bundled in `assets/`, so the charts look the
//! same on machines without system fonts; SVG text names the `sans-serif` family and is drawn
//! by whatever views the file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use sculpt_stdx::temp_path_for;

use crate::error::{Error, Result};
use crate::io::{persist, write_atomic};

/// DejaVu Sans 2.37 (Debian fonts-dejavu-core); licence in assets/DejaVuSans-LICENSE.txt.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Colours: a sober palette built around the colour-blind-safe Okabe–Ito set.
pub(crate) const INK: RGBColor = RGBColor(33, 37, 41);
const MUTED: RGBColor = RGBColor(108, 117, 125);
const FAINT: RGBColor = RGBColor(173, 181, 189);
const GRID_BOLD: RGBColor = RGBColor(222, 226, 230);
pub(crate) const FRONT: RGBColor = RGBColor(0, 114, 178);
const CONSTRAINT: RGBColor = RGBColor(192, 57, 43);
const HIGHLIGHT: RGBColor = RGBColor(230, 159, 0);
const COMPUTE: RGBColor = RGBColor(0, 114, 178);
const MEMORY: RGBColor = RGBColor(213, 94, 0);
const OVERHEAD: RGBColor = RGBColor(134, 142, 150);
/// One colour per run in comparisons.
const SERIES: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
    RGBColor(33, 37, 41),
];

/// The colour of the `index`-th run in comparison charts.
pub(crate) fn series_colour(index: usize) -> RGBColor {
    SERIES[index % SERIES.len()]
}

/// A chart written to disk and ready to inline.
#[derive(Clone, Debug)]
pub(crate) struct Figure {
    /// File stem: `NAME.svg`, `NAME.png`.
    pub(crate) name: String,
    /// What the chart shows, one sentence (alt text and caption).
    pub(crate) caption: String,
    /// The SVG document.
    pub(crate) svg: String,
    /// The files written.
    pub(crate) files: Vec<PathBuf>,
}

/// Something that can draw itself on any plotters backend.
pub(crate) trait Draw {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

fn ensure_font() {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        let normal = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok();
        let bold = plotters::style::register_font(FAMILY, FontStyle::Bold, FONT).is_ok();
        normal && bold
    });
}

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

/// Draws `chart` as `out_dir/NAME.svg` and `out_dir/NAME.png` (both written atomically).
pub(crate) fn render<C: Draw>(
    chart: &C,
    name: &str,
    caption: &str,
    out_dir: &Path,
) -> Result<Figure> {
    ensure_font();
    let size = chart.size();
    let chart_error = |msg: String| Error::Chart { name: name.to_string(), msg };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|x| chart_error(e(x)))?;
        chart.draw(&root).map_err(chart_error)?;
        root.present().map_err(|x| chart_error(e(x)))?;
    }
    let svg_path = out_dir.join(format!("{name}.svg"));
    write_atomic(&svg_path, svg.as_bytes())?;
    let png_path = out_dir.join(format!("{name}.png"));
    let tmp = temp_path_for(&png_path);
    let drawn = (|| {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        chart.draw(&root)?;
        root.present().map_err(e)
    })();
    if let Err(msg) = drawn {
        let _ = std::fs::remove_file(&tmp);
        return Err(chart_error(msg));
    }
    persist(&tmp, &png_path)?;
    Ok(Figure {
        name: name.to_string(),
        caption: caption.to_string(),
        svg,
        files: vec![svg_path, png_path],
    })
}

fn font(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&INK)
}

fn font_coloured(size: f64, colour: RGBColor) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&colour)
}

fn anchored(style: TextStyle<'static>, h: HPos, v: VPos) -> TextStyle<'static> {
    style.pos(Pos::new(h, v))
}

/// Viridis, cut before its palest yellow so that every colour reads on white.
fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (223, 227, 24),
    ];
    let t = t.clamp(0.0, 1.0) * 0.92 * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Mixes `colour` towards white: 0 keeps it, 1 gives white.
fn lighten(colour: RGBColor, amount: f64) -> RGBColor {
    let mix = |c: u8| (c as f64 + (255.0 - c as f64) * amount).round() as u8;
    RGBColor(mix(colour.0), mix(colour.1), mix(colour.2))
}

/// Decimals for tick labels of an axis spanning `range`.
fn tick_decimals(range: f64) -> usize {
    if range <= 0.0 || !range.is_finite() {
        return 2;
    }
    let step = range / 8.0;
    (-step.log10().floor()).max(0.0) as usize
}

/// A round tick step (1, 2, 2.5 or 5 × 10^k) giving about `target` ticks over `span`.
fn nice_step(span: f64, target: usize) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// Decimals needed to print multiples of `step` exactly.
fn step_decimals(step: f64) -> usize {
    (0..8)
        .find(|&d| {
            ((step * 10f64.powi(d as i32)).round() - step * 10f64.powi(d as i32)).abs() < 1e-6
        })
        .unwrap_or(8)
}

/// A padded axis range around `values` (at least a small span when all values agree).
fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let span = if hi > lo { hi - lo } else { lo.abs().max(1e-9) * 0.2 };
    let pad = span * 0.07;
    (lo - pad)..(hi + pad)
}

/// The axis range of a trade-off chart: the front and the constraint lines, padded, so that the
/// front fills the chart; everything else is drawn at the edge when it lies beyond. Falls back to
/// all values when the front alone spans nothing (a single plan and no constraint).
fn zoomed_range(
    focus: impl Iterator<Item = f64> + Clone,
    all: impl Iterator<Item = f64>,
) -> std::ops::Range<f64> {
    let finite = focus.filter(|v| v.is_finite());
    let (lo, hi) = finite
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi > lo { padded_range(finite) } else { padded_range(all) }
}

/// `v` moved onto `range` when it lies beyond it, and whether it was moved.
fn clamp_to(v: f64, range: &std::ops::Range<f64>) -> (f64, bool) {
    if v < range.start {
        (range.start, true)
    } else if v > range.end {
        (range.end, true)
    } else {
        (v, false)
    }
}

/// Splits `text` into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A marker in a legend.
#[derive(Clone, Debug)]
pub(crate) enum Marker {
    Dot(RGBColor),
    Hollow(RGBColor),
    Triangle(RGBColor),
    Ring(RGBColor),
    Cross(RGBColor),
    Dashed(RGBColor),
    Line(RGBColor),
    Swatch(RGBColor),
    None,
}

/// Draws legend entries from the top of `area`; returns the y below the last entry.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    top: i32,
    entries: &[(Marker, String)],
) -> Result<i32, String> {
    let (width, _) = area.dim_in_pixel();
    let mut y = top;
    let text_x = 30;
    let chars = ((width as i32 - text_x - 6) / 7).max(10) as usize;
    for (marker, text) in entries {
        let cy = y + 8;
        match marker {
            Marker::Dot(c) => {
                area.draw(&Circle::new((14, cy), 5, c.filled())).map_err(e)?;
            }
            Marker::Hollow(c) => {
                area.draw(&Circle::new((14, cy), 4, c.stroke_width(1))).map_err(e)?;
            }
            Marker::Triangle(c) => {
                area.draw(&TriangleMarker::new((14, cy), 5, c.filled())).map_err(e)?;
            }
            Marker::Ring(c) => {
                area.draw(&Circle::new((14, cy), 8, c.stroke_width(3))).map_err(e)?;
            }
            Marker::Cross(c) => {
                area.draw(&Cross::new((14, cy), 6, c.stroke_width(2))).map_err(e)?;
            }
            Marker::Dashed(c) => {
                for x in [4, 12, 20] {
                    area.draw(&PathElement::new(vec![(x, cy), (x + 5, cy)], c.stroke_width(2)))
                        .map_err(e)?;
                }
            }
            Marker::Line(c) => {
                area.draw(&PathElement::new(vec![(4, cy), (24, cy)], c.stroke_width(2)))
                    .map_err(e)?;
                area.draw(&Circle::new((14, cy), 4, c.filled())).map_err(e)?;
            }
            Marker::Swatch(c) => {
                area.draw(&Rectangle::new([(5, cy - 6), (23, cy + 6)], c.filled())).map_err(e)?;
            }
            Marker::None => {}
        }
        let x = if matches!(marker, Marker::None) { 6 } else { text_x };
        for (i, line) in wrap(text, chars).iter().enumerate() {
            area.draw_text(
                line,
                &anchored(font(14.0), HPos::Left, VPos::Center),
                (x, cy + i as i32 * 16),
            )
            .map_err(e)?;
            if i > 0 {
                y += 16;
            }
        }
        y += 24;
    }
    Ok(y)
}

/// Draws a vertical colour bar titled `title` spanning [lo, hi] (display units).
fn draw_colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    top: i32,
    title: &str,
    lo: f64,
    hi: f64,
) -> Result<(), String> {
    let title = format!("colour: {title}");
    area.draw_text(&title, &anchored(font(14.0), HPos::Left, VPos::Center), (6, top + 8))
        .map_err(e)?;
    let (bar_top, bar_height, x0, x1) = (top + 24, 150, 10, 28);
    for i in 0..bar_height {
        // Top of the bar is the high end.
        let t = 1.0 - i as f64 / (bar_height - 1) as f64;
        area.draw(&Rectangle::new([(x0, bar_top + i), (x1, bar_top + i + 1)], viridis(t).filled()))
            .map_err(e)?;
    }
    area.draw(&Rectangle::new([(x0, bar_top), (x1, bar_top + bar_height)], MUTED.stroke_width(1)))
        .map_err(e)?;
    let decimals = tick_decimals(hi - lo).max(1);
    for (t, v) in [(0.0, hi), (0.5, (lo + hi) / 2.0), (1.0, lo)] {
        let y = bar_top + (t * bar_height as f64) as i32;
        area.draw(&PathElement::new(vec![(x1, y), (x1 + 4, y)], MUTED.stroke_width(1)))
            .map_err(e)?;
        area.draw_text(
            &format!("{v:.decimals$}"),
            &anchored(font(12.0), HPos::Left, VPos::Center),
            (x1 + 8, y),
        )
        .map_err(e)?;
    }
    Ok(())
}

/// One trade-off chart of a run: two objectives as axes, optionally a third as colour. The axes
/// are zoomed to the front (and the constraint lines); plans and the baseline beyond them are
/// drawn on the edge as triangles, so the front never shrinks to a sliver.
#[derive(Clone, Debug)]
pub(crate) struct ParetoChart {
    pub(crate) title: String,
    /// Axis titles with units.
    pub(crate) x_title: String,
    pub(crate) y_title: String,
    /// The title of the colour scale, when the front is coloured by a third objective.
    pub(crate) colour_title: Option<String>,
    /// Feasible plans off the front, display units.
    pub(crate) others: Vec<(f64, f64)>,
    /// Infeasible plans off the front.
    pub(crate) infeasible: Vec<(f64, f64)>,
    /// Front plans with their colour value.
    pub(crate) front: Vec<(f64, f64, f64)>,
    /// Whether the front is non-dominated in exactly these two objectives (draw its staircase).
    pub(crate) staircase: bool,
    /// Whether the front rows are infeasible (the "closest plans").
    pub(crate) front_infeasible: bool,
    pub(crate) baseline: Option<(f64, f64)>,
    /// Constraint lines: vertical (on x) and horizontal (on y), with their labels.
    pub(crate) x_limits: Vec<(f64, String)>,
    pub(crate) y_limits: Vec<(f64, String)>,
    /// Labelled plans (recommendations, knee).
    pub(crate) marks: Vec<(f64, f64, String)>,
    /// Legend lines explaining the marks.
    pub(crate) mark_legend: Vec<String>,
}

impl Draw for ParetoChart {
    fn size(&self) -> (u32, u32) {
        (960, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (main, side) = root.split_horizontally(740);
        let all_x = self
            .others
            .iter()
            .chain(&self.infeasible)
            .map(|p| p.0)
            .chain(self.front.iter().map(|p| p.0))
            .chain(self.baseline.map(|b| b.0))
            .chain(self.x_limits.iter().map(|l| l.0));
        let all_y = self
            .others
            .iter()
            .chain(&self.infeasible)
            .map(|p| p.1)
            .chain(self.front.iter().map(|p| p.1))
            .chain(self.baseline.map(|b| b.1))
            .chain(self.y_limits.iter().map(|l| l.0));
        let x_range = zoomed_range(
            self.front.iter().map(|p| p.0).chain(self.x_limits.iter().map(|l| l.0)),
            all_x,
        );
        let y_range = zoomed_range(
            self.front.iter().map(|p| p.1).chain(self.y_limits.iter().map(|l| l.0)),
            all_y,
        );
        // Points beyond the zoomed axes sit on the edge, drawn as triangles.
        let place = |p: (f64, f64)| -> ((f64, f64), bool) {
            let (x, cx) = clamp_to(p.0, &x_range);
            let (y, cy) = clamp_to(p.1, &y_range);
            ((x, y), cx || cy)
        };
        let (others_in, others_out): (Vec<_>, Vec<_>) =
            self.others.iter().map(|&p| place(p)).partition(|(_, out)| !out);
        let (infeasible_in, infeasible_out): (Vec<_>, Vec<_>) =
            self.infeasible.iter().map(|&p| place(p)).partition(|(_, out)| !out);
        let beyond = others_out.len() + infeasible_out.len();
        let x_decimals = tick_decimals(x_range.end - x_range.start);
        let y_decimals = tick_decimals(y_range.end - y_range.start);
        let mut chart = ChartBuilder::on(&main)
            .caption(&self.title, font(20.0))
            .margin(14)
            .x_label_area_size(52)
            .y_label_area_size(72)
            .build_cartesian_2d(x_range.clone(), y_range.clone())
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_title)
            .y_desc(&self.y_title)
            .axis_desc_style(font(16.0))
            .label_style(font_coloured(14.0, MUTED))
            .axis_style(MUTED)
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID_BOLD)
            .x_labels(8)
            .y_labels(8)
            .x_label_formatter(&|v| format!("{v:.x_decimals$}"))
            .y_label_formatter(&|v| format!("{v:.y_decimals$}"))
            .draw()
            .map_err(e)?;

        let faint = FAINT.mix(0.55);
        chart
            .draw_series(others_in.iter().map(|&(p, _)| Circle::new(p, 3, faint.filled())))
            .map_err(e)?;
        chart
            .draw_series(
                infeasible_in.iter().map(|&(p, _)| Circle::new(p, 3, faint.stroke_width(1))),
            )
            .map_err(e)?;
        chart
            .draw_series(
                others_out
                    .iter()
                    .chain(&infeasible_out)
                    .map(|&(p, _)| TriangleMarker::new(p, 4, faint.filled())),
            )
            .map_err(e)?;
        for (value, label) in &self.x_limits {
            let line = vec![(*value, y_range.start), (*value, y_range.end)];
            chart
                .draw_series(DashedLineSeries::new(line, 7, 5, CONSTRAINT.stroke_width(2)))
                .map_err(e)?;
            let (px, py) = chart.backend_coord(&(*value, y_range.end));
            main.draw_text(
                label,
                &anchored(font_coloured(14.0, CONSTRAINT), HPos::Left, VPos::Top),
                (px + 5, py + 4),
            )
            .map_err(e)?;
        }
        for (value, label) in &self.y_limits {
            let line = vec![(x_range.start, *value), (x_range.end, *value)];
            chart
                .draw_series(DashedLineSeries::new(line, 7, 5, CONSTRAINT.stroke_width(2)))
                .map_err(e)?;
            let (px, py) = chart.backend_coord(&(x_range.end, *value));
            main.draw_text(
                label,
                &anchored(font_coloured(14.0, CONSTRAINT), HPos::Right, VPos::Bottom),
                (px - 5, py - 4),
            )
            .map_err(e)?;
        }
        let (c_lo, c_hi) = self
            .front
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.2), hi.max(p.2)));
        let colour_of = |v: f64| -> RGBColor {
            match self.colour_title {
                Some(_) if c_hi > c_lo => viridis((v - c_lo) / (c_hi - c_lo)),
                Some(_) => viridis(0.5),
                None => FRONT,
            }
        };
        if self.staircase && self.front.len() > 1 {
            let mut sorted: Vec<(f64, f64)> = self.front.iter().map(|p| (p.0, p.1)).collect();
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut path = Vec::with_capacity(sorted.len() * 2);
            for (i, &(x, y)) in sorted.iter().enumerate() {
                if i > 0 {
                    path.push((x, sorted[i - 1].1));
                }
                path.push((x, y));
            }
            chart.draw_series(LineSeries::new(path, FRONT.mix(0.6).stroke_width(2))).map_err(e)?;
        }
        chart
            .draw_series(self.front.iter().map(|&(x, y, c)| {
                if self.front_infeasible {
                    Circle::new((x, y), 5, colour_of(c).stroke_width(2))
                } else {
                    Circle::new((x, y), 5, colour_of(c).filled())
                }
            }))
            .map_err(e)?;
        chart
            .draw_series(
                self.front
                    .iter()
                    .map(|&(x, y, _)| Circle::new((x, y), 5, INK.mix(0.5).stroke_width(1))),
            )
            .map_err(e)?;
        let baseline = self.baseline.map(place);
        if let Some((b, off)) = baseline {
            chart.draw_series(std::iter::once(Cross::new(b, 7, INK.stroke_width(2)))).map_err(e)?;
            let (px, py) = chart.backend_coord(&b);
            // A baseline beyond the axes is labelled from inside the plot.
            let (anchor, at) = match (off, px > (main.dim_in_pixel().0 as i32) / 2) {
                (true, true) => (HPos::Right, (px - 8, py + 8)),
                (true, false) => (HPos::Left, (px + 8, py + 8)),
                (false, _) => (HPos::Right, (px - 8, py - 6)),
            };
            let label = if off { "baseline (beyond the axes)" } else { "baseline" };
            main.draw_text(label, &anchored(font(14.0), anchor, VPos::Bottom), at).map_err(e)?;
        }
        chart
            .draw_series(
                self.marks
                    .iter()
                    .map(|&(x, y, _)| Circle::new((x, y), 10, HIGHLIGHT.stroke_width(3))),
            )
            .map_err(e)?;

        // Labels of the marked plans: try a few places around each point and keep the first that
        // stays inside the plot and clear of labels already placed.
        let (x_pixels, y_pixels) = chart.plotting_area().get_pixel_range();
        let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
        if let Some((b, _)) = baseline {
            let (px, py) = chart.backend_coord(&b);
            placed.push((px - 80, py - 24, px, py));
        }
        // Front points and the rings of the marked plans are obstacles too, so that a label sits
        // next to its own plan and not on a neighbour.
        for &(x, y, _) in &self.front {
            let (px, py) = chart.backend_coord(&(x, y));
            placed.push((px - 6, py - 6, px + 6, py + 6));
        }
        for &(x, y, _) in &self.marks {
            let (px, py) = chart.backend_coord(&(x, y));
            placed.push((px - 11, py - 11, px + 11, py + 11));
        }
        let label_font = font(14.0);
        for (x, y, label) in &self.marks {
            let (px, py) = chart.backend_coord(&(*x, *y));
            let (tw, th) = main.estimate_text_size(label, &label_font).map_err(e)?;
            let (tw, th) = (tw as i32, th as i32);
            let candidates = [
                (14, -th - 8),
                (14, 8),
                (-tw - 14, -th - 8),
                (-tw - 14, 8),
                (16, -th / 2),
                (-tw - 16, -th / 2),
                (-tw / 2, -th - 16),
                (-tw / 2, 16),
                (14, -th - 26),
                (-tw - 14, -th - 26),
                (14, 26),
                (-tw - 14, 26),
                (-tw / 2, -th - 34),
                (-tw / 2, 34),
            ];
            // Pixels of overlap with what is already there, plus a large penalty outside the plot;
            // the first place without any wins, else the least bad.
            let cost = |(dx, dy): (i32, i32)| -> i64 {
                let (x0, y0) = (px + dx, py + dy);
                let (x1, y1) = (x0 + tw, y0 + th);
                let outside = x0 < x_pixels.start
                    || x1 > x_pixels.end
                    || y0 < y_pixels.start
                    || y1 > y_pixels.end;
                let overlap: i64 = placed
                    .iter()
                    .map(|&(a0, b0, a1, b1)| {
                        let w = (x1.min(a1) - x0.max(a0) + 1).max(0) as i64;
                        let h = (y1.min(b1) - y0.max(b0) + 1).max(0) as i64;
                        w * h
                    })
                    .sum();
                overlap + if outside { 1_000_000 } else { 0 }
            };
            let (dx, dy) = candidates
                .iter()
                .copied()
                .find(|&c| cost(c) == 0)
                .or_else(|| candidates.iter().copied().min_by_key(|&c| cost(c)))
                .unwrap_or((14, -th - 8));
            let (x0, y0) = (px + dx, py + dy);
            main.draw(&Rectangle::new(
                [(x0 - 3, y0 - 2), (x0 + tw + 3, y0 + th + 2)],
                WHITE.mix(0.85).filled(),
            ))
            .map_err(e)?;
            main.draw_text(label, &anchored(label_font.clone(), HPos::Left, VPos::Top), (x0, y0))
                .map_err(e)?;
            placed.push((x0 - 3, y0 - 2, x0 + tw + 3, y0 + th + 2));
        }

        let mut entries: Vec<(Marker, String)> = Vec::new();
        let front_label = if self.front_infeasible {
            "closest plans (none feasible)".to_string()
        } else {
            "Pareto front (feasible, non-dominated)".to_string()
        };
        let front_marker = match (&self.colour_title, self.front_infeasible) {
            (_, true) => Marker::Hollow(FRONT),
            (Some(_), false) => Marker::Dot(viridis(0.5)),
            (None, false) => Marker::Line(FRONT),
        };
        entries.push((front_marker, front_label));
        if !self.others.is_empty() {
            entries.push((Marker::Dot(lighten(FAINT, 0.3)), "other evaluated plans".to_string()));
        }
        if !self.infeasible.is_empty() {
            entries.push((Marker::Hollow(FAINT), "plans that break a constraint".to_string()));
        }
        if beyond > 0 {
            entries.push((
                Marker::Triangle(lighten(FAINT, 0.3)),
                format!(
                    "{beyond} plan{} beyond the axes, on the edge",
                    if beyond == 1 { "" } else { "s" }
                ),
            ));
        }
        if self.baseline.is_some() {
            entries.push((Marker::Cross(INK), "baseline (uncompressed)".to_string()));
        }
        if !self.x_limits.is_empty() || !self.y_limits.is_empty() {
            entries.push((Marker::Dashed(CONSTRAINT), "constraint".to_string()));
        }
        if !self.marks.is_empty() {
            entries.push((Marker::Ring(HIGHLIGHT), "recommended plans:".to_string()));
            for line in &self.mark_legend {
                entries.push((Marker::None, line.clone()));
            }
        }
        let bottom = draw_legend(&side, 40, &entries)?;
        if let Some(title) = self.colour_title.as_ref().filter(|_| c_lo.is_finite()) {
            draw_colour_bar(&side, bottom + 10, title, c_lo, c_hi)?;
        }
        Ok(())
    }
}

/// One run in an overlay: its label, its points (display units) and whether to join them as a
/// staircase.
pub(crate) type Series = (String, Vec<(f64, f64)>, bool);

/// Fronts of several runs on shared axes.
#[derive(Clone, Debug)]
pub(crate) struct OverlayChart {
    pub(crate) title: String,
    /// Axis titles with units.
    pub(crate) x_title: String,
    pub(crate) y_title: String,
    /// Per run: label, points (display units), whether to join the points as a staircase.
    pub(crate) series: Vec<Series>,
}

impl Draw for OverlayChart {
    fn size(&self) -> (u32, u32) {
        (960, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (main, side) = root.split_horizontally(720);
        let x_range = padded_range(self.series.iter().flat_map(|s| s.1.iter().map(|p| p.0)));
        let y_range = padded_range(self.series.iter().flat_map(|s| s.1.iter().map(|p| p.1)));
        let x_decimals = tick_decimals(x_range.end - x_range.start);
        let y_decimals = tick_decimals(y_range.end - y_range.start);
        let mut chart = ChartBuilder::on(&main)
            .caption(&self.title, font(20.0))
            .margin(14)
            .x_label_area_size(52)
            .y_label_area_size(72)
            .build_cartesian_2d(x_range, y_range)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_title)
            .y_desc(&self.y_title)
            .axis_desc_style(font(16.0))
            .label_style(font_coloured(14.0, MUTED))
            .axis_style(MUTED)
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID_BOLD)
            .x_label_formatter(&|v| format!("{v:.x_decimals$}"))
            .y_label_formatter(&|v| format!("{v:.y_decimals$}"))
            .draw()
            .map_err(e)?;
        let mut entries = Vec::new();
        for (i, (label, points, staircase)) in self.series.iter().enumerate() {
            let colour = series_colour(i);
            if *staircase && points.len() > 1 {
                let mut sorted = points.clone();
                sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut path = Vec::new();
                for (j, &(x, y)) in sorted.iter().enumerate() {
                    if j > 0 {
                        path.push((x, sorted[j - 1].1));
                    }
                    path.push((x, y));
                }
                chart
                    .draw_series(LineSeries::new(path, colour.mix(0.7).stroke_width(2)))
                    .map_err(e)?;
            }
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 5, colour.filled())))
                .map_err(e)?;
            entries.push((
                if *staircase { Marker::Line(colour) } else { Marker::Dot(colour) },
                label.clone(),
            ));
        }
        draw_legend(&side, 40, &entries)?;
        Ok(())
    }
}

/// Hypervolume against evaluations.
#[derive(Clone, Debug)]
pub(crate) struct ConvergenceChart {
    pub(crate) points: Vec<(f64, f64)>,
}

impl Draw for ConvergenceChart {
    fn size(&self) -> (u32, u32) {
        (960, 380)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let x_max = self.points.iter().map(|p| p.0).fold(1.0, f64::max);
        let y_max = self.points.iter().map(|p| p.1).fold(0.0, f64::max);
        let y_max = if y_max > 0.0 { y_max * 1.08 } else { 1.0 };
        let y_decimals = tick_decimals(y_max);
        let mut chart = ChartBuilder::on(root)
            .caption("Hypervolume of the front against evaluations", font(20.0))
            .margin(14)
            .margin_right(40)
            .x_label_area_size(50)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..x_max * 1.02, 0.0..y_max)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("evaluations")
            .y_desc("hypervolume")
            .axis_desc_style(font(16.0))
            .label_style(font_coloured(14.0, MUTED))
            .axis_style(MUTED)
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID_BOLD)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.y_decimals$}"))
            .draw()
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(self.points.clone(), FRONT.stroke_width(2)))
            .map_err(e)?;
        chart
            .draw_series(self.points.iter().map(|&p| Circle::new(p, 3, FRONT.filled())))
            .map_err(e)?;
        Ok(())
    }
}

/// A metric per progressive step, before and after recovery, with the uncompressed baseline.
#[derive(Clone, Debug)]
pub(crate) struct StepsChart {
    pub(crate) metric: String,
    pub(crate) baseline: Option<f64>,
    /// (step, before recovery, after recovery), metric in percent.
    pub(crate) points: Vec<(f64, f64, f64)>,
}

impl Draw for StepsChart {
    fn size(&self) -> (u32, u32) {
        (960, 420)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let steps = self.points.iter().map(|p| p.0).fold(1.0, f64::max);
        let y = padded_range(
            self.points.iter().flat_map(|p| [p.1, p.2]).chain(self.baseline.iter().copied()),
        );
        let y_decimals = tick_decimals(y.end - y.start);
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{} after each progressive step", self.metric), font(20.0))
            .margin(14)
            .margin_right(40)
            .x_label_area_size(50)
            .y_label_area_size(90)
            .build_cartesian_2d(0.5..steps + 0.5, y)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc(format!("{} (%)", self.metric))
            .x_labels(steps as usize + 2)
            .axis_desc_style(font(16.0))
            .label_style(font_coloured(14.0, MUTED))
            .axis_style(MUTED)
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID_BOLD)
            .x_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-9 && *v >= 1.0 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| format!("{v:.y_decimals$}"))
            .draw()
            .map_err(e)?;
        if let Some(b) = self.baseline {
            chart
                .draw_series(LineSeries::new(
                    [(0.5, b), (steps + 0.5, b)],
                    CONSTRAINT.stroke_width(1),
                ))
                .map_err(e)?
                .label("uncompressed")
                .legend(|(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], CONSTRAINT.stroke_width(2))
                });
        }
        let before: Vec<(f64, f64)> = self.points.iter().map(|p| (p.0, p.1)).collect();
        let after: Vec<(f64, f64)> = self.points.iter().map(|p| (p.0, p.2)).collect();
        for (series, colour, label) in
            [(before, MEMORY, "compressed, before recovery"), (after, FRONT, "after recovery")]
        {
            chart
                .draw_series(LineSeries::new(series.clone(), colour.stroke_width(2)))
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(series.iter().map(|&p| Circle::new(p, 4, colour.filled())))
                .map_err(e)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(FAINT)
            .label_font(font(14.0))
            .draw()
            .map_err(e)?;
        Ok(())
    }
}

/// Weight bits, sparsity and rank ratio of one layer, each when known.
pub(crate) type LayerCell = (Option<f64>, Option<f64>, Option<f64>);

/// One column group of the per-layer heatmap.
#[derive(Clone, Debug)]
pub(crate) struct PlanLayers {
    pub(crate) label: String,
    /// Per layer (same order as [`LayersChart::layers`]): bits, sparsity, rank ratio.
    pub(crate) cells: Vec<Option<LayerCell>>,
}

/// Bits, sparsity and rank per layer of the recommended plans, as a heatmap.
#[derive(Clone, Debug)]
pub(crate) struct LayersChart {
    pub(crate) layers: Vec<String>,
    pub(crate) plans: Vec<PlanLayers>,
}

impl LayersChart {
    const ROW: i32 = 26;
    const TOP: i32 = 96;
}

/// How compressed a value looks: 0 = untouched, 1 = as compressed as sculpt goes.
fn intensity(kind: usize, value: f64) -> f64 {
    match kind {
        0 => (1.0 - value.max(1.0).log2() / 5.0).clamp(0.0, 1.0),
        1 => (value / 0.9).clamp(0.0, 1.0),
        _ => (1.0 - value).clamp(0.0, 1.0),
    }
}

fn compact(value: f64) -> String {
    if value.fract() == 0.0 { format!("{value:.0}") } else { crate::format::human(value) }
}

impl Draw for LayersChart {
    fn size(&self) -> (u32, u32) {
        let height = Self::TOP + Self::ROW * self.layers.len() as i32 + 24;
        (960, height.max(200) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (width, _) = root.dim_in_pixel();
        root.draw_text(
            "Compression per layer of the recommended plans",
            &anchored(font(20.0), HPos::Center, VPos::Top),
            (width as i32 / 2, 12),
        )
        .map_err(e)?;
        let name_font = font(14.0);
        let mut left = 20;
        for layer in &self.layers {
            let (w, _) = root.estimate_text_size(layer, &name_font).map_err(e)?;
            left = left.max(w as i32 + 24);
        }
        let left = left.min(width as i32 / 3);
        let n_plans = self.plans.len().max(1) as i32;
        let group = (width as i32 - left - 16) / n_plans;
        let cell = (group - 12) / 3;
        for (i, layer) in self.layers.iter().enumerate() {
            let y = Self::TOP + i as i32 * Self::ROW;
            root.draw_text(
                layer,
                &anchored(name_font.clone(), HPos::Right, VPos::Center),
                (left - 10, y + Self::ROW / 2),
            )
            .map_err(e)?;
        }
        let dark = RGBColor(8, 69, 148);
        let pale = RGBColor(241, 246, 252);
        for (g, plan) in self.plans.iter().enumerate() {
            let x0 = left + g as i32 * group;
            root.draw_text(
                &plan.label,
                &anchored(font(14.0), HPos::Center, VPos::Center),
                (x0 + (3 * cell) / 2, Self::TOP - 44),
            )
            .map_err(e)?;
            for (k, head) in ["bits", "sparsity", "rank"].iter().enumerate() {
                root.draw_text(
                    head,
                    &anchored(font_coloured(12.0, MUTED), HPos::Center, VPos::Center),
                    (x0 + k as i32 * cell + cell / 2, Self::TOP - 16),
                )
                .map_err(e)?;
            }
            for (i, cells) in plan.cells.iter().enumerate() {
                let y = Self::TOP + i as i32 * Self::ROW;
                let values = match cells {
                    Some((bits, sparsity, rank)) => [*bits, *sparsity, *rank],
                    None => [None, None, None],
                };
                for (k, value) in values.iter().enumerate() {
                    let x = x0 + k as i32 * cell;
                    let (fill, text, text_colour) = match value {
                        Some(v) => {
                            let t = intensity(k, *v);
                            let mix =
                                |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
                            let fill = RGBColor(
                                mix(pale.0, dark.0),
                                mix(pale.1, dark.1),
                                mix(pale.2, dark.2),
                            );
                            (fill, compact(*v), if t > 0.45 { WHITE } else { INK })
                        }
                        None => (RGBColor(248, 249, 250), "–".to_string(), MUTED),
                    };
                    root.draw(&Rectangle::new(
                        [(x + 1, y + 1), (x + cell - 1, y + Self::ROW - 1)],
                        fill.filled(),
                    ))
                    .map_err(e)?;
                    root.draw_text(
                        &text,
                        &anchored(font_coloured(12.0, text_colour), HPos::Center, VPos::Center),
                        (x + cell / 2, y + Self::ROW / 2),
                    )
                    .map_err(e)?;
                }
            }
        }
        Ok(())
    }
}

/// Per-layer latency and energy of the baseline and a plan, coloured by what bounds each layer.
#[derive(Clone, Debug)]
pub(crate) struct TimeChart {
    pub(crate) plan_label: String,
    pub(crate) layers: Vec<String>,
    /// Per layer: baseline (latency s, energy J, bound), plan (latency s, energy J, bound).
    pub(crate) baseline: Vec<Option<(f64, f64, String)>>,
    pub(crate) plan: Vec<Option<(f64, f64, String)>>,
}

impl TimeChart {
    const ROW: i32 = 34;
    const TOP: i32 = 86;
}

fn bound_colour(bound: &str) -> RGBColor {
    match bound {
        "compute" => COMPUTE,
        "memory" => MEMORY,
        _ => OVERHEAD,
    }
}

/// Picks a unit so that the largest value reads as a number between 1 and 1000.
fn scaled_unit(max_si: f64, units: [(&'static str, f64); 3]) -> (&'static str, f64) {
    for (name, factor) in units {
        if max_si * factor >= 1.0 {
            return (name, factor);
        }
    }
    units[2]
}

impl Draw for TimeChart {
    fn size(&self) -> (u32, u32) {
        let height = Self::TOP + Self::ROW * self.layers.len() as i32 + 64;
        (960, height.max(220) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (width, height) = root.dim_in_pixel();
        root.draw_text(
            &format!("Where the time and energy go: baseline and {}", self.plan_label),
            &anchored(font(20.0), HPos::Center, VPos::Top),
            (width as i32 / 2, 12),
        )
        .map_err(e)?;
        // Legend row under the title.
        let legend = [
            (Marker::Swatch(COMPUTE), "compute-bound"),
            (Marker::Swatch(MEMORY), "memory-bound"),
            (Marker::Swatch(OVERHEAD), "overhead-bound"),
        ];
        let mut x = 150;
        for (marker, text) in &legend {
            if let Marker::Swatch(c) = marker {
                root.draw(&Rectangle::new([(x, 46), (x + 16, 58)], c.filled())).map_err(e)?;
            }
            root.draw_text(text, &anchored(font(14.0), HPos::Left, VPos::Center), (x + 22, 52))
                .map_err(e)?;
            x += 150;
        }
        root.draw_text(
            &format!("pale bar: baseline · solid bar: {}", self.plan_label),
            &anchored(font_coloured(14.0, MUTED), HPos::Left, VPos::Center),
            (x, 52),
        )
        .map_err(e)?;

        let name_font = font(14.0);
        let mut left = 20;
        for layer in &self.layers {
            let (w, _) = root.estimate_text_size(layer, &name_font).map_err(e)?;
            left = left.max(w as i32 + 20);
        }
        let left = left.min(width as i32 / 4);
        let panel_width = (width as i32 - left - 30) / 2;
        let max_of = |pick: &dyn Fn(&(f64, f64, String)) -> f64| {
            self.baseline.iter().chain(&self.plan).flatten().map(pick).fold(0.0, f64::max)
        };
        let panels = [
            (
                "latency",
                max_of(&|v| v.0),
                scaled_unit(max_of(&|v| v.0), [("ms", 1e3), ("µs", 1e6), ("ns", 1e9)]),
                0,
            ),
            (
                "energy",
                max_of(&|v| v.1),
                scaled_unit(max_of(&|v| v.1), [("mJ", 1e3), ("µJ", 1e6), ("nJ", 1e9)]),
                1,
            ),
        ];
        for (layer_idx, layer) in self.layers.iter().enumerate() {
            let y = Self::TOP + layer_idx as i32 * Self::ROW;
            root.draw_text(
                layer,
                &anchored(name_font.clone(), HPos::Right, VPos::Center),
                (left - 10, y + Self::ROW / 2),
            )
            .map_err(e)?;
        }
        for (p, (what, max_si, (unit, factor), which)) in panels.iter().enumerate() {
            let x0 = left + p as i32 * (panel_width + 20);
            let plot_width = panel_width - 10;
            let step = nice_step((max_si * factor).max(1e-12), 4);
            let max_display = ((max_si * factor) / step).ceil().max(1.0) * step;
            let to_px =
                |v: f64| x0 + ((v * factor) / max_display * plot_width as f64).round() as i32;
            let bottom = Self::TOP + self.layers.len() as i32 * Self::ROW;
            // Grid and ticks.
            let decimals = step_decimals(step);
            let n_ticks = (max_display / step).round() as i32;
            for k in 0..=n_ticks {
                let v = step * k as f64;
                let px = x0 + (v / max_display * plot_width as f64).round() as i32;
                root.draw(&PathElement::new(
                    vec![(px, Self::TOP - 4), (px, bottom)],
                    GRID_BOLD.stroke_width(1),
                ))
                .map_err(e)?;
                root.draw_text(
                    &format!("{v:.decimals$}"),
                    &anchored(font_coloured(12.0, MUTED), HPos::Center, VPos::Top),
                    (px, bottom + 6),
                )
                .map_err(e)?;
            }
            root.draw_text(
                &format!("{what} per layer ({unit})"),
                &anchored(font(14.0), HPos::Center, VPos::Top),
                (x0 + plot_width / 2, (height as i32 - 24).max(bottom + 24)),
            )
            .map_err(e)?;
            for layer_idx in 0..self.layers.len() {
                let y = Self::TOP + layer_idx as i32 * Self::ROW;
                for (series, (values, pale)) in
                    [(&self.baseline, true), (&self.plan, false)].iter().enumerate()
                {
                    let Some(entry) = values.get(layer_idx).and_then(|v| v.as_ref()) else {
                        continue;
                    };
                    let v = if *which == 0 { entry.0 } else { entry.1 };
                    let colour = bound_colour(&entry.2);
                    let fill = if *pale { lighten(colour, 0.6) } else { colour };
                    let top = y + 4 + series as i32 * 13;
                    root.draw(&Rectangle::new(
                        [(x0, top), (to_px(v).max(x0 + 1), top + 12)],
                        fill.filled(),
                    ))
                    .map_err(e)?;
                }
            }
            root.draw(&PathElement::new(
                vec![(x0, Self::TOP - 4), (x0, bottom)],
                MUTED.stroke_width(1),
            ))
            .map_err(e)?;
        }
        Ok(())
    }
}

/// Per-layer sensitivity: the worst option's delta as a bar, every option as a dot.
#[derive(Clone, Debug)]
pub(crate) struct SensitivityChart {
    /// Per layer: name, (option label, delta in display units) for every option.
    pub(crate) layers: Vec<(String, Vec<(String, f64)>)>,
    /// The axis title of the loss, with its unit (`accuracy loss (points)`).
    pub(crate) axis_title: String,
    /// What follows a value in a label (` pts`, or nothing for a dimensionless loss).
    pub(crate) value_suffix: String,
}

impl SensitivityChart {
    const ROW: i32 = 26;
    const TOP: i32 = 56;
}

impl Draw for SensitivityChart {
    fn size(&self) -> (u32, u32) {
        let height = Self::TOP + Self::ROW * self.layers.len() as i32 + 64;
        (960, height.max(200) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (width, height) = root.dim_in_pixel();
        root.draw_text(
            "Accuracy-proxy loss when only this layer is compressed",
            &anchored(font(20.0), HPos::Center, VPos::Top),
            (width as i32 / 2, 12),
        )
        .map_err(e)?;
        let name_font = font(14.0);
        let mut left = 20;
        for (layer, _) in &self.layers {
            let (w, _) = root.estimate_text_size(layer, &name_font).map_err(e)?;
            left = left.max(w as i32 + 20);
        }
        let left = left.min(width as i32 / 4);
        let right_margin = 190;
        let plot_width = width as i32 - left - right_margin;
        let max = self.layers.iter().flat_map(|l| l.1.iter().map(|o| o.1)).fold(0.0, f64::max);
        let min = self.layers.iter().flat_map(|l| l.1.iter().map(|o| o.1)).fold(0.0, f64::min);
        let step = nice_step((max - min).max(1e-9), 5);
        let lo = (min / step).floor() * step;
        let hi = ((max / step).ceil() * step).max(lo + step);
        let span = hi - lo;
        let to_px = |v: f64| left + ((v - lo) / span * plot_width as f64).round() as i32;
        let bottom = Self::TOP + self.layers.len() as i32 * Self::ROW;
        let decimals = step_decimals(step);
        let n_ticks = (span / step).round() as i32;
        for k in 0..=n_ticks {
            let v = lo + step * k as f64;
            let px = to_px(v);
            root.draw(&PathElement::new(
                vec![(px, Self::TOP - 4), (px, bottom)],
                GRID_BOLD.stroke_width(1),
            ))
            .map_err(e)?;
            root.draw_text(
                &format!("{v:.decimals$}"),
                &anchored(font_coloured(12.0, MUTED), HPos::Center, VPos::Top),
                (px, bottom + 6),
            )
            .map_err(e)?;
        }
        root.draw_text(
            &format!("{} · bar: the most damaging option · dots: every option", self.axis_title),
            &anchored(font(14.0), HPos::Center, VPos::Top),
            (left + plot_width / 2, (height as i32 - 26).max(bottom + 24)),
        )
        .map_err(e)?;
        for (i, (layer, options)) in self.layers.iter().enumerate() {
            let y = Self::TOP + i as i32 * Self::ROW;
            root.draw_text(
                layer,
                &anchored(name_font.clone(), HPos::Right, VPos::Center),
                (left - 10, y + Self::ROW / 2),
            )
            .map_err(e)?;
            let worst = options.iter().max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((label, delta)) = worst {
                root.draw(&Rectangle::new(
                    [(to_px(0.0), y + 6), (to_px(*delta).max(to_px(0.0) + 1), y + Self::ROW - 6)],
                    lighten(FRONT, 0.45).filled(),
                ))
                .map_err(e)?;
                root.draw_text(
                    &format!("{label} · {}{}", crate::format::human(*delta), self.value_suffix),
                    &anchored(font_coloured(12.0, MUTED), HPos::Left, VPos::Center),
                    (to_px(max) + 8, y + Self::ROW / 2),
                )
                .map_err(e)?;
            }
            for (_, delta) in options {
                root.draw(&Circle::new(
                    (to_px(*delta), y + Self::ROW / 2),
                    3,
                    INK.mix(0.7).filled(),
                ))
                .map_err(e)?;
            }
        }
        root.draw(&PathElement::new(
            vec![(to_px(0.0), Self::TOP - 4), (to_px(0.0), bottom)],
            MUTED.stroke_width(1),
        ))
        .map_err(e)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_zoom_to_the_front_and_clamp_the_rest() {
        // The front spans 0..2; a plan at 90 must not stretch the axis.
        let range = zoomed_range([0.0, 1.0, 2.0].into_iter(), [0.0, 1.0, 2.0, 90.0].into_iter());
        assert!(range.start < 0.0 && range.start > -0.2, "{range:?}");
        assert!(range.end > 2.0 && range.end < 2.2, "{range:?}");
        assert_eq!(clamp_to(90.0, &range), (range.end, true));
        assert_eq!(clamp_to(1.0, &range), (1.0, false));
        // A single front point spans nothing: every value sets the range.
        let range = zoomed_range([5.0].into_iter(), [0.0, 5.0, 10.0].into_iter());
        assert!(range.start < 0.0 && range.end > 10.0, "{range:?}");
    }

    #[test]
    fn round_tick_steps() {
        assert_eq!(nice_step(4.27, 4), 2.0);
        assert_eq!(nice_step(0.0035, 4), 0.001);
        assert_eq!(nice_step(35.0, 4), 10.0);
        assert_eq!(nice_step(1.9, 4), 0.5);
        assert_eq!(step_decimals(0.5), 1);
        assert_eq!(step_decimals(2.5), 1);
        assert_eq!(step_decimals(0.001), 3);
        assert_eq!(step_decimals(10.0), 0);
    }

    #[test]
    fn wrap_splits_at_spaces() {
        assert_eq!(
            wrap("R1: at most 0.7 ms latency", 12),
            vec!["R1: at most", "0.7 ms", "latency"]
        );
    }

    #[test]
    fn units_scale_to_readable_numbers() {
        let units = [("ms", 1e3), ("µs", 1e6), ("ns", 1e9)];
        assert_eq!(scaled_unit(0.0036, units).0, "ms");
        assert_eq!(scaled_unit(0.000_12, units).0, "µs");
        assert_eq!(scaled_unit(2e-8, units).0, "ns");
    }

    #[test]
    fn intensity_orders_compression() {
        assert_eq!(intensity(0, 32.0), 0.0);
        assert!(intensity(0, 4.0) > intensity(0, 8.0));
        assert_eq!(intensity(2, 1.0), 0.0);
        assert!(intensity(1, 0.5) > intensity(1, 0.25));
    }
}
