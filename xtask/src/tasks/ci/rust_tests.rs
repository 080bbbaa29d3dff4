//! The Rust tests of a `ci` run: the test binaries through cargo-nextest (the shard's part
//! of them with `--shard`), the doctests through `cargo test --doc`; each with live
//! progress, a JUnit report in the run's JUnit folder, and the budgets of [`nextest`].

use std::time::Duration;

use anyhow::{Context, Result};
use camino::Utf8PathBuf;
use xshell::cmd;

use crate::adapters::compiler;
use crate::adapters::libtest::{self, Libtest};
use crate::adapters::nextest;
use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::{self, Event, Failed, Job, Sink, Stream};
use crate::base::signals;
use crate::engine::events::{Case, Counts, TestEnded, TestOutcome};
use crate::engine::junit;
use crate::engine::steps::Step;
use crate::flags::{Retries, Shard};
use crate::traceln;

/// Lines of the failed tests' output shown under the step, for the first three of them
/// together; the log has all of it.
const FAILURE_LINES: usize = 100;

/// Where a run's reports go, and which shard it runs.
pub struct Run {
    /// xtask's folder of the worktree: nextest's events go to its `nextest/`.
    pub xtask_dir: Utf8PathBuf,
    /// The run's JUnit folder.
    pub junit_dir: Utf8PathBuf,
    pub shard: Option<Shard>,
    pub retries: Retries,
    /// Whether nextest stops at the first failed test (the `ci` profile's default).
    pub fail_fast: bool,
    /// For the tests' environment: with `--from`, the archive's server and this checkout's
    /// target dir, for the tests that start xtask (whose own paths name the build's).
    pub env: Vec<(&'static str, String)>,
}

/// Runs the `selection` (cargo's package and target arguments) with nextest's `profile`,
/// the shard's part of it with a shard, following its events for the display and the
/// counts; then its JUnit report, with the ignored tests added, goes to the JUnit folder,
/// and the times in it are checked against the budgets.
pub fn test_binaries(
    sh: &StepContext,
    step: &mut Step,
    run: &Run,
    profile: &'static str,
    selection: Vec<String>,
) -> Result<()> {
    let tests = Tests {
        env: run.env.clone(),
        nextest: nextest::binary()?,
        profile,
        selection,
        partition: run
            .shard
            .map(|shard| format!("--partition=slice:{}/{}", shard.index, shard.count)),
    };
    let events = run_nextest(run, step, sh, &tests)?;
    // nextest reports an ignored test only from a binary that it runs; the list names them
    // all, this shard's part of them with --partition.
    let ignored = tests.list(sh, &["--run-ignored=only"], Part::Shard)?;
    step.counts(Counts {
        skipped: ignored.len() as u64,
        ..events.counts
    });
    // For the history and the report too, those of binaries that did not run (the others
    // told theirs).
    let mut ended = events.ended.clone();
    for id in &ignored {
        let test = id.to_string();
        if !events.ended.iter().any(|ended| ended.test == test) {
            let skipped = TestEnded {
                test,
                outcome: TestOutcome::Skipped,
                duration: Duration::ZERO,
                attempt: 1,
                case: Case {
                    message: Some("ignored".to_owned()),
                    ..id.case()
                },
            };
            step.test_ended(skipped.clone());
            ended.push(skipped);
        }
    }
    let junit = run.junit_dir.join(format!("nextest-{profile}.xml"));
    junit::write(
        &junit,
        &format!("cargo nextest run --profile {profile}"),
        &ended,
    )?;
    report_rust_times(sh, step, &tests, &events.timed)?;
    match events.flaky.first() {
        Some((first, _)) if run.retries.flaky_fails => Err(Failed {
            code: 1,
            message: format!(
                "{} flaky (--flaky-fails), {first} the first",
                events.flaky.len()
            ),
        }
        .into()),
        _ => Ok(()),
    }
}

/// What a nextest step runs: which nextest, which profile, the selection (packages,
/// targets) and this shard's partition of it.
struct Tests {
    nextest: Utf8PathBuf,
    profile: &'static str,
    selection: Vec<String>,
    partition: Option<String>,
    env: Vec<(&'static str, String)>,
}

/// Whether nextest's arguments name this shard's part of the selection or all of it.
#[derive(Clone, Copy)]
enum Part {
    Shard,
    /// For questions about given tests (is it slow by design, how to rerun it), which a
    /// partition of a filtered list would answer for other tests.
    All,
}

impl Tests {
    fn args(&self, part: Part) -> Vec<String> {
        let partition = match part {
            Part::Shard => self.partition.clone(),
            Part::All => None,
        };
        self.selection.iter().cloned().chain(partition).collect()
    }

