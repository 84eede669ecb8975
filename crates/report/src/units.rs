//! How reports show quantities and constraints: labels, display units and plain-word sentences.
//! The run directory's types (sculpt-run) know columns and SI units; this is presentation.

use sculpt_run::{Constraint, PlanRow, Quantity};

use crate::format::human;

/// The label and display unit of a [`Quantity`].
pub(crate) trait QuantityText: Copy {
    /// A lower-case human name: `accuracy loss`, `latency`, `energy`, `size`.
    fn label(self) -> &'static str;
    /// The unit reports use: `points`, `ms`, `mJ`, `MB`.
    fn unit(self) -> &'static str;
    /// Converts a value in the tables' SI unit (fraction, s, J, bytes) to [`QuantityText::unit`].
    fn to_display(self, si: f64) -> f64;
    /// `latency (ms)`: the axis and column title.
    fn axis_title(self) -> String {
        format!("{} ({})", self.label(), self.unit())
    }
}

impl QuantityText for Quantity {
    fn label(self) -> &'static str {
        match self {
            Quantity::AccuracyLoss => "accuracy loss",
            Quantity::Latency => "latency",
            Quantity::Energy => "energy",
            Quantity::Size => "size",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Quantity::AccuracyLoss => "points",
            Quantity::Latency => "ms",
            Quantity::Energy => "mJ",
            Quantity::Size => "MB",
        }
    }

    fn to_display(self, si: f64) -> f64 {
        match self {
            Quantity::AccuracyLoss => si * 100.0,
            Quantity::Latency | Quantity::Energy => si * 1e3,
            Quantity::Size => si / 1e6,
        }
    }
}

/// The (x, y) axes of a chart of two quantities: accuracy loss goes on the y axis when it is one
/// of them, otherwise the order is kept.
pub(crate) fn chart_axes(a: Quantity, b: Quantity) -> (Quantity, Quantity) {
    if a == Quantity::AccuracyLoss { (b, a) } else { (a, b) }
}

/// A constraint in plain words.
pub(crate) trait ConstraintText {
    /// `≤ 0.7 ms latency`, `fits in memory`.
    fn describe(&self) -> String;
    /// Why `plan` fails this constraint (`latency 0.39 ms > 0.1 ms`).
    fn explain_failure(&self, plan: &PlanRow) -> String;
}

impl ConstraintText for Constraint {
    fn describe(&self) -> String {
        match self.limit() {
            Some((quantity, limit)) => format!(
                "≤ {} {} {}",
                human(quantity.to_display(limit)),
                quantity.unit(),
                quantity.label()
            ),
            None => match self {
                Constraint::FitsInMemory => "fits in memory".to_string(),
                Constraint::Other { key, value } => format!("{key} = {value}"),
                _ => self.key().to_string(),
            },
        }
    }

    fn explain_failure(&self, plan: &PlanRow) -> String {
        match self.limit() {
            Some((quantity, limit)) => {
                let value = plan.quantity(quantity);
                let unit = quantity.unit();
                if value > limit {
                    format!(
                        "{} {} {unit} > {} {unit}",
                        quantity.label(),
                        human(quantity.to_display(value)),
                        human(quantity.to_display(limit))
                    )
                } else {
                    format!("{} (reported by the search)", self.key())
                }
            }
            None => match self {
                Constraint::FitsInMemory => "does not fit in memory".to_string(),
                _ => format!("violates {}", self.key()),
            },
        }
    }
}
