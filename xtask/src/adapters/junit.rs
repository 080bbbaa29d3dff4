//! The JUnit reports of several `cargo xtask ci --shard K/N` runs, summed into one verdict:
//! what CI's merge job shows after the shard jobs. Each folder of reports is one run: its
//! test reports (nextest's, the doctests', pytest's stages') count the tests, and its
//! `ci.xml` (one case per step) adds a failure for a run whose step failed without a
//! failed test (a compile error, say), as `ci`'s own totals do.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result, ensure};
use camino::{Utf8Path, Utf8PathBuf};
use quick_junit::{Report, TestCaseStatus};

use crate::base::fingerprint;
use crate::engine::events::Counts;

/// The steps' report that `ci` writes beside the test reports.
const STEPS_REPORT: &str = "ci.xml";

/// One run's reports, summed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Run {
    pub tests: Counts,
    /// The steps that failed, by name.
    pub failed_steps: Vec<String>,
}

impl Run {
    /// Its counts for the totals: its failed tests, or one per failed step when no test
    /// failed, so that a failed run never adds `0 failed`.
    pub fn counts(&self) -> Counts {
        let failed = self.tests.failed.max(self.failed_steps.len() as u64);
        Counts {
            failed,
            ..self.tests
        }
    }
}

/// The reports under `dirs`, one run per folder that holds reports.
pub fn read_runs(dirs: &[Utf8PathBuf]) -> Result<BTreeMap<Utf8PathBuf, Run>> {
    let mut files = Vec::new();
    for dir in dirs {
        ensure!(
            dir.is_dir(),
            "{dir} is not a folder: name the folders the shards' JUnit reports were downloaded to"
        );
        fingerprint::files_under(dir, &|_| false, &mut files)?;
    }
    let mut runs: BTreeMap<Utf8PathBuf, Run> = BTreeMap::new();
    for file in files.iter().filter(|f| f.extension() == Some("xml")) {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
        let report = Report::deserialize_from_str(&text)
            .with_context(|| format!("{file} is not a JUnit report"))?;
        let folder = file.parent().unwrap_or(Utf8Path::new(".")).to_owned();
        let run = runs.entry(folder).or_default();
        if file.file_name() == Some(STEPS_REPORT) {
            run.failed_steps.extend(failed_steps(&report));
        } else {
            run.tests = run.tests + count(&report);
        }
    }
    ensure!(
        !runs.is_empty(),
        "no JUnit report (*.xml) under {}: did the shard jobs upload theirs?",
        dirs.iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(runs)
}

/// Every test case of a report, by how it ended.
fn count(report: &Report) -> Counts {
    let cases = report.test_suites.iter().flat_map(|s| &s.test_cases);
    let mut counts = Counts::default();
    for case in cases {
        match case.status {
            TestCaseStatus::Success { .. } => counts.passed += 1,
            TestCaseStatus::NonSuccess { .. } => counts.failed += 1,
            TestCaseStatus::Skipped { .. } => counts.skipped += 1,
        }
    }
    counts
}

fn failed_steps(report: &Report) -> Vec<String> {
    let cases = report.test_suites.iter().flat_map(|s| &s.test_cases);
    let failed = cases.filter(|c| matches!(c.status, TestCaseStatus::NonSuccess { .. }));
    failed.map(|c| c.name.to_string()).collect()
}

/// The sum of every run.
pub fn totals(runs: &BTreeMap<Utf8PathBuf, Run>) -> Counts {
    runs.values()
        .map(Run::counts)
        .fold(Counts::default(), |a, b| a + b)
}

/// A Markdown table of the runs and the totals line, for the GitHub step summary.
pub fn markdown(runs: &BTreeMap<Utf8PathBuf, Run>) -> String {
    format!("{}\n{}\n", table(runs), totals(runs).line("ci"))
}

/// A Markdown table of the runs, a row each.
pub fn table(runs: &BTreeMap<Utf8PathBuf, Run>) -> String {
    let mut text = String::from("| run | passed | failed | skipped | failed steps |\n");
    text.push_str("| --- | ---: | ---: | ---: | --- |\n");
    for (folder, run) in runs {
        let c = run.counts();
        let _ = writeln!(
            text,
            "| `{folder}` | {} | {} | {} | {} |",
            c.passed,
            c.failed,
            c.skipped,
            run.failed_steps.join(", ")
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEXTEST: &str = include_str!("../../tests/fixtures/nextest/junit-0.9.148.xml");
    const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="0" skipped="1" tests="3" time="0.1"><testcase classname="tests.test_a" name="test_x" time="0.01" /><testcase classname="tests.test_a" name="test_y" time="0.01"><skipped type="pytest.skip" message="no">no</skipped></testcase><testcase classname="tests.test_a" name="test_z" time="0.01" /></testsuite></testsuites>"#;

    fn steps(failed: &[&str]) -> String {
        let mut suite = quick_junit::TestSuite::new("cargo xtask ci");
        for name in ["rust build", "rust tests"] {
            let status = if failed.contains(&name) {
                TestCaseStatus::non_success(quick_junit::NonSuccessKind::Failure)
            } else {
                TestCaseStatus::success()
            };
            suite.add_test_case(quick_junit::TestCase::new(name, status));
        }
        let mut report = Report::new("cargo xtask ci");
        report.add_test_suite(suite);
        report.to_string().unwrap()
    }

    #[test]
    fn shards_add_up_and_a_failed_step_counts_once() {
        let (_guard, dir) = crate::base::paths::test_dir();
        let write = |path: &str, text: &str| {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        // Shard 1: a failed test (nextest's fixture), its step failed too: one failure.
        write("a/junit-shard-1/nextest-ci.xml", NEXTEST);
        write("a/junit-shard-1/ci.xml", &steps(&["rust tests"]));
        // Shard 2: pytest passed, the build step failed without a failed test.
        write("b/junit-shard-2/pytest-unit.xml", PYTEST);
        write("b/junit-shard-2/ci.xml", &steps(&["rust build"]));
        write("b/junit-shard-2/notes.txt", "not a report");
        let runs = read_runs(&[dir.join("a"), dir.join("b")]).unwrap();
        assert_eq!(runs.len(), 2, "{runs:?}");
        let expected = Counts {
            passed: 2 + 2,
            failed: 1 + 1,
            skipped: 1,
        };
        assert_eq!(totals(&runs), expected);
        let summary = markdown(&runs);
        assert!(
            summary.ends_with("ci: 4 passed, 2 failed, 1 skipped\n"),
            "{summary}"
        );
        assert!(summary.contains("| 2 | 1 | 1 | rust build |"), "{summary}");
    }

    #[test]
    fn no_reports_or_a_bad_one_is_an_error() {
        let (_guard, dir) = crate::base::paths::test_dir();
        let error = read_runs(std::slice::from_ref(&dir)).unwrap_err();
        assert!(
            format!("{error:#}").contains("no JUnit report"),
            "{error:#}"
        );
        std::fs::write(dir.join("x.xml"), "<testsuites><oops").unwrap();
        let error = read_runs(std::slice::from_ref(&dir)).unwrap_err();
        assert!(
            format!("{error:#}").contains("is not a JUnit report"),
            "{error:#}"
        );
        let missing = dir.join("missing");
        assert!(read_runs(&[missing]).is_err());
    }
}
