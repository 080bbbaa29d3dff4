//! The server under test, in one place: building it, starting it under a guard that is
//! its one owner (process group, log, and the temp storage when xtask made it), its
//! readiness line, its `ws://HOST:PORT` address, watching it and stopping it. However xtask
//! ends, the server is stopped and reaped and the temp storage removed (see `process`);
//! if xtask is killed with SIGKILL, the server stops by itself and the next start removes
//! the temp storage (see `server_owner`).

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use camino::{Utf8Path, Utf8PathBuf};
use regex::Regex;
use xshell::cmd;

use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::{self, Failed, Job, ProcessGroup, Sink, Stopped};
use crate::base::signals;
use crate::base::tail;
use crate::server::server_owner::{self, OwnerPipe};
use crate::traceln;

pub const SERVER_PACKAGE: &str = "simd-r-drive-ws-server";
/// Lines of the server's log shown when it fails.
const LOG_TAIL: usize = 20;
/// How often the readiness wait looks at the server.
const TICK: Duration = Duration::from_millis(20);
/// The start of the name of each temp store folder.
pub const TEMP_PREFIX: &str = "xtask-server";

pub struct Options {
    pub binary: Utf8PathBuf,
    pub host: String,
    pub port: u16,
    /// A user's storage file, kept; `None` makes a temp one, removed on stop.
    pub storage: Option<Utf8PathBuf>,
    pub ready_timeout: Duration,
    pub log_dir: Utf8PathBuf,
}

/// Where a ready server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ws://{}:{}", self.host, self.port)
    }
}

pub struct Server {
    group: ProcessGroup,
    /// The write end of the pipe the server watches: it stops once xtask is gone.
    _owner: OwnerPipe,
    pub address: Address,
    pub log: Utf8PathBuf,
    pub storage: Utf8PathBuf,
    /// When the process was spawned; readiness is measured from here.
    pub spawned: Instant,
    pub ready_after: Duration,
}

/// Builds the server and returns its binary; `XTASK_SERVER_BIN` names one to use instead.
pub fn build(sh: &StepContext, release: bool) -> Result<Utf8PathBuf> {
    if let Some(binary) = binary_from_env(sh)? {
        return Ok(binary);
    }
    let release_flag = release.then_some("--release");
    Job::new(
        sh,
        cmd!(sh, "cargo build -p {SERVER_PACKAGE} {release_flag...}"),
    )
    .run()
    .context("cannot build the server")?;
    let profile = if release { "release" } else { "debug" };
    Ok(paths::target_dir()?.join(profile).join(SERVER_PACKAGE))
}

/// The debug server that `cargo test --workspace` built for the server's own tests, or a
/// fresh build when there is none. `cargo build -p` would build it again even so: for one
/// package, cargo resolves features apart from the rest of the workspace, which recompiles
/// some 35 crates on a cold target dir (20 s measured).
pub fn binary_built_by_tests(sh: &StepContext) -> Result<Utf8PathBuf> {
    let binary = paths::target_dir()?.join("debug").join(SERVER_PACKAGE);
    if std::env::var_os("XTASK_SERVER_BIN").is_some() || !binary.is_file() {
        return build(sh, false);
    }
    traceln!(
        sh,
        "using {}, built by `cargo test --workspace`",
        paths::display_path(&binary)
    );
    Ok(binary)
}

fn binary_from_env(sh: &StepContext) -> Result<Option<Utf8PathBuf>> {
    match std::env::var("XTASK_SERVER_BIN") {
        Ok(binary) => {
            traceln!(sh, "using the server binary XTASK_SERVER_BIN={binary}");
            Ok(Some(paths::from_user(Utf8Path::new(&binary))?))
        }
        Err(_) => Ok(None),
    }
}

/// A server on loopback, on `port` (0: ephemeral), with temp storage, for tests; says
/// where it listens once it is ready.
pub fn start_for_tests(
    sh: &StepContext,
    binary: Utf8PathBuf,
    port: u16,
    ready_timeout: u64,
) -> Result<Server> {
    let server = Server::start(
        sh,
        Options {
            binary,
            host: "127.0.0.1".to_owned(),
            port,
            storage: None,
            ready_timeout: Duration::from_secs(ready_timeout),
            log_dir: paths::xtask_dir()?.join("logs"),
        },
    )?;
    traceln!(
        sh,
        "server ready at {} in {} ms",
        server.address,
        server.ready_after.as_millis()
    );
    Ok(server)
}

