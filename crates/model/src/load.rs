//! Every way of naming a model: `builtin:NAME`, a Hugging Face folder, a YAML spec (an
//! `arch: onnx` sidecar among them), an ONNX file, or a safetensors file that carries its spec.

use std::path::Path;

use crate::error::{Error, Result};
use crate::spec::{Model, ModelSpec, build_from_spec, load_hf_folder, load_safetensors_with_spec};
use crate::weights::SafetensorsFile;

/// Loads a model named on the command line: `builtin:NAME`, a Hugging Face folder, a YAML spec,
/// or a safetensors file that carries its spec in the metadata (as sculpt writes them).
pub fn load_model(name: &str) -> Result<Model> {
    if let Some(builtin) = name.strip_prefix("builtin:") {
        return crate::builtin::load(builtin);
    }
    let path = Path::new(name);
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return load_hf_folder(path);
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => {
            let text = sculpt_yaml::read_text(path)?;
            let spec: ModelSpec = sculpt_yaml::from_str(&text, path)?;
            build_from_spec(&spec, Some((path, &text)), None, name)
        }
        Some("safetensors") => {
            let file = SafetensorsFile::read(path)?;
            load_safetensors_with_spec(file, name)
        }
        Some("onnx") => {
            let mut spec = ModelSpec::new(crate::spec::Arch::Onnx);
            spec.file = path.file_name().map(Into::into);
            let imported = crate::onnx::import_onnx(path, &crate::onnx::OnnxOptions::default())?;
            Ok(Model {
                name: imported.name,
                graph: imported.graph,
                tokenizer: imported.tokenizer,
                spec,
                origin: path.display().to_string(),
            })
        }
        _ => Err(Error::UnknownModel {
            name: name.to_string(),
            msg: "expected builtin:NAME, a Hugging Face folder, a .yaml model spec, an .onnx file \
                  or a .safetensors file written by sculpt"
                .into(),
        }),
    }
}
