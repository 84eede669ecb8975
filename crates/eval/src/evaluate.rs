//! Running a model over a dataset and the metrics of its outputs.

use candle_core::{DType, Tensor};
use serde::Serialize;

use sculpt_model::{Batch, Graph, InputKind, Model, Task};

use crate::data::{Data, Dataset};
use crate::error::{Error, Result};

/// The result of `sculpt evaluate`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalReport {
    /// The headline metric (`accuracy`, `mean_pairwise_cosine`).
    pub metric: String,
    /// Its value.
    pub value: f64,
    /// Samples evaluated.
    pub n_samples: usize,
    /// Further statistics by name.
    pub details: Vec<(String, f64)>,
}

/// Samples per forward pass.
pub const DEFAULT_BATCH: usize = 256;

/// Reshapes dense inputs to what the model's single image or feature input expects, or says why
/// they do not fit.
pub fn fit_inputs(graph: &Graph, inputs: &Tensor) -> Result<Tensor> {
    let Some(spec) = graph.inputs().first() else {
        return Err(Error::Mismatch { msg: "the model has no inputs".into() });
    };
    let n = inputs.dims().first().copied().unwrap_or(0);
    match &spec.kind {
        InputKind::Image { channels, height, width, .. } => {
            let want = [n, *channels, *height, *width];
            if inputs.dims() == want {
                Ok(inputs.clone())
            } else if inputs.elem_count() == want.iter().product::<usize>() && inputs.rank() == 2 {
                Ok(inputs.reshape(want.to_vec())?)
            } else {
                Err(Error::Mismatch {
                    msg: format!(
                        "the data has shape {:?}, the model expects images [N, {channels}, {height}, {width}]",
                        inputs.dims()
                    ),
                })
            }
        }
        InputKind::Features { dim } => {
            let flat = inputs.flatten_from(1)?;
            if flat.dims()[1] != *dim {
                return Err(Error::Mismatch {
                    msg: format!(
                        "the data has shape {:?}, the model expects features [N, {dim}]",
                        inputs.dims()
                    ),
                });
            }
            Ok(flat)
        }
        _ => Err(Error::Mismatch {
            msg: "the model reads text; give a .txt file with one sentence per line".into(),
        }),
    }
}

/// Runs the model's primary output over dense inputs in batches and concatenates the results.
pub fn dense_outputs(graph: &Graph, inputs: &Tensor, batch: usize) -> Result<Tensor> {
    let inputs = fit_inputs(graph, inputs)?;
    let n = inputs.dims()[0];
    let mut outs = Vec::with_capacity(n.div_ceil(batch.max(1)));
    let mut start = 0;
    while start < n {
        let len = batch.max(1).min(n - start);
        outs.push(graph.forward(&Batch::Dense(inputs.narrow(0, start, len)?))?);
        start += len;
    }
    Ok(Tensor::cat(&outs, 0)?)
}

/// Runs a text model over sentences in batches; returns `[N, dim]` embeddings.
pub fn text_outputs(model: &Model, sentences: &[String], batch: usize) -> Result<Tensor> {
    let Some(tokenizer) = &model.tokenizer else {
        return Err(Error::Mismatch {
            msg: format!(
                "model `{}` has no tokenizer; load it from a folder with tokenizer.json",
                model.name
            ),
        });
    };
    let mut outs = Vec::new();
    for chunk in sentences.chunks(batch.max(1)) {
        let tokens = tokenizer.encode(chunk)?;
        outs.push(model.graph.forward(&Batch::Tokens(tokens))?);
    }
    Ok(Tensor::cat(&outs, 0)?)
}

/// Accuracy of logits `[N, classes]` against labels.
pub fn accuracy(logits: &Tensor, labels: &[u32]) -> Result<f64> {
    let pred: Vec<u32> = logits.argmax(1)?.to_vec1()?;
    if pred.len() != labels.len() {
        return Err(Error::Mismatch {
            msg: format!("{} predictions for {} labels", pred.len(), labels.len()),
        });
    }
    Ok(pred.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len().max(1) as f64)
}

