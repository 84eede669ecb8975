/// Everything that can go wrong while building or running a search pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A YAML input (search space) that cannot be read; names file, line and key.
    #[error(transparent)]
    Yaml(#[from] sculpt_yaml::Error),
    /// An error from the model crate.
    #[error(transparent)]
    Model(#[from] sculpt_model::Error),
    /// An error from the compression crate.
    #[error(transparent)]
    Compress(#[from] sculpt_compress::Error),
    /// An error from the hardware crate.
    #[error(transparent)]
    Hardware(#[from] sculpt_hw::Error),
    /// An error from the evaluation crate.
    #[error(transparent)]
    Eval(#[from] sculpt_eval::Error),
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A file that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Settings that do not fit together.
    #[error("{msg}")]
    Invalid {
        /// What is wrong.
        msg: String,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
