//! `sculpt train`: trains a classifier on Fashion-MNIST (or other labelled data), or with
//! `--demo` rebuilds everything under `models/` that the bundled demo consists of.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use sculpt_eval::Dataset;
use sculpt_model::{Model, TrainConfig};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Rebuild the bundled demo: train demo-cnn and demo-mlp from scratch and write them, with the
    /// evaluation and calibration subsets, into --out-dir.
    #[arg(long, conflicts_with_all = ["model", "out"])]
    demo: bool,
    /// Where --demo writes its files.
    #[arg(long, default_value = "models")]
    out_dir: PathBuf,
    /// The model to train (a YAML spec or builtin:NAME); its weights are the starting point.
    #[arg(long)]
    model: Option<String>,
    /// Where to write the trained weights (safetensors, with the spec in the metadata).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Labelled training data.
    #[arg(long, default_value = "fashion-mnist:train")]
    data: String,
    /// Labelled test data, evaluated after training.
    #[arg(long, default_value = "fashion-mnist:test")]
    test: String,
    /// Passes over the training data.
    #[arg(long, default_value_t = 6)]
    epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Peak learning rate (AdamW, cosine decay).
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Seed of initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        weight_decay: 1e-4,
        seed: args.seed,
    };
    anyhow::ensure!(
        args.epochs >= 1 && args.batch_size >= 1,
        "--epochs and --batch-size must be at least 1"
    );
    anyhow::ensure!(args.lr > 0.0 && args.lr.is_finite(), "--lr must be a positive number");
    let train_data = sculpt_eval::load_data(&args.data)?;
    let test_data = sculpt_eval::load_data(&args.test)?;
    if args.demo {
        std::fs::create_dir_all(&args.out_dir)
            .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
        for name in ["demo-cnn", "demo-mlp"] {
            let mut spec = sculpt_model::builtin_spec(name)?;
            spec.seed = Some(args.seed);
            let model = sculpt_model::build_model(&spec, Path::new("."), name)?;
            let out = args.out_dir.join(format!("{name}.safetensors"));
            train_one(model, &train_data, &test_data, &config, &out)?;
        }
        write_subsets(&train_data, &test_data, &args.out_dir, args.seed)?;
    } else {
        let (Some(model), Some(out)) = (&args.model, &args.out) else {
            anyhow::bail!("give --model and --out, or --demo");
        };
        let model = super::load_model(model)?;
        train_one(model, &train_data, &test_data, &config, out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn train_one(
    mut model: Model,
    train_data: &Dataset,
    test_data: &Dataset,
    config: &TrainConfig,
    out: &Path,
) -> anyhow::Result<()> {
    let (inputs, labels) = train_data.labelled_dense()?;
    let inputs = sculpt_eval::fit_inputs(&model.graph, inputs)?;
    eprintln!(
        "training {} on {} ({} samples, {} epochs)",
        model.name,
        train_data.name,
        labels.len(),
        config.epochs
    );
    sculpt_model::train_classifier(&mut model.graph, &inputs, labels, config, &mut |r| {
        eprintln!(
            "  epoch {:>2}: loss {:.4}, train accuracy {:.2}%, {:.0} s",
            r.epoch,
            r.loss,
            100.0 * r.accuracy,
            r.seconds
        );
    })?;
    let report = sculpt_eval::evaluate(&model, test_data, sculpt_eval::DEFAULT_BATCH)?;
    println!(
        "{}: {} = {:.2}% on {} ({} samples)",
        model.name,
        report.metric,
        100.0 * report.value,
        test_data.name,
        report.n_samples
    );
    let mut meta: BTreeMap<String, String> = sculpt_model::spec_metadata(&model.spec);
    meta.insert(
        "sculpt.training".into(),
        format!(
            "data={} epochs={} batch_size={} lr={} seed={} test_data={} test_accuracy={:.4}",
            train_data.name,
            config.epochs,
            config.batch_size,
            config.learning_rate,
            config.seed,
            test_data.name,
            report.value
        ),
    );
    sculpt_model::write_safetensors(out, &sculpt_model::named_tensors(&model.graph), &meta)?;
    println!("wrote {}", out.display());
    Ok(())
}

/// The bundled subsets: 2,000 class-balanced test images for evaluation and 512 class-balanced
/// train images for calibration.
fn write_subsets(train: &Dataset, test: &Dataset, dir: &Path, seed: u64) -> anyhow::Result<()> {
    for (data, n, file) in [
        (test, 2000, "fashion-mnist-eval.safetensors"),
        (train, 512, "fashion-mnist-calib.safetensors"),
    ] {
        let (_, labels) = data.labelled_dense()?;
        let picked = sculpt_eval::balanced_subset(labels, n, seed);
        let subset = data.select(&picked)?;
        let (inputs, labels) = subset.labelled_dense()?;
        let path = dir.join(file);
        sculpt_eval::write_dense_u8(&path, inputs, Some(labels))?;
        println!("wrote {} ({} samples of {})", path.display(), picked.len(), data.name);
    }
    Ok(())
}
