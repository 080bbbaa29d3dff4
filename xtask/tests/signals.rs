//! Signals delivered to a running `cargo xtask server`, against the fake server: xtask stops
//! the server, removes its temp storage, and exits 128 + the signal number.

mod common;

use common::DiesWithTheTest;

use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{is_gone, scratch_dir};

struct Xtask {
    child: Child,
    server_pid: i32,
    storage: PathBuf,
    /// Removed when dropped, after xtask is gone.
    scratch: common::Scratch,
}

impl Xtask {
    /// Owns a started xtask and its scratch folder; the server is not known yet.
    fn owning(child: Child, scratch: common::Scratch) -> Xtask {
        Xtask {
            child,
            server_pid: 0,
            storage: PathBuf::new(),
            scratch,
        }
    }
}

impl Drop for Xtask {
    /// After a failed assertion too: SIGTERM lets xtask stop its server; SIGKILL to both is
    /// the fallback.
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: kill has no memory-safety preconditions; the child is not reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        common::wait_until(Duration::from_secs(5), || {
            !matches!(self.child.try_wait(), Ok(None))
        });
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.server_pid > 0 && !is_gone(self.server_pid) {
            // SAFETY: as above; only reached when xtask failed to stop its server.
            unsafe { libc::kill(self.server_pid, libc::SIGKILL) };
        }
    }
}

