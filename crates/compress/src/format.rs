//! The compressed safetensors format: packed integer weights with their scales and zero points,
//! compact sparse encodings where they pay, the graph's structure, the plan and provenance in
//! the metadata; and its loader, which runs the model in candle (dequantized, or on candle's
//! quantized matmul kernels).
//!
//! For a weight `<layer>.weight` the file holds, depending on its encoding (described per tensor
//! in the `sculpt.packing` metadata, a JSON map):
//!
//! | tensor | when | content |
//! |---|---|---|
//! | `<layer>.weight` | dense or float cast | f32, f16 or bf16 values |
//! | `<layer>.weight.codes` | integer | unsigned codes, bit-packed little-endian (`bits` per code) |
//! | `<layer>.weight.scales` | integer | f16, one per scale group (row-major groups) |
//! | `<layer>.weight.zeros` | asymmetric | u8 zero points, one per group |
//! | `<layer>.weight.mask` | `sparse: bitmap` | 1 bit per weight (1 = kept), row-major, LSB first |
//! | `<layer>.weight.nm_index` | `sparse: nm` | for each kept value its position in its group of `m`, ⌈log2 m⌉ bits each |
//! | `<layer>.weight.values` | sparse, not integer | the kept values (f32, f16 or bf16) |
//!
//! With a sparse encoding, `codes` (or `values`) hold only the kept weights, in row-major order.
//! A sparse encoding is chosen only when it is smaller than the dense one.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Tensor};
use half::{bf16, f16};
use serde::{Deserialize, Serialize};

use sculpt_model::{Model, Op, SafetensorsFile};

use crate::apply::{Compressed, Encoding, StoredWeight, ZeroPattern};
use crate::error::{Error, Result};
use crate::plan::FloatFormat;
use crate::quant::{QuantizedWeight, pack_bits, packed_len, unpack_bits};

/// Metadata key of the packing description.
pub const PACKING_KEY: &str = "sculpt.packing";
/// Metadata key of the plan (YAML).
pub const PLAN_KEY: &str = "sculpt.plan";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Packing {
    shape: Vec<usize>,
    /// `f32`, `f16`, `bf16` or `int`.
    values: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bits: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    symmetric: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group_cols: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    per_tensor: Option<bool>,
    /// `none`, `bitmap` or `nm`.
    sparse: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inner_stride: Option<usize>,
}

fn u8_tensor(bytes: Vec<u8>) -> Result<Tensor> {
    let n = bytes.len();
    Ok(Tensor::from_vec(bytes, n, &Device::Cpu)?)
}

fn float_values(values: &[f32], format: Option<FloatFormat>) -> Result<Tensor> {
    let n = values.len();
    Ok(match format {
        None => Tensor::from_vec(values.to_vec(), n, &Device::Cpu)?,
        Some(FloatFormat::Fp16) => Tensor::from_vec(
            values.iter().map(|v| f16::from_f32(*v)).collect::<Vec<_>>(),
            n,
            &Device::Cpu,
        )?,
        Some(FloatFormat::Bf16) => Tensor::from_vec(
            values.iter().map(|v| bf16::from_f32(*v)).collect::<Vec<_>>(),
            n,
            &Device::Cpu,
        )?,
    })
}

fn value_bytes(format: Option<FloatFormat>) -> usize {
    if format.is_some() { 2 } else { 4 }
}

fn index_bits(m: usize) -> u8 {
    (usize::BITS - (m - 1).leading_zeros()).max(1) as u8
}

/// The positions of the kept (non-zero) entries of an N:M or unstructured sparse weight.
fn kept_positions(values: &[f32]) -> Vec<bool> {
    values.iter().map(|v| *v != 0.0).collect()
}

