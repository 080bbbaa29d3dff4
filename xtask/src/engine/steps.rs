//! The face of a run: steps shown while they run and summed up at the end, details only
//! for what failed. Every step's whole output (the commands, what they printed, xtask's
//! notes) goes to a log file of its own, whatever is shown.
//!
//! - On a terminal: a live line per step, a spinner or a progress bar while it runs
//!   (`indicatif`), then a verdict line.
//! - Elsewhere (a pipe, a file, `.ci/run`): one verdict line per step, no animation.
//! - `--verbose`: everything, as it comes, each line after the name of its step.
//! - GitHub Actions: each step's whole output in a folded group, when the step ends.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::Utf8PathBuf;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::base::console::{self, Colour, Echo, paint};
use crate::base::context::{Log, Seed, StepContext};
use crate::base::github::escape_data;
use crate::base::paths;
use crate::base::process::{self, Reported};
use crate::base::signals::{self, CancelToken, Interrupted};
use crate::base::tail;
use crate::engine::events::{Counts, TestEnded};
use crate::{errln, outln};

/// Lines of a failed step's log shown when nothing better is known.
const TAIL_LINES: usize = 30;

/// The narrowest the steps' name column is. A longer name (a lane's, such as
/// `pytest integration (py3.10)`) widens it for every line, so that the columns of the
/// verdict lines and of the summary stay in line.
const NAME_WIDTH: usize = 20;

/// The name column for `names`: as wide as the longest, and at least [`NAME_WIDTH`].
pub fn name_width<'a>(names: impl IntoIterator<Item = &'a str>) -> usize {
    let longest = names.into_iter().map(|name| name.chars().count()).max();
    longest.unwrap_or(0).max(NAME_WIDTH)
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Passed,
    Failed,
    /// Stopped from outside: another step failed, or a signal came, while it ran.
    Stopped,
    /// Never started: what it needs did not pass, or the run stopped first.
    NotRun,
}

/// How a step ended, for the summary.
pub struct Outcome {
    /// Its place in the summary: the order of the table of steps.
    pub index: usize,
    pub name: String,
    pub state: State,
    /// `None` for a step that did not run.
    pub duration: Option<Duration>,
    pub error: Option<String>,
    pub counts: Option<Counts>,
    /// Its tests that failed, then passed on a retry.
    pub flaky: u64,
    /// Its tests, as they ended.
    pub tests: Vec<TestEnded>,
    /// How to rerun each test that failed, as the results name them.
    pub reruns: Vec<String>,
}

impl Outcome {
    /// The failures it adds to the totals: its failed tests, or one for a step that failed
    /// without a failed test of its own (a compile error, say), so that a failed run never
    /// ends with `0 failed`. A stopped step adds only the tests that failed before the stop:
    /// a Ctrl-C is no failure.
    fn failures(&self) -> u64 {
        let failed_tests = self.counts.map_or(0, |c| c.failed);
        match self.state {
            State::Failed => failed_tests.max(1),
            _ => failed_tests,
        }
    }
}

/// Shows steps and keeps their outcomes. Steps may run one after the other ([`Runner::step`])
/// or side by side: [`Runner::begin`] makes a [`Step`] that another thread runs
/// ([`Step::run`]), and [`Runner::finish`] shows how it ended.
pub struct Runner {
    mode: Mode,
    log_dir: Utf8PathBuf,
    total: usize,
    /// The width of the name column (see [`NAME_WIDTH`]).
    width: usize,
    /// The live lines of the steps that run now.
    bars: MultiProgress,
    outcomes: Vec<Outcome>,
}

/// A running step: what its body can tell the display. It owns its log, and can move to
/// the thread that runs it.
pub struct Step {
    pub log: Utf8PathBuf,
    /// Which Python lane the step belongs to, for a step that runs once per lane.
    pub lane: Option<usize>,
    index: usize,
    name: String,
    /// `--verbose`: the prefix of its lines, copied to stderr as they come.
    echo: Option<String>,
    start: Instant,
    bar: Option<ProgressBar>,
    counts: Option<Counts>,
    reruns: Vec<String>,
    /// Shown where the counts go, for a step without tests of its own.
    note: Option<String>,
    details: Option<String>,
    warnings: Vec<String>,
    flaky: u64,
    tests: Vec<TestEnded>,
}

