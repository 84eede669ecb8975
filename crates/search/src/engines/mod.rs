//! The search engines and the helpers they share.

pub(crate) mod bayes;
pub(crate) mod exhaustive;
pub(crate) mod gp;
pub(crate) mod nsga2;
pub(crate) mod random;

use rand::Rng;

use crate::error::Result;
use crate::executor::SearchContext;
use crate::hash::{GenomeIndex, genome_hash};
use crate::objective::Objective;
use crate::space::Space;

/// Spaces up to this size are scanned in order when random sampling cannot find new genomes.
const SCAN_LIMIT: u128 = 1 << 22;

/// The uniform genomes `(c, c, ..., c)`, one per choice index `c` up to the largest number of
/// choices, each gene's choice clamped to its range.
pub(crate) fn uniform_genomes(space: &Space) -> Vec<Vec<usize>> {
    let max_choices = space.genes().iter().map(|g| g.n_choices).max().unwrap_or(1);
    (0..max_choices)
        .map(|c| space.genes().iter().map(|g| c.min(g.n_choices - 1)).collect())
        .collect()
}

/// A batch of distinct genomes that have not been evaluated yet.
pub(crate) struct NovelBatch {
    genomes: Vec<Vec<usize>>,
    hashes: Vec<u64>,
    index: GenomeIndex,
}

impl NovelBatch {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        NovelBatch {
            genomes: Vec::with_capacity(capacity),
            hashes: Vec::with_capacity(capacity),
            index: GenomeIndex::with_capacity(capacity),
        }
    }

    /// Adds `genome` unless it was evaluated before or is already in the batch; says whether
    /// it was added.
    pub(crate) fn push_if_novel<O: Objective + ?Sized>(
        &mut self,
        ctx: &SearchContext<'_, O>,
        genome: Vec<usize>,
    ) -> bool {
        let hash = genome_hash(&genome);
        if ctx.find(hash, &genome).is_some()
            || self.index.find(hash, &genome, |k| &self.genomes[k]).is_some()
        {
            return false;
        }
        self.index.insert(hash, self.genomes.len());
        self.genomes.push(genome);
        self.hashes.push(hash);
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.genomes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.genomes.is_empty()
    }

    pub(crate) fn into_genomes(self) -> Vec<Vec<usize>> {
        self.genomes
    }

    /// Evaluates the batch (without hashing the genomes again) and returns their archive
    /// positions.
    pub(crate) fn evaluate<O: Objective + ?Sized>(
        self,
        ctx: &mut SearchContext<'_, O>,
    ) -> Result<Vec<usize>> {
        ctx.evaluate_hashed(self.hashes.into_iter().zip(self.genomes).collect())
    }

    /// Adds random new genomes until the batch has `target` genomes or no new genome can be
    /// found.
    ///
    /// Random draws are tried first; when they keep hitting known genomes (a nearly exhausted
    /// small space), the space is scanned in enumeration order from a random start.
    pub(crate) fn fill_with_random<O: Objective + ?Sized>(
        &mut self,
        ctx: &mut SearchContext<'_, O>,
        target: usize,
    ) {
        let space = ctx.space();
        let mut attempts = 0;
        let max_attempts = 20 * target + 100;
        while self.len() < target && attempts < max_attempts {
            attempts += 1;
            let genome = space.random_genome(ctx.rng());
            self.push_if_novel(ctx, genome);
        }
        if self.len() < target {
            let Some(size) = space.size().filter(|&size| size <= SCAN_LIMIT) else { return };
            let start = ctx.rng().random_range(0..size);
            for offset in 0..size {
                if self.len() >= target {
                    break;
                }
                let Some(genome) = space.genome_at((start + offset) % size) else { break };
                self.push_if_novel(ctx, genome);
            }
        }
    }
}
