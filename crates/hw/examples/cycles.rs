//! Predicts systolic-array compute cycles for GEMM shapes, for the SCALE-Sim comparison in
//! `benches/scalesim`.
//!
//! Usage: `cargo run --example cycles -- PROFILE.yaml SHAPES.csv [ws|os|is]`
//!
//! `SHAPES.csv` has a header and the columns `name,m,n,k,groups`. The array geometry comes from
//! the profile; the optional third argument overrides its dataflow. Prints
//! `name,m,n,k,groups,dataflow,folds,cycles` to stdout, where `folds` is per group and `cycles`
//! covers all groups.

use std::path::Path;
use std::process::ExitCode;

use sculpt_hw::{Dataflow, Gemm, Profile};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cycles: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [profile_path, shapes_path, rest @ ..] = args.as_slice() else {
        return Err("usage: cycles PROFILE.yaml SHAPES.csv [ws|os|is]".into());
    };
    let profile = Profile::from_path(Path::new(profile_path))?;
    let mut array = profile
        .systolic()
        .ok_or_else(|| format!("{profile_path}: `{}` is not a systolic device", profile.name()))?;
    if let Some(dataflow) = rest.first() {
        array.dataflow = match dataflow.as_str() {
            "ws" => Dataflow::Ws,
            "os" => Dataflow::Os,
            "is" => Dataflow::Is,
            other => {
                return Err(format!("unknown dataflow `{other}`; expected ws, os or is").into());
            }
        };
    }
    let dataflow = format!("{:?}", array.dataflow).to_lowercase();
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(shapes_path)?;
    println!("name,m,n,k,groups,dataflow,folds,cycles");
    for (idx, record) in reader.records().enumerate() {
        let record = record?;
        let field = |i: usize| -> Result<u64, String> {
            record.get(i).and_then(|v| v.parse::<u64>().ok()).filter(|v| *v > 0).ok_or_else(|| {
                format!(
                    "{shapes_path}: row {}: column {} is not a positive integer",
                    idx + 2,
                    i + 1
                )
            })
        };
        let name = record.get(0).unwrap_or("");
        let gemm = Gemm { m: field(1)?, n: field(2)?, k: field(3)?, groups: field(4)? };
        let (folds, cycles) = (array.folds(&gemm), array.compute_cycles(&gemm));
        println!(
            "{name},{},{},{},{},{dataflow},{folds},{cycles}",
            gemm.m, gemm.n, gemm.k, gemm.groups
        );
    }
    Ok(())
}
