//! `cargo xtask pytest`: brings the venv and the README tests up to date, starts a server
//! under the guard (or checks that a running one answers), and runs pytest in the bindings'
//! folder against it.

use std::time::Duration;

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};

use crate::adapters::pytest_events::PytestRun;
use crate::base::console::{self, Colour};
use crate::base::context::StepContext;
use crate::base::process::{self, Failed};
use crate::base::{github, paths};
use crate::engine::junit;
use crate::engine::steps;
use crate::engine::steps::{Mode, Runner};
use crate::errln;
use crate::flags::{self, Suite};
use crate::outln;
use crate::python::interpreters::{self, Interpreter};
use crate::python::pytest_runner::{self, Coverage, Report, Target};
use crate::python::venv;
use crate::readme::extract;
use crate::server::test_server::{self, Address, Server};

/// How long a `--server` gets to accept a TCP connection.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

/// pytest's arguments and environment, as `pytest_runner` takes them.
type Command = (Vec<String>, Vec<(&'static str, String)>);

/// Checks a `--server` first, brings up what the suite needs, runs pytest once per lane,
/// and ends with the commands that run the failed tests again, the coverage and the flaky
/// tests.
pub fn run(sh: &StepContext, flags: &flags::Pytest) -> Result<()> {
    let suite = if flags.no_server {
        Suite::Unit
    } else {
        flags.suite
    };
    let external = external_server(flags)?;
    let xtask_dir = paths::xtask_dir()?;
    let ((args, mut env), report_log) = command(flags, suite, &xtask_dir)?;
    let interpreters = match &flags.python {
        Some(python) => interpreters::resolve(sh, python)?,
        None => Vec::new(),
    };
    let (server, pythons) = prepare(sh, flags, suite, external.is_some(), &interpreters)?;
    let target = match (&external, &server) {
        (Some(address), _) => Target::External(address),
        (None, Some(server)) => Target::Guarded(server),
        (None, None) => Target::Nothing,
    };
    if let Target::External(address) = target {
        errln!("testing against the running server at {address}");
    }
    // Its folder made: conftest.py appends to it, and a fresh target dir has no such folder.
    let failed_file = paths::fresh_file(&xtask_dir.join("pytest/failed.txt"))?;
    env.push(("XTASK_FAILED_FILE", failed_file.to_string()));
    let result = run_lanes(sh, flags, &pythons, target, &(args, env), &xtask_dir);
    if result.is_err() {
        let failed = std::fs::read_to_string(&failed_file).unwrap_or_default();
        for line in pytest_runner::rerun_lines(&failed, suite, flags.server.as_deref()) {
            errln!("{line}");
        }
    }
    if flags.cov {
        coverage_verdict(&xtask_dir, &failed_file, &result)?;
    }
    let flaky = report_attempts(&report_log, &xtask_dir.join("pytest/junit.xml"))?;
    match result {
        Ok(()) if flaky > 0 && flags.retries.flaky_fails => Err(Failed {
            code: 1,
            message: format!("{flaky} flaky (--flaky-fails)"),
        }
        .into()),
        result => result,
    }
}

/// The `--server` to test against, checked first, so that a wrong address fails at once,
/// before any build.
fn external_server(flags: &flags::Pytest) -> Result<Option<Address>> {
    let Some(url) = &flags.server else {
        return Ok(None);
    };
    let address = test_server::parse_server_url(url)?;
    test_server::check_reachable(&address, REACH_TIMEOUT)?;
    Ok(Some(address))
}

/// pytest's arguments and environment (but the failed tests' file): the suite's marker, the
/// user's tests and arguments, a report log of every attempt of every test (for the flaky
/// ones and the JUnit report), the reruns and the coverage asked for; and the report log.
fn command(
    flags: &flags::Pytest,
    suite: Suite,
    xtask_dir: &Utf8Path,
) -> Result<(Command, Utf8PathBuf)> {
    let mut args = vec!["-m".to_owned(), suite.marker_expression().to_owned()];
    args.extend(pytest_runner::benchmark_args(&flags.pytest_args));
    args.extend(pytest_runner::user_args(&flags.tests, &flags.pytest_args)?);
    let report_log = paths::fresh_file(&xtask_dir.join("pytest/pytest.jsonl"))?;
    args.push(format!("--report-log={report_log}"));
    if flags.retries.retries > 0 {
        args.push(format!("--reruns={}", flags.retries.retries));
    }
    let mut env = Vec::new();
    if flags.cov {
        args.extend(pytest_runner::coverage_args(Coverage::Whole, xtask_dir));
        env.push(("COVERAGE_FILE", xtask_dir.join(".coverage").to_string()));
    }
    Ok(((args, env), report_log))
}

/// Runs pytest in each lane's Python (the command and its environment to the log, pytest's
/// report, as pytest prints it, to the terminal). Every lane runs, so that one run says
/// where the tests fail; the first failure is the result.
fn run_lanes(
    sh: &StepContext,
    flags: &flags::Pytest,
    pythons: &Lanes,
    target: Target<'_>,
    (args, env): &Command,
    xtask_dir: &Utf8Path,
) -> Result<()> {
    let mut failed_lanes = Vec::new();
    let mut result = Ok(());
    for (lane, python) in pythons {
        if let Some(lane) = lane {
            errln!("pytest on {lane}");
        }
        let log = xtask_dir.join("logs/pytest/pytest.log");
        let logged = (!flags.verbose).then(|| sh.logging_to(&log)).transpose()?;
        let sh = logged.as_ref().unwrap_or(sh);
        let ran =
            pytest_runner::run_with(sh, python, target, args, env, Report::OnTheTerminal, || {
                Ok(())
            });
        if let (Err(_), Some(lane)) = (&ran, lane) {
            failed_lanes.push(lane.clone());
        }
        if result.is_ok() {
            result = ran;
        }
    }
    if !failed_lanes.is_empty() && pythons.len() > 1 {
        errln!("failed on: {}", failed_lanes.join(", "));
    }
    result
}

/// With `--cov`: the total; and when pytest failed but no test did, the threshold is what
/// failed, and the error says so, not "pytest".
fn coverage_verdict(
    xtask_dir: &Utf8Path,
    failed_file: &Utf8Path,
    result: &Result<()>,
) -> Result<()> {
    let xml = xtask_dir.join("coverage.xml");
    errln!("{}", pytest_runner::coverage_total(&xml));
    let no_test_failed = std::fs::read_to_string(failed_file)
        .unwrap_or_default()
        .is_empty();
    if let (Err(error), Some(shortfall), true) = (
        result,
        pytest_runner::coverage_shortfall(&xml),
        no_test_failed,
    ) {
        return Err(Failed {
            code: process::exit_code_of(error),
            message: shortfall,
        }
        .into());
    }
    Ok(())
}

/// The JUnit report of the run, written from its report log with each test's failed
/// attempts, and a `flaky:` line for each test that passed only on a retry; returns how
/// many did.
fn report_attempts(report_log: &Utf8Path, junit: &Utf8Path) -> Result<usize> {
    let mut tests = PytestRun::default();
    tests.feed(&std::fs::read(report_log).unwrap_or_default());
    let ended: Vec<_> = tests
        .finished
        .iter()
        .map(|test| test.ended(paths::BINDINGS, "pytest", None))
        .collect();
    junit::write(junit, "pytest", &ended)?;
    let github = Mode::detect(false) == Mode::GitHub;
    for test in tests.flaky() {
        // As pytest names it: from the bindings' folder, or from the folder of the tests'
        // own pytest settings.
        let line = steps::flaky_line(&test.nodeid, test.attempts());
        if github {
            outln!("::warning::{}", github::escape_data(&line));
        } else {
            errln!("{}", console::paint(&line, Colour::Yellow));
        }
    }
    let flaky = tests.flaky().count();
    if flaky > 0 {
        let count = steps::flaky_count(flaky as u64, false);
        errln!("{}", console::paint(&count, Colour::Yellow));
    }
    errln!("JUnit report: {}", paths::display_path(junit));
    Ok(flaky)
}

/// A lane's name (none without `--python`) and the Python of its venv.
type Lanes = Vec<(Option<String>, Utf8PathBuf)>;

/// The venv (and a venv per `--python` interpreter), the README tests and, unless there is
/// one already or none is needed, a server: a status line each (everything with
/// --verbose), the details when one fails.
fn prepare(
    sh: &StepContext,
    flags: &flags::Pytest,
    suite: Suite,
    external: bool,
    interpreters: &[Interpreter],
) -> Result<(Option<Server>, Lanes)> {
    let needs_server = suite != Suite::Unit && !external;
    let log_dir = paths::xtask_dir()?.join("logs/pytest");
    let mut runner = Runner::new(Mode::detect(flags.verbose), log_dir, 4 + interpreters.len())?;
    runner.step(sh, "venv", |sh, _| {
        venv::ensure(sh, None, false, venv::Profile::Dev)
    })?;
    let mut lanes: Lanes = Vec::new();
    for interpreter in interpreters {
        let lane = format!("py{}", interpreter.version.minor_name());
        let python = runner.step(sh, &format!("venv ({lane})"), |sh, _| {
            venv::ensure_lane(sh, interpreter, venv::Install::Editable)
        })?;
        lanes.push((Some(lane), python));
    }
    if lanes.is_empty() {
        lanes.push((None, venv::python()));
    }
    runner.step(sh, "extract", |sh, _| extract::ensure(sh))?;
    if !needs_server {
        return Ok((None, lanes));
    }
    let binary = runner.step(sh, "build server", |sh, _| test_server::build(sh, false))?;
    let server = runner.step(sh, "server up", |sh, _| {
        test_server::start_for_tests(sh, binary, flags.port, flags.ready_timeout)
    })?;
    Ok((Some(server), lanes))
}