/// `xtask server --port 0 EXTRA...` on the fake server, in a process group of its own as a
/// shell would start it, with stdin closed and output discarded unless the caller says
/// otherwise; the fake writes its pid and storage to `scratch/record`.
fn xtask_server(scratch: &Path, extra: &[&str]) -> Command {
    let fake = common::manifest_dir().join("tests/fixtures/fake_server.sh");
    let mut command = common::xtask();
    command
        .args(["server", "--port", "0"])
        .args(extra)
        .env("XTASK_SERVER_BIN", fake)
        .env("CARGO_TARGET_DIR", scratch.join("target"))
        // The scratch folder as the worktree, whose `target/xtask/` gets xtask's files.
        .env("CARGO_MANIFEST_DIR", scratch.join("xtask"))
        .env("FAKE_RECORD", scratch.join("record"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .dies_with_the_test();
    command
}

/// Starts `xtask server` on the fake server, in a process group of its own, as a shell
/// would, and waits until it says the server is ready. Its stderr goes to `scratch/stderr`.
fn start(name: &str, extra: &[&str]) -> Xtask {
    start_with(name, extra, None)
}

/// As [`start`], with xtask's stderr going to `stderr` if given.
fn start_with(name: &str, extra: &[&str], stderr: Option<Stdio>) -> Xtask {
    let scratch = scratch_dir(name);
    let stderr = stderr
        .unwrap_or_else(|| Stdio::from(std::fs::File::create(scratch.join("stderr")).unwrap()));
    let record = scratch.join("record");
    let mut child = xtask_server(&scratch, extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut storage = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("storage: ") {
            storage = Some(PathBuf::from(rest.split(" (").next().unwrap()));
        }
        if line.starts_with("export TEST_SERVER_HOST=127.0.0.1 TEST_SERVER_PORT=45678") {
            break;
        }
    }
    let text = std::fs::read_to_string(&record).expect("the fake server ran");
    let server_pid = text.split(' ').next().unwrap().parse().unwrap();
    Xtask {
        child,
        server_pid,
        storage: storage.expect("xtask printed the storage"),
        scratch,
    }
}

/// How soon xtask must be gone after a signal: well within the tests' own timeouts, but
/// with room for a machine under heavy load (over 4 s seen with the CPU saturated). That
/// the main thread did the cleanup, not the fallback, is checked by what it printed.
const PROMPTLY: Duration = Duration::from_secs(10);

/// Sends `signal` to xtask alone, or to its whole process group as a terminal does, and
/// returns xtask's exit code and how long it took to exit.
fn interrupt(xtask: &mut Xtask, signal: libc::c_int, whole_group: bool) -> (i32, Duration) {
    let pid = xtask.child.id() as i32;
    let target = if whole_group { -pid } else { pid };
    send_and_wait(xtask, target, signal, Duration::from_secs(10))
}

/// Sends `signal` to xtask alone and waits up to `limit` for it to exit.
fn interrupt_within(xtask: &mut Xtask, signal: libc::c_int, limit: Duration) -> (i32, Duration) {
    let pid = xtask.child.id() as i32;
    send_and_wait(xtask, pid, signal, limit)
}

fn send_and_wait(
    xtask: &mut Xtask,
    target: i32,
    signal: libc::c_int,
    limit: Duration,
) -> (i32, Duration) {
    let start = Instant::now();
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(target, signal) }, 0);
    let deadline = start + limit;
    loop {
        if let Some(status) = xtask.child.try_wait().unwrap() {
            return (
                status.code().expect("xtask exits by itself"),
                start.elapsed(),
            );
        }
        assert!(Instant::now() < deadline, "xtask did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn check_signal(name: &str, signal: libc::c_int, whole_group: bool, expected_code: i32) {
    let mut xtask = start(name, &[]);
    assert!(
        xtask.storage.exists(),
        "the temp storage exists while the server runs"
    );
    let (code, took) = interrupt(&mut xtask, signal, whole_group);
    let stderr = std::fs::read_to_string(xtask.scratch.join("stderr")).unwrap();
    assert_eq!(code, expected_code, "{stderr}");
    assert!(took < PROMPTLY, "stopping took {took:?}");
    // The main thread's way out, not the fallback's (which prints nothing).
    let name = match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "SIGHUP",
    };
    assert!(
        stderr.ends_with(&format!("server stopped ({name}; temp storage removed)\n")),
        "{stderr}"
    );
    assert!(is_gone(xtask.server_pid), "the server is gone");
    assert!(
        !xtask.storage.parent().unwrap().exists(),
        "the temp storage is gone"
    );
}

#[test]
fn sigint_to_xtask_alone() {
    check_signal("sigint", libc::SIGINT, false, 130);
}

#[test]
fn sigint_to_the_process_group() {
    check_signal("sigint-group", libc::SIGINT, true, 130);
}

#[test]
fn sigterm_to_xtask_alone() {
    check_signal("sigterm", libc::SIGTERM, false, 143);
}

#[test]
fn sigterm_to_the_process_group() {
    check_signal("sigterm-group", libc::SIGTERM, true, 143);
}

#[test]
fn sighup() {
    check_signal("sighup", libc::SIGHUP, false, 129);
}

#[test]
fn user_storage_survives_ctrl_c() {
    let dir = scratch_dir("user-storage");
    let storage = dir.join("mine.bin");
    let mut xtask = start(
        "user-storage-run",
        &["--storage", storage.to_str().unwrap()],
    );
    assert_eq!(xtask.storage, storage);
    let (code, _) = interrupt(&mut xtask, libc::SIGINT, true);
    assert_eq!(code, 130);
    assert!(is_gone(xtask.server_pid));
    assert!(storage.is_file(), "a user's storage is never deleted");
}

#[test]
fn early_exit_is_an_error_with_the_log_tail() {
    let scratch = scratch_dir("early-exit");
    let output = xtask_server(&scratch, &[])
        .env("FAKE_MODE", "exit")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: server exited before it was ready: exit code 3"),
        "{stderr}"
    );
    assert!(stderr.contains("error: cannot open storage"), "{stderr}");
}

/// A signal to xtask alone, while it waits for a command such as `cargo build`, stops that
/// command and the processes it started: none is left running on its own.
#[test]
fn sigterm_to_xtask_alone_stops_a_running_command() {
    let (code, took, survivors) = interrupt_fake_cargo("command", "plain");
    assert_eq!(code, 143);
    assert!(took < Duration::from_secs(1), "stopping took {took:?}");
    assert!(
        survivors.is_empty(),
        "processes {survivors:?} outlived xtask"
    );
}

/// A grandchild that ignores SIGTERM gets SIGKILL once the grace period is over, even
/// though the command it belongs to exited at once.
#[test]
fn a_grandchild_that_ignores_sigterm_is_killed() {
    let (code, took, survivors) = interrupt_fake_cargo("stubborn-command", "stubborn");
    assert_eq!(code, 143);
    assert!(took < Duration::from_secs(4), "stopping took {took:?}");
    assert!(
        survivors.is_empty(),
        "processes {survivors:?} outlived xtask"
    );
}

