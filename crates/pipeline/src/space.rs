//! Search spaces (YAML): per-layer option lists selected by name globs and layer kinds, ties,
//! objectives and constraints; and their expansion against a model and a device into genes.
//!
//! ```yaml
//! name: default
//! objectives: [accuracy_loss, latency_s]       # any of accuracy_loss, latency_s, energy_j, size_bytes
//! constraints: {max_accuracy_drop: 0.02}       # max_latency_s, max_energy_j, max_size_bytes,
//!                                              # max_accuracy_drop, fits_in_memory
//! rules:                                       # the first rule matching a layer decides its options
//!   - match: {name: classifier}                # kept at fp32
//!     options: {}
//!   - match: {kind: [conv2d, linear]}
//!     options:
//!       quant: [null, {weight_bits: 8}, {weight_bits: 4, granularity: per_group, group_size: 32}]
//!       prune: [null, {kind: channel, ratio: 0.25}]
//!       rank: [null, {ratio: 0.5}]
//! ties:                                        # layers whose `*` captures agree share one choice
//!   - ["*.attention.self.query", "*.attention.self.key", "*.attention.self.value"]
//! ```
//!
//! A layer's options are the product of its rule's lists (`null` = that technique off); the
//! uncompressed option is always the first. Combinations a layer cannot take (low-rank with N:M,
//! channel pruning of a layer tied through a residual add, a rank above the layer's) and options
//! the device refuses are dropped.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use sculpt_compress::{CompressionPlan, LayerOption, Prune, PruneKind, Quant, Rank, glob_match};
use sculpt_hw::CostModel;
use sculpt_model::{Graph, LayerKind, Op};
use sculpt_run::{Constraints, Quantity};

use crate::costs::{NodeWorkload, option_workloads};
use crate::error::{Error, Result};

/// Which layers a rule applies to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// A glob on the layer name (default `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Layer kinds (`conv2d`, `depthwise_conv2d`, `linear`, `embedding`, `attention`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kind: Vec<String>,
}

/// Option lists per technique; `null` entries mean "off".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionLists {
    /// Quantization choices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quant: Vec<Option<Quant>>,
    /// Pruning choices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prune: Vec<Option<Prune>>,
    /// Low-rank choices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rank: Vec<Option<Rank>>,
}

/// One rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Which layers.
    #[serde(rename = "match", default)]
    pub matches: Match,
    /// Their options.
    #[serde(default)]
    pub options: OptionLists,
}

/// A search space file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpace {
    /// A name for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What to minimise (default accuracy_loss and latency_s).
    #[serde(default = "default_objectives")]
    pub objectives: Vec<Quantity>,
    /// Limits.
    #[serde(default)]
    pub constraints: Constraints,
    /// Option rules; the first matching rule decides a layer's options.
    pub rules: Vec<Rule>,
    /// Tied layer groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ties: Vec<Vec<String>>,
}

fn default_objectives() -> Vec<Quantity> {
    vec![Quantity::AccuracyLoss, Quantity::Latency]
}

impl SearchSpace {
    /// Reads and checks a space file.
    pub fn from_path(path: &Path) -> Result<SearchSpace> {
        let text = sculpt_yaml::read_text(path)?;
        SearchSpace::from_yaml(&text, path)
    }

    /// Parses and checks a space document that came from `origin`.
    pub fn from_yaml(text: &str, origin: &Path) -> Result<SearchSpace> {
        let space: SearchSpace = sculpt_yaml::from_str(text, origin)?;
        let err = |key: &str, msg: String| {
            Error::from(sculpt_yaml::Error::at_key(origin, text, key, msg))
        };
        if space.objectives.is_empty() {
            return Err(err("objectives", "name at least one objective".into()));
        }
        let mut seen = space.objectives.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != space.objectives.len() {
            return Err(err("objectives", "an objective is listed twice".into()));
        }
        if space.rules.is_empty() {
            return Err(err("rules", "give at least one rule".into()));
        }
        for (i, rule) in space.rules.iter().enumerate() {
            for k in &rule.matches.kind {
                if !KINDS.contains(&k.as_str()) {
                    return Err(err(
                        &format!("rules.{i}.match.kind"),
                        format!("unknown layer kind `{k}`; expected one of {}", KINDS.join(", ")),
                    ));
                }
            }
            // Validate every option of the rule as a plan entry would be.
            for opt in rule_options(rule).iter() {
                if let Some(q) = &opt.quant
                    && let Some(b) = q.weight_bits
                    && ![2u8, 3, 4, 6, 8, 16, 32].contains(&b)
                {
                    return Err(err(
                        &format!("rules.{i}.options.quant"),
                        format!("{b} bits is not supported"),
                    ));
                }
                if let Some(p) = &opt.prune
                    && let Some(r) = p.ratio
                    && !(0.0..1.0).contains(&r)
                {
                    return Err(err(
                        &format!("rules.{i}.options.prune"),
                        format!("ratio must be in [0, 1), got {r}"),
                    ));
                }
            }
        }
        for (t, tie) in space.ties.iter().enumerate() {
            if tie.len() < 2 || tie.iter().any(|p| p.matches('*').count() != 1) {
                return Err(err(
                    &format!("ties.{t}"),
                    "a tie lists two or more globs, each with exactly one `*`".into(),
                ));
            }
        }
        Ok(space)
    }

