//! The four quantities every plan is scored on.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One quantity sculpt scores a plan on and may minimise: its table column, its SI unit and the
/// unit reports show it in. All four are minimised.
///
/// (The search crate's `Objective` is the trait an engine minimises; a `Quantity` is one of the
/// four numbers a plan has, whether or not a run searched on it.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Quantity {
    /// `accuracy_loss`: the baseline's task metric minus the plan's, a fraction (or, for the
    /// data-free proxy, a dimensionless weight error).
    #[serde(rename = "accuracy_loss")]
    AccuracyLoss,
    /// `latency_s`: seconds per inference.
    #[serde(rename = "latency_s")]
    Latency,
    /// `energy_j`: joules per inference.
    #[serde(rename = "energy_j")]
    Energy,
    /// `size_bytes`: stored bytes of the weights (scales and indices included).
    #[serde(rename = "size_bytes")]
    Size,
}

impl Quantity {
    /// Every quantity, in column order.
    pub const ALL: [Quantity; 4] =
        [Quantity::AccuracyLoss, Quantity::Latency, Quantity::Energy, Quantity::Size];

    /// The column name in candidates.csv and front.csv, also the name in run.yaml's `objectives`
    /// and in a search space's `objectives`.
    pub fn column(self) -> &'static str {
        match self {
            Quantity::AccuracyLoss => "accuracy_loss",
            Quantity::Latency => "latency_s",
            Quantity::Energy => "energy_j",
            Quantity::Size => "size_bytes",
        }
    }

    /// The quantity whose column is `name`.
    pub fn from_column(name: &str) -> Option<Quantity> {
        Quantity::ALL.into_iter().find(|q| q.column() == name)
    }

    /// The position in [`Quantity::ALL`] (and in a `[f64; 4]` of a plan's quantities).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.column())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_round_trip_and_index_matches_all() {
        for (k, q) in Quantity::ALL.into_iter().enumerate() {
            assert_eq!(Quantity::from_column(q.column()), Some(q));
            assert_eq!(q.index(), k);
        }
        assert_eq!(Quantity::from_column("latency"), None);
        let yaml = sculpt_yaml::to_string(&Quantity::ALL.to_vec()).unwrap();
        assert_eq!(yaml, "- accuracy_loss\n- latency_s\n- energy_j\n- size_bytes\n");
    }
}
