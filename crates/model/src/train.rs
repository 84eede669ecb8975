//! Supervised training of a classification graph with candle-nn's AdamW.
//!
//! Used to train the bundled demo models and, by the compression crate, to recover accuracy
//! after compression. Training runs in place on the graph: its weights become candle `Var`s for
//! the duration and plain tensors again at the end.

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::error::{Error, Result};
use crate::graph::{Batch, Forward, ForwardOptions, Graph, Task};
use crate::ops::Op;

/// Settings of a training run.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Peak learning rate; it follows a cosine decay to 5% of this over the run.
    pub learning_rate: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Seed of the shuffling.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig { epochs: 5, batch_size: 64, learning_rate: 2e-3, weight_decay: 1e-4, seed: 0 }
    }
}

/// What one epoch achieved.
#[derive(Clone, Debug)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training accuracy in [0, 1] (measured in training mode, on the fly).
    pub accuracy: f64,
    /// Wall time of the epoch.
    pub seconds: f64,
}

/// A loss function of logits (and a batch's sample indices) for [`train`].
pub type LossFn<'a> = dyn FnMut(&Tensor, &[u32]) -> Result<Tensor> + 'a;

/// Trains a classifier with cross-entropy on `inputs` (`[N, ...]`, as the graph reads them)
/// and `labels` (class indices).
pub fn train_classifier(
    graph: &mut Graph,
    inputs: &Tensor,
    labels: &[u32],
    config: &TrainConfig,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Vec<EpochReport>> {
    let classes = match graph.task() {
        Task::Classification { classes } => *classes,
        Task::Embedding { .. } => {
            return Err(Error::Input { msg: "only classifiers can be trained with labels".into() });
        }
    };
    if let Some(bad) = labels.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::Input {
            msg: format!("label {bad} is out of range for {classes} classes"),
        });
    }
    let labels_t = Tensor::new(labels, &Device::Cpu)?;
    let mut loss = |logits: &Tensor, idx: &[u32]| -> Result<Tensor> {
        let idx_t = Tensor::new(idx, &Device::Cpu)?;
        let target = labels_t.index_select(&idx_t, 0)?;
        Ok(candle_nn::loss::cross_entropy(logits, &target)?)
    };
    train(graph, inputs, Some(labels), config, &mut loss, on_epoch)
}

/// Trains the graph with an arbitrary loss of its logits. `labels`, when given, are only used
/// to report the training accuracy.
pub fn train(
    graph: &mut Graph,
    inputs: &Tensor,
    labels: Option<&[u32]>,
    config: &TrainConfig,
    loss_fn: &mut LossFn<'_>,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Vec<EpochReport>> {
    struct LossOnly<'f, 'a>(&'f mut LossFn<'a>);
    impl TrainHooks for LossOnly<'_, '_> {
        fn loss(&mut self, forward: &Forward, batch: &[u32]) -> Result<Tensor> {
            (self.0)(&forward.output, batch)
        }
    }
    train_with(graph, inputs, labels, config, &mut LossOnly(loss_fn), on_epoch)
}

/// A trainable weight of the graph while [`train_with`] runs: the graph's tensor at
/// `nodes()[node].op.weight_mut(role)` is this variable (unless a hook replaced it for the
/// forward pass).
#[derive(Clone, Debug)]
pub struct TrainVar {
    /// The node index.
    pub node: usize,
    /// The weight's role (`weight`, `bias`).
    pub role: &'static str,
    /// The variable the optimiser updates.
    pub var: Var,
}

/// The loss and the per-step hooks of [`train_with`].
///
/// Recovery after compression uses the hooks to keep pruned weights at zero
/// ([`TrainHooks::after_step`]), to train on a quantization grid (a fake-quantized weight in
/// [`TrainHooks::before_forward`]) and to keep the best checkpoint
/// ([`TrainHooks::after_epoch`]).
pub trait TrainHooks {
    /// Nodes whose outputs the loss needs, returned in [`Forward::captured`].
    fn capture(&self) -> Vec<usize> {
        Vec::new()
    }

