//! Pruning: unstructured magnitude, semi-structured N:M, and dependency-aware structured
//! pruning of channels, neurons and attention heads.
//!
//! Structured pruning removes output channels of a Conv (or neurons of a Linear) and follows
//! the value forward through channel-preserving layers (BatchNorm, activations, pooling,
//! depthwise convolutions, which follow their producer) to the layers that consume it, whose
//! matching input channels are removed too (after a Flatten, the matching block of features).
//! **Channels tied through a residual `Add`, attention, LayerNorm or pooling over tokens are left
//! alone**: pruning them would have to change every branch of the sum at once, so such layers
//! are refused (named in the error) rather than pruned together.

use candle_core::{Device, Tensor};

use sculpt_model::{Graph, Op, ValueRef};

use crate::error::{Error, Result};
use crate::plan::Criterion;

/// Indices of the weights to keep after pruning the `ratio` share with the smallest magnitude
/// (`keep[i] == false` means pruned). Ties are broken by position.
pub fn magnitude_keep(values: &[f32], ratio: f64) -> Vec<bool> {
    let n_prune = ((values.len() as f64) * ratio).floor() as usize;
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()).then(a.cmp(&b)));
    let mut keep = vec![true; values.len()];
    for &i in &order[..n_prune] {
        keep[i] = false;
    }
    keep
}

/// The magnitude threshold that prunes the `ratio` share of all the given values together
/// (values strictly below it, plus ties in position order, are pruned).
pub fn global_magnitude_keep(layers: &[Vec<f32>], ratio: f64) -> Vec<Vec<bool>> {
    let flat: Vec<f32> = layers.iter().flatten().copied().collect();
    let keep = magnitude_keep(&flat, ratio);
    let mut out = Vec::with_capacity(layers.len());
    let mut start = 0;
    for l in layers {
        out.push(keep[start..start + l.len()].to_vec());
        start += l.len();
    }
    out
}

/// N:M sparsity along the input dimension of a weight viewed as `[out, inner, k]` (`k` is
/// kh·kw for a Conv and 1 for a Linear): in every group of `m` consecutive inputs of one output
/// and one kernel position, the `n` largest magnitudes are kept.
pub fn nm_keep(
    values: &[f32],
    out: usize,
    inner: usize,
    k: usize,
    n: usize,
    m: usize,
) -> Vec<bool> {
    let mut keep = vec![false; values.len()];
    for o in 0..out {
        for p in 0..k {
            for g in 0..inner / m {
                let mut idx: Vec<usize> =
                    (0..m).map(|j| o * inner * k + (g * m + j) * k + p).collect();
                idx.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()).then(a.cmp(&b)));
                for &i in &idx[..n] {
                    keep[i] = true;
                }
            }
        }
    }
    keep
}

/// Zeros the pruned entries.
pub(crate) fn apply_keep(values: &mut [f32], keep: &[bool]) {
    for (v, k) in values.iter_mut().zip(keep) {
        if !k {
            *v = 0.0;
        }
    }
}

/// True when the layer's output channels can be pruned: it produces the channels of an
/// unblocked [channel group](crate::groups), whose other members then shrink with it.
pub fn channel_prunable(graph: &Graph, idx: usize) -> Result<(), String> {
    match &graph.nodes()[idx].op {
        Op::Linear(_) => {}
        Op::Conv2d(c) if c.groups == 1 => {}
        other => {
            return Err(format!(
                "channel pruning applies to Linear and Conv2d layers, not {}",
                other.kind()
            ));
        }
    }
    let groups = crate::groups::channel_groups(graph).map_err(|e| e.to_string())?;
    match groups.of_producer(idx) {
        Some(g) => match &g.blocked {
            None => Ok(()),
            Some(why) => Err(why.clone()),
        },
        None => Err("it produces no channel group".into()),
    }
}

/// Removes the `ratio` share of the output channels (Conv) or neurons (Linear) of layer `idx`
/// and of every layer in its channel group (see [`crate::groups`]), ranked by the group's
/// BatchNorm |γ| when it has BatchNorms, else by the norms of all its members' weights; keeps a
/// multiple of `align` when given. Returns the number of channels kept.
pub fn prune_channels(
    graph: &mut Graph,
    idx: usize,
    ratio: f64,
    criterion: Criterion,
    align: Option<usize>,
) -> Result<usize> {
    crate::groups::prune_group(graph, idx, ratio, criterion, align)
}

fn keep_top(scores: &[f32], n_remove: usize) -> Vec<u32> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let mut keep: Vec<u32> = order[n_remove..].iter().map(|&i| i as u32).collect();
    keep.sort_unstable();
    keep
}

fn select(t: &Tensor, keep: &[u32], dim: usize) -> Result<Tensor> {
    let idx = Tensor::new(keep, &Device::Cpu)?;
    Ok(t.index_select(&idx, dim)?.contiguous()?)
}

