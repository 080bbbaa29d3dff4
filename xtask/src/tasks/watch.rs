//! `cargo xtask watch`: the edit-and-test loop as one command. Each batch of changes is
//! routed to its rebuilds (the bindings, the README tests, the server), then its tests run
//! against one server that stays up between runs: the changed test files first, then the
//! rest of the suite, last failures first. Each run ends with a `watch:` line.

mod watcher;

use std::collections::BTreeSet;
use std::fmt;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::adapters::compiler;
use crate::adapters::pytest_events::{self, PytestRun};
use crate::base::console::{self, Colour};
use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::signals;
use crate::base::tail::Tail;
use crate::engine::routing::{self, Plan, Rebuild, Scope};
use crate::errln;
use crate::flags::{self, Suite};
use crate::python::pytest_runner::{self, Report, Target};
use crate::python::venv;
use crate::readme::extract;
use crate::server::test_server::{self, Server};
use watcher::Watcher;

/// Most lines of pytest's failure section shown after a run.
const FAILURE_LINES: usize = 60;
/// Most lines of a compiler's errors shown after a failed build.
const COMPILE_ERROR_LINES: usize = 30;
/// How often the status line is redrawn at most.
const STATUS_EVERY: Duration = Duration::from_millis(100);

pub fn run(sh: &StepContext, flags: &flags::Watch) -> Result<()> {
    let xtask_dir = paths::xtask_dir()?;
    let log = paths::fresh_file(&xtask_dir.join("logs/watch/watch.log"))?;
    // Builds, pytest's own report, the `$ cmd` echoes: all into the log; what each run
    // shows is read back from it.
    let logged = sh.logging_to(&log)?;
    let sh = &logged;
    // Watching starts before the first run, so that no change made during it is missed.
    let mut watcher = Watcher::new(sh, &paths::project_root())?;
    let user_tests = pytest_runner::user_args(&flags.tests, &[])?;
    let user_args = pytest_runner::user_args(&[], &flags.pytest_args)?;
    let mut session = Session {
        sh,
        flags,
        server: None,
        port: flags.port,
        log,
        events: xtask_dir.join("watch/events.jsonl"),
        terminal: std::io::stderr().is_terminal(),
        failing: BTreeSet::new(),
        user_tests,
        user_args,
    };
    errln!(
        "watch: watching the workspace; suite {}{}; log: {}",
        flags.suite.name(),
        if flags.restart { ", --restart" } else { "" },
        paths::display_path(&session.log)
    );
    let mut plan = first_plan(flags.suite);
    loop {
        if plan.is_empty() {
            plan = routing::route(&watcher.next_batch(sh)?);
            continue;
        }
        plan = session.batch(plan, &mut watcher)?;
    }
}

/// At start: everything up to date, then the whole suite.
fn first_plan(suite: Suite) -> Plan {
    let mut plan = Plan {
        scope: Scope::Suite,
        ..Plan::default()
    };
    plan.rebuild
        .extend([Rebuild::Bindings, Rebuild::ReadmeTests]);
    if suite != Suite::Unit {
        plan.rebuild.insert(Rebuild::Server);
    }
    plan
}

/// Returned by a run's tick to stop pytest when a change comes under `--restart`.
#[derive(Debug)]
struct Restart;

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a file changed: starting over")
    }
}

impl std::error::Error for Restart {}

/// One pytest run of a batch.
enum Run {
    /// The changed test files, on their own.
    Files(Vec<Utf8PathBuf>),
    /// The chosen tests but the files run already, last failures first.
    Rest {
        skip: Vec<Utf8PathBuf>,
        scope: Scope,
    },
}

struct Session<'a> {
    sh: &'a StepContext,
    flags: &'a flags::Watch,
    /// The warm server; `None` before it first starts, and after it died or failed.
    server: Option<Server>,
    /// The server's port: `--port`, then the one it got first, kept across restarts.
    port: u16,
    log: Utf8PathBuf,
    /// pytest's report log of the current run.
    events: Utf8PathBuf,
    /// On a terminal, the screen is cleared at each batch and a status line drawn.
    terminal: bool,
    /// The node ids of the tests that failed and have not passed since: a later run that
    /// leaves them out (the rest of the suite after a changed file's own run) must not end
    /// the screen with a green line.
    failing: BTreeSet<String>,
    /// The tests the user named, which the rest of the suite is narrowed to, and the
    /// arguments for pytest; their paths made absolute.
    user_tests: Vec<String>,
    user_args: Vec<String>,
}

