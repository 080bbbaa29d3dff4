//! `cargo xtask`: the developer tasks of this workspace, in Rust, so that they run the same
//! on every machine. See `cargo xtask --help`.
//!
//! Which file owns what:
//! - `main.rs` parses the flags and dispatches; `flags.rs` declares every command and flag.
//! - `tasks/`: one module per subcommand (`server`, `extract`, `venv`, `pytest`, `ci`,
//!   `bench`, `workflow-lint`, `lint`, `watch`, `junit-merge`). A task uses the shared modules below and never
//!   another task.
//! - `test_server.rs`: the server under test: build, start, readiness line, log, stop, and
//!   its `ws://HOST:PORT` address.
//! - `pytest_runner.rs`: runs pytest against a server; `venv.rs`: the bindings' venv;
//!   `readme/`: the README compiler (Markdown read with pulldown-cmark, blocks planned into
//!   tests, the test file written around its Python runtime), which `extract.rs` brings up
//!   to date; `workflow_lint.rs`: the checks of `.github/`; `findings.rs`: what rustfmt,
//!   clippy and mypy found, as file:line findings, for `lint`;
//!   `bench_report.rs`: the figures of `bench`, paired, saved and tabled.
//! - `process.rs`: the one way to run a child (process group, `$ cmd` echo, stop on drop).
//! - `graph.rs`: a run as a table of steps, each started once what it needs has passed,
//!   side by side when independent, all stopped at the first failure; `ci` and `lint` are
//!   graphs.
//! - `signals.rs`: SIGINT, SIGTERM and SIGHUP as events that end every wait; imports
//!   nothing of xtask's.
//! - `steps.rs`: the face of a run (live display, a line per step, details on failure,
//!   step logs, summary); `cargo_build.rs` reads the test binaries from cargo's JSON
//!   messages, `nextest.rs` finds cargo-nextest and reads its events and JUnit (the Rust
//!   tests' runner and budgets), `rust_tests.rs` runs `ci`'s Rust tests and doctests,
//!   `libtest.rs` and `pytest_events.rs` read what the doctests
//!   and pytest report as they run; `compiler.rs` finds the compiler's errors in a build's
//!   output; `tail.rs` reads a file as it grows; `junit_merge.rs` sums the JUnit reports
//!   of several shards.
//! - `console.rs`: the one writer, which never panics on a closed stdout or stderr, and
//!   sends each thread's trace and its children's output to the log of the step it runs.
//! - `watcher.rs`: file changes from `notify`, without ignored paths, settled into batches;
//!   `routing.rs`: which rebuilds and tests a batch of changes calls for (`watch`).
//! - `coverage/`: `ci --coverage`: the LLVM tools, the instrumented run's environment, and
//!   the report that attributes each line to the Rust tests or the Python tests.
//! - `paths.rs`, `tools.rs`: where things live, and the outside tools xtask needs.

mod bench_report;
mod cargo_build;
mod compiler;
mod console;
mod coverage;
mod extract;
mod findings;
mod fingerprint;
mod flags;
mod graph;
mod junit_merge;
mod libtest;
mod nextest;
mod paths;
mod process;
mod pytest_events;
mod pytest_runner;
mod readme;
mod routing;
mod rust_tests;
mod server_owner;
mod signals;
mod steps;
mod tail;
mod tasks;
mod test_server;
mod tools;
mod venv;
mod watcher;
mod workflow_lint;

use std::process::ExitCode;

use clap::Parser;

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
    let sh = paths::shell()?;
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
    }
}
