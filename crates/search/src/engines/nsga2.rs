//! NSGA-II (Deb et al. 2002) on categorical genes.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::engines::{NovelBatch, uniform_genomes};
use crate::error::{Result, SearchError};
use crate::executor::{
    Engine, EvaluatedCandidate, SearchContext, SearchRng, StepStatus, TerminationReason,
};
use crate::objective::{Evaluation, Objective};
use crate::pareto::{constrained_non_dominated_sort, crowding_distance};

/// How a gene's choice is changed by mutation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Mutation {
    /// Any other choice, uniformly: right for unordered (categorical) choices.
    Uniform,
    /// A choice at most `max_step` positions away, uniformly among those: right when choices
    /// are ordered (e.g. by compression strength) and neighbours have similar effects.
    Neighbour {
        /// The largest index distance of a move; at least 1.
        max_step: usize,
    },
    /// With probability `neighbour_probability` a neighbour move, otherwise a uniform one.
    Mixed {
        /// The largest index distance of a neighbour move; at least 1.
        max_step: usize,
        /// Probability of a neighbour move, in `[0, 1]`.
        neighbour_probability: f64,
    },
}

/// Settings of [`Nsga2`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nsga2 {
    /// Population size (and offspring per generation); at least 2.
    pub population_size: usize,
    /// Probability that a child is made by uniform crossover of two parents rather than copied
    /// from one; in `[0, 1]`.
    pub crossover_probability: f64,
    /// Expected number of mutated genes per child; the per-gene probability is this divided by
    /// the number of genes (capped at 1). Must be positive.
    pub mutation_rate: f64,
    /// How a mutated gene changes.
    pub mutation: Mutation,
    /// Genomes put into the initial population first (e.g. the exact front); duplicates are
    /// dropped, and at most `population_size` are used (evenly spaced in the given order if
    /// more are given).
    pub initial_population: Vec<Vec<usize>>,
    /// Also put the uniform genomes `(c, c, ..., c)` into the initial population, one per
    /// choice index `c` (clamped to each gene's range), after `initial_population` and while
    /// there is room.
    ///
    /// When choices are ordered alike in every gene (sculpt's option lists go from no
    /// compression to the strongest), these are the "same option everywhere" plans, which lie
    /// near the ends of the front; starting from them lets the search spread along the whole
    /// front instead of creeping out from the middle. For unordered choices they are merely a
    /// few more starting points.
    pub seed_uniform_genomes: bool,
}

impl Default for Nsga2 {
    fn default() -> Self {
        Nsga2 {
            population_size: 100,
            crossover_probability: 0.9,
            mutation_rate: 1.0,
            mutation: Mutation::Uniform,
            initial_population: Vec::new(),
            seed_uniform_genomes: true,
        }
    }
}

/// The population carried between generations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Nsga2State {
    /// The current population, as positions in the archive ([`SearchContext::archive`]).
    pub population: Vec<usize>,
    /// Number of generations done (the initial population is generation 0).
    pub generation: usize,
}

impl Nsga2 {
    fn validate(&self) -> Result<()> {
        let invalid = |parameter, reason: &str| {
            Err(SearchError::InvalidConfig { parameter, reason: reason.to_owned() })
        };
        if self.population_size < 2 {
            return invalid("population_size", "must be at least 2");
        }
        if !(0.0..=1.0).contains(&self.crossover_probability) {
            return invalid("crossover_probability", "must be in [0, 1]");
        }
        if !(self.mutation_rate.is_finite() && self.mutation_rate > 0.0) {
            return invalid("mutation_rate", "must be positive and finite");
        }
        match self.mutation {
            Mutation::Uniform => {}
            Mutation::Neighbour { max_step } | Mutation::Mixed { max_step, .. }
                if max_step == 0 =>
            {
                return invalid("mutation.max_step", "must be at least 1");
            }
            Mutation::Mixed { neighbour_probability, .. }
                if !(0.0..=1.0).contains(&neighbour_probability) =>
            {
                return invalid("mutation.neighbour_probability", "must be in [0, 1]");
            }
            _ => {}
        }
        Ok(())
    }

    fn initial_generation<O: Objective + ?Sized>(
        &self,
        ctx: &mut SearchContext<'_, O>,
    ) -> Result<Nsga2State> {
        let target = self.population_size.min(ctx.remaining_evaluations());
        for genome in &self.initial_population {
            ctx.space().check_genome(genome)?;
        }
        // Given genomes first (an evenly spaced selection if there are too many), then the
        // uniform genomes while there is room, then random ones.
        let given = &self.initial_population;
        let mut batch = NovelBatch::with_capacity(target);
        if given.len() <= target {
            for genome in given {
                batch.push_if_novel(ctx, genome.clone());
            }
        } else {
            for i in 0..target {
                batch
                    .push_if_novel(ctx, given[i * (given.len() - 1) / (target - 1).max(1)].clone());
            }
        }
        if self.seed_uniform_genomes {
            for genome in uniform_genomes(ctx.space()) {
                if batch.len() < target {
                    batch.push_if_novel(ctx, genome);
                }
            }
        }
        batch.fill_with_random(ctx, target);
        let population = batch.evaluate(ctx)?;
        Ok(Nsga2State { population, generation: 0 })
    }

