//! Accuracy recovery after compression: fine-tuning, knowledge distillation and
//! quantization-aware training (QAT) of a compressed model, and progressive compression.
//!
//! The compressed model trains at its compressed shapes (structured pruning already removed
//! channels). Three invariants hold for every method:
//!
//! * **Masks.** A weight stored sparse (magnitude or N:M pruning) keeps its zero pattern: the
//!   zeros are re-applied after every optimiser step, so pruned weights stay exactly zero.
//! * **Grids.** At export every quantized weight is quantized again with the plan's settings,
//!   and the exported values are checked to be a fixed point of that quantization (quantizing
//!   them again changes nothing), i.e. exactly on the grid the file stores.
//! * **Checkpoints.** After every epoch the model *as it would be exported* is scored on a
//!   validation split held out from the training data; the best checkpoint (the compressed model
//!   before training counts as epoch 0) is the result. A loss that becomes non-finite stops
//!   training and restores the best checkpoint; [`Recovered::stopped`] says so.
//!
//! The method chooses the loss; the forward pass is the same for all: every quantized layer
//! trains through fake-quantized weights (a straight-through estimator), so it learns on the grid
//! it is exported to (training float weights and re-quantizing them afterwards loses most of what
//! was learned at 3 bits). `finetune` uses cross-entropy on labels; `distill` and `qat` (the
//! same, under the name other tools use) use [`distillation_loss`] with the uncompressed model as
//! the teacher; `alpha = 0` makes it plain cross-entropy.

mod data;
mod loss;
mod progressive;

use std::collections::{BTreeMap, HashMap};

use candle_core::{D, DType, Device, Tensor};
use sculpt_model::{
    Batch, EpochReport, Forward, ForwardOptions, Graph, Model, Task, TrainConfig, TrainHooks,
    TrainVar,
};

use crate::apply::{Compressed, Encoding, ZeroPattern, quant_params};
use crate::error::{Error, Result};
use crate::plan::{Clip, FloatFormat, Granularity, LayerOption};
use crate::quant::{self, QuantParams, QuantizedWeight};

pub use data::{
    DEFAULT_VALIDATION_SAMPLES, RecoveryData, RecoveryDataConfig, TrainingSet, recovery_data,
};
pub use loss::distillation_loss;
pub use progressive::{Progressive, StepRecord, recover_progressive, step_option, steps_csv};

/// How a compressed model is trained back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryMethod {
    /// Supervised training with cross-entropy on labels.
    Finetune,
    /// Knowledge distillation from the uncompressed model (see [`distillation_loss`]).
    Distill,
    /// Quantization-aware training with the distillation loss: since every method trains
    /// quantized layers through their grid, the same as [`RecoveryMethod::Distill`].
    Qat,
}

impl RecoveryMethod {
    /// Parses `finetune`, `distill` or `qat`.
    pub fn parse(name: &str) -> Option<RecoveryMethod> {
        Some(match name {
            "finetune" => RecoveryMethod::Finetune,
            "distill" => RecoveryMethod::Distill,
            "qat" => RecoveryMethod::Qat,
            _ => return None,
        })
    }

    /// The name [`RecoveryMethod::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            RecoveryMethod::Finetune => "finetune",
            RecoveryMethod::Distill => "distill",
            RecoveryMethod::Qat => "qat",
        }
    }
}

/// Settings of a recovery run.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveryConfig {
    /// The method.
    pub method: RecoveryMethod,
    /// Passes over the training data (per step when progressive).
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Peak learning rate of AdamW (cosine decay to 5 % of it).
    pub learning_rate: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Distillation temperature T (> 0).
    pub temperature: f64,
    /// Weight α of the distillation term; 1 − α weighs cross-entropy on the labels.
    pub alpha: f64,
    /// Layers whose outputs the student matches to the teacher's (mean squared error); each
    /// must exist in both models with the same output shape.
    pub feature_layers: Vec<String>,
    /// Weight of the feature term.
    pub feature_weight: f64,
    /// Seed of the shuffling.
    pub seed: u64,
}

impl RecoveryConfig {
    /// The defaults for a method: 3 epochs, batch 64, learning rate 1e-3, weight decay 1e-4,
    /// T = 4, α = 0.7, no feature distillation.
    pub fn new(method: RecoveryMethod) -> RecoveryConfig {
        RecoveryConfig {
            method,
            epochs: 3,
            batch_size: 64,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            temperature: 4.0,
            alpha: 0.7,
            feature_layers: Vec::new(),
            feature_weight: 1.0,
            seed: 0,
        }
    }