impl Runner {
    /// A runner whose step logs go to `log_dir`, emptied of an earlier run's logs.
    pub fn new(mode: Mode, log_dir: Utf8PathBuf, total: usize) -> Result<Runner> {
        paths::empty_of(&log_dir, "log")?;
        Ok(Runner {
            mode,
            log_dir,
            total,
            width: NAME_WIDTH,
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            outcomes: Vec::new(),
        })
    }

    /// A name column as wide as the longest of `names`, the steps that may run, so that
    /// the lines of every step line up from the first.
    pub fn with_names<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Runner {
        self.width = name_width(names);
        self
    }

    /// Runs `body` as the next step, on this thread: its output to its log, its verdict
    /// shown when it ends, and on failure what a person needs to act, then the log's path.
    /// Returns what the body returned; an error comes back marked as shown
    /// ([`Reported`]), so that `main` does not print it a second time.
    /// `body` is handed the step's context, made from `sh`'s folder and cancel token.
    pub fn step<T>(
        &mut self,
        sh: &StepContext,
        name: &str,
        body: impl FnOnce(&StepContext, &mut Step) -> Result<T>,
    ) -> Result<T> {
        let mut step = self.begin(self.outcomes.len() + 1, name);
        let mut value = None;
        let (seed, cancel) = (sh.seed(), sh.cancel_token().clone());
        let result = step.run(&seed, cancel, |cx, step| {
            value = Some(body(cx, step)?);
            Ok(())
        });
        let state = state_of(&result);
        self.finish(step, &result, state);
        match result {
            Ok(()) => Ok(value.expect("the body returned a value")),
            // Not shown as a failure: `main` names the signal.
            Err(error) if state == State::Stopped => Err(error),
            Err(error) => {
                let code = process::exit_code_of(&error);
                Err(error.context(Reported { code }))
            }
        }
    }

    /// Starts showing step number `index` (from 1, its place in the summary).
    pub fn begin(&mut self, index: usize, name: &str) -> Step {
        let log = self.log_dir.join(format!("{index:02}-{}.log", slug(name)));
        match self.mode {
            Mode::Verbose => errln!("==> [{index}/{}] {name}", self.total),
            Mode::Live | Mode::Plain | Mode::GitHub => {}
        }
        Step {
            log,
            lane: None,
            index,
            name: name.to_owned(),
            echo: (self.mode == Mode::Verbose).then(|| format!("[{name}] ")),
            start: Instant::now(),
            bar: (self.mode == Mode::Live).then(|| self.spinner(name)),
            counts: None,
            reruns: Vec::new(),
            note: None,
            details: None,
            warnings: Vec::new(),
            flaky: 0,
            tests: Vec::new(),
        }
    }

    /// A live line for a step, among the others that run. It ticks only once it belongs
    /// to them: a tick before would draw it on its own, a line the others never clear.
    fn spinner(&self, name: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        let template = format!(
            "{{spinner}} {{prefix:<{}}} {{elapsed:>4}} {{wide_msg}}",
            self.width
        );
        bar.set_style(ProgressStyle::with_template(&template).expect("the template is valid"));
        bar.set_prefix(name.to_owned());
        let bar = self.bars.add(bar);
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }

    /// Shows how `step` ended and keeps its outcome; `state` says how (see [`state_of`]),
    /// for a scheduler that knows more (a stop after another step's failure).
    pub fn finish(&mut self, mut step: Step, result: &Result<()>, state: State) {
        let duration = step.start.elapsed();
        if let Some(bar) = step.bar.take() {
            bar.finish_and_clear();
            self.bars.remove(&bar);
        }
        self.bars
            .suspend(|| self.conclude(&step, result, state, duration));
        self.outcomes.push(Outcome {
            index: step.index,
            name: step.name,
            state,
            duration: Some(duration),
            error: result.as_ref().err().map(|e| format!("{e:#}")),
            counts: step.counts,
            flaky: step.flaky,
            tests: step.tests,
            reruns: step.reruns,
        });
    }

