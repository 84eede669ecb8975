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

/// How each runner call is made (`measure`, `calibrate --runner`).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RunnerCalls {
    /// Untimed runs first, in every runner call.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Timed runs per runner call.
    #[arg(long, default_value_t = 50)]
    repeat: usize,
    /// Seconds one runner call may take before it is stopped.
    #[arg(long, default_value_t = 600.0)]
    timeout: f64,
}

impl RunnerCalls {
    /// The runner `command` called with these settings.
    pub(crate) fn runner(&self, command: &str) -> anyhow::Result<sculpt_pipeline::Runner> {
        anyhow::ensure!(self.repeat > 0, "--repeat: needs at least 1 timed run");
        anyhow::ensure!(
            self.timeout.is_finite() && self.timeout > 0.0,
            "--timeout: expected seconds > 0, got {}",
            self.timeout
        );
        Ok(sculpt_pipeline::Runner {
            command: command.to_string(),
            warmup: self.warmup,
            repeat: self.repeat,
            timeout: std::time::Duration::from_secs_f64(self.timeout),
        })
    }
}

/// The model a command costs or times, the plan that compresses it first, and the input shape
/// (`estimate`, `measure`).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ModelInput {
    /// The model (a compressed file is used as stored).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub(crate) model: String,
    /// A compression plan applied first.
    #[arg(long)]
    pub(crate) plan: Option<std::path::PathBuf>,
    /// Samples per inference.
    #[arg(long, default_value_t = 1)]
    pub(crate) batch: usize,
    /// Tokens per sample, for text models without a fixed length.
    #[arg(long, default_value_t = 128)]
    pub(crate) tokens: usize,
}
