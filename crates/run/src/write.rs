//! [`RunWriter`]: the one writer of a run directory.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::layout;
use crate::meta::{RunYaml, to_text};
use crate::rows::{
    CONVERGENCE_COLUMNS, COST_COLUMNS, ConvergenceRow, CostRow, FRONT_EXTRA_COLUMNS, LAYER_COLUMNS,
    LayerRow, PLAN_COLUMNS, PlanRow, RECOVERED_COLUMN, SENSITIVITY_COLUMNS, SensitivityRow,
};
use crate::table::csv_text;

/// A row of one of the run directory's per-layer tables, written under [`TableRow::COLUMNS`].
pub trait TableRow {
    /// The header.
    const COLUMNS: &'static [&'static str];
    /// The cells, in column order.
    fn cells(&self) -> Vec<String>;
}

impl TableRow for CostRow {
    const COLUMNS: &'static [&'static str] = &COST_COLUMNS;
    fn cells(&self) -> Vec<String> {
        self.record()
    }
}

impl TableRow for SensitivityRow {
    const COLUMNS: &'static [&'static str] = &SENSITIVITY_COLUMNS;
    fn cells(&self) -> Vec<String> {
        self.record()
    }
}

impl TableRow for ConvergenceRow {
    const COLUMNS: &'static [&'static str] = &CONVERGENCE_COLUMNS;
    fn cells(&self) -> Vec<String> {
        self.record()
    }
}

impl TableRow for LayerRow {
    const COLUMNS: &'static [&'static str] = &LAYER_COLUMNS;
    fn cells(&self) -> Vec<String> {
        self.record()
    }
}

/// `rows` as CSV text under their header (also for tables written outside a run directory, such
/// as `sculpt sensitivity --out`).
pub fn table_csv<R: TableRow>(rows: &[R]) -> std::io::Result<String> {
    let records: Vec<Vec<String>> = rows.iter().map(TableRow::cells).collect();
    csv_text(R::COLUMNS, &records)
}

/// `candidates.csv` text.
fn candidates_csv(rows: &[PlanRow]) -> std::io::Result<String> {
    let records: Vec<Vec<String>> = rows.iter().map(PlanRow::record).collect();
    csv_text(&PLAN_COLUMNS, &records)
}

/// `front.csv` text: the plan columns, the plan file and, when any row was recovered, the
/// recovered loss.
fn front_csv(rows: &[PlanRow]) -> std::io::Result<String> {
    let recovered = rows.iter().any(|r| r.accuracy_loss_recovered.is_some());
    let mut header: Vec<&str> = PLAN_COLUMNS.iter().chain(&FRONT_EXTRA_COLUMNS).copied().collect();
    if recovered {
        header.push(RECOVERED_COLUMN);
    }
    let records: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = r.record();
            cells.push(r.plan_file.clone().unwrap_or_default());
            if recovered {
                cells.push(r.accuracy_loss_recovered.map(|v| format!("{v}")).unwrap_or_default());
            }
            cells
        })
        .collect();
    csv_text(&header, &records)
}

/// Writes the files of one run directory (docs/run-format.md), each atomically.
#[derive(Debug)]
pub struct RunWriter {
    dir: PathBuf,
}

impl RunWriter {
    /// Creates the run directory with its `plans/` and `tables/` folders.
    pub fn create(dir: &Path) -> Result<RunWriter> {
        for sub in [layout::PLANS_DIR, layout::TABLES_DIR] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|error| Error::CreateDir { path, error })?;
        }
        Ok(RunWriter { dir: dir.to_path_buf() })
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `relative` (a [`layout`](crate::layout) name) in the run directory.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// Creates a sub-folder (such as [`layout::RECOVERED_DIR`]).
    pub fn create_dir(&self, relative: &str) -> Result<PathBuf> {
        let path = self.path(relative);
        std::fs::create_dir_all(&path)
            .map_err(|error| Error::CreateDir { path: path.clone(), error })?;
        Ok(path)
    }

    fn write(&self, relative: &str, text: std::io::Result<String>) -> Result<()> {
        let path = self.path(relative);
        let text = text.map_err(|error| Error::Write { path: path.clone(), error })?;
        sculpt_stdx::write_atomic(&path, text.as_bytes())
            .map_err(|error| Error::Write { path, error })
    }

    /// `run.yaml`.
    pub fn write_run_yaml(&self, run: &RunYaml) -> Result<()> {
        let text = to_text(run)?;
        self.write(layout::RUN_YAML, Ok(text))
    }

    /// `candidates.csv`: every evaluated plan.
    pub fn write_candidates(&self, rows: &[PlanRow]) -> Result<()> {
        self.write(layout::CANDIDATES_CSV, candidates_csv(rows))
    }

    /// `front.csv`: the front plans with their plan files.
    pub fn write_front(&self, rows: &[PlanRow]) -> Result<()> {
        self.write(layout::FRONT_CSV, front_csv(rows))
    }

    /// `tables/costs.csv`.
    pub fn write_costs(&self, rows: &[CostRow]) -> Result<()> {
        self.write(layout::COSTS_CSV, table_csv(rows))
    }

    /// `tables/sensitivity.csv`.
    pub fn write_sensitivity(&self, rows: &[SensitivityRow]) -> Result<()> {
        self.write(layout::SENSITIVITY_CSV, table_csv(rows))
    }

    /// `tables/convergence.csv`.
    pub fn write_convergence(&self, rows: &[ConvergenceRow]) -> Result<()> {
        self.write(layout::CONVERGENCE_CSV, table_csv(rows))
    }

    /// `tables/layers.csv`.
    pub fn write_layers(&self, rows: &[LayerRow]) -> Result<()> {
        self.write(layout::LAYERS_CSV, table_csv(rows))
    }

    /// The plan of front row `k` (`plans/front-NNN.yaml`); returns its path relative to the run
    /// directory, as `front.csv` names it.
    pub fn write_front_plan(&self, k: usize, text: &str) -> Result<String> {
        let relative = layout::front_plan_file(k);
        self.write(&relative, Ok(text.to_string()))?;
        Ok(relative)
    }
}