    /// The upper bounds on the objectives the space minimises.
    pub fn objective_bounds(&self) -> Vec<Option<f64>> {
        let all = self.constraints.bounds();
        self.objectives.iter().map(|o| all[o.index()]).collect()
    }
}

const KINDS: &[&str] = &["conv2d", "depthwise_conv2d", "linear", "embedding", "attention"];

/// Every option a rule allows: the product of its lists, the identity first, duplicates removed.
pub fn rule_options(rule: &Rule) -> Vec<LayerOption> {
    fn or_none<T: Clone>(v: &[Option<T>]) -> Vec<Option<T>> {
        if v.is_empty() { vec![None] } else { v.to_vec() }
    }
    let (qs, ps, rs) =
        (or_none(&rule.options.quant), or_none(&rule.options.prune), or_none(&rule.options.rank));
    let mut out = vec![LayerOption::default()];
    for q in &qs {
        for p in &ps {
            for r in &rs {
                let o = LayerOption { quant: q.clone(), prune: p.clone(), rank: r.clone() };
                if o.is_identity() || out.contains(&o) {
                    continue;
                }
                out.push(o);
            }
        }
    }
    out
}

/// One searchable unit: a layer, or a group of tied layers that share one choice.
#[derive(Clone, Debug)]
pub struct SpaceGene {
    /// A display name (the first layer's, with `+N` for ties).
    pub name: String,
    /// The node indices it sets.
    pub layers: Vec<usize>,
    /// The options (index 0 is the identity).
    pub options: Vec<LayerOption>,
}

/// A space expanded against a model and a device.
#[derive(Clone, Debug)]
pub struct ExpandedSpace {
    /// The genes.
    pub genes: Vec<SpaceGene>,
    /// Options dropped, one sentence each (for the log and the report).
    pub dropped: Vec<String>,
}

impl ExpandedSpace {
    /// The plan a genome stands for.
    pub fn plan(&self, graph: &Graph, genome: &[usize], model_name: &str) -> CompressionPlan {
        let mut layers = BTreeMap::new();
        for (gene, &choice) in self.genes.iter().zip(genome) {
            let option = &gene.options[choice];
            if option.is_identity() {
                continue;
            }
            for &l in &gene.layers {
                layers.insert(graph.nodes()[l].name.clone(), option.clone());
            }
        }
        CompressionPlan {
            model: Some(model_name.to_string()),
            defaults: LayerOption::default(),
            layers,
        }
    }

    /// The number of plans in the space (saturating).
    pub fn size(&self) -> f64 {
        self.genes.iter().map(|g| g.options.len() as f64).product()
    }
}

fn kind_name(op: &Op) -> &'static str {
    match op.kind() {
        LayerKind::Conv2d => "conv2d",
        LayerKind::DepthwiseConv2d => "depthwise_conv2d",
        LayerKind::Linear => "linear",
        LayerKind::Embedding => "embedding",
        LayerKind::Attention => "attention",
        _ => "",
    }
}

/// Whether a single-layer plan with this option applies cleanly to this layer (structurally).
fn option_applies(
    graph: &Graph,
    idx: usize,
    option: &LayerOption,
) -> std::result::Result<(), String> {
    let name = graph.nodes()[idx].name.clone();
    let plan = CompressionPlan {
        model: None,
        defaults: LayerOption::default(),
        layers: BTreeMap::from([(name.clone(), option.clone())]),
    };
    sculpt_compress::resolve(&plan, graph, None).map_err(|e| e.to_string())?;
    if let Some(p) = &option.prune
        && p.kind == PruneKind::Channel
    {
        sculpt_compress::channel_prunable(graph, idx)?;
    }
    Ok(())
}

