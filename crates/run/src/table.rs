//! CSV tables as text cells, read with the `csv` crate, and the conversions that turn a cell into
//! a typed value with a message naming the file, the line and the column.

use std::collections::HashMap;
use std::path::Path;

/// A CSV table with every cell as text (trimmed; empty cells are `None`).
pub(crate) struct TextTable {
    name: String,
    n_rows: usize,
    columns: HashMap<String, Vec<Option<String>>>,
}

impl TextTable {
    /// Reads a CSV file (header line first); `name` is used in messages.
    pub(crate) fn read(path: &Path, name: &str) -> Result<TextTable, String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_path(path)
            .map_err(|e| format!("{name} cannot be read ({})", csv_error(&e)))?;
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| format!("{name} cannot be read as CSV ({})", csv_error(&e)))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if headers.iter().all(String::is_empty) {
            return Err(format!("{name} cannot be read as CSV (it has no header line)"));
        }
        let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); headers.len()];
        let mut n_rows = 0;
        for record in reader.records() {
            let record =
                record.map_err(|e| format!("{name} cannot be read as CSV ({})", csv_error(&e)))?;
            for (k, column) in columns.iter_mut().enumerate() {
                let cell = record.get(k).map(str::trim).filter(|s| !s.is_empty());
                column.push(cell.map(String::from));
            }
            n_rows += 1;
        }
        Ok(TextTable {
            name: name.to_string(),
            n_rows,
            columns: headers.into_iter().zip(columns).collect(),
        })
    }

    pub(crate) fn n_rows(&self) -> usize {
        self.n_rows
    }

    fn cell(&self, column: &str, row: usize) -> Result<Option<&str>, String> {
        match self.columns.get(column) {
            Some(values) => Ok(values.get(row).and_then(|v| v.as_deref())),
            None => Err(format!("{} has no column `{column}`", self.name)),
        }
    }

    fn optional_cell(&self, column: &str, row: usize) -> Option<&str> {
        self.columns.get(column).and_then(|values| values.get(row)).and_then(|v| v.as_deref())
    }

    /// A message for a cell that does not hold what it should; the line counts the header.
    pub(crate) fn cell_error(
        &self,
        column: &str,
        row: usize,
        value: &str,
        expected: &str,
    ) -> String {
        format!("{} line {}: column `{column}`: `{value}` is not {expected}", self.name, row + 2)
    }

    fn required(&self, column: &str, row: usize) -> Result<&str, String> {
        self.cell(column, row)?
            .ok_or_else(|| format!("{} line {}: column `{column}` is empty", self.name, row + 2))
    }

    pub(crate) fn text(&self, column: &str, row: usize) -> Result<String, String> {
        self.required(column, row).map(String::from)
    }

    pub(crate) fn opt_text(&self, column: &str, row: usize) -> Option<String> {
        self.optional_cell(column, row).map(String::from)
    }

    fn parse_float(&self, column: &str, row: usize, value: &str) -> Result<f64, String> {
        match value.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.cell_error(column, row, value, "a finite number")),
        }
    }

    pub(crate) fn float(&self, column: &str, row: usize) -> Result<f64, String> {
        let value = self.required(column, row)?;
        self.parse_float(column, row, value)
    }

    pub(crate) fn opt_float(&self, column: &str, row: usize) -> Result<Option<f64>, String> {
        self.optional_cell(column, row).map(|v| self.parse_float(column, row, v)).transpose()
    }

    fn parse_uint(&self, column: &str, row: usize, value: &str) -> Result<u64, String> {
        value.parse::<u64>().map_err(|_| self.cell_error(column, row, value, "a whole number"))
    }

    pub(crate) fn uint(&self, column: &str, row: usize) -> Result<u64, String> {
        let value = self.required(column, row)?;
        self.parse_uint(column, row, value)
    }

    pub(crate) fn opt_uint(&self, column: &str, row: usize) -> Result<Option<u64>, String> {
        self.optional_cell(column, row).map(|v| self.parse_uint(column, row, v)).transpose()
    }

    fn parse_bool(&self, column: &str, row: usize, value: &str) -> Result<bool, String> {
        match value {
            "true" | "True" | "TRUE" => Ok(true),
            "false" | "False" | "FALSE" => Ok(false),
            _ => Err(self.cell_error(column, row, value, "`true` or `false`")),
        }
    }

    pub(crate) fn boolean(&self, column: &str, row: usize) -> Result<bool, String> {
        let value = self.required(column, row)?;
        self.parse_bool(column, row, value)
    }

    pub(crate) fn opt_boolean(&self, column: &str, row: usize) -> Result<Option<bool>, String> {
        self.optional_cell(column, row).map(|v| self.parse_bool(column, row, v)).transpose()
    }
}

/// The csv crate's message, with the 1-based line where it knows one.
fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => format!(
            "line {}: {len} fields where the header has {expected_len}",
            pos.as_ref().map_or(0, |p| p.line())
        ),
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    }
}

/// Writes `records` under `header` as CSV text: fields quoted only where they hold a comma, a
/// quote or a line break. A record whose length differs from the header's is an error.
pub(crate) fn csv_text<S: AsRef<str>>(
    header: &[S],
    records: &[Vec<String>],
) -> std::io::Result<String> {
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
    writer.write_record(header.iter().map(AsRef::as_ref))?;
    for record in records {
        writer.write_record(record)?;
    }
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    String::from_utf8(bytes).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_only_where_needed() {
        let text = csv_text(
            &["a", "b"],
            &[vec!["x,y".into(), "plain".into()], vec!["say \"hi\"".into(), String::new()]],
        )
        .unwrap();
        assert_eq!(text, "a,b\n\"x,y\",plain\n\"say \"\"hi\"\"\",\n");
        assert!(csv_text(&["a", "b"], &[vec!["only one".into()]]).is_err());
    }
}
