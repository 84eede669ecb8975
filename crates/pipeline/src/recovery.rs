//! `sculpt search --recover`: the chosen front plans are trained back (fine-tuning,
//! distillation or QAT) and re-validated on the run's held-out split.

use std::path::Path;

use candle_core::Tensor;

use sculpt_compress::{
    ApplyOptions, CompressionPlan, RecoveryConfig, RecoveryData, RecoveryEvent, TrainingSet,
};
use sculpt_model::{Batch, Model, Task};
use sculpt_run::{PlanRow, RunWriter};

use crate::config::SearchRecovery;
use crate::error::{Error, Result};
use crate::monitor::RunMonitor;
use crate::sensitivity::EvalSet;

/// Which front plans to recover: with the plans ordered by accuracy loss, highest first, `top`
/// of them evenly spaced from the most damaged to the least (all of them when `top` ≥ the front).
/// Recovery helps most where compression hurt most, so one plan means the most damaged one.
pub fn recovery_picks(losses: &[f64], top: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..losses.len()).collect();
    order.sort_by(|&a, &b| losses[b].total_cmp(&losses[a]).then(a.cmp(&b)));
    let n = order.len();
    if top == 0 || n == 0 {
        return Vec::new();
    }
    if top >= n {
        return order;
    }
    let mut picks: Vec<usize> = (0..top)
        .map(|i| if top == 1 { 0 } else { (i * (n - 1) + (top - 1) / 2) / (top - 1) })
        .map(|k| order[k])
        .collect();
    picks.dedup();
    picks
}

/// Checks that a model can be recovered and loads the training data, before any search work.
pub(crate) fn prepare(model: &Model, recovery: &SearchRecovery) -> Result<RecoveryData> {
    if !matches!(model.graph.task(), Task::Classification { .. }) {
        return Err(Error::Invalid {
            msg: format!(
                "--recover trains classifiers; `{}` is an encoder (recovery of embedding models \
                 is not supported)",
                model.name
            ),
        });
    }
    if recovery.top == 0 {
        return Err(Error::Invalid { msg: "--recover-top must be at least 1".into() });
    }
    Ok(sculpt_compress::recovery_data(&model.graph, &recovery.data)?)
}

/// The held-out split as dense tensors.
pub(crate) fn held_out_set(set: &EvalSet) -> Result<TrainingSet> {
    let tensors = set
        .batches
        .iter()
        .map(|b| match b {
            Batch::Dense(t) => Ok(t.clone()),
            Batch::Tokens(_) => {
                Err(Error::Invalid { msg: "--recover needs image or feature data".into() })
            }
        })
        .collect::<Result<Vec<Tensor>>>()?;
    Ok(TrainingSet {
        name: set.name.clone(),
        inputs: Tensor::cat(&tensors, 0)?,
        labels: set.labels.clone(),
    })
}

/// The baseline metric on `set`: accuracy with labels, else 1 (agreement with itself).
pub(crate) fn baseline_metric(model: &Model, set: &TrainingSet) -> Result<f64> {
    match &set.labels {
        Some(labels) => {
            let logits =
                sculpt_eval::dense_outputs(&model.graph, &set.inputs, sculpt_eval::DEFAULT_BATCH)?;
            Ok(sculpt_eval::accuracy(&logits, labels)?)
        }
        None => Ok(1.0),
    }
}