    /// The verdict line, the warnings, and for a failure its details and log.
    fn conclude(&self, step: &Step, result: &Result<()>, state: State, duration: Duration) {
        if self.mode == Mode::GitHub {
            // Steps run side by side, so their groups are shown whole, when they end.
            outln!("::group::{}. {}", step.index, step.name);
            let log = std::fs::read_to_string(&step.log).unwrap_or_default();
            outln!("{}", log.trim_end());
            outln!("::endgroup::");
        }
        let (mark, counts) = match state {
            State::Passed => (paint("✓", Colour::Green), step.verdict()),
            State::Failed => (paint("✗", Colour::Red), step.verdict()),
            _ => ("-".to_owned(), "stopped".to_owned()),
        };
        let (name, width) = (&step.name, self.width);
        errln!(
            "{mark} {name:<width$} {counts:<32} {:>7.2} s",
            duration.as_secs_f64()
        );
        for warning in &step.warnings {
            if self.mode == Mode::GitHub {
                outln!("::warning::{warning}");
            } else {
                errln!("{}", paint(warning, Colour::Yellow));
            }
        }
        let Err(error) = result else {
            return;
        };
        if state != State::Failed {
            return;
        }
        // An empty log adds nothing to the error below.
        let has_output = std::fs::metadata(&step.log).is_ok_and(|m| m.len() > 0);
        if !self.mode.streams() && (step.details.is_some() || has_output) {
            let details = step
                .details
                .clone()
                .unwrap_or_else(|| tail::last_lines(&step.log, TAIL_LINES));
            errln!("{details}");
        }
        errln!("{} {error:#}", console::error_mark());
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
    pub fn not_run(&mut self, index: usize, name: &str) {
        self.outcomes.push(Outcome {
            index,
            name: name.to_owned(),
            state: State::NotRun,
            duration: None,
            error: None,
            counts: None,
            flaky: 0,
            tests: Vec::new(),
            reruns: Vec::new(),
        });
    }

    /// Every test of every step, and one failure for each step that failed without a
    /// failed test.
    pub fn totals(&self) -> Counts {
        self.outcomes
            .iter()
            .map(|o| Counts {
                failed: o.failures(),
                ..o.counts.unwrap_or_default()
            })
            .fold(Counts::default(), std::ops::Add::add)
    }

    /// How many tests of every step failed, then passed on a retry.
    pub fn flaky(&self) -> u64 {
        self.outcomes.iter().map(|o| o.flaky).sum()
    }

    /// Every test of every step, as it ended, in the order of the table.
    pub fn tests(&self) -> Vec<TestEnded> {
        let outcomes = self.in_order().into_iter();
        outcomes.flat_map(|o| o.tests.iter().cloned()).collect()
    }

    /// The last lines of a run, for stdout after the summary: how to rerun each failed
    /// test; for a failed run, the step that failed and why, in one line; the steps that
    /// were stopped or never ran, if any; and last `LABEL: N passed, N failed, N skipped`.
    /// `error` is the run's, `totals` what the last line counts.
    pub fn end_lines(
        &self,
        error: Option<&anyhow::Error>,
        totals: Counts,
        label: &str,
    ) -> Vec<String> {
        let outcomes = self.in_order();
        let mut lines: Vec<String> = outcomes.iter().flat_map(|o| o.reruns.clone()).collect();
        lines.extend(error.and_then(|error| self.failed_line(error)));
        lines.extend(self.stopped_line(error));
        lines.push(totals.line(label));
        lines
    }

    /// `failed: STEP: CAUSE`: the step that failed, and why, in one line; `None` when no
    /// step failed (the run was only stopped).
    pub fn failed_line(&self, error: &anyhow::Error) -> Option<String> {
        let outcomes = self.in_order();
        let failed = outcomes.iter().find(|o| o.state == State::Failed)?;
        let cause = format!("{error:#}");
        let cause = cause.lines().next().unwrap_or_default();
        let mark = console::paint_stdout("failed:", Colour::Red);
        Some(format!("{mark} {}: {cause}", failed.name))
    }

    /// `interrupted by SIGINT: 2 steps stopped (a, b), 3 never run (c, d, e)`: what a stop
    /// left undone, or `None` when every step ran to its end.
    fn stopped_line(&self, error: Option<&anyhow::Error>) -> Option<String> {
        let names = |state| -> Vec<&str> {
            let outcomes = self.in_order().into_iter().filter(|o| o.state == state);
            outcomes.map(|o| o.name.as_str()).collect()
        };
        let (stopped, not_run) = (names(State::Stopped), names(State::NotRun));
        if stopped.is_empty() && not_run.is_empty() {
            return None;
        }
        let part = |names: &[&str], what: &str| match names {
            [] => format!("0 steps {what}"),
            [one] => format!("1 step {what} ({one})"),
            names => format!("{} steps {what} ({})", names.len(), names.join(", ")),
        };
        let interrupted =
            error.and_then(|e| e.chain().find_map(|c| c.downcast_ref::<Interrupted>()));
        let why = match interrupted.copied().or_else(signals::received) {
            Some(interrupted) => interrupted.to_string(),
            None => "after the failure".to_owned(),
        };
        Some(format!(
            "{why}: {}, {}",
            part(&stopped, "stopped"),
            part(&not_run, "never run")
        ))
    }

    /// The outcomes in the order of the table of steps.
    pub fn in_order(&self) -> Vec<&Outcome> {
        let mut outcomes: Vec<&Outcome> = self.outcomes.iter().collect();
        outcomes.sort_by_key(|o| o.index);
        outcomes
    }

    /// The table of every step, with the step logs' folder.
    pub fn summary(&self) -> String {
        let names = self.outcomes.iter().map(|o| o.name.as_str());
        let width = name_width(names).max(self.width);
        let mut table = format!(
            "\n{:<width$} {:<8} {:>7} {:>7} {:>7} {:>10}\n",
            "step", "result", "passed", "failed", "skipped", "time"
        );
        for outcome in self.in_order() {
            let Some(duration) = outcome.duration else {
                let _ = writeln!(table, "{:<width$} not run", outcome.name);
                continue;
            };
            let result = match outcome.state {
                State::Failed => "FAILED",
                State::Stopped => "stopped",
                _ => "ok",
            };
            let numbers = outcome.counts.map_or_else(
                || format!("{:>7} {:>7} {:>7}", "", "", ""),
                |c| format!("{:>7} {:>7} {:>7}", c.passed, c.failed, c.skipped),
            );
            let secs = duration.as_secs_f64();
            let _ = writeln!(
                table,
                "{:<width$} {result:<8} {numbers} {secs:>8.2} s",
                outcome.name
            );
        }
        let t = self.totals();
        // The totals' numbers under the steps': past the name and the result columns.
        let total_width = width + 9;
        let _ = writeln!(
            table,
            "{:<total_width$} {:>7} {:>7} {:>7}",
            "total", t.passed, t.failed, t.skipped,
        );
        let _ = write!(table, "step logs: {}", paths::display_path(&self.log_dir));
        table
    }
}

impl Step {
    /// Runs `body` on this thread, with this thread's trace and the output of the children
    /// it starts going to the step's log.
    /// Runs `body` on this thread, handed the step's context: a shell as `seed` says, the step's
    /// log for its trace and its children's output, and `cancel`, which stops its waits.
    pub fn run(
        &mut self,
        seed: &Seed,
        cancel: CancelToken,
        body: impl FnOnce(&StepContext, &mut Step) -> Result<()>,
    ) -> Result<()> {
        let log = Log::open(&self.log)?;
        let _echo = match &self.echo {
            Some(prefix) => Some(
                Echo::start(&self.log, prefix.clone())
                    .with_context(|| format!("cannot read the step log {}", self.log))?,
            ),
            None => None,
        };
        let cx = StepContext::for_step(seed, log, cancel)?;
        body(&cx, self)
    }