/// Visits every N:M group of a weight viewed as `[out, inner, stride]` in group order
/// (output, kernel position, group) with the flat positions of its `m` entries.
fn for_each_group(shape: &[usize], inner_stride: usize, m: usize, mut f: impl FnMut(&[usize])) {
    let (out, inner, k) = (shape[0], shape[1], inner_stride);
    let mut pos = vec![0usize; m];
    for o in 0..out {
        for p in 0..k {
            for g in 0..inner / m {
                for (j, slot) in pos.iter_mut().enumerate() {
                    *slot = o * inner * k + (g * m + j) * k + p;
                }
                f(&pos);
            }
        }
    }
}

/// N:M index codes: for each group in group order, the in-group offsets of its kept entries,
/// and the kept mask they describe. A group with fewer than `n` non-zeros (a kept weight can be
/// zero, or round to zero) is topped up with zero entries; `None` when a group has more than `n`.
fn nm_codes(
    values: &[f32],
    shape: &[usize],
    inner_stride: usize,
    n: usize,
    m: usize,
) -> Option<(Vec<u8>, Vec<bool>)> {
    let mut codes = Vec::with_capacity(values.len() / m * n);
    let mut keep = vec![false; values.len()];
    let mut ok = true;
    for_each_group(shape, inner_stride, m, |pos| {
        let mut chosen: Vec<usize> = (0..m).filter(|&j| values[pos[j]] != 0.0).collect();
        if chosen.len() > n {
            ok = false;
            return;
        }
        let mut j = 0;
        while chosen.len() < n {
            if !chosen.contains(&j) {
                chosen.push(j);
            }
            j += 1;
        }
        chosen.sort_unstable();
        for j in chosen {
            codes.push(j as u8);
            keep[pos[j]] = true;
        }
    });
    ok.then_some((codes, keep))
}

