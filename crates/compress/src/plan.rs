//! The `CompressionPlan`: a YAML document of defaults plus per-layer entries, and its resolution
//! against a model's layers.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use sculpt_model::{Graph, LayerKind, Op};

use crate::error::{Error, Result};

/// How a layer's weights are pruned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PruneKind {
    /// Unstructured: the smallest weights by magnitude are set to zero.
    Magnitude,
    /// Semi-structured: in every group of `m` consecutive inputs keep the `n` largest.
    NM,
    /// Structured: whole output channels (Conv) or neurons (Linear) are removed.
    Channel,
    /// Structured: whole attention heads are removed (named by the attention layer).
    Head,
}

/// Whether magnitude pruning ranks weights within the layer or across all layers so marked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PruneScope {
    /// One threshold per layer.
    #[default]
    Layer,
    /// One threshold over every layer whose plan entry says `scope: global`.
    Global,
}

/// The norm that ranks channels, neurons and heads (BatchNorm |γ| is used instead when the
/// channel feeds a BatchNorm directly).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Sum of absolute values.
    #[default]
    L1,
    /// Euclidean norm.
    L2,
}

/// `prune: {kind, ratio, n, m, scope, criterion, align}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prune {
    /// What is pruned.
    pub kind: PruneKind,
    /// Share of weights, channels or heads removed, in [0, 1) (not for `n_m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// Kept values per group (`n_m` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// Group size (`n_m` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<usize>,
    /// Per layer or global ranking (`magnitude` only).
    #[serde(default, skip_serializing_if = "is_default")]
    pub scope: PruneScope,
    /// Ranking norm for structured pruning.
    #[serde(default, skip_serializing_if = "is_default")]
    pub criterion: Criterion,
    /// Channel pruning keeps a multiple of this many channels (GEMM kernels and accelerators
    /// run aligned widths faster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub align: Option<usize>,
}

/// Quantization granularity: how many values share a scale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One scale for the tensor.
    PerTensor,
    /// One scale per output channel (row).
    #[default]
    PerChannel,
    /// One scale per `group_size` consecutive inputs of a row.
    PerGroup,
}

/// Float formats for `weight_bits: 16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FloatFormat {
    /// IEEE half precision.
    Fp16,
    /// bfloat16.
    Bf16,
}

/// How activation ranges are calibrated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActCalibration {
    /// The observed minimum and maximum.
    #[default]
    MinMax,
    /// The 0.01 % and 99.99 % percentiles.
    Percentile,
    /// The clipping range that minimises the mean squared quantization error.
    Mse,
}

/// How weight ranges are clipped before rounding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clip {
    /// The full range (round to nearest).
    #[default]
    None,
    /// Per scale group, the clipping ratio in {1.0, 0.95, …, 0.5} with the least squared error.
    Mse,
}

/// `quant: {weight_bits, act_bits, granularity, group_size, symmetric, float, clip, act_calibration}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quant {
    /// 2, 3, 4, 6 or 8 for integers; 16 with `float` for a float cast; 32 for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_bits: Option<u8>,
    /// 8 or 16 to fake-quantize the layer's input activations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act_bits: Option<u8>,
    /// Scale sharing (default per_channel).
    #[serde(default, skip_serializing_if = "is_default")]
    pub granularity: Granularity,
    /// 32, 64 or 128 (per_group only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_size: Option<usize>,
    /// Symmetric (default) or asymmetric with a zero point.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub symmetric: bool,
    /// The float format of `weight_bits: 16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub float: Option<FloatFormat>,
    /// Weight clipping.
    #[serde(default, skip_serializing_if = "is_default")]
    pub clip: Clip,
    /// Activation range calibration.
    #[serde(default, skip_serializing_if = "is_default")]
    pub act_calibration: ActCalibration,
}

/// `rank: {ratio | rank | energy}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rank {
    /// Rank as a share of the full rank min(out, in), in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// Absolute rank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<usize>,
    /// Smallest rank keeping this share of the squared singular values, in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<f64>,
}

/// One compression choice for one layer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerOption {
    /// Pruning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<Prune>,
    /// Quantization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quant: Option<Quant>,
    /// Low-rank factorisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<Rank>,
}

