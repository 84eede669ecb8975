//! Per-layer sensitivity: for every gene × option, compress only that gene's layers with that
//! option and measure the change of the metric on the calibration split. Runs in parallel and is
//! cached on disk by the content hashes of the model, the data and the option, so a second run
//! with the same inputs is instant and a changed input recomputes only what changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::{DType, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use sculpt_compress::{ApplyOptions, CompressionPlan, LayerOption};
use sculpt_eval::{Fidelity, fidelity};
use sculpt_model::{Batch, Graph, Model};

use crate::error::{Error, Result};
use crate::space::ExpandedSpace;

/// The calibration (or validation) samples a metric is computed on.
#[derive(Clone, Debug)]
pub struct EvalSet {
    /// Batches of model inputs (images or tokens).
    pub batches: Vec<Batch>,
    /// Labels of classification data, in batch order.
    pub labels: Option<Vec<u32>>,
    /// A content hash of the samples (for the cache and provenance).
    pub fingerprint: String,
    /// The data's name.
    pub name: String,
}

impl EvalSet {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.batches.iter().map(Batch::len).sum()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Outputs of the uncompressed model on an [`EvalSet`], the reference every metric compares to.
#[derive(Clone, Debug)]
pub struct Reference {
    /// Primary outputs per batch (logits or embeddings).
    pub outputs: Vec<Tensor>,
    /// The headline metric of the uncompressed model (accuracy, or 1.0 for embeddings).
    pub metric: f64,
}

/// Runs `graph` on every batch.
pub fn outputs(graph: &Graph, set: &EvalSet) -> Result<Vec<Tensor>> {
    set.batches.iter().map(|b| Ok(graph.forward(b)?)).collect()
}

/// The reference outputs and metric of the uncompressed model.
pub fn reference(model: &Model, set: &EvalSet) -> Result<Reference> {
    let outs = outputs(&model.graph, set)?;
    let f = fidelity(model.graph.task(), &outs, &outs, set.labels.as_deref())?;
    Ok(Reference { outputs: outs, metric: f.metric })
}

/// The loss of a compressed model against the reference: baseline metric minus its metric.
pub fn evaluate_plan(
    model: &Model,
    plan: &CompressionPlan,
    set: &EvalSet,
    reference: &Reference,
    calibration: Option<&Batch>,
) -> Result<Fidelity> {
    let compressed = sculpt_compress::apply_plan(model, plan, None, &ApplyOptions { calibration })?;
    let outs = outputs(&compressed.model.graph, set)?;
    Ok(fidelity(model.graph.task(), &reference.outputs, &outs, set.labels.as_deref())?)
}

/// One table entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SensitivityEntry {
    /// Baseline metric minus the metric with only this gene compressed.
    pub delta: f64,
    /// Mean KL divergence from the uncompressed outputs.
    pub kl: f64,
}

/// The sensitivity of every gene × option.
#[derive(Clone, Debug)]
pub struct SensitivityTable {
    /// The uncompressed model's metric on the calibration set.
    pub baseline: f64,
    /// Per gene, per option.
    pub entries: Vec<Vec<SensitivityEntry>>,
    /// Entries served from the cache.
    pub cached: usize,
    /// Warnings (a corrupt cache that was ignored, ...).
    pub warnings: Vec<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: BTreeMap<String, SensitivityEntry>,
}

/// A content hash of a model's structure and weights.
pub fn model_fingerprint(model: &Model) -> Result<String> {
    let mut h = Sha256::new();
    h.update(sculpt_model::graph_to_json(&model.graph).as_bytes());
    for (name, t) in sculpt_model::named_tensors(&model.graph) {
        h.update(name.as_bytes());
        let v: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        for x in v {
            h.update(x.to_le_bytes());
        }
    }
    Ok(hex(&h.finalize()))
}

/// A content hash of tensors (data samples).
pub fn tensor_fingerprint(tensors: &[&Tensor]) -> Result<String> {
    let mut h = Sha256::new();
    for t in tensors {
        h.update(format!("{:?}", t.dims()).as_bytes());
        let v: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        for x in v {
            h.update(x.to_le_bytes());
        }
    }
    Ok(hex(&h.finalize()))
}