/// The bytes a weight takes in each encoding, and which one is used.
fn encode(
    name: &str,
    sw: &StoredWeight,
    values: &[f32],
) -> Result<(Vec<(String, Tensor)>, Packing)> {
    let n_total = values.len();
    let float = match &sw.encoding {
        Encoding::Float(f) => Some(*f),
        _ => None,
    };
    let mut packing = Packing {
        shape: sw.shape.clone(),
        values: match &sw.encoding {
            Encoding::Dense => "f32".into(),
            Encoding::Float(FloatFormat::Fp16) => "f16".into(),
            Encoding::Float(FloatFormat::Bf16) => "bf16".into(),
            Encoding::Int(_) => "int".into(),
        },
        bits: None,
        symmetric: None,
        group_cols: None,
        per_tensor: None,
        sparse: "none".into(),
        n: None,
        m: None,
        inner_stride: None,
    };
    let nm = match sw.sparsity {
        ZeroPattern::NM { n, m } => {
            nm_codes(values, &sw.shape, sw.inner_stride, n, m).map(|(c, k)| (n, m, c, k))
        }
        _ => None,
    };
    let keep = match &nm {
        Some((_, _, _, k)) => k.clone(),
        None => kept_positions(values),
    };
    let n_kept = keep.iter().filter(|k| **k).count();
    let (bits_per_value, extra_dense) = match &sw.encoding {
        Encoding::Int(q) => (q.bits as usize, 2 * q.scales.len() + q.zeros.len()),
        _ => (8 * value_bytes(float), 0),
    };
    let dense_bytes = (n_total * bits_per_value).div_ceil(8) + extra_dense;
    // Sparse candidates: N:M (values + indices) or a bitmap (values + 1 bit per weight).
    let sparse_choice: Option<(&str, usize)> = match (&sw.sparsity, &nm) {
        (ZeroPattern::NM { .. }, Some((_, m, codes, _))) => Some((
            "nm",
            (n_kept * bits_per_value).div_ceil(8)
                + packed_len(codes.len(), index_bits(*m))
                + extra_dense,
        )),
        (ZeroPattern::Dense, _) => None,
        _ => Some((
            "bitmap",
            (n_kept * bits_per_value).div_ceil(8) + n_total.div_ceil(8) + extra_dense,
        )),
    };
    let sparse = match sparse_choice {
        Some((kind, bytes)) if bytes < dense_bytes => Some(kind),
        _ => None,
    };
    let mut tensors = Vec::new();
    let keep_vals = |all: &[f32]| -> Vec<f32> {
        all.iter().zip(&keep).filter(|(_, k)| **k).map(|(v, _)| *v).collect()
    };
    match &sw.encoding {
        Encoding::Int(q) => {
            packing.bits = Some(q.bits);
            packing.symmetric = Some(q.symmetric);
            packing.group_cols = Some(q.group_cols);
            packing.per_tensor = Some(q.per_tensor);
            let codes: Vec<u8> = match sparse {
                Some(_) => {
                    q.codes.iter().zip(&keep).filter(|(_, k)| **k).map(|(c, _)| *c).collect()
                }
                None => q.codes.clone(),
            };
            tensors.push((format!("{name}.codes"), u8_tensor(pack_bits(&codes, q.bits))?));
            let scales: Vec<f16> = q.scales.iter().map(|s| f16::from_f32(*s)).collect();
            let ns = scales.len();
            tensors.push((format!("{name}.scales"), Tensor::from_vec(scales, ns, &Device::Cpu)?));
            if !q.symmetric {
                tensors.push((format!("{name}.zeros"), u8_tensor(q.zeros.clone())?));
            }
        }
        _ => {
            if sparse.is_some() {
                tensors.push((format!("{name}.values"), float_values(&keep_vals(values), float)?));
            } else {
                let t = float_values(values, float)?.reshape(sw.shape.as_slice())?;
                tensors.push((name.to_string(), t));
            }
        }
    }
    match sparse {
        Some("nm") => {
            let (n, m, codes, _) = nm.expect("nm chosen only with codes");
            packing.sparse = "nm".into();
            packing.n = Some(n);
            packing.m = Some(m);
            packing.inner_stride = Some(sw.inner_stride);
            tensors
                .push((format!("{name}.nm_index"), u8_tensor(pack_bits(&codes, index_bits(m)))?));
        }
        Some(_) => {
            packing.sparse = "bitmap".into();
            let bits: Vec<u8> = keep.iter().map(|k| *k as u8).collect();
            tensors.push((format!("{name}.mask"), u8_tensor(pack_bits(&bits, 1))?));
        }
        None => {}
    }
    Ok((tensors, packing))
}

/// The tensors and the metadata of a compressed file.
pub type Export = (Vec<(String, Tensor)>, BTreeMap<String, String>);

/// Everything `sculpt apply` writes: the tensors and the metadata.
pub fn export_tensors(compressed: &Compressed, provenance: &str) -> Result<Export> {
    let mut tensors = Vec::new();
    let mut packing = BTreeMap::new();
    for node in compressed.model.graph.nodes() {
        for w in node.op.weights() {
            let name = format!("{}.{}", node.name, w.role);
            match compressed.stored.get(&name) {
                Some(sw) => {
                    let values: Vec<f32> = w.tensor.flatten_all()?.to_vec1()?;
                    let (ts, p) = encode(&name, sw, &values)?;
                    tensors.extend(ts);
                    packing.insert(name, p);
                }
                None => tensors.push((name, w.tensor.to_dtype(DType::F32)?)),
            }
        }
    }
    let mut meta = sculpt_model::spec_metadata(&compressed.model.spec);
    meta.insert(
        sculpt_model::GRAPH_METADATA_KEY.into(),
        sculpt_model::graph_to_json(&compressed.model.graph),
    );
    meta.insert(PACKING_KEY.into(), serde_json::to_string(&packing).unwrap_or_default());
    meta.insert(PLAN_KEY.into(), compressed.plan.to_yaml());
    meta.insert("sculpt.name".into(), format!("{} (compressed)", compressed.model.name));
    meta.insert("sculpt.provenance".into(), provenance.to_string());
    if let Some(tok) = &compressed.model.tokenizer
        && let Ok(text) = std::fs::read_to_string(tok.path())
    {
        meta.insert("sculpt.tokenizer".into(), text);
    }
    Ok((tensors, meta))
}

