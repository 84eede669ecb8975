//! Evaluation data: readers for IDX, safetensors and text files, the bundled Fashion-MNIST
//! subsets, and the full Fashion-MNIST from Debian's `dataset-fashion-mnist` package.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use sculpt_model::SafetensorsFile;

use crate::error::{Error, Result};
use crate::idx::read_idx;

/// Where Debian's `dataset-fashion-mnist` package puts the IDX files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The bundled evaluation subset: 2,000 class-balanced images of the Fashion-MNIST test split.
pub const BUILTIN_EVAL: &str = "builtin:fashion-mnist-eval";
/// The bundled calibration subset: 512 class-balanced images of the Fashion-MNIST train split.
pub const BUILTIN_CALIB: &str = "builtin:fashion-mnist-calib";

const EVAL_BYTES: &[u8] = include_bytes!("../../../models/fashion-mnist-eval.safetensors");
const CALIB_BYTES: &[u8] = include_bytes!("../../../models/fashion-mnist-calib.safetensors");

/// The samples of a dataset.
#[derive(Clone, Debug)]
pub enum Data {
    /// Images `[N, C, H, W]` or feature vectors `[N, D]`, f32 (byte data scaled to [0, 1]).
    Dense {
        /// The inputs.
        inputs: Tensor,
        /// Class labels, when the data has them.
        labels: Option<Vec<u32>>,
    },
    /// Sentences, one per sample.
    Text {
        /// The sentences.
        sentences: Vec<String>,
    },
    /// Sentence pairs with human similarity scores (STS-style), for encoders.
    Pairs {
        /// First sentences.
        a: Vec<String>,
        /// Second sentences.
        b: Vec<String>,
        /// Scores (any scale; only their order and linear fit matter).
        scores: Vec<f64>,
    },
}

/// A named dataset.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Where it came from (for provenance and messages).
    pub name: String,
    /// The samples.
    pub data: Data,
}

impl Dataset {
    /// The inputs and labels of labelled dense data (images or features), as training needs them.
    pub fn labelled_dense(&self) -> Result<(&Tensor, &[u32])> {
        match &self.data {
            Data::Dense { inputs, labels: Some(labels) } => Ok((inputs, labels.as_slice())),
            Data::Dense { labels: None, .. } => Err(Error::Mismatch {
                msg: format!("`{}` has no labels; training needs them", self.name),
            }),
            Data::Text { .. } | Data::Pairs { .. } => Err(Error::Mismatch {
                msg: format!("`{}` is text; training needs labelled images or features", self.name),
            }),
        }
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        match &self.data {
            Data::Dense { inputs, .. } => inputs.dims().first().copied().unwrap_or(0),
            Data::Text { sentences } => sentences.len(),
            Data::Pairs { scores, .. } => scores.len(),
        }
    }

    /// True when the dataset has no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The labels, if any.
    pub fn labels(&self) -> Option<&[u32]> {
        match &self.data {
            Data::Dense { labels, .. } => labels.as_deref(),
            Data::Text { .. } | Data::Pairs { .. } => None,
        }
    }

    /// The samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Result<Dataset> {
        let n = self.len();
        if let Some(bad) = indices.iter().find(|&&i| i >= n) {
            return Err(Error::Mismatch {
                msg: format!("sample {bad} is out of range for {n} samples"),
            });
        }
        let data = match &self.data {
            Data::Dense { inputs, labels } => {
                let idx: Vec<u32> = indices.iter().map(|&i| i as u32).collect();
                let idx = Tensor::new(idx.as_slice(), &Device::Cpu)?;
                Data::Dense {
                    inputs: inputs.index_select(&idx, 0)?,
                    labels: labels.as_ref().map(|l| indices.iter().map(|&i| l[i]).collect()),
                }
            }
            Data::Text { sentences } => {
                Data::Text { sentences: indices.iter().map(|&i| sentences[i].clone()).collect() }
            }
            Data::Pairs { a, b, scores } => Data::Pairs {
                a: indices.iter().map(|&i| a[i].clone()).collect(),
                b: indices.iter().map(|&i| b[i].clone()).collect(),
                scores: indices.iter().map(|&i| scores[i]).collect(),
            },
        };
        Ok(Dataset { name: self.name.clone(), data })
    }
}

