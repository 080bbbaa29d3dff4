//! `cargo xtask ci`: every check, in order, fail-fast, with pytest in three stages (unit,
//! then integration and e2e against one server). It shows a line per step and a summary
//! (see [`crate::steps`]), writes a JUnit report per pytest stage and one for the steps, and
//! ends with `ci: N passed, N failed, N skipped`: every test of every stage, Rust and
//! Python. The exit status is the first failing step's.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{Shell, cmd};

use crate::background::Background;
use crate::cargo_output::{self, CargoTest};
use crate::process::{self, Job, Reported};
use crate::pytest_events::{self, PytestRun};
use crate::pytest_runner::{self, Target};
use crate::steps::{self, Mode, Outcome, Runner, Step};
use crate::tail::Tail;
use crate::test_server::{self, Server};
use crate::{errln, extract, flags, outln, paths, readme, traceln, venv, workflow_lint};

/// The xtask test binaries that need the venv (its pytest, its linters): when the venv is
/// not ready yet, step 1 defers them, and the `xtask tests` step runs them once it is.
const PYTHON_TESTS: [&str; 3] = ["readme_blocks", "server_log_section", "workflow_lint"];
/// Those of them that import the bindings; the others need only the venv's dependencies,
/// so they can start before the bindings are built.
const NEED_THE_BINDINGS: [&str; 1] = ["server_log_section"];
/// Lines of pytest's failure report shown under a failed stage; the log has all of them.
const FAILURE_LINES: usize = 100;

/// One step of the run: its name, the command it stands for (in the JUnit report), and
/// what it does.
struct StepDef {
    name: &'static str,
    command: &'static str,
    run: fn(&mut Run<'_>, &mut Step) -> Result<()>,
    /// Cleanup: runs after an earlier failure too, when there is a server to stop.
    cleanup: bool,
}

/// The steps, in order, fail-fast; the summary and the JUnit report follow this list.
const STEPS: &[StepDef] = &[
    StepDef::new("cargo test", "cargo test --workspace", cargo_test),
    StepDef::new("extract", "cargo xtask extract", |run, _| {
        extract::ensure(run.sh)
    }),
    StepDef::new("venv", "cargo xtask venv", venv_step),
    StepDef::new(
        "workflow lint",
        "check-jsonschema on .github/workflows",
        |run, step| {
            run.check_background()?;
            if !workflow_lint::run_unless_unchanged(run.sh)? {
                step.note("unchanged since it last passed");
            }
            run.check_background()
        },
    ),
    StepDef::new("pytest unit", "pytest -m unit", |run, step| {
        pytest_stage(run, step, Stage::Unit)
    }),
    StepDef::new(
        "xtask tests",
        "cargo test -p xtask --test readme_blocks --test server_log_section --test workflow_lint",
        xtask_python_tests,
    ),
    StepDef::new("server up", "simd-r-drive-ws-server --port 0", server_up),
    StepDef::new(
        "pytest integration",
        "pytest -m integration",
        |run, step| pytest_stage(run, step, Stage::Integration),
    ),
    StepDef::new("pytest e2e", "pytest -m e2e", |run, step| {
        pytest_stage(run, step, Stage::E2e)
    }),
    StepDef {
        cleanup: true,
        ..StepDef::new("server down", "SIGTERM to the server", server_down)
    },
];

impl StepDef {
    const fn new(
        name: &'static str,
        command: &'static str,
        run: fn(&mut Run<'_>, &mut Step) -> Result<()>,
    ) -> StepDef {
        StepDef {
            name,
            command,
            run,
            cleanup: false,
        }
    }
}

/// What the steps share.
struct Run<'a> {
    sh: &'a Shell,
    flags: &'a flags::Ci,
    xtask_dir: Utf8PathBuf,
    junit_dir: Utf8PathBuf,
    github: bool,
    server: Option<Server>,
    /// `cargo xtask venv --deps-only`, started with `cargo test` when the venv is stale.
    python_deps: Option<Background>,
    /// The venv was ready, so `cargo test` ran the xtask tests that need it.
    python_tests_ran: bool,
    /// Those tests otherwise, each started as soon as what it needs is there: its
    /// binary, built by `cargo test`, and the venv's dependencies, or the bindings too.
    /// They run alongside `cargo test`'s own tests (which leave a core idle half the time),
    /// maturin, the workflow lint and `pytest unit`; their step collects them.
    python_tests: Vec<Background>,
    started: Vec<&'static str>,
    /// The deferred test binaries that `cargo test` built, by name.
    deferred: Vec<(&'static str, String)>,
}

impl<'a> Run<'a> {
    fn new(sh: &'a Shell, flags: &'a flags::Ci, xtask_dir: Utf8PathBuf, github: bool) -> Run<'a> {
        Run {
            sh,
            flags,
            junit_dir: xtask_dir.join("junit"),
            xtask_dir,
            github,
            server: None,
            python_deps: None,
            python_tests_ran: false,
            python_tests: Vec::new(),
            started: Vec::new(),
            deferred: Vec::new(),
        }
    }