/// Bytes of tensor data `sculpt apply` writes for this compressed model (the file adds an
/// 8-byte length and the JSON header).
pub fn stored_bytes(compressed: &Compressed) -> Result<u64> {
    let (tensors, _) = export_tensors(compressed, "")?;
    Ok(tensors.iter().map(|(_, t)| (t.elem_count() * t.dtype().size_in_bytes()) as u64).sum())
}

/// Writes the compressed model (atomically).
pub fn write_compressed(compressed: &Compressed, path: &Path, provenance: &str) -> Result<u64> {
    let (tensors, meta) = export_tensors(compressed, provenance)?;
    let data: u64 =
        tensors.iter().map(|(_, t)| (t.elem_count() * t.dtype().size_in_bytes()) as u64).sum();
    sculpt_model::write_safetensors(path, &tensors, &meta)?;
    Ok(data)
}

/// How to run a loaded compressed model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kernels {
    /// Dequantize every weight to f32: the exact numbers of the stored grid.
    #[default]
    Dequantized,
    /// Run quantized Linear layers on candle's quantized matmul (Q8_0, Q4_0 or k-quant blocks
    /// re-quantized from the stored grid), where the input width fits the block size.
    Candle,
}

fn decode(
    name: &str,
    p: &Packing,
    tensors: &HashMap<String, Tensor>,
    origin: &Path,
) -> Result<(Tensor, Encoding)> {
    let bad = |msg: String| Error::Format {
        path: origin.to_path_buf(),
        msg: format!("weight `{name}`: {msg}"),
    };
    let get = |suffix: &str| -> Result<&Tensor> {
        let key = if suffix.is_empty() { name.to_string() } else { format!("{name}.{suffix}") };
        tensors.get(&key).ok_or_else(|| bad(format!("missing tensor `{key}`")))
    };
    let bytes =
        |suffix: &str| -> Result<Vec<u8>> { Ok(get(suffix)?.flatten_all()?.to_vec1::<u8>()?) };
    let n_total: usize = p.shape.iter().product();
    let keep: Option<Vec<bool>> = match p.sparse.as_str() {
        "none" => None,
        "bitmap" => {
            let bits = unpack_bits(&bytes("mask")?, 1, n_total)
                .ok_or_else(|| bad("mask is too short".into()))?;
            Some(bits.iter().map(|b| *b == 1).collect())
        }
        "nm" => {
            let (n, m, stride) = (p.n.unwrap_or(0), p.m.unwrap_or(0), p.inner_stride.unwrap_or(1));
            if n == 0 || m == 0 || p.shape.len() < 2 || !p.shape[1].is_multiple_of(m) {
                return Err(bad(format!(
                    "invalid N:M description {n}:{m} for shape {:?}",
                    p.shape
                )));
            }
            let n_kept = n_total / m * n;
            let codes = unpack_bits(&bytes("nm_index")?, index_bits(m), n_kept)
                .ok_or_else(|| bad("nm_index is too short".into()))?;
            let mut keep = vec![false; n_total];
            let mut next = codes.iter();
            let mut valid = true;
            for_each_group(&p.shape, stride, m, |pos| {
                for _ in 0..n {
                    match next.next() {
                        Some(&j) if (j as usize) < m => keep[pos[j as usize]] = true,
                        _ => valid = false,
                    }
                }
            });
            if !valid || keep.iter().filter(|k| **k).count() != n_kept {
                return Err(bad(
                    "nm_index does not describe exactly n kept values per group".into()
                ));
            }
            Some(keep)
        }
        other => return Err(bad(format!("unknown sparse encoding `{other}`"))),
    };
    let n_vals = keep.as_ref().map_or(n_total, |k| k.iter().filter(|x| **x).count());
    let encoding;
    let vals: Vec<f32> = match p.values.as_str() {
        "int" => {
            let bits = p.bits.ok_or_else(|| bad("missing bits".into()))?;
            let codes = unpack_bits(&bytes("codes")?, bits, n_vals)
                .ok_or_else(|| bad("codes are too short".into()))?;
            let scales: Vec<f32> = get("scales")?.to_dtype(DType::F32)?.to_vec1()?;
            let symmetric = p.symmetric.unwrap_or(true);
            let zeros = if symmetric { Vec::new() } else { bytes("zeros")? };
            let rows = p.shape[0];
            let cols = n_total / rows.max(1);
            let offset = if symmetric { 1u8 << (bits - 1) } else { 0 };
            // Expand sparse codes to full with the code of zero.
            let group_cols = p.group_cols.unwrap_or(cols).max(1);
            let per_tensor = p.per_tensor.unwrap_or(false);
            let groups_per_row = cols.div_ceil(group_cols);
            let group_of = |i: usize| {
                if per_tensor { 0 } else { (i / cols) * groups_per_row + (i % cols) / group_cols }
            };
            let zero_code = |i: usize| {
                if symmetric { offset } else { zeros.get(group_of(i)).copied().unwrap_or(0) }
            };
            let full: Vec<u8> = match &keep {
                None => codes,
                Some(k) => {
                    let mut it = codes.into_iter();
                    (0..n_total)
                        .map(|i| if k[i] { it.next().unwrap_or(0) } else { zero_code(i) })
                        .collect()
                }
            };
            let n_groups = if per_tensor { 1 } else { rows * groups_per_row };
            if scales.len() != n_groups || (!symmetric && zeros.len() != n_groups) {
                return Err(bad(format!("expected {n_groups} scales, found {}", scales.len())));
            }
            let q = QuantizedWeight {
                rows,
                cols,
                bits,
                symmetric,
                group_cols,
                per_tensor,
                codes: full,
                scales,
                zeros,
            };
            let values = q.dequantize();
            encoding = Encoding::Int(q);
            values
        }
        "f32" | "f16" | "bf16" => {
            encoding = match p.values.as_str() {
                "f16" => Encoding::Float(FloatFormat::Fp16),
                "bf16" => Encoding::Float(FloatFormat::Bf16),
                _ => Encoding::Dense,
            };
            let t = if keep.is_some() { get("values")? } else { get("")? };
            let v: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
            match &keep {
                None => v,
                Some(k) => {
                    let mut it = v.into_iter();
                    (0..n_total)
                        .map(|i| if k[i] { it.next().unwrap_or(0.0) } else { 0.0 })
                        .collect()
                }
            }
        }
        other => return Err(bad(format!("unknown value encoding `{other}`"))),
    };
    if vals.len() != n_total {
        return Err(bad(format!("decoded {} values for shape {:?}", vals.len(), p.shape)));
    }
    Ok((Tensor::from_vec(vals, p.shape.as_slice(), &Device::Cpu)?, encoding))
}

