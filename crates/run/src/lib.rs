//! The run directory of a sculpt search (docs/run-format.md): its types, its one writer and its
//! one reader. Every crate that touches a run directory goes through here — sculpt-pipeline
//! writes it, sculpt-report and sculpt-sweep read it — so a column or a key is defined once.
//!
//! * [`RunYaml`] is `run.yaml` as written and read; [`RunMeta`] is what a reader makes of it
//!   (objectives and [`Constraint`]s in a fixed order, defaults where the file is silent).
//! * [`PlanRow`] is a row of `candidates.csv` and `front.csv`; [`CostRow`], [`SensitivityRow`],
//!   [`ConvergenceRow`] and [`LayerRow`] are the rows of `tables/`.
//! * [`RunWriter`] writes each file atomically; [`read_run`] reads a directory into a [`Run`],
//!   turning a missing or broken table into a note rather than an error.
//! * [`Quantity`] names the four numbers every plan is scored on, [`Constraints`] the limits a
//!   search is given, and [`layout`] where each file lives.
//!
//! ```
//! use sculpt_run::{
//!     AccuracySource, LatencySource, PlanRow, Quantity, RunWriter, RunYaml, FORMAT_VERSION,
//! };
//!
//! let dir = std::env::temp_dir().join(format!("sculpt-run-doc-{}", std::process::id()));
//! let writer = RunWriter::create(&dir)?;
//! writer.write_run_yaml(&RunYaml {
//!     format_version: FORMAT_VERSION,
//!     objectives: Some(vec![Quantity::AccuracyLoss, Quantity::Latency]),
//!     ..RunYaml::default()
//! })?;
//! let plan = PlanRow {
//!     plan_id: 7,
//!     accuracy_loss: 0.004,
//!     accuracy_loss_measured: Some(0.0085),
//!     accuracy_loss_recovered: None,
//!     latency_s: 9.7e-5,
//!     latency_s_measured: None,
//!     energy_j: 7.2e-4,
//!     size_bytes: 220_328.0,
//!     feasible: true,
//!     violation: 0.0,
//!     violated: vec![],
//!     on_front: true,
//!     accuracy_source: AccuracySource::Proxy,
//!     latency_source: LatencySource::Modelled,
//!     genome: "1-0-2".into(),
//!     plan_file: Some("plans/front-000.yaml".into()),
//! };
//! writer.write_front(std::slice::from_ref(&plan))?;
//! let run = sculpt_run::read_run(&dir)?;
//! assert_eq!(run.front_plans(), &[plan]);
//! assert_eq!(run.meta.objectives, [Quantity::AccuracyLoss, Quantity::Latency]);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), sculpt_run::Error>(())
//! ```
#![deny(missing_docs)]

mod constraints;
mod error;
pub mod layout;
mod meta;
mod quantity;
mod read;
mod rows;
mod table;
mod write;

pub use constraints::{Constraint, Constraints};
pub use error::{Error, Result};
pub use meta::{Baseline, ConstraintMap, ConstraintValue, DataSources, RunMeta, RunYaml, Source};
pub use quantity::Quantity;
pub use read::{Run, Table, read_run};
pub use rows::{
    AccuracySource, CONVERGENCE_COLUMNS, COST_COLUMNS, ConvergenceRow, CostRow,
    FRONT_EXTRA_COLUMNS, LAYER_COLUMNS, LatencySource, LayerPlan, LayerRow, PLAN_COLUMNS, PlanRow,
    RECOVERED_COLUMN, SENSITIVITY_COLUMNS, SensitivityRow,
};
pub use sculpt_search::TerminationReason;
pub use write::{RunWriter, TableRow, table_csv};

/// The run-directory format this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
