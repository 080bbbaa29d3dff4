//! `--owner-fd`: the server stops when the process that started it is gone.
//!
//! The owner (xtask, a test harness) makes a pipe, keeps its write end and lets the server
//! inherit the read end. Nothing is ever written: when the owner exits, however it ends
//! (SIGKILL included), the kernel closes the write end and the server reads end of file.
//! This works the same on Linux and macOS, unlike Linux's `PR_SET_PDEATHSIG`, and needs no
//! polling of the parent's pid.

use anyhow::{Context, bail};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

/// The read end of the owner's pipe.
pub struct OwnerPipe(pipe::Receiver);

impl OwnerPipe {
    /// Takes the inherited descriptor `fd`, which must be the read end of a pipe. Call it
    /// inside the tokio runtime.
    pub fn adopt(fd: RawFd) -> anyhow::Result<OwnerPipe> {
        let wrong = |why: &str| {
            format!(
                "--owner-fd {fd}: {why}; give the read end of a pipe that the starting process keeps open"
            )
        };
        if fd <= 2 {
            bail!(wrong("0, 1 and 2 are stdin, stdout and stderr"));
        }
        // SAFETY: F_GETFD only reads the descriptor's flags; it fails if `fd` is not open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            bail!(wrong("no such open file descriptor"));
        }
        // SAFETY: `fd` is open (checked above) and nothing else in this process uses it:
        // it was inherited for this purpose, and only this call takes it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let receiver = pipe::Receiver::from_owned_fd(owned).with_context(|| wrong("not a pipe"))?;
        Ok(OwnerPipe(receiver))
    }

    /// Resolves once the owner has closed its end (or the pipe fails).
    pub async fn closed(mut self) {
        let mut buf = [0u8; 64];
        // Whatever an owner writes is ignored; only the end of the pipe counts.
        while let Ok(n) = self.0.read(&mut buf).await {
            if n == 0 {
                return;
            }
        }
    }
}