/// Loads a compressed file written by [`write_compressed`] into a runnable model.
pub fn load_compressed(file: SafetensorsFile, origin: &str, kernels: Kernels) -> Result<Model> {
    Ok(load_stored(file, origin, kernels)?.0)
}

/// A compressed file's model, how each of its packed weights is stored (by tensor name), and
/// the file's metadata.
pub type Stored = (Model, BTreeMap<String, Encoding>, BTreeMap<String, String>);

/// Loads a compressed file with the stored form of its weights (what an export writes).
pub fn load_stored(file: SafetensorsFile, origin: &str, kernels: Kernels) -> Result<Stored> {
    let metadata: BTreeMap<String, String> =
        file.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let Some(packing_json) = file.metadata.get(PACKING_KEY) else {
        let model = sculpt_model::load_safetensors_with_spec(file, origin)?;
        return Ok((model, BTreeMap::new(), metadata));
    };
    let packing: BTreeMap<String, Packing> = serde_json::from_str(packing_json).map_err(|e| {
        Error::Format { path: file.path.clone(), msg: format!("`{PACKING_KEY}` is not valid: {e}") }
    })?;
    let mut tensors = file.tensors.clone();
    let mut encodings = BTreeMap::new();
    for (name, p) in &packing {
        let (t, encoding) = decode(name, p, &file.tensors, &file.path)?;
        tensors.insert(name.clone(), t);
        encodings.insert(name.clone(), encoding);
    }
    let mut decoded =
        SafetensorsFile { path: file.path.clone(), tensors, metadata: file.metadata.clone() };
    decoded.metadata.remove(PACKING_KEY);
    let mut model = sculpt_model::load_safetensors_with_spec(decoded, origin)?;
    if let Some(text) = file.metadata.get("sculpt.tokenizer") {
        model.tokenizer = sculpt_model::Tokenizer::from_json(text, &file.path).ok();
    }
    if kernels == Kernels::Candle {
        let bits: BTreeMap<String, u8> = packing
            .iter()
            .filter(|(_, p)| p.values == "int")
            .filter_map(|(k, p)| p.bits.map(|b| (k.clone(), b)))
            .collect();
        attach_kernels(&mut model, &bits)?;
    }
    Ok((model, encodings, metadata))
}

