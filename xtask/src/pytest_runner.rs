//! Runs the venv's pytest in the bindings' folder against a server: the environment
//! contract (`TEST_SERVER_HOST`, `TEST_SERVER_PORT`, `TEST_SERVER_LOG`), a server that dies
//! mid-run failing the run instead of hanging it, and pytest's exit codes in words.

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::process::{self, Failed, Job, ProcessGroup};
use crate::test_server::{Address, Server};
use crate::{paths, venv};

/// Pytest's "no tests were collected".
const NO_TESTS_COLLECTED: u8 = 5;

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

/// Runs `python -m pytest ARGS` in the bindings' folder, pointed at `target`.
pub fn run(sh: &Shell, target: Target<'_>, args: &[String]) -> Result<()> {
    let python = venv::python();
    let _dir = sh.push_dir(paths::bindings_dir());
    let mut job = Job::new(cmd!(sh, "{python} -m pytest {args...}"));
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
    let pytest = ProcessGroup::new("pytest");
    pytest
        .spawn(job)
        .context("cannot start pytest; run `cargo xtask venv`")?;
    let status = pytest.wait_while(|| match target {
        Target::Guarded(server) => server.check_alive(),
        _ => Ok(()),
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