/// Compresses `model` with `plan`, recovers it, writes it to `out_dir/file`, and returns the
/// recovered held-out metric.
#[allow(clippy::too_many_arguments)]
fn recover_plan(
    model: &Model,
    plan: &CompressionPlan,
    calibration: Option<&Batch>,
    data: &RecoveryData,
    config: &RecoveryConfig,
    path: &Path,
    on_event: &mut dyn FnMut(&RecoveryEvent<'_>),
) -> Result<f64> {
    let compressed = sculpt_compress::apply_plan(model, plan, None, &ApplyOptions { calibration })?;
    let recovered = sculpt_compress::recover(model, &compressed, data, config, on_event)?;
    let provenance = serde_json::json!({
        "sculpt_version": env!("CARGO_PKG_VERSION"),
        "source_model": model.origin,
        "recovery": {
            "method": config.method.name(),
            "epochs": config.epochs,
            "train_data": data.train.name,
            "train_samples": data.train.len(),
            "best_epoch": recovered.best_epoch,
            "stopped": recovered.stopped,
        },
    })
    .to_string();
    sculpt_compress::write_compressed(&recovered.compressed, path, &provenance)?;
    recovered
        .held_out_after
        .ok_or_else(|| Error::Invalid { msg: "recovery did not score the held-out split".into() })
}

/// `search --recover`: trains the picked front plans back, writes each recovered model into the
/// run directory's `recovered/` and sets its row's `accuracy_loss_recovered`; returns the run
/// note that says what was done.
#[allow(clippy::too_many_arguments)]
pub(crate) fn recover_front(
    model: &Model,
    plans: &[(usize, CompressionPlan)],
    front_rows: &mut [PlanRow],
    calibration: Option<&Batch>,
    recovery: &SearchRecovery,
    data: &RecoveryData,
    writer: &RunWriter,
    monitor: &dyn RunMonitor,
) -> Result<String> {
    let held = data
        .held_out
        .as_ref()
        .ok_or_else(|| Error::Invalid { msg: "recovery has no held-out split".into() })?;
    let baseline = baseline_metric(model, held)?;
    let losses: Vec<f64> =
        front_rows.iter().map(|f| f.accuracy_loss_measured.unwrap_or(f.accuracy_loss)).collect();
    let picks = recovery_picks(&losses, recovery.top);
    writer.create_dir(sculpt_run::layout::RECOVERED_DIR)?;
    let config = &recovery.config;
    for (k, &i) in picks.iter().enumerate() {
        let path = writer.path(&sculpt_run::layout::recovered_model_file(i));
        let mut on_event = |e: &RecoveryEvent<'_>| {
            if let RecoveryEvent::Epoch(rec) = e {
                monitor.stage(&format!(
                    "recovering front plan {i} ({}/{}): epoch {}/{}, validation {:.2} %",
                    k + 1,
                    picks.len(),
                    rec.epoch,
                    config.epochs,
                    100.0 * rec.validation
                ));
            }
        };
        monitor.stage(&format!(
            "recovering front plan {i} ({}/{}) with {}",
            k + 1,
            picks.len(),
            config.method.name()
        ));
        let metric =
            recover_plan(model, &plans[i].1, calibration, data, config, &path, &mut on_event)?;
        front_rows[i].accuracy_loss_recovered = Some(baseline - metric);
    }
    Ok(format!(
        "recovery: {} front plan(s) trained back with {} for {} epoch(s) on {} samples of {}; \
         accuracy_loss_recovered is measured on the held-out split, the recovered models are \
         in recovered/",
        picks.len(),
        config.method.name(),
        config.epochs,
        data.train.len(),
        data.train.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_spread_from_the_most_damaged_plan() {
        let losses = [0.01, 0.30, 0.05, 0.12, 0.00];
        // Ordered by loss, highest first: 1 (0.30), 3 (0.12), 2 (0.05), 0 (0.01), 4 (0.00).
        assert_eq!(recovery_picks(&losses, 1), vec![1]);
        assert_eq!(recovery_picks(&losses, 2), vec![1, 4]);
        assert_eq!(recovery_picks(&losses, 3), vec![1, 2, 4]);
        assert_eq!(recovery_picks(&losses, 5), vec![1, 3, 2, 0, 4]);
        assert_eq!(recovery_picks(&losses, 9).len(), 5);
        assert!(recovery_picks(&losses, 0).is_empty());
        assert!(recovery_picks(&[], 3).is_empty());
    }
}