/// Expands a space against a model's graph and a device: genes with the options each layer can
/// take and the device can run.
pub fn expand(
    space: &SearchSpace,
    graph: &Graph,
    workloads: &[NodeWorkload],
    cost_model: Option<&CostModel>,
) -> Result<ExpandedSpace> {
    let mut per_layer: Vec<(usize, Vec<LayerOption>)> = Vec::new();
    let mut dropped = Vec::new();
    for (idx, node) in graph.nodes().iter().enumerate() {
        let kind = kind_name(&node.op);
        if kind.is_empty() {
            continue;
        }
        let rule = space.rules.iter().find(|r| {
            r.matches.name.as_deref().is_none_or(|g| glob_match(g, &node.name))
                && (r.matches.kind.is_empty() || r.matches.kind.iter().any(|k| k == kind))
        });
        let base: Vec<_> =
            workloads.iter().filter(|w| w.node == idx).map(|w| w.workload.clone()).collect();
        let refuses = |option: &LayerOption| -> Result<Option<sculpt_hw::Error>> {
            Ok(match cost_model {
                Some(cm) => option_workloads(&base, &node.op, option)?
                    .iter()
                    .find_map(|(w, c)| cm.check_supported(w, c).err()),
                None => None,
            })
        };
        // A layer the space leaves at fp32 on a device that rejects fp32 (an int8-only NPU)
        // runs at int8 per channel, the least that device runs: a fixed one-option gene.
        let forced_int8 = |dropped: &mut Vec<String>| -> Result<Option<Vec<LayerOption>>> {
            let int8 = crate::costs::int8_baseline_option();
            if option_applies(graph, idx, &int8).is_err() || refuses(&int8)?.is_some() {
                return Ok(None);
            }
            dropped.push(format!(
                "{} fp32: device `{}` rejects fp32, so the layer runs at int8 per channel",
                node.name,
                cost_model.map_or("?", |c| c.profile().name())
            ));
            Ok(Some(vec![int8]))
        };
        let Some(rule) = rule else {
            if refuses(&LayerOption::default())?.is_some()
                && let Some(options) = forced_int8(&mut dropped)?
            {
                per_layer.push((idx, options));
            }
            continue;
        };
        let mut options = Vec::new();
        for option in rule_options(rule) {
            if let Err(why) = option_applies(graph, idx, &option) {
                if !option.is_identity() {
                    dropped.push(format!("{} {option}: {why}", node.name));
                }
                continue;
            }
            match refuses(&option)? {
                Some(e) => dropped.push(format!("{} {option}: {e}", node.name)),
                None => options.push(option),
            }
        }
        if options.is_empty()
            && rule_options(rule).iter().any(LayerOption::is_identity)
            && let Some(forced) = forced_int8(&mut dropped)?
        {
            options = forced;
        }
        if options.is_empty() {
            return Err(Error::Invalid {
                msg: format!(
                    "layer `{}` has no option device `{}` can run; add a quantized option for it to the space",
                    node.name,
                    cost_model.map_or("?", |c| c.profile().name())
                ),
            });
        }
        if options.len() > 1 || !options[0].is_identity() {
            per_layer.push((idx, options));
        }
    }
    // Ties: layers whose `*` captures agree join one gene (options: those all of them accept).
    let mut tied: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
    for (t, tie) in space.ties.iter().enumerate() {
        for (idx, _) in &per_layer {
            let name = &graph.nodes()[*idx].name;
            for pattern in tie {
                if let Some(capture) = capture(pattern, name) {
                    tied.entry((t, capture)).or_default().push(*idx);
                }
            }
        }
    }
    // Channel groups: producers whose channels are pruned together (a residual stage) are one
    // decision, when the space prunes their channels.
    let channel_groups = sculpt_compress::groups::channel_groups(graph)?;
    for (idx, options) in &per_layer {
        let prunes_channels =
            options.iter().any(|o| o.prune.as_ref().is_some_and(|p| p.kind == PruneKind::Channel));
        if let Some(g) = channel_groups.of_producer(*idx)
            && prunes_channels
            && g.blocked.is_none()
            && g.producers.len() > 1
        {
            tied.entry((usize::MAX, g.name(graph))).or_default().push(*idx);
        }
    }
    let mut in_group: BTreeMap<usize, (usize, String)> = BTreeMap::new();
    for (key, members) in &tied {
        if members.len() > 1 {
            for m in members {
                in_group.entry(*m).or_insert_with(|| key.clone());
            }
        }
    }
    let mut genes: Vec<SpaceGene> = Vec::new();
    let mut group_gene: BTreeMap<(usize, String), usize> = BTreeMap::new();
    for (idx, options) in per_layer {
        let name = graph.nodes()[idx].name.clone();
        match in_group.get(&idx) {
            Some(key) => match group_gene.get(key) {
                Some(&g) => {
                    let gene = &mut genes[g];
                    gene.options.retain(|o| options.contains(o));
                    gene.layers.push(idx);
                    gene.name = format!(
                        "{}+{}",
                        gene.name.split('+').next().unwrap_or(""),
                        gene.layers.len() - 1
                    );
                }
                None => {
                    group_gene.insert(key.clone(), genes.len());
                    genes.push(SpaceGene { name, layers: vec![idx], options });
                }
            },
            None => genes.push(SpaceGene { name, layers: vec![idx], options }),
        }
    }
    // A gene with one option that compresses is kept (the option is applied and costed); one
    // whose only option is "leave it alone" is no choice at all.
    genes.retain(|g| g.options.len() > 1 || g.options.iter().any(|o| !o.is_identity()));
    Ok(ExpandedSpace { genes, dropped })
}

