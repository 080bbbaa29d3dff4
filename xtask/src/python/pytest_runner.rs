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
/// bindings' folder), from the repository root, with `--suite` when it is not the default
/// and the `--server` URL the run was given, if any.
pub fn rerun_lines(failed: &str, suite: Suite, server: Option<&str>) -> Vec<String> {
    let mut ids: Vec<&str> = Vec::new();
    for id in failed.lines().filter(|line| !line.is_empty()) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let mut options = String::new();
    if suite != Suite::Full {
        options.push_str(&format!("--suite {} ", suite.name()));
    }
    if let Some(url) = server {
        options.push_str(&format!("--server {url} "));
    }
    let mut lines: Vec<String> = ids
        .iter()
        .take(RERUN_LINES)
        .map(|id| {
            format!(
                "rerun: cargo xtask pytest {options}'{}/{id}'",
                paths::BINDINGS
            )
        })
        .collect();
    if ids.len() > RERUN_LINES {
        lines.push(format!(
            "... and {} more: cargo xtask pytest {options}-- --lf reruns every failed test",
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

/// The user's test paths and pytest arguments, in that order, as pytest in the bindings'
/// folder takes them: paths relative to the user's folder are made absolute.
pub fn user_args(tests: &[String], pytest_args: &[String]) -> Result<Vec<String>> {
    let mut args = absolute_paths(tests)?;
    args.extend(absolute_paths(pytest_args)?);
    Ok(args)
}

/// Pytest runs in the bindings' folder, so paths the user gave relative to their own
/// folder are made absolute. Node ids (`file.py::test`) keep their suffix.
fn absolute_paths(args: &[String]) -> Result<Vec<String>> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Ok(absolute_paths_in(args, &cwd))
}

/// Pytest options whose value comes as the next argument and is never a path.
const VALUE_OPTIONS: &[&str] = &["-k", "-m", "-p", "-o", "-W", "-r"];

fn absolute_paths_in(args: &[String], cwd: &std::path::Path) -> Vec<String> {
    let mut previous: Option<&str> = None;
    args.iter()
        .map(|arg| {
            let is_value = previous.is_some_and(|option| VALUE_OPTIONS.contains(&option));
            previous = Some(arg);
            let file = arg.split("::").next().unwrap_or(arg);
            let resolved = cwd.join(file);
            if is_value
                || arg.starts_with('-')
                || Utf8Path::new(file).is_absolute()
                || !resolved.exists()
            {
                return arg.clone();
            }
            format!("{}{}", resolved.display(), &arg[file.len()..])
        })
        .collect()
}

/// "coverage: 93.2% of the Python package's lines (target/xtask/coverage.xml)", from
/// pytest-cov's XML report.
pub fn coverage_total(xml: &Utf8Path) -> String {
    match line_rate(xml) {
        Some(rate) => format!(
            "coverage: {:.1}% of the Python package's lines ({})",
            rate * 100.0,
            paths::display_path(xml)
        ),
        None => format!("coverage: no report at {}", paths::display_path(xml)),
    }
}

/// The share of lines covered, from pytest-cov's XML report.
fn line_rate(xml: &Utf8Path) -> Option<f64> {
    let text = std::fs::read_to_string(xml).ok()?;
    Regex::new(r#"<coverage[^>]*\sline-rate="([0-9.]+)""#)
        .unwrap()
        .captures(&text)
        .and_then(|c| c[1].parse::<f64>().ok())
}

/// "coverage 45.1% is under the required 80% (`fail_under` in .../pyproject.toml) by 34.9
/// points", when the report's total is under the threshold of the bindings'
/// pyproject.toml: pytest-cov's verdict, said as what failed.
pub fn coverage_shortfall(xml: &Utf8Path) -> Option<String> {
    let pyproject = paths::bindings_dir().join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).ok()?;
    let required: f64 = Regex::new(r"(?m)^fail_under\s*=\s*([0-9.]+)")
        .unwrap()
        .captures(&text)?[1]
        .parse()
        .ok()?;
    let total = line_rate(xml)? * 100.0;
    (total < required).then(|| {
        format!(
            "coverage {total:.1}% is under the required {required}% (`fail_under` in {}) by \
             {:.1} points",
            paths::display_path(&pyproject),
            required - total
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failed_test_gets_a_rerun_line_from_the_repository_root() {
        let failed =
            "tests/test_a.py::test_x\ntests/test_a.py::test_x\ntests/test_b.py::test_y[1]\n";
        assert_eq!(
            rerun_lines(failed, Suite::Integration, None),
            [
                "rerun: cargo xtask pytest --suite integration 'experiments/bindings/python-ws-client/tests/test_a.py::test_x'",
                "rerun: cargo xtask pytest --suite integration 'experiments/bindings/python-ws-client/tests/test_b.py::test_y[1]'",
            ]
        );
        let many: String = (0..12).map(|n| format!("tests/t.py::test_{n}\n")).collect();
        let lines = rerun_lines(&many, Suite::Full, None);
        assert_eq!(lines.len(), 11);
        assert!(lines[0].starts_with("rerun: cargo xtask pytest '"));
        assert!(lines[10].starts_with("... and 2 more"), "{lines:?}");
        assert!(rerun_lines("", Suite::Full, None).is_empty());
        let external = rerun_lines(failed, Suite::Full, Some("ws://127.0.0.1:34129"));
        assert!(
            external[0].starts_with("rerun: cargo xtask pytest --server ws://127.0.0.1:34129 '"),
            "{external:?}"
        );
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

    #[test]
    fn a_total_under_fail_under_is_named_with_its_shortfall() {
        let (_guard, dir) = paths::test_dir();
        let xml = dir.join("coverage.xml");
        // The bindings' pyproject.toml asks for 80%.
        std::fs::write(&xml, r#"<coverage version="7.6" line-rate="0.5556">"#).unwrap();
        assert_eq!(
            coverage_shortfall(&xml).unwrap(),
            "coverage 55.6% is under the required 80% (`fail_under` in \
             experiments/bindings/python-ws-client/pyproject.toml) by 24.4 points"
        );
        std::fs::write(&xml, r#"<coverage version="7.6" line-rate="0.9">"#).unwrap();
        assert_eq!(coverage_shortfall(&xml), None);
    }

    #[test]
    fn only_paths_are_made_absolute() {
        let (_guard, cwd) = paths::test_dir();
        let cwd = cwd.into_std_path_buf();
        std::fs::create_dir_all(cwd.join("tests")).unwrap();
        std::fs::write(cwd.join("tests/test_a.py"), "").unwrap();
        let args: Vec<String> = ["-k", "tests", "tests/test_a.py::test_x", "-x", "missing.py"]
            .map(String::from)
            .to_vec();
        let absolute = absolute_paths_in(&args, &cwd);
        let test_x = format!("{}::test_x", cwd.join("tests/test_a.py").display());
        assert_eq!(absolute, ["-k", "tests", &test_x, "-x", "missing.py"]);
    }
}
