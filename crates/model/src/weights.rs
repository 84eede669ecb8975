//! Reading and writing safetensors files, and the weight source architectures build from: a
//! file with published tensor names, or seeded random weights.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{Error, Result};
use crate::ops::{BatchNorm2d, Conv2d, Embedding, LayerNorm, Linear};

/// A safetensors file read into memory: its tensors and its string metadata.
#[derive(Debug)]
pub struct SafetensorsFile {
    /// Where it came from (for messages).
    pub path: PathBuf,
    /// The tensors by name, on the CPU, in their stored data type.
    pub tensors: HashMap<String, Tensor>,
    /// The `__metadata__` map of the header.
    pub metadata: BTreeMap<String, String>,
}

impl SafetensorsFile {
    /// Reads a safetensors file.
    pub fn read(path: &Path) -> Result<SafetensorsFile> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        SafetensorsFile::from_bytes(&bytes, path)
    }

    /// Parses safetensors bytes that came from `origin`.
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<SafetensorsFile> {
        let bad = |msg: String| Error::Safetensors { path: origin.to_path_buf(), msg };
        let (_, header) =
            safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let metadata: BTreeMap<String, String> =
            header.metadata().clone().map(|m| m.into_iter().collect()).unwrap_or_default();
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let dtype = match view.dtype() {
                safetensors::Dtype::F32 => DType::F32,
                safetensors::Dtype::F16 => DType::F16,
                safetensors::Dtype::BF16 => DType::BF16,
                safetensors::Dtype::F64 => DType::F64,
                safetensors::Dtype::U8 => DType::U8,
                safetensors::Dtype::U32 => DType::U32,
                safetensors::Dtype::I64 => DType::I64,
                other => {
                    return Err(bad(format!(
                        "tensor `{name}` has unsupported data type {other:?}"
                    )));
                }
            };
            let tensor = Tensor::from_raw_buffer(view.data(), dtype, view.shape(), &Device::Cpu)
                .map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
            tensors.insert(name, tensor);
        }
        Ok(SafetensorsFile { path: origin.to_path_buf(), tensors, metadata })
    }
}

/// Writes tensors and metadata as a safetensors file, through a temporary file in the same
/// folder and a rename, so that a reader never sees half a file.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let bytes = safetensors_bytes(tensors, metadata)?;
    write_atomic(path, &bytes)
}

/// Serialises tensors and metadata to safetensors bytes.
pub fn safetensors_bytes(
    tensors: &[(String, Tensor)],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in tensors {
        let t = t.contiguous()?;
        let (dtype, data) = match t.dtype() {
            DType::F32 => (safetensors::Dtype::F32, bytes_of(&t.flatten_all()?.to_vec1::<f32>()?)),
            DType::F16 => (
                safetensors::Dtype::F16,
                t.flatten_all()?
                    .to_vec1::<half::f16>()?
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            ),
            DType::BF16 => (
                safetensors::Dtype::BF16,
                t.flatten_all()?
                    .to_vec1::<half::bf16>()?
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            ),
            DType::U8 => (safetensors::Dtype::U8, t.flatten_all()?.to_vec1::<u8>()?),
            DType::U32 => (
                safetensors::Dtype::U32,
                t.flatten_all()?.to_vec1::<u32>()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            DType::I64 => (
                safetensors::Dtype::I64,
                t.flatten_all()?.to_vec1::<i64>()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            other => {
                return Err(Error::Graph {
                    msg: format!("cannot store tensor `{name}` of type {other:?}"),
                });
            }
        };
        owned.push((name.clone(), dtype, t.dims().to_vec(), data));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
        .iter()
        .map(|(name, dtype, shape, data)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Graph { msg: format!("tensor `{name}`: {e}") })
        })
        .collect::<Result<_>>()?;
    let meta: HashMap<String, String> =
        metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    safetensors::tensor::serialize(views, Some(meta))
        .map_err(|e| Error::Graph { msg: format!("cannot serialise safetensors: {e}") })
}

fn bytes_of(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes bytes to `path` atomically, with an error that names the file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    sculpt_stdx::write_atomic(path, bytes).map_err(|e| Error::io(path, e))
}

/// How a random tensor is initialised (PyTorch's defaults).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Init {
    /// Uniform in `[-bound, bound]`.
    Uniform(f64),
    /// Normal with this standard deviation.
    Normal(f64),
    /// Every element equal.
    Const(f32),
}

enum Source {
    File { file: SafetensorsFile, prefix: String },
    Random { rng: StdRng },
}

/// Where an architecture builder takes its weights from.
pub(crate) struct WeightSource {
    source: Source,
    /// Bytes of the tensors handed out so far, at fp32.
    bytes: u64,
    /// The most the weights may take: the memory available when the source was made.
    budget: u64,
}

