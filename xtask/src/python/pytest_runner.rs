//! Runs the venv's pytest in the bindings' folder against a server: the environment
//! contract (`TEST_SERVER_HOST`, `TEST_SERVER_PORT`, `TEST_SERVER_LOG`), a server that dies
//! mid-run failing the run instead of hanging it, and pytest's exit codes in words.

use std::time::Duration;

use anyhow::{Context, Result};
use camino::Utf8Path;
use regex::Regex;
use xshell::cmd;

use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::{self, Failed, Job, ProcessGroup, Sink};
use crate::flags::Suite;
use crate::python::venv;
use crate::server::test_server::{Address, Server};

/// Pytest's "no tests were collected".
const NO_TESTS_COLLECTED: u8 = 5;

/// Whether pytest ended with "no tests were collected" (a shard or a run that drew none).
pub fn no_tests_collected(error: &anyhow::Error) -> bool {
    process::exit_code_of(error) == NO_TESTS_COLLECTED
}

/// `-p no:benchmark` unless the user's arguments ask for benchmarks: pytest-benchmark's
/// header of defaults is noise otherwise.
pub fn benchmark_args(user_args: &[String]) -> Vec<String> {
    if user_args.iter().any(|arg| arg.contains("benchmark")) {
        Vec::new()
    } else {
        vec!["-p".to_owned(), "no:benchmark".to_owned()]
    }
}

impl Suite {
    /// The `-m` expression that selects it.
    pub fn marker_expression(self) -> &'static str {
        match self {
            Suite::Unit => "unit and not benchmark",
            Suite::Integration => "integration and not benchmark",
            Suite::E2e => "e2e and not benchmark",
            Suite::Fast => "not slow and not benchmark",
            Suite::Full => "not benchmark",
        }
    }

    /// The time a test of a stage may take before it is named as an outlier.
    pub fn budget(self) -> Option<Duration> {
        match self {
            Suite::Unit => Some(Duration::from_secs(1)),
            Suite::Integration | Suite::E2e => Some(Duration::from_secs(5)),
            Suite::Fast | Suite::Full => None,
        }
    }

    /// "unit", "integration", ...: its name as `--suite` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Unit => "unit",
            Suite::Integration => "integration",
            Suite::E2e => "e2e",
            Suite::Fast => "fast",
            Suite::Full => "full",
        }
    }
}

/// Most failed tests given a rerun line each; the rest are counted.
const RERUN_LINES: usize = 10;

/// How to rerun each failed test of `failed` (pytest node ids, a line each, relative to the
/// bindings' folder), from the repository root, with `--suite` when it is not the default.
pub fn rerun_lines(failed: &str, suite: Suite) -> Vec<String> {
    let mut ids: Vec<&str> = Vec::new();
    for id in failed.lines().filter(|line| !line.is_empty()) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let suite = match suite {
        Suite::Full => String::new(),
        other => format!("--suite {} ", other.name()),
    };
    let mut lines: Vec<String> = ids
        .iter()
        .take(RERUN_LINES)
        .map(|id| {
            format!(
                "rerun: cargo xtask pytest {suite}-- '{}/{id}'",
                paths::BINDINGS
            )
        })
        .collect();
    if ids.len() > RERUN_LINES {
        lines.push(format!(
            "... and {} more: cargo xtask pytest -- --lf reruns every failed test",
            ids.len() - RERUN_LINES
        ));
    }
    lines
}

/// Which part of a coverage measurement a pytest run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// The whole measurement: the terminal report and the XML, with `fail_under`.
    Whole,
    /// The first of several runs: data only.
    First,
    /// A run in between: data added.
    Middle,
    /// The last run: data added, then the XML report, with `fail_under`.
    Last,
}

/// pytest-cov's arguments for `part` of a measurement whose report is `xtask_dir`'s
/// `coverage.xml`, and whose `fail_under` comes from pyproject.toml.
pub fn coverage_args(part: Coverage, xtask_dir: &Utf8Path) -> Vec<String> {
    let xml = format!("--cov-report=xml:{}", xtask_dir.join("coverage.xml"));
    let mut args = vec!["--cov".to_owned()];
    if matches!(part, Coverage::Middle | Coverage::Last) {
        args.push("--cov-append".to_owned());
    }
    match part {
        Coverage::Whole => args.extend(["--cov-report=term".to_owned(), xml]),
        Coverage::First | Coverage::Middle => {
            args.extend(["--cov-report=".to_owned(), "--cov-fail-under=0".to_owned()]);
        }
        Coverage::Last => args.push(xml),
    }
    args
}

/// The server pytest's tests talk to.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// None: only unit tests can pass.
    Nothing,
    /// Started and watched by xtask; its log goes into the reports of failing tests.
    Guarded(&'a Server),
    /// Someone else's (`--server`): never watched, never stopped.
    External(&'a Address),
}

/// Where pytest's own report goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Where xtask's trace goes: the step's log of a concise run.
    WithTheTrace,
    /// The terminal, whatever the trace does: `cargo xtask pytest` shows pytest as it is.
    OnTheTerminal,
}

