//! The bindings' `conftest.py` adds the server's log lines written during a failing test to
//! that test's report, reading the log `cargo xtask pytest` names in `TEST_SERVER_LOG`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A Python that can import pytest and the bindings (which conftest.py imports).
fn python_with_bindings() -> PathBuf {
    common::python_with("pytest, simd_r_drive_ws_client")
}

fn bindings() -> PathBuf {
    common::bindings_dir()
}

const TESTS: &str = r#"
import os

import pytest

# conftest.py refuses a test that belongs to no stage.
pytestmark = pytest.mark.unit


def log(line):
    if "TEST_SERVER_LOG" in os.environ:
        with open(os.environ["TEST_SERVER_LOG"], "a") as file:
            file.write(line + "\n")


def test_quiet_pass():
    log("line of a passing test")


def test_loud_failure():
    log("the server saw the bad request")
    assert False, "fails on purpose"
"#;

/// A scratch folder with the bindings' conftest.py and [`TESTS`] in `test_log.py`.
fn with_tests(name: &str) -> common::Scratch {
    let dir = common::scratch_dir(name);
    std::fs::copy(
        bindings().join("tests/conftest.py"),
        dir.join("conftest.py"),
    )
    .unwrap();
    std::fs::write(dir.join("test_log.py"), TESTS).unwrap();
    dir
}

fn run(python: &Path, dir: &Path, log: Option<&Path>) -> String {
    let mut command = Command::new(python);
    command
        .args(["-m", "pytest", "-p", "no:cacheprovider", "--rootdir"])
        .arg(dir)
        .arg(dir)
        .env_remove("TEST_SERVER_LOG");
    if let Some(log) = log {
        command.env("TEST_SERVER_LOG", log);
    }
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn failing_tests_show_the_server_log_written_meanwhile() {
    let python = python_with_bindings();
    let dir = with_tests("log");
    let log = dir.join("server.log");
    std::fs::write(&log, "written before the tests\n").unwrap();

    let stdout = run(&python, &dir, Some(&log));
    let section = stdout
        .split("Captured server log call")
        .nth(1)
        .unwrap_or_else(|| panic!("no server log section:\n{stdout}"));
    let section = section.split("short test summary").next().unwrap();
    assert!(
        section.contains("the server saw the bad request"),
        "{stdout}"
    );
    assert!(!section.contains("written before the tests"), "{stdout}");
    assert!(!section.contains("line of a passing test"), "{stdout}");
    assert_eq!(stdout.matches("Captured server log").count(), 1, "{stdout}");

    // Without a log (`--server`), failures are reported as before.
    let stdout = run(&python, &dir, None);
    assert!(stdout.contains("fails on purpose"), "{stdout}");
    assert!(!stdout.contains("Captured server log"), "{stdout}");
}

/// Under xtask (`XTASK_ROOT` set), a failure names its file absolutely, so that the path
/// opens from the repository root as well as from the bindings' folder, where pytest runs;
/// run by hand, relative to where pytest started, as pytest does.
#[test]
fn under_xtask_a_failure_names_its_file_absolutely() {
    let python = python_with_bindings();
    let dir = with_tests("paths");
    let location = |root: Option<&Path>| {
        let mut command = Command::new(&python);
        command
            .args(["-m", "pytest", "-p", "no:cacheprovider", "test_log.py"])
            .current_dir(&dir)
            .env_remove("TEST_SERVER_LOG")
            .env_remove("XTASK_ROOT");
        if let Some(root) = root {
            command.env("XTASK_ROOT", root);
        }
        let stdout = String::from_utf8_lossy(&command.output().unwrap().stdout).into_owned();
        let line = stdout.lines().find(|l| l.ends_with(": AssertionError"));
        line.unwrap_or_else(|| panic!("no failure location:\n{stdout}"))
            .to_owned()
    };
    let absolute = location(Some(&std::env::temp_dir()));
    assert!(
        absolute.starts_with('/') && absolute.contains("test_log.py:"),
        "{absolute}"
    );
    let relative = location(None);
    assert!(relative.starts_with("test_log.py:"), "{relative}");
}
