//! The data of a run: disjoint calibration and validation splits, as batches the model takes.

use candle_core::Tensor;

use sculpt_eval::{Data, Dataset};
use sculpt_model::{Batch, InputKind, Model, Task};

use crate::error::{Error, Result};
use crate::sensitivity::{EvalSet, sha256_hex, tensor_fingerprint};

/// Which data a run uses and how much of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSelection {
    /// Data (`--data`); `None` uses the bundled Fashion-MNIST subsets (for models that take them).
    pub data: Option<String>,
    /// Calibration samples (sensitivity, activation ranges).
    pub calibration_samples: usize,
    /// Validation samples (the front's re-evaluation, proxy checks).
    pub validation_samples: usize,
}

/// The data splits of a run: calibration (sensitivity, activation ranges) and validation (the
/// front's re-evaluation, proxy checks), never the same samples.
pub struct Splits {
    /// Calibration samples.
    pub calibration: EvalSet,
    /// Held-out samples.
    pub validation: EvalSet,
    /// The first calibration batch (for activation quantization).
    pub calib_batch: Option<Batch>,
}

fn dense_set(name: &str, inputs: &Tensor, labels: Option<&[u32]>, batch: usize) -> Result<EvalSet> {
    let n = inputs.dims()[0];
    let mut batches = Vec::new();
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        batches.push(Batch::Dense(inputs.narrow(0, start, len)?));
        start += len;
    }
    Ok(EvalSet {
        batches,
        labels: labels.map(<[u32]>::to_vec),
        fingerprint: tensor_fingerprint(&[inputs])?
            + &labels
                .map(|l| sha256_hex(&l.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()))
                .unwrap_or_default(),
        name: name.to_string(),
    })
}

pub(crate) fn fits_bundled(model: &Model) -> bool {
    matches!(model.graph.task(), Task::Classification { classes: 10 })
        && matches!(
            model.graph.inputs().first().map(|i| &i.kind),
            Some(InputKind::Image { channels: 1, height: 28, width: 28, .. })
        )
}

/// Loads and splits the data of a run.
pub fn splits(model: &Model, selection: &DataSelection) -> Result<Splits> {
    let take = |d: &Dataset, n: usize| -> Result<Dataset> {
        let idx: Vec<usize> = (0..d.len().min(n)).collect();
        Ok(d.select(&idx)?)
    };
    let (calib, valid) = match &selection.data {
        None if fits_bundled(model) => (
            take(
                &sculpt_eval::load_data(sculpt_eval::BUILTIN_CALIB)?,
                selection.calibration_samples,
            )?,
            take(
                &sculpt_eval::load_data(sculpt_eval::BUILTIN_EVAL)?,
                selection.validation_samples,
            )?,
        ),
        None => {
            return Err(Error::Invalid {
                msg: format!(
                    "model `{}` does not fit the bundled Fashion-MNIST data; give --data (or \
                     --proxy data-free to rank plans by weight error)",
                    model.name
                ),
            });
        }
        Some(name) => {
            // One file: the first samples calibrate, the rest validate; never the same samples.
            let all = sculpt_eval::load_data(name)?;
            let n = all.len();
            if n < 4 {
                return Err(Error::Invalid {
                    msg: format!("`{name}` holds {n} samples; need at least 4 to split"),
                });
            }
            let n_cal = selection.calibration_samples.min(n / 2);
            let n_val = selection.validation_samples.min(n - n_cal);
            let cal: Vec<usize> = (0..n_cal).collect();
            let val: Vec<usize> = (n_cal..n_cal + n_val).collect();
            (all.select(&cal)?, all.select(&val)?)
        }
    };
    let calibration = eval_set(model, &calib)?;
    let validation = eval_set(model, &valid)?;
    let calib_batch = calibration.batches.first().cloned();
    Ok(Splits { calibration, validation, calib_batch })
}

fn eval_set(model: &Model, d: &Dataset) -> Result<EvalSet> {
    match &d.data {
        Data::Dense { inputs, labels } => {
            let inputs = sculpt_eval::fit_inputs(&model.graph, inputs)?;
            if let (Some(l), Task::Classification { classes }) = (labels, model.graph.task())
                && let Some(bad) = l.iter().find(|&&v| v as usize >= *classes)
            {
                return Err(Error::Invalid {
                    msg: format!(
                        "`{}` holds label {bad}, but the model has {classes} classes",
                        d.name
                    ),
                });
            }
            dense_set(&d.name, &inputs, labels.as_deref(), 128)
        }
        Data::Text { .. } | Data::Pairs { .. } => {
            // Scored pairs are used as plain sentences here: the fidelity of embeddings (cosine to
            // the uncompressed model's) is the proxy.
            let sentences: Vec<String> = match &d.data {
                Data::Pairs { a, b, .. } => a.iter().chain(b).cloned().collect(),
                Data::Text { sentences } => sentences.clone(),
                Data::Dense { .. } => Vec::new(),
            };
            let tok = model.tokenizer.as_ref().ok_or_else(|| Error::Invalid {
                msg: format!("model `{}` has no tokenizer for text data", model.name),
            })?;
            let batches = sentences
                .chunks(32)
                .map(|c| Ok(Batch::Tokens(tok.encode(c)?)))
                .collect::<Result<Vec<_>>>()?;
            Ok(EvalSet {
                batches,
                labels: None,
                fingerprint: sha256_hex(sentences.join("\n").as_bytes()),
                name: d.name.clone(),
            })
        }
    }
}