/// Reads `listening on ws://HOST:PORT`, the line the server prints once it accepts
/// connections.
pub fn parse_ready_line(line: &str) -> Option<Address> {
    parse_ws_url(line.trim_end().strip_prefix("listening on ")?)
}

/// Reads `ws://HOST:PORT` (a trailing `/` allowed): a host name, an IPv4 address, or an
/// IPv6 address in brackets, which stay in `host`.
pub fn parse_ws_url(url: &str) -> Option<Address> {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"^ws://(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]@?#]+):(\d{1,5})/?$").unwrap()
    });
    let captures = re.captures(url)?;
    Some(Address {
        host: captures[1].to_owned(),
        port: captures[2].parse().ok()?,
    })
}

/// Reads a `--server ws://HOST:PORT` that a user typed, as `cargo xtask server` prints it.
pub fn parse_server_url(url: &str) -> Result<Address> {
    let wrong = |why: &str| {
        anyhow!("--server `{url}`: {why}; give ws://HOST:PORT, such as ws://127.0.0.1:34129")
    };
    if !url.starts_with("ws://") {
        return Err(wrong("it does not start with ws://"));
    }
    match parse_ws_url(url) {
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
/// within `timeout`; a signal ends the wait.
pub fn check_reachable(address: &Address, timeout: Duration) -> Result<()> {
    let hint = "start one with `cargo xtask server`";
    let deadline = Instant::now() + timeout;
    let host = address.host.trim_start_matches('[').trim_end_matches(']');
    let candidates: Vec<_> = (host, address.port)
        .to_socket_addrs()
        .map_err(|error| anyhow!("no server answers at {address} ({error}); {hint}"))?
        .collect();
    let mut reason = format!("no answer within {} s", timeout.as_secs());
    for candidate in candidates {
        // Short attempts, so that a signal is seen between them.
        while let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
        {
            signals::check_received()?;
            match TcpStream::connect_timeout(&candidate, left.min(Duration::from_millis(200))) {
                Ok(_) => return Ok(()),
                Err(error) if error.kind() == ErrorKind::TimedOut => continue,
                Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                    reason = "connection refused".to_owned();
                }
                Err(error) => reason = error.to_string(),
            }
            break;
        }
    }
    bail!("no server answers at {address} ({reason}); {hint}")
}

impl Server {
    pub fn start(sh: &StepContext, options: Options) -> Result<Server> {
        let group = ProcessGroup::new("the server");
        server_owner::remove_orphaned_stores(sh, TEMP_PREFIX);
        let storage = match &options.storage {
            Some(path) => paths::from_user(path)?,
            None => {
                let dir = group
                    .create_temp_dir(TEMP_PREFIX)
                    .context("cannot create a temp dir for the server's storage")?;
                server_owner::mark_owner(&dir)?;
                Utf8PathBuf::try_from(dir.join("store.bin"))?
            }
        };
        let (log, log_file) = create_log(&options.log_dir)?;
        let binary = &options.binary;
        let (host, port) = (&options.host, options.port.to_string());
        let mut owner = OwnerPipe::new()?;
        let owner_fd = owner.read_fd().to_string();
        let job = Job::new(
            sh,
            cmd!(
                sh,
                "{binary} {storage} --host {host} --port {port} --owner-fd {owner_fd}"
            ),
        )
        .note(format_args!("log: {}", paths::display_path(&log)))
        .stdout(Sink::Pipe)
        .stderr(Sink::File(log_file));
        let spawned = Instant::now();
        let stdout = group
            .spawn(job)
            .with_context(|| format!("cannot start the server {binary}; is it built?"))?
            .expect("stdout is piped");
        owner.spawned();
        let mut server = Server {
            group,
            _owner: owner,
            address: Address {
                host: String::new(),
                port: 0,
            },
            log,
            storage,
            spawned,
            ready_after: Duration::ZERO,
        };
        let ready = watch_stdout(stdout, &server.log)?;
        server.address = server.wait_ready(&ready, options.ready_timeout)?;
        server.ready_after = spawned.elapsed();
        Ok(server)
    }

    /// Waits for the readiness line; the server's exit, the timeout or a signal end it.
    fn wait_ready(&self, ready: &mpsc::Receiver<Address>, timeout: Duration) -> Result<Address> {
        let deadline = self.spawned + timeout;
        loop {
            match ready.recv_timeout(TICK) {
                Ok(address) => return Ok(address),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // Stdout closed: the server is exiting, or will never say it is ready.
                Err(mpsc::RecvTimeoutError::Disconnected) => self.group.sleep(TICK)?,
            }
            self.group.check()?;
            if let Some(status) = self.group.try_status() {
                bail!(
                    "server exited before it was ready: {}{}",
                    process::describe(status),
                    self.log_tail()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "server not ready after {timeout:?}: no `listening on ws://HOST:PORT` line \
                     on its stdout{}",
                    self.log_tail()
                );
            }
        }
    }

    /// The server's pid, until it is stopped.
    pub fn pid(&self) -> Option<u32> {
        self.group.pid()
    }

    /// An error if the server has exited, e.g. "server exited unexpectedly: signal 9".
    pub fn check_alive(&self) -> Result<()> {
        match self.group.try_status() {
            None => Ok(()),
            Some(status) => {
                bail!(
                    "server exited unexpectedly: {}{}",
                    process::describe(status),
                    self.log_tail()
                )
            }
        }
    }

    /// Stops the server (SIGTERM, grace, SIGKILL) and removes the temp storage; idempotent.
    pub fn stop(&self) -> Option<Stopped> {
        self.group.stop()
    }

    /// Stops the server; an unclean stop (a non-zero exit, or SIGKILL needed) is an error
    /// that says how it ended.
    pub fn stop_cleanly(&self) -> Result<()> {
        match self.stop() {
            Some(stopped) if stopped.status.success() && !stopped.killed => Ok(()),
            Some(stopped) => {
                let how = if stopped.was_running {
                    "did not stop cleanly on SIGTERM"
                } else {
                    "had exited before it was stopped"
                };
                Err(Failed {
                    code: 1,
                    message: format!(
                        "the server {how}: {}{}",
                        process::describe(stopped.status),
                        self.log_tail()
                    ),
                }
                .into())
            }
            None => self.check_alive(),
        }
    }

    /// The last lines of the log, formatted to end an error message.
    pub fn log_tail(&self) -> String {
        format!("\n{}", tail::last_lines(&self.log, LOG_TAIL))
    }

    /// Copies the log to stderr as it grows, until the server exits (an error) or a signal
    /// ends the wait.
    pub fn stream_log(&self) -> Result<()> {
        let mut log = File::open(&self.log).with_context(|| format!("cannot open {}", self.log))?;
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            log.read_to_end(&mut buffer)
                .with_context(|| format!("cannot read {}", self.log))?;
            crate::base::console::stderr_bytes(&buffer);
            if buffer.is_empty() {
                self.check_alive()?;
                self.group.sleep(Duration::from_millis(100))?;
            }
        }
    }
}

