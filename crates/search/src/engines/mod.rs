//! The search engines and the helpers they share.

pub(crate) mod bayes;
pub(crate) mod exhaustive;
mod gp;
pub(crate) mod nsga2;
pub(crate) mod random;

use rand::Rng;

use crate::hash::GenomeSet;
use crate::executor::Problem;
use crate::objective::Objective;

/// Spaces up to this size are scanned in order when random sampling cannot find new genomes.
const SCAN_LIMIT: u128 = 1 << 22;

/// Appends random genomes that are neither evaluated nor already in `batch` until `batch` has
/// `target` genomes or no new genome can be found.
///
/// Random draws are tried first; when they keep hitting known genomes (a nearly exhausted small
/// space), the space is scanned in enumeration order from a random start.
pub(crate) fn fill_with_random_novel<O: Objective + ?Sized>(
    problem: &mut Problem<'_, O>,
    batch: &mut Vec<Vec<usize>>,
    in_batch: &mut GenomeSet,
    target: usize,
) {
    let space = problem.space();
    let mut attempts = 0;
    let max_attempts = 20 * target + 100;
    while batch.len() < target && attempts < max_attempts {
        attempts += 1;
        let genome = space.random_genome(problem.rng());
        if !problem.is_evaluated(&genome) && in_batch.insert(genome.clone()) {
            batch.push(genome);
        }
    }
    if batch.len() < target {
        let Some(size) = space.size().filter(|&size| size <= SCAN_LIMIT) else { return };
        let start = problem.rng().random_range(0..size);
        for offset in 0..size {
            if batch.len() >= target {
                break;
            }
            let Some(genome) = space.genome_at((start + offset) % size) else { break };
            if !problem.is_evaluated(&genome) && in_batch.insert(genome.clone()) {
                batch.push(genome);
            }
        }
    }
}
