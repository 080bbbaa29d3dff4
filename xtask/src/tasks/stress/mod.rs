//! `cargo xtask stress TEST`: runs one test many times, side by side, optionally beside busy
//! loops, and says how often it failed, with the first failure's output and the slowest
//! run: how a flaky test is found, and how a timing fix is proven.

mod once;
mod subject;
mod tally;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use camino::Utf8PathBuf;
use xshell::cmd;

use crate::base::context::StepContext;

use self::once::Subject;
use self::subject::Named;
use self::tally::Tally;
use crate::adapters::{cargo_build, nextest};
use crate::base::process::{self, Job, ProcessGroup, Reported, Sink};
use crate::base::{paths, signals};
use crate::python::venv;
use crate::readme::extract;
use crate::server::test_server::{self, Server};
use crate::{errln, flags};

pub fn run(sh: &StepContext, flags: &flags::Stress) -> Result<()> {
    ensure!(flags.count > 0, "--count must be at least 1");
    let subject = subject_of(sh, flags)?;
    let server_binary = match subject {
        Subject::Python { .. } => Some(test_server::binary_built_by_tests(sh)?),
        Subject::Rust { .. } => None,
    };
    let jobs = flags.jobs.unwrap_or_else(cpus).clamp(1, flags.count);
    let scratch = Scratch::new()?;
    errln!(
        "stress: {} runs of {}, {jobs} side by side, {} busy loops beside them",
        flags.count,
        subject.name(),
        flags.load
    );
    let _load = busy_loops(sh, flags.load)?;
    let started = Instant::now();
    let tally = Mutex::new(Tally::default());
    let workers = Workers {
        subject: &subject,
        server_binary: server_binary.as_ref(),
        ready_timeout: flags.ready_timeout,
        dir: &scratch.0,
        count: flags.count,
        next: AtomicU32::new(1),
        stop: AtomicBool::new(false),
        tally: &tally,
    };
    let result = workers.run(jobs);
    let tally = tally
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for line in tally.report() {
        errln!("{line}");
    }
    let counts = tally.counts();
    errln!("stress: {:.1} s in all", started.elapsed().as_secs_f64());
    result?;
    errln!("{}", counts.line("stress"));
    if counts.failed > 0 {
        return Err(Reported { code: 1 }.into());
    }
    Ok(())
}

/// The test TEST names, found and ready to run: a Rust test listed by nextest (exactly one
/// must match), or a pytest node id with the venv and the README tests up to date.
fn subject_of(sh: &StepContext, flags: &flags::Stress) -> Result<Subject> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let cwd = Utf8PathBuf::try_from(cwd).context("the current directory is not UTF-8")?;
    let (root, bindings) = (paths::project_root(), paths::bindings_dir());
    match subject::parse(&flags.test, &[&cwd, &root, &bindings])? {
        Named::Python { nodeid } => {
            venv::ensure(sh, None, false, venv::Profile::Dev)?;
            extract::ensure(sh)?;
            Ok(Subject::Python { nodeid })
        }
        Named::Rust { filter } => {
            let nextest = nextest::binary()?;
            // The tests that `--workspace` leaves out (`test = false`) are looked for next.
            let workspace = archived("WORKSPACE");
            let mut found = workspace.clone();
            let in_workspace = workspace.unwrap_or_else(|| vec!["--workspace".to_owned()]);
            let mut listed = list(sh, &nextest, &filter, &in_workspace)?;
            if listed.is_empty() {
                found = archived("VENV");
                let opt_in = match &found {
                    Some(archived) => archived.clone(),
                    None => cargo_build::opt_in_test_args(sh)?,
                };
                listed = list(sh, &nextest, &filter, &opt_in)?;
            }
            let id = subject::only_one(&flags.test, listed)?;
            // The archive's binaries run as they are; cargo's selection builds the one binary.
            let selection = found.unwrap_or_else(|| subject::cargo_selection(&id.binary_id));
            Ok(Subject::Rust {
                nextest,
                id,
                selection,
            })
        }
    }
}

