//! Reports of sculpt runs: Parquet tables, charts, an HTML and a Markdown report per run, and a
//! comparison of several runs. This is the only sculpt crate that uses polars and plotters.
//!
//! A run directory is read with [`sculpt_run::read_run`], which owns its format; a missing table
//! or another format version becomes a note in [`Run::notes`](sculpt_run::Run::notes) and the
//! report says what it cannot show.
//!
//! * [`write_tables`] converts `candidates.csv` and `front.csv` to Parquet.
//! * [`write_report`] writes `index.html` (one self-contained file: inline SVG and CSS, no
//!   scripts, no external resources), `report.md` (PNG charts referenced relatively) and every
//!   chart as `.svg` and `.png`.
//! * [`summarize`] gives the conclusions — one [`Recommendation`] per constraint and the
//!   [`knee`] — for the terminal; [`comparison`] and [`compare`] do the same for several runs.
//! * [`merge_runs`] stacks the fronts and candidates of many runs (a sweep's jobs) into one
//!   CSV/Parquet table per kind, each row tagged with its run's job id and settings.
//!
//! ```
//! let run = sculpt_run::read_run("../../tests/fixtures/runs/tpu-2obj".as_ref()).unwrap();
//! let summary = sculpt_report::summarize(&run);
//! assert_eq!(summary.recommendations[0].plan.as_ref().unwrap().plan_id, 10);
//! assert_eq!(summary.knee.unwrap().plan_id, 37);
//! ```
//!
//! # Reading numbers back
//!
//! Tables of plans carry their exact values for tools and tests:
//!
//! * **HTML**: every numeric cell has `data-column` (the CSV column, e.g. `latency_s`) and
//!   `data-value` (the value in SI units exactly as Rust prints the `f64` read from the CSV, which
//!   parses back to the same `f64`); every plan row has `data-plan-id`. The front table has
//!   `id="front-table"`.
//! * **Markdown**: plain pipe tables. Plan ids are integers; accuracy loss is in points (× 100),
//!   latency in ms, energy in mJ and size in MB (10^6 bytes), each printed with
//!   [`TABLE_DIGITS`] significant digits (trailing zeros kept, no thousands separators); an
//!   absent value is `–`.
#![deny(missing_docs)]

mod analysis;
mod charts;
mod compare;
mod doc;
mod error;
mod format;
mod io;
mod merge;
mod report;
mod steps;
mod tables;
mod units;

pub use analysis::{Recommendation, Summary, knee, summarize};
pub use compare::{Comparison, REFERENCE_MARGIN, RobustPlan, compare, comparison};
pub use error::{Error, Result};
pub use merge::{MergeInput, MergeValue, MergedTables, merge_runs};
pub use report::{ReportFiles, write_report};
pub use steps::write_steps_chart;
pub use tables::{WrittenTables, write_tables};

/// Significant digits of the numbers in report tables (see "Reading numbers back").
pub const TABLE_DIGITS: usize = format::TABLE_DIGITS;
