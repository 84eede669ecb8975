use std::path::PathBuf;

/// Everything that can go wrong while reading data or evaluating a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (shown in the message, not chained as a source).
        error: std::io::Error,
    },
    /// A data file is malformed; the message says what was expected.
    #[error("{path}: {msg}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong and what was expected.
        msg: String,
    },
    /// A data name that no reader accepts.
    #[error("unknown data `{name}`: {msg}")]
    UnknownData {
        /// The name given.
        name: String,
        /// What was expected.
        msg: String,
    },
    /// Data that does not fit the model.
    #[error("{msg}")]
    Mismatch {
        /// What was given and what the model expects.
        msg: String,
    },
    /// An error from the model crate.
    #[error(transparent)]
    Model(#[from] sculpt_model::Error),
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Error {
        Error::Format { path: path.into(), msg: msg.into() }
    }
}
