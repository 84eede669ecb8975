//! Progressive compression: the plan is reached in K steps, with recovery after each.
//!
//! Step k of K (k = 1..K) compresses the model recovered at step k − 1 (its float weights):
//!
//! * channel pruning removes ⌊C·r·k/K⌋ of a layer's original C channels in all by step k (the
//!   last step removes exactly what the plan alone would), re-ranking the channels left;
//! * magnitude pruning prunes the share r·k/K (the zeros of earlier steps are the smallest
//!   weights, so they stay pruned); N:M keeps m − round((m − n)·k/K) of every m;
//! * weight bits step down from 8 to the plan's bits (the smallest of 8, 6, 4, 3, 2 at or above
//!   8 − (8 − b)·k/K); float casts and 8-bit plans apply from the first step;
//! * low-rank factorisation, head pruning and activation quantizers are applied at the last step
//!   (they change the graph, so earlier steps could not be re-planned by layer name).

use std::time::Instant;

use sculpt_model::Model;

use crate::apply::{ApplyOptions, apply_resolved};
use crate::error::{Error, Result};
use crate::plan::{
    CompressionPlan, LayerOption, PlanSource, PruneKind, ResolvedLayer, ResolvedPlan, resolve,
};
use crate::recover::{
    Recovered, RecoveryConfig, RecoveryData, RecoveryEvent, compression_summary, recover_step,
};

/// One step of a progressive run.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    /// 1-based step.
    pub step: usize,
    /// Steps in all.
    pub steps: usize,
    /// Share of the original compressible weights removed or zero after this step.
    pub sparsity: f64,
    /// Mean stored bits per remaining compressible weight.
    pub mean_weight_bits: f64,
    /// Epochs trained in this step.
    pub epochs: usize,
    /// Validation metric right after compressing, before recovery.
    pub validation_before: f64,
    /// Validation metric after recovery.
    pub validation_after: f64,
    /// Held-out metric before recovery.
    pub held_out_before: Option<f64>,
    /// Held-out metric after recovery.
    pub held_out_after: Option<f64>,
    /// Wall time of the step (compression, training, evaluation), in seconds.
    pub seconds: f64,
}

/// The result of a progressive run.
#[derive(Clone, Debug)]
pub struct Progressive {
    /// The final recovered model (the last step's, or the one training stopped at).
    pub recovered: Recovered,
    /// One record per step done.
    pub steps: Vec<StepRecord>,
}

const BIT_STEPS: [u8; 5] = [2, 3, 4, 6, 8];

/// The option of a layer at step `step` of `steps` (see the module documentation).
/// `channels` is the layer's original output width and `removed` how many channels earlier steps
/// removed; structured ratios in the result are relative to the channels left.
pub fn step_option(
    option: &LayerOption,
    step: usize,
    steps: usize,
    channels: usize,
    removed: usize,
) -> LayerOption {
    let last = step >= steps;
    let fraction = step as f64 / steps.max(1) as f64;
    let mut o = option.clone();
    if !last {
        o.rank = None;
        if let Some(q) = o.quant.as_mut() {
            q.act_bits = None;
            if let Some(b) = q.weight_bits.filter(|b| *b < 8) {
                let target = 8.0 - (8.0 - b as f64) * fraction;
                q.weight_bits =
                    BIT_STEPS.iter().copied().find(|&s| s as f64 >= target - 1e-9).or(Some(8));
            }
        }
    }
    if let Some(p) = o.prune.as_mut() {
        match p.kind {
            PruneKind::Magnitude => p.ratio = p.ratio.map(|r| r * fraction),
            PruneKind::NM => {
                if let (Some(n), Some(m)) = (p.n, p.m) {
                    p.n = Some(m - ((m - n) as f64 * fraction).round() as usize);
                }
            }
            PruneKind::Channel => {
                let r = p.ratio.unwrap_or(0.0);
                let total = if last {
                    ((channels as f64 * r).floor() as usize).min(channels.saturating_sub(1))
                } else {
                    (channels as f64 * r * fraction).floor() as usize
                };
                let left = channels - removed;
                let now = total.saturating_sub(removed);
                // ⌊left · (now + ½) / left⌋ = now whatever the rounding of the division.
                p.ratio = Some(if now == 0 { 0.0 } else { (now as f64 + 0.5) / left as f64 });
            }
            PruneKind::Head => {
                if !last {
                    p.ratio = Some(0.0);
                }
            }
        }
    }
    let unpruned = o.prune.as_ref().is_some_and(|p| match p.kind {
        PruneKind::NM => p.n == p.m,
        _ => p.ratio.unwrap_or(0.0) == 0.0,
    });
    if unpruned {
        o.prune = None;
    }
    o
}

fn out_channels(model: &Model, idx: usize) -> usize {
    model.graph.nodes()[idx]
        .op
        .weights()
        .into_iter()
        .find(|w| w.role == "weight")
        .and_then(|w| w.tensor.dims().first().copied())
        .unwrap_or(0)
}

