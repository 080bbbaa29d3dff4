//! What `ci` tells once its steps have ended: the run into the tests' history, a JUnit
//! report of the steps, the summary and the results on stdout, and the totals line last,
//! whatever happened (CI log readers look for it).

use anyhow::Result;
use camino::Utf8PathBuf;

use super::coverage;
use crate::base::console::{self, Colour};
use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::{self, Reported};
use crate::engine::events::{Case, TestEnded, TestOutcome};
use crate::engine::history;
use crate::engine::junit;
use crate::engine::steps::{self, Outcome, Runner, State};
use crate::flags;
use crate::python::pytest_runner;
use crate::{errln, outln};

/// What the run leaves for its end, once the steps' shared state is gone.
pub(super) struct RunEnd {
    pub(super) xtask_dir: Utf8PathBuf,
    pub(super) junit_dir: Utf8PathBuf,
    /// The steps `--changed` left out, for the line under the summary.
    pub(super) left_out: String,
    /// With `--coverage`, the table, printed after the summary.
    pub(super) coverage_table: Option<String>,
}

/// Records and tells the run's end; the run's failure comes back as [`Reported`]: it was
/// shown under its step, and main only passes its exit code on.
pub(super) fn tell(
    sh: &StepContext,
    flags: &flags::Ci,
    runner: &Runner,
    end: RunEnd,
    result: Result<()>,
) -> Result<()> {
    record(sh, runner, &end.junit_dir)?;
    show_results(flags, runner, &end, &result)?;
    show_totals(flags, runner, &result);
    result.map_err(|error| {
        Reported {
            code: process::exit_code_of(&error),
        }
        .into()
    })
}

/// The tests' history, from the tests' ends as the steps told them (not from the reports),
/// and the JUnit report of the steps beside the stages' own.
fn record(sh: &StepContext, runner: &Runner, junit_dir: &Utf8PathBuf) -> Result<()> {
    if let Err(error) = history::record_run(sh, &runner.tests()) {
        errln!("warning: this run is not in the tests' history: {error:#}");
    }
    let steps = step_cases(&runner.in_order());
    junit::write(&junit_dir.join("ci.xml"), "cargo xtask ci", &steps)?;
    errln!("JUnit reports: {}", paths::display_path(junit_dir));
    Ok(())
}

/// The summary, what `--changed` left out, and the coverage asked for. The results go to
/// stdout, as pytest's and cargo test's do, so that `ci > out.txt` keeps them; progress
/// and logs stay on stderr.
fn show_results(
    flags: &flags::Ci,
    runner: &Runner,
    end: &RunEnd,
    result: &Result<()>,
) -> Result<()> {
    outln!("{}", runner.summary());
    if flags.changed.is_some() {
        outln!("left out, as no change affects them: {}", end.left_out);
    }
    if let Some(table) = &end.coverage_table {
        coverage::show_table(table)?;
    }
    if flags.cov && result.is_ok() {
        outln!(
            "{}",
            pytest_runner::coverage_total(&end.xtask_dir.join("coverage.xml"))
        );
    }
    Ok(())
}

/// The last lines, whatever happened: CI log readers look for the totals line.
fn show_totals(flags: &flags::Ci, runner: &Runner, result: &Result<()>) {
    let mut lines = runner.end_lines(result.as_ref().err(), runner.totals(), "ci");
    if runner.flaky() > 0 {
        // On the line before the totals: the last line keeps its exact form.
        let count = steps::flaky_count(runner.flaky(), flags.retries.flaky_fails);
        let at = lines.len() - 1;
        lines.insert(at, console::paint_stdout(&count, Colour::Yellow));
    }
    for line in lines {
        outln!("{line}");
    }
}

/// The steps as the tests of a JUnit report: a case per step, failed, skipped (not run or
/// stopped) or passed.
fn step_cases(outcomes: &[&Outcome]) -> Vec<TestEnded> {
    let ended = |outcome: &Outcome, result, message: Option<String>, output| TestEnded {
        test: outcome.name.clone(),
        outcome: result,
        duration: outcome.duration.unwrap_or_default(),
        attempt: 1,
        case: Case {
            suite: "cargo xtask ci".to_owned(),
            class: "ci".to_owned(),
            name: outcome.name.clone(),
            message,
            output,
            failed_attempts: Vec::new(),
        },
    };
    let cases = outcomes.iter().map(|outcome| match outcome.state {
        State::Passed => ended(outcome, TestOutcome::Passed, None, None),
        State::Failed => {
            let message = format!("step `{}` failed", outcome.name);
            ended(
                outcome,
                TestOutcome::Failed,
                Some(message),
                outcome.error.clone(),
            )
        }
        State::Stopped => {
            let message = outcome
                .error
                .clone()
                .unwrap_or_else(|| "stopped".to_owned());
            ended(outcome, TestOutcome::Skipped, Some(message), None)
        }
        State::NotRun => {
            let message = "not run: what it needs did not pass".to_owned();
            ended(outcome, TestOutcome::Skipped, Some(message), None)
        }
    });
    cases.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn junit_lists_every_step_and_escapes_what_xml_forbids() {
        let outcome = |name: &str, state: State, error: Option<&str>| Outcome {
            index: 0,
            name: name.to_owned(),
            state,
            duration: (state != State::NotRun).then_some(Duration::from_millis(1500)),
            error: error.map(str::to_owned),
            counts: None,
            flaky: 0,
            tests: Vec::new(),
            reruns: Vec::new(),
        };
        let outcomes = [
            outcome("rust build", State::Passed, None),
            outcome("extract", State::Failed, Some("a <b> & c \u{1b}[31m\u{7}")),
            outcome("rust tests", State::Stopped, Some("stopped")),
            outcome("server up", State::NotRun, None),
        ];
        let steps = step_cases(&outcomes.iter().collect::<Vec<_>>());
        let xml = junit::report("cargo xtask ci", &steps).to_string().unwrap();
        assert!(
            xml.contains(r#"tests="4" skipped="2" failures="1""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="rust build" classname="ci" time="1.500""#),
            "{xml}"
        );
        assert!(xml.contains("a &lt;b&gt; &amp; c"), "{xml}");
        assert!(!xml.contains('\u{7}') && !xml.contains('\u{1b}'), "{xml}");
        assert_eq!(xml.matches("<skipped").count(), 2, "{xml}");
    }
}