    /// The tests of the selection that `filters` select, from `cargo nextest list`.
    fn list(&self, sh: &StepContext, filters: &[&str], part: Part) -> Result<Vec<nextest::TestId>> {
        let (nextest, selection) = (&self.nextest, self.args(part));
        let profile = format!("--profile={}", self.profile);
        let json = Job::new(
            sh,
            cmd!(
                sh,
                "{nextest} nextest list {profile} --message-format=json {filters...} {selection...}"
            ),
        )
        .read()?;
        nextest::listed(&json)
    }
}

/// `cargo nextest run`, its events followed for the progress line; returns them, or an
/// error that names the failed tests.
fn run_nextest(
    run: &Run,
    step: &mut Step,
    sh: &StepContext,
    tests: &Tests,
) -> Result<nextest::Events> {
    let profile = tests.profile;
    let events_file = paths::fresh_file(&run.xtask_dir.join(format!("nextest/{profile}.jsonl")))?;
    let mut args = vec![
        format!("--profile={profile}"),
        "--message-format=libtest-json-plus".to_owned(),
    ];
    if tests.partition.is_some() {
        // A shard may draw none of a small selection.
        args.push("--no-tests=pass".to_owned());
    }
    if run.retries.retries > 0 {
        args.push(format!("--retries={}", run.retries.retries));
    }
    if !run.fail_fast {
        args.push("--no-fail-fast".to_owned());
    }
    args.extend(tests.args(Part::Shard));
    let file = std::fs::File::create(&events_file)
        .with_context(|| format!("cannot create {events_file}"))?;
    let nextest = &tests.nextest;
    let mut job = Job::new(sh, cmd!(sh, "{nextest} nextest run {args...}"));
    for (name, value) in &tests.env {
        job = job.env(name, value);
    }
    let job = job
        .env("NEXTEST_EXPERIMENTAL_LIBTEST_JSON", "1")
        .stdout(Sink::File(file))
        .follow(Stream::Stdout)
        .follow(Stream::Stderr)
        .note(format!("events to {}", paths::display_path(&events_file)));
    let mut events = nextest::Events::default();
    // What nextest says on stderr (the build it runs first, its own errors), for a failure
    // before any test failed.
    let root = paths::project_root();
    let mut said = compiler::Rendered::new(&root, &root);
    // A stop ends the wait at once: the tests that nextest then reports as failed (it
    // killed them) are never read.
    let result = job.run_following(|event| {
        match event {
            Event::Output(Stream::Stdout, bytes) => events.feed(bytes),
            Event::Output(Stream::Stderr, bytes) => said.feed(bytes),
            Event::Tick => {}
        }
        step.progress(events.counts, None, events.running.as_deref().unwrap_or(""));
        Ok(())
    });
    said.finish();
    step.counts(events.counts);
    for (id, attempt) in &events.flaky {
        step.flaky(&id.to_string(), *attempt);
    }
    for test in &events.ended {
        step.test_ended(test.clone());
    }
    match result {
        Ok(()) => Ok(events),
        Err(error) if signals::is_stop(&error) => Err(error),
        Err(error) => Err(nextest_failure(step, &events, &said, error)),
    }
}

/// Most failed Rust tests given a rerun line.
const RERUN_LINES: usize = 5;

/// The failed tests' output and how to rerun each under the step, and an error that names
/// the first.
fn nextest_failure(
    step: &mut Step,
    events: &nextest::Events,
    said: &compiler::Rendered,
    error: anyhow::Error,
) -> anyhow::Error {
    let Some(first) = events.failures.first() else {
        // No test failed: a build error, or nextest's own, as it said on stderr.
        step.details(said.shown());
        return match said.errors.first() {
            Some(compiler_error) => anyhow::anyhow!(compiler_error.to_string())
                .context("nextest failed before any test failed"),
            None => error.context("nextest failed before any test failed"),
        };
    };
    let mut details = Vec::new();
    for failure in events.failures.iter().take(3) {
        let lines: Vec<&str> = failure.output.trim_end().lines().collect();
        let shown = &lines[lines.len().saturating_sub(FAILURE_LINES / 3)..];
        details.push(format!("--- {} ---\n{}", failure.id, shown.join("\n")));
    }
    for failure in events.failures.iter().take(RERUN_LINES) {
        details.push(format!("rerun: {}", failure.id.cargo_test()));
    }
    step.details(details.join("\n"));
    // One short line: the rerun lines are in the details above it.
    Failed {
        code: process::exit_code_of(&error),
        message: format!("{} failed, the first {}", events.counts.failed, first.id),
    }
    .into()
}

/// The five slowest tests into the step's log, and a `slow:` warning for each test over
/// its budget (unit 1 s, integration 5 s) that is not in the slow-by-design group.
fn report_rust_times(
    sh: &StepContext,
    step: &mut Step,
    tests: &Tests,
    times: &[nextest::Timed],
) -> Result<()> {
    traceln!(sh, "slowest tests:");
    for test in nextest::slowest(times, 5) {
        traceln!(sh, "  {:>7.2} s  {}", test.duration.as_secs_f64(), test.id);
    }
    let over = nextest::outliers(times, &Default::default());
    if over.is_empty() {
        return Ok(());
    }
    // Asked only when a test is over its budget: listing runs every test binary.
    let groups = nextest::SLOW_GROUPS.map(|group| format!("group({group})"));
    let filter = groups.join(" | ");
    let slow_by_design = tests.list(sh, &["-E", &filter], Part::All)?;
    let slow_by_design = slow_by_design.into_iter().collect();
    for test in nextest::outliers(times, &slow_by_design) {
        let kind = if test.id.budget() == nextest::UNIT_BUDGET {
            "unit"
        } else {
            "integration"
        };
        step.warn(format!(
            "slow: {} took {:.2} s (rust {kind} budget {} s)",
            test.id,
            test.duration.as_secs_f64(),
            test.id.budget().as_secs()
        ));
    }
    Ok(())
}

/// The examples in the Rust documentation: nextest cannot run them, `cargo test --doc`
/// does. They go whole to shard 1: splitting them would make every shard pay rustdoc's
/// compile of them all. Their JUnit report is written from libtest's lines, which are read
/// from a file of their own as they come (and copied to the step's log, for people).
pub fn doctests(sh: &StepContext, step: &mut Step, run: &Run) -> Result<()> {
    let out = paths::fresh_file(&run.xtask_dir.join("doctests.out"))?;
    let file = std::fs::File::create(&out).with_context(|| format!("cannot create {out}"))?;
    let job = Job::new(sh, cmd!(sh, "cargo test --workspace --doc"))
        .stdout(Sink::File(file))
        .follow(Stream::Stdout)
        .follow(Stream::Stderr)
        .note(format!("stdout to {}", paths::display_path(&out)));
    let mut tests = Libtest::default();
    // Its stdout, kept for a failed doctest's excerpt; its stderr (cargo's build of the
    // doctests' crates) read for the compiler's errors.
    let mut output = Vec::new();
    let root = paths::project_root();
    let mut said = compiler::Rendered::new(&root, &root);
    let result = job.run_following(|event| {
        match event {
            Event::Output(Stream::Stdout, bytes) => {
                // The log is for people: libtest's lines in it, as they come.
                sh.trace_bytes(bytes);
                tests.feed(bytes);
                output.extend_from_slice(bytes);
            }
            Event::Output(Stream::Stderr, bytes) => said.feed(bytes),
            Event::Tick => {}
        }
        step.progress(tests.live, None, "");
        Ok(())
    });
    said.finish();
    step.counts(tests.counts());
    let ended: Vec<TestEnded> = tests
        .finished
        .iter()
        .map(|(name, verdict)| doctest_ended(name, *verdict))
        .collect();
    junit::write(
        &run.junit_dir.join("doctests.xml"),
        "cargo test --doc",
        &ended,
    )?;
    for test in ended {
        step.test_ended(test);
    }
    if result.is_err() {
        let output = String::from_utf8_lossy(&output);
        let excerpt = libtest::failure_excerpt(&output);
        step.details(excerpt.unwrap_or_else(|| said.shown()));
    }
    result
}

/// A doctest's end for the tests' history and the report (`src/lib.rs - Store::get (line
/// 12)`, of class `src/lib.rs`): libtest's lines give no time.
fn doctest_ended(name: &str, verdict: libtest::Verdict) -> TestEnded {
    let outcome = match verdict {
        libtest::Verdict::Passed => TestOutcome::Passed,
        libtest::Verdict::Failed => TestOutcome::Failed,
        libtest::Verdict::Ignored => TestOutcome::Skipped,
    };
    TestEnded {
        test: name.to_owned(),
        outcome,
        duration: Duration::ZERO,
        attempt: 1,
        case: Case {
            suite: "doctests".to_owned(),
            class: name.split(" - ").next().unwrap_or("doctests").to_owned(),
            name: name.to_owned(),
            ..Case::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a shard, whether a test is slow by design was asked of the shard's part of the
    /// slow-by-design tests, not of all of them: a shard named them as outliers.
    #[test]
    fn questions_about_given_tests_leave_the_partition_out() {
        let tests = Tests {
            nextest: "cargo-nextest".into(),
            profile: "ci",
            selection: vec!["--workspace".to_owned()],
            partition: Some("--partition=slice:1/2".to_owned()),
            env: Vec::new(),
        };
        assert_eq!(
            tests.args(Part::Shard),
            ["--workspace", "--partition=slice:1/2"]
        );
        assert_eq!(tests.args(Part::All), ["--workspace"]);
    }
}