    /// Its counts, or its note, for the verdict line.
    fn verdict(&self) -> String {
        match (self.counts.map(Counts::describe), &self.note) {
            (Some(counts), Some(note)) => format!("{counts} ({note})"),
            (counts, note) => counts.or_else(|| note.clone()).unwrap_or_default(),
        }
    }

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

    /// A word on how the step ran (skipped as unchanged, say), shown after its counts.
    pub fn note(&mut self, note: &str) {
        self.note = Some(note.to_owned());
    }

    /// How to rerun a test that failed, for the results after the summary.
    pub fn rerun(&mut self, line: String) {
        self.reruns.push(line);
    }

    /// What to show if the step fails, instead of the end of its log.
    pub fn details(&mut self, details: String) {
        self.details = Some(details);
    }

    /// A line for the main output that does not fail the step (a slow test, say).
    pub fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// A test that failed, then passed on attempt `attempts`: a `flaky:` warning (yellow on
    /// a terminal, an annotation on GitHub Actions), counted for the line before the totals.
    pub fn flaky(&mut self, test: &str, attempts: usize) {
        self.flaky += 1;
        self.warn(flaky_line(test, attempts));
    }

    /// A test of this step ended: kept for the tests' history.
    pub fn test_ended(&mut self, test: TestEnded) {
        self.tests.push(test);
    }
}

/// How a step that ended with `result` ended: an error that only says the run was stopped
/// (a signal, or another step's failure), or any error once a signal came (a child that
/// the terminal's Ctrl-C reached too exits 130 by itself), stopped it; it did not fail.
pub fn state_of(result: &Result<()>) -> State {
    match result {
        Ok(()) => State::Passed,
        Err(error) if signals::is_stop(error) || signals::received().is_some() => State::Stopped,
        Err(_) => State::Failed,
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} {prefix:<20} {elapsed:>4} [{bar:24}] {pos}/{len} {wide_msg}",
    )
    .expect("the template is valid")
    .progress_chars("=> ")
}

