//! Fast genome hashing and the genome index behind the executor's cache and the engines'
//! batches.
//!
//! Genomes are short vectors of small integers hashed millions of times in a run; the
//! standard SipHash dominated profiles. Hash-flooding resistance is not needed here: the keys
//! come from the search itself. The scheme is the multiply-rotate one of rustc's FxHasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash-style hasher: rotate, xor a word, multiply; long inputs in four independent lanes.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct GenomeHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

fn mix(state: u64, word: u64) -> u64 {
    (state.rotate_left(5) ^ word).wrapping_mul(SEED)
}

fn word(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    u64::from_le_bytes(word)
}

impl Hasher for GenomeHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Four lanes break the multiply's dependency chain for genome-sized inputs (hundreds
        // of bytes); the lanes are folded into the state at the end.
        let mut lanes = [self.0, 1, 2, 3];
        let mut blocks = bytes.chunks_exact(32);
        for block in &mut blocks {
            for (lane, chunk) in lanes.iter_mut().zip(block.chunks_exact(8)) {
                *lane = mix(*lane, word(chunk));
            }
        }
        let mut state = lanes.iter().fold(0, |state, &lane| mix(state, lane));
        let mut words = blocks.remainder().chunks_exact(8);
        for chunk in &mut words {
            state = mix(state, word(chunk));
        }
        for &byte in words.remainder() {
            state = mix(state, u64::from(byte));
        }
        self.0 = state;
    }

    fn write_usize(&mut self, value: usize) {
        self.0 = mix(self.0, value as u64);
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = mix(self.0, value);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weakly mixed and hash tables index by them: fold
        // the high half down (the SplitMix64 finaliser's first step).
        let h = self.0;
        (h ^ (h >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (h >> 29)
    }
}

/// Hashes a genome with [`GenomeHasher`].
pub(crate) fn genome_hash(genome: &[usize]) -> u64 {
    use std::hash::Hash;
    let mut hasher = GenomeHasher::default();
    genome.hash(&mut hasher);
    hasher.finish()
}

/// A hasher for keys that are already well-mixed hashes.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Debug, Clone)]
enum Slot {
    One(usize),
    Many(Vec<usize>),
}

/// An index from genomes to positions in a vector that owns them, keyed by [`genome_hash`]:
/// unlike a `HashMap<Vec<usize>, usize>` it stores no second copy of each genome, and a
/// caller that already has the hash does not hash again.
#[derive(Debug, Clone, Default)]
pub(crate) struct GenomeIndex {
    slots: HashMap<u64, Slot, BuildHasherDefault<IdentityHasher>>,
}

impl GenomeIndex {
    /// An index with room for `capacity` genomes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        GenomeIndex { slots: HashMap::with_capacity_and_hasher(capacity, Default::default()) }
    }

    /// The position of `genome` (whose hash is `hash`); `genome_at` reads the owner.
    pub(crate) fn find<'a>(
        &self,
        hash: u64,
        genome: &[usize],
        genome_at: impl Fn(usize) -> &'a [usize],
    ) -> Option<usize> {
        match self.slots.get(&hash)? {
            Slot::One(position) => (genome_at(*position) == genome).then_some(*position),
            Slot::Many(positions) => positions.iter().copied().find(|&p| genome_at(p) == genome),
        }
    }

    /// Records that the genome with hash `hash` is at `position` (the caller checked that it
    /// is not there yet).
    pub(crate) fn insert(&mut self, hash: u64, position: usize) {
        match self.slots.entry(hash) {
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(Slot::One(position));
            }
            std::collections::hash_map::Entry::Occupied(mut entry) => {
                let slot = entry.get_mut();
                match slot {
                    Slot::One(first) => *slot = Slot::Many(vec![*first, position]),
                    Slot::Many(positions) => positions.push(position),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_bits_of_genome_hashes_are_spread_evenly() {
        // 10,000 genomes of a 4-gene, 10-choice space into 1,024 buckets by the low 10 bits
        // (what a hash table uses): about 9.8 per bucket; a poorly mixed hash piles them up.
        let mut buckets = vec![0usize; 1024];
        for index in 0..10_000usize {
            let genome = [index / 1000, index / 100 % 10, index / 10 % 10, index % 10];
            buckets[(genome_hash(&genome) & 1023) as usize] += 1;
        }
        let max = buckets.iter().max().copied().unwrap_or(0);
        assert!(max <= 30, "fullest bucket holds {max}");
    }

    #[test]
    fn index_tells_equal_genomes_from_colliding_ones() {
        let owner = [vec![1, 2, 3], vec![3, 2, 1], vec![0, 0, 0]];
        let mut index = GenomeIndex::default();
        // Force a collision: both of the first two genomes under the same hash.
        index.insert(7, 0);
        index.insert(7, 1);
        index.insert(genome_hash(&owner[2]), 2);
        let at = |p: usize| owner[p].as_slice();
        assert_eq!(index.find(7, &[3, 2, 1], at), Some(1));
        assert_eq!(index.find(7, &[1, 2, 3], at), Some(0));
        assert_eq!(index.find(7, &[9, 9, 9], at), None);
        assert_eq!(index.find(genome_hash(&owner[2]), &[0, 0, 0], at), Some(2));
    }
}
