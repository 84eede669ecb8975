//! Model specs (small YAML files), Hugging Face folders, builtins, and [`load_model`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::arch::{
    self, BertConfig, CnnConfig, ImageInput, MlpConfig, MlpInput, MobileNetV2Config,
};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::tokenizer::Tokenizer;
use crate::weights::{SafetensorsFile, WeightSource};

/// The metadata key under which sculpt stores a model's spec (YAML) in a safetensors file.
pub const SPEC_METADATA_KEY: &str = "sculpt.spec";

/// The architectures sculpt can build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// A multi-layer perceptron.
    Mlp,
    /// A LeNet-style CNN.
    Cnn,
    /// torchvision's MobileNetV2.
    MobilenetV2,
    /// A BERT encoder with sentence-embedding pooling.
    Bert,
    /// An ONNX graph (`file:`), imported into the IR.
    Onnx,
}

impl Arch {
    fn as_str(self) -> &'static str {
        match self {
            Arch::Mlp => "mlp",
            Arch::Cnn => "cnn",
            Arch::MobilenetV2 => "mobilenet_v2",
            Arch::Bert => "bert",
            Arch::Onnx => "onnx",
        }
    }
}

/// The `input:` of a spec: an image (`channels`, `height`, `width`, optional `mean`/`std`) or a
/// feature vector (`features`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputField {
    /// Image channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
    /// Image height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<usize>,
    /// Image width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    /// Normalisation mean, one value or one per channel (default 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mean: Vec<f32>,
    /// Normalisation standard deviation (default 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub std: Vec<f32>,
    /// Feature-vector width (MLP only), instead of an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<usize>,
    /// The pixel layout an ONNX graph reads (`nchw`, the default, or `nhwc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<crate::onnx::Layout>,
}

/// A model spec: the architecture, its hyperparameters and where the weights are.
///
/// ```yaml
/// arch: cnn
/// weights: demo-cnn.safetensors   # relative to this file; omitted = seeded random weights
/// input: {channels: 1, height: 28, width: 28, mean: [0.286], std: [0.353]}
/// channels: [32, 64]
/// kernel: 3
/// batch_norm: true
/// hidden: [128]
/// classes: 10
/// ```
///
/// Keys by architecture: `mlp`: `input`, `hidden`, `classes`; `cnn`: `input`, `channels`,
/// `kernel`, `batch_norm`, `hidden`, `classes`; `mobilenet_v2`: `classes`, `width_mult`,
/// `resolution`; `bert`: `config` (a Hugging Face `config.json`), `tokenizer`. Every
/// architecture takes `name`, `weights` and `seed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The architecture.
    pub arch: Arch,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The safetensors weights, relative to the spec's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// The seed of random weights (default 0); ignored when `weights` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The input (mlp, cnn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputField>,
    /// Hidden widths (mlp, cnn head).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
    /// Output classes (mlp, cnn, mobilenet_v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    /// Convolution channels per block (cnn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<usize>>,
    /// Kernel size (cnn, default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<usize>,
    /// BatchNorm after each convolution (cnn, default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_norm: Option<bool>,
    /// Width multiplier (mobilenet_v2, default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width_mult: Option<f64>,
    /// Input resolution (mobilenet_v2, default 224).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<usize>,
    /// A Hugging Face `config.json` (bert), relative to the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
    /// A `tokenizer.json` (bert, onnx), relative to the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<PathBuf>,
    /// The ONNX file (onnx), relative to the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// What the primary output is (onnx): `classification` or `embedding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<crate::onnx::TaskChoice>,
    /// The graph outputs to keep, primary first (onnx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<String>>,
    /// The sequence length of a text model (onnx, default 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<usize>,
    /// The per-sample shape of the first input where the ONNX graph leaves it open (onnx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<usize>>,
}

impl ModelSpec {
    /// A spec of this architecture with every other key unset.
    pub fn new(arch: Arch) -> ModelSpec {
        ModelSpec {
            arch,
            name: None,
            weights: None,
            seed: None,
            input: None,
            hidden: None,
            classes: None,
            channels: None,
            kernel: None,
            batch_norm: None,
            width_mult: None,
            resolution: None,
            config: None,
            tokenizer: None,
            file: None,
            task: None,
            outputs: None,
            tokens: None,
            input_shape: None,
        }
    }

    /// The spec as YAML.
    pub fn to_yaml(&self) -> String {
        sculpt_yaml::to_string(self).unwrap_or_default()
    }
}

