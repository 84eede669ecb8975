//! Architecture builders: each turns a configuration and a weight source into a [`Graph`] whose
//! layer names are the published module names, so that weight files load as they are.

use crate::error::Result;
use crate::graph::{Graph, InputKind, InputSpec, Node, Task, ValueRef};
use crate::ops::{Attention, Op, Pool2d};
use crate::weights::WeightSource;

/// Appends nodes and remembers the last value, so builders read like the module they mirror.
struct Builder {
    nodes: Vec<Node>,
}

impl Builder {
    fn new() -> Builder {
        Builder { nodes: Vec::new() }
    }

    fn push(&mut self, name: impl Into<String>, op: Op, inputs: Vec<ValueRef>) -> ValueRef {
        self.nodes.push(Node { name: name.into(), op, inputs });
        ValueRef::Node(self.nodes.len() - 1)
    }
}

/// The input of an image model.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageInput {
    /// Channels.
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// Normalisation mean (one value or one per channel).
    pub mean: Vec<f32>,
    /// Normalisation standard deviation.
    pub std: Vec<f32>,
}

impl ImageInput {
    fn spec(&self) -> InputSpec {
        InputSpec {
            name: "image".into(),
            kind: InputKind::Image {
                channels: self.channels,
                height: self.height,
                width: self.width,
                mean: self.mean.clone(),
                std: self.std.clone(),
            },
        }
    }
}

/// A multi-layer perceptron on flattened images or on feature vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpConfig {
    /// Images (flattened first) or feature vectors.
    pub input: MlpInput,
    /// Hidden widths; each hidden layer is `fcN` followed by `reluN`.
    pub hidden: Vec<usize>,
    /// Output classes; the last layer is `classifier`.
    pub classes: usize,
}

/// The input of an MLP.
#[derive(Clone, Debug, PartialEq)]
pub enum MlpInput {
    /// Images, flattened by a `flatten` node.
    Image(ImageInput),
    /// Feature vectors of this width.
    Features(usize),
}

pub(crate) fn mlp(cfg: &MlpConfig, w: &mut WeightSource) -> Result<Graph> {
    let mut b = Builder::new();
    let (input, mut x, mut width) = match &cfg.input {
        MlpInput::Image(img) => {
            let x = b.push("flatten", Op::Flatten, vec![ValueRef::Input(0)]);
            (img.spec(), x, img.channels * img.height * img.width)
        }
        MlpInput::Features(dim) => (
            InputSpec { name: "features".into(), kind: InputKind::Features { dim: *dim } },
            ValueRef::Input(0),
            *dim,
        ),
    };
    for (i, &h) in cfg.hidden.iter().enumerate() {
        let name = format!("fc{}", i + 1);
        x = b.push(&name, Op::Linear(w.linear(&name, width, h, true)?), vec![x]);
        x = b.push(format!("relu{}", i + 1), Op::Relu, vec![x]);
        width = h;
    }
    let out = b.push(
        "classifier",
        Op::Linear(w.linear("classifier", width, cfg.classes, true)?),
        vec![x],
    );
    Graph::new(
        vec![input],
        b.nodes,
        vec![("logits".into(), out)],
        Task::Classification { classes: cfg.classes },
    )
}

/// A LeNet-style CNN: blocks of convolution, optional BatchNorm, ReLU and 2×2 max pooling, then
/// an MLP head.
#[derive(Clone, Debug, PartialEq)]
pub struct CnnConfig {
    /// The image input.
    pub input: ImageInput,
    /// Output channels of each convolution block (`convN`, `bnN`, `reluN`, `poolN`).
    pub channels: Vec<usize>,
    /// Square kernel size (odd; padding keeps the spatial size before pooling).
    pub kernel: usize,
    /// Whether each convolution is followed by BatchNorm (then it has no bias).
    pub batch_norm: bool,
    /// Hidden widths of the head (`fcN` with `fc_reluN`).
    pub hidden: Vec<usize>,
    /// Output classes; the last layer is `classifier`.
    pub classes: usize,
}

