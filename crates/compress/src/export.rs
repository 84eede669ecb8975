//! ONNX export of compressed models: the stored form of every weight (integers with their scales,
//! 16-bit floats) handed to sculpt-model's ONNX writer, with the plan and the provenance in the
//! file's metadata. Pruned layers are exported at their reduced shapes and low-rank layers as
//! their two factors, because that is what the compressed graph holds.

use std::collections::BTreeMap;
use std::path::Path;

use sculpt_model::{ExportOptions, Graph, IntWeight, Node, SafetensorsFile, WeightStorage};

use crate::apply::{Compressed, Encoding, ZeroPattern};
use crate::error::Result;
use crate::format::{Kernels, PLAN_KEY, load_stored};
use crate::plan::FloatFormat;

/// Metadata key stating how intentional zeros are stored in an exported file.
pub const SPARSITY_KEY: &str = "sculpt.sparsity";

/// How one stored weight is written to ONNX.
fn storage(encoding: &Encoding) -> Option<WeightStorage> {
    match encoding {
        Encoding::Dense => None,
        Encoding::Float(FloatFormat::Fp16) => Some(WeightStorage::Float16),
        Encoding::Float(FloatFormat::Bf16) => Some(WeightStorage::BFloat16),
        Encoding::Int(q) => {
            let offset = if q.symmetric { 1i32 << (q.bits - 1) } else { 0 };
            Some(WeightStorage::Int(IntWeight {
                rows: q.rows,
                cols: q.cols,
                bits: q.bits,
                values: q.codes.iter().map(|c| *c as i32 - offset).collect(),
                scales: q.scales.clone(),
                zeros: if q.symmetric {
                    Vec::new()
                } else {
                    q.zeros.iter().map(|z| *z as i32).collect()
                },
                group_cols: q.group_cols,
                per_tensor: q.per_tensor,
            }))
        }
    }
}

fn options(
    name: &str,
    encodings: &BTreeMap<String, Encoding>,
    metadata: Vec<(String, String)>,
) -> ExportOptions {
    ExportOptions {
        weights: encodings.iter().filter_map(|(k, e)| Some((k.clone(), storage(e)?))).collect(),
        metadata,
        name: name.to_string(),
    }
}

/// Writes `graph` with `options`, after folding every BatchNorm that follows a layer with integer
/// weights into that layer. onnxruntime folds a BatchNorm only into a float initializer: behind
/// a `DequantizeLinear` it stays, runs on every inference, and keeps `DequantizeLinear → Conv →
/// QuantizeLinear` from becoming one integer kernel. The factor `γ/σ` of each output channel
/// goes into the channel's weight scales (a negative factor mirrors the channel's integers) and
/// the shifted bias into the float bias, so the stored integers stay as they are.
fn write(graph: &Graph, mut options: ExportOptions, path: &Path) -> Result<u64> {
    let is_int = |n: &Node| {
        matches!(options.weights.get(&format!("{}.weight", n.name)), Some(WeightStorage::Int(_)))
    };
    let (folded, factors) = graph.fold_batch_norms_into(&is_int)?;
    for (layer, f) in factors {
        if let Some(WeightStorage::Int(q)) = options.weights.get_mut(&format!("{layer}.weight")) {
            scale_rows(q, &f);
        }
    }
    Ok(sculpt_model::write_onnx(&folded, &options, path)?)
}

/// Multiplies row `r` of an integer weight by `f[r]`: its scales by `|f[r]|`, its integers
/// mirrored when `f[r] < 0` (`q → −q` around zero for symmetric weights, `q → 2^b − 1 − q` with
/// the zero point for asymmetric ones, both exact).
fn scale_rows(q: &mut IntWeight, f: &[f32]) {
    if q.per_tensor {
        q.scales = vec![q.scales[0]; q.rows];
        if !q.zeros.is_empty() {
            q.zeros = vec![q.zeros[0]; q.rows];
        }
        q.per_tensor = false;
        q.group_cols = q.cols;
    }
    let groups = q.scales.len() / q.rows.max(1);
    let top = (1i32 << q.bits) - 1;
    let half = 1i32 << (q.bits - 1);
    for (r, &fr) in f.iter().enumerate().take(q.rows) {
        for s in &mut q.scales[r * groups..(r + 1) * groups] {
            *s = (*s * fr.abs()).max(f32::MIN_POSITIVE);
        }
        if fr >= 0.0 {
            continue;
        }
        let row = &mut q.values[r * q.cols..(r + 1) * q.cols];
        if q.zeros.is_empty() {
            row.iter_mut().for_each(|v| *v = (-*v).clamp(-half, half - 1));
        } else {
            row.iter_mut().for_each(|v| *v = top - *v);
            q.zeros[r * groups..(r + 1) * groups].iter_mut().for_each(|z| *z = top - *z);
        }
    }
}

