use std::path::PathBuf;

/// Everything that can go wrong while loading, building, profiling or running a model.
///
/// Variants that come from a file name the file; a user sees one line with the place and what
/// was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (shown in the message, not chained as a source).
        error: std::io::Error,
    },
    /// A safetensors file is truncated, corrupt or not a safetensors file at all.
    #[error("{path}: not a valid safetensors file: {msg}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        msg: String,
    },
    /// A tensor the architecture needs is not in the weights file.
    #[error("{path}: missing tensor `{name}` (expected shape {expected:?})")]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The shape the architecture expects.
        expected: Vec<usize>,
    },
    /// A tensor has another shape than the architecture expects.
    #[error("{path}: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// The weights file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The shape the architecture expects.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor has a data type sculpt cannot use as a weight.
    #[error("{path}: tensor `{name}` has data type {dtype}, expected a float type")]
    TensorDtype {
        /// The weights file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The data type found.
        dtype: String,
    },
    /// A YAML model spec could not be read.
    #[error(transparent)]
    Spec(#[from] sculpt_yaml::Error),
    /// A model spec or config is well-formed but describes something impossible.
    #[error("{path}: {msg}")]
    Invalid {
        /// The spec or config file.
        path: PathBuf,
        /// What is wrong and what was expected.
        msg: String,
    },
    /// A model whose weights would not fit in this machine's memory.
    #[error(
        "the model's weights need {} at fp32 by layer `{layer}`, more than the {} of memory \
         available; a model must fit in memory (smaller layers, or a machine with more memory)",
        gigabytes(*.needed_bytes),
        gigabytes(*.available_bytes)
    )]
    TooLarge {
        /// The layer whose tensor crossed the limit.
        layer: String,
        /// Bytes of all weights up to and including that tensor.
        needed_bytes: u64,
        /// Bytes of memory available.
        available_bytes: u64,
    },
    /// A model name that is neither a builtin, a folder, a spec nor a weights file.
    #[error("unknown model `{name}`: {msg}")]
    UnknownModel {
        /// The name given.
        name: String,
        /// What was expected.
        msg: String,
    },
    /// A `tokenizer.json` could not be loaded or used.
    #[error("{path}: tokenizer: {msg}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What went wrong.
        msg: String,
    },
    /// Inputs given to a model do not fit it.
    #[error("input does not fit the model: {msg}")]
    Input {
        /// What was given and what was expected.
        msg: String,
    },
    /// A graph is malformed: a node reads a value that does not exist yet, names repeat, ...
    #[error("invalid graph: {msg}")]
    Graph {
        /// What is wrong.
        msg: String,
    },
    /// An error inside candle while running a layer.
    #[error("layer `{layer}`: {error}")]
    Layer {
        /// The layer that failed.
        layer: String,
        /// candle's error.
        error: candle_core::Error,
    },
    /// Any other error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), error: source }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, msg: impl Into<String>) -> Error {
        Error::Invalid { path: path.into(), msg: msg.into() }
    }
}

/// `41.2 GB` (10^9 bytes), `0.003 GB` for small figures.
fn gigabytes(bytes: u64) -> String {
    let gb = bytes as f64 / 1e9;
    if gb >= 1.0 { format!("{gb:.1} GB") } else { format!("{gb:.3} GB") }
}
