//! Helpers shared by the integration tests. They parse files with their own small code (plain
//! string splitting, the `png` crate), never with sculpt-report, so that a test compares the
//! report with an independent reading of the inputs.
#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A sample run directory under tests/fixtures/runs/.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/runs").join(name)
}

/// A fresh, empty output folder for one test, kept under target/tmp for inspection.
pub fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies a folder tree (fixtures are small).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A copy of a fixture run in a fresh folder, to be damaged by a test.
pub fn fixture_copy(name: &str, test: &str) -> PathBuf {
    let dir = out_dir(test).join(name);
    copy_dir(&fixture(name), &dir);
    dir
}

/// Rows of a simple CSV file (no quoted fields) as column → text maps.
pub fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), header.len(), "{}: {line}", path.display());
            header.iter().cloned().zip(cells.iter().map(|c| c.to_string())).collect()
        })
        .collect()
}

/// The text between `start` and the next `end` after it.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = text.find(start)? + start.len();
    let j = text[i..].find(end)? + i;
    Some(&text[i..j])
}

/// The value of attribute `name` in one HTML tag's text.
pub fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    between(tag, &format!(" {name}=\""), "\"")
}

/// Rows of the HTML table with this id: (data-plan-id, [(data-column, data-value)]).
pub fn html_table_values(html: &str, id: &str) -> Vec<(String, Vec<(String, String)>)> {
    let table = between(html, &format!("<table id=\"{id}\">"), "</table>").expect("table present");
    let mut rows = Vec::new();
    for row in table.split("<tr").skip(1) {
        let Some(plan) = attribute(row, "data-plan-id") else { continue };
        let mut cells = Vec::new();
        for cell in row.split("<td").skip(1) {
            let tag = &cell[..cell.find('>').unwrap()];
            if let (Some(column), Some(value)) =
                (attribute(tag, "data-column"), attribute(tag, "data-value"))
            {
                cells.push((column.to_string(), value.to_string()));
            }
        }
        rows.push((plan.to_string(), cells));
    }
    rows
}

/// The first Markdown pipe table after the heading line `heading`: header cells and rows.
pub fn markdown_table(md: &str, heading: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let start = md.find(heading).expect("heading present");
    let lines: Vec<&str> = md[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    let split = |line: &str| -> Vec<String> {
        line.trim().trim_matches('|').split(" | ").map(|c| c.trim().to_string()).collect()
    };
    let header = split(lines[0]);
    let rows = lines[2..].iter().map(|l| split(l)).collect();
    (header, rows)
}

/// Checks that `shown`, printed with `digits` significant digits, is `exact` rounded.
pub fn assert_rounded(shown: &str, exact: f64, digits: i32, what: &str) {
    let value: f64 = shown.parse().unwrap_or_else(|_| panic!("{what}: `{shown}` is not a number"));
    let tolerance = if exact == 0.0 {
        0.0
    } else {
        0.5 * 10f64.powi(exact.abs().log10().floor() as i32 - digits + 1)
    };
    assert!(
        (value - exact).abs() <= tolerance * 1.000001,
        "{what}: shown {shown}, exact {exact} (tolerance {tolerance})"
    );
    // Fixed formatting: exactly `digits` significant digits (unless the value is an integer with more).
    let significant: String =
        shown.trim_start_matches('-').chars().filter(|c| c.is_ascii_digit()).collect();
    let significant = significant.trim_start_matches('0');
    assert!(
        significant.len() as i32 >= digits || !shown.contains('.'),
        "{what}: `{shown}` has fewer than {digits} significant digits"
    );
}

/// Asserts the HTML loads nothing from elsewhere and runs no code.
pub fn assert_self_contained(html: &str) {
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "no scripts");
    assert!(!lower.contains("http://") && !lower.contains("https://"), "no URLs at all");
    for bad in [
        "src=",
        "@import",
        "url(",
        "<link",
        "<iframe",
        "<object",
        "<embed",
        " onload=",
        " onclick=",
        " onerror=",
    ] {
        assert!(!lower.contains(bad), "no `{bad}` in the HTML");
    }
    assert_eq!(
        html.matches("<svg").count(),
        html.matches("</svg>").count(),
        "every <svg is closed"
    );
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
}

/// Decodes a PNG: (width, height, number of distinct colours).
pub fn png_info(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let channels = info.color_type.samples();
    let colours: HashSet<&[u8]> = bytes.chunks(channels).collect();
    (info.width, info.height, colours.len())
}