    /// The loss of a training-mode forward pass over the samples `batch` (indices into the
    /// inputs).
    fn loss(&mut self, forward: &Forward, batch: &[u32]) -> Result<Tensor>;

    /// Called before every forward pass. A hook may replace graph weights by differentiable
    /// functions of the variables (the gradient then reaches the variable through them).
    fn before_forward(&mut self, graph: &mut Graph, vars: &[TrainVar]) -> Result<()> {
        let _ = (graph, vars);
        Ok(())
    }

    /// Called after every optimiser step; `Var::set` changes the weights in place.
    fn after_step(&mut self, graph: &mut Graph, vars: &[TrainVar]) -> Result<()> {
        let _ = (graph, vars);
        Ok(())
    }

    /// Called at the end of every epoch, before `on_epoch`.
    fn after_epoch(
        &mut self,
        graph: &mut Graph,
        vars: &[TrainVar],
        report: &EpochReport,
    ) -> Result<()> {
        let _ = (graph, vars, report);
        Ok(())
    }
}

/// [`train`] with a loss that sees the whole forward pass and hooks around every step. At the
/// end the graph holds the variables' final values as plain tensors, whatever a hook put there
/// for the forward pass.
pub fn train_with(
    graph: &mut Graph,
    inputs: &Tensor,
    labels: Option<&[u32]>,
    config: &TrainConfig,
    hooks: &mut dyn TrainHooks,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Vec<EpochReport>> {
    let n = inputs.dims().first().copied().unwrap_or(0);
    if n == 0 {
        return Err(Error::Input { msg: "no training samples".into() });
    }
    if labels.is_some_and(|l| l.len() != n) {
        return Err(Error::Input {
            msg: format!("{n} inputs but {} labels", labels.map_or(0, |l| l.len())),
        });
    }
    if config.batch_size == 0 || config.epochs == 0 {
        return Err(Error::Input { msg: "epochs and batch size must be at least 1".into() });
    }
    // Turn every trainable weight into a Var shared with the graph.
    let mut vars = Vec::new();
    for (idx, node) in graph.nodes_mut().iter_mut().enumerate() {
        let roles: Vec<&'static str> =
            node.op.weights().iter().filter(|w| w.trainable).map(|w| w.role).collect();
        for role in roles {
            if let Some(t) = node.op.weight_mut(role) {
                let var = Var::from_tensor(t)?;
                *t = var.as_tensor().clone();
                vars.push(TrainVar { node: idx, role, var });
            }
        }
    }
    let params = ParamsAdamW {
        lr: config.learning_rate,
        weight_decay: config.weight_decay,
        ..Default::default()
    };
    let mut opt = AdamW::new(vars.iter().map(|v| v.var.clone()).collect(), params)?;
    let capture = hooks.capture();
    let steps_per_epoch = n.div_ceil(config.batch_size);
    let total_steps = (steps_per_epoch * config.epochs) as f64;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut reports = Vec::new();
    let mut step = 0usize;
    let result = (|| -> Result<()> {
        for epoch in 1..=config.epochs {
            let start = Instant::now();
            order.shuffle(&mut rng);
            let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
            for chunk in order.chunks(config.batch_size) {
                let progress = step as f64 / total_steps;
                let lr = config.learning_rate
                    * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
                opt.set_learning_rate(lr);
                let idx = Tensor::new(chunk, &Device::Cpu)?;
                let xs = inputs.index_select(&idx, 0)?;
                hooks.before_forward(graph, &vars)?;
                let fwd = graph.forward_with(
                    &Batch::Dense(xs),
                    &ForwardOptions { train: true, capture: capture.clone() },
                )?;
                let loss = hooks.loss(&fwd, chunk)?;
                let loss_value = loss.to_dtype(DType::F32)?.to_scalar::<f32>()? as f64;
                if !loss_value.is_finite() {
                    return Err(Error::Input {
                        msg: format!(
                            "the loss became {loss_value} at epoch {epoch}; lower the learning rate"
                        ),
                    });
                }
                opt.backward_step(&loss)?;
                for stats in fwd.batch_stats {
                    if let Op::BatchNorm2d(bn) = &mut graph.nodes_mut()[stats.node].op {
                        bn.running_mean = ((&bn.running_mean * 0.9)? + (stats.mean * 0.1)?)?;
                        bn.running_var = ((&bn.running_var * 0.9)? + (stats.var * 0.1)?)?;
                    }
                }
                hooks.after_step(graph, &vars)?;
                loss_sum += loss_value * chunk.len() as f64;
                if let Some(labels) = labels {
                    let pred: Vec<u32> = fwd.output.detach().argmax(1)?.to_vec1()?;
                    correct +=
                        pred.iter().zip(chunk).filter(|(p, i)| **p == labels[**i as usize]).count();
                }
                seen += chunk.len();
                step += 1;
            }
            let report = EpochReport {
                epoch,
                loss: loss_sum / seen as f64,
                accuracy: correct as f64 / seen as f64,
                seconds: start.elapsed().as_secs_f64(),
            };
            hooks.after_epoch(graph, &vars, &report)?;
            on_epoch(&report);
            reports.push(report);
        }
        Ok(())
    })();
    // Whatever happened, leave plain tensors in the graph: the variables' values where a hook
    // may have put something else for the forward pass.
    for v in &vars {
        if let Some(t) = graph.nodes_mut()[v.node].op.weight_mut(v.role) {
            *t = v.var.as_tensor().detach();
        }
    }
    for node in graph.nodes_mut() {
        let roles: Vec<&'static str> = node.op.weights().iter().map(|w| w.role).collect();
        for role in roles {
            if let Some(t) = node.op.weight_mut(role) {
                *t = t.detach();
            }
        }
    }
    result.map(|()| reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{MlpConfig, MlpInput};
    use crate::weights::WeightSource;

    #[test]
    fn training_separates_two_gaussian_blobs() {
        // Two classes at (-2, -2) and (2, 2) with unit noise: a linear boundary exists, so a
        // small MLP must reach near-perfect accuracy; untrained it is near chance.
        let mut rng = StdRng::seed_from_u64(3);
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for i in 0..400u32 {
            let c = i % 2;
            let centre = if c == 0 { -2.0 } else { 2.0 };
            for _ in 0..2 {
                let noise: f64 = rand::Rng::random_range(&mut rng, -1.0..1.0);
                xs.push((centre + noise) as f32);
            }
            ys.push(c);
        }
        let inputs = Tensor::from_vec(xs, (400, 2), &Device::Cpu).unwrap();
        let cfg = MlpConfig { input: MlpInput::Features(2), hidden: vec![8], classes: 2 };
        let mut graph = crate::arch::mlp(&cfg, &mut WeightSource::random(1)).unwrap();
        let config =
            TrainConfig { epochs: 5, batch_size: 32, learning_rate: 1e-2, ..Default::default() };
        let reports = train_classifier(&mut graph, &inputs, &ys, &config, &mut |_| {}).unwrap();
        assert_eq!(reports.len(), 5);
        assert!(reports[4].loss < reports[0].loss);
        let logits = graph.forward(&Batch::Dense(inputs)).unwrap();
        let pred: Vec<u32> = logits.argmax(1).unwrap().to_vec1().unwrap();
        let acc = pred.iter().zip(&ys).filter(|(a, b)| a == b).count() as f64 / 400.0;
        assert!(acc > 0.98, "accuracy {acc}");
        // Weights are plain tensors again.
        assert!(
            graph.nodes().iter().all(|n| n.op.weights().iter().all(|w| !w.tensor.is_variable()))
        );
    }

    #[test]
    fn out_of_range_labels_are_refused() {
        let cfg = MlpConfig { input: MlpInput::Features(2), hidden: vec![], classes: 2 };
        let mut graph = crate::arch::mlp(&cfg, &mut WeightSource::random(1)).unwrap();
        let inputs = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
        let err =
            train_classifier(&mut graph, &inputs, &[0, 5], &TrainConfig::default(), &mut |_| {})
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "input does not fit the model: label 5 is out of range for 2 classes"
        );
    }
}
