//! Terminal output: aligned tables, CSV and JSON, and number formatting.

use std::fmt::Write;
use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;

/// How a command prints its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// An aligned table for people.
    Table,
    /// JSON for programs.
    Json,
    /// CSV, one row per item.
    Csv,
}

/// Formats rows as a left-aligned text table (numbers right-aligned).
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..headers.len())
        .map(|c| {
            rows.iter().all(|r| {
                r.get(c).is_none_or(|v| {
                    v.is_empty()
                        || v.parse::<f64>().is_ok()
                        || v.replace(',', "").parse::<f64>().is_ok()
                })
            })
        })
        .collect();
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, v)| {
                let pad = widths[c].saturating_sub(v.chars().count());
                if numeric[c] {
                    format!("{}{v}", " ".repeat(pad))
                } else {
                    format!("{v}{}", " ".repeat(pad))
                }
            })
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&mut out, &headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    line(&mut out, &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
    for row in rows {
        line(&mut out, row);
    }
    out
}

/// Formats rows as CSV (fields with commas, quotes or newlines are quoted).
pub(crate) fn csv(headers: &[&str], rows: &[Vec<String>]) -> anyhow::Result<String> {
    let mut out = ::csv::Writer::from_writer(Vec::new());
    out.write_record(headers)?;
    for row in rows {
        out.write_record(row)?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8(bytes)?)
}

/// Writes `bytes` to `path` atomically; an error says what was being written where.
pub(crate) fn write_file(path: &Path, bytes: &[u8], what: &str) -> anyhow::Result<()> {
    sculpt_stdx::write_atomic(path, bytes)
        .with_context(|| format!("cannot write {what} to {}", path.display()))
}

/// An integer with thousands separators: 3504872 → "3,504,872".
pub(crate) fn thousands(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A shape as `1x3x224x224`.
pub(crate) fn shape(dims: &[usize]) -> String {
    dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(3_504_872), "3,504,872");
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(
            csv(&["a", "b"], &[vec!["x,y".into(), "q\"".into()]]).unwrap(),
            "a,b\n\"x,y\",\"q\"\"\"\n"
        );
    }

    #[test]
    fn table_aligns_numbers_right() {
        let t =
            table(&["name", "n"], &[vec!["a".into(), "5".into()], vec!["bb".into(), "100".into()]]);
        assert_eq!(t, "name    n\n----  ---\na       5\nbb    100\n");
    }
}
