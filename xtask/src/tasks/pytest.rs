//! `cargo xtask pytest`: brings the venv and the README tests up to date, starts a server
//! under the guard (or checks that a running one answers), and runs pytest in the bindings'
//! folder against it.

use std::time::Duration;

use anyhow::{Context, Result};
use camino::Utf8Path;
use xshell::Shell;

use crate::pytest_runner::{self, Target};
use crate::test_server;
use crate::{extract, flags, traceln, venv};

/// How long a `--server` gets to accept a TCP connection.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(sh: &Shell, flags: &flags::Pytest) -> Result<()> {
    // Checked first, so that a wrong address fails at once, before any build.
    let external = match &flags.server {
        Some(url) => {
            let address = test_server::parse_server_url(url)?;
            test_server::check_reachable(&address, REACH_TIMEOUT)?;
            Some(address)
        }
        None => None,
    };
    venv::ensure(sh, None, false)?;
    extract::ensure(sh)?;
    let mut args = Vec::new();
    if flags.no_server {
        args.extend(["-m".to_owned(), "unit".to_owned()]);
    }
    args.extend(absolute_paths(&flags.pytest_args)?);
    if let Some(address) = &external {
        traceln!("testing against the running server at {address}");
        return pytest_runner::run(sh, Target::External(address), &args);
    }
    if flags.no_server {
        return pytest_runner::run(sh, Target::Nothing, &args);
    }
    let binary = test_server::build(sh, false)?;
    let server = test_server::start_for_tests(sh, binary, flags.port, flags.ready_timeout)?;
    pytest_runner::run(sh, Target::Guarded(&server), &args)
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
        let cwd = std::env::temp_dir().join(format!("xtask-args-{}", std::process::id()));
        std::fs::create_dir_all(cwd.join("tests")).unwrap();
        std::fs::write(cwd.join("tests/test_a.py"), "").unwrap();
        let args: Vec<String> = ["-k", "tests", "tests/test_a.py::test_x", "-x", "missing.py"]
            .map(String::from)
            .to_vec();
        let absolute = absolute_paths_in(&args, &cwd);
        std::fs::remove_dir_all(&cwd).unwrap();
        let test_x = format!("{}::test_x", cwd.join("tests/test_a.py").display());
        assert_eq!(absolute, ["-k", "tests", &test_x, "-x", "missing.py"]);
    }
}
