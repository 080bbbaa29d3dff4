//! The one JUnit writer: every report of a run (the Rust tests', the doctests', each pytest
//! stage's, the steps') is written here from the tests' ends that the steps told
//! ([`TestEnded`]), as nextest's aggregator writes its report from its runner's events. No
//! report is copied from a tool or read back: a test that ran again is one case with its
//! failed attempts (`flakyFailure`, `rerunFailure`).

use anyhow::{Context, Result};
use camino::Utf8Path;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use crate::engine::events::{TestEnded, TestOutcome};

/// The report `name` of `tests`, a suite for each of their suites, in the order first seen.
pub fn report(name: &str, tests: &[TestEnded]) -> Report {
    let mut suites: Vec<TestSuite> = Vec::new();
    for test in tests {
        let suite = match suites
            .iter()
            .position(|s| s.name.as_str() == test.case.suite)
        {
            Some(at) => &mut suites[at],
            None => {
                suites.push(TestSuite::new(test.case.suite.as_str()));
                suites.last_mut().expect("just pushed")
            }
        };
        suite.add_test_case(case(test));
    }
    let mut report = Report::new(name);
    report.add_test_suites(suites);
    report
}

/// Writes [`report`] to `path`.
pub fn write(path: &Utf8Path, name: &str, tests: &[TestEnded]) -> Result<()> {
    let xml = report(name, tests)
        .to_string()
        .with_context(|| format!("cannot write the JUnit report {path}"))?;
    std::fs::write(path, xml).with_context(|| format!("cannot write {path}"))
}

fn case(test: &TestEnded) -> TestCase {
    let case = &test.case;
    let mut status = match test.outcome {
        TestOutcome::Passed | TestOutcome::Flaky => TestCaseStatus::success(),
        TestOutcome::Failed => TestCaseStatus::non_success(NonSuccessKind::Failure),
        TestOutcome::Skipped => TestCaseStatus::skipped(),
    };
    if test.outcome != TestOutcome::Passed && test.outcome != TestOutcome::Flaky {
        if let Some(message) = &case.message {
            status.set_message(message.as_str());
        }
    }
    if let (TestOutcome::Failed, Some(output)) = (test.outcome, &case.output) {
        status.set_description(output.as_str());
    }
    status.add_reruns(case.failed_attempts.iter().map(|message| {
        let mut rerun = TestRerun::new(NonSuccessKind::Failure);
        rerun.set_message(message.as_str());
        rerun
    }));
    let mut junit = TestCase::new(case.name.as_str(), status);
    junit.set_classname(case.class.as_str());
    junit.set_time(test.duration);
    junit
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::Case;
    use std::time::Duration;

    fn ended(suite: &str, name: &str, outcome: TestOutcome, failed_attempts: &[&str]) -> TestEnded {
        TestEnded {
            test: format!("{suite} {name}"),
            outcome,
            duration: Duration::from_millis(1500),
            attempt: failed_attempts.len() + 1,
            case: Case {
                suite: suite.to_owned(),
                class: format!("{suite}.class"),
                name: name.to_owned(),
                message: (outcome != TestOutcome::Passed).then(|| "AssertionError: no".to_owned()),
                output: Some("it printed <this>".to_owned()),
                failed_attempts: failed_attempts.iter().map(|r| (*r).to_owned()).collect(),
            },
        }
    }

    #[test]
    fn each_test_once_in_its_suite_with_its_failed_attempts() {
        let tests = [
            ended("a", "test_ok", TestOutcome::Passed, &[]),
            ended("b", "test_flaky[1]", TestOutcome::Flaky, &["first <try>"]),
            ended("a", "test_bad", TestOutcome::Failed, &["one", "two"]),
            ended("a", "test_skip", TestOutcome::Skipped, &[]),
        ];
        let xml = report("run", &tests).to_string().unwrap();
        assert!(
            xml.contains(r#"tests="4" skipped="1" failures="1""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="test_flaky[1]" classname="b.class" time="1.500""#),
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
        assert!(xml.contains("it printed &lt;this&gt;"), "{xml}");
        // What `junit-merge` and the history read back: two suites, `a` first.
        let back = Report::deserialize_from_str(&xml).unwrap();
        let suites: Vec<(&str, usize)> = back
            .test_suites
            .iter()
            .map(|s| (s.name.as_str(), s.test_cases.len()))
            .collect();
        assert_eq!(suites, [("a", 3), ("b", 1)]);
    }
}
