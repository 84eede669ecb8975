//! One module per subcommand.

pub(crate) mod evaluate;
pub(crate) mod profile;
pub(crate) mod train;

/// The model used when `--model` is not given.
pub(crate) const DEFAULT_MODEL: &str = "builtin:demo-cnn";

/// Loads a model with a message that says which one failed.
pub(crate) fn load_model(name: &str) -> anyhow::Result<sculpt_model::Model> {
    Ok(sculpt_model::load_model(name)?)
}
