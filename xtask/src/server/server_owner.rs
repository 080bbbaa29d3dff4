//! What ties a test server to the xtask that started it, even when that xtask is killed
//! with SIGKILL and no destructor runs.
//!
//! - [`OwnerPipe`]: xtask keeps the write end of a pipe and the server inherits the read
//!   end (`--owner-fd`); when xtask is gone the kernel closes the write end and the server
//!   shuts down. It works on macOS as on Linux, unlike `PR_SET_PDEATHSIG`. (Written with
//!   libc: `std::io::pipe` needs Rust 1.87, above the workspace's MSRV.)
//! - [`mark_owner`] and [`remove_orphaned_stores`]: each temp store folder holds the pid of
//!   the xtask that made it, and every later xtask run removes the folders whose xtask is
//!   gone and whose store no server holds, as testcontainers' reaper does.
//!
//! The temp dir is shared with every user of the machine, so the reaper trusts nothing it
//! finds there: it looks only at folders (not links to folders) of the current user, reads
//! only regular files, opened without following a link and without waiting on a FIFO, and
//! reads no more of `owner.pid` than a pid takes. A folder it cannot judge is left.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
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
        if !is_ours || !is_own_folder(&dir) || !is_orphaned(&dir) {
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

/// A folder itself (not a link to one) that belongs to the user running xtask.
fn is_own_folder(dir: &Path) -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    let me = unsafe { libc::geteuid() };
    std::fs::symlink_metadata(dir).is_ok_and(|meta| meta.is_dir() && meta.uid() == me)
}

/// True when the folder's xtask is gone and no process holds a lock on its store.
fn is_orphaned(dir: &Path) -> bool {
    let Some(owner) = open_regular(&dir.join(OWNER_FILE)).and_then(|file| {
        let mut text = String::new();
        // A pid is at most 10 digits; more is not a pid file of ours.
        file.take(32).read_to_string(&mut text).ok()?;
        text.trim().parse::<libc::pid_t>().ok()
    }) else {
        // No pid yet (an xtask between making the folder and writing it), or not ours.
        return false;
    };
    if process_exists(owner) {
        return false;
    }
    match open_regular(&dir.join("store.bin")) {
        Some(store) => !store_in_use(&store),
        // No store yet, or something that is not one: only a missing one is judged.
        None => std::fs::symlink_metadata(dir.join("store.bin"))
            .is_err_and(|e| e.kind() == ErrorKind::NotFound),
    }
}

/// The regular file at `path`, opened without following a link and without waiting (a
/// FIFO's open blocks until a writer comes); `None` for anything else.
fn open_regular(path: &Path) -> Option<File> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    file.metadata().ok()?.is_file().then_some(file)
}

fn process_exists(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists; EPERM means it does.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Whether a server holds the store's `flock` (it takes one for its whole life).
fn store_in_use(file: &File) -> bool {
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

    /// What another user could plant in the temp dir: a FIFO as the store (whose open
    /// blocked every xtask run), `owner.pid` as a link to `/dev/zero` (read without end),
    /// a link to a folder of theirs. The reaper returns at once and removes none of them.
    #[test]
    fn planted_fifos_and_links_neither_block_nor_mislead_the_reaper() {
        let prefix = unique_name("xtask-reaper-planted");
        let dir = |name: &str| std::env::temp_dir().join(format!("{prefix}-{name}"));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id().to_string();
        child.wait().unwrap();

        let fifo = dir("fifo");
        std::fs::create_dir(&fifo).unwrap();
        std::fs::write(fifo.join(OWNER_FILE), &gone).unwrap();
        let name =
            std::ffi::CString::new(fifo.join("store.bin").into_os_string().into_encoded_bytes())
                .unwrap();
        // SAFETY: mkfifo with a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let zero = dir("zero");
        std::fs::create_dir(&zero).unwrap();
        std::os::unix::fs::symlink("/dev/zero", zero.join(OWNER_FILE)).unwrap();
        let theirs = tempfile::tempdir().unwrap();
        std::fs::write(theirs.path().join(OWNER_FILE), &gone).unwrap();
        std::fs::write(theirs.path().join("keep.txt"), b"keep").unwrap();
        let link = dir("link");
        std::os::unix::fs::symlink(theirs.path(), &link).unwrap();

        let (done, finished) = std::sync::mpsc::channel();
        let reaping = prefix.clone();
        std::thread::spawn(move || {
            let sh = StepContext::terminal(xshell::Shell::new().unwrap());
            remove_orphaned_stores(&sh, &reaping);
            let _ = done.send(());
        });
        let returned = finished.recv_timeout(std::time::Duration::from_secs(30));
        if returned.is_err() {
            // Unblock the reaper stuck in open(), so the test process can end.
            let _ = std::fs::File::options()
                .write(true)
                .open(fifo.join("store.bin"));
        }
        assert!(returned.is_ok(), "the reaper blocked on what was planted");
        assert!(fifo.exists() && zero.exists() && link.exists());
        assert!(theirs.path().join("keep.txt").exists());
        for planted in [&fifo, &zero] {
            std::fs::remove_dir_all(planted).unwrap();
        }
        std::fs::remove_file(&link).unwrap();
    }
}