impl Session<'_> {
    /// Does what `plan` asks; returns the plan of what changed meanwhile (empty if
    /// nothing), which runs next.
    fn batch(&mut self, plan: Plan, watcher: &mut Watcher) -> Result<Plan> {
        let started = Instant::now();
        // The first batch keeps the line that says what is watched.
        if self.terminal && !plan.changed.is_empty() {
            console::stderr_bytes(b"\x1b[2J\x1b[3J\x1b[H");
        }
        let what = match plan.changed.is_empty() {
            true => "start".to_owned(),
            false => plan.what_changed(),
        };
        self.forget_a_dead_server();
        let mut todo = plan.clone();
        for &rebuild in &plan.rebuild {
            let offset = self.log_length();
            let status = StatusLine::new(self.terminal, &what);
            status.working(rebuild.doing());
            let result = self.rebuild(rebuild);
            status.clear();
            if let Err(error) = result {
                self.show_failed_step(rebuild, offset, error, started, &what)?;
                return Ok(routing::route(&watcher.pending_settled(self.sh)?));
            }
            todo.rebuild.remove(&rebuild);
        }
        if self.needs_server(plan.scope) && self.server.is_none() {
            let offset = self.log_length();
            if let Err(error) = self.rebuild(Rebuild::Server) {
                self.show_failed_step(Rebuild::Server, offset, error, started, &what)?;
                return Ok(routing::route(&watcher.pending_settled(self.sh)?));
            }
        }
        let mut pending = Plan::default();
        for run in runs(&plan, self.flags.suite) {
            let result = self.pytest(&run, watcher, &mut pending, started, &what);
            match result {
                Ok(()) => {}
                Err(error) if error.is::<Restart>() => {
                    errln!("watch: restarting ({} changed)", pending.what_changed());
                    todo.merge(pending);
                    return Ok(todo);
                }
                Err(error) => return Err(error),
            }
            if let Run::Files(_) = run {
                todo.test_files.clear();
            }
        }
        pending.merge(routing::route(&watcher.pending_settled(self.sh)?));
        Ok(pending)
    }

    /// A server that died while the watcher waited: reported with its last log lines, and
    /// dropped (which removes its store), so that this batch starts another.
    fn forget_a_dead_server(&mut self) {
        self.drop_dead_server("starting the server again");
    }

    /// Whether the server died: if so, its error is shown, then `then`, and it is dropped.
    fn drop_dead_server(&mut self, then: &str) -> bool {
        let died = self.server.as_ref().and_then(|s| s.check_alive().err());
        if let Some(died) = &died {
            errln!("{} {died:#}", console::error_mark());
            errln!("watch: {then}");
            self.server = None;
        }
        died.is_some()
    }

    /// Where the log ends now: what a step writes after comes from byte this on.
    fn log_length(&self) -> u64 {
        std::fs::metadata(&self.log).map_or(0, |m| m.len())
    }

    fn needs_server(&self, scope: Scope) -> bool {
        self.flags.suite != Suite::Unit && scope != Scope::Nothing
    }

    fn rebuild(&mut self, rebuild: Rebuild) -> Result<()> {
        match rebuild {
            Rebuild::Bindings => venv::ensure(self.sh, None, false, venv::Profile::Dev),
            Rebuild::ReadmeTests => extract::ensure(self.sh),
            Rebuild::Server if self.flags.suite == Suite::Unit => Ok(()),
            Rebuild::Server => self.restart_server(),
        }
    }

    /// Builds the server, stops the old one if any, and starts the new one on the same
    /// port with a fresh store.
    fn restart_server(&mut self) -> Result<()> {
        let binary = test_server::build(self.sh, false)?;
        if let Some(old) = self.server.take() {
            old.stop();
        }
        let server =
            test_server::start_for_tests(self.sh, binary, self.port, self.flags.ready_timeout)?;
        self.port = server.address.port;
        errln!(
            "server: {} ready in {} ms (store {}, log {})",
            server.address,
            server.ready_after.as_millis(),
            server.storage,
            paths::display_path(&server.log)
        );
        self.server = Some(server);
        Ok(())
    }

    /// A failed rebuild: what the compiler or the extractor said, then the `watch:` line.
    /// A signal is not a failure: it ends the session.
    fn show_failed_step(
        &self,
        rebuild: Rebuild,
        offset: u64,
        error: anyhow::Error,
        started: Instant,
        what: &str,
    ) -> Result<()> {
        if signals::is_stop(&error) {
            return Err(error);
        }
        let output = read_from(&self.log, offset);
        let errors = compiler::errors(&output, COMPILE_ERROR_LINES);
        if let (Some(errors), false) = (errors, rebuild == Rebuild::ReadmeTests) {
            // rustc names files from the workspace it built: the bindings' is another.
            let workspace = match rebuild {
                Rebuild::Bindings => paths::bindings_dir(),
                _ => paths::project_root(),
            };
            let root = paths::project_root();
            errln!("{}", compiler::named_from_root(&errors, &workspace, &root));
            // The compiler said it all: only the first line of the error chain follows.
            errln!("{} {error}", console::error_mark());
        } else {
            errln!("{} {error:#}", console::error_mark());
        }
        let step = match rebuild {
            Rebuild::Bindings => "the bindings do not build",
            Rebuild::ReadmeTests => "the README's tests cannot be extracted",
            Rebuild::Server => "the server does not build or start",
        };
        errln!(
            "{} {step} ({:.1} s, {what}); waiting for the next change",
            console::paint("watch:", Colour::Red),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Runs pytest once, following its report log for the status line, and collecting
    /// the changes that come meanwhile into `pending` (stopping at the first under
    /// `--restart`); ends with the `watch:` line.
    fn pytest(
        &mut self,
        run: &Run,
        watcher: &mut Watcher,
        pending: &mut Plan,
        started: Instant,
        what: &str,
    ) -> Result<()> {
        let args = self.pytest_args(run);
        // The last run's report log would be read, in part, before pytest replaces it: its
        // events counted again, and this run's first ones skipped.
        paths::fresh_file(&self.events)?;
        let offset = self.log_length();
        let label = match run {
            Run::Files(_) => format!("{what}: its tests"),
            Run::Rest { .. } => what.to_owned(),
        };
        let (result, tests) = self.follow(run, &args, &label, watcher, pending);
        let output = read_from(&self.log, offset);
        match &result {
            Err(error) if error.is::<Restart>() || signals::is_stop(error) => {
                errln!(
                    "watch: stopped after {} passed, {} failed ({label})",
                    tests.counts.passed,
                    tests.counts.failed
                );
                return result;
            }
            Err(error) if pytest_runner::no_tests_collected(error) => {}
            Err(error) => self.show_failures(error, &tests, &output),
            Ok(()) => {}
        }
        self.tell_end(run, &tests, &result, started, &label);
        Ok(())
    }

    /// pytest on `args`, its report log followed for the status line, and the changes that
    /// come meanwhile collected into `pending`: under `--restart`, the first stops pytest
    /// (a [`Restart`] error). Returns pytest's result and the tests as the log told them.
    fn follow(
        &self,
        run: &Run,
        args: &[String],
        label: &str,
        watcher: &mut Watcher,
        pending: &mut Plan,
    ) -> (Result<()>, PytestRun) {
        let target = match (&self.server, run_scope(run)) {
            (Some(server), scope) if self.needs_server(scope) => Target::Guarded(server),
            _ => Target::Nothing,
        };
        let (sh, restart) = (self.sh, self.flags.restart);
        let status = StatusLine::new(self.terminal, label);
        let mut events = Tail::new(&self.events);
        let mut tests = PytestRun::default();
        // pytest writes to the log, not the terminal, which its excerpts are shown on.
        let columns = self.terminal.then(terminal_columns).flatten();
        let env: Vec<(&str, String)> = columns
            .map(|c| ("COLUMNS", c.to_string()))
            .into_iter()
            .collect();
        let result = pytest_runner::run(sh, target, args, &env, Report::WithTheTrace, || {
            tests.feed(&events.read_new());
            status.show(&tests);
            let changed = watcher.pending(sh)?;
            if !changed.is_empty() {
                pending.merge(routing::route(&changed));
            }
            if restart && !pending.is_empty() {
                return Err(Restart.into());
            }
            Ok(())
        });
        tests.feed(&events.read_new());
        status.clear();
        (result, tests)
    }

    /// The `watch:` line of a run that ended: its counts, green only when it passed and no
    /// test that failed earlier is left failing (a run that leaves it out proves nothing of
    /// it), then which still fail.
    fn tell_end(
        &mut self,
        run: &Run,
        tests: &PytestRun,
        result: &Result<()>,
        started: Instant,
        label: &str,
    ) {
        let counts = tests.counts;
        let passed = match result {
            Ok(()) => true,
            Err(error) => pytest_runner::no_tests_collected(error),
        };
        self.remember_failures(run, tests);
        let still_failing = still_failing(&self.failing, &tests.failed);
        let colour = match passed && still_failing.is_none() {
            true => Colour::Green,
            false => Colour::Red,
        };
        errln!(
            "{} {} passed, {} failed, {} skipped in {:.2} s ({label})",
            console::paint("watch:", colour),
            counts.passed,
            counts.failed,
            counts.skipped,
            started.elapsed().as_secs_f64()
        );
        if let Some(still_failing) = still_failing {
            errln!("{} {still_failing}", console::paint("watch:", Colour::Red));
        }
    }

    /// Adds the tests that failed in `run` to those still failing, and takes out those it
    /// ran again and passed: a finished test, every test of a file that ran whole, and the
    /// tests of a file that is gone.
    fn remember_failures(&mut self, run: &Run, tests: &PytestRun) {
        let whole_files: &[Utf8PathBuf] = match run {
            Run::Files(files) => files,
            Run::Rest { .. } => &[],
        };
        let bindings = paths::bindings_dir();
        self.failing.retain(|id| {
            let file = id.split("::").next().unwrap_or(id);
            let ran_again = tests
                .finished
                .iter()
                .any(|test| test.nodeid == *id || test.nodeid.starts_with(&format!("{id}::")));
            bindings.join(file).is_file()
                && !ran_again
                && !whole_files.iter().any(|whole| whole == file)
        });
        self.failing.extend(tests.failed.iter().cloned());
    }

    /// pytest's failure section, the README lines of failed README blocks, a rerun line
    /// per failed test; a server that died is reported and started again on the next
    /// change.
    fn show_failures(&mut self, error: &anyhow::Error, tests: &PytestRun, output: &str) {
        match pytest_events::failure_excerpt(output, FAILURE_LINES) {
            Some(excerpt) => errln!("{excerpt}"),
            None => errln!("{}", last_lines(output, 15)),
        }
        for failure in &tests.readme_failures {
            errln!("{failure}");
        }
        let failed = tests.failed.join("\n");
        for line in pytest_runner::rerun_lines(&failed, self.flags.suite, None) {
            errln!("{line}");
        }
        let died = self.drop_dead_server("the server will start again on the next change");
        if !died && tests.counts.failed == 0 {
            errln!("{} {error:#}", console::error_mark());
        }
    }

    fn pytest_args(&self, run: &Run) -> Vec<String> {
        let suite = self.flags.suite.marker_expression();
        let marker = match run_scope(run) {
            Scope::NeedingAServer => format!("({suite}) and not unit"),
            _ => suite.to_owned(),
        };
        let events = &self.events;
        let mut args = vec!["-m".to_owned(), marker, format!("--report-log={events}")];
        args.extend(pytest_runner::benchmark_args(&self.flags.pytest_args));
        match run {
            Run::Files(files) => args.extend(files.iter().map(ToString::to_string)),
            Run::Rest { skip, .. } => {
                args.push("--ff".to_owned());
                args.extend(self.user_tests.iter().cloned());
                args.extend(skip.iter().map(|file| format!("--ignore={file}")));
            }
        }
        args.extend(self.user_args.iter().cloned());
        args
    }
}

/// Most still-failing tests named on the line that lists them.
const STILL_FAILING_NAMED: usize = 3;

/// "2 failed tests have not passed since: tests/test_a.py::test_x, ...", when some of
/// `failing` did not fail in this run (whose line says those it failed); `None` otherwise.
fn still_failing(failing: &BTreeSet<String>, failed_now: &[String]) -> Option<String> {
    let earlier: Vec<&String> = failing
        .iter()
        .filter(|id| !failed_now.contains(id))
        .collect();
    if earlier.is_empty() {
        return None;
    }
    let mut named: Vec<String> = earlier
        .iter()
        .take(STILL_FAILING_NAMED)
        .map(|id| id.to_string())
        .collect();
    if earlier.len() > STILL_FAILING_NAMED {
        named.push(format!("and {} more", earlier.len() - STILL_FAILING_NAMED));
    }
    let (n, tests, have) = match failing.len() {
        1 => (1, "test", "has"),
        n => (n, "tests", "have"),
    };
    Some(format!(
        "{n} failed {tests} {have} not passed since: {}",
        named.join(", ")
    ))
}

/// The width of the terminal on stderr, for pytest's report: it writes into the log, and
/// would draw 80 columns.
fn terminal_columns() -> Option<u16> {
    // SAFETY: TIOCGWINSZ writes one winsize into the struct it is handed.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let result = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) };
    (result == 0 && size.ws_col > 0).then_some(size.ws_col)
}

/// The runs a plan calls for: its changed test files that still exist, then the rest.
fn runs(plan: &Plan, suite: Suite) -> Vec<Run> {
    let bindings = paths::bindings_dir();
    let files: Vec<Utf8PathBuf> = plan
        .test_files
        .iter()
        .filter(|file| bindings.join(file).is_file())
        .cloned()
        .collect();
    let mut runs = Vec::new();
    if !files.is_empty() {
        runs.push(Run::Files(files.clone()));
    }
    let server_only = plan.scope == Scope::NeedingAServer;
    if plan.scope != Scope::Nothing && !(server_only && suite == Suite::Unit) {
        runs.push(Run::Rest {
            skip: files,
            scope: plan.scope,
        });
    }
    runs
}

fn run_scope(run: &Run) -> Scope {
    match run {
        Run::Files(_) => Scope::Suite,
        Run::Rest { scope, .. } => *scope,
    }
}

/// What a file holds from byte `offset` on: this run's part of the log.
fn read_from(path: &Utf8Path, offset: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    // The log holds the whole session: read only this run's part of it.
    let mut bytes = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let read = file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_to_end(&mut bytes));
        if read.is_err() {
            bytes.clear();
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn last_lines(output: &str, n: usize) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The one line drawn while pytest runs, on a terminal only.
struct StatusLine {
    bar: ProgressBar,
    label: String,
    drawn: std::cell::Cell<Option<Instant>>,
}

impl StatusLine {
    fn new(terminal: bool, label: &str) -> StatusLine {
        let bar = if terminal {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template("{spinner} {wide_msg}").unwrap());
            bar
        } else {
            ProgressBar::hidden()
        };
        StatusLine {
            bar,
            label: label.to_owned(),
            drawn: std::cell::Cell::new(None),
        }
    }

    fn show(&self, tests: &PytestRun) {
        if self
            .drawn
            .get()
            .is_some_and(|at| at.elapsed() < STATUS_EVERY)
        {
            return;
        }
        self.drawn.set(Some(Instant::now()));
        let counts = tests.counts;
        self.bar.set_message(format!(
            "running ({}): {} passed, {} failed  {}",
            self.label,
            counts.passed,
            counts.failed,
            tests.running.as_deref().unwrap_or("")
        ));
        self.bar.tick();
    }

    /// Shows `doing` (a rebuild) with a spinner that turns by itself: the build gives no
    /// events to tick it.
    fn working(&self, doing: &str) {
        self.bar.set_message(format!("{doing} ({})", self.label));
        self.bar.enable_steady_tick(STATUS_EVERY);
    }

    fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

impl Rebuild {
    /// What the status line says while it runs.
    fn doing(self) -> &'static str {
        match self {
            Rebuild::Bindings => "building the bindings",
            Rebuild::ReadmeTests => "extracting the README's tests",
            Rebuild::Server => "building and starting the server",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_failures_are_named_until_they_pass() {
        let failing: BTreeSet<String> = ["tests/a.py::x".to_owned()].into();
        assert_eq!(still_failing(&failing, &["tests/a.py::x".to_owned()]), None);
        assert_eq!(
            still_failing(&failing, &[]).unwrap(),
            "1 failed test has not passed since: tests/a.py::x"
        );
        assert_eq!(still_failing(&BTreeSet::new(), &[]), None);
    }

    fn plan(paths: &[&str]) -> Plan {
        let paths = paths
            .iter()
            .map(|p| Utf8PathBuf::from(format!("{}/{p}", paths::BINDINGS)))
            .collect();
        routing::route(&paths)
    }

    #[test]
    fn changed_test_files_run_first_then_the_rest_without_them() {
        let runs = runs(
            &plan(&["tests/test_errors.py", "tests/test_gone.py"]),
            Suite::Fast,
        );
        match runs.as_slice() {
            [Run::Files(files), Run::Rest { skip, scope }] => {
                assert_eq!(
                    files,
                    &["tests/test_errors.py"],
                    "a deleted file is not run"
                );
                assert_eq!(skip, files);
                assert_eq!(*scope, Scope::Suite);
            }
            _ => panic!("two runs expected"),
        }
        assert_eq!(runs_count(&plan(&["src/lib.rs"]), Suite::Fast), 1);
        let server = routing::route(
            &["experiments/simd-r-drive-ws-server/src/main.rs"]
                .iter()
                .map(Utf8PathBuf::from)
                .collect(),
        );
        assert_eq!(runs_count(&server, Suite::Fast), 1);
        assert_eq!(
            runs_count(&server, Suite::Unit),
            0,
            "unit tests need no server"
        );
    }

    fn runs_count(plan: &Plan, suite: Suite) -> usize {
        runs(plan, suite).len()
    }
}
