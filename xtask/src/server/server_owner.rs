//! What ties a test server to the xtask that started it, even when that xtask is killed
//! with SIGKILL and no destructor runs.
//!
//! - [`OwnerPipe`]: xtask keeps the write end of a pipe and the server inherits the read
//!   end (`--owner-fd`); when xtask is gone the kernel closes the write end and the server
//!   shuts down. It works on macOS as on Linux, unlike `PR_SET_PDEATHSIG`. (Written with
//!   libc: `std::io::pipe` needs Rust 1.87, above the workspace's MSRV.)
//! - [`mark_owner`] and [`remove_orphaned_stores`]: each temp store folder holds the pid of
//!   the xtask that made it, and every later start of a server removes the folders whose
//!   xtask is gone and whose store no server holds, as testcontainers' reaper does.

use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result};

use crate::base::context::StepContext;
use crate::traceln;

/// The name of the file, in each temp store folder, that holds its xtask's pid.
const OWNER_FILE: &str = "owner.pid";

/// Both ends of the pipe until the server is spawned; then only the write end.
pub struct OwnerPipe {
    /// Inherited by the server; closed here once it is spawned.
    read: Option<OwnedFd>,
    /// Held for the server's life: its closing is the server's signal to stop.
    _write: OwnedFd,
}

impl OwnerPipe {
    /// A pipe whose read end a child inherits (it is not close-on-exec) and whose write end
    /// no child does.
    pub fn new() -> Result<OwnerPipe> {
        let [read, write] =
            close_on_exec_pipe().context("cannot create the server's owner pipe")?;
        // SAFETY: fcntl on a descriptor owned here; clearing FD_CLOEXEC lets exec keep it.
        if unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETFD, 0) } == -1 {
            return Err(std::io::Error::last_os_error())
                .context("cannot let the server inherit its owner pipe");
        }
        Ok(OwnerPipe {
            read: Some(read),
            _write: write,
        })
    }

    /// The descriptor number the server is told to watch (`--owner-fd`).
    pub fn read_fd(&self) -> i32 {
        self.read.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Closes xtask's copy of the read end, once the server has its own.
    pub fn spawned(&mut self) {
        self.read = None;
    }
}

/// A pipe with both ends close-on-exec: at once with `pipe2` on Linux; on macOS, which has
/// no `pipe2`, a child spawned by another thread between `pipe` and `fcntl` may inherit the
/// write end (it then keeps the server alive until it exits too).
fn close_on_exec_pipe() -> std::io::Result<[OwnedFd; 2]> {
    let mut fds = [0; 2];
    #[cfg(target_os = "linux")]
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    #[cfg(not(target_os = "linux"))]
    // SAFETY: pipe writes two descriptors into the array it is given.
    let made = unsafe { libc::pipe(fds.as_mut_ptr()) };
    if made != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just made, and nothing else owns them.
    let ends = unsafe { [OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])] };
    #[cfg(not(target_os = "linux"))]
    for end in &ends {
        // SAFETY: fcntl on a descriptor owned here.
        if unsafe { libc::fcntl(end.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(ends)
}

/// Writes this xtask's pid into a temp store folder it made.
pub fn mark_owner(dir: &Path) -> Result<()> {
    let path = dir.join(OWNER_FILE);
    std::fs::write(&path, std::process::id().to_string())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Removes the temp store folders (`PREFIX-*` in the temp dir) of xtasks that are gone,
/// unless a server still holds their store. Best effort: a folder it cannot judge is left.
pub fn remove_orphaned_stores(sh: &StepContext, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let prefix = format!("{prefix}-");
    for entry in entries.flatten() {
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix));
        let dir = entry.path();
        if !is_ours || !is_orphaned(&dir) {
            continue;
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => traceln!(
                sh,
                "xtask: removed {}, the temp store of an xtask that is gone",
                dir.display()
            ),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => traceln!(sh, "xtask: cannot remove {}: {e}", dir.display()),
        }
    }
}

/// True when the folder's xtask is gone and no process holds a lock on its store.
fn is_orphaned(dir: &Path) -> bool {
    let Some(owner) = std::fs::read_to_string(dir.join(OWNER_FILE))
        .ok()
        .and_then(|text| text.trim().parse::<libc::pid_t>().ok())
    else {
        // No pid yet (an xtask between making the folder and writing it), or not ours.
        return false;
    };
    !process_exists(owner) && !store_in_use(&dir.join("store.bin"))
}

fn process_exists(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists; EPERM means it does.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Whether a server holds the store's `flock` (it takes one for its whole life).
fn store_in_use(store: &Path) -> bool {
    let Ok(file) = File::open(store) else {
        return false;
    };
    // SAFETY: flock on a descriptor owned here; the lock goes with the descriptor.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0;
    locked && std::io::Error::last_os_error().kind() == ErrorKind::WouldBlock
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::process::unique_name;

    /// A folder of a live xtask, one of a dead one, one whose store a process holds, and
    /// one without a pid: only the dead one's is removed.
    #[test]
    fn only_folders_of_gone_xtasks_with_free_stores_are_removed() {
        let prefix = unique_name("xtask-reaper-test");
        let make = |name: &str, owner: Option<u32>| {
            let dir = std::env::temp_dir().join(format!("{prefix}-{name}"));
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("store.bin"), b"").unwrap();
            if let Some(pid) = owner {
                std::fs::write(dir.join(OWNER_FILE), pid.to_string()).unwrap();
            }
            dir
        };
        // A pid that existed and is gone: a child that was reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        let live = make("live", Some(std::process::id()));
        let dead = make("dead", Some(gone));
        let held = make("held", Some(gone));
        let unmarked = make("unmarked", None);
        let lock = File::open(held.join("store.bin")).unwrap();
        // SAFETY: flock on a descriptor owned here.
        assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);

        remove_orphaned_stores(
            &StepContext::terminal(xshell::Shell::new().unwrap()),
            &prefix,
        );
        assert!(!dead.exists());
        for dir in [&live, &held, &unmarked] {
            assert!(dir.exists(), "{}", dir.display());
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
