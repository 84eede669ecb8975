//! CSV tables in and Parquet tables out, with polars.
//!
//! Reading for reports takes every cell as text and converts it here, so that a bad cell gives a
//! message naming the file, the line and the column rather than a dtype error from polars.
//! Writing Parquet keeps polars' type inference but pins the documented columns to their
//! documented types (an all-empty `*_measured` column is still a float column).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polars::prelude::{CsvReadOptions, DataFrame, DataType, ParquetWriter, SerReader};

use crate::error::{Error, Result};
use crate::io::write_atomic_with;

/// A CSV table with every cell as text, and the helpers that turn cells into typed values.
pub(crate) struct TextTable {
    name: String,
    n_rows: usize,
    columns: HashMap<String, Vec<Option<String>>>,
}

/// Reads a CSV file (header line first) as text cells; `name` is used in messages.
pub(crate) fn read_text_table(path: &Path, name: &str) -> Result<TextTable, String> {
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|reader| reader.finish())
        .map_err(|e| format!("{name} cannot be read as CSV ({e})"))?;
    let mut columns = HashMap::new();
    for column in df.columns() {
        let values = column
            .str()
            .map_err(|e| format!("{name}: column `{}` is not text ({e})", column.name()))?
            .iter()
            .map(|v| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
            .collect::<Vec<_>>();
        columns.insert(column.name().to_string(), values);
    }
    Ok(TextTable { name: name.to_string(), n_rows: df.height(), columns })
}

impl TextTable {
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

/// The documented columns of candidates.csv and front.csv and their Parquet types.
const PLAN_COLUMNS: [(&str, DataType); 15] = [
    ("plan_id", DataType::Int64),
    ("accuracy_loss", DataType::Float64),
    ("accuracy_loss_measured", DataType::Float64),
    ("accuracy_loss_recovered", DataType::Float64),
    ("latency_s", DataType::Float64),
    ("latency_s_measured", DataType::Float64),
    ("energy_j", DataType::Float64),
    ("size_bytes", DataType::Int64),
    ("feasible", DataType::Boolean),
    ("violation", DataType::Float64),
    ("violated", DataType::String),
    ("on_front", DataType::Boolean),
    ("accuracy_source", DataType::String),
    ("latency_source", DataType::String),
    ("genome", DataType::String),
];

/// What [`write_tables`] wrote and what it could not find.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WrittenTables {
    /// The Parquet files written.
    pub written: Vec<PathBuf>,
    /// The CSV files that were missing, so no Parquet file was written for them.
    pub missing: Vec<PathBuf>,
}

/// Converts `candidates.csv` and `front.csv` of the run directory `dir` to `candidates.parquet`
/// and `front.parquet`, each written atomically (a temporary file renamed into place).
///
/// The documented columns get their documented types (`plan_id` and `size_bytes` Int64,
/// `feasible` and `on_front` Boolean, the rest of the numbers Float64, text as String); extra
/// columns keep the type polars infers. A missing CSV is reported in
/// [`WrittenTables::missing`]; a CSV that cannot be parsed is an [`Error::Table`].
pub fn write_tables(dir: &Path) -> Result<WrittenTables> {
    let mut out = WrittenTables::default();
    for stem in ["candidates", "front"] {
        let csv = dir.join(format!("{stem}.csv"));
        if !csv.is_file() {
            out.missing.push(csv);
            continue;
        }
        let mut df = read_typed(&csv)?;
        let parquet = dir.join(format!("{stem}.parquet"));
        write_atomic_with(&parquet, |file| {
            ParquetWriter::new(file)
                .finish(&mut df)
                .map(|_| ())
                .map_err(|e| std::io::Error::other(e.to_string()))
        })?;
        out.written.push(parquet);
    }
    Ok(out)
}

pub(crate) fn read_typed(path: &Path) -> Result<DataFrame> {
    let table_error = |msg: String| Error::Table { path: path.to_path_buf(), msg };
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(None)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|reader| reader.finish())
        .map_err(|e| table_error(format!("cannot be read as CSV: {e}")))?;
    let mut columns = Vec::with_capacity(df.width());
    for column in df.columns() {
        let expected = PLAN_COLUMNS.iter().find(|(name, _)| *name == column.name().as_str());
        let column = match expected {
            Some((name, dtype)) if column.dtype() != dtype => {
                column.strict_cast(dtype).map_err(|_| {
                    table_error(format!("column `{name}` does not hold values of type {dtype}"))
                })?
            }
            _ => column.clone(),
        };
        columns.push(column);
    }
    DataFrame::new(df.height(), columns).map_err(|e| table_error(e.to_string()))
}
