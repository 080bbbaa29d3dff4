//! The temp folder of one xtask run, `target/xtask/tmp/<pid>/`, given to every child as
//! `TMPDIR`: what the tests and tools a run starts leave in their temp dir (a test binary or
//! a Python that a stop killed runs no cleanup) goes there, not into the system's `/tmp`.
//! The run removes its folder when it ends, also after a signal (the guard drops as the
//! error unwinds); a run that was killed outright leaves it to the next run, which removes
//! the folders of runs that are gone.

use std::sync::OnceLock;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::errln;

/// The folder of this run, once [`create`] made it.
static DIR: OnceLock<Utf8PathBuf> = OnceLock::new();

/// Removes the run's folder when dropped.
pub struct RunTemp {
    dir: Utf8PathBuf,
}

impl Drop for RunTemp {
    fn drop(&mut self) {
        remove(&self.dir);
    }
}

/// Makes this run's folder under `parent` (removing those of runs that are gone first), and
/// names it to every child started after.
pub fn create(parent: &Utf8Path) -> Result<RunTemp> {
    let run = make(parent)?;
    let _ = DIR.set(run.dir.clone());
    Ok(run)
}

/// Makes the folder without naming it to children: what a unit test may call.
fn make(parent: &Utf8Path) -> Result<RunTemp> {
    remove_gone_runs(parent);
    let dir = parent.join(std::process::id().to_string());
    // A folder of this pid is a dead run's whose pid came round again.
    remove(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir}"))?;
    Ok(RunTemp { dir })
}

/// The run's temp folder, for a child's `TMPDIR`; none before [`create`] (unit tests).
pub fn dir() -> Option<&'static Utf8Path> {
    DIR.get().map(Utf8PathBuf::as_path)
}

/// Removes the folders under `parent` named after a process that no longer runs.
fn remove_gone_runs(parent: &Utf8Path) {
    let Ok(entries) = parent.read_dir_utf8() else {
        return;
    };
    for entry in entries.flatten() {
        let pid = entry.file_name().parse::<libc::pid_t>().ok();
        if pid.is_some_and(|pid| pid > 0 && !runs(pid)) {
            remove(entry.path());
        }
    }
}

fn runs(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists; EPERM means it does.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn remove(dir: &Utf8Path) {
    match std::fs::remove_dir_all(dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            errln!("xtask: cannot remove {dir}: {error}");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths;

    #[test]
    fn a_gone_runs_folder_is_removed_and_a_live_ones_kept() {
        let (_guard, parent) = paths::test_dir();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let gone_dir = parent.join(gone.id().to_string());
        let live_dir = parent.join(std::os::unix::process::parent_id().to_string());
        let other = parent.join("not-a-run");
        for dir in [&gone_dir, &live_dir, &other] {
            std::fs::create_dir_all(dir.join("left/behind")).unwrap();
        }
        let run = make(&parent).unwrap();
        let ours = parent.join(std::process::id().to_string());
        assert!(ours.is_dir());
        assert!(!gone_dir.exists(), "a gone run's folder is kept");
        assert!(live_dir.exists() && other.exists());
        std::fs::write(ours.join("file"), "").unwrap();
        drop(run);
        assert!(!ours.exists(), "the run's folder outlives it");
    }
}
