//! Timing a plan's compressed model on this CPU, in sculpt's own candle runtime.

use sculpt_compress::{ApplyOptions, CompressionPlan};
use sculpt_model::{Batch, Model};
use sculpt_stdx::stats::TimingStat;

use crate::error::Result;

/// Untimed passes before a measurement (the first quantized call repacks its weights).
pub const WARMUP_PASSES: usize = 3;
/// Timed passes of a measurement.
pub const TIMED_PASSES: usize = 15;

/// The median latency, in seconds, of a plan's compressed model on this CPU with candle's
/// quantized kernels, over [`TIMED_PASSES`] passes on a random batch of `batch` samples
/// (`tokens` long for text models).
pub fn measure_latency(
    model: &Model,
    plan: &CompressionPlan,
    calibration: Option<&Batch>,
    batch: usize,
    tokens: usize,
) -> Result<f64> {
    let mut c = sculpt_compress::apply_plan(model, plan, None, &ApplyOptions { calibration })?;
    sculpt_compress::attach_candle_kernels(&mut c)?;
    let input = sculpt_model::random_batch(&c.model.graph, batch, tokens)?;
    let mut passes =
        sculpt_model::time_forward(&c.model.graph, &input, WARMUP_PASSES, TIMED_PASSES)?;
    Ok(TimingStat::Median.of(&mut passes))
}
