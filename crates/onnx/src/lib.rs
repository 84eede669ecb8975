//! The ONNX file format for sculpt: the protobuf messages ([`proto`]), reading a model with its
//! external data ([`read_model`]), tensors as plain host values ([`HostTensor`]) and writing
//! ([`write_model`]). It knows nothing of sculpt's IR; `sculpt-model` imports graphs from it and
//! the exporter writes them with it.
//!
//! The messages are declared with `prost`'s derive by field number, so no `protoc` is needed to
//! build (see ARCHITECTURE.md).
//!
//! ```
//! use sculpt_onnx::proto::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto};
//!
//! let model = ModelProto {
//!     ir_version: Some(8),
//!     opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
//!     graph: Some(GraphProto {
//!         node: vec![NodeProto { op_type: Some("Relu".into()), ..Default::default() }],
//!         ..Default::default()
//!     }),
//!     ..Default::default()
//! };
//! let dir = std::env::temp_dir().join(format!("sculpt-onnx-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("relu.onnx");
//! sculpt_onnx::write_model(&path, &model)?;
//! let read = sculpt_onnx::read_model(&path)?;
//! assert_eq!(read.opset, 17);
//! assert_eq!(read.graph().node[0].op_type.as_deref(), Some("Relu"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), sculpt_onnx::Error>(())
//! ```
#![deny(missing_docs)]

mod error;
pub mod proto;
mod tensor;

use std::path::{Path, PathBuf};

use prost::Message;

pub use error::{Error, Result};
pub use tensor::{HostTensor, Values, decode as decode_tensor, encode as encode_tensor};

/// The oldest default-domain opset sculpt imports.
pub const MIN_OPSET: i64 = 11;
/// The newest default-domain opset sculpt imports.
pub const MAX_OPSET: i64 = 21;

/// A model read from a file.
#[derive(Clone, Debug)]
pub struct OnnxModel {
    /// The file.
    pub path: PathBuf,
    /// The decoded model.
    pub proto: proto::ModelProto,
    /// The version of the default (`ai.onnx`) operator set.
    pub opset: i64,
}

impl OnnxModel {
    /// The main graph (present: [`read_model`] checks it).
    pub fn graph(&self) -> &proto::GraphProto {
        static EMPTY: std::sync::OnceLock<proto::GraphProto> = std::sync::OnceLock::new();
        self.proto.graph.as_ref().unwrap_or_else(|| EMPTY.get_or_init(Default::default))
    }

    /// Decodes a tensor of this model (external data from the model's folder).
    pub fn tensor(&self, t: &proto::TensorProto) -> Result<HostTensor> {
        tensor::decode(t, &self.path)
    }
}

/// Reads an ONNX model. Refuses, with a message that says what to do: a file that is not ONNX,
/// a model without a graph, an operator set older than [`MIN_OPSET`] or newer than
/// [`MAX_OPSET`], and a model whose weights would not fit in the memory available.
pub fn read_model(path: &Path) -> Result<OnnxModel> {
    let io = |error| Error::Io { path: path.to_path_buf(), error };
    let size = std::fs::metadata(path).map_err(io)?.len();
    let available = sculpt_stdx::available_memory();
    if size > available {
        return Err(Error::Invalid {
            path: path.to_path_buf(),
            msg: format!(
                "the file holds {} bytes, more than the {available} bytes of memory available",
                size
            ),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let proto = proto::ModelProto::decode(bytes.as_slice())
        .map_err(|e| Error::NotOnnx { path: path.to_path_buf(), msg: e.to_string() })?;
    let Some(graph) = &proto.graph else {
        return Err(Error::NotOnnx { path: path.to_path_buf(), msg: "it holds no graph".into() });
    };
    if proto.ir_version.is_none() {
        return Err(Error::NotOnnx {
            path: path.to_path_buf(),
            msg: "it has no ir_version".into(),
        });
    }
    let opset = proto
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .and_then(|o| o.version)
        .ok_or_else(|| Error::Invalid {
            path: path.to_path_buf(),
            msg: "the model imports no default (ai.onnx) operator set".into(),
        })?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(Error::Invalid {
            path: path.to_path_buf(),
            msg: format!(
                "opset {opset} is not supported (sculpt imports opsets {MIN_OPSET} to {MAX_OPSET}); \
                 convert the model with onnx.version_converter.convert_version(model, 17)"
            ),
        });
    }
    // External weights count against memory too.
    let external: u64 = graph
        .initializer
        .iter()
        .flat_map(|t| t.external_data.iter())
        .filter(|e| e.key.as_deref() == Some("length"))
        .filter_map(|e| e.value.as_deref().and_then(|v| v.parse::<u64>().ok()))
        .sum();
    if size + external > available {
        return Err(Error::Invalid {
            path: path.to_path_buf(),
            msg: format!(
                "the model's weights take {} bytes with their external data, more than the \
                 {available} bytes of memory available",
                size + external
            ),
        });
    }
    Ok(OnnxModel { path: path.to_path_buf(), proto, opset })
}

/// Writes a model atomically.
pub fn write_model(path: &Path, model: &proto::ModelProto) -> Result<()> {
    sculpt_stdx::write_atomic(path, &model.encode_to_vec())
        .map_err(|error| Error::Io { path: path.to_path_buf(), error })
}