    fn check(&self) -> Result<()> {
        let invalid = |msg: String| Err(Error::Invalid { msg });
        if self.epochs == 0 || self.batch_size == 0 {
            return invalid(
                "recovery needs at least 1 epoch and a batch size of at least 1".into(),
            );
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return invalid(format!(
                "the learning rate must be a positive number, got {}",
                self.learning_rate
            ));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return invalid(format!(
                "the temperature must be a positive number, got {}",
                self.temperature
            ));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return invalid(format!("alpha must be in [0, 1], got {}", self.alpha));
        }
        if !(self.feature_weight >= 0.0 && self.feature_weight.is_finite()) {
            return invalid(format!(
                "the feature weight must be a number ≥ 0, got {}",
                self.feature_weight
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return invalid(format!("the weight decay must be ≥ 0, got {}", self.weight_decay));
        }
        Ok(())
    }

    /// True when the loss has a distillation term (and so needs the teacher's outputs).
    fn distills(&self) -> bool {
        self.method != RecoveryMethod::Finetune && self.alpha > 0.0
    }

    /// True when the loss has a cross-entropy term (and so needs labels).
    fn needs_labels(&self) -> bool {
        self.method == RecoveryMethod::Finetune || self.alpha < 1.0
    }
}

/// One epoch of a recovery run.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// The progressive step (1 when not progressive).
    pub step: usize,
    /// 1-based epoch within the step.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training accuracy measured on the fly (labelled data only).
    pub train_accuracy: Option<f64>,
    /// The validation metric of the model as it would be exported after this epoch.
    pub validation: f64,
    /// Wall time of the epoch's training, in seconds.
    pub seconds: f64,
}

/// Progress of a recovery run, for the caller to display.
#[derive(Clone, Debug)]
pub enum RecoveryEvent<'a> {
    /// Training of a step starts; the metrics of the compressed model before training.
    Start {
        /// The step (1 when not progressive).
        step: usize,
        /// Steps in all.
        steps: usize,
        /// Training samples.
        samples: usize,
        /// Validation metric before training.
        validation: f64,
        /// Held-out metric before training.
        held_out: Option<f64>,
    },
    /// An epoch ended.
    Epoch(&'a EpochRecord),
    /// A progressive step ended.
    Step(&'a StepRecord),
}

/// The result of a recovery run.
#[derive(Clone, Debug)]
pub struct Recovered {
    /// The recovered model, ready for [`crate::write_compressed`]: quantized weights re-encoded
    /// on their grid, sparse weights with their zero pattern.
    pub compressed: Compressed,
    /// The trained float weights before re-quantization (what a further step continues from).
    pub latent: Model,
    /// Every epoch.
    pub epochs: Vec<EpochRecord>,
    /// `accuracy` with labelled validation data, else `agreement` (top-1 with the teacher).
    pub metric: &'static str,
    /// The validation metric of the compressed model before training.
    pub validation_before: f64,
    /// The validation metric of the result.
    pub validation_after: f64,
    /// The held-out metric before training (when [`RecoveryData::held_out`] is given).
    pub held_out_before: Option<f64>,
    /// The held-out metric of the result.
    pub held_out_after: Option<f64>,
    /// The epoch whose checkpoint is the result (0: the model before training).
    pub best_epoch: usize,
    /// Why training stopped early (a non-finite loss), when it did; the best checkpoint was
    /// restored.
    pub stopped: Option<String>,
    /// Quantized (or float-cast) weights re-encoded and checked to be on their grid.
    pub on_grid: usize,
}

/// The grid a stored weight lives on.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Grid {
    Int(QuantParams),
    Float(FloatFormat),
    None,
}

/// A weight of the compressed model that recovery must keep compressed.
#[derive(Clone, Debug)]
struct WeightSpec {
    node: usize,
    name: String,
    shape: Vec<usize>,
    grid: Grid,
    /// 1 where the weight is kept, 0 where it was pruned.
    mask: Option<Tensor>,
}

fn params_of(qw: &QuantizedWeight) -> QuantParams {
    QuantParams {
        bits: qw.bits,
        symmetric: qw.symmetric,
        granularity: if qw.per_tensor {
            Granularity::PerTensor
        } else if qw.group_cols == qw.cols {
            Granularity::PerChannel
        } else {
            Granularity::PerGroup
        },
        group_size: qw.group_cols,
        clip: Clip::None,
    }
}

fn layer_weight(graph: &Graph, node: usize) -> Option<Tensor> {
    graph.nodes()[node]
        .op
        .weights()
        .into_iter()
        .find(|w| w.role == "weight")
        .map(|w| w.tensor.clone())
}

fn set_layer_weight(graph: &mut Graph, node: usize, t: Tensor) {
    if let Some(w) = graph.nodes_mut()[node].op.weight_mut("weight") {
        *w = t;
    }
}

/// The stored weights of a compressed model with their grids and masks.
fn weight_specs(c: &Compressed) -> Result<Vec<WeightSpec>> {
    let options: HashMap<&str, &LayerOption> =
        c.applied.iter().map(|(name, o)| (name.as_str(), o)).collect();
    let graph = &c.model.graph;
    let mut specs = Vec::new();
    for (name, sw) in &c.stored {
        let Some(layer) = name.strip_suffix(".weight") else { continue };
        let node = graph.node_index(layer).ok_or_else(|| Error::Invalid {
            msg: format!("stored weight `{name}` has no layer in the compressed model"),
        })?;
        // A low-rank factor `<layer>.lr` takes its layer's option.
        let option = options
            .get(layer)
            .or_else(|| layer.strip_suffix(".lr").and_then(|l| options.get(l)))
            .copied();
        let grid = match &sw.encoding {
            Encoding::Int(qw) => Grid::Int(
                option
                    .and_then(|o| o.quant.as_ref())
                    .and_then(quant_params)
                    .unwrap_or_else(|| params_of(qw)),
            ),
            Encoding::Float(f) => Grid::Float(*f),
            Encoding::Dense => Grid::None,
        };
        let mask = match sw.sparsity {
            ZeroPattern::Dense => None,
            _ => {
                let w = layer_weight(graph, node).ok_or_else(|| Error::Invalid {
                    msg: format!("layer `{layer}` has no weight"),
                })?;
                Some(w.ne(0f32)?.to_dtype(DType::F32)?)
            }
        };
        specs.push(WeightSpec { node, name: name.clone(), shape: sw.shape.clone(), grid, mask });
    }
    Ok(specs)
}

fn rows_cols(shape: &[usize]) -> (usize, usize) {
    (shape.first().copied().unwrap_or(1), shape.iter().skip(1).product())
}

/// One rounding onto the grid (the training forward of QAT and the per-epoch evaluation).
fn fake_quantize(values: &[f32], shape: &[usize], grid: Grid) -> Vec<f32> {
    let (rows, cols) = rows_cols(shape);
    match grid {
        Grid::Int(p) => quant::quantize_weight(values, rows, cols, &p).dequantize(),
        Grid::Float(f) => quant::float_cast(values, f),
        Grid::None => values.to_vec(),
    }
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Quantizes for export and checks that the result is on its grid: quantizing the exported
/// values again must give them back bit for bit. Asymmetric grids can need a second rounding
/// to settle (a rounded zero point can shift the range by one step), so up to four are tried.
fn export_quantize(
    name: &str,
    values: &[f32],
    shape: &[usize],
    params: &QuantParams,
) -> Result<(Vec<f32>, QuantizedWeight)> {
    let (rows, cols) = rows_cols(shape);
    let mut qw = quant::quantize_weight(values, rows, cols, params);
    for _ in 0..4 {
        let deq = qw.dequantize();
        let again = quant::quantize_weight(&deq, rows, cols, params);
        if same_bits(&again.dequantize(), &deq) {
            return Ok((deq, again));
        }
        qw = again;
    }
    Err(Error::Invalid {
        msg: format!("weight `{name}` does not settle on its {}-bit grid at export", params.bits),
    })
}

/// Puts every stored weight of `c` (whose graph holds trained float weights) back on its grid
/// and mask, updates the stored encodings, and returns how many weights were checked on a grid.
fn finalise(c: &mut Compressed, specs: &[WeightSpec]) -> Result<usize> {
    let mut checked = 0;
    for spec in specs {
        let w = layer_weight(&c.model.graph, spec.node).ok_or_else(|| Error::Invalid {
            msg: format!("weight `{}` disappeared during training", spec.name),
        })?;
        let w = match &spec.mask {
            Some(m) => w.mul(m)?,
            None => w,
        };
        let mut values: Vec<f32> = w.flatten_all()?.to_vec1()?;
        match spec.grid {
            Grid::Int(p) => {
                let (deq, qw) = export_quantize(&spec.name, &values, &spec.shape, &p)?;
                values = deq;
                if let Some(sw) = c.stored.get_mut(&spec.name) {
                    sw.encoding = Encoding::Int(qw);
                }
                checked += 1;
            }
            Grid::Float(f) => {
                values = quant::float_cast(&values, f);
                if !same_bits(&quant::float_cast(&values, f), &values) {
                    return Err(Error::Invalid {
                        msg: format!("weight `{}` is not on its float grid at export", spec.name),
                    });
                }
                checked += 1;
            }
            Grid::None => {}
        }
        let t = Tensor::from_vec(values, spec.shape.as_slice(), &Device::Cpu)?;
        set_layer_weight(&mut c.model.graph, spec.node, t);
    }
    Ok(checked)
}

/// Top-1 predictions of `graph` over dense inputs, in batches, in inference mode.
fn predictions(graph: &Graph, inputs: &Tensor) -> sculpt_model::Result<Vec<u32>> {
    let n = inputs.dims().first().copied().unwrap_or(0);
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let len = 256.min(n - start);
        let logits = graph.forward(&Batch::Dense(inputs.narrow(0, start, len)?))?;
        out.extend(logits.detach().argmax(D::Minus1)?.to_vec1::<u32>()?);
        start += len;
    }
    Ok(out)
}

/// Accuracy against the labels, or top-1 agreement with `reference` when there are none.
fn score(graph: &Graph, set: &TrainingSet, reference: Option<&[u32]>) -> sculpt_model::Result<f64> {
    let pred = predictions(graph, &set.inputs)?;
    let truth = set.labels.as_deref().or(reference).unwrap_or(&[]);
    let hits = pred.iter().zip(truth).filter(|(a, b)| a == b).count();
    Ok(hits as f64 / pred.len().max(1) as f64)
}

/// Deep copies of every weight of the graph (trainable ones and BatchNorm statistics).
fn snapshot(graph: &Graph) -> sculpt_model::Result<Vec<(usize, &'static str, Tensor)>> {
    let mut out = Vec::new();
    for (idx, node) in graph.nodes().iter().enumerate() {
        for w in node.op.weights() {
            out.push((idx, w.role, w.tensor.detach().copy()?));
        }
    }
    Ok(out)
}

fn restore(graph: &mut Graph, snap: &[(usize, &'static str, Tensor)]) {
    for (idx, role, t) in snap {
        if let Some(w) = graph.nodes_mut()[*idx].op.weight_mut(role) {
            *w = t.clone();
        }
    }
}

struct Checkpoint {
    metric: f64,
    epoch: usize,
    weights: Vec<(usize, &'static str, Tensor)>,
}

/// The loss and the per-step work of one recovery run.
struct Hooks<'a, 'e> {
    config: &'a RecoveryConfig,
    specs: &'a [WeightSpec],
    labels: Option<Tensor>,
    teacher_logits: Option<Tensor>,
    teacher: &'a Graph,
    inputs: &'a Tensor,
    /// (student node, teacher node) pairs of feature distillation.
    features: Vec<(usize, usize)>,
    validation: &'a TrainingSet,
    validation_reference: Option<Vec<u32>>,
    best: Checkpoint,
    records: Vec<EpochRecord>,
    step: usize,
    steps_per_epoch: usize,
    batches_done: usize,
    diverged: Option<String>,
    on_event: &'e mut dyn FnMut(&RecoveryEvent<'_>),
}

fn var_of(vars: &[TrainVar], node: usize) -> Option<&TrainVar> {
    vars.iter().find(|v| v.node == node && v.role == "weight")
}

impl Hooks<'_, '_> {
    /// Sets every stored weight of the graph to its exported value (grid and mask applied).
    fn show_exported(&self, graph: &mut Graph, vars: &[TrainVar]) -> sculpt_model::Result<()> {
        for spec in self.specs {
            let Some(v) = var_of(vars, spec.node) else { continue };
            let values: Vec<f32> = v.var.as_tensor().detach().flatten_all()?.to_vec1()?;
            let q = fake_quantize(&values, &spec.shape, spec.grid);
            set_layer_weight(
                graph,
                spec.node,
                Tensor::from_vec(q, spec.shape.as_slice(), &Device::Cpu)?,
            );
        }
        Ok(())
    }
}

impl TrainHooks for Hooks<'_, '_> {
    fn capture(&self) -> Vec<usize> {
        self.features.iter().map(|(s, _)| *s).collect()
    }

    fn loss(&mut self, forward: &Forward, batch: &[u32]) -> sculpt_model::Result<Tensor> {
        let idx = Tensor::new(batch, &Device::Cpu)?;
        let labels = self.labels.as_ref().map(|l| l.index_select(&idx, 0)).transpose()?;
        let mut loss = match (&self.teacher_logits, &labels) {
            (Some(t), _) => distillation_loss(
                &forward.output,
                &t.index_select(&idx, 0)?,
                labels.as_ref(),
                self.config.temperature,
                self.config.alpha,
            )?,
            (None, Some(l)) => candle_nn::loss::cross_entropy(&forward.output, l)?,
            (None, None) => {
                return Err(sculpt_model::Error::Input {
                    msg: "the loss needs labels or a teacher".into(),
                });
            }
        };
        if !self.features.is_empty() {
            let xs = self.inputs.index_select(&idx, 0)?;
            let teacher_nodes: Vec<usize> = self.features.iter().map(|(_, t)| *t).collect();
            let t = self.teacher.forward_with(
                &Batch::Dense(xs),
                &ForwardOptions { train: false, capture: teacher_nodes },
            )?;
            for ((_, s), (_, t)) in forward.captured.iter().zip(&t.captured) {
                let mse = (s - t.detach())?.sqr()?.mean_all()?;
                loss = (loss + (mse * self.config.feature_weight)?)?;
            }
        }
        let value = loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        if !value.is_finite() {
            let epoch = self.batches_done / self.steps_per_epoch + 1;
            let within = self.batches_done % self.steps_per_epoch + 1;
            self.diverged = Some(format!(
                "the loss became {value} at epoch {epoch}, batch {within} of {} (learning rate {})",
                self.steps_per_epoch, self.config.learning_rate
            ));
        }
        Ok(loss)
    }

    fn before_forward(&mut self, graph: &mut Graph, vars: &[TrainVar]) -> sculpt_model::Result<()> {
        // Whatever the loss, a quantized layer trains through its grid: the forward pass sees
        // the weight on its grid; the gradient reaches the float weight unchanged
        // (straight-through estimator): w + (q(w) − w), the bracket without gradient.
        for spec in self.specs.iter().filter(|s| s.grid != Grid::None) {
            let Some(v) = var_of(vars, spec.node) else { continue };
            let w = v.var.as_tensor();
            let values: Vec<f32> = w.detach().flatten_all()?.to_vec1()?;
            let q = fake_quantize(&values, &spec.shape, spec.grid);
            let q = Tensor::from_vec(q, spec.shape.as_slice(), &Device::Cpu)?;
            let fq = (w + (q - w.detach())?.detach())?;
            set_layer_weight(graph, spec.node, fq);
        }
        Ok(())
    }

    fn after_step(&mut self, _graph: &mut Graph, vars: &[TrainVar]) -> sculpt_model::Result<()> {
        self.batches_done += 1;
        for spec in self.specs {
            let (Some(mask), Some(v)) = (&spec.mask, var_of(vars, spec.node)) else { continue };
            v.var.set(&v.var.as_tensor().detach().mul(mask)?)?;
        }
        Ok(())
    }

    fn after_epoch(
        &mut self,
        graph: &mut Graph,
        vars: &[TrainVar],
        report: &EpochReport,
    ) -> sculpt_model::Result<()> {
        self.show_exported(graph, vars)?;
        let validation = score(graph, self.validation, self.validation_reference.as_deref())?;
        if validation > self.best.metric {
            let mut weights = snapshot(graph)?;
            // The checkpoint keeps the float weights (what training continues from); the
            // exported values are derived from them again at the end.
            for (idx, role, t) in weights.iter_mut() {
                if let Some(v) = vars.iter().find(|v| v.node == *idx && v.role == *role) {
                    *t = v.var.as_tensor().detach().copy()?;
                }
            }
            self.best = Checkpoint { metric: validation, epoch: report.epoch, weights };
        }
        for v in vars {
            if let Some(w) = graph.nodes_mut()[v.node].op.weight_mut(v.role) {
                *w = v.var.as_tensor().clone();
            }
        }
        let record = EpochRecord {
            step: self.step,
            epoch: report.epoch,
            loss: report.loss,
            train_accuracy: self.labels.is_some().then_some(report.accuracy),
            validation,
            seconds: report.seconds,
        };
        (self.on_event)(&RecoveryEvent::Epoch(&record));
        self.records.push(record);
        Ok(())
    }
}

fn classes_of(model: &Model, role: &str) -> Result<usize> {
    match model.graph.task() {
        Task::Classification { classes } => Ok(*classes),
        Task::Embedding { .. } => Err(Error::Unsupported {
            what: format!(
                "recovery of `{}` ({role}), an encoder: recovery trains classifiers",
                model.name
            ),
        }),
    }
}

/// Checks that the teacher reads the student's inputs and gives outputs of the same shape.
fn check_teacher(teacher: &Model, student: &Model, inputs: &Tensor) -> Result<()> {
    let probe = inputs.narrow(0, 0, inputs.dims()[0].min(2))?;
    let s = student.graph.forward(&Batch::Dense(probe.clone()))?;
    let t = teacher.graph.forward(&Batch::Dense(probe)).map_err(|e| Error::Invalid {
        msg: format!("the teacher `{}` cannot read the training data: {e}", teacher.name),
    })?;
    if s.dims() != t.dims() {
        return Err(Error::Invalid {
            msg: format!(
                "the teacher `{}` gives outputs of shape {:?} but the student gives {:?}; \
                 distillation needs a teacher with the student's outputs (the uncompressed model)",
                teacher.name,
                t.dims(),
                s.dims()
            ),
        });
    }
    Ok(())
}

/// Resolves feature-distillation layer names to (student node, teacher node) pairs, checking
/// that both models have the layer and that its outputs have one shape.
fn feature_pairs(
    teacher: &Model,
    student: &Model,
    layers: &[String],
    inputs: &Tensor,
) -> Result<Vec<(usize, usize)>> {
    let mut pairs = Vec::new();
    for name in layers {
        let s = student.graph.node_index(name);
        let t = teacher.graph.node_index(name);
        let (Some(s), Some(t)) = (s, t) else {
            let which = if s.is_none() { "the compressed model" } else { "the teacher" };
            return Err(Error::Invalid {
                msg: format!("feature distillation: {which} has no layer `{name}`"),
            });
        };
        pairs.push((s, t));
    }
    if pairs.is_empty() {
        return Ok(pairs);
    }
    let probe = Batch::Dense(inputs.narrow(0, 0, inputs.dims()[0].min(2))?);
    let capture = |g: &Graph, nodes: Vec<usize>| -> Result<Vec<Vec<usize>>> {
        let f = g.forward_with(&probe, &ForwardOptions { train: false, capture: nodes })?;
        Ok(f.captured.iter().map(|(_, t)| t.dims().to_vec()).collect())
    };
    let ss = capture(&student.graph, pairs.iter().map(|p| p.0).collect())?;
    let ts = capture(&teacher.graph, pairs.iter().map(|p| p.1).collect())?;
    for ((name, s), t) in layers.iter().zip(&ss).zip(&ts) {
        if s != t {
            return Err(Error::Invalid {
                msg: format!(
                    "feature distillation: layer `{name}` gives {t:?} in the teacher but {s:?} in \
                     the compressed model; pick layers whose width the plan does not change"
                ),
            });
        }
    }
    Ok(pairs)
}

/// Trains a compressed model back towards the accuracy of `teacher` (the uncompressed model it
/// was compressed from), keeping its masks and grids; see the module documentation.
///
/// Errors: a model that is not a classifier, finetuning without labels, distillation with
/// `alpha < 1` without labels, a teacher whose outputs differ from the student's, feature
/// layers that do not exist or do not match. A non-finite loss is not an error: training stops,
/// the best checkpoint is restored and [`Recovered::stopped`] says what happened.
pub fn recover(
    teacher: &Model,
    compressed: &Compressed,
    data: &RecoveryData,
    config: &RecoveryConfig,
    on_event: &mut dyn FnMut(&RecoveryEvent<'_>),
) -> Result<Recovered> {
    recover_step(teacher, compressed, data, config, (1, 1), on_event)
}

fn recover_step(
    teacher: &Model,
    compressed: &Compressed,
    data: &RecoveryData,
    config: &RecoveryConfig,
    (step, steps): (usize, usize),
    on_event: &mut dyn FnMut(&RecoveryEvent<'_>),
) -> Result<Recovered> {
    config.check()?;
    let classes = classes_of(&compressed.model, "the student")?;
    let train = &data.train;
    if train.is_empty() {
        return Err(Error::Invalid { msg: format!("`{}` holds no training samples", train.name) });
    }
    if config.needs_labels() && train.labels.is_none() {
        let msg = if config.method == RecoveryMethod::Finetune {
            format!(
                "finetune needs labelled training data, and `{}` has no labels; give labelled \
                 data, or distill from the uncompressed model alone (distill with alpha 1)",
                train.name
            )
        } else {
            format!(
                "{} with alpha {} mixes in cross-entropy on labels, and `{}` has no labels; set \
                 alpha to 1 to learn from the teacher alone",
                config.method.name(),
                config.alpha,
                train.name
            )
        };
        return Err(Error::Invalid { msg });
    }
    for set in [train, &data.validation].into_iter().chain(data.held_out.as_ref()) {
        if let Some(bad) = set.labels.iter().flatten().find(|&&l| l as usize >= classes) {
            return Err(Error::Invalid {
                msg: format!(
                    "`{}` holds label {bad}, but the model has {classes} classes",
                    set.name
                ),
            });
        }
    }
    if config.distills() || !config.feature_layers.is_empty() || data.validation.labels.is_none() {
        classes_of(teacher, "the teacher")?;
        check_teacher(teacher, &compressed.model, &train.inputs)?;
    }
    let specs = weight_specs(compressed)?;
    let features =
        feature_pairs(teacher, &compressed.model, &config.feature_layers, &train.inputs)?;
    let teacher_logits = if config.distills() {
        Some(teacher_outputs(&teacher.graph, &train.inputs)?)
    } else {
        None
    };
    let validation_reference = match &data.validation.labels {
        Some(_) => None,
        None => Some(predictions(&teacher.graph, &data.validation.inputs)?),
    };
    let mut student = compressed.model.clone();
    let validation_before =
        score(&student.graph, &data.validation, validation_reference.as_deref())?;
    let held_out_before = data
        .held_out
        .as_ref()
        .map(|h| held_out_score(&teacher.graph, &student.graph, h))
        .transpose()?;
    on_event(&RecoveryEvent::Start {
        step,
        steps,
        samples: train.len(),
        validation: validation_before,
        held_out: held_out_before,
    });
    let labels =
        train.labels.as_ref().map(|l| Tensor::new(l.as_slice(), &Device::Cpu)).transpose()?;
    let best =
        Checkpoint { metric: validation_before, epoch: 0, weights: snapshot(&student.graph)? };
    let train_config = TrainConfig {
        epochs: config.epochs,
        batch_size: config.batch_size,
        learning_rate: config.learning_rate,
        weight_decay: config.weight_decay,
        seed: config.seed,
    };
    let mut hooks = Hooks {
        config,
        specs: &specs,
        labels,
        teacher_logits,
        teacher: &teacher.graph,
        inputs: &train.inputs,
        features,
        validation: &data.validation,
        validation_reference,
        best,
        records: Vec::new(),
        step,
        steps_per_epoch: train.len().div_ceil(config.batch_size),
        batches_done: 0,
        diverged: None,
        on_event,
    };
    let result = sculpt_model::train_with(
        &mut student.graph,
        &train.inputs,
        train.labels.as_deref(),
        &train_config,
        &mut hooks,
        &mut |_| {},
    );
    let stopped = match (result, hooks.diverged.take()) {
        (Ok(_), _) => None,
        (Err(_), Some(why)) => Some(why),
        (Err(e), None) => return Err(e.into()),
    };
    restore(&mut student.graph, &hooks.best.weights);
    let best_epoch = hooks.best.epoch;
    let stopped = stopped.map(|why| {
        let restored = if best_epoch == 0 {
            "the compressed model before training".to_string()
        } else {
            format!("epoch {best_epoch}")
        };
        format!(
            "{why}; training stopped and the best checkpoint was restored ({restored}, \
             validation {:.2} %); lower the learning rate",
            100.0 * hooks.best.metric
        )
    });
    let records = std::mem::take(&mut hooks.records);
    let validation_reference = hooks.validation_reference.take();
    drop(hooks);
    let mut out = compressed.clone();
    out.model = student.clone();
    let on_grid = finalise(&mut out, &specs)?;
    let validation_after =
        score(&out.model.graph, &data.validation, validation_reference.as_deref())?;
    let held_out_after = data
        .held_out
        .as_ref()
        .map(|h| held_out_score(&teacher.graph, &out.model.graph, h))
        .transpose()?;
    Ok(Recovered {
        compressed: out,
        latent: student,
        epochs: records,
        metric: if data.validation.labels.is_some() { "accuracy" } else { "agreement" },
        validation_before,
        validation_after,
        held_out_before,
        held_out_after,
        best_epoch,
        stopped,
        on_grid,
    })
}

fn held_out_score(teacher: &Graph, graph: &Graph, set: &TrainingSet) -> Result<f64> {
    let reference = match set.labels {
        Some(_) => None,
        None => Some(predictions(teacher, &set.inputs)?),
    };
    Ok(score(graph, set, reference.as_deref())?)
}

/// The teacher's logits for every training sample, computed once (the teacher is fixed and
/// runs in inference mode).
fn teacher_outputs(teacher: &Graph, inputs: &Tensor) -> Result<Tensor> {
    let n = inputs.dims()[0];
    let mut outs = Vec::new();
    let mut start = 0;
    while start < n {
        let len = 256.min(n - start);
        outs.push(teacher.forward(&Batch::Dense(inputs.narrow(0, start, len)?))?.detach());
        start += len;
    }
    Ok(Tensor::cat(&outs, 0)?)
}

/// Summary numbers of a compressed model against its original: the share of the original
/// compressible weights that are gone (removed or zero), and the mean stored bits per remaining
/// weight.
pub fn compression_summary(original: &Graph, compressed: &Compressed) -> Result<(f64, f64)> {
    /// Per weight: name, element count, non-zero count.
    type Counts = Vec<(String, f64, f64)>;
    let count = |g: &Graph| -> Result<(f64, Counts)> {
        let mut total = 0.0;
        let mut per = Vec::new();
        for node in g.nodes().iter().filter(|n| n.op.is_compressible()) {
            if let Some(w) = node.op.weights().into_iter().find(|w| w.role == "weight") {
                let n = w.tensor.elem_count() as f64;
                let nonzero =
                    w.tensor.ne(0f32)?.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
                total += n;
                per.push((format!("{}.weight", node.name), n, nonzero as f64));
            }
        }
        Ok((total, per))
    };
    let (original_total, _) = count(original)?;
    let (_, per) = count(&compressed.model.graph)?;
    let kept: f64 = per.iter().map(|(_, _, nz)| nz).sum();
    let stored: BTreeMap<&str, f64> = compressed
        .stored
        .iter()
        .map(|(k, s)| {
            let bits = match &s.encoding {
                Encoding::Int(q) => q.bits as f64,
                Encoding::Float(_) => 16.0,
                Encoding::Dense => 32.0,
            };
            (k.as_str(), bits)
        })
        .collect();
    let (mut bits_sum, mut n_sum) = (0.0, 0.0);
    for (name, n, _) in &per {
        bits_sum += n * stored.get(name.as_str()).copied().unwrap_or(32.0);
        n_sum += n;
    }
    Ok((1.0 - kept / original_total.max(1.0), bits_sum / n_sum.max(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_of_symmetric_grids_is_a_fixed_point() {
        // Values on no grid at all; after export every row must be integer multiples of one
        // scale with at most 2^(b−1) − 1 steps either side: checked here without the quantizer.
        let values: Vec<f32> = (0..64).map(|i| ((i * 37 % 23) as f32 - 11.3) * 0.071).collect();
        for bits in [2u8, 3, 4, 8] {
            let p = QuantParams {
                bits,
                symmetric: true,
                granularity: Granularity::PerChannel,
                group_size: 32,
                clip: Clip::None,
            };
            let (deq, _) = export_quantize("w", &values, &[4, 16], &p).unwrap();
            let qmax = ((1i32 << (bits - 1)) - 1) as f32;
            for row in deq.chunks(16) {
                let s = row.iter().fold(0f32, |m, v| m.max(v.abs())) / qmax;
                for v in row {
                    let k = v / s;
                    assert!((k - k.round()).abs() < 1e-3 && k.abs() <= qmax + 1e-3, "{bits}: {k}");
                }
            }
        }
    }

    #[test]
    fn asymmetric_export_settles() {
        let values: Vec<f32> = (0..96).map(|i| ((i * 53 % 31) as f32) * 0.013 - 0.05).collect();
        let p = QuantParams {
            bits: 3,
            symmetric: false,
            granularity: Granularity::PerGroup,
            group_size: 32,
            clip: Clip::Mse,
        };
        let (deq, qw) = export_quantize("w", &values, &[3, 32], &p).unwrap();
        assert_eq!(qw.dequantize(), deq);
        let again = quant::quantize_weight(&deq, 3, 32, &p).dequantize();
        assert!(same_bits(&again, &deq));
    }

    #[test]
    fn methods_parse_back() {
        for m in [RecoveryMethod::Finetune, RecoveryMethod::Distill, RecoveryMethod::Qat] {
            assert_eq!(RecoveryMethod::parse(m.name()), Some(m));
        }
        assert_eq!(RecoveryMethod::parse("prune"), None);
    }
}
