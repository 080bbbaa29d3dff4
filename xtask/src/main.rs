//! `cargo xtask`: the developer tasks of this workspace, in Rust, so that they run the same
//! on every machine. See `cargo xtask --help`.
//!
//! Which folder owns what; each layer uses the ones below it, never one above:
//! - `main.rs` parses the flags and dispatches; `flags.rs` declares every command and flag.
//! - `tasks/`: one module per subcommand (`server`, `extract`, `venv`, `pytest`, `ci`,
//!   `bench`, `workflow-lint`, `lint`, `watch`, `junit-merge`, `wheel`, `stress`, `flaky`); a module
//!   that one task alone uses lives in the task's folder (`ci/rust_tests.rs`, `ci/changed.rs`,
//!   `ci/lanes.rs`, `ci/coverage/` for `ci --coverage`, `bench/report.rs`,
//!   `watch/watcher.rs`). A task never imports another task.
//! - `engine/`: the run engine: `graph.rs` (a run as a table of steps, each started once
//!   what it needs has passed, side by side when independent, all stopped at the first
//!   failure; `ci` and `lint` are graphs), `steps.rs` (the face of a run: live display,
//!   a line per step, details on failure, step logs, summary), `routing.rs` (the one
//!   table of routes from a changed file to what it affects: `watch`'s rebuilds and tests,
//!   `ci --changed`'s steps), `history.rs` (each `ci` run's test
//!   outcomes, kept for `flaky`), `events.rs` (what steps tell: counts, a test's end, a
//!   compiler error), `junit.rs` (the one JUnit writer, from the tests' ends), `output.rs`
//!   (what one step makes for another, named in the table's rows).
//! - `adapters/`: what a tool says, read as it comes into xtask's values and events: cargo's
//!   JSON messages (`cargo_build.rs`), the compiler's rendered errors (`compiler.rs`),
//!   nextest's events (`nextest.rs`), the doctests' libtest output (`libtest.rs`), pytest's
//!   report log (`pytest_events.rs`), rustfmt/clippy/mypy findings (`findings.rs`), and the
//!   JUnit reports of several runs summed (`junit.rs`).
//! - `python/`: the interpreters of this machine (`interpreters.rs`: `--python`), the
//!   bindings' venvs, one per Python lane (`venv.rs`), the pytest runner
//!   (`pytest_runner.rs`), and the release wheel's build and checks (`wheel.rs`).
//! - `server/`: the server under test (`test_server.rs`: build, start, readiness line,
//!   log, stop, its `ws://HOST:PORT`) and the owner process that reaps it (`server_owner.rs`).
//! - `readme/`: the README compiler (Markdown read with pulldown-cmark, blocks planned into
//!   tests, the test file written around its Python runtime) and `extract.rs`, which
//!   brings a README's test file up to date.
//! - `tasks/ci/archive/`: `ci --archive` and `--from`: a run's build as one folder, its
//!   manifest and sha256s, and its parts handed to the test stages of another checkout.
//! - `checks/`: checks of the repository's own files that several tasks run (`.github/`).
//! - `base/`: what everything stands on: `process.rs` (the one way to run a child: process
//!   group, `$ cmd` echo, stop on drop, waits on a channel), `signals.rs` (SIGINT, SIGTERM and SIGHUP as events
//!   that end every wait; imports nothing of xtask's), `console.rs` (the one writer, which
//!   never panics on a closed stdout or stderr), `paths.rs`, `tools.rs`, `tail.rs` (a file
//!   read as it grows), `fingerprint.rs`.

mod adapters;
mod base;
mod checks;
mod engine;
mod flags;
mod python;
mod readme;
mod server;
mod tasks;

use std::process::ExitCode;

use clap::Parser;

use crate::base::context::StepContext;
use crate::base::process::ChildrenTemp;
use crate::base::{console, paths, process, signals};

/// The prefix of the run's children's temp folder in the system's temp dir.
const CHILDREN_TEMP: &str = "xtask-run";

fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    let result = try_main(flags);
    // A signal decides the exit code even when the error it caused is another one (a child
    // that the terminal's Ctrl-C also reached exits 130 by itself, say).
    let code = match (signals::received(), &result) {
        (Some(interrupted), _) => interrupted.exit_code(),
        (None, Ok(())) => 0,
        (None, Err(error)) => process::exit_code_of(error),
    };
    match (result, signals::received()) {
        // Shown already: under the step that failed, or as the server's stop.
        (Err(error), _) if error.downcast_ref::<process::Reported>().is_some() => {}
        // The signal is the cause, whatever error it made on its way (a server that the
        // terminal's Ctrl-C stopped first, say).
        (_, Some(interrupted)) => errln!("{} {interrupted}", console::error_mark()),
        (Err(error), None) => errln!("{} {error:#}", console::error_mark()),
        (Ok(()), None) => {}
    }
    ExitCode::from(code)
}

fn try_main(flags: flags::Xtask) -> anyhow::Result<()> {
    // Installed before anything is spawned, so that no child can outlive a signal.
    signals::install(process::stop_everything)?;
    // Only the shell moves: the process keeps the caller's directory, which `pytest` needs
    // to resolve the paths it is given.
    // The one shell, handed down: each step of `ci` and `lint` gets a context made from it.
    let sh = StepContext::terminal(paths::shell()?);
    // Every run, not only a server's start: a killed run's temp store goes at the next one.
    server::server_owner::remove_orphaned_stores(&sh, server::test_server::TEMP_PREFIX);
    // Dropped when the command returns, after a signal too: what the children left in
    // their temp dir goes with it (a run killed outright leaves it to the next run).
    let children_temp = ChildrenTemp::create(CHILDREN_TEMP)?;
    let sh = sh.with_children_temp(children_temp.path())?;
    match flags.command {
        flags::Command::Server(flags) => tasks::server::run(&sh, &flags),
        flags::Command::Extract(flags) => tasks::extract::run(&sh, &flags),
        flags::Command::Venv(flags) => tasks::venv::run(&sh, &flags),
        flags::Command::Pytest(flags) => tasks::pytest::run(&sh, &flags),
        flags::Command::Ci(flags) => tasks::ci::run(&sh, &flags),
        flags::Command::Bench(flags) => tasks::bench::run(&sh, &flags),
        flags::Command::WorkflowLint(flags) => tasks::workflow_lint::run(&sh, &flags),
        flags::Command::Lint(flags) => tasks::lint::run(&sh, &flags),
        flags::Command::Watch(flags) => tasks::watch::run(&sh, &flags),
        flags::Command::JunitMerge(flags) => tasks::junit_merge::run(&sh, &flags),
        flags::Command::Stress(flags) => tasks::stress::run(&sh, &flags),
        flags::Command::Flaky(flags) => tasks::flaky::run(&sh, &flags),
        flags::Command::Wheel(flags) => tasks::wheel::run(&sh, &flags),
    }
}
