//! The crate's single error type.

/// Everything that can go wrong in `sculpt-search`.
///
/// Variants are structured so that a caller (the binary) can add context and turn them into
/// messages and exit codes without parsing strings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The search space has no genes.
    #[error("the search space has no genes")]
    EmptySpace,

    /// A gene was declared with zero choices.
    #[error("gene {gene_index} ({name:?}) has no choices; every gene needs at least one")]
    GeneWithoutChoices {
        /// Position of the gene in the space.
        gene_index: usize,
        /// Name of the gene.
        name: String,
    },

    /// A genome does not have one choice per gene.
    #[error("genome has {found} genes, the space has {expected}")]
    GenomeLength {
        /// Number of genes in the space.
        expected: usize,
        /// Length of the genome that was given.
        found: usize,
    },

    /// A genome picks a choice that its gene does not have.
    #[error("gene {gene_index} has {n_choices} choices, the genome picks choice {choice}")]
    ChoiceOutOfRange {
        /// Position of the gene in the space.
        gene_index: usize,
        /// The choice index that was given.
        choice: usize,
        /// Number of choices of the gene.
        n_choices: usize,
    },

    /// Two things that must have the same length do not.
    #[error("{what}: expected {expected} values, found {found}")]
    DimensionMismatch {
        /// What was being checked, e.g. "contributions of gene 3, choice 2".
        what: String,
        /// The expected length.
        expected: usize,
        /// The length that was given.
        found: usize,
    },

    /// A number that must be finite is NaN or infinite.
    #[error("{what} is not finite ({value})")]
    NonFinite {
        /// What the number is, e.g. "base value of objective 1".
        what: String,
        /// The offending value.
        value: f64,
    },

    /// A configuration value is out of its valid range.
    #[error("invalid configuration: {parameter} {reason}")]
    InvalidConfig {
        /// Name of the parameter.
        parameter: &'static str,
        /// Why it is invalid, as the end of a sentence ("must be at least 1").
        reason: String,
    },

    /// An objective returned an evaluation that cannot be used.
    #[error("evaluation of genome #{evaluation_index} is invalid: {reason}")]
    InvalidEvaluation {
        /// Index the evaluation would have had in the archive.
        evaluation_index: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// An engine asked for more new evaluations than the remaining budget allows.
    ///
    /// This is a bug in the engine, not in the user's input.
    #[error("engine asked for {requested} new evaluations with {remaining} left in the budget")]
    BudgetOverrun {
        /// Number of new genomes in the batch.
        requested: usize,
        /// Evaluations left in the budget.
        remaining: usize,
    },

    /// The space is too large for an engine that enumerates it.
    #[error("the space has {size} genomes, more than the cap of {cap} for {engine}")]
    SpaceTooLarge {
        /// Which engine refused.
        engine: &'static str,
        /// Number of genomes in the space, as a decimal string (it may not fit in any integer).
        size: String,
        /// The configured cap.
        cap: u64,
    },

    /// The exact Pareto dynamic programme kept more partial states than allowed.
    #[error(
        "exact Pareto search: {states} partial states after gene {gene_index}, more than the cap \
         of {cap}; raise the cap, add constraints or use a heuristic engine"
    )]
    ExactStateCapExceeded {
        /// The gene after which the cap was exceeded.
        gene_index: usize,
        /// Number of non-dominated partial states at that point.
        states: usize,
        /// The configured cap.
        cap: usize,
    },

    /// No genome of the space satisfies the constraints (found by an exact engine).
    #[error("no genome satisfies the constraints")]
    NoFeasibleGenome,

    /// The caller's [`CheckpointSink`](crate::CheckpointSink) could not store a checkpoint.
    #[error("the checkpoint could not be saved: {msg}")]
    CheckpointSave {
        /// What the sink said.
        msg: String,
    },

    /// An engine's state could not be encoded into or decoded from a checkpoint.
    #[error("checkpoint: the engine state does not fit this engine ({source})")]
    CheckpointFormat {
        /// The underlying JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// A checkpoint was taken by a different engine, configuration or space.
    #[error("the checkpoint does not match this run: {field} differs")]
    CheckpointMismatch {
        /// Which part differs ("engine", "engine configuration", "space", "seed", ...).
        field: &'static str,
    },

    /// Fitting the Gaussian-process surrogate failed.
    #[error("Gaussian-process surrogate: {reason}")]
    Surrogate {
        /// What failed.
        reason: String,
    },
}

/// Shorthand for results whose error is [`SearchError`].
pub type Result<T, E = SearchError> = std::result::Result<T, E>;