/// Evaluates a model on a dataset: accuracy for classifiers with labels; for encoders, statistics
/// of the embeddings (mean pairwise cosine, mean norm).
pub fn evaluate(model: &Model, data: &Dataset, batch: usize) -> Result<EvalReport> {
    if data.is_empty() {
        return Err(Error::Mismatch { msg: format!("`{}` holds no samples", data.name) });
    }
    match (&model.graph.task(), &data.data) {
        (Task::Classification { classes }, Data::Dense { inputs, labels }) => {
            let Some(labels) = labels else {
                return Err(Error::Mismatch {
                    msg: format!("`{}` has no labels; accuracy needs them", data.name),
                });
            };
            if let Some(bad) = labels.iter().find(|&&l| l as usize >= *classes) {
                return Err(Error::Mismatch {
                    msg: format!(
                        "`{}` holds label {bad}, but the model has {classes} classes",
                        data.name
                    ),
                });
            }
            let logits = dense_outputs(&model.graph, inputs, batch)?;
            Ok(EvalReport {
                metric: "accuracy".into(),
                value: accuracy(&logits, labels)?,
                n_samples: labels.len(),
                details: Vec::new(),
            })
        }
        (Task::Embedding { .. }, Data::Text { sentences }) => {
            let emb = text_outputs(model, sentences, batch.min(64))?;
            embedding_report(&emb)
        }
        (Task::Embedding { .. }, Data::Dense { inputs, .. }) => {
            let emb = dense_outputs(&model.graph, inputs, batch)?;
            embedding_report(&emb)
        }
        (Task::Embedding { .. }, Data::Pairs { a, b, scores }) => {
            let ea = text_outputs(model, a, batch.min(64))?;
            let eb = text_outputs(model, b, batch.min(64))?;
            let cos = pair_cosines(&ea, &eb)?;
            Ok(EvalReport {
                metric: "spearman".into(),
                value: sculpt_stdx::stats::spearman(&cos, scores),
                n_samples: scores.len(),
                details: vec![("pearson".into(), sculpt_stdx::stats::pearson(&cos, scores))],
            })
        }
        (Task::Classification { .. }, Data::Pairs { .. }) => Err(Error::Mismatch {
            msg: format!(
                "`{}` holds sentence pairs, but model `{}` is a classifier",
                data.name, model.name
            ),
        }),
        (Task::Classification { .. }, Data::Text { .. }) => Err(Error::Mismatch {
            msg: format!(
                "`{}` is text, but model `{}` classifies images or features",
                data.name, model.name
            ),
        }),
    }
}

/// Cosine similarity of each row of `a` with the same row of `b`.
pub fn pair_cosines(a: &Tensor, b: &Tensor) -> Result<Vec<f64>> {
    let a = a.to_dtype(DType::F32)?;
    let b = b.to_dtype(DType::F32)?;
    let dot = (&a * &b)?.sum(1)?;
    let na = a.sqr()?.sum(1)?.sqrt()?;
    let nb = b.sqr()?.sum(1)?.sqrt()?;
    let c: Vec<f32> = dot.div(&(na * nb)?.clamp(1e-12f32, f32::MAX)?)?.to_vec1()?;
    Ok(c.into_iter().map(f64::from).collect())
}

fn embedding_report(emb: &Tensor) -> Result<EvalReport> {
    let emb = emb.to_dtype(DType::F32)?;
    let n = emb.dims()[0];
    let norms = emb.sqr()?.sum(1)?.sqrt()?;
    let mean_norm = norms.mean_all()?.to_scalar::<f32>()? as f64;
    let unit = emb.broadcast_div(&norms.unsqueeze(1)?.clamp(1e-12f32, f32::MAX)?)?;
    let sims = unit.matmul(&unit.t()?)?;
    let total = sims.sum_all()?.to_scalar::<f32>()? as f64;
    // The diagonal holds n ones; the mean is over ordered pairs i ≠ j.
    let mean_cos = if n > 1 { (total - n as f64) / (n * (n - 1)) as f64 } else { 1.0 };
    Ok(EvalReport {
        metric: "mean_pairwise_cosine".into(),
        value: mean_cos,
        n_samples: n,
        details: vec![("mean_norm".into(), mean_norm), ("dim".into(), emb.dims()[1] as f64)],
    })
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn accuracy_counts_argmax_hits() {
        let logits = Tensor::new(&[[0.1f32, 0.9], [0.8, 0.2], [0.3, 0.7]], &Device::Cpu).unwrap();
        assert!((accuracy(&logits, &[1, 0, 0]).unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn embedding_statistics_by_hand() {
        // Unit vectors e1, e2 and (e1+e2)/√2: cosines 0, 1/√2, 1/√2 → mean 0.4714.
        let s = 0.5f32.sqrt();
        let emb = Tensor::new(&[[1f32, 0.], [0., 1.], [s, s]], &Device::Cpu).unwrap();
        let r = embedding_report(&emb).unwrap();
        assert!((r.value - 2.0 * (0.5f64).sqrt() / 3.0).abs() < 1e-6, "{}", r.value);
        assert!((r.details[0].1 - 1.0).abs() < 1e-6);
    }
}
