//! `--owner-fd`: the server stops, cleanly, when the process that started it closes its end
//! of the pipe (as the kernel does when that process dies, even by SIGKILL).

mod common;

use common::run_failing;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A pipe whose write end no child inherits, and whose read end children do.
fn owner_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    #[cfg(target_os = "linux")]
    // SAFETY: pipe2 writes two descriptors into the array.
    let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    #[cfg(not(target_os = "linux"))]
    // SAFETY: pipe writes two descriptors into the array.
    let made = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(made, 0);
    // SAFETY: both were just made and are owned nowhere else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fcntl on descriptors owned here.
    unsafe {
        libc::fcntl(write.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(read.as_raw_fd(), libc::F_SETFD, 0);
    }
    (read, write)
}

#[test]
fn the_server_stops_when_its_owner_closes_the_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let (read, write) = owner_pipe();
    let fd = read.as_raw_fd().to_string();
    let mut child = common::spawn(
        &dir.path().join("s.bin"),
        &["--port", "0", "--owner-fd", &fd],
    );
    drop(read);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on"), "{line:?}");

    drop(write);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server still runs 10 s after its owner pipe closed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let log = common::stderr_of(&mut child);
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("--owner-fd closed"), "{log}");
    assert!(log.contains("store closed"), "{log}");
}

#[test]
fn an_owner_fd_that_is_no_pipe_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s.bin");
    for (fd, expected) in [
        ("1", "0, 1 and 2 are stdin, stdout and stderr"),
        ("987", "no such open file descriptor"),
    ] {
        let (status, stdout, stderr) = run_failing(&storage, &["--port", "0", "--owner-fd", fd]);
        assert!(!status.success());
        assert!(stdout.is_empty(), "{stdout}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!("error: --owner-fd {fd}: ")) && last.contains(expected),
            "{stderr}"
        );
    }
}

/// What the helper below prints: the pid of the server it started.
const SERVER_PID: &str = "server pid ";
/// Where the helper below makes its store: a folder of the test's, which a killed helper
/// could not remove.
const STORE_DIR: &str = "OWNER_TEST_STORE_DIR";

/// Issue 32: a server started through `common` by a test process that is then SIGKILLed
/// (as nextest kills a test that runs past its time or is stopped) stops too. The test
/// process is this binary, rerun for the helper below alone.
#[test]
fn a_server_stops_when_the_test_that_started_it_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut test = Command::new(std::env::current_exe().unwrap())
        .env(STORE_DIR, dir.path())
        .args([
            "--exact",
            "start_a_server_and_wait",
            "--ignored",
            "--nocapture",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("rerun this test binary");
    let pid = BufReader::new(test.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix(SERVER_PID)?.parse::<i32>().ok());
    test.kill().unwrap();
    test.wait().unwrap();
    let pid = pid.expect("the helper test printed its server's pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    while is_running(pid) {
        if Instant::now() > deadline {
            // SAFETY: kill(2); the pid is the orphaned server's, still running (checked).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("server {pid} still ran 10 s after the test that started it was killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Not a test of its own: the process that the test above kills. It starts a server and
/// waits until its stdin closes (so that it never outlives the test above either).
#[test]
#[ignore = "run by a_server_stops_when_the_test_that_started_it_is_killed"]
fn start_a_server_and_wait() {
    let own = tempfile::tempdir().unwrap();
    let dir = std::env::var_os(STORE_DIR).map_or(own.path().to_owned(), Into::into);
    let server = common::Server::start(&dir.join("s.bin"));
    println!("{SERVER_PID}{}", server.pid());
    let _ = std::io::stdin().read_to_string(&mut String::new());
}

/// Whether `pid` is a process that has not exited: not gone, and not a zombie that its
/// new parent has yet to reap.
fn is_running(pid: i32) -> bool {
    let ps = Command::new("ps")
        .args(["-o", "stat=", "-p", &pid.to_string()])
        .output()
        .expect("run ps");
    let state = String::from_utf8_lossy(&ps.stdout);
    ps.status.success() && !state.trim_start().starts_with('Z')
}