    fn mutate(
        &self,
        genome: &mut [usize],
        n_choices: impl Fn(usize) -> usize,
        rng: &mut SearchRng,
    ) {
        let probability = (self.mutation_rate / genome.len() as f64).min(1.0);
        // ln(1 - p), accurate even for tiny p (so it is never zero for a positive p).
        let log_keep = (-probability).ln_1p();
        let mut gene_index = 0;
        loop {
            // Jump straight to the next mutated gene: the gap between mutated genes is
            // geometric, which draws one number per mutation instead of one per gene.
            if probability < 1.0 {
                let gap = ((1.0 - rng.random::<f64>()).ln() / log_keep).floor();
                if gap.is_nan() || gap >= (genome.len() - gene_index) as f64 {
                    break;
                }
                gene_index += gap as usize;
            }
            if gene_index >= genome.len() {
                break;
            }
            let n = n_choices(gene_index);
            let choice = &mut genome[gene_index];
            gene_index += 1;
            if n < 2 {
                continue;
            }
            let neighbour = match self.mutation {
                Mutation::Uniform => None,
                Mutation::Neighbour { max_step } => Some(max_step),
                Mutation::Mixed { max_step, neighbour_probability } => {
                    rng.random_bool(neighbour_probability).then_some(max_step)
                }
            };
            *choice = match neighbour {
                None => {
                    // Any other choice: draw from n - 1 values and skip the current one.
                    let drawn = rng.random_range(0..n - 1);
                    if drawn >= *choice { drawn + 1 } else { drawn }
                }
                Some(max_step) => {
                    let low = choice.saturating_sub(max_step);
                    let high = (*choice + max_step).min(n - 1);
                    let drawn = rng.random_range(low..high);
                    if drawn >= *choice { drawn + 1 } else { drawn }
                }
            };
        }
    }
}

/// Rank (front number) and crowding distance of every member.
fn rank_and_crowding(
    archive: &[EvaluatedCandidate],
    population: &[usize],
) -> (Vec<usize>, Vec<f64>) {
    let evaluations: Vec<&Evaluation> =
        population.iter().map(|&i| &archive[i].evaluation).collect();
    let fronts = constrained_non_dominated_sort(&evaluations);
    let points: Vec<&[f64]> = evaluations.iter().map(|e| e.objectives.as_slice()).collect();
    let mut rank = vec![0; population.len()];
    let mut crowding = vec![0.0; population.len()];
    for (front_index, front) in fronts.iter().enumerate() {
        let distance = crowding_distance(&points, front);
        for (&member, d) in front.iter().zip(distance) {
            rank[member] = front_index;
            crowding[member] = d;
        }
    }
    (rank, crowding)
}

fn binary_tournament(rank: &[usize], crowding: &[f64], rng: &mut SearchRng) -> usize {
    let n = rank.len();
    let a = rng.random_range(0..n);
    let b = if n > 1 {
        let drawn = rng.random_range(0..n - 1);
        if drawn >= a { drawn + 1 } else { drawn }
    } else {
        a
    };
    let better =
        |x: usize, y: usize| rank[x] < rank[y] || (rank[x] == rank[y] && crowding[x] > crowding[y]);
    if better(b, a) { b } else { a }
}

/// Environmental selection: fill by fronts, break the last front by crowding distance.
fn select_survivors(
    archive: &[EvaluatedCandidate],
    members: &[usize],
    population_size: usize,
) -> Vec<usize> {
    let evaluations: Vec<&Evaluation> = members.iter().map(|&i| &archive[i].evaluation).collect();
    let fronts = constrained_non_dominated_sort(&evaluations);
    let points: Vec<&[f64]> = evaluations.iter().map(|e| e.objectives.as_slice()).collect();
    let mut chosen: Vec<usize> = Vec::with_capacity(population_size);
    for front in fronts {
        if chosen.len() + front.len() <= population_size {
            chosen.extend(front);
            continue;
        }
        let distance = crowding_distance(&points, &front);
        let mut order: Vec<usize> = (0..front.len()).collect();
        order.sort_by(|&a, &b| distance[b].total_cmp(&distance[a]).then(front[a].cmp(&front[b])));
        let missing = population_size - chosen.len();
        chosen.extend(order.into_iter().take(missing).map(|k| front[k]));
        break;
    }
    chosen.into_iter().map(|k| members[k]).collect()
}

impl<O: Objective + ?Sized> Engine<O> for Nsga2 {
    type State = Nsga2State;