/// Imports the ONNX file an `arch: onnx` spec names, with the spec's options.
fn build_onnx(spec: &ModelSpec, dir: &Path, fail: &dyn Fn(&str, String) -> Error) -> Result<Model> {
    let Some(file) = &spec.file else {
        return Err(fail(
            "file",
            "is required for arch `onnx` (the .onnx file, relative to this spec)".into(),
        ));
    };
    let input = spec.input.clone().unwrap_or_default();
    for (key, set) in [
        ("input.channels", input.channels.is_some()),
        ("input.height", input.height.is_some()),
        ("input.width", input.width.is_some()),
        ("input.features", input.features.is_some()),
    ] {
        if set {
            return Err(fail(
                key,
                "does not apply to arch `onnx` (give `input_shape:` for open dimensions)".into(),
            ));
        }
    }
    if input.std.iter().any(|s| *s <= 0.0 || !s.is_finite()) {
        return Err(fail("input.std", "must be positive".into()));
    }
    if spec.tokens == Some(0) {
        return Err(fail("tokens", "must be at least 1".into()));
    }
    let options = crate::onnx::OnnxOptions {
        name: spec.name.clone(),
        mean: input.mean.clone(),
        std: input.std.clone(),
        layout: input.layout.unwrap_or_default(),
        task: spec.task,
        outputs: spec.outputs.clone().unwrap_or_default(),
        tokens: spec.tokens,
        tokenizer: spec.tokenizer.as_ref().map(|t| dir.join(t)),
        input_shape: spec.input_shape.clone(),
    };
    let path = dir.join(file);
    let imported = crate::onnx::import_onnx(&path, &options)?;
    Ok(Model {
        name: imported.name,
        graph: imported.graph,
        tokenizer: imported.tokenizer,
        spec: spec.clone(),
        origin: path.display().to_string(),
    })
}

/// A loaded model: the graph, its tokenizer where it reads text, and where it came from.
#[derive(Clone, Debug)]
pub struct Model {
    /// A display name.
    pub name: String,
    /// The executable graph.
    pub graph: Graph,
    /// The tokenizer of text models.
    pub tokenizer: Option<Tokenizer>,
    /// The spec the model was built from (weights path cleared).
    pub spec: ModelSpec,
    /// Where it came from, for provenance (`builtin:demo-cnn`, a path, ...).
    pub origin: String,
}

/// Builds a model from a safetensors file whose metadata holds a spec.
pub fn load_safetensors_with_spec(file: SafetensorsFile, origin: &str) -> Result<Model> {
    if let Some(json) = file.metadata.get(crate::serial::GRAPH_METADATA_KEY) {
        // A rewritten graph (written by `sculpt apply`) stores its structure instead of a spec.
        let graph = crate::serial::graph_from_json(json, &file.tensors, &file.path)?;
        let spec = match file.metadata.get(SPEC_METADATA_KEY) {
            Some(text) => sculpt_yaml::from_str(text, &file.path.join(SPEC_METADATA_KEY))?,
            None => ModelSpec::new(Arch::Mlp),
        };
        let name = file.metadata.get("sculpt.name").cloned().unwrap_or_else(|| origin.to_string());
        return Ok(Model { name, graph, tokenizer: None, spec, origin: origin.to_string() });
    }
    let Some(text) = file.metadata.get(SPEC_METADATA_KEY).cloned() else {
        return Err(Error::invalid(
            &file.path,
            format!(
                "no `{SPEC_METADATA_KEY}` entry in the metadata; name a YAML spec whose `weights:` \
                 points at this file, or a Hugging Face folder"
            ),
        ));
    };
    let spec_origin = file.path.join(SPEC_METADATA_KEY);
    let spec: ModelSpec = sculpt_yaml::from_str(&text, &spec_origin)?;
    let dir = file.path.parent().map(Path::to_path_buf).unwrap_or_default();
    build_from_spec_in(&spec, &dir, Some((&spec_origin, &text)), Some(file), origin)
}

pub(crate) fn load_hf_folder(dir: &Path) -> Result<Model> {
    let config = dir.join("config.json");
    if !config.is_file() {
        return Err(Error::invalid(
            dir,
            "expected a Hugging Face model folder holding config.json and model.safetensors",
        ));
    }
    let mut spec = ModelSpec::new(Arch::Bert);
    spec.config = Some("config.json".into());
    spec.weights = Some("model.safetensors".into());
    if dir.join("tokenizer.json").is_file() {
        spec.tokenizer = Some("tokenizer.json".into());
    }
    spec.name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    build_from_spec_in(&spec, dir, None, None, &dir.display().to_string())
}