/// The q, k, v and output-projection layers of an attention layer, when each is a Linear used
/// only there (true of BERT).
fn attention_parts(graph: &Graph, idx: usize) -> Result<[usize; 4], String> {
    let node = &graph.nodes()[idx];
    let mut parts = [0usize; 4];
    for (slot, v) in node.inputs.iter().take(3).enumerate() {
        let ValueRef::Node(j) = v else { return Err("its projections are not layers".into()) };
        if !matches!(graph.nodes()[*j].op, Op::Linear(_)) || graph.consumers(*j) != [idx] {
            return Err(format!(
                "projection `{}` is not a Linear used only by it",
                graph.nodes()[*j].name
            ));
        }
        parts[slot] = *j;
    }
    match graph.consumers(idx).as_slice() {
        [o] if matches!(graph.nodes()[*o].op, Op::Linear(_)) => parts[3] = *o,
        _ => return Err("its output is not read by exactly one Linear projection".into()),
    }
    Ok(parts)
}

/// Removes the `ratio` share of heads of attention layer `idx` (ranked by the L2 norm of their
/// q, k, v rows and output-projection columns); returns the number of heads kept.
pub fn prune_heads(graph: &mut Graph, idx: usize, ratio: f64) -> Result<usize> {
    let name = graph.nodes()[idx].name.clone();
    let Op::Attention(att) = &graph.nodes()[idx].op else {
        return Err(Error::NotPrunable {
            layer: name,
            reason: "head pruning applies to attention layers".into(),
        });
    };
    let heads = att.n_heads;
    let parts = attention_parts(graph, idx)
        .map_err(|reason| Error::NotPrunable { layer: name.clone(), reason })?;
    let linear = |j: usize| match &graph.nodes()[j].op {
        Op::Linear(l) => l.clone(),
        _ => unreachable!("checked by attention_parts"),
    };
    let (q, k, v, o) = (linear(parts[0]), linear(parts[1]), linear(parts[2]), linear(parts[3]));
    let hidden = q.out_features();
    let d = hidden / heads;
    let n_remove = (((heads as f64) * ratio).floor() as usize).min(heads - 1);
    if n_remove == 0 {
        return Ok(heads);
    }
    let mut scores = vec![0f32; heads];
    for w in [&q.weight, &k.weight, &v.weight] {
        let rows = w.sqr()?.sum(1)?.to_vec1::<f32>()?;
        for (r, s) in rows.iter().enumerate() {
            scores[r / d] += s;
        }
    }
    let cols = o.weight.sqr()?.sum(0)?.to_vec1::<f32>()?;
    for (c, s) in cols.iter().enumerate() {
        scores[c / d] += s;
    }
    let keep_heads = keep_top(&scores, n_remove);
    let rows: Vec<u32> =
        keep_heads.iter().flat_map(|&h| (h * d as u32)..((h + 1) * d as u32)).collect();
    let nodes = graph.nodes_mut();
    for &j in &parts[..3] {
        if let Op::Linear(l) = &mut nodes[j].op {
            l.weight = select(&l.weight, &rows, 0)?;
            l.bias = l.bias.as_ref().map(|b| select(b, &rows, 0)).transpose()?;
        }
    }
    if let Op::Linear(l) = &mut nodes[parts[3]].op {
        l.weight = select(&l.weight, &rows, 1)?;
    }
    if let Op::Attention(a) = &mut nodes[idx].op {
        a.n_heads = keep_heads.len();
    }
    Ok(keep_heads.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magnitude_prunes_the_smallest() {
        let keep = magnitude_keep(&[0.5, -0.1, 0.3, -0.9, 0.0, 0.2], 0.5);
        assert_eq!(keep, vec![true, false, true, true, false, false]);
        assert_eq!(magnitude_keep(&[1.0, 2.0], 0.0), vec![true, true]);
    }

    #[test]
    fn global_magnitude_spans_layers() {
        let keep = global_magnitude_keep(&[vec![0.1, 0.2], vec![5.0, 0.05, 3.0]], 0.4);
        assert_eq!(keep, vec![vec![false, true], vec![true, false, true]]);
    }

    #[test]
    fn two_four_keeps_two_largest_of_every_four_inputs() {
        // Linear 2×8: groups [0..4) and [4..8) per row.
        let w = [1., -4., 3., 2., 0.1, 0.2, -0.3, 0.4, 9., 8., 7., 6., 5., 4., 3., 2.];
        let keep = nm_keep(&w, 2, 8, 1, 2, 4);
        let kept: Vec<f32> = w.iter().zip(&keep).filter(|(_, k)| **k).map(|(v, _)| *v).collect();
        assert_eq!(kept, vec![-4., 3., -0.3, 0.4, 9., 8., 5., 4.]);
        // Conv view [1, 4, 2]: groups run over the 4 inputs at each of the 2 kernel positions.
        let w = [1., 10., 2., 20., 3., 30., 4., 40.];
        let keep = nm_keep(&w, 1, 4, 2, 2, 4);
        assert_eq!(keep, vec![false, false, false, false, true, true, true, true]);
    }
}