/// Runs `xtask server` with a fake `cargo` (FAKE_CARGO_MODE=`mode`) that never finishes
/// building, sends SIGTERM to xtask alone, and returns xtask's exit code, how long it took,
/// and the fake's processes still alive a moment later.
fn interrupt_fake_cargo(name: &str, mode: &str) -> (i32, Duration, Vec<i32>) {
    let scratch = scratch_dir(name);
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = common::manifest_dir().join("tests/fixtures/fake_cargo.sh");
    std::os::unix::fs::symlink(fake, bin.join("cargo")).unwrap();
    let record = scratch.join("record");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let child = common::xtask()
        .args(["server", "--port", "0"])
        // The fake cargo must be asked to build: no server named by ci (`ci --from`).
        .env_remove("XTASK_SERVER_BIN")
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", scratch.join("target"))
        // The scratch folder as the worktree, whose `target/xtask/` gets xtask's files.
        .env("CARGO_MANIFEST_DIR", scratch.join("xtask"))
        .env("FAKE_RECORD", &record)
        .env("FAKE_CARGO_MODE", mode)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .dies_with_the_test()
        .spawn()
        .unwrap();
    let mut xtask = Xtask::owning(child, scratch);
    wait_for_file(&record);
    let text = std::fs::read_to_string(&record).unwrap();
    let pids: Vec<i32> = text
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let (code, took) = interrupt(&mut xtask, libc::SIGTERM, false);
    // A killed orphan is a zombie until init reaps it; a survivor stays.
    common::wait_until(PROMPTLY, || pids.iter().all(|&pid| is_gone(pid)));
    let survivors: Vec<i32> = pids.into_iter().filter(|&pid| !is_gone(pid)).collect();
    for &pid in &survivors {
        // SAFETY: kill has no memory-safety preconditions; this only cleans up after a
        // failed test.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    (code, took, survivors)
}

/// SIGHUP from a closed terminal: writing to stderr now fails, and the stop must go on
/// regardless (`eprintln!` would panic on that thread and skip it).
#[test]
fn sighup_with_stderr_gone_still_cleans_up() {
    hup_with_stderr_gone("hup-closed");
}

fn hup_with_stderr_gone(name: &str) {
    let mut xtask = start_with(name, &[], Some(Stdio::piped()));
    drop(xtask.child.stderr.take());
    let (code, took) = interrupt(&mut xtask, libc::SIGHUP, false);
    assert_eq!(code, 129);
    assert!(took < PROMPTLY, "stopping took {took:?}");
    assert!(is_gone(xtask.server_pid), "the server is gone");
    assert!(
        !xtask.storage.parent().unwrap().exists(),
        "the temp storage is gone"
    );
}

/// Waits until `path` exists, or fails after 10 s.
fn wait_for_file(path: &Path) {
    let appeared = common::wait_until(Duration::from_secs(10), || path.exists());
    assert!(appeared, "{} never appeared", path.display());
}

/// A signal while xtask waits for the readiness line ends that wait at once: the server
/// that never got ready is stopped and its temp storage removed.
#[test]
fn a_signal_during_the_readiness_wait() {
    let scratch = scratch_dir("ready-wait");
    let record = scratch.join("record");
    let child = xtask_server(&scratch, &["--ready-timeout", "60"])
        .env("FAKE_MODE", "silent")
        .spawn()
        .unwrap();
    let mut xtask = Xtask::owning(child, scratch);
    wait_for_file(&record);
    let text = std::fs::read_to_string(&record).unwrap();
    let (pid, storage) = text.trim_end().split_once(' ').unwrap();
    xtask.server_pid = pid.parse().unwrap();
    let (code, took) = interrupt(&mut xtask, libc::SIGINT, false);
    assert_eq!(code, 130);
    assert!(took < PROMPTLY, "stopping took {took:?}");
    assert!(is_gone(xtask.server_pid), "the server is gone");
    assert!(!Path::new(storage).parent().unwrap().exists());
}

/// A signal while xtask waits for the venv lock that another run holds ends that wait.
#[test]
fn a_signal_during_the_lock_wait() {
    let scratch = scratch_dir("lock-wait");
    let target = scratch.join("target");
    std::fs::create_dir_all(target.join("xtask")).unwrap();
    // The scratch folder is the worktree (CARGO_MANIFEST_DIR below): its bindings, and its
    // venv lock, in its own `target/xtask/`.
    let bindings = scratch.join("experiments/bindings/python-ws-client");
    std::fs::create_dir_all(&bindings).unwrap();
    std::fs::write(bindings.join("pyproject.toml"), "[project]\n").unwrap();
    let lock = std::fs::File::create(target.join("xtask/venv.lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns; released when `lock` is dropped.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let mut child = common::xtask()
        .arg("venv")
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_MANIFEST_DIR", scratch.join("xtask"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .dies_with_the_test()
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("waiting for another `cargo xtask`"),
        "{line}"
    );
    let mut xtask = Xtask::owning(child, scratch);
    let (code, took) = interrupt(&mut xtask, libc::SIGTERM, false);
    assert_eq!(code, 143);
    assert!(took < PROMPTLY, "stopping took {took:?}");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "error: interrupted by SIGTERM\n");
    drop(lock);
}

/// With stdout closed (its reader gone), printing the ready lines must not panic: xtask
/// streams the log on and still cleans up on a signal.
#[test]
fn a_closed_stdout_is_no_panic() {
    let scratch = scratch_dir("stdout-closed");
    let record = scratch.join("record");
    let mut child = xtask_server(&scratch, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    // The log streams to stderr only after the ready lines were printed (or not) to stdout.
    while !seen.contains("fake server starting") {
        assert!(stderr.read_line(&mut seen).unwrap() > 0, "{seen}");
    }
    let mut xtask = Xtask::owning(child, scratch);
    let text = std::fs::read_to_string(&record).unwrap();
    xtask.server_pid = text.split(' ').next().unwrap().parse().unwrap();
    let (code, _) = interrupt(&mut xtask, libc::SIGINT, false);
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(code, 130, "{seen}{rest}");
    assert!(!rest.contains("panicked"), "{rest}");
    assert!(is_gone(xtask.server_pid), "the server is gone");
}

/// The fallback: xtask's main thread is stuck writing the server's log to a stderr that
/// nobody reads (a full pipe), so it cannot unwind. The handler thread then stops the
/// server, removes the temp storage and exits 143 itself, after `STOP_BOUND` (5 s).
#[test]
fn a_stuck_main_thread_is_covered_by_the_fallback() {
    let scratch = scratch_dir("stuck-main");
    let record = scratch.join("record");
    let mut child = xtask_server(&scratch, &[])
        .env("FAKE_MODE", "chatty")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kept open and never read: the pipe fills up and xtask's next write blocks.
    let stderr = child.stderr.take().unwrap();
    let filled = common::wait_until(Duration::from_secs(20), || bytes_waiting(&stderr) >= 60_000);
    assert!(filled, "xtask never filled its stderr");
    let mut xtask = Xtask::owning(child, scratch);
    let text = std::fs::read_to_string(&record).unwrap();
    let (pid, storage) = text.trim_end().split_once(' ').unwrap();
    xtask.server_pid = pid.parse().unwrap();
    let (code, took) = interrupt_within(&mut xtask, libc::SIGTERM, Duration::from_secs(15));
    assert_eq!(code, 143);
    assert!(
        took >= Duration::from_secs(4),
        "exited after {took:?}: the main thread was not stuck, so this tested nothing"
    );
    assert!(is_gone(xtask.server_pid), "the server is gone");
    assert!(!Path::new(storage).parent().unwrap().exists());
    drop(stderr);
}

/// How many bytes wait unread in a pipe.
fn bytes_waiting(pipe: &impl AsRawFd) -> usize {
    let mut count: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid.
    unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut count) };
    usize::try_from(count).unwrap_or(0)
}

/// The signal tests again, 10 rounds with three threads keeping the CPU busy: a race
/// between the handler and the main thread shows up under load (it used to fail about one
/// run in ten).
#[test]
fn signals_under_load() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let result = std::panic::catch_unwind(|| {
        for round in 0..10 {
            check_signal(&format!("load-int-{round}"), libc::SIGINT, false, 130);
            check_signal(&format!("load-term-{round}"), libc::SIGTERM, true, 143);
            hup_with_stderr_gone(&format!("load-hup-{round}"));
        }
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
