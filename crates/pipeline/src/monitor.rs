//! Where a run's progress goes.

/// Where progress goes: stages as text, and engine progress through the observer.
pub trait RunMonitor: Send + Sync {
    /// A stage starts (`cost tables`, `per-layer sensitivity`, ...).
    fn stage(&self, message: &str);
    /// Sensitivity progress: `done` of `total` gene × option evaluations.
    fn sensitivity(&self, done: usize, total: usize);
}
