//! Timing forward passes: the one way sculpt measures its own runtime's latency.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};
use crate::graph::{Batch, Graph, InputKind, TokenBatch};

/// The number of threads candle's CPU kernels run on (`RAYON_NUM_THREADS`, else the cores).
pub fn runtime_threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// A batch of `batch` random inputs of the kind `graph` takes: images and features uniform in
/// [0, 1); token ids all 1 with a full attention mask, `tokens` long.
pub fn random_batch(graph: &Graph, batch: usize, tokens: usize) -> Result<Batch> {
    let cpu = &Device::Cpu;
    let tokens = graph.token_length().unwrap_or(tokens);
    Ok(match graph.inputs().first().map(|i| &i.kind) {
        Some(InputKind::Image { channels, height, width, .. }) => {
            Batch::Dense(Tensor::rand(0f32, 1., (batch, *channels, *height, *width), cpu)?)
        }
        Some(InputKind::Features { dim }) => {
            Batch::Dense(Tensor::rand(0f32, 1., (batch, *dim), cpu)?)
        }
        Some(
            InputKind::TokenIds
            | InputKind::TokenTypeIds
            | InputKind::PositionIds
            | InputKind::AttentionMask,
        ) => Batch::Tokens(TokenBatch {
            ids: Tensor::ones((batch, tokens), DType::U32, cpu)?,
            type_ids: None,
            mask: Tensor::ones((batch, tokens), DType::F32, cpu)?,
        }),
        None => return Err(Error::Graph { msg: "the graph has no input".into() }),
    })
}

/// Runs `warmup` untimed forward passes of `graph` on `input` (the first quantized call repacks
/// its weights), then `reps` timed ones; returns the seconds of each timed pass, in order.
pub fn time_forward(graph: &Graph, input: &Batch, warmup: usize, reps: usize) -> Result<Vec<f64>> {
    for _ in 0..warmup {
        graph.forward(input)?;
    }
    let mut seconds = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        graph.forward(input)?;
        seconds.push(start.elapsed().as_secs_f64());
    }
    Ok(seconds)
}