/// The line before the totals when tests passed only on a retry.
pub fn flaky_count(flaky: u64, fail: bool) -> String {
    let tests = if flaky == 1 { "test" } else { "tests" };
    let verdict = if fail {
        "which fails the run (--flaky-fails)"
    } else {
        "named above; --flaky-fails makes that fail the run"
    };
    format!("flaky: {flaky} {tests} failed, then passed on a retry, {verdict}")
}

/// `flaky: TEST failed, then passed on attempt N`.
pub fn flaky_line(test: &str, attempts: usize) -> String {
    format!("flaky: {test} failed, then passed on attempt {attempts}")
}

/// `pytest integration` → `pytest-integration`, `pytest unit (py3.10)` →
/// `pytest-unit-py3-10`: a step's name in its log file and in `--only`.
pub fn slug(name: &str) -> String {
    let words = name.split(|c: char| !c.is_ascii_alphanumeric());
    let words: Vec<String> = words
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    words.join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_step_keeps_its_whole_output_and_the_summary_adds_up() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8PathBuf::try_from(dir.path().to_owned()).unwrap();
        let mut runner = Runner::new(Mode::Plain, dir.clone(), 4).unwrap();
        let sh = &StepContext::terminal(paths::shell().unwrap());
        let value = runner
            .step(sh, "first", |sh, step| {
                crate::traceln!(sh, "$ a command");
                step.counts(Counts {
                    passed: 4,
                    failed: 0,
                    skipped: 1,
                });
                Ok(7)
            })
            .unwrap();
        assert_eq!(value, 7, "the body's value comes back");
        let error = runner
            .step(sh, "second one", |_, step| -> Result<()> {
                step.counts(Counts {
                    passed: 1,
                    failed: 2,
                    skipped: 0,
                });
                anyhow::bail!("it broke")
            })
            .unwrap_err();
        assert_eq!(error.root_cause().to_string(), "it broke");
        assert!(
            error.downcast_ref::<Reported>().is_some(),
            "shown once, under the step"
        );
        // A build error: no test failed, yet the step did.
        runner
            .step(sh, "build", |_, _| -> Result<()> {
                anyhow::bail!("error[E0425]")
            })
            .unwrap_err();
        runner.not_run(4, "fourth");
        let first_log = std::fs::read_to_string(dir.join("01-first.log")).unwrap();
        assert_eq!(first_log, "$ a command\n");
        assert!(dir.join("02-second-one.log").is_file());
        assert_eq!(
            runner.totals(),
            Counts {
                passed: 5,
                failed: 3,
                skipped: 1
            }
        );
        let summary = runner.summary();
        assert!(
            summary.contains("second one           FAILED         1       2       0"),
            "{summary}"
        );
        assert!(
            summary.contains("fourth               not run"),
            "{summary}"
        );
        // A name longer than the column widens it for every line, the totals' too.
        runner.not_run(5, "pytest integration (py3.10)");
        let summary = runner.summary();
        let column = |line_start: &str| {
            let line = summary.lines().find(|l| l.starts_with(line_start)).unwrap();
            line.find(" FAILED").or_else(|| line.find(" not run"))
        };
        assert_eq!(column("second one"), Some(27), "{summary}");
        assert_eq!(column("pytest integration"), Some(27), "{summary}");
        let total = summary.lines().find(|l| l.starts_with("total")).unwrap();
        let passed = summary
            .lines()
            .find(|l| l.starts_with("second one"))
            .unwrap();
        assert_eq!(total.find("  5"), passed.find("  1"), "{summary}");
        assert_eq!(slug("pytest unit (py3.10)"), "pytest-unit-py3-10");
        // A new runner starts from an empty folder.
        Runner::new(Mode::Plain, dir.clone(), 1).unwrap();
        assert!(!dir.join("01-first.log").exists());
    }
}