/// Compresses `teacher` with `plan` in `steps` steps, recovering after each; see the module
/// documentation. `options` (calibration for activation quantization) apply at the last step.
#[allow(clippy::too_many_arguments)]
pub fn recover_progressive(
    teacher: &Model,
    plan: &CompressionPlan,
    source: Option<&PlanSource>,
    options: &ApplyOptions<'_>,
    steps: usize,
    data: &RecoveryData,
    config: &RecoveryConfig,
    on_event: &mut dyn FnMut(&RecoveryEvent<'_>),
) -> Result<Progressive> {
    if steps == 0 {
        return Err(Error::Invalid { msg: "progressive compression needs at least 1 step".into() });
    }
    let resolved = resolve(plan, &teacher.graph, source)?;
    let mut current = teacher.clone();
    let mut records = Vec::new();
    let mut last: Option<Recovered> = None;
    for step in 1..=steps {
        let started = Instant::now();
        let mut step_plan = ResolvedPlan::default();
        for (&idx, rl) in &resolved.layers {
            let channels = out_channels(teacher, idx);
            let removed = channels - out_channels(&current, idx);
            let option = step_option(&rl.option, step, steps, channels, removed);
            if !option.is_identity() {
                step_plan.layers.insert(idx, ResolvedLayer { option, ..rl.clone() });
            }
        }
        let step_options = if step == steps { options.clone() } else { ApplyOptions::default() };
        let mut compressed = apply_resolved(&current, plan, &step_plan, &step_options)?;
        if step == steps {
            // Report the plan's options, not the last step's increments.
            compressed.applied =
                resolved.layers.values().map(|l| (l.name.clone(), l.option.clone())).collect();
        }
        let recovered = recover_step(teacher, &compressed, data, config, (step, steps), on_event)?;
        let (sparsity, mean_weight_bits) =
            compression_summary(&teacher.graph, &recovered.compressed)?;
        let record = StepRecord {
            step,
            steps,
            sparsity,
            mean_weight_bits,
            epochs: recovered.epochs.len(),
            validation_before: recovered.validation_before,
            validation_after: recovered.validation_after,
            held_out_before: recovered.held_out_before,
            held_out_after: recovered.held_out_after,
            seconds: started.elapsed().as_secs_f64(),
        };
        on_event(&RecoveryEvent::Step(&record));
        records.push(record);
        current = recovered.latent.clone();
        let stopped = recovered.stopped.is_some();
        last = Some(recovered);
        if stopped {
            break;
        }
    }
    let recovered = last.ok_or_else(|| Error::Invalid { msg: "no step ran".into() })?;
    Ok(Progressive { recovered, steps: records })
}

/// The steps as CSV: `step, steps, sparsity, mean_weight_bits, epochs, validation_before,
/// validation_after, held_out_before, held_out_after, seconds` (metrics as fractions).
pub fn steps_csv(steps: &[StepRecord]) -> String {
    let opt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
    let mut s = String::from(
        "step,steps,sparsity,mean_weight_bits,epochs,validation_before,validation_after,held_out_before,held_out_after,seconds\n",
    );
    for r in steps {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            r.step,
            r.steps,
            r.sparsity,
            r.mean_weight_bits,
            r.epochs,
            r.validation_before,
            r.validation_after,
            opt(r.held_out_before),
            opt(r.held_out_after),
            r.seconds
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Prune, Quant};

    fn option(prune: Option<Prune>, bits: Option<u8>) -> LayerOption {
        LayerOption {
            prune,
            quant: bits.map(|b| Quant {
                weight_bits: Some(b),
                act_bits: Some(8),
                granularity: Default::default(),
                group_size: None,
                symmetric: true,
                float: None,
                clip: Default::default(),
                act_calibration: Default::default(),
            }),
            rank: None,
        }
    }

    fn channel(r: f64) -> Option<Prune> {
        Some(Prune {
            kind: PruneKind::Channel,
            ratio: Some(r),
            n: None,
            m: None,
            scope: Default::default(),
            criterion: Default::default(),
            align: None,
        })
    }

    #[test]
    fn channel_steps_reach_the_one_shot_count() {
        // 50 % of 32 channels in 3 steps: 5, then 10 in all, then 16 (what one shot removes).
        let o = option(channel(0.5), None);
        let mut removed = 0;
        let mut counts = Vec::new();
        for step in 1..=3 {
            let s = step_option(&o, step, 3, 32, removed);
            let left = 32 - removed;
            let r = s.prune.map_or(0.0, |p| p.ratio.unwrap());
            let now = (left as f64 * r).floor() as usize; // what prune_channels removes
            removed += now;
            counts.push(removed);
        }
        assert_eq!(counts, vec![5, 10, 16]);
    }

    #[test]
    fn bits_step_down_and_activations_wait_for_the_last_step() {
        let o = option(None, Some(4));
        let bits: Vec<u8> = (1..=3)
            .map(|k| step_option(&o, k, 3, 8, 0).quant.unwrap().weight_bits.unwrap())
            .collect();
        assert_eq!(bits, vec![8, 6, 4]);
        assert_eq!(step_option(&o, 2, 3, 8, 0).quant.unwrap().act_bits, None);
        assert_eq!(step_option(&o, 3, 3, 8, 0).quant.unwrap().act_bits, Some(8));
        let nm = LayerOption {
            prune: Some(Prune {
                kind: PruneKind::NM,
                ratio: None,
                n: Some(2),
                m: Some(8),
                ..channel(0.0).unwrap()
            }),
            ..Default::default()
        };
        let ns: Vec<Option<usize>> =
            (1..=3).map(|k| step_option(&nm, k, 3, 8, 0).prune.and_then(|p| p.n)).collect();
        assert_eq!(ns, vec![Some(6), Some(4), Some(2)]);
    }
}
