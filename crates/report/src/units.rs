//! How reports show quantities and constraints: labels, display units and plain-word sentences.
//! The run directory's types (sculpt-run) know columns and SI units; this is presentation.

use sculpt_run::{Constraint, PlanRow, Quantity, RunMeta};

use crate::format::human;

/// How a run's quantities are shown: label, display unit and scale. Latency, energy and size
/// are the same for every run; the accuracy loss depends on the run's metric: points (× 100) of
/// accuracy, agreement or cosine, or the data-free proxy's relative weight error as it is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Units {
    /// The metric behind `accuracy_loss`, `None` for the data-free weight error.
    metric: Option<String>,
}

impl Units {
    /// The units of a run.
    pub(crate) fn of(meta: &RunMeta) -> Units {
        Units {
            metric: meta
                .loss_is_metric()
                .then(|| meta.metric.clone().unwrap_or_else(|| "accuracy".into())),
        }
    }

    /// A lower-case human name: `accuracy loss`, `cosine loss`, `weight error`, `latency`,
    /// `energy`, `size`.
    pub(crate) fn label(&self, q: Quantity) -> String {
        match q {
            Quantity::AccuracyLoss => match &self.metric {
                Some(metric) => format!("{metric} loss"),
                None => "weight error".to_string(),
            },
            Quantity::Latency => "latency".to_string(),
            Quantity::Energy => "energy".to_string(),
            Quantity::Size => "size".to_string(),
        }
    }

    /// The unit reports use: `points`, `relative`, `ms`, `mJ`, `MB`.
    pub(crate) fn unit(&self, q: Quantity) -> &'static str {
        match q {
            Quantity::AccuracyLoss if self.metric.is_some() => "points",
            Quantity::AccuracyLoss => "relative",
            Quantity::Latency => "ms",
            Quantity::Energy => "mJ",
            Quantity::Size => "MB",
        }
    }

    /// Converts a value in the tables' unit (fraction, s, J, bytes) to [`Units::unit`].
    pub(crate) fn to_display(&self, q: Quantity, si: f64) -> f64 {
        match q {
            Quantity::AccuracyLoss if self.metric.is_some() => si * 100.0,
            Quantity::AccuracyLoss => si,
            Quantity::Latency | Quantity::Energy => si * 1e3,
            Quantity::Size => si / 1e6,
        }
    }

    /// `latency (ms)`: the axis and column title.
    pub(crate) fn axis_title(&self, q: Quantity) -> String {
        format!("{} ({})", self.label(q), self.unit(q))
    }

    /// `−0.80 points accuracy` for a loss of 0.008 (`+0.10` for a gain), `weight error 0.12`.
    pub(crate) fn loss_words(&self, loss: f64) -> String {
        match &self.metric {
            Some(metric) => {
                let points = -loss * 100.0;
                let sign = if points < 0.0 { "−" } else { "+" };
                format!("{sign}{:.2} points {metric}", points.abs())
            }
            None => format!("weight error {}", crate::format::sig(loss, 3)),
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
    fn describe(&self, units: &Units) -> String;
    /// Why `plan` fails this constraint (`latency 0.39 ms > 0.1 ms`).
    fn explain_failure(&self, plan: &PlanRow, units: &Units) -> String;
}

impl ConstraintText for Constraint {
    fn describe(&self, units: &Units) -> String {
        match self.limit() {
            Some((quantity, limit)) => format!(
                "≤ {} {} {}",
                human(units.to_display(quantity, limit)),
                units.unit(quantity),
                units.label(quantity)
            ),
            None => match self {
                Constraint::FitsInMemory => "fits in memory".to_string(),
                Constraint::Other { key, value } => format!("{key} = {value}"),
                _ => self.key().to_string(),
            },
        }
    }

    fn explain_failure(&self, plan: &PlanRow, units: &Units) -> String {
        match self.limit() {
            Some((quantity, limit)) => {
                let value = plan.quantity(quantity);
                let unit = units.unit(quantity);
                if value > limit {
                    format!(
                        "{} {} {unit} > {} {unit}",
                        units.label(quantity),
                        human(units.to_display(quantity, value)),
                        human(units.to_display(quantity, limit))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_are_shown_in_their_own_unit() {
        let accuracy =
            Units::of(&RunMeta { metric: Some("accuracy".into()), ..RunMeta::default() });
        assert_eq!(accuracy.axis_title(Quantity::AccuracyLoss), "accuracy loss (points)");
        assert_eq!(accuracy.to_display(Quantity::AccuracyLoss, 0.0125), 1.25);
        assert_eq!(accuracy.loss_words(0.008), "−0.80 points accuracy");
        let data_free = Units::of(&RunMeta {
            metric: Some("weight_error".into()),
            proxy: Some("data-free".into()),
            ..RunMeta::default()
        });
        assert_eq!(data_free.axis_title(Quantity::AccuracyLoss), "weight error (relative)");
        assert_eq!(data_free.to_display(Quantity::AccuracyLoss, 0.5), 0.5);
        assert_eq!(data_free.loss_words(1.96384), "weight error 1.96");
        // The other quantities do not depend on the metric.
        assert_eq!(data_free.axis_title(Quantity::Size), "size (MB)");
        assert_eq!(data_free.to_display(Quantity::Latency, 0.002), 2.0);
    }
}
