//! The face of a run: steps shown while they run and summed up at the end, details only
//! for what failed. Every step's whole output (the commands, what they printed, xtask's
//! notes) goes to a log file of its own, whatever is shown.
//!
//! - On a terminal: a live line per step, a spinner or a progress bar while it runs
//!   (`indicatif`), then a verdict line.
//! - Elsewhere (a pipe, a file, `.ci/run`): one verdict line per step, no animation.
//! - `--verbose`, and GitHub Actions (inside a folded group per step): everything, as it
//!   comes.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::ops::Add;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::Utf8PathBuf;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::console::Trace;
use crate::signals::Interrupted;
use crate::tail;
use crate::{errln, outln, paths};

/// Lines of a failed step's log shown when nothing better is known.
const TAIL_LINES: usize = 30;

/// Test counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl Add for Counts {
    type Output = Counts;
    fn add(self, other: Counts) -> Counts {
        Counts {
            passed: self.passed + other.passed,
            failed: self.failed + other.failed,
            skipped: self.skipped + other.skipped,
        }
    }
}

impl Counts {
    /// "215 passed", "2 failed, 30 passed, 1 skipped": failures first, zeros left out.
    fn describe(self) -> String {
        let parts = [
            (self.failed, "failed"),
            (self.passed, "passed"),
            (self.skipped, "skipped"),
        ];
        let shown: Vec<String> = parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        if shown.is_empty() {
            "no tests".to_owned()
        } else {
            shown.join(", ")
        }
    }
}

/// How a run shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    Plain,
    Verbose,
    GitHub,
}

impl Mode {
    pub fn detect(verbose: bool) -> Mode {
        if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
            Mode::GitHub
        } else if verbose {
            Mode::Verbose
        } else if std::io::stderr().is_terminal() {
            Mode::Live
        } else {
            Mode::Plain
        }
    }

    /// Whether a step's output is shown as it comes.
    fn streams(self) -> bool {
        matches!(self, Mode::Verbose | Mode::GitHub)
    }
}

/// How a step ended.
pub struct Outcome {
    pub name: String,
    /// `None`: the step did not run (an earlier one failed).
    pub duration: Option<Duration>,
    pub error: Option<String>,
    pub counts: Option<Counts>,
}

/// Runs steps, one after the other, and keeps their outcomes.
pub struct Runner {
    mode: Mode,
    log_dir: Utf8PathBuf,
    total: usize,
    outcomes: Vec<Outcome>,
}

/// What a running step can tell the display.
pub struct Step {
    pub log: Utf8PathBuf,
    bar: Option<ProgressBar>,
    counts: Option<Counts>,
    /// Shown where the counts go, for a step without tests of its own.
    note: Option<String>,
    details: Option<String>,
    warnings: Vec<String>,
}

impl Runner {
    /// A runner whose step logs go to `log_dir`, emptied of an earlier run's logs.
    pub fn new(mode: Mode, log_dir: Utf8PathBuf, total: usize) -> Result<Runner> {
        std::fs::create_dir_all(&log_dir).with_context(|| format!("cannot create {log_dir}"))?;
        for entry in
            std::fs::read_dir(&log_dir).with_context(|| format!("cannot list {log_dir}"))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "log") {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        Ok(Runner {
            mode,
            log_dir,
            total,
            outcomes: Vec::new(),
        })
    }

    pub fn outcomes(&self) -> &[Outcome] {
        &self.outcomes
    }