impl LayerOption {
    /// True when the option changes nothing.
    pub fn is_identity(&self) -> bool {
        self.prune.as_ref().is_none_or(|p| p.kind != PruneKind::NM && p.ratio.unwrap_or(0.0) == 0.0)
            && self
                .quant
                .as_ref()
                .is_none_or(|q| q.weight_bits.unwrap_or(32) == 32 && q.act_bits.is_none())
            && self
                .rank
                .as_ref()
                .is_none_or(|r| r.ratio == Some(1.0) && r.rank.is_none() && r.energy.is_none())
    }

    /// The weight bit width this option stores (32 when not quantized).
    pub fn weight_bits(&self) -> u8 {
        self.quant.as_ref().and_then(|q| q.weight_bits).unwrap_or(32)
    }
}

impl fmt::Display for LayerOption {
    /// A short label: `w4g32 a8 p:ch0.25 r0.5`, or `fp32` for the identity.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(q) = &self.quant {
            match (q.weight_bits, q.float) {
                (Some(16), Some(FloatFormat::Fp16)) => parts.push("fp16".to_string()),
                (Some(16), Some(FloatFormat::Bf16)) => parts.push("bf16".to_string()),
                (Some(b), _) if b < 32 => {
                    let g = match q.granularity {
                        Granularity::PerTensor => "t".to_string(),
                        Granularity::PerChannel => "c".to_string(),
                        Granularity::PerGroup => format!("g{}", q.group_size.unwrap_or(32)),
                    };
                    let asym = if q.symmetric { "" } else { "a" };
                    parts.push(format!("w{b}{g}{asym}"));
                }
                _ => {}
            }
            if let Some(a) = q.act_bits {
                parts.push(format!("a{a}"));
            }
        }
        if let Some(p) = &self.prune {
            match p.kind {
                PruneKind::NM => parts.push(format!("{}:{}", p.n.unwrap_or(2), p.m.unwrap_or(4))),
                PruneKind::Magnitude => parts.push(format!("sp{}", p.ratio.unwrap_or(0.0))),
                PruneKind::Channel => match p.align {
                    Some(a) => parts.push(format!("ch{}a{a}", p.ratio.unwrap_or(0.0))),
                    None => parts.push(format!("ch{}", p.ratio.unwrap_or(0.0))),
                },
                PruneKind::Head => parts.push(format!("hd{}", p.ratio.unwrap_or(0.0))),
            }
        }
        if let Some(r) = &self.rank {
            match (r.ratio, r.rank, r.energy) {
                (Some(x), _, _) => parts.push(format!("r{x}")),
                (_, Some(k), _) => parts.push(format!("rank{k}")),
                (_, _, Some(e)) => parts.push(format!("e{e}")),
                _ => {}
            }
        }
        if parts.is_empty() {
            parts.push("fp32".into());
        }
        write!(f, "{}", parts.join(" "))
    }
}

/// A compression plan: defaults plus per-layer entries (names or globs; the most specific
/// match wins; an entry replaces the defaults for the layers it matches).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressionPlan {
    /// The model the plan was made for (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The option of every compressible layer no entry matches.
    #[serde(default)]
    pub defaults: LayerOption,
    /// Entries by layer name or glob (`*` any characters, `?` one).
    #[serde(default)]
    pub layers: BTreeMap<String, LayerOption>,
}

/// Where a plan came from, for error messages that name the file, line and key.
#[derive(Clone, Debug)]
pub struct PlanSource {
    /// The file.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

impl CompressionPlan {
    /// Reads a plan from a YAML file.
    pub fn from_path(path: &Path) -> Result<(CompressionPlan, PlanSource)> {
        let text = sculpt_yaml::read_text(path)?;
        let plan = sculpt_yaml::from_str(&text, path)?;
        Ok((plan, PlanSource { path: path.to_path_buf(), text }))
    }

