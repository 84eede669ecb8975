use std::path::PathBuf;

/// Everything that stops a sweep command.
///
/// A job whose search fails is not an error of the sweep: the task records it in a `FAILED`
/// marker and [`status`](crate::status) reports it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sweep file (or a result marker) is not valid YAML or breaks a rule of the schema; the
    /// message names the file, the line and the key.
    #[error(transparent)]
    Yaml(#[from] sculpt_yaml::Error),
    /// A file or folder could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error (shown in the message, not chained as a source).
        error: std::io::Error,
    },
    /// `sweep task --index` named an index the sweep does not have.
    #[error("{file}: the sweep has {n_jobs} jobs (indices 0 to {last}); there is no job {index}", last = n_jobs.saturating_sub(1))]
    NoSuchIndex {
        /// The sweep file.
        file: PathBuf,
        /// Jobs in the sweep.
        n_jobs: usize,
        /// The index asked for.
        index: usize,
    },
    /// `sweep task --id` named a job the sweep file no longer has.
    #[error(
        "{file}: no job has id {id}; the sweep file was changed after the job was submitted (submit again)"
    )]
    NoSuchJob {
        /// The sweep file.
        file: PathBuf,
        /// The id asked for.
        id: String,
    },
    /// A SLURM command could not be run or refused the request.
    #[error("`{command}`: {msg}")]
    Slurm {
        /// The command line.
        command: String,
        /// What went wrong, with the command's own message.
        msg: String,
    },
    /// A job process could not be started or watched by the local runner.
    #[error("{msg}")]
    Runner {
        /// What went wrong.
        msg: String,
    },
    /// Merging the results or writing the comparison report failed.
    #[error(transparent)]
    Report(#[from] sculpt_report::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), error: source }
    }
}