    /// Runs `body` as the next step: its output to its log, its verdict shown when it
    /// ends, and on failure what a person needs to act, then the log's path.
    pub fn step(&mut self, name: &str, body: impl FnOnce(&mut Step) -> Result<()>) -> Result<()> {
        let number = self.outcomes.len() + 1;
        let log = self.log_dir.join(format!("{number:02}-{}.log", slug(name)));
        self.announce(number, name);
        let mut step = Step {
            log: log.clone(),
            bar: (self.mode == Mode::Live).then(|| spinner(name)),
            counts: None,
            note: None,
            details: None,
            warnings: Vec::new(),
        };
        let start = Instant::now();
        let result = Trace::to(&log, self.mode.streams())
            .with_context(|| format!("cannot write the step log {log}"))
            .and_then(|trace| {
                let result = body(&mut step);
                drop(trace);
                result
            });
        let duration = start.elapsed();
        if let Some(bar) = step.bar.take() {
            bar.finish_and_clear();
        }
        if self.mode == Mode::GitHub {
            outln!("::endgroup::");
        }
        self.conclude(name, &step, &result, duration);
        self.outcomes.push(Outcome {
            name: name.to_owned(),
            duration: Some(duration),
            error: result.as_ref().err().map(|e| format!("{e:#}")),
            counts: step.counts,
        });
        result
    }

    fn announce(&self, number: usize, name: &str) {
        match self.mode {
            Mode::GitHub => outln!("::group::{number}. {name}"),
            Mode::Verbose => errln!("==> [{number}/{}] {name}", self.total),
            Mode::Live | Mode::Plain => {}
        }
    }

    /// The verdict line, the warnings, and for a failure its details and log.
    fn conclude(&self, name: &str, step: &Step, result: &Result<()>, duration: Duration) {
        let mark = if result.is_ok() { "✓" } else { "✗" };
        let counts = match (step.counts.map(Counts::describe), &step.note) {
            (Some(counts), Some(note)) => format!("{counts} ({note})"),
            (counts, note) => counts.or_else(|| note.clone()).unwrap_or_default(),
        };
        errln!(
            "{mark} {name:<20} {counts:<32} {:>7.2} s",
            duration.as_secs_f64()
        );
        for warning in &step.warnings {
            if self.mode == Mode::GitHub {
                outln!("::warning::{warning}");
            } else {
                errln!("{warning}");
            }
        }
        let Err(error) = result else {
            return;
        };
        let interrupted = error.downcast_ref::<Interrupted>().is_some();
        // After Ctrl-C, the end of the log says nothing the user does not know.
        if !self.mode.streams() && !interrupted {
            let details = step
                .details
                .clone()
                .unwrap_or_else(|| tail::last_lines(&step.log, TAIL_LINES));
            errln!("{details}");
        }
        errln!("error: {error:#}");
        errln!("log: {}", paths::display_path(&step.log));
        if self.mode == Mode::GitHub {
            let first_line = format!("{error:#}");
            let first_line = first_line.lines().next().unwrap_or_default();
            outln!(
                "::error title=step `{name}` failed::{}",
                escape_data(first_line)
            );
        }
    }

    /// Records a step that did not run, for the summary.
    pub fn skipped(&mut self, name: &str) {
        self.outcomes.push(Outcome {
            name: name.to_owned(),
            duration: None,
            error: None,
            counts: None,
        });
    }

    /// Every test of every step.
    pub fn totals(&self) -> Counts {
        self.outcomes
            .iter()
            .filter_map(|o| o.counts)
            .fold(Counts::default(), Add::add)
    }

    /// The table of every step, with the step logs' folder.
    pub fn summary(&self) -> String {
        let mut table = format!(
            "\n{:<20} {:<8} {:>7} {:>7} {:>7} {:>10}\n",
            "step", "result", "passed", "failed", "skipped", "time"
        );
        let mut time = Duration::ZERO;
        for outcome in &self.outcomes {
            let Some(duration) = outcome.duration else {
                let _ = writeln!(table, "{:<20} not run", outcome.name);
                continue;
            };
            time += duration;
            let result = if outcome.error.is_some() {
                "FAILED"
            } else {
                "ok"
            };
            let numbers = outcome.counts.map_or_else(
                || format!("{:>7} {:>7} {:>7}", "", "", ""),
                |c| format!("{:>7} {:>7} {:>7}", c.passed, c.failed, c.skipped),
            );
            let secs = duration.as_secs_f64();
            let _ = writeln!(
                table,
                "{:<20} {result:<8} {numbers} {secs:>8.2} s",
                outcome.name
            );
        }
        let t = self.totals();
        let _ = writeln!(
            table,
            "{:<29} {:>7} {:>7} {:>7} {:>8.2} s",
            "total",
            t.passed,
            t.failed,
            t.skipped,
            time.as_secs_f64()
        );
        let _ = write!(table, "step logs: {}", paths::display_path(&self.log_dir));
        table
    }
}