/// Under `cargo xtask ci --from`, the archive's test binaries that ci hands its tests as
/// nextest's arguments, one a line (`XTASK_NEXTEST_WORKSPACE`, `XTASK_NEXTEST_VENV`):
/// listing `--workspace` there would compile them.
fn archived(name: &str) -> Option<Vec<String>> {
    let args = std::env::var(format!("XTASK_NEXTEST_{name}")).ok()?;
    Some(args.lines().map(str::to_owned).collect())
}

/// The tests of `selection` that `filter` selects, ignored ones included.
fn list(
    sh: &StepContext,
    nextest: &Utf8PathBuf,
    filter: &str,
    selection: &[String],
) -> Result<Vec<nextest::TestId>> {
    let json = Job::new(sh, cmd!(sh,
        "{nextest} nextest list --message-format=json --run-ignored=all {selection...} -E {filter}"
    ))
    .read()?;
    nextest::listed(&json)
}

fn cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// `count` busy loops (`yes`, its output dropped), each a child of xtask's, stopped when
/// the returned groups drop: after the runs, after a failure, after a signal.
fn busy_loops(sh: &StepContext, count: u32) -> Result<Vec<ProcessGroup>> {
    let mut groups = Vec::new();
    for _ in 0..count {
        let group = ProcessGroup::new("a busy loop");
        group.spawn(Job::new(sh, cmd!(sh, "yes")).stdout(Sink::Null))?;
        groups.push(group);
    }
    Ok(groups)
}

/// The folder of this stress run's events and logs, removed when it ends.
struct Scratch(Utf8PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let dir = paths::xtask_dir()?
            .join("stress")
            .join(process::unique_name("run"));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir}"))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the threads that run the test share: the next run to start, and the tally.
struct Workers<'a> {
    subject: &'a Subject,
    /// The server a Python test's worker starts for itself, so that runs side by side never
    /// share one.
    server_binary: Option<&'a Utf8PathBuf>,
    ready_timeout: u64,
    dir: &'a Utf8PathBuf,
    count: u32,
    next: AtomicU32,
    /// Set by the first error (not a failed test: a runner that could not run), so that
    /// the other workers start no more runs.
    stop: AtomicBool,
    tally: &'a Mutex<Tally>,
}

impl Workers<'_> {
    /// Runs `jobs` workers to the end; the first error, if any (a signal's first).
    fn run(&self, jobs: u32) -> Result<()> {
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..jobs).map(|_| scope.spawn(|| self.work())).collect();
            let joined = handles.into_iter().map(|handle| handle.join());
            joined
                .map(|result| result.unwrap_or_else(|_| Err(anyhow::anyhow!("a worker panicked"))))
                .collect()
        });
        if let Some(interrupted) = signals::received() {
            return Err(interrupted.into());
        }
        results.into_iter().collect()
    }

    /// One worker: takes the next run until none is left.
    fn work(&self) -> Result<()> {
        let result = self.work_until_done();
        if result.is_err() {
            self.stop.store(true, Ordering::SeqCst);
        }
        result
    }

    fn work_until_done(&self) -> Result<()> {
        let sh = StepContext::terminal(paths::shell()?);
        let server = self.server(&sh)?;
        loop {
            let number = self.next.fetch_add(1, Ordering::SeqCst);
            if number > self.count || self.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let run = self.subject.run(&sh, self.dir, number, server.as_ref())?;
            if !run.passed {
                errln!(
                    "run #{number}: failed in {:.2} s",
                    run.duration.as_secs_f64()
                );
            }
            let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
            tally.push(run);
            let done = tally.counts();
            if (done.passed + done.failed) % 10 == 0 {
                errln!(
                    "stress: {} of {} runs done, {} failed",
                    done.passed + done.failed,
                    self.count,
                    done.failed
                );
            }
        }
    }

    fn server(&self, sh: &StepContext) -> Result<Option<Server>> {
        let Some(binary) = self.server_binary else {
            return Ok(None);
        };
        let server = test_server::start_for_tests(sh, binary.clone(), 0, self.ready_timeout)?;
        Ok(Some(server))
    }
}
