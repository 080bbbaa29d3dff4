//! `cargo xtask ci`: every check, in order, fail-fast. Each step is a section with its
//! command and duration, folded into a group on GitHub Actions; a summary table and a JUnit
//! report follow. The exit status is the first failing step's.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{Shell, cmd};

use crate::process::{self, Failed};
use crate::{extract, flags, guard, paths, pytest, readme, venv, workflow_lint};

/// The xtask test binaries that run pytest, which need the venv: step 1 defers them, and
/// the `xtask tests` step runs them once the venv exists.
const PYTHON_TESTS: [&str; 2] = ["readme_blocks", "server_log_section"];

const STEPS: [(&str, &str); 9] = [
    ("cargo test", "cargo test --workspace"),
    ("extract", "cargo xtask extract"),
    ("venv", "cargo xtask venv"),
    (
        "xtask tests",
        "cargo test -p xtask --test readme_blocks --test server_log_section",
    ),
    (
        "workflow lint",
        "check-jsonschema --builtin-schema vendor.github-workflows",
    ),
    ("pytest unit", "pytest -m unit"),
    ("server up", "simd-r-drive-ws-server --port 0"),
    ("pytest", "pytest -m 'not unit and not benchmark'"),
    ("server down", "SIGTERM to the server"),
];

struct Outcome {
    duration: Duration,
    error: Option<String>,
}

struct Report {
    github: bool,
    outcomes: Vec<Outcome>,
}

impl Report {
    /// Runs the next step of [`STEPS`] as a section; its error is kept for the summary.
    fn step<T>(&mut self, name: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
        let (expected, command) = STEPS[self.outcomes.len()];
        // Steps run in the order of STEPS, which the summary and the JUnit report follow.
        assert_eq!(name, expected, "ci steps out of the order of STEPS");
        let number = self.outcomes.len() + 1;
        if self.github {
            println!("::group::{number}. {name}");
        }
        eprintln!("==> [{number}/{}] {name}: {command}", STEPS.len());
        let start = Instant::now();
        let result = run();
        let duration = start.elapsed();
        let verdict = if result.is_ok() { "ok" } else { "FAILED" };
        eprintln!("<== {name}: {verdict} in {:.2} s", duration.as_secs_f64());
        if self.github {
            println!("::endgroup::");
        }
        let error = result.as_ref().err().map(|e| format!("{e:#}"));
        if let (true, Some(error)) = (self.github, &error) {
            let first_line = error.lines().next().unwrap_or_default();
            println!(
                "::error title=ci step `{name}` failed::{}",
                escape_data(first_line)
            );
        }
        self.outcomes.push(Outcome { duration, error });
        result
    }

    fn print_summary(&self) {
        let mut table = String::from("\nstep                 result     time\n");
        for (i, (name, _)) in STEPS.iter().enumerate() {
            let (result, time) = match self.outcomes.get(i) {
                Some(Outcome { duration, error }) => {
                    let result = if error.is_some() { "FAILED" } else { "ok" };
                    (result, format!("{:>7.2} s", duration.as_secs_f64()))
                }
                None => ("not run", String::new()),
            };
            let _ = writeln!(table, "{name:<20} {result:<8} {time}");
        }
        let total: Duration = self.outcomes.iter().map(|o| o.duration).sum();
        let _ = writeln!(table, "{:<29} {:>7.2} s", "total", total.as_secs_f64());
        eprint!("{table}");
    }