impl Step {
    /// Shows progress: tests done of `total` (when known), failures so far, and what runs.
    pub fn progress(&self, done: Counts, total: Option<u64>, activity: &str) {
        let Some(bar) = &self.bar else {
            return;
        };
        let finished = done.passed + done.failed + done.skipped;
        if let Some(total) = total.filter(|&t| bar.length() != Some(t)) {
            bar.set_length(total);
            bar.set_style(bar_style());
        }
        bar.set_position(finished);
        let failed = if done.failed > 0 {
            format!("{} failed  ", done.failed)
        } else {
            String::new()
        };
        let counted = if total.is_none() && finished > 0 {
            format!("{finished} done  ")
        } else {
            String::new()
        };
        bar.set_message(format!("{counted}{failed}{activity}"));
    }

    /// The test counts of this step, for its verdict and the summary.
    pub fn counts(&mut self, counts: Counts) {
        self.counts = Some(counts);
    }

    /// A word on how the step ran (in the background, say), shown after its counts.
    pub fn note(&mut self, note: &str) {
        self.note = Some(note.to_owned());
    }

    /// What to show if the step fails, instead of the end of its log.
    pub fn details(&mut self, details: String) {
        self.details = Some(details);
    }

    /// A line for the main output that does not fail the step (a slow test, say).
    pub fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }
}

fn spinner(name: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:<20} {elapsed:>4} {wide_msg}")
            .expect("the template is valid"),
    );
    bar.set_prefix(name.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} {prefix:<20} {elapsed:>4} [{bar:24}] {pos}/{len} {wide_msg}",
    )
    .expect("the template is valid")
    .progress_chars("=> ")
}

/// `pytest integration` → `pytest-integration`.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// GitHub's workflow-command escaping for a message.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_described_failures_first() {
        let counts = Counts {
            passed: 30,
            failed: 2,
            skipped: 1,
        };
        assert_eq!(counts.describe(), "2 failed, 30 passed, 1 skipped");
        let passed = Counts {
            passed: 215,
            ..Counts::default()
        };
        assert_eq!(passed.describe(), "215 passed");
        assert_eq!(Counts::default().describe(), "no tests");
    }

    #[test]
    fn a_failed_step_keeps_its_whole_output_and_the_summary_adds_up() {
        let dir = std::env::temp_dir().join(crate::process::unique_name("xtask-steps"));
        let dir = Utf8PathBuf::try_from(dir).unwrap();
        let mut runner = Runner::new(Mode::Plain, dir.clone(), 3).unwrap();
        runner
            .step("first", |step| {
                crate::traceln!("$ a command");
                step.counts(Counts {
                    passed: 4,
                    failed: 0,
                    skipped: 1,
                });
                Ok(())
            })
            .unwrap();
        let error = runner
            .step("second one", |step| {
                step.counts(Counts {
                    passed: 1,
                    failed: 2,
                    skipped: 0,
                });
                anyhow::bail!("it broke")
            })
            .unwrap_err();
        assert_eq!(error.to_string(), "it broke");
        runner.skipped("third");
        let first_log = std::fs::read_to_string(dir.join("01-first.log")).unwrap();
        assert_eq!(first_log, "$ a command\n");
        assert!(dir.join("02-second-one.log").is_file());
        assert_eq!(
            runner.totals(),
            Counts {
                passed: 5,
                failed: 2,
                skipped: 1
            }
        );
        let summary = runner.summary();
        assert!(
            summary.contains("second one           FAILED         1       2       0"),
            "{summary}"
        );
        assert!(
            summary.contains("third                not run"),
            "{summary}"
        );
        // A new runner starts from an empty folder.
        Runner::new(Mode::Plain, dir.clone(), 1).unwrap();
        assert!(!dir.join("01-first.log").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
