//! `--owner-fd`: the server stops, cleanly, when the process that started it closes its end
//! of the pipe (as the kernel does when that process dies, even by SIGKILL).

mod common;

use common::run_failing;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
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