pub(crate) fn cnn(cfg: &CnnConfig, w: &mut WeightSource) -> Result<Graph> {
    let mut b = Builder::new();
    let mut x = ValueRef::Input(0);
    let (mut c, mut h, mut wd) = (cfg.input.channels, cfg.input.height, cfg.input.width);
    for (i, &c_out) in cfg.channels.iter().enumerate() {
        let n = i + 1;
        let conv = w.conv2d(
            &format!("conv{n}"),
            c,
            c_out,
            cfg.kernel,
            1,
            cfg.kernel / 2,
            1,
            !cfg.batch_norm,
        )?;
        x = b.push(format!("conv{n}"), Op::Conv2d(conv), vec![x]);
        if cfg.batch_norm {
            x = b.push(
                format!("bn{n}"),
                Op::BatchNorm2d(w.batch_norm(&format!("bn{n}"), c_out, 1e-5)?),
                vec![x],
            );
        }
        x = b.push(format!("relu{n}"), Op::Relu, vec![x]);
        let pool = Pool2d { kernel: (2, 2), stride: (2, 2), padding: (0, 0) };
        x = b.push(format!("pool{n}"), Op::MaxPool2d(pool), vec![x]);
        c = c_out;
        h /= 2;
        wd /= 2;
    }
    x = b.push("flatten", Op::Flatten, vec![x]);
    let mut width = c * h * wd;
    for (i, &hidden) in cfg.hidden.iter().enumerate() {
        let name = format!("fc{}", i + 1);
        x = b.push(&name, Op::Linear(w.linear(&name, width, hidden, true)?), vec![x]);
        x = b.push(format!("fc_relu{}", i + 1), Op::Relu, vec![x]);
        width = hidden;
    }
    let out = b.push(
        "classifier",
        Op::Linear(w.linear("classifier", width, cfg.classes, true)?),
        vec![x],
    );
    Graph::new(
        vec![cfg.input.spec()],
        b.nodes,
        vec![("logits".into(), out)],
        Task::Classification { classes: cfg.classes },
    )
}

/// torchvision's MobileNetV2.
#[derive(Clone, Debug, PartialEq)]
pub struct MobileNetV2Config {
    /// Output classes (1000 for ImageNet).
    pub classes: usize,
    /// Width multiplier (1.0 for the published model).
    pub width_mult: f64,
    /// Input resolution (224 for the published model).
    pub resolution: usize,
}

impl Default for MobileNetV2Config {
    fn default() -> Self {
        MobileNetV2Config { classes: 1000, width_mult: 1.0, resolution: 224 }
    }
}

/// torchvision's `_make_divisible`: round to the nearest multiple of `divisor`, never below 90%.
fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new_v = ((v + d / 2.0) / d).floor().max(1.0) as usize * divisor;
    if (new_v as f64) < 0.9 * v {
        new_v += divisor;
    }
    new_v.max(divisor)
}