    /// The plan as YAML.
    pub fn to_yaml(&self) -> String {
        sculpt_yaml::to_string(self).unwrap_or_default()
    }
}

/// `*` matches any run of characters, `?` one character.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// A plan resolved against a graph: the option of every layer it changes, by node index.
#[derive(Clone, Debug, Default)]
pub struct ResolvedPlan {
    /// Layer index → (layer name, option, whether the entry named the layer exactly).
    pub layers: BTreeMap<usize, ResolvedLayer>,
}

/// One layer's resolved option.
#[derive(Clone, Debug)]
pub struct ResolvedLayer {
    /// The layer name.
    pub name: String,
    /// The option.
    pub option: LayerOption,
    /// The plan key that chose it (`defaults` or the entry's pattern).
    pub key: String,
}

/// True for layers a plan can address: Linear, Conv2d and Embedding weights, and attention
/// layers (for head pruning).
pub fn is_plan_target(op: &Op) -> bool {
    op.is_compressible() || matches!(op, Op::Attention(_))
}

/// Resolves a plan against a graph, validating every entry; errors name the plan key.
pub fn resolve(
    plan: &CompressionPlan,
    graph: &Graph,
    source: Option<&PlanSource>,
) -> Result<ResolvedPlan> {
    let key_err = |key: &str, msg: String| -> Error {
        match source {
            Some(s) => Error::Plan(sculpt_yaml::Error::at_key(&s.path, &s.text, key, msg)),
            None => Error::Plan(sculpt_yaml::Error::whole_file(
                Path::new("<plan>"),
                format!("key `{key}`: {msg}"),
            )),
        }
    };
    // Every pattern must match at least one layer, and an exact name must be a plan target.
    for pattern in plan.layers.keys() {
        let matches: Vec<&sculpt_model::Node> =
            graph.nodes().iter().filter(|n| glob_match(pattern, &n.name)).collect();
        if matches.is_empty() {
            let known: Vec<&str> = graph
                .nodes()
                .iter()
                .filter(|n| is_plan_target(&n.op))
                .map(|n| n.name.as_str())
                .take(12)
                .collect();
            return Err(key_err(
                &format!("layers.{pattern}"),
                format!(
                    "no layer of the model matches `{pattern}` (layers include: {})",
                    known.join(", ")
                ),
            ));
        }
        if !is_glob(pattern) && !is_plan_target(&matches[0].op) {
            return Err(key_err(
                &format!("layers.{pattern}"),
                format!("layer `{pattern}` ({}) has no weights to compress", matches[0].op.kind()),
            ));
        }
    }
    let mut out = ResolvedPlan::default();
    for (idx, node) in graph.nodes().iter().enumerate() {
        if !is_plan_target(&node.op) {
            continue;
        }
        // Most specific: an exact name, else the glob with the most literal characters.
        let mut best: Option<(&String, usize)> = None;
        let mut tie: Option<&String> = None;
        for pattern in plan.layers.keys() {
            if !glob_match(pattern, &node.name) {
                continue;
            }
            let score = if is_glob(pattern) {
                pattern.chars().filter(|c| *c != '*' && *c != '?').count()
            } else {
                usize::MAX
            };
            match best {
                Some((_, s)) if s > score => {}
                Some((_, s)) if s == score => tie = Some(pattern),
                _ => {
                    best = Some((pattern, score));
                    tie = None;
                }
            }
        }
        if let (Some((p, _)), Some(t)) = (best, tie) {
            return Err(key_err(
                &format!("layers.{t}"),
                format!(
                    "layer `{}` matches `{p}` and `{t}` equally; make one more specific",
                    node.name
                ),
            ));
        }
        let (key, option, exact) = match best {
            Some((p, _)) => (format!("layers.{p}"), plan.layers[p].clone(), !is_glob(p)),
            None => ("defaults".to_string(), plan.defaults.clone(), false),
        };
        let option =
            applicable(&option, &node.op, &node.name, exact).map_err(|msg| key_err(&key, msg))?;
        validate_option(&option, &node.op)
            .map_err(|(k, msg)| key_err(&format!("{key}.{k}"), msg))?;
        if !option.is_identity() {
            out.layers.insert(idx, ResolvedLayer { name: node.name.clone(), option, key });
        }
    }
    Ok(out)
}

/// Drops the parts of an option that do not apply to this kind of layer; when the entry named
/// the layer exactly, that is an error instead.
fn applicable(
    option: &LayerOption,
    op: &Op,
    name: &str,
    exact: bool,
) -> Result<LayerOption, String> {
    let mut o = option.clone();
    let kind = op.kind();
    let refuse = |what: &str| -> Result<(), String> {
        if exact {
            Err(format!("{what} does not apply to layer `{name}` ({kind})"))
        } else {
            Ok(())
        }
    };
    if matches!(op, Op::Attention(_)) {
        if o.quant.is_some()
            || o.rank.is_some()
            || o.prune.as_ref().is_some_and(|p| p.kind != PruneKind::Head)
        {
            refuse("only head pruning")?;
        }
        o.quant = None;
        o.rank = None;
        o.prune = o.prune.filter(|p| p.kind == PruneKind::Head);
        return Ok(o);
    }
    if o.prune.as_ref().is_some_and(|p| p.kind == PruneKind::Head) {
        refuse("head pruning (it applies to attention layers)")?;
        o.prune = None;
    }
    if let Some(p) = o.prune.as_ref().filter(|p| p.kind == PruneKind::NM) {
        let (inner, m) = (inner_dim(op), p.m.unwrap_or(0));
        if m > 0 && inner % m != 0 {
            refuse(&format!(
                "{}:{m} pruning (the input dimension {inner} is not a multiple of {m})",
                p.n.unwrap_or(0)
            ))?;
            o.prune = None;
        }
    }
    if kind == LayerKind::Embedding {
        if o.rank.is_some() {
            refuse("low-rank factorisation")?;
            o.rank = None;
        }
        if o.prune.as_ref().is_some_and(|p| p.kind == PruneKind::Channel) {
            refuse("channel pruning")?;
            o.prune = None;
        }
        if o.quant.as_ref().is_some_and(|q| q.act_bits.is_some()) {
            refuse("activation quantization (embeddings read token ids)")?;
            if let Some(q) = o.quant.as_mut() {
                q.act_bits = None;
            }
        }
    }
    if kind == LayerKind::DepthwiseConv2d {
        if o.rank.is_some() {
            refuse("low-rank factorisation")?;
            o.rank = None;
        }
        if o.prune.as_ref().is_some_and(|p| matches!(p.kind, PruneKind::Channel | PruneKind::NM)) {
            // A depthwise convolution follows its producer's channels and has one input per group.
            refuse("channel and N:M pruning (a depthwise convolution follows its producer)")?;
            o.prune = None;
        }
    }
    Ok(o)
}

/// Checks ranges and combinations; returns the offending sub-key and a message.
fn validate_option(o: &LayerOption, op: &Op) -> Result<(), (String, String)> {
    if let Some(p) = &o.prune {
        match p.kind {
            PruneKind::NM => {
                let (Some(n), Some(m)) = (p.n, p.m) else {
                    return Err((
                        "prune".into(),
                        "kind `n_m` needs `n` and `m` (e.g. n: 2, m: 4)".into(),
                    ));
                };
                if !(n >= 1 && n < m && m <= 64) {
                    return Err(("prune.n".into(), format!("need 1 ≤ n < m ≤ 64, got {n}:{m}")));
                }
                if p.ratio.is_some() {
                    return Err((
                        "prune.ratio".into(),
                        "`n_m` takes `n` and `m`, not a ratio".into(),
                    ));
                }
            }
            _ => {
                let Some(r) = p.ratio else {
                    return Err(("prune.ratio".into(), "is required".into()));
                };
                if !(0.0..1.0).contains(&r) {
                    return Err(("prune.ratio".into(), format!("must be in [0, 1), got {r}")));
                }
                if p.n.is_some() || p.m.is_some() {
                    return Err(("prune.n".into(), "`n` and `m` apply to kind `n_m` only".into()));
                }
            }
        }
        if let Some(a) = p.align {
            if p.kind != PruneKind::Channel {
                return Err(("prune.align".into(), "applies to channel pruning only".into()));
            }
            if a == 0 {
                return Err(("prune.align".into(), "must be at least 1".into()));
            }
        }
        if p.scope == PruneScope::Global && p.kind != PruneKind::Magnitude {
            return Err((
                "prune.scope".into(),
                "global scope applies to magnitude pruning only".into(),
            ));
        }
    }
    if let Some(q) = &o.quant {
        match (q.weight_bits, q.float) {
            (None | Some(32), None) => {}
            (Some(16), Some(_)) => {}
            (Some(16), None) => {
                return Err((
                    "quant.float".into(),
                    "`weight_bits: 16` needs `float: fp16` or `float: bf16`".into(),
                ));
            }
            (Some(b), None) if [2, 3, 4, 6, 8].contains(&b) => {}
            (Some(b), None) => {
                return Err((
                    "quant.weight_bits".into(),
                    format!(
                        "{b} bits is not supported; expected 2, 3, 4, 6, 8, 16 (with float) or 32"
                    ),
                ));
            }
            (_, Some(_)) => {
                return Err(("quant.float".into(), "`float` needs `weight_bits: 16`".into()));
            }
        }
        if let Some(a) = q.act_bits
            && a != 8
            && a != 16
        {
            return Err((
                "quant.act_bits".into(),
                format!("{a} bits is not supported; expected 8 or 16"),
            ));
        }
        match (q.granularity, q.group_size) {
            (Granularity::PerGroup, Some(32 | 64 | 128)) => {}
            (Granularity::PerGroup, Some(g)) => {
                return Err((
                    "quant.group_size".into(),
                    format!("{g} is not supported; expected 32, 64 or 128"),
                ));
            }
            (Granularity::PerGroup, None) => {
                return Err(("quant.group_size".into(), "per_group needs group_size".into()));
            }
            (_, Some(_)) => {
                return Err((
                    "quant.group_size".into(),
                    "group_size applies to per_group only".into(),
                ));
            }
            _ => {}
        }
    }
    if let Some(r) = &o.rank {
        let set = [r.ratio.is_some(), r.rank.is_some(), r.energy.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if set != 1 {
            return Err(("rank".into(), "give exactly one of ratio, rank or energy".into()));
        }
        if let Some(x) = r.ratio
            && !(x > 0.0 && x <= 1.0)
        {
            return Err(("rank.ratio".into(), format!("must be in (0, 1], got {x}")));
        }
        if let Some(e) = r.energy
            && !(e > 0.0 && e <= 1.0)
        {
            return Err(("rank.energy".into(), format!("must be in (0, 1], got {e}")));
        }
        let max = max_rank(op);
        if let Some(k) = r.rank
            && (k == 0 || k > max)
        {
            return Err((
                "rank.rank".into(),
                format!("rank {k} is larger than the layer allows (1..={max})"),
            ));
        }
        if o.prune.as_ref().is_some_and(|p| matches!(p.kind, PruneKind::Magnitude | PruneKind::NM))
        {
            return Err((
                "rank".into(),
                "low-rank factors cannot be combined with unstructured or N:M pruning".into(),
            ));
        }
    }
    Ok(())
}

/// The inner (reduction) dimension N:M groups run along: a Linear's inputs, a Conv's input
/// channels per group.
pub(crate) fn inner_dim(op: &Op) -> usize {
    match op {
        Op::Linear(l) => l.in_features(),
        Op::Conv2d(c) => c.weight.dims()[1],
        Op::Embedding(e) => e.weight.dims()[1],
        _ => 0,
    }
}

/// The largest rank a layer's factorisation can have.
pub(crate) fn max_rank(op: &Op) -> usize {
    match op {
        Op::Linear(l) => l.in_features().min(l.out_features()),
        Op::Conv2d(c) => {
            let (kh, kw) = c.kernel();
            let (o, i) = (c.out_channels(), c.weight.dims()[1]);
            if kh == 1 && kw == 1 { o.min(i) } else { (i * kh).min(o * kw) }
        }
        _ => 0,
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn is_true(v: &bool) -> bool {
    *v
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, n, want) in [
            ("conv*", "conv1", true),
            ("conv*", "fc1", false),
            ("*.query", "encoder.layer.0.attention.self.query", true),
            ("fc?", "fc1", true),
            ("fc?", "fc12", false),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ] {
            assert_eq!(glob_match(p, n), want, "{p} {n}");
        }
    }

    #[test]
    fn option_labels() {
        let o: LayerOption = sculpt_yaml::from_str(
            "quant: {weight_bits: 4, granularity: per_group, group_size: 32}\nprune: {kind: channel, ratio: 0.25}\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(o.to_string(), "w4g32 ch0.25");
        assert_eq!(LayerOption::default().to_string(), "fp32");
        assert!(LayerOption::default().is_identity());
        assert!(!o.is_identity());
    }
}
