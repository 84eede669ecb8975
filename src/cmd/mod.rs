//! One module per subcommand.

pub(crate) mod apply;
pub(crate) mod calibrate;
pub(crate) mod estimate;
pub(crate) mod evaluate;
pub(crate) mod profile;
pub(crate) mod proxy;
pub(crate) mod report;
pub(crate) mod search;
pub(crate) mod sweep;
pub(crate) mod train;

/// The model used when `--model` is not given.
pub(crate) const DEFAULT_MODEL: &str = "builtin:demo-cnn";

/// Loads any model sculpt accepts, compressed files included.
pub(crate) fn load_model(name: &str) -> anyhow::Result<sculpt_model::Model> {
    Ok(sculpt_compress::load_any(name, sculpt_compress::Kernels::Dequantized)?)
}

/// Like [`load_model`], choosing how quantized layers run.
pub(crate) fn load_model_with(
    name: &str,
    kernels: sculpt_compress::Kernels,
) -> anyhow::Result<sculpt_model::Model> {
    Ok(sculpt_compress::load_any(name, kernels)?)
}
