//! Where each file of a run directory lives, relative to the directory.

/// Provenance and settings.
pub const RUN_YAML: &str = "run.yaml";
/// The non-dominated feasible plans (or the closest plans when none is feasible).
pub const FRONT_CSV: &str = "front.csv";
/// Every evaluated plan.
pub const CANDIDATES_CSV: &str = "candidates.csv";
/// The Parquet copy of `front.csv` (written by sculpt-report).
pub const FRONT_PARQUET: &str = "front.parquet";
/// The Parquet copy of `candidates.csv` (written by sculpt-report).
pub const CANDIDATES_PARQUET: &str = "candidates.parquet";
/// Folder of the front's plans.
pub const PLANS_DIR: &str = "plans";
/// Folder of the per-layer tables.
pub const TABLES_DIR: &str = "tables";
/// Folder of the recovered models (`--recover`).
pub const RECOVERED_DIR: &str = "recovered";
/// Folder of the report (written by sculpt-report).
pub const REPORT_DIR: &str = "report";
/// Modelled cost of every layer × option.
pub const COSTS_CSV: &str = "tables/costs.csv";
/// Accuracy-proxy delta of every layer × option.
pub const SENSITIVITY_CSV: &str = "tables/sensitivity.csv";
/// Hypervolume after each engine step.
pub const CONVERGENCE_CSV: &str = "tables/convergence.csv";
/// Per-layer breakdown of the baseline and of every front plan.
pub const LAYERS_CSV: &str = "tables/layers.csv";
/// The engine's checkpoint while a search runs (removed when it finishes).
pub const CHECKPOINT_JSON: &str = "checkpoint.json";

/// The plan file of front row `k`, relative to the run directory.
pub fn front_plan_file(k: usize) -> String {
    format!("{PLANS_DIR}/front-{k:03}.yaml")
}

/// The recovered model of front row `k`, relative to the run directory.
pub fn recovered_model_file(k: usize) -> String {
    format!("{RECOVERED_DIR}/front-{k:03}.safetensors")
}
