//! `cargo xtask pytest`: brings the venv and the README tests up to date, starts a server
//! under the guard, and runs pytest in the bindings' folder against it.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use camino::Utf8Path;
use xshell::{Shell, cmd};

use crate::guard::{self, Server};
use crate::process::{self, Failed, ProcessGroup};
use crate::{extract, flags, paths, venv};

/// Pytest's "no tests were collected".
const NO_TESTS_COLLECTED: u8 = 5;

pub fn run(sh: &Shell, flags: &flags::Pytest) -> Result<()> {
    venv::ensure(sh, None, false)?;
    extract::ensure(sh)?;
    let mut args = Vec::new();
    let server = if flags.no_server {
        args.extend(["-m".to_owned(), "unit".to_owned()]);
        None
    } else {
        Some(start_server(sh, flags.port, flags.ready_timeout)?)
    };
    args.extend(absolute_paths(&flags.pytest_args)?);
    run_pytest(sh, server.as_ref(), &args)
}

/// A debug server on `port` (0: ephemeral) with temp storage, for tests.
pub fn start_server(sh: &Shell, port: u16, ready_timeout: u64) -> Result<Server> {
    let binary = guard::build(sh, false)?;
    let server = Server::start(
        sh,
        guard::Options {
            binary,
            host: "127.0.0.1".to_owned(),
            port,
            storage: None,
            ready_timeout: Duration::from_secs(ready_timeout),
            log_dir: paths::xtask_dir(sh)?.join("logs"),
        },
    )?;
    eprintln!(
        "server ready at ws://{}:{} in {} ms",
        server.address.host,
        server.address.port,
        server.ready_after.as_millis()
    );
    Ok(server)
}

/// Runs the venv's pytest with `args` in the bindings' folder, pointed at `server`. Pytest
/// runs in its own process group, so that the signal handler can stop it; meanwhile the
/// server is watched, and its death fails the run rather than hanging it.
pub fn run_pytest(sh: &Shell, server: Option<&Server>, args: &[String]) -> Result<()> {
    let python = venv::python();
    let _dir = sh.push_dir(paths::bindings_dir());
    let mut cmd = cmd!(sh, "{python} -m pytest {args...}");
    if let Some(server) = server {
        cmd = cmd
            .env("TEST_SERVER_HOST", &server.address.host)
            .env("TEST_SERVER_PORT", server.address.port.to_string());
        eprintln!(
            "$ TEST_SERVER_HOST={} TEST_SERVER_PORT={} {cmd}",
            server.address.host, server.address.port
        );
    } else {
        eprintln!("$ {cmd}");
    }
    let mut command = Command::from(cmd);
    // In a background group pytest must not read the terminal (it would be stopped).
    command.stdin(Stdio::null());
    let pytest = ProcessGroup::new("pytest");
    pytest
        .spawn(command)
        .context("cannot start pytest; run `cargo xtask venv`")?;
    let status = loop {
        if let Some(status) = pytest.try_status() {
            break status;
        }
        if let Some(server) = server {
            if let Err(error) = server.check_alive() {
                pytest.stop();
                return Err(error);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
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

/// Pytest runs in the bindings' folder, so paths the user gave relative to their own
/// folder are made absolute. Node ids (`file.py::test`) keep their suffix.
fn absolute_paths(args: &[String]) -> Result<Vec<String>> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Ok(args
        .iter()
        .map(|arg| {
            let file = arg.split("::").next().unwrap_or(arg);
            let resolved = cwd.join(file);
            if arg.starts_with('-') || Utf8Path::new(file).is_absolute() || !resolved.exists() {
                return arg.clone();
            }
            format!("{}{}", resolved.display(), &arg[file.len()..])
        })
        .collect())
}