/// Builds a model from a spec whose relative paths (`weights`, `config`, `tokenizer`) are
/// relative to `dir`; without `weights` the weights are random, seeded by `seed`.
pub fn build_model(spec: &ModelSpec, dir: &Path, origin: &str) -> Result<Model> {
    build_from_spec_in(spec, dir, None, None, origin)
}

/// Builds a model from a spec read from `source` (path and text, for error lines).
pub(crate) fn build_from_spec(
    spec: &ModelSpec,
    source: Option<(&Path, &str)>,
    weights: Option<SafetensorsFile>,
    origin: &str,
) -> Result<Model> {
    let dir = source.and_then(|(p, _)| p.parent()).map(Path::to_path_buf).unwrap_or_default();
    build_from_spec_in(spec, &dir, source, weights, origin)
}

fn build_from_spec_in(
    spec: &ModelSpec,
    dir: &Path,
    source: Option<(&Path, &str)>,
    weights: Option<SafetensorsFile>,
    origin: &str,
) -> Result<Model> {
    let (src_path, src_text) = source.unwrap_or((Path::new("<spec>"), ""));
    let fail = |key: &str, msg: String| -> Error {
        Error::Spec(sculpt_yaml::Error::at_key(src_path, src_text, key, msg))
    };
    let set: Vec<(&str, bool)> = vec![
        ("input", spec.input.is_some()),
        ("hidden", spec.hidden.is_some()),
        ("classes", spec.classes.is_some()),
        ("channels", spec.channels.is_some()),
        ("kernel", spec.kernel.is_some()),
        ("batch_norm", spec.batch_norm.is_some()),
        ("width_mult", spec.width_mult.is_some()),
        ("resolution", spec.resolution.is_some()),
        ("config", spec.config.is_some()),
        ("tokenizer", spec.tokenizer.is_some()),
        ("file", spec.file.is_some()),
        ("task", spec.task.is_some()),
        ("outputs", spec.outputs.is_some()),
        ("tokens", spec.tokens.is_some()),
        ("input_shape", spec.input_shape.is_some()),
        ("weights", spec.weights.is_some() && spec.arch == Arch::Onnx),
    ];
    let allowed: &[&str] = match spec.arch {
        Arch::Mlp => &["input", "hidden", "classes"],
        Arch::Cnn => &["input", "hidden", "classes", "channels", "kernel", "batch_norm"],
        Arch::MobilenetV2 => &["classes", "width_mult", "resolution"],
        Arch::Bert => &["config", "tokenizer"],
        Arch::Onnx => &["file", "input", "task", "outputs", "tokens", "tokenizer", "input_shape"],
    };
    for (key, present) in set {
        if present && !allowed.contains(&key) {
            return Err(fail(
                key,
                format!(
                    "does not apply to arch `{}` (its keys: {})",
                    spec.arch.as_str(),
                    allowed.join(", ")
                ),
            ));
        }
    }
    let require = |key: &str, v: Option<usize>| -> Result<usize> {
        match v {
            Some(0) => Err(fail(key, "must be at least 1".into())),
            Some(v) => Ok(v),
            None => Err(fail(key, format!("is required for arch `{}`", spec.arch.as_str()))),
        }
    };
    let widths = |key: &str, v: &Option<Vec<usize>>| -> Result<Vec<usize>> {
        let v = v.clone().unwrap_or_default();
        if v.contains(&0) {
            return Err(fail(key, "widths must be at least 1".into()));
        }
        Ok(v)
    };
    let image = |input: &InputField| -> Result<ImageInput> {
        let channels = require("input.channels", input.channels)?;
        let height = require("input.height", input.height)?;
        let width = require("input.width", input.width)?;
        for (key, v) in [("input.mean", &input.mean), ("input.std", &input.std)] {
            if !(v.is_empty() || v.len() == 1 || v.len() == channels) {
                return Err(fail(key, format!("expected 1 or {channels} values, got {}", v.len())));
            }
        }
        if input.std.iter().any(|s| *s <= 0.0 || !s.is_finite()) {
            return Err(fail("input.std", "must be positive".into()));
        }
        Ok(ImageInput { channels, height, width, mean: input.mean.clone(), std: input.std.clone() })
    };

    let mut source_weights = match (weights, &spec.weights) {
        (Some(file), _) => WeightSource::file(file, ""),
        (None, Some(rel)) => {
            let path = dir.join(rel);
            let file = SafetensorsFile::read(&path)?;
            let prefix = if spec.arch == Arch::Bert
                && !file.tensors.contains_key("embeddings.word_embeddings.weight")
                && file.tensors.contains_key("bert.embeddings.word_embeddings.weight")
            {
                "bert."
            } else {
                ""
            };
            WeightSource::file(file, prefix)
        }
        (None, None) => WeightSource::random(spec.seed.unwrap_or(0)),
    };
    let mut tokenizer = None;
    let graph = match spec.arch {
        Arch::Onnx => return build_onnx(spec, dir, &fail),
        Arch::Mlp => {
            let Some(input) = &spec.input else {
                return Err(fail("input", "is required for arch `mlp`".into()));
            };
            let input = match input.features {
                Some(f) => {
                    if input.channels.is_some() || input.height.is_some() || input.width.is_some() {
                        return Err(fail(
                            "input.features",
                            "give either features or an image shape".into(),
                        ));
                    }
                    MlpInput::Features(require("input.features", Some(f))?)
                }
                None => MlpInput::Image(image(input)?),
            };
            let cfg = MlpConfig {
                input,
                hidden: widths("hidden", &spec.hidden)?,
                classes: require("classes", spec.classes)?,
            };
            arch::mlp(&cfg, &mut source_weights)?
        }
        Arch::Cnn => {
            let Some(input) = &spec.input else {
                return Err(fail("input", "is required for arch `cnn`".into()));
            };
            if input.features.is_some() {
                return Err(fail("input.features", "a cnn reads images".into()));
            }
            let input = image(input)?;
            let channels = widths("channels", &spec.channels)?;
            if channels.is_empty() {
                return Err(fail("channels", "needs at least one convolution block".into()));
            }
            let kernel = spec.kernel.unwrap_or(3);
            if kernel.is_multiple_of(2) {
                return Err(fail("kernel", format!("must be odd, got {kernel}")));
            }
            let shrink = 1usize << channels.len();
            if input.height < shrink || input.width < shrink {
                return Err(fail(
                    "channels",
                    format!(
                        "{} pooling blocks need an input of at least {shrink}×{shrink}",
                        channels.len()
                    ),
                ));
            }
            let cfg = CnnConfig {
                input,
                channels,
                kernel,
                batch_norm: spec.batch_norm.unwrap_or(true),
                hidden: widths("hidden", &spec.hidden)?,
                classes: require("classes", spec.classes)?,
            };
            arch::cnn(&cfg, &mut source_weights)?
        }
        Arch::MobilenetV2 => {
            let width_mult = spec.width_mult.unwrap_or(1.0);
            if !(width_mult > 0.0 && width_mult.is_finite()) {
                return Err(fail("width_mult", format!("must be positive, got {width_mult}")));
            }
            let resolution = spec.resolution.unwrap_or(224);
            if resolution < 32 {
                return Err(fail("resolution", format!("must be at least 32, got {resolution}")));
            }
            let cfg = MobileNetV2Config {
                classes: require("classes", Some(spec.classes.unwrap_or(1000)))?,
                width_mult,
                resolution,
            };
            arch::mobilenet_v2(&cfg, &mut source_weights)?
        }
        Arch::Bert => {
            let cfg = match &spec.config {
                Some(rel) => {
                    let mut cfg = read_bert_config(&dir.join(rel))?;
                    cfg.pooler = source_weights.has("pooler.dense.weight");
                    cfg
                }
                None => BertConfig::minilm_l6(),
            };
            if let Some(rel) = &spec.tokenizer {
                tokenizer = Some(Tokenizer::from_file(&dir.join(rel))?);
            }
            arch::bert(&cfg, &mut source_weights)?
        }
    };
    let mut clean = spec.clone();
    clean.weights = None;
    Ok(Model {
        name: spec.name.clone().unwrap_or_else(|| origin.to_string()),
        graph,
        tokenizer,
        spec: clean,
        origin: origin.to_string(),
    })
}

