//! Progress of long commands on stderr: a bar on a terminal, and in a log (a SLURM job, a pipe)
//! a line per stage plus a periodic line with the count, the rate and the time left.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use sculpt_pipeline::RunMonitor;
use sculpt_search::{Observer, SearchResult};

/// Seconds between progress lines in a log; `SCULPT_PROGRESS_EVERY_S` overrides it.
const LOG_EVERY_S: f64 = 30.0;

/// Where a long command's progress goes.
pub(crate) struct Progress {
    mode: Mode,
}

enum Mode {
    Bar(ProgressBar),
    Log(Mutex<LogState>),
}

struct LogState {
    every: Duration,
    /// The current counted task (`sensitivity`, `search`), when it started and its last line.
    task: String,
    task_started: Instant,
    last_line: Option<Instant>,
}

impl Progress {
    /// A bar when stderr is a terminal, lines otherwise.
    pub(crate) fn new() -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            Progress { mode: Mode::Bar(bar) }
        } else {
            let every = std::env::var("SCULPT_PROGRESS_EVERY_S")
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .unwrap_or(LOG_EVERY_S);
            Progress {
                mode: Mode::Log(Mutex::new(LogState {
                    every: Duration::from_secs_f64(every),
                    task: String::new(),
                    task_started: Instant::now(),
                    last_line: None,
                })),
            }
        }
    }

    /// A new stage starts.
    pub(crate) fn stage(&self, message: &str) {
        match &self.mode {
            Mode::Bar(bar) => {
                bar.set_message(message.to_string());
                bar.tick();
            }
            Mode::Log(_) => eprintln!("{message}"),
        }
    }

    /// `done` of `total` units of `task` are finished; `detail` is shown beside the count.
    pub(crate) fn count(&self, task: &str, done: usize, total: usize, detail: &str) {
        match &self.mode {
            Mode::Bar(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                if !detail.is_empty() {
                    bar.set_message(format!("{task}: {detail}"));
                }
            }
            Mode::Log(state) => {
                let Ok(mut s) = state.lock() else { return };
                let now = Instant::now();
                if s.task != task {
                    s.task = task.to_string();
                    s.task_started = now;
                    s.last_line = None;
                }
                let due = s.last_line.is_none_or(|t| now.duration_since(t) >= s.every);
                if !(due || done == total) {
                    return;
                }
                s.last_line = Some(now);
                eprintln!(
                    "{}",
                    count_line(task, done, total, now.duration_since(s.task_started), detail)
                );
            }
        }
    }

    /// Clears the bar before the command prints its result.
    pub(crate) fn finish(&self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }

    /// An observer that reports the engine's progress here.
    pub(crate) fn observer(&self) -> Box<dyn Observer + '_> {
        Box::new(EngineProgress(self))
    }
}

/// `sensitivity: 120/480 (25 %), 3.2/s, about 1 min 53 s left`.
fn count_line(task: &str, done: usize, total: usize, elapsed: Duration, detail: &str) -> String {
    let share = if total > 0 { 100.0 * done as f64 / total as f64 } else { 100.0 };
    let mut line = format!("{task}: {done}/{total} ({share:.0} %)");
    let secs = elapsed.as_secs_f64();
    if done > 0 && secs > 0.0 {
        let rate = done as f64 / secs;
        line.push_str(&format!(", {}/s", sig3(rate)));
        if done < total {
            let left = (total - done) as f64 / rate;
            line.push_str(&format!(", about {} left", duration_words(left)));
        }
    }
    if !detail.is_empty() {
        line.push_str(", ");
        line.push_str(detail);
    }
    line
}

fn sig3(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// `45 s`, `3 min 5 s`, `2 h 10 min`.
fn duration_words(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

impl RunMonitor for Progress {
    fn stage(&self, message: &str) {
        Progress::stage(self, message);
    }

    fn sensitivity(&self, done: usize, total: usize) {
        self.count("sensitivity", done, total, "");
    }
}

struct EngineProgress<'a>(&'a Progress);

impl Observer for EngineProgress<'_> {
    fn observe(&mut self, progress: &sculpt_search::Progress<'_>) {
        let hv =
            progress.entry.hypervolume.map(|h| format!(", hypervolume {h:.4}")).unwrap_or_default();
        self.0.count(
            "search",
            progress.entry.evaluations,
            progress.max_evaluations,
            &format!("front {}{hv}", progress.entry.front_size),
        );
    }

    fn finish(&mut self, _result: &SearchResult) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_lines_say_rate_and_time_left() {
        assert_eq!(
            count_line("sensitivity", 120, 480, Duration::from_secs(40), ""),
            "sensitivity: 120/480 (25 %), 3.00/s, about 2 min 0 s left"
        );
        assert_eq!(
            count_line("search", 2000, 2000, Duration::from_secs(2), "front 7"),
            "search: 2000/2000 (100 %), 1000/s, front 7"
        );
        assert_eq!(count_line("x", 0, 10, Duration::ZERO, ""), "x: 0/10 (0 %)");
        assert_eq!(duration_words(7300.0), "2 h 1 min");
    }
}