    /// The first failure of what runs in the background, for the foreground to stop at.
    fn check_background(&self) -> Result<()> {
        let mut running = self.python_deps.iter().chain(&self.python_tests);
        running.try_for_each(Background::check)
    }
}

pub fn run(sh: &Shell, flags: &flags::Ci) -> Result<()> {
    let mode = Mode::detect(flags.verbose);
    let xtask_dir = paths::xtask_dir()?;
    let mut run = Run::new(sh, flags, xtask_dir.clone(), mode == Mode::GitHub);
    let junit_dir = run.junit_dir.clone();
    std::fs::create_dir_all(&junit_dir).with_context(|| format!("cannot create {junit_dir}"))?;
    let mut runner = Runner::new(mode, xtask_dir.join("logs/ci"), STEPS.len())?;
    let result = run_steps(&mut runner, &mut run);
    errln!("{}", runner.summary());
    let junit = junit_dir.join("ci.xml");
    std::fs::write(&junit, junit_report(runner.outcomes()))
        .with_context(|| format!("cannot write {junit}"))?;
    errln!("JUnit reports: {}", paths::display_path(&junit_dir));
    if flags.cov && result.is_ok() {
        errln!(
            "{}",
            pytest_runner::coverage_total(&xtask_dir.join("coverage.xml"))
        );
    }
    let totals = runner.totals();
    // The last line, whatever happened: CI log readers look for it.
    errln!(
        "ci: {} passed, {} failed, {} skipped",
        totals.passed,
        totals.failed,
        totals.skipped
    );
    // The failure was shown under its step; main only passes its exit code on.
    result.map_err(|error| {
        Reported {
            code: process::exit_code_of(&error),
        }
        .into()
    })
}

/// Runs every step in order; after a failure, only the cleanup, if there is a server to
/// stop. The first error is the run's. A signal is an error like any other: it stops the
/// run, and cleanup follows.
fn run_steps(runner: &mut Runner, run: &mut Run<'_>) -> Result<()> {
    let mut first_error = None;
    for step in STEPS {
        if first_error.is_some() && !(step.cleanup && run.server.is_some()) {
            runner.skipped(step.name);
            continue;
        }
        if let Err(error) = runner.step(step.name, |progress| (step.run)(run, progress)) {
            first_error.get_or_insert(error);
            // Fail-fast: what runs in the background stops now (dropped: stopped, reaped).
            run.python_deps = None;
            run.python_tests.clear();
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// `cargo test --workspace`. When the venv is ready, the xtask tests that need it run
/// here, with it. Otherwise the venv's dependencies are installed meanwhile (they need no
/// Rust, and the download overlaps the compile), `cargo test` only builds those tests, and
/// the ones that need no bindings start from here once their binary and the dependencies
/// are there.
fn cargo_test(run: &mut Run<'_>, step: &mut Step) -> Result<()> {
    let sh = run.sh;
    let job = Job::new(cmd!(sh, "cargo test --workspace"));
    let (job, mut tests) = if venv::is_current(run.flags.python.as_deref(), venv::Profile::Dev)? {
        run.python_tests_ran = true;
        (with_the_venv(job), CargoTest::default())
    } else {
        run.python_deps = Some(start_python_deps(run)?);
        let job = job.env("XTASK_PYTHON_TESTS", "later");
        (job, CargoTest::deferring(&PYTHON_TESTS))
    };
    let result = run_cargo_test(job, &mut tests, step, |tests| {
        let Some(deps) = &run.python_deps else {
            return Ok(());
        };
        deps.check()?;
        if deps.succeeded() && run.deferred.len() < tests.deferred_executables.len() {
            run.deferred.clone_from(&tests.deferred_executables);
            start_python_tests(run, Start::Seen)?;
        }
        Ok(())
    });
    run.deferred = tests.deferred_executables;
    result
}

/// Runs the xtask tests that need Python with the venv's, and fails them without it
/// (`XTASK_PYTHON_TESTS=require`) rather than skipping them.
fn with_the_venv(job: Job) -> Job {
    job.env("XTASK_TEST_PYTHON", venv::python())
        .env("XTASK_PYTHON_TESTS", "require")
}

fn start_python_deps(run: &Run<'_>) -> Result<Background> {
    let sh = run.sh;
    let xtask = std::env::current_exe().context("cannot tell where xtask runs from")?;
    let python = run.flags.python.iter().map(|p| format!("--python={p}"));
    let job = Job::new(cmd!(sh, "{xtask} venv --deps-only {python...}"));
    let log = run.xtask_dir.join("logs/ci/venv-deps.log");
    Background::start("cargo xtask venv --deps-only", job, &log)
}

/// Waits for the dependencies installed in the background, if any, then builds the
/// bindings. Unless `cargo test` ran them, the xtask tests that need the venv start as soon
/// as what they need is there: before maturin, or after it for those that import the
/// bindings.
fn venv_step(run: &mut Run<'_>, _: &mut Step) -> Result<()> {
    if let Some(background) = run.python_deps.take() {
        background.finish()?;
    }
    if !run.python_tests_ran {
        start_python_tests(run, Start::Seen)?;
    }
    venv::ensure(
        run.sh,
        run.flags.python.as_deref(),
        false,
        venv::Profile::Dev,
    )?;
    if !run.python_tests_ran {
        start_python_tests(run, Start::All)?;
    }
    Ok(())
}

/// Which of the deferred xtask tests to start.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Those that need no bindings and whose binary `cargo test` showed.
    Seen,
    /// All that have not started: the bindings are built, and cargo is free to run the
    /// binaries it did not show.
    All,
}

/// Starts deferred xtask test binaries (see [`Start`]) that have not started, each in the
/// background with a log of its own, run as cargo runs them: from xtask's folder.
fn start_python_tests(run: &mut Run<'_>, which: Start) -> Result<()> {
    let sh = run.sh;
    let xtask = paths::project_root().join("xtask");
    let _dir = sh.push_dir(&xtask);
    for name in PYTHON_TESTS {
        let executable = run.deferred.iter().find(|(n, _)| *n == name);
        let ready = which == Start::All || !NEED_THE_BINDINGS.contains(&name);
        if run.started.contains(&name) || !ready || (which == Start::Seen && executable.is_none()) {
            continue;
        }
        let job = match executable {
            Some((_, path)) => {
                let path = paths::project_root().join(path);
                Job::new(cmd!(sh, "{path}")).env("CARGO_MANIFEST_DIR", &xtask)
            }
            None => Job::new(cmd!(sh, "cargo test -p xtask --test {name}")),
        };
        let log = run.xtask_dir.join(format!("logs/ci/xtask-test-{name}.log"));
        let background = Background::start("xtask tests", with_the_venv(job), &log)?;
        run.python_tests.push(background);
        run.started.push(name);
    }
    Ok(())
}

/// The xtask tests that need the venv: waits for them, unless `cargo test` ran them, and
/// copies their output into this step's log.
fn xtask_python_tests(run: &mut Run<'_>, step: &mut Step) -> Result<()> {
    if run.python_tests_ran {
        step.note("ran in cargo test");
        return Ok(());
    }
    ensure!(
        !run.python_tests.is_empty(),
        "the xtask tests never started"
    );
    let mut tests = CargoTest::default();
    let mut first_error = None;
    let mut output = String::new();
    for background in std::mem::take(&mut run.python_tests) {
        let log = background.log().to_owned();
        let status = background.wait();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        traceln!("{}", text.trim_end());
        tests.feed(text.as_bytes());
        output.push_str(&text);
        if let Err(error) = status {
            first_error.get_or_insert(error);
        }
    }
    step.counts(tests.counts());
    step.note("in the background");
    if let Some(excerpt) = cargo_output::failure_excerpt(&output) {
        step.details(excerpt);
    }
    first_error.map_or(Ok(()), Err)
}

/// Runs a `cargo test` job, following its output in the step's log for the display and in
/// `tests`; `tick` sees each new state, and its error ends the job early (a failure in the
/// background).
fn run_cargo_test(
    job: Job,
    tests: &mut CargoTest,
    step: &mut Step,
    mut tick: impl FnMut(&CargoTest) -> Result<()>,
) -> Result<()> {
    let mut log = Tail::new(&step.log);
    let result = job.run_watching(|| {
        tests.feed(&log.read_new());
        tick(tests)?;
        step.progress(tests.live, None, &tests.activity);
        Ok(())
    });
    tests.feed(&log.read_new());
    step.counts(tests.counts());
    if result.is_err() {
        let output = std::fs::read_to_string(&step.log).unwrap_or_default();
        if let Some(excerpt) = cargo_output::failure_excerpt(&output) {
            step.details(excerpt);
        }
    }
    result
}

/// A pytest stage: its marker, and the time a test of it may take before it is named.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Unit,
    Integration,
    E2e,
}

impl Stage {
    fn marker(self) -> &'static str {
        match self {
            Stage::Unit => "unit",
            Stage::Integration => "integration",
            Stage::E2e => "e2e",
        }
    }

    fn budget(self) -> Duration {
        match self {
            Stage::Unit => Duration::from_secs(1),
            Stage::Integration | Stage::E2e => Duration::from_secs(5),
        }
    }
}

/// Runs one stage, following pytest's report log for the display, the counts and the
/// timings; names the slowest tests in the log and the outliers in the output.
fn pytest_stage(run: &mut Run<'_>, step: &mut Step, stage: Stage) -> Result<()> {
    let marker = stage.marker();
    let events = fresh_file(&run.xtask_dir.join(format!("pytest/{marker}.jsonl")))?;
    let collected = fresh_file(&run.xtask_dir.join(format!("pytest/{marker}.collected")))?;
    let junit = run.junit_dir.join(format!("pytest-{marker}.xml"));
    let mut args = vec![
        "-m".to_owned(),
        format!("{marker} and not benchmark"),
        format!("--report-log={events}"),
        format!("--junitxml={junit}"),
    ];
    let mut env = vec![("XTASK_COLLECTED_FILE", collected.to_string())];
    if run.flags.cov {
        args.extend(coverage_args(stage, &run.xtask_dir));
        env.push(("COVERAGE_FILE", run.xtask_dir.join(".coverage").to_string()));
    }
    let target = match (stage, &run.server) {
        (Stage::Unit, _) => Target::Nothing,
        (_, Some(server)) => Target::Guarded(server),
        (_, None) => anyhow::bail!("the server is not up"),
    };
    let mut log = Tail::new(&events);
    let mut tests = PytestRun::default();
    let result = pytest_runner::run(run.sh, target, &args, &env, || {
        run.check_background()?;
        tests.feed(&log.read_new());
        let total = std::fs::read_to_string(&collected).ok();
        let total = total.and_then(|text| text.trim().parse().ok());
        step.progress(tests.counts, total, tests.running.as_deref().unwrap_or(""));
        Ok(())
    });
    tests.feed(&log.read_new());
    if result.is_err() {
        // Read before the timings below are added to the log.
        let output = std::fs::read_to_string(&step.log).unwrap_or_default();
        if let Some(excerpt) = pytest_events::failure_excerpt(&output, FAILURE_LINES) {
            step.details(excerpt);
        }
        annotate_readme_failures(run.github, &junit, step);
    }
    report_stage(step, &tests, stage);
    result
}

/// The stage's counts, its five slowest tests (into the log), and its outliers.
fn report_stage(step: &mut Step, tests: &PytestRun, stage: Stage) {
    step.counts(tests.counts);
    traceln!("slowest tests:");
    for test in tests.slowest(5) {
        traceln!("  {:>7.2} s  {}", test.duration.as_secs_f64(), test.nodeid);
    }
    let budget = stage.budget();
    for test in tests.outliers(budget) {
        step.warn(format!(
            "slow: {} took {:.2} s ({} budget {} s)",
            test.nodeid,
            test.duration.as_secs_f64(),
            stage.marker(),
            budget.as_secs()
        ));
    }
}

/// pytest-cov's arguments for a stage: data gathered over the three, one report at the
/// end, where `fail_under` from pyproject.toml applies.
fn coverage_args(stage: Stage, xtask_dir: &Utf8Path) -> Vec<String> {
    let xml = xtask_dir.join("coverage.xml");
    match stage {
        Stage::Unit => vec![
            "--cov".into(),
            "--cov-report=".into(),
            "--cov-fail-under=0".into(),
        ],
        Stage::Integration => vec![
            "--cov".into(),
            "--cov-append".into(),
            "--cov-report=".into(),
            "--cov-fail-under=0".into(),
        ],
        Stage::E2e => vec![
            "--cov".into(),
            "--cov-append".into(),
            format!("--cov-report=xml:{xml}"),
        ],
    }
}

/// Removes what an earlier run left at `path`, so that a stale file is never read.
fn fresh_file(path: &Utf8Path) -> Result<Utf8PathBuf> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    }
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("cannot remove {path}"))
        }
        _ => Ok(path.to_owned()),
    }
}

