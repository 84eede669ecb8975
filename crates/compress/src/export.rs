//! ONNX export of compressed models: the stored form of every weight (integers with their scales,
//! 16-bit floats) handed to sculpt-model's ONNX writer, with the plan and the provenance in the
//! file's metadata. Pruned layers are exported at their reduced shapes and low-rank layers as
//! their two factors, because that is what the compressed graph holds.

use std::collections::BTreeMap;
use std::path::Path;

use sculpt_model::{ExportOptions, IntWeight, SafetensorsFile, WeightStorage};

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
    Ok(sculpt_model::write_onnx(&compressed.model.graph, &options, path)?)
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
    Ok(sculpt_model::write_onnx(&model.graph, &options, path)?)
}
