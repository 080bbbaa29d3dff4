//! A pytest stage's JUnit report, written by xtask from the report log: pytest's own
//! `--junitxml` writes a test that ran again as two cases and says nothing of its reruns,
//! while this one writes each test once, with a `flakyFailure` for each failed attempt of a
//! test that passed in the end and a `rerunFailure` for each earlier attempt of one that
//! failed, as nextest does.

use anyhow::{Context, Result};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use crate::adapters::pytest_events::{Outcome, PytestRun, Timed};

/// The report of `run`, a stage called `stage` (`unit`, `integration`, `e2e`).
pub fn report(stage: &str, run: &PytestRun) -> Report {
    let mut suite = TestSuite::new(format!("pytest {stage}"));
    for test in &run.finished {
        suite.add_test_case(case(test));
    }
    let mut report = Report::new(format!("pytest {stage}"));
    report.add_test_suite(suite);
    report
}

/// The report of `run` as XML.
pub fn xml(stage: &str, run: &PytestRun) -> Result<String> {
    report(stage, run)
        .to_string()
        .context("cannot write pytest's JUnit report")
}

/// `tests/test_a.py::TestX::test_y[1]` as pytest's JUnit names it: class
/// `tests.test_a.TestX`, name `test_y[1]`.
fn case(test: &Timed) -> TestCase {
    let mut parts: Vec<&str> = test.nodeid.split("::").collect();
    let name = parts.pop().unwrap_or_default();
    let module = parts
        .first()
        .map(|file| file.trim_end_matches(".py").replace('/', "."));
    let classname: Vec<String> = module
        .into_iter()
        .chain(parts.iter().skip(1).map(|part| (*part).to_owned()))
        .collect();
    let mut status = match test.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed => TestCaseStatus::non_success(NonSuccessKind::Failure),
        Outcome::Skipped => TestCaseStatus::skipped(),
    };
    if let (Some(message), Outcome::Failed | Outcome::Skipped) = (&test.message, test.outcome) {
        status.set_message(message.as_str());
    }
    status.add_reruns(test.reruns.iter().map(|message| {
        let mut rerun = TestRerun::new(NonSuccessKind::Failure);
        rerun.set_message(message.as_str());
        rerun
    }));
    let mut case = TestCase::new(name, status);
    case.set_classname(classname.join("."));
    case.set_time(test.duration);
    case
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn timed(nodeid: &str, outcome: Outcome, reruns: &[&str]) -> Timed {
        Timed {
            nodeid: nodeid.to_owned(),
            duration: Duration::from_millis(1500),
            slow: false,
            outcome,
            message: (outcome != Outcome::Passed).then(|| "AssertionError: no".to_owned()),
            reruns: reruns.iter().map(|r| (*r).to_owned()).collect(),
            report: None,
        }
    }

    #[test]
    fn each_test_once_with_its_failed_attempts() {
        let mut run = PytestRun::default();
        run.finished = vec![
            timed("tests/test_a.py::test_ok", Outcome::Passed, &[]),
            timed(
                "tests/test_a.py::TestX::test_flaky[1]",
                Outcome::Passed,
                &["first <try>"],
            ),
            timed(
                "tests/test_b.py::test_bad",
                Outcome::Failed,
                &["one", "two"],
            ),
            timed("tests/test_b.py::test_skip", Outcome::Skipped, &[]),
        ];
        let xml = xml("unit", &run).unwrap();
        assert!(
            xml.contains(r#"tests="4" skipped="1" failures="1""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="test_flaky[1]" classname="tests.test_a.TestX" time="1.500""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<flakyFailure message="first &lt;try&gt;""#),
            "{xml}"
        );
        assert_eq!(xml.matches("<rerunFailure").count(), 2, "{xml}");
        assert!(
            xml.contains(r#"<failure message="AssertionError: no""#),
            "{xml}"
        );
        // What `junit-merge` and the history read back.
        let back = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!(back.test_suites[0].test_cases.len(), 4);
    }
}