fn server_up(run: &mut Run<'_>, _: &mut Step) -> Result<()> {
    let binary = test_server::binary_built_by_tests(run.sh)?;
    let ready_timeout = run.flags.ready_timeout;
    run.server = Some(test_server::start_for_tests(
        run.sh,
        binary,
        0,
        ready_timeout,
    )?);
    Ok(())
}

/// Cleanup after a failure too, so that the summary says how the server ended.
fn server_down(run: &mut Run<'_>, _: &mut Step) -> Result<()> {
    match run.server.take() {
        Some(server) => server.stop_cleanly(),
        None => Ok(()),
    }
}

fn junit_report(outcomes: &[Outcome]) -> String {
    let failures = outcomes.iter().filter(|o| o.error.is_some()).count();
    let skipped = outcomes.iter().filter(|o| o.duration.is_none()).count();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuite name=\"cargo xtask ci\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
        STEPS.len(),
    );
    for (step, outcome) in STEPS.iter().zip(outcomes) {
        let time = outcome.duration.map_or(0.0, |d| d.as_secs_f64());
        let _ = write!(
            xml,
            "  <testcase classname=\"ci\" name=\"{}\" time=\"{time:.3}\">",
            escape_xml(step.name)
        );
        match (outcome.duration, &outcome.error) {
            (None, _) => xml.push_str("<skipped message=\"an earlier step failed\"/>"),
            (Some(_), Some(error)) => {
                let _ = write!(
                    xml,
                    "<failure message=\"{}\">{}</failure>",
                    escape_xml(step.command),
                    escape_xml(error)
                );
            }
            (Some(_), None) => {}
        }
        xml.push_str("</testcase>\n");
    }
    xml.push_str("</testsuite>\n");
    xml
}

