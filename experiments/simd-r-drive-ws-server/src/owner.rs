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
        // Checked before the descriptor is taken: one that is not the read end of a pipe is
        // not ours to close, so an error leaves it open.
        // SAFETY: fstat writes into the struct it is given; it fails if `fd` is not open.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut stat) } == -1 {
            bail!(wrong("no such open file descriptor"));
        }
        if stat.st_mode & libc::S_IFMT != libc::S_IFIFO {
            bail!(wrong("it is not a pipe"));
        }
        // SAFETY: F_GETFL only reads the descriptor's status flags.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags == -1 || flags & libc::O_ACCMODE == libc::O_WRONLY {
            bail!(wrong(
                "it is not open for reading (the write end of the pipe?)"
            ));
        }
        // SAFETY: `fd` is open and the read end of a pipe (checked above), and nothing else
        // in this process uses it: it was inherited for this purpose, and only this call
        // takes it.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// Issue 31 item 9: a descriptor that is not a pipe is refused, and left open.
    #[tokio::test]
    async fn a_descriptor_that_is_not_a_pipe_is_refused_and_left_open() {
        let file = tempfile::tempfile().unwrap();
        let fd = file.as_raw_fd();
        let err = OwnerPipe::adopt(fd).err().expect("refused").to_string();
        assert!(err.contains("not a pipe"), "{err}");
        // SAFETY: F_GETFD only reads the flags of a descriptor this test owns.
        assert_ne!(unsafe { libc::fcntl(fd, libc::F_GETFD) }, -1, "still open");
        drop(file);
    }
}