    fn step(
        &self,
        ctx: &mut SearchContext<'_, O>,
        state: Nsga2State,
    ) -> Result<(Nsga2State, StepStatus)> {
        self.validate()?;
        if state.population.is_empty() {
            let state = self.initial_generation(ctx)?;
            let status = if state.population.is_empty() {
                StepStatus::Finished(TerminationReason::SpaceExhausted)
            } else {
                StepStatus::Continue
            };
            return Ok((state, status));
        }
        let (rank, crowding) = rank_and_crowding(ctx.archive(), &state.population);
        let target = self.population_size.min(ctx.remaining_evaluations());
        let space = ctx.space();
        let mut offspring = NovelBatch::with_capacity(target);
        let max_attempts = 20 * target + 100;
        let mut attempts = 0;
        while offspring.len() < target && attempts < max_attempts {
            attempts += 1;
            let first = binary_tournament(&rank, &crowding, ctx.rng());
            let mut child = ctx.archive()[state.population[first]].genome.clone();
            if ctx.rng().random_bool(self.crossover_probability) {
                let second = binary_tournament(&rank, &crowding, ctx.rng());
                let (archive, rng) = ctx.archive_and_rng();
                let second = &archive[state.population[second]].genome;
                // Uniform crossover, one random bit per gene, 64 genes per draw.
                let mut bits = 0u64;
                for (gene_index, (gene, &other)) in child.iter_mut().zip(second).enumerate() {
                    if gene_index % 64 == 0 {
                        bits = rng.random();
                    }
                    if bits & 1 == 1 {
                        *gene = other;
                    }
                    bits >>= 1;
                }
            }
            self.mutate(&mut child, |g| space.n_choices(g), ctx.rng());
            offspring.push_if_novel(ctx, child);
        }
        // Variation could not find enough new genomes (a converged population in a small
        // space): top up with random new ones so the budget keeps buying information.
        offspring.fill_with_random(ctx, target);
        if offspring.is_empty() {
            return Ok((state, StepStatus::Finished(TerminationReason::SpaceExhausted)));
        }
        let mut merged = state.population;
        merged.extend(offspring.evaluate(ctx)?);
        let population = select_survivors(ctx.archive(), &merged, self.population_size);
        Ok((Nsga2State { population, generation: state.generation + 1 }, StepStatus::Continue))
    }

    fn name(&self) -> &'static str {
        "nsga2"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn mutation_stays_in_range_and_changes_the_gene() {
        let mut rng = SearchRng::seed_from_u64(3);
        for mutation in [
            Mutation::Uniform,
            Mutation::Neighbour { max_step: 2 },
            Mutation::Mixed { max_step: 1, neighbour_probability: 0.5 },
        ] {
            // Mutation rate equal to the genome length forces every gene to mutate.
            let engine = Nsga2 { mutation_rate: 5.0, mutation, ..Nsga2::default() };
            for _ in 0..200 {
                let before = vec![0, 4, 2, 1, 0];
                let mut genome = before.clone();
                engine.mutate(&mut genome, |g| [3, 5, 5, 2, 1][g], &mut rng);
                for g in 0..5 {
                    assert!(genome[g] < [3, 5, 5, 2, 1][g]);
                    // Gene 4 has a single choice and cannot change; the others must.
                    assert_eq!(genome[g] == before[g], g == 4, "{mutation:?} {genome:?}");
                    if let Mutation::Neighbour { max_step } = mutation {
                        assert!(genome[g].abs_diff(before[g]) <= max_step);
                    }
                }
            }
        }
    }

    #[test]
    fn mutated_gene_count_follows_the_binomial_law() {
        // Each of 50 genes mutates with probability 2/50: Binomial(50, 0.04), mean 2, and
        // every position equally likely (800 expected hits per position in 20,000 trials,
        // standard deviation about 28).
        let engine = Nsga2 { mutation_rate: 2.0, ..Nsga2::default() };
        let mut rng = SearchRng::seed_from_u64(4);
        let trials = 20_000;
        let mut hits = [0usize; 50];
        for _ in 0..trials {
            let mut genome = vec![0; 50];
            engine.mutate(&mut genome, |_| 10, &mut rng);
            for (g, &choice) in genome.iter().enumerate() {
                hits[g] += usize::from(choice != 0);
            }
        }
        let mean = hits.iter().sum::<usize>() as f64 / trials as f64;
        assert!((mean - 2.0).abs() < 0.05, "mean mutated genes {mean}");
        assert!(hits.iter().all(|&h| h.abs_diff(800) < 150), "{hits:?}");
    }

    #[test]
    fn survivors_fill_by_fronts_then_crowding() {
        let candidate = |index: usize, objectives: [f64; 2]| EvaluatedCandidate {
            index,
            step: 0,
            genome: vec![],
            evaluation: Evaluation::feasible(objectives.to_vec()),
        };
        // Front 0: (0,4) (1,3) (2,2) (4,0); front 1: (3,3). Keep 3: the two extremes and the
        // most isolated interior point, (2,2) with crowding (4-1)/4 + (3-0)/4 = 1.5 against
        // (1,3) with (2-0)/4 + (4-2)/4 = 1.0.
        let archive = vec![
            candidate(0, [9.0, 9.0]),
            candidate(1, [1.0, 3.0]),
            candidate(2, [3.0, 3.0]),
            candidate(3, [0.0, 4.0]),
            candidate(4, [2.0, 2.0]),
            candidate(5, [4.0, 0.0]),
        ];
        assert_eq!(select_survivors(&archive, &[1, 2, 3, 4, 5], 3), vec![3, 5, 4]);
    }
}
