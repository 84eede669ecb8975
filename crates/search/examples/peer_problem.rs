//! Runs sculpt's engines on an additive problem file, for the side-by-side comparison with
//! pymoo and Optuna in `benches/peers` (see its README for the file format and the protocol).
//!
//! ```text
//! peer_problem generate --seed S --layers N            # synthetic problem JSON on stdout
//! peer_problem exact PROBLEM.json                      # exact front + timing, JSON on stdout
//! peer_problem run PROBLEM.json ENGINE BUDGET SEED     # one run, JSON on stdout
//! peer_problem score PROBLEM.json RESULT.json...       # hypervolumes relative to the exact front
//! peer_problem score-union PROBLEM.json RESULT.json... # relative to the best front of all runs
//! ```
//! `score-union` is for problems whose exact front is out of reach (three objectives over ~50
//! genes): the reference is the non-dominated union of every run's final front.
//! ENGINE is one of `nsga2`, `nsga2-seeded`, `bayes`, `random`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use sculpt_search::{
    AdditiveObjective, AdditiveProblem, BayesianSearch, Engine, ExactConfig, Executor,
    ExecutorConfig, HypervolumeIndicator, Mutation, Nsga2, ObjectiveBounds, RandomSearch,
    SearchError, exact_pareto_front,
};
use serde::{Deserialize, Serialize};

/// One run's output; the Python harness writes the same shape for pymoo and Optuna.
#[derive(Serialize, Deserialize)]
struct RunOutput {
    tool: String,
    engine: String,
    budget: usize,
    seed: u64,
    evaluations: usize,
    seconds: f64,
    /// CPU time, written by the Python harness only (Rust's standard library has no CPU
    /// clock); not used in the table.
    #[serde(default)]
    cpu_seconds: Option<f64>,
    /// Objective vectors of the final non-dominated set.
    front: Vec<Vec<f64>>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("peer_problem: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["generate", "--seed", seed, "--layers", layers] => {
            let problem = support::synthetic_mobilenet_problem(parse(seed)?, parse(layers)?);
            emit(&serde_json::to_string_pretty(&problem).map_err(|e| e.to_string())?)
        }
        ["exact", path] => {
            let objective = load(path)?;
            let start = Instant::now();
            let front = exact_pareto_front(&objective, &ExactConfig::default())
                .map_err(|e| e.to_string())?;
            let seconds = start.elapsed().as_secs_f64();
            let output = serde_json::json!({
                "seconds": seconds,
                "n_points": front.len(),
                "front": front.iter().map(|p| &p.objectives).collect::<Vec<_>>(),
            });
            emit(&output.to_string())
        }
        ["run", path, engine, budget, seed] => {
            let objective = load(path)?;
            let output = run_engine(&objective, engine, parse(budget)?, parse(seed)?)
                .map_err(|e| e.to_string())?;
            emit(&serde_json::to_string(&output).map_err(|e| e.to_string())?)
        }
        ["score", path, results @ ..] => {
            let objective = load(path)?;
            let exact = exact_pareto_front(&objective, &ExactConfig::default())
                .map_err(|e| e.to_string())?;
            score(exact.into_iter().map(|p| p.objectives).collect(), results)
        }
        ["score-union", _path, results @ ..] => {
            let mut all = Vec::new();
            for path in results {
                all.extend(read_output(path)?.front);
            }
            let front = sculpt_search::pareto_front(&all);
            score(front.into_iter().map(|k| all[k].clone()).collect(), results)
        }
        _ => Err("usage: see the doc comment at the top of examples/peer_problem.rs".to_owned()),
    }
}

fn parse<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("cannot parse {text:?}"))
}

fn load(path: &str) -> Result<AdditiveObjective, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let problem: AdditiveProblem =
        serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    AdditiveObjective::new(problem).map_err(|e| format!("{path}: {e}"))
}

fn run_engine(
    objective: &AdditiveObjective,
    engine: &str,
    budget: usize,
    seed: u64,
) -> Result<RunOutput, SearchError> {
    let start = Instant::now();
    let result = match engine {
        name if name == "nsga2" || name.starts_with("nsga2:") => execute(
            objective,
            nsga2_with_options(name.strip_prefix("nsga2").unwrap_or(""))?,
            budget,
            seed,
        )?,
        "nsga2-seeded" => {
            // The exact front's genomes seed the initial population (its time is included).
            let exact = exact_pareto_front(objective, &ExactConfig::default())?;
            let engine = Nsga2 {
                initial_population: exact.into_iter().map(|p| p.genome).collect(),
                ..Nsga2::default()
            };
            execute(objective, engine, budget, seed)?
        }
        "bayes" => execute(objective, BayesianSearch::default(), budget, seed)?,
        "bayes:uniform=0" => execute(
            objective,
            BayesianSearch { seed_uniform_genomes: false, ..Default::default() },
            budget,
            seed,
        )?,
        "random" => execute(objective, RandomSearch::default(), budget, seed)?,
        other => {
            return Err(SearchError::InvalidConfig {
                parameter: "engine",
                reason: format!("{other:?} is unknown"),
            });
        }
    };
    Ok(RunOutput {
        tool: "sculpt".to_owned(),
        engine: engine.to_owned(),
        budget,
        seed,
        evaluations: result.archive.len(),
        seconds: start.elapsed().as_secs_f64(),
        cpu_seconds: None,
        front: result.front.iter().map(|c| c.evaluation.objectives.clone()).collect(),
    })
}

