use std::path::PathBuf;

/// Everything that stops a run directory from being written or read.
///
/// Problems that spoil only part of a run (a missing table, another format version) are not
/// errors: [`read_run`](crate::read_run) records them in [`Run::notes`](crate::Run::notes).
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
    /// The run directory (or one of its folders) could not be created.
    #[error("cannot create the run directory {path}: {error}")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// The underlying error (shown in the message, not chained as a source).
        error: std::io::Error,
    },
    /// A file of the run directory could not be written.
    #[error("cannot write {path}: {error}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error (shown in the message, not chained as a source).
        error: std::io::Error,
    },
    /// The folder has no `run.yaml`, so it is not a sculpt run directory.
    #[error("{dir}: not a sculpt run directory (run.yaml is missing)")]
    MissingRunYaml {
        /// The folder given.
        dir: PathBuf,
    },
    /// `run.yaml` is not valid YAML or a value has the wrong type.
    #[error(transparent)]
    RunYaml(#[from] sculpt_yaml::Error),
    /// `run.yaml` parses but cannot describe a run (no `format_version`, say).
    #[error("{path}: {msg}")]
    InvalidRun {
        /// The run.yaml file.
        path: PathBuf,
        /// What is wrong and what was expected.
        msg: String,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), error: source }
    }
}