/// A new log file in `dir`, named so that no other run picks it.
fn create_log(dir: &Utf8Path) -> Result<(Utf8PathBuf, File)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    let log = dir.join(format!("{}.log", process::unique_name("server")));
    let file = File::options()
        .create_new(true)
        .append(true)
        .open(&log)
        .with_context(|| format!("cannot create {log}"))?;
    remove_old_logs(dir, &log, KEPT_LOGS);
    Ok((log, file))
}

/// How many server logs `target/xtask/logs/` keeps: the newest, this run's included.
pub const KEPT_LOGS: usize = 10;

/// Removes all but the `keep` newest server logs of `dir` (`current` always kept), so
/// that they do not pile up. Best effort: a log another run removed first is skipped.
fn remove_old_logs(dir: &Utf8Path, current: &Utf8Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut logs: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("server-") && name.ends_with(".log") && e.path() != current
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    logs.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, old) in logs.into_iter().skip(keep.saturating_sub(1)) {
        let _ = std::fs::remove_file(old);
    }
}

/// Reads the server's stdout on a thread: sends the address once the readiness line comes,
/// and copies every line to the log.
fn watch_stdout(
    stdout: impl Read + Send + 'static,
    log: &Utf8Path,
) -> Result<mpsc::Receiver<Address>> {
    let mut log = File::options()
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {log}"))?;
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sender = Some(sender);
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let _ = log.write_all(&line);
            let text = String::from_utf8_lossy(&line);
            if let Some(address) = sender.as_ref().and_then(|_| parse_ready_line(&text)) {
                let _ = sender.take().unwrap().send(address);
            }
            line.clear();
        }
    });
    Ok(receiver)
}

