//! A small document model rendered twice: as one self-contained HTML file and as Markdown.
//!
//! Building the content once keeps the two formats saying the same thing; each renderer only
//! decides how it looks.

use crate::charts::Figure;
use crate::format;

/// A run of text.
#[derive(Clone, Debug)]
pub(crate) enum Inline {
    Text(String),
    Strong(String),
    Code(String),
    Link { text: String, href: String },
}

/// Text in which `backticked` parts are code, as in the crate's notes and messages.
pub(crate) fn rich(s: &str) -> Vec<Inline> {
    s.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| if i % 2 == 1 { code(part) } else { text(part) })
        .collect()
}

pub(crate) fn text(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

pub(crate) fn strong(s: impl Into<String>) -> Inline {
    Inline::Strong(s.into())
}

pub(crate) fn code(s: impl Into<String>) -> Inline {
    Inline::Code(s.into())
}

/// A table cell; numeric cells carry the exact value and the column it came from.
#[derive(Clone, Debug)]
pub(crate) struct Cell {
    pub(crate) content: Vec<Inline>,
    /// (column name, exact value as written in the CSV) for machine-readable numbers.
    pub(crate) value: Option<(String, String)>,
    pub(crate) numeric: bool,
}

impl Cell {
    pub(crate) fn text(s: impl Into<String>) -> Cell {
        Cell { content: vec![text(s)], value: None, numeric: false }
    }

    pub(crate) fn inlines(content: Vec<Inline>) -> Cell {
        Cell { content, value: None, numeric: false }
    }

    /// A number shown as `shown`, with its exact value for `data-value`.
    pub(crate) fn number(shown: String, column: &str, exact: Option<f64>) -> Cell {
        Cell {
            content: vec![text(shown)],
            value: exact.map(|v| (column.to_string(), v.to_string())),
            numeric: true,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) cells: Vec<Cell>,
    /// Extra `data-*` attributes of the HTML row (name without the prefix, value).
    pub(crate) data: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub(crate) struct DocTable {
    pub(crate) id: String,
    pub(crate) header: Vec<String>,
    pub(crate) rows: Vec<Row>,
}

/// How a callout looks: a finding, or a warning about missing data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tone {
    Finding,
    Warning,
}

#[derive(Clone, Debug)]
pub(crate) enum Block {
    Para(Vec<Inline>),
    Small(Vec<Inline>),
    Callout {
        tone: Tone,
        lines: Vec<Vec<Inline>>,
    },
    /// Big numbers with a small label each, under a heading line.
    KeyFigures {
        heading: Vec<Inline>,
        figures: Vec<(String, String)>,
    },
    Table(DocTable),
    Figure(Figure),
}

#[derive(Clone, Debug)]
pub(crate) struct Section {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) blocks: Vec<Block>,
}

#[derive(Clone, Debug)]
pub(crate) struct Document {
    pub(crate) title: String,
    pub(crate) subtitle: String,
    pub(crate) sections: Vec<Section>,
}

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: #212529;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 28px 60px; }
header { border-bottom: 3px solid #0072b2; margin-bottom: 18px; padding-bottom: 10px; }
h1 { font-size: 26px; margin: 0 0 4px; }
.subtitle { color: #6c757d; margin: 0; }
nav { font-size: 13px; margin: 10px 0 0; }
nav a { color: #0072b2; margin-right: 14px; text-decoration: none; }
section { background: #fff; border: 1px solid #e3e6ea; border-radius: 6px; padding: 18px 22px; margin: 18px 0; }
h2 { font-size: 20px; margin: 0 0 12px; }
p { margin: 8px 0; }
.small { color: #6c757d; font-size: 13px; }
.callout { border-left: 4px solid #0072b2; background: #eef6fb; padding: 10px 14px; margin: 10px 0; border-radius: 0 4px 4px 0; }
.callout.warning { border-left-color: #e69f00; background: #fff7e6; }
.callout p { margin: 4px 0; }
.keyfigures h3 { font-size: 16px; font-weight: 600; margin: 4px 0 10px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { flex: 1 1 180px; border: 1px solid #e3e6ea; border-radius: 6px; padding: 10px 14px; background: #fbfcfd; }
.card .big { font-size: 26px; font-weight: 650; color: #0b3d66; line-height: 1.2; }
.card .label { color: #6c757d; font-size: 13px; }
ul { margin: 6px 0; padding-left: 22px; }
figure { margin: 14px 0; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { color: #6c757d; font-size: 13px; margin-top: 4px; }
.tablewrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 8px 0; }
th, td { padding: 5px 8px; border-bottom: 1px solid #e9ecef; text-align: left; vertical-align: top; }
th { background: #f1f3f5; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; background: #f1f3f5; padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
a { color: #0072b2; }
@media print { body { background: #fff; } section { border: none; padding: 0; } nav { display: none; } }
"#;

fn inline_html(inlines: &[Inline]) -> String {
    let mut out = String::new();
    for inline in inlines {
        match inline {
            Inline::Text(s) => out.push_str(&format::html(s)),
            Inline::Strong(s) => {
                out.push_str("<strong>");
                out.push_str(&format::html(s));
                out.push_str("</strong>");
            }
            Inline::Code(s) => {
                out.push_str("<code>");
                out.push_str(&format::html(s));
                out.push_str("</code>");
            }
            Inline::Link { text, href } => {
                out.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    format::html(href),
                    format::html(text)
                ));
            }
        }
    }
    out
}

fn inline_markdown(inlines: &[Inline]) -> String {
    let mut out = String::new();
    for inline in inlines {
        match inline {
            Inline::Text(s) => out.push_str(&format::markdown(s)),
            Inline::Strong(s) => {
                out.push_str("**");
                out.push_str(&format::markdown(s));
                out.push_str("**");
            }
            Inline::Code(s) => {
                let tick = if s.contains('`') { "`` " } else { "`" };
                let close = if s.contains('`') { " ``" } else { "`" };
                out.push_str(tick);
                out.push_str(&s.replace('|', "\\|").replace('\n', " "));
                out.push_str(close);
            }
            Inline::Link { text, href } => {
                out.push_str(&format!(
                    "[{}]({})",
                    format::markdown(text),
                    href.replace(' ', "%20").replace('(', "%28").replace(')', "%29")
                ));
            }
        }
    }
    out
}

/// Prepares plotters' SVG for inlining: no fixed size (it scales with the page), no namespace
/// URL (HTML does not need it), and an accessible label.
fn inline_svg(svg: &str, caption: &str) -> String {
    let Some(start) = svg.find("<svg") else {
        return String::new();
    };
    let Some(end) = svg[start..].find('>').map(|i| start + i) else {
        return String::new();
    };
    let open = &svg[start..end];
    let view_box = open
        .split("viewBox=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("0 0 960 600");
    format!(
        "<svg viewBox=\"{}\" role=\"img\" aria-label=\"{}\" preserveAspectRatio=\"xMidYMid meet\">{}",
        format::html(view_box),
        format::html(caption),
        &svg[end + 1..]
    )
}

impl Document {
    /// One self-contained HTML file: inline CSS and SVG, no scripts, no external resources.
    pub(crate) fn to_html(&self) -> String {
        let mut out = String::with_capacity(256 * 1024);
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        out.push_str(&format!("<title>{}</title>\n", format::html(&self.title)));
        out.push_str("<style>");
        out.push_str(CSS);
        out.push_str("</style>\n</head>\n<body>\n<main>\n<header>\n");
        out.push_str(&format!("<h1>{}</h1>\n", format::html(&self.title)));
        out.push_str(&format!("<p class=\"subtitle\">{}</p>\n<nav>", format::html(&self.subtitle)));
        for section in &self.sections {
            out.push_str(&format!(
                "<a href=\"#{}\">{}</a>",
                format::html(&section.id),
                format::html(&section.title)
            ));
        }
        out.push_str("</nav>\n</header>\n");
        for section in &self.sections {
            out.push_str(&format!("<section id=\"{}\">\n", format::html(&section.id)));
            out.push_str(&format!("<h2>{}</h2>\n", format::html(&section.title)));
            for block in &section.blocks {
                block_html(block, &mut out);
            }
            out.push_str("</section>\n");
        }
        out.push_str("</main>\n</body>\n</html>\n");
        out
    }

    /// Markdown for pull requests and wikis; charts are referenced as `NAME.png` next to it.
    pub(crate) fn to_markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "# {}\n\n{}\n\n",
            format::markdown(&self.title),
            format::markdown(&self.subtitle)
        ));
        for section in &self.sections {
            out.push_str(&format!("## {}\n\n", format::markdown(&section.title)));
            for block in &section.blocks {
                block_markdown(block, &mut out);
            }
        }
        out
    }
}

fn block_html(block: &Block, out: &mut String) {
    match block {
        Block::Para(inlines) => out.push_str(&format!("<p>{}</p>\n", inline_html(inlines))),
        Block::Small(inlines) => {
            out.push_str(&format!("<p class=\"small\">{}</p>\n", inline_html(inlines)))
        }
        Block::Callout { tone, lines } => {
            let class = match tone {
                Tone::Finding => "callout",
                Tone::Warning => "callout warning",
            };
            out.push_str(&format!("<div class=\"{class}\">\n"));
            for line in lines {
                out.push_str(&format!("<p>{}</p>\n", inline_html(line)));
            }
            out.push_str("</div>\n");
        }
        Block::KeyFigures { heading, figures } => {
            out.push_str(&format!(
                "<div class=\"keyfigures\"><h3>{}</h3><div class=\"cards\">\n",
                inline_html(heading)
            ));
            for (big, label) in figures {
                out.push_str(&format!(
                    "<div class=\"card\"><div class=\"big\">{}</div><div class=\"label\">{}</div></div>\n",
                    format::html(big),
                    format::html(label)
                ));
            }
            out.push_str("</div></div>\n");
        }
        Block::Table(table) => {
            out.push_str(&format!(
                "<div class=\"tablewrap\"><table id=\"{}\">\n<thead><tr>",
                format::html(&table.id)
            ));
            for head in &table.header {
                out.push_str(&format!("<th>{}</th>", format::html(head)));
            }
            out.push_str("</tr></thead>\n<tbody>\n");
            for row in &table.rows {
                out.push_str("<tr");
                for (name, value) in &row.data {
                    out.push_str(&format!(
                        " data-{}=\"{}\"",
                        format::html(name),
                        format::html(value)
                    ));
                }
                out.push('>');
                for cell in &row.cells {
                    out.push_str("<td");
                    if cell.numeric {
                        out.push_str(" class=\"num\"");
                    }
                    if let Some((column, value)) = &cell.value {
                        out.push_str(&format!(
                            " data-column=\"{}\" data-value=\"{}\"",
                            format::html(column),
                            format::html(value)
                        ));
                    }
                    out.push('>');
                    out.push_str(&inline_html(&cell.content));
                    out.push_str("</td>");
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody>\n</table></div>\n");
        }
        Block::Figure(figure) => {
            out.push_str(&format!("<figure id=\"fig-{}\">\n", format::html(&figure.name)));
            out.push_str(&inline_svg(&figure.svg, &figure.caption));
            out.push_str(&format!(
                "\n<figcaption>{}</figcaption>\n</figure>\n",
                format::html(&figure.caption)
            ));
        }
    }
}

fn block_markdown(block: &Block, out: &mut String) {
    match block {
        Block::Para(inlines) => out.push_str(&format!("{}\n\n", inline_markdown(inlines))),
        Block::Small(inlines) => out.push_str(&format!("_{}_\n\n", inline_markdown(inlines))),
        Block::Callout { tone, lines } => {
            let quoted: Vec<String> = lines
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    let prefix = if i == 0 && *tone == Tone::Warning { "**Note:** " } else { "" };
                    format!("> {prefix}{}\n", inline_markdown(line))
                })
                .collect();
            out.push_str(&quoted.join(">\n"));
            out.push('\n');
        }
        Block::KeyFigures { heading, figures } => {
            out.push_str(&format!("**{}**\n\n", inline_markdown(heading)));
            for (big, label) in figures {
                out.push_str(&format!(
                    "- **{}** {}\n",
                    format::markdown(big),
                    format::markdown(label)
                ));
            }
            out.push('\n');
        }
        Block::Table(table) => {
            let header: Vec<String> = table.header.iter().map(|h| format::markdown(h)).collect();
            out.push_str(&format!("| {} |\n", header.join(" | ")));
            let rule: Vec<&str> = table
                .header
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    let numeric =
                        table.rows.first().and_then(|r| r.cells.get(i)).is_some_and(|c| c.numeric);
                    if numeric { "---:" } else { "---" }
                })
                .collect();
            out.push_str(&format!("| {} |\n", rule.join(" | ")));
            for row in &table.rows {
                let cells: Vec<String> =
                    row.cells.iter().map(|c| inline_markdown(&c.content)).collect();
                out.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
            out.push('\n');
        }
        Block::Figure(figure) => {
            out.push_str(&format!(
                "![{}]({}.png)\n\n_{}_\n\n",
                format::markdown(&figure.caption),
                figure.name,
                format::markdown(&figure.caption)
            ));
        }
    }
}