/// A split of Fashion-MNIST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// 60,000 training images.
    Train,
    /// 10,000 test images.
    Test,
}

/// Loads data named on the command line: `builtin:fashion-mnist-eval`,
/// `builtin:fashion-mnist-calib`, `fashion-mnist:train`, `fashion-mnist:test`, an IDX image file
/// (its labels are found by replacing `images-idx3` with `labels-idx1` in the name), a
/// safetensors file with `inputs` and optional `labels`, or a text file with one sentence per
/// line.
pub fn load_data(name: &str) -> Result<Dataset> {
    match name {
        BUILTIN_EVAL => {
            return dense_from_safetensors(
                &SafetensorsFile::from_bytes(EVAL_BYTES, Path::new(name))?,
                name,
            );
        }
        BUILTIN_CALIB => {
            return dense_from_safetensors(
                &SafetensorsFile::from_bytes(CALIB_BYTES, Path::new(name))?,
                name,
            );
        }
        "fashion-mnist:train" => return fashion_mnist(Split::Train, Path::new(FASHION_MNIST_DIR)),
        "fashion-mnist:test" => return fashion_mnist(Split::Test, Path::new(FASHION_MNIST_DIR)),
        _ => {}
    }
    if name.starts_with("builtin:") || name.starts_with("fashion-mnist:") {
        return Err(Error::UnknownData {
            name: name.into(),
            msg: format!(
                "expected one of {BUILTIN_EVAL}, {BUILTIN_CALIB}, fashion-mnist:train, fashion-mnist:test"
            ),
        });
    }
    let path = Path::new(name);
    if !path.exists() {
        return Err(Error::Io {
            path: path.into(),
            error: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    if file_name.ends_with(".safetensors") {
        dense_from_safetensors(&SafetensorsFile::read(path).map_err(Error::Model)?, name)
    } else if file_name.ends_with(".txt") {
        read_text_lines(path)
    } else if file_name.ends_with(".tsv") {
        read_scored_pairs(path)
    } else if file_name.contains("idx") || file_name.ends_with(".gz") {
        let labels = file_name
            .contains("images-idx3")
            .then(|| path.with_file_name(file_name.replace("images-idx3", "labels-idx1")));
        read_idx_images(path, labels.as_deref().filter(|p| p.exists()))
    } else {
        Err(Error::UnknownData {
            name: name.into(),
            msg: "expected a .safetensors file (inputs, labels), an IDX file, a .txt file or a builtin".into(),
        })
    }
}

/// Reads Fashion-MNIST from `dir` (normally [`FASHION_MNIST_DIR`]).
pub fn fashion_mnist(split: Split, dir: &Path) -> Result<Dataset> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images = dir.join(format!("{prefix}-images-idx3-ubyte.gz"));
    let labels = dir.join(format!("{prefix}-labels-idx1-ubyte.gz"));
    if !images.exists() {
        return Err(Error::format(
            &images,
            "Fashion-MNIST is not installed; install it with `apt-get install dataset-fashion-mnist` (Debian)",
        ));
    }
    let mut ds = read_idx_images(&images, Some(&labels))?;
    ds.name = format!("fashion-mnist:{}", if split == Split::Train { "train" } else { "test" });
    Ok(ds)
}

/// Reads IDX images `[N, H, W]` (as `[N, 1, H, W]` in [0, 1]) and optional IDX labels `[N]`.
pub fn read_idx_images(images: &Path, labels: Option<&Path>) -> Result<Dataset> {
    let img = read_idx(images)?;
    let inputs = match img.dims.as_slice() {
        [n, h, w] => bytes_to_unit(&img.data, &[*n, 1, *h, *w])?,
        [n, c, h, w] => bytes_to_unit(&img.data, &[*n, *c, *h, *w])?,
        [n, d] => bytes_to_unit(&img.data, &[*n, *d])?,
        dims => {
            return Err(Error::format(
                images,
                format!("expected images [N, H, W] or [N, C, H, W], got {dims:?}"),
            ));
        }
    };
    let labels = match labels {
        Some(path) => {
            let l = read_idx(path)?;
            if l.dims.len() != 1 || l.dims[0] != img.dims[0] {
                return Err(Error::format(
                    path,
                    format!("expected {} labels [N], got dimensions {:?}", img.dims[0], l.dims),
                ));
            }
            Some(l.data.iter().map(|&v| v as u32).collect())
        }
        None => None,
    };
    Ok(Dataset { name: images.display().to_string(), data: Data::Dense { inputs, labels } })
}

fn bytes_to_unit(data: &[u8], shape: &[usize]) -> Result<Tensor> {
    let t = Tensor::from_slice(data, shape, &Device::Cpu)?;
    Ok((t.to_dtype(DType::F32)? / 255.0)?)
}

/// Reads a safetensors data file: `inputs` (u8 scaled to [0, 1], or float) and optional `labels`.
pub fn dense_from_safetensors(file: &SafetensorsFile, name: &str) -> Result<Dataset> {
    let path = &file.path;
    let inputs = file.tensors.get("inputs").ok_or_else(|| {
        Error::format(path, "missing tensor `inputs` (expected [N, C, H, W], [N, H, W] or [N, D])")
    })?;
    let inputs = match inputs.dtype() {
        DType::U8 => (inputs.to_dtype(DType::F32)? / 255.0)?,
        DType::F32 | DType::F16 | DType::BF16 | DType::F64 => inputs.to_dtype(DType::F32)?,
        other => {
            return Err(Error::format(
                path,
                format!("tensor `inputs` has type {other:?}; expected u8 or a float type"),
            ));
        }
    };
    let inputs = match inputs.rank() {
        3 => inputs.unsqueeze(1)?,
        2 | 4 => inputs,
        _ => {
            return Err(Error::format(
                path,
                format!(
                    "tensor `inputs` has shape {:?}; expected [N, C, H, W], [N, H, W] or [N, D]",
                    inputs.dims()
                ),
            ));
        }
    };
    let n = inputs.dims()[0];
    if n == 0 {
        return Err(Error::format(path, "tensor `inputs` holds no samples"));
    }
    let labels = match file.tensors.get("labels") {
        None => None,
        Some(l) => {
            if l.dims() != [n] {
                return Err(Error::format(
                    path,
                    format!("tensor `labels` has shape {:?}; expected [{n}]", l.dims()),
                ));
            }
            let values: Vec<u32> = match l.dtype() {
                DType::U8 | DType::U32 => l.to_dtype(DType::U32)?.to_vec1()?,
                DType::I64 => {
                    let v: Vec<i64> = l.to_vec1()?;
                    if let Some(bad) = v.iter().find(|x| **x < 0 || **x > u32::MAX as i64) {
                        return Err(Error::format(
                            path,
                            format!("tensor `labels` holds {bad}; expected class indices"),
                        ));
                    }
                    v.into_iter().map(|x| x as u32).collect()
                }
                other => {
                    return Err(Error::format(
                        path,
                        format!("tensor `labels` has type {other:?}; expected an integer type"),
                    ));
                }
            };
            Some(values)
        }
    };
    Ok(Dataset { name: name.to_string(), data: Data::Dense { inputs, labels } })
}

/// The file at `path` as UTF-8 text.
fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|error| Error::Io { path: path.into(), error })?;
    String::from_utf8(bytes).map_err(|e| {
        Error::format(
            path,
            format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// Reads a UTF-8 text file with one sentence per line (blank lines skipped).
pub fn read_text_lines(path: &Path) -> Result<Dataset> {
    let text = read_utf8(path)?;
    let sentences: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if sentences.is_empty() {
        return Err(Error::format(path, "the file holds no sentences (expected one per line)"));
    }
    Ok(Dataset { name: path.display().to_string(), data: Data::Text { sentences } })
}

/// Reads sentence pairs with scores: one `sentence a<TAB>sentence b<TAB>score` per line (a
/// header line whose score column is not a number is skipped).
pub fn read_scored_pairs(path: &Path) -> Result<Dataset> {
    let text = read_utf8(path)?;
    let (mut a, mut b, mut scores) = (Vec::new(), Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != 3 {
            return Err(Error::format(
                path,
                format!(
                    "line {}: expected 3 tab-separated columns (a, b, score), found {}",
                    i + 1,
                    cols.len()
                ),
            ));
        }
        match cols[2].trim().parse::<f64>() {
            Ok(v) if v.is_finite() => {
                a.push(cols[0].trim().to_string());
                b.push(cols[1].trim().to_string());
                scores.push(v);
            }
            _ if i == 0 => continue,
            _ => {
                return Err(Error::format(
                    path,
                    format!("line {}: score `{}` is not a number", i + 1, cols[2].trim()),
                ));
            }
        }
    }
    if scores.len() < 2 {
        return Err(Error::format(path, "needs at least two scored pairs"));
    }
    Ok(Dataset { name: path.display().to_string(), data: Data::Pairs { a, b, scores } })
}

/// Picks `n` samples with (as nearly as possible) the same number per class, seeded.
pub fn balanced_subset(labels: &[u32], n: usize, seed: u64) -> Vec<usize> {
    let mut by_class: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, &l) in labels.iter().enumerate() {
        by_class.entry(l).or_default().push(i);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    for v in by_class.values_mut() {
        v.shuffle(&mut rng);
    }
    let mut picked = Vec::with_capacity(n);
    let mut round = 0;
    while picked.len() < n {
        let mut any = false;
        for v in by_class.values() {
            if picked.len() == n {
                break;
            }
            if let Some(&i) = v.get(round) {
                picked.push(i);
                any = true;
            }
        }
        if !any {
            break;
        }
        round += 1;
    }
    picked.sort_unstable();
    picked
}

/// Writes images (as bytes) and labels as a safetensors data file sculpt reads back with
/// [`load_data`]; the values are stored as u8 after scaling [0, 1] by 255.
pub fn write_dense_u8(path: &Path, inputs: &Tensor, labels: Option<&[u32]>) -> Result<PathBuf> {
    let bytes = (inputs * 255.0)?.round()?.clamp(0f32, 255f32)?.to_dtype(DType::U8)?;
    let mut tensors = vec![("inputs".to_string(), bytes)];
    if let Some(l) = labels {
        tensors.push((
            "labels".to_string(),
            Tensor::from_vec(
                l.iter().map(|&v| v as u8).collect::<Vec<u8>>(),
                l.len(),
                &Device::Cpu,
            )?,
        ));
    }
    sculpt_model::write_safetensors(path, &tensors, &BTreeMap::new())?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::{IdxArray, idx_bytes};

    #[test]
    fn balanced_subset_takes_equal_shares() {
        let labels: Vec<u32> =
            (0..1000).map(|i| (i % 7 == 0) as u32 + (i % 3 == 0) as u32).collect();
        let picked = balanced_subset(&labels, 30, 1);
        assert_eq!(picked.len(), 30);
        let mut counts = [0; 3];
        for &i in &picked {
            counts[labels[i] as usize] += 1;
        }
        assert_eq!(counts, [10, 10, 10]);
        let mut dedup = picked.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), 30);
    }

    #[test]
    fn idx_images_pair_with_labels_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("x-images-idx3-ubyte");
        let labels = dir.path().join("x-labels-idx1-ubyte");
        std::fs::write(
            &images,
            idx_bytes(&IdxArray { dims: vec![2, 2, 2], data: vec![0, 255, 51, 102, 0, 0, 0, 0] }),
        )
        .unwrap();
        std::fs::write(&labels, idx_bytes(&IdxArray { dims: vec![2], data: vec![3, 9] })).unwrap();
        let ds = load_data(images.to_str().unwrap()).unwrap();
        assert_eq!(ds.labels(), Some(&[3u32, 9][..]));
        let Data::Dense { inputs, .. } = &ds.data else { panic!("dense") };
        assert_eq!(inputs.dims(), &[2, 1, 2, 2]);
        let v: Vec<f32> = inputs.flatten_all().unwrap().to_vec1().unwrap();
        let bytes: Vec<f32> = v[..4].iter().map(|x| (x * 255.0).round()).collect();
        assert_eq!(bytes, vec![0.0, 255.0, 51.0, 102.0]);
        // Wrong label count.
        std::fs::write(&labels, idx_bytes(&IdxArray { dims: vec![3], data: vec![3, 9, 1] }))
            .unwrap();
        let err = load_data(images.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("expected 2 labels [N], got dimensions [3]"), "{err}");
    }

    #[test]
    fn safetensors_data_round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.safetensors");
        let inputs = Tensor::new(&[[[0f32, 1.0], [0.2, 0.6]]], &Device::Cpu).unwrap();
        write_dense_u8(&path, &inputs, Some(&[4])).unwrap();
        let ds = load_data(path.to_str().unwrap()).unwrap();
        assert_eq!(ds.labels(), Some(&[4u32][..]));
        let Data::Dense { inputs, .. } = &ds.data else { panic!("dense") };
        assert_eq!(inputs.dims(), &[1, 1, 2, 2]);
        let v: Vec<f32> = inputs.flatten_all().unwrap().to_vec1().unwrap();
        let bytes: Vec<f32> = v.iter().map(|x| (x * 255.0).round()).collect();
        assert_eq!(bytes, vec![0.0, 255.0, 51.0, 153.0]);

        let labels_only = dir.path().join("l.safetensors");
        let l = Tensor::new(&[1u8, 2], &Device::Cpu).unwrap();
        sculpt_model::write_safetensors(&labels_only, &[("labels".into(), l)], &BTreeMap::new())
            .unwrap();
        let err = load_data(labels_only.to_str().unwrap()).unwrap_err().to_string();
        assert!(
            err.ends_with("missing tensor `inputs` (expected [N, C, H, W], [N, H, W] or [N, D])"),
            "{err}"
        );
    }

    #[test]
    fn text_files_must_be_utf8_and_non_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.txt");
        std::fs::write(&path, "a cat\n\n  a dog \n").unwrap();
        let Data::Text { sentences } = load_data(path.to_str().unwrap()).unwrap().data else {
            panic!("text")
        };
        assert_eq!(sentences, vec!["a cat", "a dog"]);
        std::fs::write(&path, b"ok\n\xff\xfe").unwrap();
        let err = load_data(path.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("not UTF-8 text (invalid byte at offset 3)"), "{err}");
        std::fs::write(&path, "\n \n").unwrap();
        let err = load_data(path.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("holds no sentences"), "{err}");
    }

    #[test]
    fn scored_pairs_with_header_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.tsv");
        std::fs::write(&path, "a\tb\tscore\nA cat.\tA kitten.\t4.5\nA cat.\tA car.\t0.5\n")
            .unwrap();
        let Data::Pairs { a, scores, .. } = load_data(path.to_str().unwrap()).unwrap().data else {
            panic!()
        };
        assert_eq!(a, vec!["A cat.", "A cat."]);
        assert_eq!(scores, vec![4.5, 0.5]);
        std::fs::write(&path, "x\ty\t1\nx\ty\tlots\n").unwrap();
        let err = load_data(path.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("line 2: score `lots` is not a number"), "{err}");
        std::fs::write(&path, "x\ty\n").unwrap();
        let err = load_data(path.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("line 1: expected 3 tab-separated columns"), "{err}");
    }

    #[test]
    fn missing_package_says_how_to_install() {
        let err = fashion_mnist(Split::Test, Path::new("/nonexistent")).unwrap_err().to_string();
        assert!(err.contains("apt-get install dataset-fashion-mnist"), "{err}");
    }
}
