use std::path::PathBuf;

/// Everything that stops sculpt-report from writing a report or a table.
///
/// Reading a run is sculpt-run's job; problems that only spoil one part of a report (a missing
/// table, a run from another format version) are in
/// [`Run::notes`](sculpt_run::Run::notes) and the report says what it could not show.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error (shown in the message, not chained as a source).
        error: std::io::Error,
    },
    /// A CSV table could not be converted to Parquet.
    #[error("{path}: {msg}")]
    Table {
        /// The table file.
        path: PathBuf,
        /// What went wrong.
        msg: String,
    },
    /// A chart could not be drawn.
    #[error("chart `{name}`: {msg}")]
    Chart {
        /// The chart's file stem.
        name: String,
        /// What the plotting library said.
        msg: String,
    },
    /// `compare` was called without runs.
    #[error("nothing to compare: no runs were given")]
    NoRuns,
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), error: source }
    }
}
