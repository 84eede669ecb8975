/// Everything that can go wrong while building or running a search pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A YAML input (search space) that cannot be read; names file, line and key.
    #[error(transparent)]
    Yaml(Box<sculpt_yaml::Error>),
    /// An error from the model crate.
    #[error(transparent)]
    Model(Box<sculpt_model::Error>),
    /// An error from the compression crate.
    #[error(transparent)]
    Compress(Box<sculpt_compress::Error>),
    /// An error from the hardware crate.
    #[error(transparent)]
    Hardware(Box<sculpt_hw::Error>),
    /// An error from the evaluation crate.
    #[error(transparent)]
    Eval(Box<sculpt_eval::Error>),
    /// The search engine stopped with an error.
    #[error(transparent)]
    Search(#[from] sculpt_search::SearchError),
    /// The run directory could not be written.
    #[error(transparent)]
    Run(#[from] sculpt_run::Error),
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A file that could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause (shown in the message, not chained as a source).
        error: std::io::Error,
    },
    /// Settings that do not fit together.
    #[error("{msg}")]
    Invalid {
        /// What is wrong.
        msg: String,
    },
}

impl From<sculpt_yaml::Error> for Error {
    fn from(e: sculpt_yaml::Error) -> Error {
        Error::Yaml(Box::new(e))
    }
}

impl From<sculpt_compress::Error> for Error {
    fn from(e: sculpt_compress::Error) -> Error {
        Error::Compress(Box::new(e))
    }
}

impl From<sculpt_model::Error> for Error {
    fn from(e: sculpt_model::Error) -> Error {
        Error::Model(Box::new(e))
    }
}

impl From<sculpt_hw::Error> for Error {
    fn from(e: sculpt_hw::Error) -> Error {
        Error::Hardware(Box::new(e))
    }
}

impl From<sculpt_eval::Error> for Error {
    fn from(e: sculpt_eval::Error) -> Error {
        Error::Eval(Box::new(e))
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
