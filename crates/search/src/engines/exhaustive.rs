//! Exhaustive enumeration of small spaces.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SearchError};
use crate::executor::{Engine, SearchContext, StepStatus, TerminationReason};
use crate::objective::Objective;

/// Evaluates every genome of the space in enumeration order (gene 0 varies slowest).
///
/// Refuses spaces with more than `max_genomes` genomes ([`SearchError::SpaceTooLarge`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExhaustiveSearch {
    /// Genomes per step (evaluated in parallel); at least 1.
    pub batch_size: usize,
    /// The largest space this engine accepts.
    pub max_genomes: u64,
}

impl Default for ExhaustiveSearch {
    fn default() -> Self {
        ExhaustiveSearch { batch_size: 1024, max_genomes: 1_000_000 }
    }
}

/// Where the enumeration has got to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExhaustiveState {
    /// Enumeration index of the next genome.
    pub next_index: u64,
}

impl<O: Objective + ?Sized> Engine<O> for ExhaustiveSearch {
    type State = ExhaustiveState;

    fn step(
        &self,
        ctx: &mut SearchContext<'_, O>,
        state: ExhaustiveState,
    ) -> Result<(ExhaustiveState, StepStatus)> {
        if self.batch_size == 0 {
            return Err(SearchError::InvalidConfig {
                parameter: "batch_size",
                reason: "must be at least 1".to_owned(),
            });
        }
        let space = ctx.space();
        let size = match space.size() {
            Some(size) if size <= u128::from(self.max_genomes) => size as u64,
            _ => {
                return Err(SearchError::SpaceTooLarge {
                    engine: "exhaustive search",
                    size: space.size_string(),
                    cap: self.max_genomes,
                });
            }
        };
        let mut next_index = state.next_index;
        let target = self.batch_size.min(ctx.remaining_evaluations());
        let mut batch = Vec::with_capacity(target);
        while batch.len() < target && next_index < size {
            if let Some(genome) = space.genome_at(u128::from(next_index))
                && !ctx.is_evaluated(&genome)
            {
                batch.push(genome);
            }
            next_index += 1;
        }
        ctx.evaluate_batch(batch)?;
        let status = if next_index >= size {
            StepStatus::Finished(TerminationReason::SpaceExhausted)
        } else {
            StepStatus::Continue
        };
        Ok((ExhaustiveState { next_index }, status))
    }

    fn name(&self) -> &'static str {
        "exhaustive"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
