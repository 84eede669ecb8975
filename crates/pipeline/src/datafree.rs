//! The `data-free` proxy: when no data is given, an option's damage is estimated from the
//! weights alone, as the relative reconstruction error `‖W − Ŵ‖² / ‖W‖²` of the layers it
//! changes (quantization, unstructured and N:M pruning on the weight itself; channel pruning as
//! the energy of the removed rows; low-rank as the energy of the dropped singular values;
//! combined as `1 − (1 − e_structure)(1 − e_values)`). It is dimensionless, not an accuracy, and
//! every output that uses it says so.

use sculpt_compress::{ApplyOptions, CompressionPlan, LayerOption, PruneKind};
use sculpt_model::{Model, Op};

use crate::error::Result;
use crate::sensitivity::{SensitivityEntry, SensitivityTable};
use crate::space::ExpandedSpace;

fn weight(op: &Op) -> Option<Vec<f32>> {
    let t = match op {
        Op::Linear(l) => &l.weight,
        Op::Conv2d(c) => &c.weight,
        Op::Embedding(e) => &e.weight,
        _ => return None,
    };
    t.flatten_all().ok()?.to_vec1().ok()
}

fn rows(op: &Op) -> usize {
    match op {
        Op::Linear(l) => l.out_features(),
        Op::Conv2d(c) => c.out_channels(),
        Op::Embedding(e) => e.weight.dims()[0],
        _ => 1,
    }
}

/// The relative weight error of one layer under one option.
pub fn weight_error(model: &Model, layer: usize, option: &LayerOption) -> Result<f64> {
    let node = &model.graph.nodes()[layer];
    let Some(w) = weight(&node.op) else { return Ok(0.0) };
    let total: f64 = w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().max(1e-30);
    // Structure: channels or rank.
    let mut e_struct = 0.0;
    if let Some(p) = option.prune.as_ref().filter(|p| p.kind == PruneKind::Channel) {
        let r = rows(&node.op);
        let per_row = w.len() / r.max(1);
        let mut energies: Vec<f64> =
            w.chunks(per_row.max(1)).map(|c| c.iter().map(|v| (*v as f64).powi(2)).sum()).collect();
        energies.sort_by(f64::total_cmp);
        let removed = ((r as f64) * p.ratio.unwrap_or(0.0)).floor() as usize;
        e_struct = energies.iter().take(removed.min(r.saturating_sub(1))).sum::<f64>() / total;
    }
    if let Some(rank) = &option.rank {
        let sv = sculpt_compress::singular_values(&node.op)?;
        let k = sculpt_compress::choose_rank(rank, &sv);
        let all: f64 = sv.iter().map(|s| s * s).sum::<f64>().max(1e-30);
        let kept: f64 = sv.iter().take(k).map(|s| s * s).sum();
        e_struct = 1.0 - (1.0 - e_struct) * (kept / all);
    }
    // Values: quantization, unstructured and N:M pruning, applied to this layer alone.
    let value_option = LayerOption {
        prune: option
            .prune
            .clone()
            .filter(|p| matches!(p.kind, PruneKind::Magnitude | PruneKind::NM)),
        quant: option.quant.clone().map(|mut q| {
            q.act_bits = None;
            q
        }),
        rank: None,
    };
    let mut e_values = 0.0;
    if !value_option.is_identity() {
        let plan = CompressionPlan {
            layers: [(node.name.clone(), value_option)].into(),
            ..Default::default()
        };
        let c = sculpt_compress::apply_plan(model, &plan, None, &ApplyOptions::default())?;
        if let Some(wq) = c.model.graph.node(&node.name).and_then(|n| weight(&n.op)) {
            e_values =
                w.iter().zip(&wq).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / total;
        }
    }
    Ok(1.0 - (1.0 - e_struct) * (1.0 - e_values))
}

/// The data-free table: per gene × option, the weight error summed over the gene's layers.
pub fn data_free_table(model: &Model, space: &ExpandedSpace) -> Result<SensitivityTable> {
    let mut entries = Vec::with_capacity(space.genes.len());
    for gene in &space.genes {
        let mut row = Vec::with_capacity(gene.options.len());
        for option in &gene.options {
            let mut delta = 0.0;
            for &l in &gene.layers {
                delta += weight_error(model, l, option)?;
            }
            row.push(SensitivityEntry { delta, kl: 0.0 });
        }
        entries.push(row);
    }
    Ok(SensitivityTable { baseline: 0.0, entries, cached: 0, warnings: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(text: &str) -> LayerOption {
        sculpt_yaml::from_str(text, "o.yaml".as_ref()).unwrap()
    }

    #[test]
    fn weight_errors_by_hand() {
        let m = sculpt_model::load_model("builtin:demo-cnn").unwrap();
        let fc1 = m.graph.node_index("fc1").unwrap();
        assert_eq!(weight_error(&m, fc1, &LayerOption::default()).unwrap(), 0.0);
        // int8 per channel: error below (1/254)² per value relative to the row max², tiny.
        let e8 = weight_error(&m, fc1, &option("quant: {weight_bits: 8}\n")).unwrap();
        let e4 = weight_error(&m, fc1, &option("quant: {weight_bits: 4}\n")).unwrap();
        assert!(e8 > 0.0 && e8 < 1e-3 && e4 > 10.0 * e8, "{e8} {e4}");
        // Full rank loses nothing; half the channels lose at most half the energy (the smallest).
        let full = weight_error(&m, fc1, &option("rank: {ratio: 1.0}\n")).unwrap();
        assert!(full < 1e-9, "{full}");
        let ch = weight_error(&m, fc1, &option("prune: {kind: channel, ratio: 0.5}\n")).unwrap();
        assert!(ch > 0.0 && ch <= 0.5, "{ch}");
    }
}
