//! `cargo xtask stress`, on the demos that fail on purpose (`fixtures/flaky/`): it finds a
//! Rust and a Python test that fail one run in ten within 50 runs, with the first failure's
//! output, and passes a test that always passes.
//!
//! Needs the venv (its cargo-nextest, its pytest), so `test = false` in xtask's manifest:
//! `cargo xtask ci` runs it once the venv is built.

mod common;

#[path = "fixtures/flaky/demos.rs"]
mod demos;

use std::path::Path;
use std::process::Output;

/// `cargo xtask stress ARGS`, the demos counting their runs in `demo_dir`. Without the
/// venv (its pytest, its cargo-nextest), this fails first, saying how to make it.
fn stress(demo_dir: &Path, args: &[&str]) -> Output {
    common::python_with("pytest");
    common::xtask()
        .arg("stress")
        .args(args)
        .env("XTASK_DEMO_DIR", demo_dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("cannot run cargo xtask stress")
}

/// Checks that `output` failed with `failed` of `runs` runs, ended with the totals line and
/// showed a demo failure's output.
fn assert_found(output: &Output, runs: u32, failed: u32) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let totals = format!(
        "stress: {} passed, {failed} failed, 0 skipped",
        runs - failed
    );
    assert_eq!(stderr.lines().last(), Some(totals.as_str()), "{stderr}");
    assert!(stderr.contains("first failure (run #"), "{stderr}");
    assert!(stderr.contains("demo failure: run "), "{stderr}");
    assert!(stderr.contains("slowest run: #"), "{stderr}");
}

#[test]
fn a_rust_test_that_fails_one_run_in_ten_is_found() {
    let dir = common::scratch_dir("stress-rust");
    let output = stress(
        &dir,
        &["demo_fails_one_run_in_ten", "--count", "50", "--jobs", "2"],
    );
    assert_found(&output, 50, 5);
}

#[test]
fn a_python_test_that_fails_one_run_in_ten_is_found() {
    let dir = common::scratch_dir("stress-python");
    let test = "xtask/tests/fixtures/flaky/test_demos.py::test_fails_one_run_in_ten";
    let output = stress(&dir, &[test, "--count", "10", "--jobs", "2", "--load", "1"]);
    assert_found(&output, 10, 1);
}

#[test]
fn a_test_that_always_passes_passes() {
    let dir = common::scratch_dir("stress-pass");
    // The second attempt on passes: a first run marks the folder.
    demos_first_attempt_taken(&dir);
    let output = stress(
        &dir,
        &[
            "xtask::stress demos::demo_fails_its_first_attempt",
            "--count",
            "3",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some("stress: 3 passed, 0 failed, 0 skipped"),
        "{stderr}"
    );
    assert!(!stderr.contains("first failure"), "{stderr}");
}

#[test]
fn a_name_that_matches_no_test_or_several_says_so() {
    let dir = common::scratch_dir("stress-names");
    let none = stress(&dir, &["no_test_has_this_name_at_all"]);
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(!none.status.success());
    assert!(
        stderr.contains("no Rust test matches `no_test_has_this_name_at_all`"),
        "{stderr}"
    );
    let several = stress(&dir, &["demo_fails_"]);
    let stderr = String::from_utf8_lossy(&several.stderr);
    assert!(
        stderr.contains("2 Rust tests match `demo_fails_`"),
        "{stderr}"
    );
}

/// Takes the first attempt of the first-attempt demo in `dir`, as a run would.
fn demos_first_attempt_taken(dir: &Path) {
    std::fs::write(dir.join("first-attempt-1"), "").unwrap();
}