pub(crate) fn mobilenet_v2(cfg: &MobileNetV2Config, w: &mut WeightSource) -> Result<Graph> {
    const EPS: f64 = 1e-5;
    // (expansion t, output channels c, repeats n, first stride s), from the paper's Table 2.
    const SETTINGS: [(usize, usize, usize, usize); 7] = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ];
    let mut b = Builder::new();
    // Conv → BN → ReLU6 as torchvision's Conv2dNormActivation, named `<prefix>.0/.1/.2`.
    let conv_bn_act = |b: &mut Builder,
                       w: &mut WeightSource,
                       prefix: &str,
                       x: ValueRef,
                       c_in: usize,
                       c_out: usize,
                       k: usize,
                       stride: usize,
                       groups: usize|
     -> Result<ValueRef> {
        let conv =
            w.conv2d(&format!("{prefix}.0"), c_in, c_out, k, stride, (k - 1) / 2, groups, false)?;
        let x = b.push(format!("{prefix}.0"), Op::Conv2d(conv), vec![x]);
        let bn = w.batch_norm(&format!("{prefix}.1"), c_out, EPS)?;
        let x = b.push(format!("{prefix}.1"), Op::BatchNorm2d(bn), vec![x]);
        Ok(b.push(format!("{prefix}.2"), Op::Relu6, vec![x]))
    };
    let mut c_in = make_divisible(32.0 * cfg.width_mult, 8);
    let last = make_divisible(1280.0 * cfg.width_mult.max(1.0), 8);
    let mut x = conv_bn_act(&mut b, w, "features.0", ValueRef::Input(0), 3, c_in, 3, 2, 1)?;
    let mut idx = 1;
    for (t, c, n, s) in SETTINGS {
        let c_out = make_divisible(c as f64 * cfg.width_mult, 8);
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            let hidden = c_in * t;
            let p = format!("features.{idx}.conv");
            let block_in = x;
            let mut j = 0;
            if t != 1 {
                x = conv_bn_act(&mut b, w, &format!("{p}.{j}"), x, c_in, hidden, 1, 1, 1)?;
                j += 1;
            }
            x = conv_bn_act(&mut b, w, &format!("{p}.{j}"), x, hidden, hidden, 3, stride, hidden)?;
            j += 1;
            let proj = w.conv2d(&format!("{p}.{j}"), hidden, c_out, 1, 1, 0, 1, false)?;
            x = b.push(format!("{p}.{j}"), Op::Conv2d(proj), vec![x]);
            let bn = w.batch_norm(&format!("{p}.{}", j + 1), c_out, EPS)?;
            x = b.push(format!("{p}.{}", j + 1), Op::BatchNorm2d(bn), vec![x]);
            if stride == 1 && c_in == c_out {
                x = b.push(format!("features.{idx}.add"), Op::Add, vec![block_in, x]);
            }
            c_in = c_out;
            idx += 1;
        }
    }
    x = conv_bn_act(&mut b, w, &format!("features.{idx}"), x, c_in, last, 1, 1, 1)?;
    x = b.push("avgpool", Op::AdaptiveAvgPool2d { output: (1, 1) }, vec![x]);
    x = b.push("flatten", Op::Flatten, vec![x]);
    // classifier.0 is Dropout, an identity at inference.
    let fc = w.linear("classifier.1", last, cfg.classes, true)?;
    let out = b.push("classifier.1", Op::Linear(fc), vec![x]);
    let input = ImageInput {
        channels: 3,
        height: cfg.resolution,
        width: cfg.resolution,
        mean: vec![0.485, 0.456, 0.406],
        std: vec![0.229, 0.224, 0.225],
    };
    Graph::new(
        vec![input.spec()],
        b.nodes,
        vec![("logits".into(), out)],
        Task::Classification { classes: cfg.classes },
    )
}

/// A BERT encoder with Hugging Face's module names, producing sentence embeddings by masked
/// mean pooling and L2 normalisation (sentence-transformers' recipe).
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    /// Hidden width.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Longest sequence the position table covers.
    pub max_position_embeddings: usize,
    /// Segment types.
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Whether to build the `[CLS]` pooler (a secondary output; sentence embeddings do not use it).
    pub pooler: bool,
}

impl BertConfig {
    /// all-MiniLM-L6-v2's configuration.
    pub fn minilm_l6() -> BertConfig {
        BertConfig {
            hidden_size: 384,
            num_hidden_layers: 6,
            num_attention_heads: 12,
            intermediate_size: 1536,
            vocab_size: 30522,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            pooler: true,
        }
    }
}

