//! Runners: timing a model where it will run, one mechanism for every device.
//!
//! A runner is any command. sculpt calls it as
//! `RUNNER... --model MODEL.onnx --inputs DIR --warmup W --repeat N [--outputs DIR]`, where `DIR`
//! holds one `<input>.npy` per model input, and reads JSON lines from its standard output: lines
//! with a `latency_ms` number are samples, other JSON objects describe the runner (`runtime`,
//! `version`, ...). Anything else, a non-zero exit, no samples, or a negative or non-finite
//! latency is an error naming the runner. The command is split at whitespace; its first word is
//! the program.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sculpt_compress::{ApplyOptions, CompressionPlan, PlanSource};
use sculpt_model::{Batch, Model};

use crate::error::{Error, Result};

/// How to call a runner.
#[derive(Clone, Debug)]
pub struct Runner {
    /// The command, split at whitespace.
    pub command: String,
    /// Untimed runs before the samples.
    pub warmup: usize,
    /// Timed runs.
    pub repeat: usize,
    /// The longest one call may take.
    pub timeout: Duration,
}

/// What a runner printed.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Latency of each timed run, milliseconds, in order.
    pub latencies_ms: Vec<f64>,
    /// The runner's description lines (JSON objects without `latency_ms`).
    pub about: Vec<serde_json::Value>,
}

impl Samples {
    /// The `q`-quantile of the latencies (linear interpolation), milliseconds.
    pub fn quantile(&self, q: f64) -> f64 {
        let mut v = self.latencies_ms.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return f64::NAN;
        }
        let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    }
}

impl Runner {
    fn fail(&self, msg: impl std::fmt::Display) -> Error {
        Error::Invalid { msg: format!("runner `{}`: {msg}", self.command) }
    }

    /// Runs the runner on one model; with `outputs`, it also writes the model's outputs there.
    pub fn run(&self, model: &Path, inputs: &Path, outputs: Option<&Path>) -> Result<Samples> {
        let mut words = self.command.split_whitespace();
        let program = words.next().ok_or_else(|| self.fail("the command is empty"))?;
        let mut cmd = Command::new(program);
        cmd.args(words)
            .arg("--model")
            .arg(model)
            .arg("--inputs")
            .arg(inputs)
            .arg("--warmup")
            .arg(self.warmup.to_string())
            .arg("--repeat")
            .arg(self.repeat.to_string());
        if let Some(out) = outputs {
            cmd.arg("--outputs").arg(out);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            self.fail(format!("cannot start `{program}`: {e} (is it an executable file?)"))
        })?;
        // Drain both pipes on threads, so that a chatty runner cannot block on a full pipe.
        let mut out_pipe = child.stdout.take().expect("piped");
        let mut err_pipe = child.stderr.take().expect("piped");
        let out_thread = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out_pipe.read_to_string(&mut s);
            s
        });
        let err_thread = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err_pipe.read_to_string(&mut s);
            s
        });
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| self.fail(e))? {
                break status;
            }
            if start.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                return Err(self.fail(format!(
                    "no answer within {:.0} s on {}; it was stopped",
                    self.timeout.as_secs_f64(),
                    model.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = out_thread.join().unwrap_or_default();
        let stderr = err_thread.join().unwrap_or_default();
        if !status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(self.fail(format!(
                "exited with {status} on {}: {}",
                model.display(),
                tail.join(" | ")
            )));
        }
        self.parse(&stdout, model)
    }

    fn parse(&self, stdout: &str, model: &Path) -> Result<Samples> {
        let mut samples = Samples::default();
        for (i, line) in stdout.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(line).map_err(|_| {
                self.fail(format!(
                    "line {} of its output is not a JSON object: `{}`",
                    i + 1,
                    line.chars().take(80).collect::<String>()
                ))
            })?;
            match value.get("latency_ms") {
                None if value.is_object() => samples.about.push(value),
                None => {
                    return Err(self.fail(format!("line {} is not a JSON object", i + 1)));
                }
                Some(ms) => match ms.as_f64() {
                    Some(ms) if ms.is_finite() && ms >= 0.0 => samples.latencies_ms.push(ms),
                    _ => {
                        return Err(self.fail(format!(
                            "line {}: latency_ms must be a finite number ≥ 0, got {ms}",
                            i + 1
                        )));
                    }
                },
            }
        }
        if samples.latencies_ms.is_empty() {
            return Err(self.fail(format!(
                "printed no latency samples for {} (expected lines like {{\"latency_ms\": 1.5}})",
                model.display()
            )));
        }
        Ok(samples)
    }
}

/// A model measured through a runner.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// The ONNX file that was timed.
    pub model_file: PathBuf,
    /// Its size in bytes.
    pub file_bytes: u64,
    /// What the runner printed.
    pub samples: Samples,
}

/// Exports a model (compressed by `plan` when given) to ONNX in `dir` with a batch of inputs,
/// and times it through the runner.
pub fn measure_through_runner(
    model: &Model,
    plan: Option<(&CompressionPlan, Option<&PlanSource>)>,
    calibration: Option<&Batch>,
    input: &Batch,
    runner: &Runner,
    dir: &Path,
) -> Result<Measurement> {
    let file = dir.join("model.onnx");
    let file_bytes = match plan {
        Some((plan, source)) => {
            let c =
                sculpt_compress::apply_plan(model, plan, source, &ApplyOptions { calibration })?;
            sculpt_compress::export_compressed(&c, "{}", &file)?
        }
        None => {
            let options =
                sculpt_model::ExportOptions { name: model.name.clone(), ..Default::default() };
            sculpt_model::write_onnx(&model.graph, &options, &file)?
        }
    };
    let inputs = dir.join("inputs");
    std::fs::create_dir_all(&inputs).map_err(|error| Error::Io { path: inputs.clone(), error })?;
    sculpt_model::write_onnx_inputs(&model.graph, input, &inputs)?;
    let samples = runner.run(&file, &inputs, None)?;
    Ok(Measurement { model_file: file, file_bytes, samples })
}
