//! What the integration tests of xtask share: scratch folders, and the Python they run
//! pytest with.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// A fresh folder under the temp dir, removed when dropped, also when the test fails.
pub struct Scratch(tempfile::TempDir);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.path().as_os_str()
    }
}

/// A fresh folder for one test, named after it for whoever looks in the temp dir.
pub fn scratch_dir(name: &str) -> Scratch {
    let dir = tempfile::Builder::new()
        .prefix(&format!("xtask-{name}-"))
        .tempdir()
        .expect("cannot create a scratch folder");
    Scratch(dir)
}

/// Polls `done` until it holds or `limit` passes; whether it held. For what a test can only
/// observe by looking again (a process gone, a file written by another process).
pub fn wait_until(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// xtask's folder in the checkout under test. nextest and cargo test name it at run time
/// (nextest remapped to this checkout when it runs an archive that another checkout built,
/// as `cargo xtask ci --from` does); `env!` names the checkout that compiled the test.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}

/// The xtask binary under test: nextest names it at run time (in the extracted archive
/// under `cargo xtask ci --from`), cargo only at compile time.
pub fn xtask_exe() -> PathBuf {
    std::env::var_os("NEXTEST_BIN_EXE_xtask")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_xtask").into())
}

pub fn bindings_dir() -> PathBuf {
    manifest_dir().join("../experiments/bindings/python-ws-client")
}

/// A Python that can import `modules` (comma-separated): the bindings' venv, or `python3`.
/// The tests that call this are left out of `cargo test` (`test = false` in xtask's
/// manifest): `cargo xtask ci` runs them once the venv is built. So a missing Python is a
/// failure, never a skip that could pass for a success.
pub fn python_with(modules: &str) -> PathBuf {
    first_python_with(modules)
        .unwrap_or_else(|| panic!("no Python can import {modules}; run `cargo xtask venv`"))
}

/// The first candidate Python that imports `modules`, found once per test binary: each
/// probe starts Python and imports pytest, which costs about a quarter of a second.
fn first_python_with(modules: &str) -> Option<PathBuf> {
    static FOUND: Mutex<BTreeMap<String, Option<PathBuf>>> = Mutex::new(BTreeMap::new());
    let mut found = FOUND
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let entry = found.entry(modules.to_owned()).or_insert_with(|| {
        let candidates: [PathBuf; 2] = [bindings_dir().join(".venv/bin/python"), "python3".into()];
        candidates.into_iter().find(|python| {
            Command::new(python)
                .args(["-c", &format!("import {modules}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    });
    entry.clone()
}

/// Whether `pid` no longer runs: it does not exist, or it is a zombie that its new parent
/// has yet to reap (which can take seconds on a loaded machine).
pub fn is_gone(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid, 0) == 0 };
    !exists || is_zombie(pid)
}

#[cfg(target_os = "linux")]
fn is_zombie(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // `PID (COMMAND) STATE ...`: the state follows the last `)`.
    stat.rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('Z'))
}

#[cfg(not(target_os = "linux"))]
fn is_zombie(pid: i32) -> bool {
    let output = std::process::Command::new("ps")
        .args(["-o", "stat=", "-p", &pid.to_string()])
        .output();
    output.is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout)
            .trim_start()
            .starts_with('Z')
    })
}

/// For a child in a process group of its own: a test killed mid-run (ci stops every running
/// step when another fails, and nextest kills the test) runs no `Drop`, so such a child
/// would outlive it, with whatever it started.
pub trait DiesWithTheTest {
    /// On Linux, the kernel sends the child SIGTERM, which xtask cleans up on, once the
    /// thread that started it is gone; elsewhere, nothing.
    fn dies_with_the_test(&mut self) -> &mut Self;
}

impl DiesWithTheTest for Command {
    #[cfg(target_os = "linux")]
    fn dies_with_the_test(&mut self) -> &mut Self {
        use std::os::unix::process::CommandExt;
        // SAFETY: getpid, prctl and getppid are async-signal-safe and touch no memory of
        // the parent's.
        let parent = unsafe { libc::getpid() };
        unsafe {
            self.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The test died before the request took effect.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the test is gone"));
                }
                Ok(())
            })
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn dies_with_the_test(&mut self) -> &mut Self {
        self
    }
}

/// The xtask under test, on the worktree of these tests. Its executable is the target
/// dir's, which another worktree that shares the target dir may have built last; given no
/// `CARGO_MANIFEST_DIR`, that one would work on its own worktree.
pub fn xtask() -> Command {
    let mut command = Command::new(xtask_exe());
    command.env("CARGO_MANIFEST_DIR", manifest_dir());
    command
}
