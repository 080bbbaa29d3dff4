//! `cargo xtask ci`: every check, in order, fail-fast. Each step is a section with its
//! command and duration, folded into a group on GitHub Actions; a summary table and a JUnit
//! report follow. The exit status is the first failing step's.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use regex::Regex;
use xshell::{Shell, cmd};

use crate::process::Job;
use crate::pytest_runner::{self, Target};
use crate::test_server::{self, Server};
use crate::{errln, extract, flags, outln, paths, venv, workflow_lint};

/// The xtask test binaries that run pytest, which need the venv: step 1 defers them, and
/// the `xtask tests` step runs them once the venv exists.
const PYTHON_TESTS: [&str; 2] = ["readme_blocks", "server_log_section"];

/// One step of the run: its name, the command it stands for (shown before it runs, and in
/// the JUnit report), and what it does.
struct Step {
    name: &'static str,
    command: &'static str,
    run: fn(&mut Run<'_>) -> Result<()>,
    /// Runs after an earlier failure too (cleanup).
    always: bool,
}

/// The steps, in order, fail-fast; the summary and the JUnit report follow this list.
const STEPS: &[Step] = &[
    Step::new("cargo test", "cargo test --workspace", cargo_test),
    Step::new("extract", "cargo xtask extract", |run| {
        extract::ensure(run.sh)
    }),
    Step::new("venv", "cargo xtask venv", |run| {
        venv::ensure(run.sh, run.flags.python.as_deref(), false)
    }),
    Step::new(
        "xtask tests",
        "cargo test -p xtask --test readme_blocks --test server_log_section",
        xtask_python_tests,
    ),
    Step::new(
        "workflow lint",
        "check-jsonschema --builtin-schema vendor.github-workflows",
        |run| workflow_lint::run(run.sh),
    ),
    Step::new("pytest unit", "pytest -m unit", pytest_unit),
    Step::new("server up", "simd-r-drive-ws-server --port 0", server_up),
    Step::new(
        "pytest",
        "pytest -m 'not unit and not benchmark'",
        pytest_server,
    ),
    Step {
        always: true,
        ..Step::new("server down", "SIGTERM to the server", server_down)
    },
];

impl Step {
    const fn new(
        name: &'static str,
        command: &'static str,
        run: fn(&mut Run<'_>) -> Result<()>,
    ) -> Step {
        Step {
            name,
            command,
            run,
            always: false,
        }
    }
}

/// What the steps share.
struct Run<'a> {
    sh: &'a Shell,
    flags: &'a flags::Ci,
    junit_dir: Utf8PathBuf,
    github: bool,
    server: Option<Server>,
}

struct Outcome {
    duration: Duration,
    error: Option<String>,
}

pub fn run(sh: &Shell, flags: &flags::Ci) -> Result<()> {
    let github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let junit_dir = paths::xtask_dir()?.join("junit");
    std::fs::create_dir_all(&junit_dir).with_context(|| format!("cannot create {junit_dir}"))?;
    let mut run = Run {
        sh,
        flags,
        junit_dir: junit_dir.clone(),
        github,
        server: None,
    };
    let (outcomes, result) = run_steps(&mut run);
    errln!("{}", summary(&outcomes));
    let junit = junit_dir.join("ci.xml");
    std::fs::write(&junit, junit_report(&outcomes))
        .with_context(|| format!("cannot write {junit}"))?;
    errln!("JUnit reports: {}", paths::display_path(&junit_dir));
    result
}

/// Runs every step in order; after a failure, only the `always` steps. The first error is
/// the run's. A signal is an error like any other: it stops the run, and cleanup follows.
fn run_steps(run: &mut Run<'_>) -> (Vec<Option<Outcome>>, Result<()>) {
    let mut outcomes = Vec::new();
    let mut first_error = None;
    for (index, step) in STEPS.iter().enumerate() {
        if first_error.is_some() && !step.always {
            outcomes.push(None);
            continue;
        }
        let (outcome, result) = section(run.github, index, step, || (step.run)(run));
        outcomes.push(Some(outcome));
        if let Err(error) = result {
            first_error.get_or_insert(error);
        }
    }
    (outcomes, first_error.map_or(Ok(()), Err))
}

/// Runs one step as a section: its header, its verdict and time, a group on GitHub.
fn section(
    github: bool,
    index: usize,
    step: &Step,
    body: impl FnOnce() -> Result<()>,
) -> (Outcome, Result<()>) {
    let (number, name) = (index + 1, step.name);
    if github {
        outln!("::group::{number}. {name}");
    }
    errln!("==> [{number}/{}] {name}: {}", STEPS.len(), step.command);
    let start = Instant::now();
    let result = body();
    let duration = start.elapsed();
    let verdict = if result.is_ok() { "ok" } else { "FAILED" };
    errln!("<== {name}: {verdict} in {:.2} s", duration.as_secs_f64());
    if github {
        outln!("::endgroup::");
    }
    let error = result.as_ref().err().map(|e| format!("{e:#}"));
    if let (true, Some(error)) = (github, &error) {
        let first_line = error.lines().next().unwrap_or_default();
        outln!(
            "::error title=ci step `{name}` failed::{}",
            escape_data(first_line)
        );
    }
    (Outcome { duration, error }, result)
}

fn cargo_test(run: &mut Run<'_>) -> Result<()> {
    let sh = run.sh;
    Job::new(cmd!(sh, "cargo test --workspace"))
        .env("XTASK_PYTHON_TESTS", "later")
        .run()
}

/// The pytest-driven tests of xtask, with the venv's Python; a missing Python fails them
/// (`XTASK_PYTHON_TESTS=require`) rather than skips them.
fn xtask_python_tests(run: &mut Run<'_>) -> Result<()> {
    let sh = run.sh;
    let tests = PYTHON_TESTS.iter().flat_map(|name| ["--test", name]);
    Job::new(cmd!(sh, "cargo test -p xtask {tests...}"))
        .env("XTASK_TEST_PYTHON", venv::python())
        .env("XTASK_PYTHON_TESTS", "require")
        .run()
}

fn pytest_unit(run: &mut Run<'_>) -> Result<()> {
    let args = [
        "-m".into(),
        "unit".into(),
        junit_arg(&run.junit_dir, "pytest-unit.xml"),
    ];
    pytest_runner::run(run.sh, Target::Nothing, &args)
}

fn server_up(run: &mut Run<'_>) -> Result<()> {
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

fn pytest_server(run: &mut Run<'_>) -> Result<()> {
    let server = run.server.as_ref().context("the server is not up")?;
    let xml = run.junit_dir.join("pytest.xml");
    let args = [
        "-m".into(),
        "not unit and not benchmark".into(),
        format!("--junitxml={xml}"),
    ];
    pytest_runner::run(run.sh, Target::Guarded(server), &args)
        .inspect_err(|_| annotate_readme_failures(run.github, &xml))
}

/// Cleanup after a failed pytest too, so that the summary says how the server ended.
fn server_down(run: &mut Run<'_>) -> Result<()> {
    match run.server.take() {
        Some(server) => server.stop_cleanly(),
        None => Ok(()),
    }
}

fn summary(outcomes: &[Option<Outcome>]) -> String {
    let mut table = String::from("\nstep                 result     time\n");
    for (step, outcome) in STEPS.iter().zip(outcomes) {
        let (result, time) = match outcome {
            Some(Outcome { duration, error }) => {
                let result = if error.is_some() { "FAILED" } else { "ok" };
                (result, format!("{:>7.2} s", duration.as_secs_f64()))
            }
            None => ("not run", String::new()),
        };
        let _ = writeln!(table, "{:<20} {result:<8} {time}", step.name);
    }
    let total: Duration = outcomes.iter().flatten().map(|o| o.duration).sum();
    let _ = write!(table, "{:<29} {:>7.2} s", "total", total.as_secs_f64());
    table
}

fn junit_report(outcomes: &[Option<Outcome>]) -> String {
    let failures = outcomes
        .iter()
        .flatten()
        .filter(|o| o.error.is_some())
        .count();
    let skipped = outcomes.iter().filter(|o| o.is_none()).count();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuite name=\"cargo xtask ci\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
        STEPS.len(),
    );
    for (step, outcome) in STEPS.iter().zip(outcomes) {
        let time = outcome.as_ref().map_or(0.0, |o| o.duration.as_secs_f64());
        let _ = write!(
            xml,
            "  <testcase classname=\"ci\" name=\"{}\" time=\"{time:.3}\">",
            escape_xml(step.name)
        );
        match outcome {
            None => xml.push_str("<skipped message=\"an earlier step failed\"/>"),
            Some(Outcome {
                error: Some(error), ..
            }) => {
                let _ = write!(
                    xml,
                    "<failure message=\"{}\">{}</failure>",
                    escape_xml(step.command),
                    escape_xml(error)
                );
            }
            Some(_) => {}
        }
        xml.push_str("</testcase>\n");
    }
    xml.push_str("</testsuite>\n");
    xml
}

fn junit_arg(dir: &Utf8Path, name: &str) -> String {
    format!("--junitxml={}", dir.join(name))
}

/// Points at the README line of each failing README block: a `::error` annotation on
/// GitHub Actions, a `path:line:` line elsewhere.
fn annotate_readme_failures(github: bool, junit: &Utf8PathBuf) {
    let Ok(xml) = std::fs::read_to_string(junit) else {
        return;
    };
    let Ok(blocks) = extract::python_blocks(&extract::default_readme()) else {
        return;
    };
    let readme = paths::display_path(&extract::default_readme());
    for (index, message) in readme_failures(&xml) {
        let Some(block) = blocks.get(index.wrapping_sub(1)) else {
            continue;
        };
        let line = failing_line(&message, readme.as_str()).unwrap_or(block.first_line());
        let summary = format!("README block {index} failed");
        if github {
            outln!(
                "::error file={readme},line={line}::{}",
                escape_data(&summary)
            );
        } else {
            errln!("{readme}:{line}: {summary}");
        }
    }
}

/// `(block index, failure text)` for each failed `test_readme_block_N` in a JUnit report.
fn readme_failures(xml: &str) -> Vec<(usize, String)> {
    let name = Regex::new(r#"^[^>]*\bname="test_readme_block_(\d+)(?:_[a-z0-9_]*)?""#).unwrap();
    xml.split("<testcase ")
        .skip(1)
        .filter(|case| case.contains("<failure") || case.contains("<error"))
        .filter_map(|case| Some((name.captures(case)?[1].parse().ok()?, case.to_owned())))
        .collect()
}

/// The last README line a traceback names: `File "README", line N` or `README:N:`.
fn failing_line(text: &str, readme: &str) -> Option<usize> {
    let readme = regex::escape(&escape_xml(readme));
    let re = Regex::new(&format!(
        r#"{readme}(?:&quot;|"), line (\d+)|{readme}:(\d+):"#
    ))
    .unwrap();
    let last = re.captures_iter(text).last()?;
    last.get(1).or(last.get(2))?.as_str().parse().ok()
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// GitHub's workflow-command escaping for a message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_failing_readme_blocks_in_junit() {
        let xml = r#"<testsuite><testcase classname="tests.test_readme_blocks" name="test_readme_block_1" time="0.1" />
<testcase classname="tests.test_readme_blocks" name="test_readme_block_2_quick_start" time="0.1"><failure message="ZeroDivisionError">File &quot;README.md&quot;, line 12, in &lt;module&gt;
README.md:14: ZeroDivisionError</failure></testcase></testsuite>"#;
        let failures = readme_failures(xml);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, 2);
        assert_eq!(failing_line(&failures[0].1, "README.md"), Some(14));
        assert_eq!(
            failing_line("File \"README.md\", line 7, in x", "README.md"),
            Some(7)
        );
        assert_eq!(failing_line("other.py:3:", "README.md"), None);
    }

    #[test]
    fn junit_lists_every_step() {
        let mut outcomes: Vec<Option<Outcome>> = vec![
            Some(Outcome {
                duration: Duration::from_millis(1500),
                error: None,
            }),
            Some(Outcome {
                duration: Duration::ZERO,
                error: Some("a <b> & c".into()),
            }),
        ];
        outcomes.resize_with(STEPS.len(), || None);
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
        let always: Vec<_> = STEPS.iter().filter(|s| s.always).map(|s| s.name).collect();
        assert_eq!(always, ["server down"]);
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
        }
    }
}
