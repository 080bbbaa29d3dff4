//! Runs the built server binary as a child process and waits for its readiness line.
//!
//! Every server started here gets `--owner-fd`, the read end of a pipe whose write end
//! only this test process holds: when the test process ends, however it ends (a test
//! runner's SIGKILL included, which no `Drop` survives), the server reads end of file and
//! stops. It shares the test's process group, so without this it outlived a test killed
//! by nextest (issue 32).
// Each test crate that includes this module uses a part of it.
#![allow(dead_code)]

pub mod raw_ws;

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

/// The server under test. nextest names it at run time (in the extracted archive under
/// `cargo xtask ci --from`, where the build's own path may not exist); cargo only at compile
/// time.
pub fn bin() -> std::path::PathBuf {
    std::env::var_os("NEXTEST_BIN_EXE_simd-r-drive-ws-server")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_simd-r-drive-ws-server").into())
}
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A server child that is killed and reaped when dropped.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    /// Time from spawn to the readiness line.
    pub ready_after: Duration,
}

impl Server {
    pub fn start(storage: &Path) -> Server {
        Self::start_with(storage, &["--port", "0"])
    }

    pub fn start_with(storage: &Path, args: &[&str]) -> Server {
        Self::start_command(command(storage, args))
    }

    /// A server whose files may not grow past `max_file_size` bytes (RLIMIT_FSIZE, set in
    /// the child before exec): writes past it fail the way they do on a full disk.
    pub fn start_with_file_limit(storage: &Path, max_file_size: u64) -> Server {
        let mut command = command(storage, &["--port", "0"]);
        // SAFETY: setrlimit is async-signal-safe; the closure allocates nothing.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                // Only the soft limit, so that a test may lift it again later.
                let limit = libc::rlimit {
                    rlim_cur: max_file_size as libc::rlim_t,
                    rlim_max: libc::RLIM_INFINITY,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        Self::start_command(command)
    }

    fn start_command(mut command: Command) -> Server {
        let started = Instant::now();
        let mut child = command.spawn().expect("spawn server binary");
        let line = read_first_line(child.stdout.take().expect("piped stdout"));
        let ready_after = started.elapsed();
        let Some(line) = line else {
            let status = child.wait().expect("wait for server");
            let err = stderr_of(&mut child);
            panic!("server exited before ready ({status}): {err}");
        };
        let port = line
            .strip_prefix("listening on ws://127.0.0.1:")
            .and_then(|p| p.trim_end().parse().ok())
            .unwrap_or_else(|| panic!("unexpected readiness line {line:?}"));
        Server {
            child: Some(child),
            port,
            ready_after,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Stops the server with SIGTERM and returns what it logged on stderr.
    pub fn stop_and_read_log(mut self) -> String {
        let child = self.child.take().unwrap();
        // SAFETY: kill(2) on a pid we own and have not reaped yet.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let out = child.wait_with_output().expect("wait for server");
        assert!(out.status.success(), "server exit: {}", out.status);
        String::from_utf8(out.stderr).expect("utf-8 log")
    }

    /// Sends `signal` and waits for the exit.
    pub fn stop_with(mut self, signal: i32) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill(2) on a pid we own and have not reaped yet.
        unsafe { libc::kill(child.id() as i32, signal) };
        child.wait().expect("wait for server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a server that has exited wrote on its piped stderr.
pub fn stderr_of(child: &mut Child) -> String {
    let mut log = String::new();
    let mut stderr = child.stderr.take().expect("piped stderr");
    stderr
        .read_to_string(&mut log)
        .expect("read the server's stderr");
    log
}

pub fn spawn(storage: &Path, args: &[&str]) -> Child {
    command(storage, args).spawn().expect("spawn server binary")
}

/// The server command, owned by this test process (`--owner-fd`) unless `args` name an
/// owner of their own.
fn command(storage: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(bin());
    command
        .arg(storage)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if !args.contains(&"--owner-fd") {
        owned_by_this_process(&mut command);
    }
    command
}

/// Gives the child the read end of this process's owner pipe as `--owner-fd`. Both ends
/// are close-on-exec; the child alone clears the flag on the read end, between fork and
/// exec, so that no other child (of a test running beside on another thread) inherits it.
fn owned_by_this_process(command: &mut Command) {
    let fd = owner_read_end();
    command.arg("--owner-fd").arg(fd.to_string());
    // SAFETY: fcntl is async-signal-safe, and the closure allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
}

/// The read end of the pipe that this process keeps open as long as it lives, made on
/// first use. Its write end is never written to: only its closing counts.
fn owner_read_end() -> RawFd {
    static PIPE: OnceLock<(OwnedFd, OwnedFd)> = OnceLock::new();
    PIPE.get_or_init(cloexec_pipe).0.as_raw_fd()
}

/// A pipe `(read, write)` whose ends are both close-on-exec.
fn cloexec_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    #[cfg(target_os = "linux")]
    // SAFETY: pipe2 writes two descriptors into the array.
    let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    // No pipe2 on macOS: a child forked by another thread in between could inherit the
    // ends (and hold the write end, delaying its servers' stop until it exits).
    #[cfg(not(target_os = "linux"))]
    // SAFETY: pipe writes two descriptors into the array; fcntl sets flags on them.
    let made = unsafe {
        let made = libc::pipe(fds.as_mut_ptr());
        for fd in fds {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        made
    };
    assert_eq!(made, 0, "pipe: {}", std::io::Error::last_os_error());
    // SAFETY: both were just made and are owned nowhere else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// The first stdout line, or `None` at EOF; panics if nothing comes within the timeout.
fn read_first_line(stdout: ChildStdout) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let n = BufReader::new(stdout).read_line(&mut line).unwrap_or(0);
        let _ = tx.send((n > 0).then_some(line));
    });
    rx.recv_timeout(READY_TIMEOUT)
        .expect("no readiness line within 30 s")
}

/// Runs the server with arguments that must make it fail; returns (status, stdout, stderr).
/// Failing is expected to be quick: a server still running after 10 s is killed, and the
/// test fails, rather than hangs.
pub fn run_failing(storage: &Path, args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = command(storage, args)
        .stdin(Stdio::null())
        .spawn()
        .expect("run server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("server output");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8 output");
    (out.status, text(out.stdout), text(out.stderr))
}

/// A runtime for a test's client calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The crates.io client, connected to `server`.
pub async fn connect(server: &Server) -> simd_r_drive_ws_client::WsClient {
    simd_r_drive_ws_client::WsClient::new("127.0.0.1", server.port)
        .await
        .expect("connect")
}

/// Runs the server, which must fail to start: no readiness line, no panic, and a last
/// stderr line `error: ...` that holds each of `expected`. Returns its stderr.
pub fn assert_fails_with(storage: &Path, args: &[&str], expected: &[&str]) -> String {
    let (status, stdout, stderr) = run_failing(storage, args);
    assert!(!status.success(), "expected failure, got {status}");
    assert!(
        stdout.is_empty(),
        "no readiness line on failure: {stdout:?}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "stderr: {stderr}");
    for part in expected {
        assert!(last.contains(part), "{part:?} not in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// Appends `bytes` to the file at `path`, as a write cut short or a stranger would.
pub fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

/// The record of acknowledged writes beside `storage` (`STORE.acked`).
pub fn record_path(storage: &Path) -> std::path::PathBuf {
    let mut name = storage.as_os_str().to_owned();
    name.push(".acked");
    name.into()
}

/// Rewrites the record beside `storage` as the server does before a write: the same last
/// acknowledged write, and a write under way after it. A test that then appends bytes
/// stands for a server killed during that write.
pub fn mark_write_under_way(storage: &Path) {
    const SLOT: usize = 64;
    const BODY: usize = 36;
    let path = record_path(storage);
    let bytes = std::fs::read(&path).expect("a record beside the store");
    let newest = bytes
        .chunks_exact(SLOT)
        .filter(|slot| {
            let crc = u32::from_le_bytes(slot[BODY..BODY + 4].try_into().unwrap());
            crc32fast::hash(&slot[..BODY]) == crc
        })
        .max_by_key(|slot| u64::from_le_bytes(slot[8..16].try_into().unwrap()) & !(1 << 63))
        .expect("a whole slot")
        .to_vec();
    let seq = (u64::from_le_bytes(newest[8..16].try_into().unwrap()) & !(1 << 63)) + 1;
    let mut slot = newest;
    slot[8..16].copy_from_slice(&(seq | 1 << 63).to_le_bytes());
    let crc = crc32fast::hash(&slot[..BODY]);
    slot[BODY..BODY + 4].copy_from_slice(&crc.to_le_bytes());
    let mut bytes = bytes;
    let at = (seq % 2) as usize * SLOT;
    bytes[at..at + SLOT].copy_from_slice(&slot);
    std::fs::write(&path, bytes).unwrap();
}

/// Starts the server with `args`, reads its readiness line, and stops it with SIGTERM;
/// returns (exit status, stdout, stderr). For addresses the port parser of [`Server`]
/// does not expect.
pub fn run_until_ready(storage: &Path, args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = command(storage, args).spawn().expect("spawn server binary");
    let line = read_first_line(child.stdout.take().expect("piped stdout"));
    // SAFETY: kill(2) on a pid we own and have not reaped yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().expect("wait for server");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8 output");
    (out.status, line.unwrap_or_default(), text(out.stderr))
}
