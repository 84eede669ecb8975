//! `sculpt report`: the HTML and Markdown report of a run directory, and comparisons of runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The run directory written by `sculpt search`.
    run: Option<PathBuf>,
    /// Where to write the report (default: RUN/report).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Overlay the fronts of several runs and compare them.
    Compare {
        /// Run directories.
        #[arg(required = true, num_args = 2..)]
        runs: Vec<PathBuf>,
        /// Where to write the comparison.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Writes Parquet tables and the report of a run directory; returns the HTML file.
pub(crate) fn write_report(run_dir: &Path) -> anyhow::Result<PathBuf> {
    write_report_to(run_dir, &run_dir.join("report"))
}

fn write_report_to(run_dir: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let written = sculpt_report::write_tables(run_dir)?;
    for missing in &written.missing {
        eprintln!("note: {} is missing; no Parquet copy written", missing.display());
    }
    let run = sculpt_run::read_run(run_dir)?;
    for note in &run.notes {
        eprintln!("note: {note}");
    }
    let files = sculpt_report::write_report(&run, out)?;
    for note in &files.notes {
        eprintln!("note: {note}");
    }
    Ok(files.index_html)
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match (&args.command, &args.run) {
        (Some(Command::Compare { runs, out }), _) => {
            let runs: Vec<_> =
                runs.iter().map(|r| sculpt_run::read_run(r)).collect::<Result<_, _>>()?;
            let files = sculpt_report::compare(&runs, out)?;
            for note in &files.notes {
                eprintln!("note: {note}");
            }
            println!("wrote {}", files.index_html.display());
        }
        (None, Some(run)) => {
            let out = args.out.clone().unwrap_or_else(|| run.join("report"));
            let html = write_report_to(run, &out)?;
            let summary = sculpt_report::summarize(&sculpt_run::read_run(run)?);
            for line in &summary.lines {
                println!("{line}");
            }
            println!("wrote {}", html.display());
        }
        (None, None) => anyhow::bail!("give a run directory, or `compare RUN RUN... --out DIR`"),
    }
    Ok(ExitCode::SUCCESS)
}
