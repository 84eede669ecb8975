//! The model side of sculpt: a small graph IR of named layers, the architectures sculpt builds
//! (MLP, LeNet-style CNN, torchvision's MobileNetV2, BERT encoders), loaders for safetensors
//! files with their published tensor names, a candle executor, and a static profiler.
//!
//! * [`Graph`] holds [`Node`]s in execution order; each node has a name, an [`Op`] and explicit
//!   inputs ([`ValueRef`]), so residual connections are real edges.
//! * [`load_model`] turns a name from the command line (`builtin:demo-cnn`, a Hugging Face folder,
//!   a YAML [`ModelSpec`], a safetensors file written by sculpt) into a [`Model`].
//! * [`Graph::forward`] runs a [`Batch`] on the CPU with candle.
//! * [`profile()`] counts parameters, MACs and bytes per layer.
//!
//! ```
//! let model = sculpt_model::load_model("builtin:mobilenet_v2").unwrap();
//! let profile = sculpt_model::profile(&model.graph, 1, 0).unwrap();
//! assert_eq!(profile.total.params, 3_504_872);
//! ```
#![deny(missing_docs)]

mod arch;
mod builtin;
mod error;
mod graph;
mod im2col;
mod load;
mod onnx;
mod ops;
mod profile;
mod serial;
mod spec;
mod tensor_ops;
mod timing;
mod tokenizer;
mod train;
mod weights;

pub use arch::{BertConfig, CnnConfig, ImageInput, MlpConfig, MlpInput, MobileNetV2Config};
pub use builtin::{BUILTIN_MODELS, DEMO_CNN_SPEC, DEMO_MLP_SPEC, builtin_spec};
pub use error::{Error, Result};
pub use graph::{
    Batch, FoldFactors, Forward, ForwardOptions, Graph, InputKind, InputSpec, Node, Task,
    TokenBatch, ValueRef,
};
pub use load::load_model;
pub use onnx::{
    ExportOptions, Imported, IntWeight, Layout, OnnxOptions, TaskChoice, WeightStorage,
    export_onnx, import_onnx, write_onnx, write_onnx_inputs,
};
pub use ops::{
    Attention, BatchNorm2d, BatchStats, Conv2d, Embedding, FakeQuant, LayerKind, LayerNorm, Linear,
    NamedWeight, Op, Pool2d,
};
pub use profile::{LayerProfile, ModelProfile, ProfileTotal, profile};
pub use serial::{GRAPH_METADATA_KEY, graph_from_json, graph_to_json, layer_kind_names};
pub use spec::{
    Arch, InputField, Model, ModelSpec, SPEC_METADATA_KEY, build_model, load_safetensors_with_spec,
    read_bert_config, spec_metadata,
};
pub use tensor_ops::{
    BinaryFn, Constant, ConvTranspose2d, Dim, InstanceNorm, ReduceFn, ReshapeDim, ResizeMode,
    TensorOp, UnaryFn,
};
pub use timing::{random_batch, runtime_threads, time_forward};
pub use tokenizer::Tokenizer;
pub use train::{
    EpochReport, LossFn, TrainConfig, TrainHooks, TrainVar, train, train_classifier, train_with,
};
pub use weights::{SafetensorsFile, safetensors_bytes, write_safetensors};

/// Every weight tensor of a graph under its file name (`<layer>.<role>`), in graph order.
pub fn named_tensors(graph: &Graph) -> Vec<(String, candle_core::Tensor)> {
    graph
        .nodes()
        .iter()
        .flat_map(|n| {
            n.op.weights()
                .into_iter()
                .map(move |w| (format!("{}.{}", n.name, w.role), w.tensor.clone()))
        })
        .collect()
}