/// Reads the keys of a Hugging Face BERT `config.json` that the encoder needs.
pub fn read_bert_config(path: &Path) -> Result<BertConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::invalid(path, format!("not valid JSON: {e}")))?;
    let obj = value.as_object().ok_or_else(|| Error::invalid(path, "expected a JSON object"))?;
    if let Some(kind) = obj.get("model_type").and_then(|v| v.as_str())
        && kind != "bert"
    {
        return Err(Error::invalid(
            path,
            format!("model_type `{kind}` is not supported; expected `bert`"),
        ));
    }
    let int = |key: &str| -> Result<usize> {
        obj.get(key).and_then(|v| v.as_u64()).filter(|v| *v > 0).map(|v| v as usize).ok_or_else(
            || Error::invalid(path, format!("key `{key}`: expected a positive integer")),
        )
    };
    if let Some(act) = obj.get("hidden_act").and_then(|v| v.as_str())
        && act != "gelu"
    {
        return Err(Error::invalid(
            path,
            format!("key `hidden_act`: `{act}` is not supported; expected `gelu`"),
        ));
    }
    let cfg = BertConfig {
        hidden_size: int("hidden_size")?,
        num_hidden_layers: int("num_hidden_layers")?,
        num_attention_heads: int("num_attention_heads")?,
        intermediate_size: int("intermediate_size")?,
        vocab_size: int("vocab_size")?,
        max_position_embeddings: int("max_position_embeddings")?,
        type_vocab_size: int("type_vocab_size")?,
        layer_norm_eps: obj.get("layer_norm_eps").and_then(|v| v.as_f64()).unwrap_or(1e-12),
        pooler: true,
    };
    if !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads) {
        return Err(Error::invalid(
            path,
            format!(
                "key `hidden_size`: {} is not a multiple of num_attention_heads {}",
                cfg.hidden_size, cfg.num_attention_heads
            ),
        ));
    }
    Ok(cfg)
}