pub(crate) fn bert(cfg: &BertConfig, w: &mut WeightSource) -> Result<Graph> {
    let h = cfg.hidden_size;
    let eps = cfg.layer_norm_eps;
    let inputs = vec![
        InputSpec { name: "input_ids".into(), kind: InputKind::TokenIds },
        InputSpec { name: "token_type_ids".into(), kind: InputKind::TokenTypeIds },
        InputSpec { name: "position_ids".into(), kind: InputKind::PositionIds },
        InputSpec { name: "attention_mask".into(), kind: InputKind::AttentionMask },
    ];
    let mask = ValueRef::Input(3);
    let mut b = Builder::new();
    let e = "embeddings";
    let word = b.push(
        format!("{e}.word_embeddings"),
        Op::Embedding(w.embedding(&format!("{e}.word_embeddings"), cfg.vocab_size, h)?),
        vec![ValueRef::Input(0)],
    );
    let pos = b.push(
        format!("{e}.position_embeddings"),
        Op::Embedding(w.embedding(
            &format!("{e}.position_embeddings"),
            cfg.max_position_embeddings,
            h,
        )?),
        vec![ValueRef::Input(2)],
    );
    let ty = b.push(
        format!("{e}.token_type_embeddings"),
        Op::Embedding(w.embedding(
            &format!("{e}.token_type_embeddings"),
            cfg.type_vocab_size,
            h,
        )?),
        vec![ValueRef::Input(1)],
    );
    let sum = b.push(format!("{e}.add"), Op::Add, vec![word, pos, ty]);
    let mut x = b.push(
        format!("{e}.LayerNorm"),
        Op::LayerNorm(w.layer_norm(&format!("{e}.LayerNorm"), h, eps)?),
        vec![sum],
    );
    for l in 0..cfg.num_hidden_layers {
        let p = format!("encoder.layer.{l}");
        let lin = |w: &mut WeightSource, name: &str, d_in, d_out| -> Result<Op> {
            Ok(Op::Linear(w.linear(name, d_in, d_out, true)?))
        };
        let q = b.push(
            format!("{p}.attention.self.query"),
            lin(w, &format!("{p}.attention.self.query"), h, h)?,
            vec![x],
        );
        let k = b.push(
            format!("{p}.attention.self.key"),
            lin(w, &format!("{p}.attention.self.key"), h, h)?,
            vec![x],
        );
        let v = b.push(
            format!("{p}.attention.self.value"),
            lin(w, &format!("{p}.attention.self.value"), h, h)?,
            vec![x],
        );
        let ctx = b.push(
            format!("{p}.attention.self"),
            Op::Attention(Attention { n_heads: cfg.num_attention_heads }),
            vec![q, k, v, mask],
        );
        let o = b.push(
            format!("{p}.attention.output.dense"),
            lin(w, &format!("{p}.attention.output.dense"), h, h)?,
            vec![ctx],
        );
        let res = b.push(format!("{p}.attention.output.add"), Op::Add, vec![o, x]);
        let attn_out = b.push(
            format!("{p}.attention.output.LayerNorm"),
            Op::LayerNorm(w.layer_norm(&format!("{p}.attention.output.LayerNorm"), h, eps)?),
            vec![res],
        );
        let inter = b.push(
            format!("{p}.intermediate.dense"),
            lin(w, &format!("{p}.intermediate.dense"), h, cfg.intermediate_size)?,
            vec![attn_out],
        );
        let act = b.push(format!("{p}.intermediate.gelu"), Op::Gelu, vec![inter]);
        let out = b.push(
            format!("{p}.output.dense"),
            lin(w, &format!("{p}.output.dense"), cfg.intermediate_size, h)?,
            vec![act],
        );
        let res = b.push(format!("{p}.output.add"), Op::Add, vec![out, attn_out]);
        x = b.push(
            format!("{p}.output.LayerNorm"),
            Op::LayerNorm(w.layer_norm(&format!("{p}.output.LayerNorm"), h, eps)?),
            vec![res],
        );
    }
    let pooled = b.push("pooling.mean", Op::MeanPool, vec![x, mask]);
    let embedding = b.push("pooling.normalize", Op::L2Normalize, vec![pooled]);
    let mut outputs = vec![("sentence_embedding".to_string(), embedding)];
    if cfg.pooler {
        let cls = b.push("pooler.cls", Op::SelectToken { index: 0 }, vec![x]);
        let dense =
            b.push("pooler.dense", Op::Linear(w.linear("pooler.dense", h, h, true)?), vec![cls]);
        let tanh = b.push("pooler.tanh", Op::Tanh, vec![dense]);
        outputs.push(("pooler_output".to_string(), tanh));
    }
    Graph::new(inputs, b.nodes, outputs, Task::Embedding { dim: h })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_divisible_matches_torchvision() {
        // Values torchvision computes for width multipliers 1.0, 0.5 and 0.75.
        assert_eq!(make_divisible(32.0, 8), 32);
        assert_eq!(make_divisible(16.0, 8), 16);
        assert_eq!(make_divisible(12.0, 8), 16);
        assert_eq!(make_divisible(24.0 * 0.75, 8), 24);
        assert_eq!(make_divisible(320.0 * 0.5, 8), 160);
        assert_eq!(make_divisible(1280.0, 8), 1280);
    }
}