/// Points at the README line of each failing README block: a `::error` annotation on
/// GitHub Actions, a `path:line:` line under the step's verdict elsewhere. The lines come
/// from the report itself.
fn annotate_readme_failures(github: bool, junit: &Utf8Path, step: &mut Step) {
    let Ok(xml) = std::fs::read_to_string(junit) else {
        return;
    };
    for failure in readme::junit::failures(&xml) {
        let (file, line) = (&failure.readme, failure.line);
        let summary = format!("README example failed ({})", failure.test);
        if github {
            outln!(
                "::error file={file},line={line}::{}",
                steps::escape_data(&summary)
            );
        } else {
            step.warn(format!("{file}:{line}: {summary}"));
        }
    }
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The xtask tests that run in the background alongside the workflow lint and
    /// `pytest unit`: their failure reaches the foreground's check, with its exit code.
    #[test]
    fn the_background_tests_failure_stops_the_foreground() {
        let sh = Shell::new().unwrap();
        let flags = flags::Ci {
            python: None,
            ready_timeout: 30,
            cov: false,
            verbose: false,
        };
        let dir = std::env::temp_dir().join(process::unique_name("ci-background"));
        let dir = Utf8PathBuf::try_from(dir).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        let failing = Job::new(cmd!(sh, "sh -c 'echo test readme ... FAILED; exit 101'"));
        let mut run = Run::new(&sh, &flags, dir.clone(), false);
        run.check_background().unwrap();
        let log = dir.join("xtask-tests.log");
        run.python_tests
            .push(Background::start("xtask tests", failing, &log).unwrap());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let error = loop {
            if let Err(error) = run.check_background() {
                break error;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the failure was never seen"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(process::exit_code_of(&error), 101);
        assert!(
            format!("{error:#}").contains("test readme ... FAILED"),
            "{error:#}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn junit_lists_every_step() {
        let outcome = |duration: Option<Duration>, error: Option<&str>| Outcome {
            name: String::new(),
            duration,
            error: error.map(str::to_owned),
            counts: None,
        };
        let mut outcomes = vec![
            outcome(Some(Duration::from_millis(1500)), None),
            outcome(Some(Duration::ZERO), Some("a <b> & c")),
        ];
        outcomes.resize_with(STEPS.len(), || outcome(None, None));
        let xml = junit_report(&outcomes);
        let skipped = STEPS.len() - 2;
        assert!(
            xml.contains(&format!(
                r#"tests="{}" failures="1" skipped="{skipped}""#,
                STEPS.len()
            )),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="cargo test" time="1.500"></testcase>"#),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"cargo xtask extract\">a &lt;b&gt; &amp; c</failure>")
        );
        assert_eq!(xml.matches("<skipped").count(), skipped);
    }

    #[test]
    fn step_names_are_unique_and_only_cleanup_runs_after_a_failure() {
        let mut names: Vec<_> = STEPS.iter().map(|step| step.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STEPS.len());
        let cleanup: Vec<_> = STEPS.iter().filter(|s| s.cleanup).map(|s| s.name).collect();
        assert_eq!(cleanup, ["server down"]);
    }

    #[test]
    fn every_test_that_runs_pytest_is_run_after_the_venv() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let name = path.file_stem().unwrap().to_str().unwrap();
            if path.is_file() && text.contains("common::python_with(") {
                assert!(
                    PYTHON_TESTS.contains(&name),
                    "tests/{name}.rs runs pytest: add it to ci::PYTHON_TESTS"
                );
            }
            if path.is_file() && text.contains("simd_r_drive_ws_client\")") {
                assert!(
                    NEED_THE_BINDINGS.contains(&name),
                    "tests/{name}.rs imports the bindings: add it to ci::NEED_THE_BINDINGS"
                );
            }
        }
    }
}
