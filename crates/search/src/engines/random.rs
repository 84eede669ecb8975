//! Random search: uniform random genomes, never one twice.

use serde::{Deserialize, Serialize};

use crate::engines::NovelBatch;
use crate::error::{Result, SearchError};
use crate::executor::{Engine, SearchContext, StepStatus, TerminationReason};
use crate::objective::Objective;

/// Uniform random search without repeats; each step evaluates one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomSearch {
    /// Genomes per step (evaluated in parallel); at least 1.
    pub batch_size: usize,
}

impl Default for RandomSearch {
    fn default() -> Self {
        RandomSearch { batch_size: 64 }
    }
}

impl<O: Objective + ?Sized> Engine<O> for RandomSearch {
    type State = ();

    fn step(&self, ctx: &mut SearchContext<'_, O>, _state: ()) -> Result<((), StepStatus)> {
        if self.batch_size == 0 {
            return Err(SearchError::InvalidConfig {
                parameter: "batch_size",
                reason: "must be at least 1".to_owned(),
            });
        }
        let target = self.batch_size.min(ctx.remaining_evaluations());
        let mut batch = NovelBatch::with_capacity(target);
        batch.fill_with_random(ctx, target);
        if batch.is_empty() {
            return Ok(((), StepStatus::Finished(TerminationReason::SpaceExhausted)));
        }
        batch.evaluate(ctx)?;
        Ok(((), StepStatus::Continue))
    }

    fn name(&self) -> &'static str {
        "random"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
