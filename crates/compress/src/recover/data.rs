//! Training data for recovery: a training split and a validation split held out from it.

use std::path::Path;

use candle_core::{Device, Tensor};

use sculpt_eval::{BUILTIN_CALIB, Data, Dataset, FASHION_MNIST_DIR};
use sculpt_model::Graph;

use crate::error::{Error, Result};

/// Validation samples held out of the training data by default.
pub const DEFAULT_VALIDATION_SAMPLES: usize = 1000;

/// Dense inputs as the model reads them, with optional labels.
#[derive(Clone, Debug)]
pub struct TrainingSet {
    /// Where the samples came from.
    pub name: String,
    /// `[N, ...]` inputs, shaped for the model.
    pub inputs: Tensor,
    /// Class labels.
    pub labels: Option<Vec<u32>>,
}

impl TrainingSet {
    /// Takes dense data (images or features) shaped for `graph`; text is refused.
    pub fn from_dataset(graph: &Graph, data: &Dataset) -> Result<TrainingSet> {
        match &data.data {
            Data::Dense { inputs, labels } => Ok(TrainingSet {
                name: data.name.clone(),
                inputs: sculpt_eval::fit_inputs(graph, inputs)?,
                labels: labels.clone(),
            }),
            Data::Text { .. } | Data::Pairs { .. } => {
                Err(Error::Unsupported { what: format!("recovery on text data (`{}`)", data.name) })
            }
        }
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.inputs.dims().first().copied().unwrap_or(0)
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn select(&self, indices: &[usize]) -> Result<TrainingSet> {
        let idx: Vec<u32> = indices.iter().map(|&i| i as u32).collect();
        let idx = Tensor::new(idx.as_slice(), &Device::Cpu)?;
        Ok(TrainingSet {
            name: self.name.clone(),
            inputs: self.inputs.index_select(&idx, 0)?,
            labels: self.labels.as_ref().map(|l| indices.iter().map(|&i| l[i]).collect()),
        })
    }
}

/// The data of a recovery run.
#[derive(Clone, Debug)]
pub struct RecoveryData {
    /// What the model trains on.
    pub train: TrainingSet,
    /// Held out of the training data: picks the best checkpoint.
    pub validation: TrainingSet,
    /// Optional data scored before and after recovery (and after each progressive step), never
    /// used to choose anything.
    pub held_out: Option<TrainingSet>,
    /// Warnings for the user (the fallback to the bundled subset).
    pub notes: Vec<String>,
}

/// Which data [`recovery_data`] loads and how it splits it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveryDataConfig {
    /// A data name as `sculpt_eval::load_data` takes it (default `fashion-mnist:train`).
    pub train_data: String,
    /// At most this many training samples (class-balanced), all when `None`.
    pub train_samples: Option<usize>,
    /// Validation samples held out (at most a fifth of the data).
    pub validation_samples: usize,
    /// Seed of the class-balanced picks.
    pub seed: u64,
}

impl Default for RecoveryDataConfig {
    fn default() -> Self {
        RecoveryDataConfig {
            train_data: "fashion-mnist:train".into(),
            train_samples: None,
            validation_samples: DEFAULT_VALIDATION_SAMPLES,
            seed: 0,
        }
    }
}

/// Loads training data and holds a class-balanced validation split out of it.
///
/// `fashion-mnist:train` falls back to the bundled calibration subset (512 images of the same
/// split) with a note when the Debian package is not installed.
pub fn recovery_data(graph: &Graph, config: &RecoveryDataConfig) -> Result<RecoveryData> {
    let mut notes = Vec::new();
    let installed = Path::new(FASHION_MNIST_DIR).join("train-images-idx3-ubyte.gz").exists();
    let dataset = if config.train_data == "fashion-mnist:train" && !installed {
        notes.push(format!(
            "the Fashion-MNIST training split is not installed (`apt-get install \
             dataset-fashion-mnist` puts it in {FASHION_MNIST_DIR}); training on the bundled \
             calibration subset ({BUILTIN_CALIB}, 512 images) instead, which recovers less"
        ));
        sculpt_eval::load_data(BUILTIN_CALIB)?
    } else {
        sculpt_eval::load_data(&config.train_data)?
    };
    let all = TrainingSet::from_dataset(graph, &dataset)?;
    let n = all.len();
    if n < 2 {
        return Err(Error::Invalid {
            msg: format!("`{}` holds {n} samples; recovery needs at least 2", all.name),
        });
    }
    let n_val = config.validation_samples.min(n / 5).max(1);
    let (val_idx, rest): (Vec<usize>, Vec<usize>) = match &all.labels {
        Some(labels) => {
            let val = sculpt_eval::balanced_subset(labels, n_val, config.seed);
            let mut is_val = vec![false; n];
            for &i in &val {
                is_val[i] = true;
            }
            (val, (0..n).filter(|&i| !is_val[i]).collect())
        }
        None => ((n - n_val..n).collect(), (0..n - n_val).collect()),
    };
    let train_idx: Vec<usize> = match (config.train_samples, &all.labels) {
        (Some(k), Some(labels)) if k < rest.len() => {
            let rest_labels: Vec<u32> = rest.iter().map(|&i| labels[i]).collect();
            sculpt_eval::balanced_subset(&rest_labels, k, config.seed.wrapping_add(1))
                .into_iter()
                .map(|j| rest[j])
                .collect()
        }
        (Some(k), None) => rest.iter().copied().take(k).collect(),
        _ => rest,
    };
    if train_idx.is_empty() {
        return Err(Error::Invalid { msg: "recovery needs at least 1 training sample".into() });
    }
    Ok(RecoveryData {
        train: all.select(&train_idx)?,
        validation: all.select(&val_idx)?,
        held_out: None,
        notes,
    })
}
