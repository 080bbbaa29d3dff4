//! `cargo xtask pytest`: brings the venv and the README tests up to date, starts a server
//! under the guard (or checks that a running one answers), and runs pytest in the bindings'
//! folder against it.

use std::time::Duration;

use anyhow::{Context, Result};
use camino::Utf8Path;

use crate::base::context::StepContext;
use crate::base::paths;
use crate::engine::steps::{Mode, Runner};
use crate::errln;
use crate::flags::{self, Suite};
use crate::python::pytest_runner::{self, Coverage, Report, Target};
use crate::python::venv;
use crate::readme::extract;
use crate::server::test_server::{self, Server};

/// How long a `--server` gets to accept a TCP connection.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(sh: &StepContext, flags: &flags::Pytest) -> Result<()> {
    let suite = if flags.no_server {
        Suite::Unit
    } else {
        flags.suite
    };
    // Checked first, so that a wrong address fails at once, before any build.
    let external = match &flags.server {
        Some(url) => {
            let address = test_server::parse_server_url(url)?;
            test_server::check_reachable(&address, REACH_TIMEOUT)?;
            Some(address)
        }
        None => None,
    };
    let mut args = vec!["-m".to_owned(), suite.marker_expression().to_owned()];
    args.extend(pytest_runner::benchmark_args(&flags.pytest_args));
    args.extend(absolute_paths(&flags.pytest_args)?);
    let xtask_dir = paths::xtask_dir()?;
    let mut env = Vec::new();
    if flags.cov {
        args.extend(pytest_runner::coverage_args(Coverage::Whole, &xtask_dir));
        env.push(("COVERAGE_FILE", xtask_dir.join(".coverage").to_string()));
    }
    let server = prepare(sh, flags, suite, external.is_some())?;
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
    let result = {
        // The command and its environment go to the log; pytest's report, as pytest prints
        // it, to the terminal.
        let log = xtask_dir.join("logs/pytest/pytest.log");
        let logged = (!flags.verbose).then(|| sh.logging_to(&log)).transpose()?;
        let sh = logged.as_ref().unwrap_or(sh);
        pytest_runner::run(sh, target, &args, &env, Report::OnTheTerminal, || Ok(()))
    };
    if result.is_err() {
        let failed = std::fs::read_to_string(&failed_file).unwrap_or_default();
        for line in pytest_runner::rerun_lines(&failed, suite) {
            errln!("{line}");
        }
    }
    if flags.cov {
        errln!(
            "{}",
            pytest_runner::coverage_total(&xtask_dir.join("coverage.xml"))
        );
    }
    result
}

/// The venv, the README tests and, unless there is one already or none is needed, a
/// server: a status line each (everything with --verbose), the details when one fails.
fn prepare(
    sh: &StepContext,
    flags: &flags::Pytest,
    suite: Suite,
    external: bool,
) -> Result<Option<Server>> {
    let needs_server = suite != Suite::Unit && !external;
    let log_dir = paths::xtask_dir()?.join("logs/pytest");
    let mut runner = Runner::new(Mode::detect(flags.verbose), log_dir, 4)?;
    runner.step(sh, "venv", |sh, _| {
        venv::ensure(sh, None, false, venv::Profile::Dev)
    })?;
    runner.step(sh, "extract", |sh, _| extract::ensure(sh))?;
    if !needs_server {
        return Ok(None);
    }
    let binary = runner.step(sh, "build server", |sh, _| test_server::build(sh, false))?;
    let server = runner.step(sh, "server up", |sh, _| {
        test_server::start_for_tests(sh, binary, flags.port, flags.ready_timeout)
    })?;
    Ok(Some(server))
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

#[cfg(test)]
mod tests {
    use super::*;

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
