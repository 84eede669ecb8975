//! `sculpt apply --recover`: compress, then train the compressed model back (optionally in
//! progressive steps), and write the per-epoch and per-step records next to the model.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};

use sculpt_compress::{
    ApplyOptions, Compressed, CompressionPlan, PlanSource, RecoveryConfig, RecoveryData,
    RecoveryDataConfig, RecoveryEvent, TrainingSet,
};
use sculpt_model::Model;

use super::RecoveryArgs;

/// A recovered model and what to record about the recovery in the file's provenance.
pub(crate) struct Outcome {
    pub(crate) compressed: Compressed,
    pub(crate) provenance: Value,
}

/// `<dir>/<stem><suffix>` for the output file `out`.
fn sidecar(out: &Path, suffix: &str) -> PathBuf {
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    out.with_file_name(format!("{stem}{suffix}"))
}

/// The held-out data: `--held-out`, else the Fashion-MNIST test split (installed) or the bundled
/// evaluation subset when the model reads Fashion-MNIST, else none.
fn held_out_name(model: &Model, args: &RecoveryArgs) -> Option<String> {
    match args.held_out.as_deref() {
        Some("none") => None,
        Some(name) => Some(name.to_string()),
        None => {
            super::super::evaluate::default_data(model).ok()?;
            let installed = Path::new(sculpt_eval::FASHION_MNIST_DIR)
                .join("t10k-images-idx3-ubyte.gz")
                .exists();
            Some(if installed { "fashion-mnist:test" } else { sculpt_eval::BUILTIN_EVAL }.into())
        }
    }
}

/// Loads the training, validation and held-out data of a recovery run.
pub(crate) fn load_data(
    model: &Model,
    args: &RecoveryArgs,
    seed: u64,
) -> anyhow::Result<RecoveryData> {
    let config = RecoveryDataConfig {
        train_data: args.train_data.clone(),
        train_samples: args.train_samples,
        seed,
        ..RecoveryDataConfig::default()
    };
    let mut data = sculpt_compress::recovery_data(&model.graph, &config)
        .with_context(|| format!("cannot load the training data `{}`", args.train_data))?;
    if let Some(name) = held_out_name(model, args) {
        let ds = sculpt_eval::load_data(&name)
            .with_context(|| format!("cannot load the held-out data `{name}`"))?;
        data.held_out = Some(TrainingSet::from_dataset(&model.graph, &ds)?);
    }
    Ok(data)
}

/// Prints progress of a recovery run on stderr.
pub(crate) fn print_event(event: &RecoveryEvent<'_>) {
    let pct = |v: f64| format!("{:.2} %", 100.0 * v);
    match event {
        RecoveryEvent::Start { step, steps, samples, validation, held_out } => {
            let step = if *steps > 1 { format!("step {step}/{steps}: ") } else { String::new() };
            let held = held_out.map(|h| format!(", held-out {}", pct(h))).unwrap_or_default();
            eprintln!(
                "recover: {step}{samples} training samples; before training: validation {}{held}",
                pct(*validation)
            );
        }
        RecoveryEvent::Epoch(r) => {
            let train = r.train_accuracy.map(|a| format!(", train {}", pct(a))).unwrap_or_default();
            eprintln!(
                "recover:   epoch {}: loss {:.4}{train}, validation {} ({:.1} s)",
                r.epoch,
                r.loss,
                pct(r.validation),
                r.seconds
            );
        }
        RecoveryEvent::Step(s) => {
            eprintln!(
                "recover: step {}/{} done: sparsity {:.1} %, {:.2} bits/weight, validation {} → {}",
                s.step,
                s.steps,
                100.0 * s.sparsity,
                s.mean_weight_bits,
                pct(s.validation_before),
                pct(s.validation_after)
            );
        }
    }
}

