//! What a piece of work is handed, as nextest's executor is handed its channels: a shell in
//! the project's folder, where its trace and its children's output go, and the token that
//! stops it. A task gets one for the terminal; `ci` and `lint` give each step one of its
//! own (its log, its token), and every function that runs a child or traces takes it, so
//! that following a step's parameter shows how its commands reach its log. No thread-local
//! or static carries any of it.

use std::fmt::Arguments;
use std::fs::File;
use std::io::Write;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use camino::Utf8Path;

use crate::base::console;
use crate::base::signals::{self, CancelToken};

/// A shell (it derefs to xshell's), where the trace goes, and the cancel token.
pub struct StepContext {
    sh: xshell::Shell,
    log: Option<Log>,
    cancel: CancelToken,
    /// The children's `TMPDIR`, if the run gives them one of its own.
    children_tmp: Option<PathBuf>,
}

/// What a step's context is made from, on the step's own thread (a shell stays on one).
#[derive(Debug, Clone)]
pub struct Seed {
    dir: PathBuf,
    children_tmp: Option<PathBuf>,
}

/// A step's log file, shared by its trace and its children.
#[derive(Clone)]
pub struct Log(Arc<Mutex<File>>);

impl Log {
    /// Appends to `path`, which is created if missing, with its folder: a run in a fresh
    /// target dir may log before any step made `target/xtask/logs/`.
    pub fn open(path: &Utf8Path) -> Result<Log> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the step log's folder {dir}"))?;
        }
        let file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot write the step log {path}"))?;
        Ok(Log(Arc::new(Mutex::new(file))))
    }

    /// A handle on the file for a child's stdout or stderr.
    pub fn file(&self) -> Option<File> {
        let file = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.try_clone().ok()
    }

    pub fn line(&self, args: Arguments<'_>) {
        let mut file = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = writeln!(file, "{args}");
    }
}

impl Deref for StepContext {
    type Target = xshell::Shell;
    fn deref(&self) -> &xshell::Shell {
        &self.sh
    }
}

impl StepContext {
    /// For a task run at the terminal: the trace on stderr, stopped by signals only.
    pub fn terminal(sh: xshell::Shell) -> StepContext {
        StepContext {
            sh,
            log: None,
            cancel: CancelToken::default(),
            children_tmp: None,
        }
    }

    /// For a step: a shell of its own in the seed's folder (a shell stays on one thread),
    /// its trace and its children's output into `log`, stopped by `cancel` or a signal.
    pub fn for_step(seed: &Seed, log: Log, cancel: CancelToken) -> Result<StepContext> {
        let sh = xshell::Shell::new().context("cannot make a shell for the step")?;
        sh.change_dir(&seed.dir);
        if let Some(tmp) = &seed.children_tmp {
            sh.set_var("TMPDIR", tmp);
        }
        Ok(StepContext {
            sh,
            log: Some(log),
            cancel,
            children_tmp: seed.children_tmp.clone(),
        })
    }

    /// What the contexts of this one's steps are made from.
    pub fn seed(&self) -> Seed {
        Seed {
            dir: self.current_dir(),
            children_tmp: self.children_tmp.clone(),
        }
    }

    /// This context, its children's `TMPDIR` being `dir` (a `process::ChildrenTemp`'s).
    pub fn with_children_temp(&self, dir: &Path) -> Result<StepContext> {
        let sh = xshell::Shell::new().context("cannot make a shell")?;
        sh.change_dir(self.current_dir());
        sh.set_var("TMPDIR", dir);
        Ok(StepContext {
            sh,
            log: self.log.clone(),
            cancel: self.cancel.clone(),
            children_tmp: Some(dir.to_owned()),
        })
    }

    /// A context like this one whose trace goes to the log at `path` (a task that keeps its
    /// commands out of the terminal: `pytest`, `watch`).
    pub fn logging_to(&self, path: &Utf8Path) -> Result<StepContext> {
        StepContext::for_step(&self.seed(), Log::open(path)?, self.cancel.clone())
    }

    /// A line of xtask's trace (`$ cmd`, "venv is up to date"): into the step's log, or on
    /// stderr at the terminal.
    pub fn trace(&self, args: Arguments<'_>) {
        match &self.log {
            Some(log) => log.line(args),
            None => console::stderr_line(args),
        }
    }

    /// Output of a child's, as it came, into the trace (a tool's output read from a file
    /// of its own, copied to the step's log for people).
    pub fn trace_bytes(&self, bytes: &[u8]) {
        match &self.log {
            Some(log) => {
                let mut file = log
                    .0
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let _ = file.write_all(bytes);
            }
            None => console::stderr_bytes(bytes),
        }
    }

    /// Where a child's output goes when it goes to the trace: the log, or `None` for the
    /// terminal.
    pub fn log(&self) -> Option<&Log> {
        self.log.as_ref()
    }

    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// `Err(Interrupted)` once a signal came, `Err(Cancelled)` once this work was stopped.
    pub fn check(&self) -> Result<()> {
        signals::check(&self.cancel)
    }

    /// Sleeps for `duration`, or less: a signal or a stop ends the sleep with its error.
    pub fn sleep(&self, duration: Duration) -> Result<()> {
        signals::sleep(&self.cancel, duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_in_a_folder_not_yet_made_is_opened() {
        let scratch = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(scratch.path()).unwrap();
        let path = root.join("logs/nested/discovery.log");
        let log = Log::open(&path).unwrap();
        log.line(format_args!("a line"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a line\n");
    }
}