/// `nsga2:pop=200,rate=2,cx=0.9,neighbour=3,mixed=0.5` overrides the defaults (for tuning).
fn nsga2_with_options(options: &str) -> Result<Nsga2, SearchError> {
    let mut engine = Nsga2::default();
    let mut max_step = None;
    let mut neighbour_probability = None;
    for option in options.trim_start_matches(':').split(',').filter(|o| !o.is_empty()) {
        let invalid = || SearchError::InvalidConfig {
            parameter: "engine option",
            reason: format!("{option:?} is not key=value"),
        };
        let (key, value) = option.split_once('=').ok_or_else(invalid)?;
        let number: f64 = value.parse().map_err(|_| invalid())?;
        match key {
            "pop" => engine.population_size = number as usize,
            "rate" => engine.mutation_rate = number,
            "cx" => engine.crossover_probability = number,
            "neighbour" => max_step = Some(number as usize),
            "mixed" => neighbour_probability = Some(number),
            "uniform" => engine.seed_uniform_genomes = number != 0.0,
            _ => return Err(invalid()),
        }
    }
    engine.mutation = match (max_step, neighbour_probability) {
        (None, _) => engine.mutation,
        (Some(max_step), None) => Mutation::Neighbour { max_step },
        (Some(max_step), Some(neighbour_probability)) => {
            Mutation::Mixed { max_step, neighbour_probability }
        }
    };
    Ok(engine)
}

fn execute<E: Engine<AdditiveObjective>>(
    objective: &AdditiveObjective,
    engine: E,
    budget: usize,
    seed: u64,
) -> Result<sculpt_search::SearchResult, SearchError> {
    Executor::new(objective, objective.space().clone(), engine, ExecutorConfig::new(budget, seed))?
        .run()
}

fn read_output(path: &str) -> Result<RunOutput, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

/// Prints, per (tool, engine, budget), the mean and spread of hypervolume relative to the
/// reference front and the wall time per evaluation, as JSON lines.
fn score(reference: Vec<Vec<f64>>, results: &[&str]) -> Result<(), String> {
    let exact_points: Vec<&[f64]> = reference.iter().map(Vec::as_slice).collect();
    // Normalise by the exact front's ideal and nadir; reference point 1.1 in every objective.
    let bounds = ObjectiveBounds::from_points(&exact_points).map_err(|e| e.to_string())?;
    let indicator = HypervolumeIndicator::normalized(bounds, 0.1).map_err(|e| e.to_string())?;
    let best = indicator.evaluate(&exact_points).map_err(|e| e.to_string())?.value;
    // (tool, engine, budget) -> per run (relative hypervolume, s/eval).
    type Runs = Vec<(f64, f64)>;
    let mut groups: BTreeMap<(String, String, usize), Runs> = BTreeMap::new();
    for path in results {
        let output = read_output(path)?;
        let hv = indicator.evaluate(&output.front).map_err(|e| e.to_string())?.value;
        let evaluations = output.evaluations.max(1) as f64;
        let per_evaluation = output.seconds / evaluations;
        groups
            .entry((output.tool, output.engine, output.budget))
            .or_default()
            .push((hv / best, per_evaluation));
    }
    for ((tool, engine, budget), runs) in groups {
        let n = runs.len() as f64;
        let mean = runs.iter().map(|r| r.0).sum::<f64>() / n;
        let sd =
            (runs.iter().map(|r| (r.0 - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
        // Medians for times: a busy spell on a shared machine inflates single runs.
        let median = |mut values: Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied()
        };
        let seconds = median(runs.iter().map(|r| r.1).collect());
        let line = serde_json::json!({
            "tool": tool, "engine": engine, "budget": budget, "runs": runs.len(),
            "relative_hypervolume_mean": mean, "relative_hypervolume_sd": sd,
            "seconds_per_evaluation": seconds,
        });
        emit(&line.to_string())?;
    }
    Ok(())
}

/// Writes one line to stdout, turning a closed pipe into an error rather than a panic.
fn emit(line: &str) -> Result<(), String> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{line}").map_err(|e| format!("writing to stdout: {e}"))
}
