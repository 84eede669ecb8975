//! One module per subcommand.

pub(crate) mod apply;
pub(crate) mod calibrate;
pub(crate) mod estimate;
pub(crate) mod evaluate;
pub(crate) mod export;
pub(crate) mod groups;
pub(crate) mod measure;
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

/// `--engine`: one of the pipeline's engine names, checked by clap (which lists them in errors
/// and help).
pub(crate) fn engine_parser()
-> impl clap::builder::TypedValueParser<Value = sculpt_pipeline::EngineKind> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(sculpt_pipeline::EngineKind::ALL.map(|e| e.name()))
        .try_map(|name| {
            sculpt_pipeline::EngineKind::parse(&name)
                .ok_or_else(|| format!("unknown engine `{name}`"))
        })
}

/// `--proxy`: one of the pipeline's accuracy proxies, checked by clap.
pub(crate) fn proxy_parser()
-> impl clap::builder::TypedValueParser<Value = sculpt_pipeline::ProxyMode> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(sculpt_pipeline::ProxyMode::ALL.map(|p| p.name()))
        .try_map(|name| {
            sculpt_pipeline::ProxyMode::parse(&name)
                .ok_or_else(|| format!("unknown proxy `{name}`"))
        })
}
