//! How close a compressed model's outputs stay to the uncompressed model's.

use candle_core::{D, DType, Tensor};
use serde::{Deserialize, Serialize};

use sculpt_model::Task;

use crate::error::Result;

/// The headline metric and its fidelity companions for one compressed model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    /// Accuracy with labels; otherwise top-1 agreement (classifiers) or mean cosine (encoders).
    pub metric: f64,
    /// Mean KL divergence of the compressed from the uncompressed softmax (classifiers).
    pub kl: f64,
    /// Top-1 agreement with the uncompressed model (classifiers).
    pub agreement: f64,
    /// Mean cosine between uncompressed and compressed outputs.
    pub cosine: f64,
}

/// Compares a compressed model's outputs with the uncompressed model's (`reference`), batch by
/// batch concatenated: the headline metric (accuracy with labels, else top-1 agreement for
/// classifiers, mean cosine for encoders), the mean KL divergence of the softmax and the
/// cosine.
pub fn fidelity(
    task: &Task,
    reference: &[Tensor],
    outputs: &[Tensor],
    labels: Option<&[u32]>,
) -> Result<Fidelity> {
    let r = Tensor::cat(reference, 0)?.to_dtype(DType::F32)?;
    let o = Tensor::cat(outputs, 0)?.to_dtype(DType::F32)?;
    let n = r.dims()[0].max(1) as f64;
    let cos = {
        let dot = (&r * &o)?.sum(D::Minus1)?;
        let nr = r.sqr()?.sum(D::Minus1)?.sqrt()?;
        let no = o.sqr()?.sum(D::Minus1)?.sqrt()?;
        let c = dot.div(&(nr * no)?.clamp(1e-12f32, f32::MAX)?)?;
        c.sum_all()?.to_scalar::<f32>()? as f64 / n
    };
    match task {
        Task::Classification { .. } => {
            let lp_r = candle_nn::ops::log_softmax(&r, D::Minus1)?;
            let lp_o = candle_nn::ops::log_softmax(&o, D::Minus1)?;
            let kl = (lp_r.exp()? * (&lp_r - &lp_o)?)?.sum_all()?.to_scalar::<f32>()? as f64 / n;
            let pr: Vec<u32> = r.argmax(D::Minus1)?.to_vec1()?;
            let po: Vec<u32> = o.argmax(D::Minus1)?.to_vec1()?;
            let agreement = pr.iter().zip(&po).filter(|(a, b)| a == b).count() as f64 / n;
            let metric = match labels {
                Some(l) => po.iter().zip(l).filter(|(a, b)| a == b).count() as f64 / n,
                None => agreement,
            };
            Ok(Fidelity { metric, kl: kl.max(0.0), agreement, cosine: cos })
        }
        Task::Embedding { .. } => {
            Ok(Fidelity { metric: cos, kl: 0.0, agreement: 1.0, cosine: cos })
        }
    }
}
