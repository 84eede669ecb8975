//! Models that ship inside the binary: the trained demo models and the reference architectures
//! with seeded random weights.

use std::path::Path;

use crate::arch::BertConfig;
use crate::error::{Error, Result};
use crate::spec::{Arch, Model, ModelSpec, build_from_spec};
use crate::weights::SafetensorsFile;

/// The spec of the bundled LeNet-style CNN (trained on Fashion-MNIST by `sculpt train`).
pub const DEMO_CNN_SPEC: &str = "\
arch: cnn
name: demo-cnn
input: {channels: 1, height: 28, width: 28, mean: [0.2860], std: [0.3530]}
channels: [32, 64]
kernel: 3
batch_norm: true
hidden: [128]
classes: 10
";

/// The spec of the bundled MLP (trained on Fashion-MNIST by `sculpt train`).
pub const DEMO_MLP_SPEC: &str = "\
arch: mlp
name: demo-mlp
input: {channels: 1, height: 28, width: 28, mean: [0.2860], std: [0.3530]}
hidden: [256, 128]
classes: 10
";

/// The names `builtin:NAME` accepts.
pub const BUILTIN_MODELS: [&str; 4] = ["demo-cnn", "demo-mlp", "mobilenet_v2", "bert-minilm"];

/// The embedded weights of a demo model, if this build carries them.
fn demo_weights(name: &str) -> Option<&'static [u8]> {
    match name {
        "demo-cnn" => Some(include_bytes!("../../../models/demo-cnn.safetensors")),
        "demo-mlp" => Some(include_bytes!("../../../models/demo-mlp.safetensors")),
        _ => None,
    }
}

/// The spec of a builtin model.
pub fn builtin_spec(name: &str) -> Result<ModelSpec> {
    let origin = Path::new("builtin");
    Ok(match name {
        "demo-cnn" => sculpt_yaml::from_str(DEMO_CNN_SPEC, origin)?,
        "demo-mlp" => sculpt_yaml::from_str(DEMO_MLP_SPEC, origin)?,
        "mobilenet_v2" => {
            let mut s = ModelSpec::new(Arch::MobilenetV2);
            s.name = Some("mobilenet_v2".into());
            s
        }
        "bert-minilm" => {
            let mut s = ModelSpec::new(Arch::Bert);
            s.name = Some("bert-minilm".into());
            s
        }
        other => {
            return Err(Error::UnknownModel {
                name: format!("builtin:{other}"),
                msg: format!(
                    "the builtin models are {}",
                    BUILTIN_MODELS.map(|m| format!("builtin:{m}")).join(", ")
                ),
            });
        }
    })
}

pub(crate) fn load(name: &str) -> Result<Model> {
    let spec = builtin_spec(name)?;
    let origin = format!("builtin:{name}");
    let weights = match demo_weights(name) {
        Some(bytes) => Some(SafetensorsFile::from_bytes(bytes, Path::new(&origin))?),
        None => None,
    };
    let mut model = build_from_spec(&spec, None, weights, &origin)?;
    if name == "bert-minilm" {
        debug_assert_eq!(BertConfig::minilm_l6().hidden_size, 384);
    }
    model.name = name.to_string();
    Ok(model)
}