impl WeightSource {
    /// Weights from a file; tensor names are looked up with `prefix` prepended.
    pub(crate) fn file(file: SafetensorsFile, prefix: &str) -> WeightSource {
        WeightSource {
            source: Source::File { file, prefix: prefix.to_string() },
            bytes: 0,
            budget: sculpt_stdx::available_memory(),
        }
    }

    /// Seeded random weights.
    pub(crate) fn random(seed: u64) -> WeightSource {
        WeightSource {
            source: Source::Random { rng: StdRng::seed_from_u64(seed) },
            bytes: 0,
            budget: sculpt_stdx::available_memory(),
        }
    }

    /// True when a tensor of this name exists (always true for random weights).
    pub(crate) fn has(&self, name: &str) -> bool {
        match &self.source {
            Source::File { file, prefix } => file.tensors.contains_key(&format!("{prefix}{name}")),
            Source::Random { .. } => true,
        }
    }

    /// One tensor, f32, of exactly `shape`. A random tensor is refused before anything is
    /// allocated when the weights so far would not fit in memory (a file's tensors are in memory
    /// already).
    pub(crate) fn tensor(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Tensor> {
        let elements = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64));
        self.bytes = elements
            .and_then(|n| n.checked_mul(4))
            .and_then(|b| b.checked_add(self.bytes))
            .unwrap_or(u64::MAX);
        if self.bytes > self.budget && matches!(self.source, Source::Random { .. }) {
            let layer = name.rsplit_once('.').map_or(name, |(layer, _)| layer).to_string();
            return Err(Error::TooLarge {
                layer,
                needed_bytes: self.bytes,
                available_bytes: self.budget,
            });
        }
        match &mut self.source {
            Source::File { file, prefix } => {
                let full = format!("{prefix}{name}");
                let t = file.tensors.get(&full).ok_or_else(|| Error::MissingTensor {
                    path: file.path.clone(),
                    name: full.clone(),
                    expected: shape.to_vec(),
                })?;
                if !matches!(t.dtype(), DType::F32 | DType::F16 | DType::BF16 | DType::F64) {
                    return Err(Error::TensorDtype {
                        path: file.path.clone(),
                        name: full,
                        dtype: format!("{:?}", t.dtype()),
                    });
                }
                crate::ops::check_shape(&file.path, &full, t, shape)?;
                Ok(t.to_dtype(DType::F32)?)
            }
            Source::Random { rng } => {
                let n: usize = shape.iter().product();
                let values: Vec<f32> = match init {
                    Init::Uniform(bound) => {
                        (0..n).map(|_| rng.random_range(-bound..=bound) as f32).collect()
                    }
                    Init::Normal(std) => (0..n).map(|_| (normal(rng) * std) as f32).collect(),
                    Init::Const(v) => vec![v; n],
                };
                Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
            }
        }
    }

    /// A Linear layer `name` with PyTorch's default initialisation.
    pub(crate) fn linear(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
    ) -> Result<Linear> {
        let bound = 1.0 / (d_in as f64).sqrt();
        let weight =
            self.tensor(&format!("{name}.weight"), &[d_out, d_in], Init::Uniform(bound))?;
        let bias = if bias {
            Some(self.tensor(&format!("{name}.bias"), &[d_out], Init::Uniform(bound))?)
        } else {
            None
        };
        Ok(Linear::new(weight, bias))
    }

    /// A Conv2d layer `name` with square kernel, stride and padding.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn conv2d(
        &mut self,
        name: &str,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        groups: usize,
        bias: bool,
    ) -> Result<Conv2d> {
        let fan_in = c_in / groups * kernel * kernel;
        let bound = 1.0 / (fan_in as f64).sqrt();
        let weight = self.tensor(
            &format!("{name}.weight"),
            &[c_out, c_in / groups, kernel, kernel],
            Init::Uniform(bound),
        )?;
        let bias = if bias {
            Some(self.tensor(&format!("{name}.bias"), &[c_out], Init::Uniform(bound))?)
        } else {
            None
        };
        Ok(Conv2d {
            weight,
            bias,
            stride: (stride, stride),
            padding: (padding, padding),
            dilation: 1,
            groups,
        })
    }

    /// A BatchNorm2d layer `name` (γ = 1, β = 0, running mean 0 and variance 1 when random).
    pub(crate) fn batch_norm(
        &mut self,
        name: &str,
        channels: usize,
        eps: f64,
    ) -> Result<BatchNorm2d> {
        Ok(BatchNorm2d {
            weight: self.tensor(&format!("{name}.weight"), &[channels], Init::Const(1.0))?,
            bias: self.tensor(&format!("{name}.bias"), &[channels], Init::Const(0.0))?,
            running_mean: self.tensor(
                &format!("{name}.running_mean"),
                &[channels],
                Init::Const(0.0),
            )?,
            running_var: self.tensor(
                &format!("{name}.running_var"),
                &[channels],
                Init::Const(1.0),
            )?,
            eps,
        })
    }

    /// A LayerNorm `name`; old checkpoints name its tensors `gamma` and `beta`.
    pub(crate) fn layer_norm(&mut self, name: &str, dim: usize, eps: f64) -> Result<LayerNorm> {
        let (w, b) = if !self.has(&format!("{name}.weight")) && self.has(&format!("{name}.gamma")) {
            ("gamma", "beta")
        } else {
            ("weight", "bias")
        };
        Ok(LayerNorm {
            weight: self.tensor(&format!("{name}.{w}"), &[dim], Init::Const(1.0))?,
            bias: self.tensor(&format!("{name}.{b}"), &[dim], Init::Const(0.0))?,
            eps,
        })
    }

    /// An Embedding `name` (N(0, 0.02²) when random, as BERT initialises).
    pub(crate) fn embedding(&mut self, name: &str, n: usize, dim: usize) -> Result<Embedding> {
        Ok(Embedding {
            weight: self.tensor(&format!("{name}.weight"), &[n, dim], Init::Normal(0.02))?,
        })
    }
}

