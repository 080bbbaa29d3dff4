//! `cargo xtask pytest`: brings the venv and the README tests up to date, starts a server
//! under the guard (or checks that a running one answers), and runs pytest in the bindings'
//! folder against it.

use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{Shell, cmd};

use crate::guard::{self, Address, Server};
use crate::process::{self, Failed, ProcessGroup};
use crate::{extract, flags, paths, venv};

/// Pytest's "no tests were collected".
const NO_TESTS_COLLECTED: u8 = 5;
/// How long a `--server` gets to accept a TCP connection.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

/// The server pytest's tests talk to.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// None: only unit tests can pass.
    Nothing,
    /// Started and watched by xtask; its log goes into the reports of failing tests.
    Guarded(&'a Server),
    /// Someone else's (`--server`): never watched, never stopped.
    External(&'a Address),
}

pub fn run(sh: &Shell, flags: &flags::Pytest) -> Result<()> {
    // Checked first, so that a wrong address fails at once, before any build.
    let external = match &flags.server {
        Some(url) => {
            let address = parse_server_url(url)?;
            check_reachable(&address, REACH_TIMEOUT)?;
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
        eprintln!("testing against the running server at {}", url_of(address));
        return run_pytest_at(sh, Target::External(address), &args);
    }
    if flags.no_server {
        return run_pytest_at(sh, Target::Nothing, &args);
    }
    let server = start_server(sh, flags.port, flags.ready_timeout)?;
    run_pytest_at(sh, Target::Guarded(&server), &args)
}

fn url_of(address: &Address) -> String {
    format!("ws://{}:{}", address.host, address.port)
}

/// Reads `ws://HOST:PORT`, as `cargo xtask server` prints it; IPv6 hosts go in brackets.
fn parse_server_url(url: &str) -> Result<Address> {
    let wrong = |why: &str| {
        anyhow!("--server `{url}`: {why}; give ws://HOST:PORT, such as ws://127.0.0.1:34129")
    };
    if !url.starts_with("ws://") {
        return Err(wrong("it does not start with ws://"));
    }
    match guard::parse_ws_url(url) {
        Some(address) if address.port != 0 => Ok(address),
        Some(_) => Err(wrong(
            "port 0 is for asking a free port, not for reaching a server",
        )),
        None => Err(wrong(
            "it needs a host name or address (IPv6 in brackets) and a port from 1 to 65535",
        )),
    }
}

/// Succeeds once a TCP connection to `address` opens, trying each of its addresses, all
/// within `timeout`.
fn check_reachable(address: &Address, timeout: Duration) -> Result<()> {
    let url = url_of(address);
    let hint = "start one with `cargo xtask server`";
    let deadline = Instant::now() + timeout;
    let host = address.host.trim_start_matches('[').trim_end_matches(']');
    let candidates = (host, address.port)
        .to_socket_addrs()
        .map_err(|error| anyhow!("no server answers at {url} ({error}); {hint}"))?;
    let mut reason = format!("no answer within {} s", timeout.as_secs());
    for candidate in candidates {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&candidate, left) {
            Ok(_) => return Ok(()),
            Err(error) if error.kind() == ErrorKind::TimedOut => {}
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                reason = "connection refused".to_owned();
            }
            Err(error) => reason = error.to_string(),
        }
    }
    bail!("no server answers at {url} ({reason}); {hint}")
}

/// A debug server on `port` (0: ephemeral) with temp storage, for tests.
pub fn start_server(sh: &Shell, port: u16, ready_timeout: u64) -> Result<Server> {
    let binary = guard::build(sh, false)?;
    start_built_server(sh, binary, port, ready_timeout)
}

/// As [`start_server`], with a server binary that is already built.
pub fn start_built_server(
    sh: &Shell,
    binary: Utf8PathBuf,
    port: u16,
    ready_timeout: u64,
) -> Result<Server> {
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
    run_pytest_at(sh, server.map_or(Target::Nothing, Target::Guarded), args)
}

fn run_pytest_at(sh: &Shell, target: Target<'_>, args: &[String]) -> Result<()> {
    let python = venv::python();
    let _dir = sh.push_dir(paths::bindings_dir());
    let mut cmd = cmd!(sh, "{python} -m pytest {args...}");
    let mut env = Vec::new();
    if let Target::Guarded(Server { address, .. }) | Target::External(address) = target {
        env.push(("TEST_SERVER_HOST", address.host.clone()));
        env.push(("TEST_SERVER_PORT", address.port.to_string()));
    }
    if let Target::Guarded(server) = target {
        // conftest.py shows the lines a failing test made the server write.
        let log = paths::project_root().join(&server.log);
        env.push(("TEST_SERVER_LOG", log.into_string()));
    }
    let mut shown = String::new();
    for (name, value) in env {
        shown.push_str(&format!("{name}={value} "));
        cmd = cmd.env(name, value);
    }
    eprintln!("$ {shown}{cmd}");
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
        if let Target::Guarded(server) = target {
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

    #[test]
    fn server_urls() {
        let ok = |host: &str, port| {
            Some(Address {
                host: host.to_owned(),
                port,
            })
        };
        for (url, expected) in [
            ("ws://127.0.0.1:34129", ok("127.0.0.1", 34129)),
            ("ws://127.0.0.1:34129/", ok("127.0.0.1", 34129)),
            ("ws://localhost:1", ok("localhost", 1)),
            ("ws://[::1]:8080", ok("[::1]", 8080)),
            ("127.0.0.1:34129", None),
            ("wss://127.0.0.1:34129", None),
            ("http://127.0.0.1:80", None),
            ("ws://127.0.0.1", None),
            ("ws://127.0.0.1:", None),
            ("ws://127.0.0.1:0", None),
            ("ws://127.0.0.1:65536", None),
            ("ws://127.0.0.1:80x", None),
            ("ws://:80", None),
            ("ws://::1:80", None),
            ("ws://[]:80", None),
            ("ws://a b:80", None),
            ("ws://user@host:80", None),
            ("ws://host/path:80", None),
        ] {
            assert_eq!(parse_server_url(url).ok(), expected, "{url}");
        }
        let error = parse_server_url("localhost:80").unwrap_err().to_string();
        assert_eq!(
            error,
            "--server `localhost:80`: it does not start with ws://; give ws://HOST:PORT, such \
             as ws://127.0.0.1:34129"
        );
    }

    #[test]
    fn an_unreachable_server_is_a_quick_clear_error() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = Address {
            host: "127.0.0.1".to_owned(),
            port,
        };
        let start = Instant::now();
        let error = check_reachable(&address, REACH_TIMEOUT).unwrap_err();
        assert!(start.elapsed() < REACH_TIMEOUT + Duration::from_secs(1));
        assert_eq!(
            error.to_string(),
            format!(
                "no server answers at ws://127.0.0.1:{port} (connection refused); start one \
                 with `cargo xtask server`"
            )
        );

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = Address {
            host: "127.0.0.1".to_owned(),
            port: listener.local_addr().unwrap().port(),
        };
        check_reachable(&address, REACH_TIMEOUT).unwrap();
    }
}