/// Runs `python -m pytest ARGS` with the bindings' venv, as [`run_with`] does.
pub fn run(
    sh: &StepContext,
    target: Target<'_>,
    args: &[String],
    env: &[(&str, String)],
    report: Report,
    tick: impl FnMut() -> Result<()>,
) -> Result<()> {
    run_with(sh, &venv::python(), target, args, env, report, tick)
}

/// Runs `PYTHON -m pytest ARGS` in the bindings' folder (`python` is a venv's: the
/// bindings' own, or a lane's), pointed at `target`, with `env` added, its report going to
/// `report`, calling `tick` while pytest runs.
pub fn run_with(
    sh: &StepContext,
    python: &Utf8Path,
    target: Target<'_>,
    args: &[String],
    env: &[(&str, String)],
    report: Report,
    mut tick: impl FnMut() -> Result<()>,
) -> Result<()> {
    let _dir = sh.push_dir(paths::bindings_dir());
    let mut job = Job::new(sh, cmd!(sh, "{python} -m pytest {args...}"));
    if report == Report::OnTheTerminal {
        job = job.stdout(Sink::Terminal).stderr(Sink::Terminal);
    }
    for (name, value) in env {
        job = job.env(name, value);
    }
    // conftest.py names the files of failure reports absolutely from here, not from the
    // bindings' folder where pytest runs, so that they can be opened from the root.
    job = job.env("XTASK_ROOT", paths::project_root());
    if let Target::Guarded(server) = target {
        // conftest.py shows the lines a failing test made the server write.
        let log = paths::project_root().join(&server.log);
        job = job.env("TEST_SERVER_LOG", log);
    }
    if let Target::Guarded(Server { address, .. }) | Target::External(address) = target {
        job = job
            .env("TEST_SERVER_PORT", address.port.to_string())
            .env("TEST_SERVER_HOST", &address.host);
    }
    // Interrupted, pytest names the failures so far in its summary; on SIGTERM it says nothing.
    let pytest = ProcessGroup::new("pytest").stopping_with(libc::SIGINT);
    pytest
        .spawn(job)
        .context("cannot start pytest; run `cargo xtask venv`")?;
    let status = pytest.wait_while(|| {
        if let Target::Guarded(server) = target {
            server.check_alive()?;
        }
        tick()
    })?;
    if status.success() {
        return Ok(());
    }
    let code = process::shell_code(status);
    let message = if code == NO_TESTS_COLLECTED {
        "pytest collected no tests (exit code 5): check the paths and the -k/-m expressions"
            .to_owned()
    } else {
        format!("pytest failed: {}", process::describe(status))
    };
    Err(Failed { code, message }.into())
}

/// "coverage: 93.2% of the Python package's lines (target/xtask/coverage.xml)", from
/// pytest-cov's XML report.
pub fn coverage_total(xml: &Utf8Path) -> String {
    let text = std::fs::read_to_string(xml).unwrap_or_default();
    let rate = Regex::new(r#"<coverage[^>]*\sline-rate="([0-9.]+)""#)
        .unwrap()
        .captures(&text)
        .and_then(|c| c[1].parse::<f64>().ok());
    match rate {
        Some(rate) => format!(
            "coverage: {:.1}% of the Python package's lines ({})",
            rate * 100.0,
            paths::display_path(xml)
        ),
        None => format!("coverage: no report at {}", paths::display_path(xml)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failed_test_gets_a_rerun_line_from_the_repository_root() {
        let failed =
            "tests/test_a.py::test_x\ntests/test_a.py::test_x\ntests/test_b.py::test_y[1]\n";
        assert_eq!(
            rerun_lines(failed, Suite::Integration),
            [
                "rerun: cargo xtask pytest --suite integration -- 'experiments/bindings/python-ws-client/tests/test_a.py::test_x'",
                "rerun: cargo xtask pytest --suite integration -- 'experiments/bindings/python-ws-client/tests/test_b.py::test_y[1]'",
            ]
        );
        let many: String = (0..12).map(|n| format!("tests/t.py::test_{n}\n")).collect();
        let lines = rerun_lines(&many, Suite::Full);
        assert_eq!(lines.len(), 11);
        assert!(lines[0].starts_with("rerun: cargo xtask pytest -- '"));
        assert!(lines[10].starts_with("... and 2 more"), "{lines:?}");
        assert!(rerun_lines("", Suite::Full).is_empty());
    }

    #[test]
    fn the_coverage_total_comes_from_the_xml_report() {
        let (_guard, dir) = paths::test_dir();
        let xml = dir.join("coverage.xml");
        let report =
            r#"<?xml version="1.0" ?><coverage version="7.6" lines-valid="40" line-rate="0.925">"#;
        std::fs::write(&xml, report).unwrap();
        let total = coverage_total(&xml);
        assert!(
            total.starts_with("coverage: 92.5% of the Python package's lines"),
            "{total}"
        );
        std::fs::remove_file(&xml).unwrap();
        assert!(coverage_total(&xml).starts_with("coverage: no report at"));
    }
}