/// A standard normal sample by the Box–Muller transform.
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_round_trip_keeps_values_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let a = Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[7u8, 8, 9], &Device::Cpu).unwrap();
        let meta = BTreeMap::from([("k".to_string(), "v".to_string())]);
        write_safetensors(&path, &[("a".into(), a), ("b".into(), b)], &meta).unwrap();
        let file = SafetensorsFile::read(&path).unwrap();
        assert_eq!(file.metadata.get("k").map(String::as_str), Some("v"));
        assert_eq!(file.tensors["a"].to_vec2::<f32>().unwrap(), vec![vec![1., 2.], vec![3., 4.]]);
        assert_eq!(file.tensors["b"].to_vec1::<u8>().unwrap(), vec![7, 8, 9]);
    }

    #[test]
    fn truncated_and_garbage_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let a = Tensor::new(&[1f32, 2., 3., 4.], &Device::Cpu).unwrap();
        write_safetensors(&path, &[("a".into(), a)], &BTreeMap::new()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let err = SafetensorsFile::from_bytes(&bytes[..bytes.len() - 3], &path).unwrap_err();
        assert!(err.to_string().contains("not a valid safetensors file"), "{err}");
        assert!(err.to_string().contains("w.safetensors"), "{err}");
        let err = SafetensorsFile::from_bytes(b"hello", &path).unwrap_err();
        assert!(err.to_string().contains("not a valid safetensors file"), "{err}");
    }

    #[test]
    fn missing_and_misshaped_tensors_name_file_and_shape() {
        let file = SafetensorsFile {
            path: "m.safetensors".into(),
            tensors: HashMap::from([(
                "fc.weight".to_string(),
                Tensor::zeros((3, 4), DType::F32, &Device::Cpu).unwrap(),
            )]),
            metadata: BTreeMap::new(),
        };
        let mut src = WeightSource::file(file, "");
        let err = src.linear("fc", 5, 3, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.safetensors: tensor `fc.weight` has shape [3, 4], expected [3, 5]"
        );
        let err = src.linear("fc", 4, 3, true).unwrap_err();
        assert_eq!(err.to_string(), "m.safetensors: missing tensor `fc.bias` (expected shape [3])");
    }

    #[test]
    fn random_init_is_seeded_and_bounded() {
        let a = WeightSource::random(1).linear("fc", 100, 10, true).unwrap();
        let b = WeightSource::random(1).linear("fc", 100, 10, true).unwrap();
        let c = WeightSource::random(2).linear("fc", 100, 10, true).unwrap();
        let va: Vec<f32> = a.weight.flatten_all().unwrap().to_vec1().unwrap();
        let vb: Vec<f32> = b.weight.flatten_all().unwrap().to_vec1().unwrap();
        let vc: Vec<f32> = c.weight.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(va, vb);
        assert_ne!(va, vc);
        assert!(va.iter().all(|v| v.abs() <= 0.1 + 1e-6));
        // U(-0.1, 0.1) has variance 0.01/3; 1000 samples land within 20% of it.
        let var = va.iter().map(|v| (v * v) as f64).sum::<f64>() / va.len() as f64;
        assert!((var - 0.01 / 3.0).abs() < 0.2 * 0.01 / 3.0, "{var}");
    }
}
