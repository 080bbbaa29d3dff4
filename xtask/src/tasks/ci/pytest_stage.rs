//! A pytest stage of `ci` (unit, integration, e2e), in the bindings' venv or a lane's:
//! pytest followed through its report log for the display, the counts and the timings;
//! each test's end told to the step, a JUnit report written from the log, and a verdict
//! that names the first failed test (a README example by its README line).

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};

use super::{Ci, lanes};
use crate::adapters::pytest_events::{self, PytestRun};
use crate::base::context::StepContext;
use crate::base::github;
use crate::base::paths;
use crate::base::process::{self, Failed};
use crate::base::signals;
use crate::base::tail::Tail;
use crate::engine::events::TestEnded;
use crate::engine::junit;
use crate::engine::steps::Step;
use crate::flags::{self, Suite};
use crate::python::pytest_runner::{self, Coverage, Target};
use crate::python::venv;
use crate::server::test_server::Server;
use crate::{outln, traceln};

/// Lines of pytest's failure reports shown under a failed stage; the log has all of them.
const FAILURE_LINES: usize = 100;

/// pytest's arguments and environment, as `pytest_runner` takes them.
type Command = (Vec<String>, Vec<(&'static str, String)>);

/// Runs one stage, following pytest's report log for the display, the counts and the
/// timings; names the slowest tests in the log and the outliers in the output.
pub(super) fn run(
    ci: &Ci,
    sh: &StepContext,
    step: &mut Step,
    stage: Suite,
    server: Option<&Server>,
) -> Result<()> {
    let Some(paths) = ci.focus.pytest_paths(&format!("pytest {}", stage.name())) else {
        step.note("no change affects its tests");
        return Ok(());
    };
    let lane = ci.lane(step);
    let files = StageFiles::new(ci, stage, lane)?;
    let (args, env) = command(ci, stage, &files, paths);
    let target = match server {
        Some(server) => Target::Guarded(server),
        None => Target::Nothing,
    };
    let python = match lane {
        Some(lane) => lane.python.made()?.clone(),
        None => venv::python(),
    };
    let _slot = ci.slots.take(sh)?;
    let (result, tests) = follow(sh, step, &python, target, &(args, env), &files);
    let result = match result {
        Err(error) if ci.flags.shard.is_some() && pytest_runner::no_tests_collected(&error) => {
            step.note("none in this shard");
            Ok(())
        }
        result => result,
    };
    if result.is_err() {
        show_failures(ci, step, &tests, stage, lane);
    }
    report_stage(sh, step, &tests, stage);
    record_tests(step, &tests, stage, lane, &files.junit)?;
    verdict(ci, result, &tests)
}

/// The files of one stage's run, emptied of an earlier run's (the report log is read as
/// pytest writes it). A lane's files are its own: `unit-py3.12.jsonl`,
/// `pytest-unit-py3.12.xml`.
struct StageFiles {
    /// pytest's report log, followed for the display and read for the JUnit report.
    events: Utf8PathBuf,
    /// How many tests pytest collected, written by conftest.py: the progress line's total.
    collected: Utf8PathBuf,
    /// The stage's JUnit report.
    junit: Utf8PathBuf,
}

impl StageFiles {
    fn new(ci: &Ci, stage: Suite, lane: Option<&lanes::Lane>) -> Result<Self> {
        let name = match lane {
            Some(lane) => format!("{}-{}", stage.name(), lane.name),
            None => stage.name().to_owned(),
        };
        let events = paths::fresh_file(&ci.xtask_dir.join(format!("pytest/{name}.jsonl")))?;
        let collected = paths::fresh_file(&ci.xtask_dir.join(format!("pytest/{name}.collected")))?;
        let junit = ci.junit_dir.join(format!("pytest-{name}.xml"));
        Ok(Self {
            events,
            collected,
            junit,
        })
    }
}

/// pytest's arguments and environment for a stage: its marker, its report log, the reruns,
/// this shard's tests, the tests the changes call for first, and the coverage asked for.
fn command(ci: &Ci, stage: Suite, files: &StageFiles, paths: Vec<String>) -> Command {
    let mut args = vec![
        "-m".to_owned(),
        stage.marker_expression().to_owned(),
        format!("--report-log={}", files.events),
    ];
    if ci.flags.retries.retries > 0 {
        args.push(format!("--reruns={}", ci.flags.retries.retries));
    }
    args.extend(split_args(&ci.flags));
    args.extend(paths);
    let mut env = vec![
        ("XTASK_COLLECTED_FILE", files.collected.to_string()),
        (
            "XTASK_FIRST_FILES",
            ci.focus.first_files(&paths::bindings_dir()),
        ),
    ];
    env.extend(ci.archive.pytest_env());
    let mut command = (args, env);
    add_coverage(ci, stage, &mut command);
    command
}

/// With `--coverage`, the Python side's profiles; with `--cov` or `--coverage`, pytest-cov's
/// arguments for this stage's part of one measure that the stages add to.
fn add_coverage(ci: &Ci, stage: Suite, (args, env): &mut Command) {
    if let Some(profiles) = &ci.coverage {
        // The bindings' extension, loaded by pytest, writes the Python side's profiles.
        env.push(("LLVM_PROFILE_FILE", profiles.python_pattern()));
    }
    if ci.flags.cov || ci.coverage.is_some() {
        let part = match stage {
            Suite::Unit => Coverage::First,
            // With --coverage, the coverage step reports and holds the threshold.
            Suite::E2e if ci.coverage.is_none() => Coverage::Last,
            _ => Coverage::Middle,
        };
        args.extend(pytest_runner::coverage_args(part, &ci.xtask_dir));
        env.push(("COVERAGE_FILE", ci.xtask_dir.join(".coverage").to_string()));
    }
}

/// Runs pytest, following its report log for the step's progress line (the counts, the
/// collected total, the running test); returns its result and the tests as the log told
/// them, to the last line.
fn follow(
    sh: &StepContext,
    step: &mut Step,
    python: &Utf8Path,
    target: Target<'_>,
    (args, env): &Command,
    files: &StageFiles,
) -> (Result<()>, PytestRun) {
    let mut log = Tail::new(&files.events);
    let mut tests = PytestRun::default();
    let result = pytest_runner::run_with(
        sh,
        python,
        target,
        args,
        env,
        pytest_runner::Report::WithTheTrace,
        || {
            tests.feed(&log.read_new());
            let total = std::fs::read_to_string(&files.collected).ok();
            let total = total.and_then(|text| text.trim().parse().ok());
            step.progress(tests.counts, total, tests.running.as_deref().unwrap_or(""));
            Ok(())
        },
    );
    tests.feed(&log.read_new());
    (result, tests)
}

/// Under a failed stage: pytest's reports of the first failed tests, the commands that run
/// the failed ones again, and where a failed README example is.
fn show_failures(
    ci: &Ci,
    step: &mut Step,
    tests: &PytestRun,
    stage: Suite,
    lane: Option<&lanes::Lane>,
) {
    // pytest's reports of the first failed tests, as the report log gave them.
    if let Some(reports) = pytest_events::failure_reports(tests, FAILURE_LINES) {
        step.details(reports);
    }
    // Interrupted too, the failures so far are named, with the results.
    for rerun in pytest_runner::rerun_lines(&tests.failed.join("\n"), stage, None) {
        step.rerun(match lane {
            Some(lane) => lanes::rerun_in(&rerun, lane),
            None => rerun,
        });
    }
    annotate_readme_failures(ci.github, tests, step);
}

/// The stage's JUnit report, from the report log, with each test's failed attempts
/// (pytest's own `--junitxml` writes a test that ran again twice, and no attempt); and each
/// test's end, and each flaky test, told to the step.
fn record_tests(
    step: &mut Step,
    tests: &PytestRun,
    stage: Suite,
    lane: Option<&lanes::Lane>,
    junit: &Utf8Path,
) -> Result<()> {
    let suite = match lane {
        Some(lane) => format!("pytest {} ({})", stage.name(), lane.name),
        None => format!("pytest {}", stage.name()),
    };
    let lane_name = lane.map(|lane| lane.name.as_str());
    let ended: Vec<TestEnded> = tests
        .finished
        .iter()
        .map(|test| test.ended(paths::BINDINGS, &suite, lane_name))
        .collect();
    junit::write(junit, &suite, &ended)?;
    for test in tests.flaky() {
        step.flaky(
            &format!("{}/{}", paths::BINDINGS, test.nodeid),
            test.attempts(),
        );
    }
    for test in ended {
        step.test_ended(test);
    }
    Ok(())
}

/// The stage's verdict: with `--flaky-fails`, a passed stage with a flaky test fails.
fn verdict(ci: &Ci, result: Result<()>, tests: &PytestRun) -> Result<()> {
    let flaky_fails = ci.flags.retries.flaky_fails;
    match (result, tests.failed.first(), tests.flaky().next()) {
        (Ok(()), None, Some(first)) if flaky_fails => Err(anyhow::anyhow!(
            "{} flaky (--flaky-fails), {}/{} the first",
            tests.flaky().count(),
            paths::BINDINGS,
            first.nodeid
        )),
        (result, first, _) => stage_result(result, first, tests),
    }
}

/// A stage's verdict: the failed tests say more than pytest's exit code.
fn stage_result(result: Result<()>, first: Option<&String>, tests: &PytestRun) -> Result<()> {
    match (result, first) {
        // The failed tests say more than pytest's exit code.
        (Err(error), Some(first)) if !signals::is_stop(&error) => Err(Failed {
            code: process::exit_code_of(&error),
            message: format!(
                "{} failed, the first {}",
                tests.counts.failed,
                place(tests, first)
            ),
        }
        .into()),
        (result, _) => result,
    }
}

/// pytest-split's arguments: this shard's group of the stage's tests, balanced by the
/// recorded durations (`--shard`), or the durations recorded (`--store-durations`).
fn split_args(flags: &flags::Ci) -> Vec<String> {
    let durations = format!("--durations-path={}", durations_file());
    if let Some(shard) = flags.shard {
        return vec![
            format!("--splits={}", shard.count),
            format!("--group={}", shard.index),
            durations,
            // Each test to the group with the least time so far: the groups' times come
            // closer than with consecutive chunks, and a group never has to be contiguous.
            "--splitting-algorithm=least_duration".to_owned(),
        ];
    }
    if flags.store_durations {
        return vec!["--store-durations".to_owned(), durations];
    }
    Vec::new()
}

/// The recorded pytest durations that `--shard` splits by; committed.
fn durations_file() -> Utf8PathBuf {
    paths::bindings_dir().join(".test_durations")
}

/// Where a failed test is, from the repository root: a README example by its README line.
fn place(tests: &PytestRun, nodeid: &str) -> String {
    let readme = tests
        .readme_failures
        .iter()
        .find(|f| nodeid.ends_with(&format!("::{}", f.test)));
    match readme {
        Some(failure) => format!("{}:{} ({})", failure.readme, failure.line, failure.test),
        None => format!("{}/{nodeid}", paths::BINDINGS),
    }
}

/// The stage's counts, its five slowest tests (into the log), and its outliers.
fn report_stage(sh: &StepContext, step: &mut Step, tests: &PytestRun, stage: Suite) {
    step.counts(tests.counts);
    traceln!(sh, "slowest tests:");
    for test in tests.slowest(5) {
        traceln!(
            sh,
            "  {:>7.2} s  {}",
            test.duration.as_secs_f64(),
            test.nodeid
        );
    }
    let Some(budget) = stage.budget() else {
        return;
    };
    for test in tests.outliers(budget) {
        step.warn(format!(
            "slow: {} took {:.2} s ({} budget {} s)",
            test.nodeid,
            test.duration.as_secs_f64(),
            stage.name(),
            budget.as_secs()
        ));
    }
}

/// Points at the README line of each failing README block: a `::error` annotation on
/// GitHub Actions, a `path:line:` line under the step's verdict elsewhere. The lines come
/// from the tests' own report.
fn annotate_readme_failures(github: bool, tests: &PytestRun, step: &mut Step) {
    for failure in &tests.readme_failures {
        if github {
            let (file, line) = (&failure.readme, failure.line);
            let summary = format!("README example failed ({})", failure.test);
            outln!(
                "::error file={file},line={line}::{}",
                github::escape_data(&summary)
            );
        } else {
            step.warn(failure.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_test_is_named_from_the_root_and_a_readme_example_by_its_line() {
        let mut tests = PytestRun::default();
        tests.readme_failures.push(pytest_events::ReadmeFailure {
            test: "test_readme_block_1_quick_start".to_owned(),
            readme: "experiments/x/README.md".to_owned(),
            line: 54,
        });
        let block = "tests/test_readme_blocks.py::test_readme_block_1_quick_start";
        assert_eq!(
            place(&tests, block),
            "experiments/x/README.md:54 (test_readme_block_1_quick_start)"
        );
        let other = "tests/test_x.py::test_readme_block_1_quick_start_again";
        assert_eq!(place(&tests, other), format!("{}/{other}", paths::BINDINGS));
    }
}
