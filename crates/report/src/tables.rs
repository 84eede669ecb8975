//! Parquet copies of a run's plan tables, with polars.
//!
//! Reading a run for reports is sculpt-run's job; this module only converts `candidates.csv` and
//! `front.csv` to Parquet, keeping polars' type inference but pinning the documented columns to
//! their documented types (an all-empty `*_measured` column is still a float column).

use std::path::{Path, PathBuf};

use polars::prelude::{CsvReadOptions, DataFrame, DataType, ParquetWriter, SerReader};

use sculpt_stdx::write_atomic_with;

use crate::error::{Error, Result};

/// The documented columns of candidates.csv and front.csv and their Parquet types (a test checks
/// that every column sculpt-run writes is here).
const PLAN_COLUMNS: [(&str, DataType); 16] = [
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
    ("plan_file", DataType::String),
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
        })
        .map_err(|e| Error::io(&parquet, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plan_column_has_its_parquet_type() {
        let typed: Vec<&str> = PLAN_COLUMNS.iter().map(|(name, _)| *name).collect();
        let written = sculpt_run::PLAN_COLUMNS
            .iter()
            .chain(&sculpt_run::FRONT_EXTRA_COLUMNS)
            .chain(std::iter::once(&sculpt_run::RECOVERED_COLUMN));
        for column in written {
            assert!(typed.contains(column), "{column} has no Parquet type");
        }
        assert_eq!(typed.len(), sculpt_run::PLAN_COLUMNS.len() + 2);
    }
}