/// Writes an in-memory compressed model as ONNX (atomically); returns the file's size.
pub fn export_compressed(compressed: &Compressed, provenance: &str, path: &Path) -> Result<u64> {
    let encodings: BTreeMap<String, Encoding> =
        compressed.stored.iter().map(|(k, s)| (k.clone(), s.encoding.clone())).collect();
    let sparse: Vec<String> = compressed
        .stored
        .iter()
        .filter_map(|(k, s)| match s.sparsity {
            ZeroPattern::Dense => None,
            ZeroPattern::Unstructured => Some(format!("{k}: unstructured")),
            ZeroPattern::NM { n, m } => Some(format!("{k}: {n}:{m}")),
        })
        .collect();
    let mut metadata = vec![
        (PLAN_KEY.to_string(), compressed.plan.to_yaml()),
        ("sculpt.provenance".to_string(), provenance.to_string()),
    ];
    if !sparse.is_empty() {
        metadata.push((SPARSITY_KEY.to_string(), sparsity_note(&sparse.join(", "))));
    }
    let options = options(&compressed.model.name, &encodings, metadata);
    write(&compressed.model.graph, options, path)
}

/// Writes `graph`, a graph whose layers are layers of `compressed` (a prefix of it, for timing
/// layers in context), as ONNX with those layers' stored weights; returns the file's size.
pub fn export_part(
    compressed: &Compressed,
    graph: &sculpt_model::Graph,
    path: &Path,
) -> Result<u64> {
    let encodings: BTreeMap<String, Encoding> =
        compressed.stored.iter().map(|(k, s)| (k.clone(), s.encoding.clone())).collect();
    let options = options(&compressed.model.name, &encodings, Vec::new());
    write(graph, options, path)
}

fn sparsity_note(which: &str) -> String {
    format!(
        "pruned weights are stored as dense zeros (ONNX has no sparse weight format that runtimes \
         run faster): {which}"
    )
}

/// Writes a model file sculpt reads (a compressed `.safetensors` from `sculpt apply`, or any
/// model name) as ONNX; returns the file's size.
pub fn export_model_file(name: &str, path: &Path) -> Result<u64> {
    let (model, encodings, meta) = if name.ends_with(".safetensors") && Path::new(name).is_file() {
        let file = SafetensorsFile::read(Path::new(name))?;
        load_stored(file, name, Kernels::Dequantized)?
    } else {
        (sculpt_model::load_model(name)?, BTreeMap::new(), BTreeMap::new())
    };
    let mut metadata: Vec<(String, String)> = ["sculpt.plan", "sculpt.provenance"]
        .iter()
        .filter_map(|k| meta.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    metadata.push(("sculpt.source".to_string(), name.to_string()));
    let options = options(&model.name, &encodings, metadata);
    write(&model.graph, options, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dequantize(q: &IntWeight) -> Vec<f32> {
        let groups = if q.per_tensor { 1 } else { q.scales.len() / q.rows };
        let mut out = Vec::new();
        for r in 0..q.rows {
            for c in 0..q.cols {
                let g = if q.per_tensor { 0 } else { r * groups + c / q.group_cols };
                let z = q.zeros.get(g).copied().unwrap_or(0);
                out.push((q.values[r * q.cols + c] - z) as f32 * q.scales[g]);
            }
        }
        out
    }

    /// Folding a BatchNorm into an integer layer multiplies each output row of the dequantized
    /// weight by its factor, negative ones included, for symmetric and asymmetric weights with
    /// per-tensor, per-channel and per-group scales, and leaves every integer in its range.
    #[test]
    fn scaling_rows_multiplies_each_dequantized_row_by_its_factor() {
        let f = [0.5f32, -2.0, 1.25];
        for (symmetric, per_tensor, group_cols) in [
            (true, false, 4),
            (true, true, 4),
            (false, false, 4),
            (false, true, 4),
            (true, false, 2),
        ] {
            let (rows, cols, bits) = (3usize, 4usize, 4u8);
            let values: Vec<i32> =
                (0..12).map(|i: i32| if symmetric { i * 5 % 15 - 7 } else { i * 7 % 16 }).collect();
            let groups = if per_tensor { 1 } else { rows * cols / group_cols };
            let mut q = IntWeight {
                rows,
                cols,
                bits,
                values,
                scales: (0..groups).map(|g| 0.1 + 0.01 * g as f32).collect(),
                zeros: if symmetric {
                    Vec::new()
                } else {
                    (0..groups).map(|g| 7 + g as i32 % 2).collect()
                },
                group_cols,
                per_tensor,
            };
            let before = dequantize(&q);
            scale_rows(&mut q, &f);
            let after = dequantize(&q);
            for r in 0..rows {
                for c in 0..cols {
                    let (a, b) = (after[r * cols + c], before[r * cols + c] * f[r]);
                    assert!(
                        (a - b).abs() < 1e-6,
                        "{symmetric} {per_tensor} {group_cols}: {a} vs {b}"
                    );
                }
            }
            let (lo, hi) = if symmetric { (-8, 7) } else { (0, 15) };
            assert!(q.values.iter().chain(&q.zeros).all(|v| (lo..=hi).contains(v)));
            assert!(q.scales.iter().all(|s| *s > 0.0));
        }
    }
}