/// Runs the integer-stored Linear layers of an in-memory compressed model on candle's quantized
/// matmul kernels (as [`Kernels::Candle`] does for a loaded file).
pub fn attach_candle_kernels(compressed: &mut Compressed) -> Result<()> {
    let bits: BTreeMap<String, u8> = compressed
        .stored
        .iter()
        .filter_map(|(k, s)| match &s.encoding {
            Encoding::Int(q) => Some((k.clone(), q.bits)),
            _ => None,
        })
        .collect();
    attach_kernels(&mut compressed.model, &bits)
}

fn attach_kernels(model: &mut Model, bits: &BTreeMap<String, u8>) -> Result<()> {
    for node in model.graph.nodes_mut() {
        let Some(&b) = bits.get(&format!("{}.weight", node.name)) else { continue };
        if let Op::Linear(l) = &mut node.op {
            attach_quantized_kernel(l, b)?;
        }
    }
    Ok(())
}

/// Runs a Linear layer on candle's quantized matmul with the block format closest to `bits`;
/// returns `false` (and leaves the layer as it is) when its inner dimension fits no block.
pub fn attach_quantized_kernel(linear: &mut sculpt_model::Linear, bits: u8) -> Result<bool> {
    let Some(dtype) = ggml_type(bits, linear.in_features()) else { return Ok(false) };
    let q = QTensor::quantize(&linear.weight, dtype)?;
    linear.kernel = Some(QMatMul::from_qtensor(q)?);
    Ok(true)
}

/// candle's block format closest to a stored integer width, if the inner dimension fits it.
fn ggml_type(bits: u8, inner: usize) -> Option<GgmlDType> {
    let k = inner.is_multiple_of(256);
    let b = inner.is_multiple_of(32);
    match bits {
        8 if b => Some(GgmlDType::Q8_0),
        6 if k => Some(GgmlDType::Q6K),
        6 if b => Some(GgmlDType::Q8_0),
        4 if k => Some(GgmlDType::Q4K),
        4 if b => Some(GgmlDType::Q4_0),
        3 if k => Some(GgmlDType::Q3K),
        2 if k => Some(GgmlDType::Q2K),
        3 | 2 if b => Some(GgmlDType::Q4_0),
        _ => None,
    }
}

/// Loads any model name sculpt accepts, including compressed files.
pub fn load_any(name: &str, kernels: Kernels) -> Result<Model> {
    if name.ends_with(".safetensors") && Path::new(name).is_file() {
        let file = SafetensorsFile::read(Path::new(name))?;
        return load_compressed(file, name, kernels);
    }
    Ok(sculpt_model::load_model(name)?)
}
