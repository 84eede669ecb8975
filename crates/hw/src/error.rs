//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `sculpt-hw`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A profile YAML file is malformed or fails validation; the inner error names the file, the
    /// line and the key.
    #[error(transparent)]
    Profile(#[from] sculpt_yaml::Error),

    /// The device cannot run this layer with this compression option.
    #[error("device `{device}` cannot run layer `{layer}` with option `{option}`: {reason}")]
    Unsupported {
        /// The profile's `name`.
        device: String,
        /// The layer's name.
        layer: String,
        /// The compression option, as displayed by `LayerCompression`.
        option: String,
        /// Why, such as the profile's `reject` text.
        reason: String,
    },

    /// A layer workload is internally inconsistent.
    #[error("layer `{layer}`: invalid workload: {reason}")]
    InvalidWorkload {
        /// The layer's name.
        layer: String,
        /// What is wrong.
        reason: String,
    },

    /// A lookup-table CSV file cannot be read or has a malformed row.
    #[error("{}{}{}: {msg}", path.display(), row.map(|r| format!(":{r}")).unwrap_or_default(), column.as_ref().map(|c| format!(": column `{c}`")).unwrap_or_default())]
    Table {
        /// The CSV file.
        path: PathBuf,
        /// The 1-based line of the file, when the error is about one row.
        row: Option<usize>,
        /// The column, when the error is about one cell.
        column: Option<String>,
        /// What is wrong.
        msg: String,
    },

    /// The lookup table holds no row for this layer and the profile says `missing: error`.
    #[error("{}: no measured entry for layer `{layer}` ({entry}) and `missing: error` is set", path.display())]
    LookupMiss {
        /// The CSV file.
        path: PathBuf,
        /// The layer's name.
        layer: String,
        /// The entry that was looked for: kind, precision, sparsity, dimensions and MACs.
        entry: String,
    },

    /// Fitting could not run or failed.
    #[error("fit: {msg}")]
    Fit {
        /// What went wrong.
        msg: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
