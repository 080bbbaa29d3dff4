//! A step that runs while another does: `ci` installs the venv's dependencies (network and
//! disk) while `cargo test` compiles (CPU). The child is owned like every other (its own
//! process group, stopped and reaped when dropped, on an error or a signal too), writes to
//! a log of its own so that the two outputs never mix, and is watched by the foreground,
//! so that its failure stops the run at once instead of after the foreground step.

use std::fs::File;
use std::process::ExitStatus;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::process::{self, Failed, Job, ProcessGroup, Sink};
use crate::{paths, tail};

/// Lines of the log shown when it fails.
const LOG_TAIL: usize = 20;

pub struct Background {
    name: &'static str,
    group: ProcessGroup,
    log: Utf8PathBuf,
}

impl Background {
    /// Starts `job`, its stdout and stderr going to `log`.
    pub fn start(name: &'static str, job: Job, log: &Utf8Path) -> Result<Background> {
        let file = File::create(log).with_context(|| format!("cannot create {log}"))?;
        let copy = file
            .try_clone()
            .with_context(|| format!("cannot open {log}"))?;
        let job = job
            .stdout(Sink::File(copy))
            .stderr(Sink::File(file))
            .note(format!(
                "in the background, output in {}",
                paths::display_path(log)
            ));
        let group = ProcessGroup::new("a background step");
        group.spawn(job)?;
        Ok(Background {
            name,
            group,
            log: log.to_owned(),
        })
    }

    /// An error once the child has failed, for the foreground to stop at; `Ok` while it
    /// runs or after it succeeded.
    pub fn check(&self) -> Result<()> {
        match self.group.try_status() {
            Some(status) if !status.success() => Err(self.failure(status)),
            _ => Ok(()),
        }
    }

    /// Whether the child has exited, successfully.
    pub fn succeeded(&self) -> bool {
        self.group
            .try_status()
            .is_some_and(|status| status.success())
    }

    /// Where its output goes.
    pub fn log(&self) -> &Utf8Path {
        &self.log
    }

    /// Waits for the child; its failure, with the end of its log.
    pub fn finish(self) -> Result<()> {
        let status = self.group.wait()?;
        if status.success() {
            return Ok(());
        }
        Err(self.failure(status))
    }

    /// Waits for the child; its failure, in one line, for a caller that shows the log.
    pub fn wait(self) -> Result<()> {
        let status = self.group.wait()?;
        if status.success() {
            return Ok(());
        }
        let message = format!("{} failed: {}", self.name, process::describe(status));
        let code = process::shell_code(status);
        Err(Failed { code, message }.into())
    }

    fn failure(&self, status: ExitStatus) -> anyhow::Error {
        Failed {
            code: process::shell_code(status),
            message: format!(
                "{} (in the background) failed: {}\n{}",
                self.name,
                process::describe(status),
                tail::last_lines(&self.log, LOG_TAIL)
            ),
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};
    use xshell::{Shell, cmd};

    fn log_path(name: &str) -> Utf8PathBuf {
        let path = std::env::temp_dir().join(process::unique_name(name));
        Utf8PathBuf::try_from(path).unwrap()
    }

    /// Whether a process with this pid exists (a zombie counts: it was not reaped).
    fn exists(pid: u32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }

    #[test]
    fn a_failure_is_seen_while_the_foreground_runs_and_shows_its_log() {
        let sh = Shell::new().unwrap();
        let log = log_path("bg-fail.log");
        let job = Job::new(cmd!(
            sh,
            "sh -c 'echo installing; echo no such package >&2; exit 3'"
        ));
        let background = Background::start("deps", job, &log).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let error = loop {
            if let Err(error) = background.check() {
                break error;
            }
            assert!(Instant::now() < deadline, "the failure was never seen");
            std::thread::sleep(Duration::from_millis(10));
        };
        let message = format!("{error:#}");
        assert!(
            message.contains("deps (in the background) failed: exit code 3"),
            "{message}"
        );
        assert!(message.contains("installing\nno such package"), "{message}");
        assert_eq!(process::exit_code_of(&error), 3);
        assert!(background.finish().is_err());
        std::fs::remove_file(&log).unwrap();
    }

    #[test]
    fn success_is_ok_and_dropping_stops_and_reaps_the_child() {
        let sh = Shell::new().unwrap();
        let log = log_path("bg-ok.log");
        let done = Background::start("quick", Job::new(cmd!(sh, "true")), &log).unwrap();
        done.finish().unwrap();
        let slow = Background::start("slow", Job::new(cmd!(sh, "sleep 30")), &log).unwrap();
        slow.check().unwrap();
        let pid = slow.group.pid().unwrap();
        assert!(exists(pid));
        let started = Instant::now();
        drop(slow);
        assert!(!exists(pid), "the child outlived its owner");
        assert!(started.elapsed() < Duration::from_secs(5));
        std::fs::remove_file(&log).unwrap();
    }
}