    fn junit(&self) -> String {
        let failures = self.outcomes.iter().filter(|o| o.error.is_some()).count();
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            xml,
            "<testsuite name=\"cargo xtask ci\" tests=\"{}\" failures=\"{failures}\" skipped=\"{}\">",
            STEPS.len(),
            STEPS.len() - self.outcomes.len()
        );
        for (i, (name, command)) in STEPS.iter().enumerate() {
            let time = self
                .outcomes
                .get(i)
                .map_or(0.0, |o| o.duration.as_secs_f64());
            let _ = write!(
                xml,
                "  <testcase classname=\"ci\" name=\"{}\" time=\"{time:.3}\">",
                escape_xml(name)
            );
            match self.outcomes.get(i) {
                None => xml.push_str("<skipped message=\"an earlier step failed\"/>"),
                Some(Outcome {
                    error: Some(error), ..
                }) => {
                    let _ = write!(
                        xml,
                        "<failure message=\"{}\">{}</failure>",
                        escape_xml(command),
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
}

pub fn run(sh: &Shell, flags: &flags::Ci) -> Result<()> {
    let github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let junit_dir = paths::xtask_dir(sh)?.join("junit");
    std::fs::create_dir_all(&junit_dir).with_context(|| format!("cannot create {junit_dir}"))?;
    let mut report = Report {
        github,
        outcomes: Vec::new(),
    };
    let result = run_steps(sh, flags, &mut report, &junit_dir);
    report.print_summary();
    let junit = junit_dir.join("ci.xml");
    std::fs::write(&junit, report.junit()).with_context(|| format!("cannot write {junit}"))?;
    eprintln!("JUnit reports: {}", paths::display_path(&junit_dir));
    result
}

fn run_steps(
    sh: &Shell,
    flags: &flags::Ci,
    report: &mut Report,
    junit_dir: &Utf8Path,
) -> Result<()> {
    let cargo_test = cmd!(sh, "cargo test --workspace").env("XTASK_PYTHON_TESTS", "later");
    report.step("cargo test", || process::run_owned(cargo_test))?;
    report.step("extract", || extract::ensure(sh))?;
    report.step("venv", || venv::ensure(sh, flags.python.as_deref(), false))?;
    report.step("xtask tests", || run_python_tests(sh))?;
    report.step("workflow lint", || workflow_lint::run(sh))?;
    let unit_xml = junit_arg(junit_dir, "pytest-unit.xml");
    report.step("pytest unit", || {
        pytest::run_pytest(sh, None, &["-m".into(), "unit".into(), unit_xml])
    })?;
    let github = report.github;
    let server = report.step("server up", || {
        pytest::start_built_server(sh, server_binary(sh)?, 0, flags.ready_timeout)
    })?;
    let xml = junit_dir.join("pytest.xml");
    let args = [
        "-m".into(),
        "not unit and not benchmark".into(),
        format!("--junitxml={xml}"),
    ];
    let tested = report
        .step("pytest", || pytest::run_pytest(sh, Some(&server), &args))
        .inspect_err(|_| annotate_readme_failures(github, &xml));
    // Cleanup runs after a failed pytest too, so that the summary says how the server
    // ended; the exit status stays pytest's.
    let stopped = report.step("server down", || stop_server(&server));
    tested.and(stopped)
}

/// Stops the server; an unclean stop (a non-zero exit, or SIGKILL needed) fails the step.
fn stop_server(server: &guard::Server) -> Result<()> {
    match server.stop() {
        Some(stopped) if stopped.status.success() && !stopped.killed => Ok(()),
        Some(stopped) => {
            let how = if stopped.was_running {
                "did not stop cleanly on SIGTERM"
            } else {
                "had exited before it was stopped"
            };
            Err(Failed {
                code: 1,
                message: format!(
                    "the server {how}: {}{}",
                    process::describe(stopped.status),
                    server.log_tail()
                ),
            }
            .into())
        }
        None => server.check_alive(),
    }
}

/// The server binary that step 1 built for the server's own tests. `cargo build -p` would
/// build it again: for one package, cargo resolves features apart from the rest of the
/// workspace, which recompiles some 35 crates on a cold target dir (20 s measured).
fn server_binary(sh: &Shell) -> Result<Utf8PathBuf> {
    let binary = paths::target_dir(sh)?
        .join("debug")
        .join(guard::SERVER_PACKAGE);
    if std::env::var_os("XTASK_SERVER_BIN").is_some() || !binary.is_file() {
        return guard::build(sh, false);
    }
    eprintln!(
        "using {}, built by `cargo test --workspace`",
        paths::display_path(&binary)
    );
    Ok(binary)
}

/// The pytest-driven tests of xtask, with the venv's Python; a missing Python fails them
/// (`XTASK_PYTHON_TESTS=require`) rather than skips them.
fn run_python_tests(sh: &Shell) -> Result<()> {
    let tests = PYTHON_TESTS.iter().flat_map(|name| ["--test", name]);
    let cmd = cmd!(sh, "cargo test -p xtask {tests...}")
        .env("XTASK_PYTHON_TESTS", "require")
        .env("XTASK_TEST_PYTHON", venv::python());
    process::run_owned(cmd)
}

fn junit_arg(dir: &Utf8Path, name: &str) -> String {
    format!("--junitxml={}", dir.join(name))
}

/// Points at the README line of each failing README block: a `::error` annotation on
/// GitHub Actions, a `path:line:` line elsewhere. The lines come from the report itself.
fn annotate_readme_failures(github: bool, junit: &Utf8PathBuf) {
    let Ok(xml) = std::fs::read_to_string(junit) else {
        return;
    };
    for failure in readme::junit::failures(&xml) {
        let (file, line) = (&failure.readme, failure.line);
        let summary = format!("README example failed ({})", failure.test);
        if github {
            println!("::error file={file},line={line}::{}", escape_data(&summary));
        } else {
            eprintln!("{file}:{line}: {summary}");
        }
    }
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
    fn junit_lists_every_step() {
        let report = Report {
            github: false,
            outcomes: vec![
                Outcome {
                    duration: Duration::from_millis(1500),
                    error: None,
                },
                Outcome {
                    duration: Duration::ZERO,
                    error: Some("a <b> & c".into()),
                },
            ],
        };
        let xml = report.junit();
        assert!(
            xml.contains(r#"tests="9" failures="1" skipped="7""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="cargo test" time="1.500"></testcase>"#),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"cargo xtask extract\">a &lt;b&gt; &amp; c</failure>")
        );
        assert_eq!(xml.matches("<skipped").count(), 7);
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