#[cfg(test)]
mod tests {
    /// Issue 32 item 13: server logs no longer pile up; the newest are kept.
    #[test]
    fn only_the_newest_server_logs_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dir = camino::Utf8Path::from_path(dir.path()).unwrap();
        std::fs::write(dir.join("other.log"), b"not a server's").unwrap();
        let mut made = Vec::new();
        for _ in 0..super::KEPT_LOGS + 5 {
            made.push(super::create_log(dir).unwrap().0);
        }
        let left: Vec<_> = made.iter().filter(|log| log.exists()).collect();
        assert_eq!(left.len(), super::KEPT_LOGS);
        assert!(made.last().unwrap().exists(), "this run's log is kept");
        assert!(dir.join("other.log").exists());
    }

    use super::*;

    #[test]
    fn ready_lines() {
        let ok = |host: &str, port| {
            Some(Address {
                host: host.to_owned(),
                port,
            })
        };
        for (line, expected) in [
            ("listening on ws://127.0.0.1:34129", ok("127.0.0.1", 34129)),
            (
                "listening on ws://127.0.0.1:34129\n",
                ok("127.0.0.1", 34129),
            ),
            (
                "listening on ws://127.0.0.1:34129\r\n",
                ok("127.0.0.1", 34129),
            ),
            ("listening on ws://localhost:1/", ok("localhost", 1)),
            ("listening on ws://0.0.0.0:65535", ok("0.0.0.0", 65535)),
            ("listening on ws://[::1]:8080", ok("[::1]", 8080)),
            ("listening on ws://127.0.0.1:65536", None),
            ("listening on ws://127.0.0.1:", None),
            ("listening on ws://127.0.0.1", None),
            ("listening on http://127.0.0.1:80", None),
            ("  listening on ws://127.0.0.1:80", None),
            ("INFO listening on ws://127.0.0.1:80", None),
            ("listening on ws://127.0.0.1:80 extra", None),
            ("", None),
        ] {
            assert_eq!(parse_ready_line(line), expected, "{line:?}");
        }
    }

    /// The fake server: `tests/fixtures/fake_server.sh`, driven by `FAKE_MODE`.
    fn start_fake(
        mode: &str,
        storage: Option<Utf8PathBuf>,
        timeout_ms: u64,
    ) -> (Result<Server>, Record) {
        let sh = StepContext::terminal(xshell::Shell::new().unwrap());
        let record = Record(std::env::temp_dir().join(process::unique_name("xtask-test")));
        std::fs::create_dir(&record.0).unwrap();
        sh.set_var("FAKE_MODE", mode);
        sh.set_var("FAKE_RECORD", record.0.join("record"));
        sh.set_var("FAKE_DIE_AFTER", "0.3");
        let fixtures = paths::project_root().join("xtask/tests/fixtures");
        let options = Options {
            binary: fixtures.join("fake_server.sh"),
            host: "127.0.0.1".into(),
            port: 0,
            storage,
            ready_timeout: Duration::from_millis(timeout_ms),
            log_dir: Utf8PathBuf::try_from(record.0.join("logs")).unwrap(),
        };
        (Server::start(&sh, options), record)
    }

    /// A scratch folder, removed on drop, with the server's log and what the fake server
    /// wrote down: its pid and storage path.
    struct Record(std::path::PathBuf);

    impl Record {
        fn read(&self) -> (i32, String) {
            let text = std::fs::read_to_string(self.0.join("record")).unwrap();
            let (pid, storage) = text.trim_end().split_once(' ').unwrap();
            (pid.parse().unwrap(), storage.to_owned())
        }
    }

    impl Drop for Record {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn is_gone(pid: i32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid, 0) != 0 }
    }

    #[test]
    fn ready_then_clean_stop() {
        let (server, record) = start_fake("ready", None, 10_000);
        let server = server.unwrap();
        assert_eq!(
            server.address,
            Address {
                host: "127.0.0.1".into(),
                port: 45678
            }
        );
        assert!(
            server.ready_after < Duration::from_secs(5),
            "{:?}",
            server.ready_after
        );
        let (pid, storage) = record.read();
        assert_eq!(pid, server.pid().unwrap() as i32);
        assert!(
            Utf8Path::new(&storage).is_file(),
            "the temp storage exists while running"
        );
        assert_eq!(storage, server.storage.as_str());
        let stopped = server.stop().expect("the first stop stops");
        assert!(stopped.status.success() && !stopped.killed);
        assert!(server.stop().is_none(), "the second stop does nothing");
        assert!(is_gone(pid));
        assert!(
            !Utf8Path::new(&storage).parent().unwrap().exists(),
            "the temp storage is removed"
        );
        let log = std::fs::read_to_string(&server.log).unwrap();
        assert!(
            log.contains("fake server stopping") && log.contains("listening on"),
            "{log}"
        );
    }

    #[test]
    fn drop_stops_the_server() {
        let (server, record) = start_fake("ready", None, 10_000);
        drop(server.unwrap());
        let (pid, storage) = record.read();
        assert!(is_gone(pid));
        assert!(!Utf8Path::new(&storage).exists());
    }

    #[test]
    fn exit_before_ready_shows_status_and_log() {
        let (server, record) = start_fake("exit", None, 10_000);
        let error = format!("{:#}", server.err().unwrap());
        assert!(
            error.contains("server exited before it was ready: exit code 3"),
            "{error}"
        );
        assert!(error.contains("error: cannot open storage"), "{error}");
        let (_, storage) = record.read();
        assert!(!Utf8Path::new(&storage).parent().unwrap().exists());
    }

    #[test]
    fn timeout_stops_the_server() {
        let (server, record) = start_fake("silent", None, 300);
        let error = format!("{:#}", server.err().unwrap());
        assert!(error.contains("server not ready after 300ms"), "{error}");
        assert!(error.contains("fake server starting"), "{error}");
        assert!(is_gone(record.read().0));
    }

    #[test]
    fn sigkill_after_the_grace_period() {
        let (server, record) = start_fake("stubborn", None, 10_000);
        let server = server.unwrap();
        let stopped = server.stop().unwrap();
        assert!(stopped.killed);
        assert!(is_gone(record.read().0));
    }

    #[test]
    fn death_while_running_is_reported() {
        let (server, _record) = start_fake("die", None, 10_000);
        let server = server.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let error = loop {
            if let Err(error) = server.check_alive() {
                break format!("{error:#}");
            }
            assert!(Instant::now() < deadline, "the fake server did not die");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            error.contains("server exited unexpectedly: signal 9"),
            "{error}"
        );
    }

    #[test]
    fn user_storage_survives() {
        let dir = std::env::temp_dir().join(process::unique_name("xtask-test-storage"));
        std::fs::create_dir(&dir).unwrap();
        let storage = Utf8PathBuf::try_from(dir.join("mine.bin")).unwrap();
        let (server, _record) = start_fake("ready", Some(storage.clone()), 10_000);
        server.unwrap().stop().unwrap();
        assert!(storage.is_file(), "a user's storage is never deleted");
        std::fs::remove_dir_all(dir).unwrap();
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
        let timeout = Duration::from_secs(5);
        let start = Instant::now();
        let error = check_reachable(&address, timeout).unwrap_err();
        assert!(start.elapsed() < timeout + Duration::from_secs(1));
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
        check_reachable(&address, timeout).unwrap();
    }
}
