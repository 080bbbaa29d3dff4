//! Retries that report (issue 35), on the demo tests that fail their first attempt on
//! purpose (`fixtures/flaky/`): with `--retries 1` the test passes, is named on a `flaky:`
//! line with its attempts and counted, and its JUnit report records the failed attempt
//! (`flakyFailure`); without retries it fails the run; with `--flaky-fails` too.
//!
//! Needs the venv (its pytest, pytest-rerunfailures), so `test = false` in xtask's
//! manifest: `cargo xtask ci` runs it once the venv is built.

mod common;

use std::path::PathBuf;
use std::process::Output;

const PYTHON_DEMO: &str = "xtask/tests/fixtures/flaky/test_demos.py::test_fails_its_first_attempt";

fn workspace_root() -> PathBuf {
    common::manifest_dir().join("..")
}

/// `cargo xtask pytest --no-server ARGS -- DEMO`, the demo counting its attempts in a
/// folder of its own. Without the venv's pytest-rerunfailures, this fails first, saying how
/// to get it.
fn pytest(args: &[&str]) -> Output {
    common::python_with("pytest_rerunfailures");
    let dir = common::scratch_dir("retries");
    common::xtask()
        .current_dir(workspace_root())
        .args(["pytest", "--no-server"])
        .args(args)
        .args(["--", PYTHON_DEMO])
        .env("XTASK_DEMO_DIR", &*dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("cannot run cargo xtask pytest")
}

#[test]
fn a_python_test_that_passes_on_a_retry_is_flaky_and_fails_without_retries() {
    let without = pytest(&[]);
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(!without.status.success(), "{stderr}");
    assert!(!stderr.contains("flaky:"), "{stderr}");

    let with = pytest(&["--retries", "1"]);
    let stderr = String::from_utf8_lossy(&with.stderr);
    assert!(with.status.success(), "{stderr}");
    // Named as pytest names it, from the folder of the demos' pytest.ini.
    let line =
        "flaky: test_demos.py::test_fails_its_first_attempt failed, then passed on attempt 2";
    assert!(stderr.contains(line), "{stderr}");
    assert!(
        stderr.contains("flaky: 1 test failed, then passed on a retry"),
        "{stderr}"
    );
    let junit = workspace_root().join("target/xtask/pytest/junit.xml");
    let junit = std::fs::read_to_string(&junit).expect("the pytest JUnit report");
    assert!(
        junit.contains(r#"name="test_fails_its_first_attempt""#),
        "{junit}"
    );
    assert!(
        junit.contains("<flakyFailure message=\"AssertionError: demo failure"),
        "{junit}"
    );
    assert_eq!(junit.matches("<testcase").count(), 1, "{junit}");

    let fails = pytest(&["--retries", "1", "--flaky-fails"]);
    let stderr = String::from_utf8_lossy(&fails.stderr);
    assert!(!fails.status.success(), "{stderr}");
    assert!(stderr.contains("1 flaky (--flaky-fails)"), "{stderr}");
}
