//! Limits a plan must meet: as a search is given them ([`Constraints`]) and as a reader lists
//! them ([`Constraint`]).

use serde::{Deserialize, Serialize};

use crate::quantity::Quantity;
use crate::rows::PlanRow;

/// The limits of a search, as run.yaml, search spaces, sweep files and the command line give
/// them. Unknown keys are rejected.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraints {
    /// Latency at most this, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_s: Option<f64>,
    /// Energy at most this, joules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_energy_j: Option<f64>,
    /// Stored weights at most this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size_bytes: Option<f64>,
    /// Accuracy loss at most this (a fraction: 0.01 = one point).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_accuracy_drop: Option<f64>,
    /// Weights plus peak activations fit in the device's memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fits_in_memory: Option<bool>,
}

impl Constraints {
    /// Whether no constraint is set.
    pub fn is_empty(&self) -> bool {
        *self == Constraints::default()
    }

    /// The upper bound on each quantity, in [`Quantity::ALL`] order.
    pub fn bounds(&self) -> [Option<f64>; 4] {
        [self.max_accuracy_drop, self.max_latency_s, self.max_energy_j, self.max_size_bytes]
    }

    /// Merges `other` into `self` (values in `other` win).
    pub fn merged(&self, other: &Constraints) -> Constraints {
        Constraints {
            max_latency_s: other.max_latency_s.or(self.max_latency_s),
            max_energy_j: other.max_energy_j.or(self.max_energy_j),
            max_size_bytes: other.max_size_bytes.or(self.max_size_bytes),
            max_accuracy_drop: other.max_accuracy_drop.or(self.max_accuracy_drop),
            fits_in_memory: other.fits_in_memory.or(self.fits_in_memory),
        }
    }

    /// The set constraints as a list, in the order latency, energy, size, accuracy, memory.
    pub fn to_list(&self) -> Vec<Constraint> {
        let mut list = Vec::new();
        list.extend(self.max_latency_s.map(Constraint::MaxLatency));
        list.extend(self.max_energy_j.map(Constraint::MaxEnergy));
        list.extend(self.max_size_bytes.map(Constraint::MaxSize));
        list.extend(self.max_accuracy_drop.map(Constraint::MaxAccuracyDrop));
        if self.fits_in_memory == Some(true) {
            list.push(Constraint::FitsInMemory);
        }
        list
    }
}

/// One constraint of a run, as a reader lists them.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Constraint {
    /// `max_latency_s`: latency per inference at most this many seconds.
    MaxLatency(f64),
    /// `max_energy_j`: energy per inference at most this many joules.
    MaxEnergy(f64),
    /// `max_size_bytes`: stored weights at most this many bytes.
    MaxSize(f64),
    /// `max_accuracy_drop`: accuracy loss at most this fraction.
    MaxAccuracyDrop(f64),
    /// `fits_in_memory: true`: the plan fits the device's memory (only the search can check it).
    FitsInMemory,
    /// A key this version does not know (a run written by a newer sculpt); it is shown as given
    /// and checked through the `violated` column only.
    Other {
        /// The key in run.yaml.
        key: String,
        /// The value as written.
        value: String,
    },
}

impl Constraint {
    /// The key in run.yaml, also the name used in the `violated` column.
    pub fn key(&self) -> &str {
        match self {
            Constraint::MaxLatency(_) => "max_latency_s",
            Constraint::MaxEnergy(_) => "max_energy_j",
            Constraint::MaxSize(_) => "max_size_bytes",
            Constraint::MaxAccuracyDrop(_) => "max_accuracy_drop",
            Constraint::FitsInMemory => "fits_in_memory",
            Constraint::Other { key, .. } => key,
        }
    }

    /// The quantity this constraint bounds and the bound in SI units.
    pub fn limit(&self) -> Option<(Quantity, f64)> {
        match *self {
            Constraint::MaxLatency(v) => Some((Quantity::Latency, v)),
            Constraint::MaxEnergy(v) => Some((Quantity::Energy, v)),
            Constraint::MaxSize(v) => Some((Quantity::Size, v)),
            Constraint::MaxAccuracyDrop(v) => Some((Quantity::AccuracyLoss, v)),
            Constraint::FitsInMemory | Constraint::Other { .. } => None,
        }
    }

    /// Whether `plan` meets this constraint: its `violated` column does not name the constraint
    /// and, for a constraint on a quantity, the plan's value is within the bound.
    pub fn is_met_by(&self, plan: &PlanRow) -> bool {
        if plan.violated.iter().any(|v| v == self.key()) {
            return false;
        }
        match self.limit() {
            Some((quantity, limit)) => plan.quantity(quantity) <= limit,
            None => true,
        }
    }

    /// The position in the order readers list constraints in.
    pub(crate) fn rank(&self) -> usize {
        match self {
            Constraint::MaxLatency(_) => 0,
            Constraint::MaxEnergy(_) => 1,
            Constraint::MaxSize(_) => 2,
            Constraint::MaxAccuracyDrop(_) => 3,
            Constraint::FitsInMemory => 4,
            Constraint::Other { .. } => 5,
        }
    }
}
