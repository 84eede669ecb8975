use std::path::PathBuf;

/// Everything that can go wrong while resolving, applying, exporting or loading a plan.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A plan that cannot be read or does not fit the model; names the file, line and key.
    #[error(transparent)]
    Plan(#[from] sculpt_yaml::Error),
    /// A layer whose channels or heads cannot be removed, and why.
    #[error("layer `{layer}` cannot be pruned structurally: {reason}")]
    NotPrunable {
        /// The layer.
        layer: String,
        /// Why.
        reason: String,
    },
    /// An operation sculpt does not implement for this layer.
    #[error("{what} is not supported")]
    Unsupported {
        /// What was asked for.
        what: String,
    },
    /// A combination of settings that cannot be applied.
    #[error("{msg}")]
    Invalid {
        /// What is wrong.
        msg: String,
    },
    /// A compressed file whose packing does not decode.
    #[error("{path}: {msg}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// An error from the model crate.
    #[error(transparent)]
    Model(#[from] sculpt_model::Error),
    /// An error reading or evaluating data (recovery).
    #[error(transparent)]
    Eval(#[from] sculpt_eval::Error),
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