/// sha256 of bytes, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the sensitivity cache lives: `$SCULPT_CACHE`, else `$XDG_CACHE_HOME/sculpt`, else
/// `~/.cache/sculpt`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SCULPT_CACHE") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("sculpt");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/sculpt"))
        .unwrap_or_else(|| PathBuf::from(".sculpt-cache"))
}

fn entry_key(graph: &Graph, layers: &[usize], option: &LayerOption) -> String {
    let names: Vec<&str> = layers.iter().map(|&l| graph.nodes()[l].name.as_str()).collect();
    format!("{}|{}", names.join(","), serde_json::to_string(option).unwrap_or_default())
}

/// Computes (or reads from the cache) the sensitivity of every gene × option.
/// `progress(done, total)` is called from worker threads as entries finish.
pub fn sensitivity(
    model: &Model,
    space: &ExpandedSpace,
    set: &EvalSet,
    calibration: Option<&Batch>,
    cache_dir: Option<&Path>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SensitivityTable> {
    let reference = reference(model, set)?;
    let mut warnings = Vec::new();
    let cache_path = match cache_dir {
        Some(dir) => {
            let key = sha256_hex(
                format!("{}|{}|v1", model_fingerprint(model)?, set.fingerprint).as_bytes(),
            );
            Some(dir.join("sensitivity").join(format!("{key}.json")))
        }
        None => None,
    };
    let mut cache = CacheFile { version: 1, entries: BTreeMap::new() };
    if let Some(path) = &cache_path
        && let Ok(text) = std::fs::read_to_string(path)
    {
        match serde_json::from_str::<CacheFile>(&text) {
            Ok(c)
                if c.version == 1
                    && c.entries.values().all(|e| e.delta.is_finite() && e.kl.is_finite()) =>
            {
                cache = c
            }
            _ => warnings.push(format!(
                "{}: the sensitivity cache is corrupt; recomputing it",
                path.display()
            )),
        }
    }
    let jobs: Vec<(usize, usize)> = space
        .genes
        .iter()
        .enumerate()
        .flat_map(|(g, gene)| (0..gene.options.len()).map(move |o| (g, o)))
        .collect();
    let total = jobs.len();
    let done = AtomicUsize::new(0);
    let graph = &model.graph;
    let cached_before: BTreeMap<String, SensitivityEntry> = cache.entries.clone();
    // (gene, option, cache key, entry, served from the cache)
    type Done = (usize, usize, String, SensitivityEntry, bool);
    let results: Vec<Result<Done>> = jobs
        .par_iter()
        .map(|&(g, o)| {
            let gene = &space.genes[g];
            let option = &gene.options[o];
            let key = entry_key(graph, &gene.layers, option);
            let out = if option.is_identity() {
                (g, o, key, SensitivityEntry::default(), true)
            } else if let Some(e) = cached_before.get(&key) {
                (g, o, key, *e, true)
            } else {
                let plan = CompressionPlan {
                    model: None,
                    defaults: LayerOption::default(),
                    layers: gene
                        .layers
                        .iter()
                        .map(|&l| (graph.nodes()[l].name.clone(), option.clone()))
                        .collect(),
                };
                let f = evaluate_plan(model, &plan, set, &reference, calibration)?;
                (
                    g,
                    o,
                    key,
                    SensitivityEntry { delta: reference.metric - f.metric, kl: f.kl },
                    false,
                )
            };
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            Ok(out)
        })
        .collect();
    let mut entries: Vec<Vec<SensitivityEntry>> =
        space.genes.iter().map(|g| vec![SensitivityEntry::default(); g.options.len()]).collect();
    let mut cached = 0;
    for r in results {
        let (g, o, key, e, hit) = r?;
        entries[g][o] = e;
        if hit {
            cached += 1;
        } else {
            cache.entries.insert(key, e);
        }
    }
    if let Some(path) = &cache_path {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|error| Error::Io { path: dir.to_path_buf(), error })?;
        }
        let text = serde_json::to_string(&cache).unwrap_or_default();
        sculpt_stdx::write_atomic(path, text.as_bytes())
            .map_err(|error| Error::Io { path: path.clone(), error })?;
    }
    Ok(SensitivityTable { baseline: reference.metric, entries, cached, warnings })
}
