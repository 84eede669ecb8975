//! Discrete search spaces: genes and genomes.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SearchError};

/// One decision of the search: a layer, or a group of layers tied to the same option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gene {
    /// Name shown to users, e.g. the layer name.
    pub name: String,
    /// Number of choices (options) of this gene; at least 1.
    pub n_choices: usize,
}

/// A validated discrete search space: one [`Gene`] per decision.
///
/// A genome is a `Vec<usize>` holding one choice index per gene, in gene order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Space {
    genes: Vec<Gene>,
}

impl Space {
    /// Builds a space, checking that it has at least one gene and every gene has a choice.
    pub fn new(genes: Vec<Gene>) -> Result<Self> {
        if genes.is_empty() {
            return Err(SearchError::EmptySpace);
        }
        if let Some((gene_index, gene)) = genes.iter().enumerate().find(|(_, g)| g.n_choices == 0) {
            return Err(SearchError::GeneWithoutChoices { gene_index, name: gene.name.clone() });
        }
        Ok(Space { genes })
    }

    /// Builds a space of anonymous genes `g0, g1, ...` with the given numbers of choices.
    pub fn from_choice_counts(n_choices: &[usize]) -> Result<Self> {
        Space::new(
            n_choices
                .iter()
                .enumerate()
                .map(|(gene_index, &n)| Gene { name: format!("g{gene_index}"), n_choices: n })
                .collect(),
        )
    }

    /// The genes, in genome order.
    pub fn genes(&self) -> &[Gene] {
        &self.genes
    }

    /// Number of genes (the genome length).
    pub fn n_genes(&self) -> usize {
        self.genes.len()
    }

    /// Number of choices of gene `gene_index`.
    ///
    /// # Panics
    /// If `gene_index` is out of range (an internal invariant; callers iterate over genes).
    pub fn n_choices(&self, gene_index: usize) -> usize {
        self.genes[gene_index].n_choices
    }

    /// Number of genomes in the space, or `None` if it does not fit in a `u128`.
    pub fn size(&self) -> Option<u128> {
        self.genes.iter().try_fold(1u128, |acc, g| acc.checked_mul(g.n_choices as u128))
    }

    /// Number of genomes in the space as a decimal string, exact even when it overflows `u128`.
    pub fn size_string(&self) -> String {
        match self.size() {
            Some(size) => size.to_string(),
            None => {
                let log10: f64 = self.genes.iter().map(|g| (g.n_choices as f64).log10()).sum();
                format!("about 10^{log10:.1}")
            }
        }
    }

    /// Checks that `genome` has one in-range choice per gene.
    pub fn check_genome(&self, genome: &[usize]) -> Result<()> {
        if genome.len() != self.genes.len() {
            return Err(SearchError::GenomeLength {
                expected: self.genes.len(),
                found: genome.len(),
            });
        }
        for (gene_index, (&choice, gene)) in genome.iter().zip(&self.genes).enumerate() {
            if choice >= gene.n_choices {
                return Err(SearchError::ChoiceOutOfRange {
                    gene_index,
                    choice,
                    n_choices: gene.n_choices,
                });
            }
        }
        Ok(())
    }

    /// The genome at position `index` of the mixed-radix enumeration (gene 0 varies slowest).
    ///
    /// Returns `None` if `index` is not below [`Space::size`].
    pub fn genome_at(&self, index: u128) -> Option<Vec<usize>> {
        if index >= self.size()? {
            return None;
        }
        let mut genome = vec![0; self.genes.len()];
        let mut rest = index;
        for (slot, gene) in genome.iter_mut().zip(&self.genes).rev() {
            let radix = gene.n_choices as u128;
            *slot = (rest % radix) as usize;
            rest /= radix;
        }
        Some(genome)
    }

    /// Draws a uniformly random genome.
    pub fn random_genome<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> Vec<usize> {
        self.genes.iter().map(|g| rng.random_range(0..g.n_choices)).collect()
    }
}

impl<'de> Deserialize<'de> for Space {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            genes: Vec<Gene>,
        }
        let raw = Raw::deserialize(deserializer)?;
        Space::new(raw.genes).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_space_and_empty_gene() {
        assert!(matches!(Space::new(vec![]), Err(SearchError::EmptySpace)));
        let err = Space::from_choice_counts(&[3, 0, 2]).unwrap_err();
        assert!(matches!(err, SearchError::GeneWithoutChoices { gene_index: 1, .. }));
    }

    #[test]
    fn enumeration_visits_every_genome_once() {
        let space = Space::from_choice_counts(&[2, 3, 1, 4]).unwrap();
        assert_eq!(space.size(), Some(24));
        let mut seen = std::collections::BTreeSet::new();
        for index in 0..24 {
            let genome = space.genome_at(index).unwrap();
            space.check_genome(&genome).unwrap();
            assert!(seen.insert(genome));
        }
        assert_eq!(space.genome_at(24), None);
        assert_eq!(space.genome_at(0), Some(vec![0, 0, 0, 0]));
        assert_eq!(space.genome_at(23), Some(vec![1, 2, 0, 3]));
    }

    #[test]
    fn check_genome_reports_the_offending_gene() {
        let space = Space::from_choice_counts(&[2, 3]).unwrap();
        assert!(matches!(
            space.check_genome(&[1]),
            Err(SearchError::GenomeLength { expected: 2, found: 1 })
        ));
        assert!(matches!(
            space.check_genome(&[1, 3]),
            Err(SearchError::ChoiceOutOfRange { gene_index: 1, choice: 3, n_choices: 3 })
        ));
    }

    #[test]
    fn size_overflow_is_reported_not_wrapped() {
        let space = Space::from_choice_counts(&[1000; 20]).unwrap();
        assert_eq!(space.size(), None);
        assert_eq!(space.size_string(), "about 10^60.0");
    }

    #[test]
    fn deserialising_validates() {
        let err = serde_json::from_str::<Space>(r#"{"genes":[{"name":"a","n_choices":0}]}"#);
        assert!(err.is_err());
        let space: Space =
            serde_json::from_str(r#"{"genes":[{"name":"a","n_choices":2}]}"#).unwrap();
        assert_eq!(space.n_genes(), 1);
    }
}
