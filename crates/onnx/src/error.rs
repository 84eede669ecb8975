use std::path::PathBuf;

/// Everything that stops an ONNX file from being read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file (or an external-data file) could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (shown in the message, not chained as a source).
        error: std::io::Error,
    },
    /// The bytes are not an ONNX model (truncated, another format).
    #[error("{path}: not an ONNX model ({msg})")]
    NotOnnx {
        /// The file.
        path: PathBuf,
        /// What the protobuf decoder said.
        msg: String,
    },
    /// The model is ONNX but cannot be used as it is; the message says what and what to do.
    #[error("{path}: {msg}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and what was expected.
        msg: String,
    },
    /// A tensor (an initializer or a constant) cannot be decoded.
    #[error("{path}: tensor `{tensor}`: {msg}")]
    Tensor {
        /// The model file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        msg: String,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
