//! `sculpt groups`.

use std::process::ExitCode;

use serde_json::json;

use crate::output::{self, Format};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The model: builtin:NAME, a Hugging Face folder, a YAML spec, an ONNX file or a sculpt
    /// safetensors file.
    #[arg(long, default_value = super::DEFAULT_MODEL)]
    model: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Lists the channel groups of a model: the layers whose channels are pruned together, and why
/// a group cannot be pruned.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let model = super::load_model(&args.model)?;
    let graph = &model.graph;
    let groups = sculpt_compress::groups::channel_groups(graph)?;
    let names = |idx: &[usize]| -> Vec<String> {
        idx.iter().map(|&i| graph.nodes()[i].name.clone()).collect()
    };
    match args.format {
        Format::Json => {
            let list: Vec<_> = groups
                .groups
                .iter()
                .map(|g| {
                    json!({
                        "group": g.name(graph), "channels": g.channels,
                        "producers": names(&g.producers), "members": g.member_names(graph),
                        "prunable": g.blocked.is_none(), "blocked": g.blocked,
                    })
                })
                .collect();
            let doc = json!({ "model": model.name, "groups": list });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Csv | Format::Table => {
            let headers = ["group", "channels", "prunable", "producers", "members", "blocked"];
            let rows: Vec<Vec<String>> = groups
                .groups
                .iter()
                .map(|g| {
                    vec![
                        g.name(graph),
                        g.channels.to_string(),
                        if g.blocked.is_none() { "yes" } else { "no" }.to_string(),
                        names(&g.producers).join(" "),
                        g.member_names(graph).join(" "),
                        g.blocked.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            if args.format == Format::Csv {
                print!("{}", output::csv(&headers, &rows)?);
            } else {
                print!("{}", output::table(&headers, &rows));
                let prunable = groups.groups.iter().filter(|g| g.blocked.is_none()).count();
                println!(
                    "\n{}: {} channel groups, {prunable} prunable (a plan or space names a group \
                     by any of its producers)",
                    model.name,
                    groups.groups.len()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