/// Runs the recovery `args` ask for and writes `<stem>.recovery.csv` (and for progressive runs
/// `<stem>.steps.csv`, `.svg`, `.png`) next to `out`.
pub(crate) fn run(
    model: &Model,
    plan: &CompressionPlan,
    source: &PlanSource,
    options: &ApplyOptions<'_>,
    args: &RecoveryArgs,
    config: &RecoveryConfig,
    out: &Path,
) -> anyhow::Result<Outcome> {
    let data = load_data(model, args, config.seed)?;
    for note in &data.notes {
        eprintln!("warning: {note}");
    }
    let baseline = match data.held_out.as_ref() {
        Some(TrainingSet { inputs, labels: Some(labels), .. }) => {
            let logits =
                sculpt_eval::dense_outputs(&model.graph, inputs, sculpt_eval::DEFAULT_BATCH)?;
            Some(sculpt_eval::accuracy(&logits, labels)?)
        }
        _ => None,
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut on_event = |e: &RecoveryEvent<'_>| {
        print_event(e);
        if let RecoveryEvent::Epoch(r) = e {
            rows.push(vec![
                r.step.to_string(),
                r.epoch.to_string(),
                format!("{}", r.loss),
                r.train_accuracy.map(|a| format!("{a}")).unwrap_or_default(),
                format!("{}", r.validation),
                format!("{:.3}", r.seconds),
            ]);
        }
    };
    let (recovered, steps) = match args.progressive {
        Some(k) => {
            let p = sculpt_compress::recover_progressive(
                model,
                plan,
                Some(source),
                options,
                k,
                &data,
                config,
                &mut on_event,
            )?;
            (p.recovered, Some(p.steps))
        }
        None => {
            let compressed = sculpt_compress::apply_plan(model, plan, Some(source), options)?;
            (sculpt_compress::recover(model, &compressed, &data, config, &mut on_event)?, None)
        }
    };
    if let Some(why) = &recovered.stopped {
        eprintln!("warning: {why}");
    }
    let mut epochs_csv = String::from("step,epoch,loss,train_accuracy,validation,seconds\n");
    for r in &rows {
        epochs_csv.push_str(&r.join(","));
        epochs_csv.push('\n');
    }
    let epochs_path = sidecar(out, ".recovery.csv");
    crate::output::write_file(&epochs_path, epochs_csv.as_bytes(), "the recovery epochs")?;
    let mut files = vec![epochs_path.display().to_string()];
    if let Some(steps) = &steps {
        let path = sidecar(out, ".steps.csv");
        crate::output::write_file(
            &path,
            sculpt_compress::steps_csv(steps).as_bytes(),
            "the progressive steps",
        )?;
        files.push(path.display().to_string());
        let points: Vec<(usize, f64, f64)> = steps
            .iter()
            .map(|s| {
                (
                    s.step,
                    s.held_out_before.unwrap_or(s.validation_before),
                    s.held_out_after.unwrap_or(s.validation_after),
                )
            })
            .collect();
        let metric = if steps.iter().all(|s| s.held_out_after.is_some()) {
            format!("held-out {}", recovered.metric)
        } else {
            format!("validation {}", recovered.metric)
        };
        let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = sidecar(out, ".steps")
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("steps")
            .to_string();
        let charted = sculpt_report::write_steps_chart(dir, &name, &metric, baseline, &points)?;
        files.extend(charted.iter().map(|p| p.display().to_string()));
    }
    let pct = |v: f64| format!("{:.2} %", 100.0 * v);
    let held = match (recovered.held_out_before, recovered.held_out_after) {
        (Some(b), Some(a)) => format!(
            "; held-out {} {} → {}{}",
            recovered.metric,
            pct(b),
            pct(a),
            baseline.map(|x| format!(" (uncompressed {})", pct(x))).unwrap_or_default()
        ),
        _ => String::new(),
    };
    eprintln!(
        "recover: {} {} → {} (validation {}, best epoch {}){held}; wrote {}",
        config.method.name(),
        pct(recovered.validation_before),
        pct(recovered.validation_after),
        recovered.metric,
        recovered.best_epoch,
        files.join(", ")
    );
    let provenance = json!({
        "method": config.method.name(),
        "epochs": config.epochs,
        "learning_rate": config.learning_rate,
        "batch_size": config.batch_size,
        "temperature": config.temperature,
        "alpha": config.alpha,
        "feature_layers": config.feature_layers,
        "progressive_steps": args.progressive,
        "train_data": data.train.name,
        "train_samples": data.train.len(),
        "metric": recovered.metric,
        "validation_before": recovered.validation_before,
        "validation_after": recovered.validation_after,
        "held_out_before": recovered.held_out_before,
        "held_out_after": recovered.held_out_after,
        "best_epoch": recovered.best_epoch,
        "stopped": recovered.stopped,
    });
    Ok(Outcome { compressed: recovered.compressed, provenance })
}
