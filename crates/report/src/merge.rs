//! Many runs into one table: [`merge_runs`] stacks the `front.csv` and `candidates.csv` of several
//! run directories, each row tagged with the run's identifying values (a sweep's job id and
//! matrix settings).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use polars::prelude::{
    Column, CsvWriter, DataFrame, DataType, IntoColumn, NamedFrom, ParquetWriter, SerWriter, Series,
};

use sculpt_stdx::write_atomic_with;

use crate::error::{Error, Result};
use crate::io::create_dir;
use crate::tables::read_typed;

/// A value identifying a run in merged tables: text (a hardware path) or a whole number (a seed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeValue {
    /// Stored as a String column.
    Text(String),
    /// Stored as an Int64 column.
    Int(i64),
}

/// One run directory to merge and the values that identify it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeInput {
    /// Written to the `job_id` column of every row of this run.
    pub job_id: String,
    /// Further identifying columns, `(column, value)`, in column order; every run must give the
    /// same column names in the same order.
    pub values: Vec<(String, MergeValue)>,
    /// The run directory (docs/run-format.md).
    pub dir: PathBuf,
}

/// What [`merge_runs`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergedTables {
    /// The files written: `fronts.csv`, `fronts.parquet`, `candidates.csv`, `candidates.parquet`
    /// (a table no run has is not written).
    pub written: Vec<PathBuf>,
    /// Rows in `fronts.csv`.
    pub front_rows: usize,
    /// Rows in `candidates.csv`.
    pub candidate_rows: usize,
    /// Per-run CSV files that were absent, so the run contributes no rows to that table.
    pub missing: Vec<PathBuf>,
}

/// Stacks the `front.csv` of every run into `out_dir/fronts.csv` and `fronts.parquet`, and their
/// `candidates.csv` into `out_dir/candidates.csv` and `candidates.parquet`. Each file is written
/// atomically, so the merge can be repeated at any time.
///
/// Columns: `job_id`, then the [`MergeInput::values`] columns, then the run's own columns (the
/// union over runs, in order of first appearance; a run without a column has empty cells). The
/// documented run columns keep their documented Parquet types; a [`MergeValue::Int`] column is
/// Int64, `job_id` and [`MergeValue::Text`] columns are String. Rows keep the order of `runs` and,
/// within a run, the order of its file.
///
/// A value column that collides with `job_id` or a run column, or runs that give different value
/// columns, are an [`Error::Table`].
pub fn merge_runs(runs: &[MergeInput], out_dir: &Path) -> Result<MergedTables> {
    let key_names: Vec<&str> = runs
        .first()
        .map(|r| r.values.iter().map(|(name, _)| name.as_str()).collect())
        .unwrap_or_default();
    for run in runs {
        let names: Vec<&str> = run.values.iter().map(|(name, _)| name.as_str()).collect();
        if names != key_names {
            return Err(Error::Table {
                path: run.dir.clone(),
                msg: format!(
                    "merge: this run is identified by columns {names:?}, the first run by {key_names:?}"
                ),
            });
        }
    }
    let mut seen = HashSet::new();
    for name in std::iter::once("job_id").chain(key_names.iter().copied()) {
        if !seen.insert(name) {
            return Err(Error::Table {
                path: out_dir.to_path_buf(),
                msg: format!("merge: column `{name}` is given twice"),
            });
        }
    }
    create_dir(out_dir)?;
    let mut out = MergedTables::default();
    for (stem, file) in [("fronts", "front.csv"), ("candidates", "candidates.csv")] {
        let mut frames = Vec::new();
        for run in runs {
            let csv = run.dir.join(file);
            if !csv.is_file() {
                out.missing.push(csv);
                continue;
            }
            let df = read_typed(&csv)?;
            frames.push(tag(df, run, &seen, &csv)?);
        }
        if frames.is_empty() {
            continue;
        }
        let mut merged = stack(frames, out_dir)?;
        let rows = merged.height();
        let csv_path = out_dir.join(format!("{stem}.csv"));
        write_atomic_with(&csv_path, |f| {
            CsvWriter::new(f)
                .include_header(true)
                .finish(&mut merged)
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
        .map_err(|e| Error::io(&csv_path, e))?;
        let parquet_path = out_dir.join(format!("{stem}.parquet"));
        write_atomic_with(&parquet_path, |f| {
            ParquetWriter::new(f)
                .finish(&mut merged)
                .map(|_| ())
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
        .map_err(|e| Error::io(&parquet_path, e))?;
        out.written.extend([csv_path, parquet_path]);
        match stem {
            "fronts" => out.front_rows = rows,
            _ => out.candidate_rows = rows,
        }
    }
    Ok(out)
}

/// Puts the run's identifying columns in front of its table.
fn tag(df: DataFrame, run: &MergeInput, keys: &HashSet<&str>, csv: &Path) -> Result<DataFrame> {
    let height = df.height();
    let mut columns: Vec<Column> = Vec::with_capacity(df.width() + run.values.len() + 1);
    columns.push(Series::new("job_id".into(), vec![run.job_id.as_str(); height]).into_column());
    for (name, value) in &run.values {
        let series = match value {
            MergeValue::Text(text) => Series::new(name.into(), vec![text.as_str(); height]),
            MergeValue::Int(int) => Series::new(name.into(), vec![*int; height]),
        };
        columns.push(series.into_column());
    }
    for column in df.columns() {
        if keys.contains(column.name().as_str()) {
            return Err(Error::Table {
                path: csv.to_path_buf(),
                msg: format!(
                    "merge: the run has a column `{}`, which is also an identifying column",
                    column.name()
                ),
            });
        }
        columns.push(column.clone());
    }
    DataFrame::new(height, columns)
        .map_err(|e| Error::Table { path: csv.to_path_buf(), msg: e.to_string() })
}

/// Stacks frames whose columns may differ: the union of the columns, absent ones null, a column
/// whose type differs between runs stored as text.
fn stack(frames: Vec<DataFrame>, out_dir: &Path) -> Result<DataFrame> {
    let table_error = |e: polars::prelude::PolarsError| Error::Table {
        path: out_dir.to_path_buf(),
        msg: format!("merge: {e}"),
    };
    let mut union: Vec<(String, DataType)> = Vec::new();
    for df in &frames {
        for column in df.columns() {
            let name = column.name().as_str();
            match union.iter_mut().find(|(n, _)| n == name) {
                Some((_, dtype)) if dtype != column.dtype() => *dtype = DataType::String,
                Some(_) => {}
                None => union.push((name.to_string(), column.dtype().clone())),
            }
        }
    }
    let mut merged: Option<DataFrame> = None;
    for df in frames {
        let height = df.height();
        let columns = union
            .iter()
            .map(|(name, dtype)| match df.column(name) {
                Ok(column) if column.dtype() == dtype => Ok(column.clone()),
                Ok(column) => column.cast(dtype),
                Err(_) => Ok(Column::full_null(name.into(), height, dtype)),
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(table_error)?;
        let aligned = DataFrame::new(height, columns).map_err(table_error)?;
        match &mut merged {
            None => merged = Some(aligned),
            Some(m) => {
                m.vstack_mut(&aligned).map_err(table_error)?;
            }
        }
    }
    let mut merged = merged.unwrap_or_default();
    merged.rechunk_mut();
    Ok(merged)
}
