//! The `sculpt` command line: parses arguments, calls the libraries, prints results.
//! No domain logic lives here; see ARCHITECTURE.md.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod output;
mod progress;

// candle allocates a fresh buffer for every intermediate tensor; glibc's allocator returns large
// ones to the OS each time (mmap/munmap), which made training about a third slower here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hardware-aware model-compression search.
#[derive(Parser, Debug)]
#[command(name = "sculpt", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Search per-layer compression plans for a model on a device; write the Pareto front.
    Search(cmd::search::Args),
    /// Per-layer shapes, parameters, MACs and bytes of a model.
    Profile(cmd::profile::Args),
    /// The channel groups of a model: layers whose channels are pruned together.
    Groups(cmd::groups::Args),
    /// Accuracy (classifiers) or embedding statistics (encoders) of a model on data.
    Evaluate(cmd::evaluate::Args),
    /// Train a model (or the bundled demo models) on Fashion-MNIST.
    Train(cmd::train::Args),
    /// Apply a compression plan and write the compressed model.
    Apply(cmd::apply::Args),
    /// Write a (compressed) model as ONNX, for onnxruntime and other runtimes.
    Export(cmd::export::Args),
    /// End-to-end latency of a (compressed) model through a runner on the target device.
    Measure(cmd::measure::Args),
    /// Per-layer latency, energy and bytes of a (compressed) model on a device profile.
    Estimate(cmd::estimate::Args),
    /// Fit the host-CPU profile to micro-benchmarks of this machine, and validate it.
    Calibrate(cmd::calibrate::Args),
    /// Write the HTML/Markdown report of a run directory, or compare several runs.
    Report(cmd::report::Args),
    /// Per-layer sensitivity of every option of a search space (the accuracy proxy's table).
    Sensitivity(cmd::proxy::SensitivityArgs),
    /// How well the accuracy proxy ranks random plans against full held-out evaluations.
    ProxyCheck(cmd::proxy::ProxyCheckArgs),
    /// Many searches from one sweep file: plan, run here, submit to SLURM, status, merge.
    Sweep(cmd::sweep::Args),
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `sculpt ... | head` closes the pipe early; Rust ignores SIGPIPE, so printing then panics.
/// Exit quietly instead, as a Unix tool does (status 141 = 128 + SIGPIPE).
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Search(args) => cmd::search::run(&args),
        Command::Profile(args) => cmd::profile::run(&args),
        Command::Groups(args) => cmd::groups::run(&args),
        Command::Evaluate(args) => cmd::evaluate::run(&args),
        Command::Train(args) => cmd::train::run(&args),
        Command::Apply(args) => cmd::apply::run(&args),
        Command::Export(args) => cmd::export::run(&args),
        Command::Measure(args) => cmd::measure::run(&args),
        Command::Estimate(args) => cmd::estimate::run(&args),
        Command::Calibrate(args) => cmd::calibrate::run(&args),
        Command::Report(args) => cmd::report::run(&args),
        Command::Sensitivity(args) => cmd::proxy::sensitivity(&args),
        Command::ProxyCheck(args) => cmd::proxy::proxy_check(&args),
        Command::Sweep(args) => cmd::sweep::run(&args),
    }
}