/// Metadata that makes a weights file self-describing: the spec as YAML.
pub fn spec_metadata(spec: &ModelSpec) -> BTreeMap<String, String> {
    let mut clean = spec.clone();
    clean.weights = None;
    BTreeMap::from([(SPEC_METADATA_KEY.to_string(), clean.to_yaml())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_error(text: &str) -> String {
        let path = Path::new("m.yaml");
        match sculpt_yaml::from_str::<ModelSpec>(text, path) {
            Err(e) => e.to_string(),
            Ok(spec) => {
                build_from_spec(&spec, Some((path, text)), None, "m.yaml").unwrap_err().to_string()
            }
        }
    }

    #[test]
    fn bad_specs_name_line_and_key() {
        let check = |text: &str, expected: &str| {
            let got = spec_error(text);
            assert!(got.contains(expected), "{got:?} lacks {expected:?}");
        };
        check("arch: resnet\n", "m.yaml:1:7: key `arch`: unknown variant `resnet`");
        check(
            "arch: mlp\ninput: {features: 4}\nclasses: 3\nlayers: 2\n",
            "m.yaml:4:1: key `layers`: unknown field `layers`",
        );
        check(
            "arch: mlp\ninput: {features: 4}\n",
            "m.yaml: key `classes`: is required for arch `mlp`",
        );
        check(
            "arch: mlp\ninput: {features: 4}\nclasses: 3\nkernel: 3\n",
            "m.yaml:4: key `kernel`: does not apply to arch `mlp`",
        );
        check(
            "arch: cnn\ninput:\n  channels: 1\n  height: 28\n  width: 28\nchannels: [8]\nkernel: 4\nclasses: 2\n",
            "m.yaml:7: key `kernel`: must be odd",
        );
        check(
            "arch: cnn\ninput:\n  channels: 3\n  height: 8\n  width: 8\n  mean: [1, 2]\nchannels: [8]\nclasses: 2\n",
            "m.yaml:6: key `input.mean`: expected 1 or 3 values",
        );
        check(
            "arch: cnn\ninput: {channels: 1, height: 4, width: 4}\nchannels: [2, 2, 2]\nclasses: 2\n",
            "key `channels`: 3 pooling blocks need an input of at least 8×8",
        );
    }

    #[test]
    fn spec_builds_mlp_with_the_documented_names() {
        let text = "arch: mlp\ninput: {features: 4}\nhidden: [5]\nclasses: 3\nseed: 9\n";
        let spec: ModelSpec = sculpt_yaml::from_str(text, Path::new("m.yaml")).unwrap();
        let model =
            build_from_spec(&spec, Some((Path::new("m.yaml"), text)), None, "m.yaml").unwrap();
        let names: Vec<&str> = model.graph.nodes().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["fc1", "relu1", "classifier"]);
        assert_eq!(model.graph.n_params(), 4 * 5 + 5 + 5 * 3 + 3);
    }
}