/// The text a single-`*` glob captures from `name`, if it matches.
fn capture(pattern: &str, name: &str) -> Option<String> {
    let (pre, post) = pattern.split_once('*')?;
    if name.len() >= pre.len() + post.len() && name.starts_with(pre) && name.ends_with(post) {
        Some(name[pre.len()..name.len() - post.len()].to_string())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACE: &str = "\
objectives: [accuracy_loss, latency_s]
rules:
  - match: {name: classifier}
    options: {}
  - match: {kind: [conv2d, linear]}
    options:
      quant: [null, {weight_bits: 8}, {weight_bits: 4, granularity: per_group, group_size: 32}]
      prune: [null, {kind: channel, ratio: 0.5}]
";

    #[test]
    fn options_are_the_product_with_identity_first() {
        let space = SearchSpace::from_yaml(SPACE, Path::new("s.yaml")).unwrap();
        let opts = rule_options(&space.rules[1]);
        // 3 quant × 2 prune = 6, the identity among them.
        assert_eq!(opts.len(), 6);
        assert!(opts[0].is_identity());
        assert_eq!(rule_options(&space.rules[0]).len(), 1);
    }

    #[test]
    fn demo_cnn_genes_skip_the_classifier_and_tied_or_impossible_options() {
        let space = SearchSpace::from_yaml(SPACE, Path::new("s.yaml")).unwrap();
        let m = sculpt_model::load_model("builtin:demo-cnn").unwrap();
        let cm = CostModel::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../hardware-profiles/tpu-like.yaml"
        )))
        .unwrap();
        let w = crate::costs::graph_workloads(&m.graph, 1, 0).unwrap();
        let e = expand(&space, &m.graph, &w, Some(&cm)).unwrap();
        let names: Vec<&str> = e.genes.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["conv1", "conv2", "fc1"]);
        // tpu-like refuses int4: each layer keeps fp32 and int8, with and without pruning.
        assert!(
            e.genes.iter().all(|g| g.options.len() == 4),
            "{:?}",
            e.genes.iter().map(|g| g.options.len()).collect::<Vec<_>>()
        );
        assert!(e.dropped.iter().any(|d| d.contains("int4")), "{:?}", e.dropped);
    }

    #[test]
    fn ties_group_by_capture() {
        assert_eq!(
            capture("*.query", "encoder.layer.3.attention.self.query").as_deref(),
            Some("encoder.layer.3.attention.self")
        );
        assert_eq!(capture("enc.*.q", "enc.1.k"), None);
    }

    #[test]
    fn bad_spaces_name_the_key() {
        let err =
            SearchSpace::from_yaml("rules:\n  - match: {kind: [lstm]}\n", Path::new("s.yaml"))
                .unwrap_err()
                .to_string();
        assert!(err.contains("s.yaml:2") && err.contains("unknown layer kind `lstm`"), "{err}");
        let err = SearchSpace::from_yaml("objectives: [speed]\nrules: []\n", Path::new("s.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("s.yaml:1") && err.contains("unknown variant `speed`"), "{err}");
    }
}
