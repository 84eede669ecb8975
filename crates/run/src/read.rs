//! [`read_run`]: a run directory into a [`Run`].

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::layout;
use crate::meta::{RunMeta, read_meta};
use crate::rows::{ConvergenceRow, CostRow, LayerRow, PlanRow, SensitivityRow};
use crate::table::TextTable;

/// A table of a run directory: its rows, or why they could not be read.
#[derive(Clone, Debug, PartialEq)]
pub enum Table<T> {
    /// The table was read.
    Loaded(Vec<T>),
    /// The table is missing or broken; the message says which file and why.
    Unavailable(String),
}

impl<T> Table<T> {
    /// The rows, when the table was read.
    pub fn rows(&self) -> Option<&[T]> {
        match self {
            Table::Loaded(rows) => Some(rows),
            Table::Unavailable(_) => None,
        }
    }

    /// Why the table is unavailable.
    pub fn problem(&self) -> Option<&str> {
        match self {
            Table::Loaded(_) => None,
            Table::Unavailable(msg) => Some(msg),
        }
    }
}

/// Everything read from one run directory.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The run directory.
    pub dir: PathBuf,
    /// run.yaml.
    pub meta: RunMeta,
    /// front.csv: the non-dominated feasible plans, or the closest plans when none is feasible.
    pub front: Table<PlanRow>,
    /// candidates.csv: every evaluated plan.
    pub candidates: Table<PlanRow>,
    /// tables/costs.csv.
    pub costs: Table<CostRow>,
    /// tables/convergence.csv.
    pub convergence: Table<ConvergenceRow>,
    /// tables/sensitivity.csv.
    pub sensitivity: Table<SensitivityRow>,
    /// tables/layers.csv.
    pub layers: Table<LayerRow>,
    /// What could not be read and what a report leaves out because of it, one sentence each.
    pub notes: Vec<String>,
}

impl Run {
    /// The front plans, or an empty slice when front.csv could not be read.
    pub fn front_plans(&self) -> &[PlanRow] {
        self.front.rows().unwrap_or(&[])
    }
}

/// Reads a run directory: run.yaml and the CSV tables.
///
/// Only an unusable run.yaml is an error ([`Error::MissingRunYaml`], [`Error::RunYaml`],
/// [`Error::InvalidRun`]). A missing or broken table, or a run of another format version, is
/// recorded in [`Run::notes`] and the table as [`Table::Unavailable`], so that the best report
/// that can still be made is made.
pub fn read_run(dir: &Path) -> Result<Run> {
    let yaml_path = dir.join(layout::RUN_YAML);
    if !yaml_path.is_file() {
        if !dir.is_dir() {
            return Err(Error::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
            ));
        }
        return Err(Error::MissingRunYaml { dir: dir.to_path_buf() });
    }
    let mut notes = Vec::new();
    let meta = read_meta(&yaml_path, &mut notes)?;
    let front = read_table(
        dir,
        layout::FRONT_CSV,
        &mut notes,
        "the report has no recommendation, front table or trade-off charts",
        |t, row| PlanRow::parse(t, row, true),
    );
    let candidates = read_table(
        dir,
        layout::CANDIDATES_CSV,
        &mut notes,
        "the charts show the front without the other evaluated plans",
        |t, row| PlanRow::parse(t, row, false),
    );
    let costs = read_table(
        dir,
        layout::COSTS_CSV,
        &mut notes,
        "the per-option costs are not shown",
        CostRow::parse,
    );
    let convergence = read_table(
        dir,
        layout::CONVERGENCE_CSV,
        &mut notes,
        "the convergence chart is left out",
        ConvergenceRow::parse,
    );
    let sensitivity = read_table(
        dir,
        layout::SENSITIVITY_CSV,
        &mut notes,
        "the sensitivity chart is left out",
        SensitivityRow::parse,
    );
    let layers = read_table(
        dir,
        layout::LAYERS_CSV,
        &mut notes,
        "the per-layer charts are left out",
        LayerRow::parse,
    );
    if front.rows().is_some_and(<[PlanRow]>::is_empty) {
        notes.push(
            "front.csv has no plans: the search returned an empty front, so there is nothing to recommend"
                .to_string(),
        );
    }
    Ok(Run {
        dir: dir.to_path_buf(),
        meta,
        front,
        candidates,
        costs,
        convergence,
        sensitivity,
        layers,
        notes,
    })
}

/// Reads one CSV table into rows, turning every problem into [`Table::Unavailable`] and a note.
fn read_table<T>(
    dir: &Path,
    name: &str,
    notes: &mut Vec<String>,
    consequence: &str,
    parse_row: impl Fn(&TextTable, usize) -> Result<T, String>,
) -> Table<T> {
    let path = dir.join(name);
    if !path.is_file() {
        let msg = format!("{name} is missing");
        notes.push(format!("{msg}: {consequence}"));
        return Table::Unavailable(msg);
    }
    let table = match TextTable::read(&path, name) {
        Ok(table) => table,
        Err(msg) => {
            notes.push(format!("{msg}: {consequence}"));
            return Table::Unavailable(msg);
        }
    };
    let mut rows = Vec::with_capacity(table.n_rows());
    for row in 0..table.n_rows() {
        match parse_row(&table, row) {
            Ok(value) => rows.push(value),
            Err(msg) => {
                notes.push(format!("{msg}: {consequence}"));
                return Table::Unavailable(msg);
            }
        }
    }
    Table::Loaded(rows)
}
