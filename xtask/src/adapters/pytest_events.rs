//! pytest's event stream, read as it grows: the JSON lines that pytest-reportlog writes
//! (`--report-log`), one per collection and per test phase. From them come the counts,
//! the test that runs now, every test's time and outcome, the outliers against a stage's
//! budget, the README lines of the README tests that failed, and the attempts of a test
//! that pytest-rerunfailures ran again (a failed attempt's phase says `rerun`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::base::tail::Lines;
use crate::engine::events::{Case, Counts, TestEnded, TestOutcome};

/// One finished test: its time over all phases (of its last attempt), whether it is
/// marked `slow`, how it ended, and its attempts that failed before the last.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    pub nodeid: String,
    pub duration: Duration,
    pub slow: bool,
    pub outcome: Outcome,
    /// Why the last attempt failed or was skipped (pytest's crash line), if it did.
    pub message: Option<String>,
    /// Why each earlier attempt failed, in order: a test that passed after any is flaky.
    pub reruns: Vec<String>,
    /// pytest's whole report of its first failed phase (traceback, captured output, the
    /// server's log), rendered from the report log's `longrepr` and `sections`.
    pub report: Option<String>,
}

impl Timed {
    /// Failed, then passed on a retry.
    pub fn is_flaky(&self) -> bool {
        self.outcome == Outcome::Passed && !self.reruns.is_empty()
    }

    /// How many times it ran.
    pub fn attempts(&self) -> usize {
        self.reruns.len() + 1
    }

    /// Its end as a step tells it: named `PREFIX/NODEID` (from the repository root), in
    /// the JUnit suite `suite`, its class as pytest's own JUnit names it
    /// (`tests/test_a.py::TestX::test_y[1]`: class `tests.test_a.TestX`, name `test_y[1]`).
    /// A Python lane's run of it is a test of its own: the lane follows its name and leads
    /// its class.
    pub fn ended(&self, prefix: &str, suite: &str, lane: Option<&str>) -> TestEnded {
        let outcome = match self.outcome {
            Outcome::Passed if self.is_flaky() => TestOutcome::Flaky,
            Outcome::Passed => TestOutcome::Passed,
            Outcome::Failed => TestOutcome::Failed,
            Outcome::Skipped => TestOutcome::Skipped,
        };
        let mut parts: Vec<&str> = self.nodeid.split("::").collect();
        let name = parts.pop().unwrap_or_default();
        let module = parts
            .first()
            .map(|file| file.trim_end_matches(".py").replace('/', "."));
        let classes = parts.iter().skip(1).map(|part| (*part).to_owned());
        let class: Vec<String> = lane
            .map(str::to_owned)
            .into_iter()
            .chain(module)
            .chain(classes)
            .collect();
        TestEnded {
            test: match lane {
                Some(lane) => format!("{prefix}/{} ({lane})", self.nodeid),
                None => format!("{prefix}/{}", self.nodeid),
            },
            outcome,
            duration: self.duration,
            attempt: self.attempts(),
            case: Case {
                suite: suite.to_owned(),
                class: class.join("."),
                name: name.to_owned(),
                message: self.message.clone(),
                output: self.report.clone(),
                failed_attempts: self.reruns.clone(),
            },
        }
    }
}

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// A failed README test: the generated tests record where they are (`readme_block`) and
/// where they failed (`readme_failure`) as pytest user properties, which the report log
/// carries, so that `ci` can point at the README line without reading the README again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadmeFailure {
    /// The pytest test name, such as `test_readme_block_3_quick_start`.
    pub test: String,
    /// The README, as the generated file names it.
    pub readme: String,
    pub line: usize,
}

/// `README:LINE: README example failed (TEST)`, as `ci` and `watch` show it.
impl std::fmt::Display for ReadmeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (readme, line, test) = (&self.readme, self.line, &self.test);
        write!(f, "{readme}:{line}: README example failed ({test})")
    }
}

/// The state of a pytest run, fed its report log in pieces.
#[derive(Debug, Default)]
pub struct PytestRun {
    pub counts: Counts,
    /// The README tests that failed, in the order they failed.
    pub readme_failures: Vec<ReadmeFailure>,
    /// The node ids of the tests that failed, in the order they failed.
    pub failed: Vec<String>,
    /// The test between its setup and its teardown.
    pub running: Option<String>,
    /// Finished tests, in the order they finished.
    pub finished: Vec<Timed>,
    /// The modules that could not be collected, with pytest's report of why.
    pub collect_errors: Vec<(String, String)>,
    /// Phases seen so far of the tests that have not finished.
    open: BTreeMap<String, Phases>,
    lines: Lines,
}

#[derive(Debug, Default)]
struct Phases {
    duration: Duration,
    failed: bool,
    skipped: bool,
    /// The first failure's or skip's crash line.
    message: Option<String>,
    /// The first failure's whole report.
    report: Option<String>,
    /// Set by a phase of this attempt that failed and will run again.
    rerun: Option<String>,
    /// The earlier attempts' failures.
    reruns: Vec<String>,
    /// Where it failed, for a README test.
    readme: Option<ReadmeFailure>,
}

impl PytestRun {
    /// Takes the next piece of the log; a line cut in two waits for its end. Lines that are
    /// not JSON, or reports of a kind it does not know, are ignored, as reportlog asks.
    pub fn feed(&mut self, bytes: &[u8]) {
        for line in self.lines.push(bytes) {
            if let Ok(event) = serde_json::from_str::<Value>(&line) {
                self.event(&event);
            }
        }
    }

    fn event(&mut self, event: &Value) {
        let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or_default();
        match text("$report_type") {
            // A module that cannot be imported: an error that counts as a failure, named by
            // its file's node id (rerun, it fails again until it imports).
            "CollectReport" if text("outcome") == "failed" => {
                self.counts.failed += 1;
                self.failed.push(text("nodeid").to_owned());
                let report = failure_report(event);
                self.collect_errors
                    .push((text("nodeid").to_owned(), report));
            }
            "TestReport" => self.phase(event, text("nodeid"), text("when"), text("outcome")),
            _ => {}
        }
    }

    fn phase(&mut self, event: &Value, nodeid: &str, when: &str, outcome: &str) {
        let seconds = event.get("duration").and_then(Value::as_f64).unwrap_or(0.0);
        let phases = self.open.entry(nodeid.to_owned()).or_default();
        phases.duration += Duration::try_from_secs_f64(seconds).unwrap_or_default();
        if matches!(outcome, "failed" | "skipped" | "rerun") && phases.message.is_none() {
            phases.message = Some(crash_line(event));
        }
        if outcome == "rerun" {
            phases.rerun = phases.message.take();
        }
        if outcome == "failed" && phases.report.is_none() {
            phases.report = Some(failure_report(event));
        }
        phases.failed |= outcome == "failed";
        if outcome == "failed" && phases.readme.is_none() {
            phases.readme = readme_failure(event, nodeid);
        }
        phases.skipped |= outcome == "skipped";
        match when {
            "setup" => self.running = Some(nodeid.to_owned()),
            // A failed attempt that runs again: the test goes on, its time starts over.
            "teardown" if phases.rerun.is_some() => {
                let failure = phases.rerun.take().unwrap_or_default();
                let reruns = std::mem::take(&mut phases.reruns);
                *phases = Phases::default();
                phases.reruns = reruns;
                phases.reruns.push(failure);
            }
            "teardown" => self.finish(nodeid, is_marked(event, "slow")),
            _ => {}
        }
    }

    fn finish(&mut self, nodeid: &str, slow: bool) {
        let phases = self.open.remove(nodeid).unwrap_or_default();
        let outcome = if phases.failed {
            self.counts.failed += 1;
            self.failed.push(nodeid.to_owned());
            self.readme_failures.extend(phases.readme);
            Outcome::Failed
        } else if phases.skipped {
            self.counts.skipped += 1;
            Outcome::Skipped
        } else {
            self.counts.passed += 1;
            Outcome::Passed
        };
        if self.running.as_deref() == Some(nodeid) {
            self.running = None;
        }
        self.finished.push(Timed {
            nodeid: nodeid.to_owned(),
            duration: phases.duration,
            slow,
            outcome,
            message: phases.message,
            reruns: phases.reruns,
            report: phases.report,
        });
    }

    /// The tests that failed, then passed on a retry.
    pub fn flaky(&self) -> impl Iterator<Item = &Timed> {
        self.finished.iter().filter(|test| test.is_flaky())
    }

    /// The `n` slowest finished tests, slowest first.
    pub fn slowest(&self, n: usize) -> Vec<Timed> {
        let mut tests = self.finished.clone();
        tests.sort_by_key(|test| std::cmp::Reverse(test.duration));
        tests.truncate(n);
        tests
    }

    /// The tests over `budget` that are not marked `slow`.
    pub fn outliers(&self, budget: Duration) -> Vec<Timed> {
        self.finished
            .iter()
            .filter(|test| !test.slow && test.duration > budget)
            .cloned()
            .collect()
    }
}

/// Where a failed README test failed: its `readme_failure` property, else its block's.
fn readme_failure(event: &Value, nodeid: &str) -> Option<ReadmeFailure> {
    let properties = event.get("user_properties")?.as_array()?;
    let property = |name: &str| {
        properties
            .iter()
            .find_map(|pair| match pair.as_array()?.as_slice() {
                [key, value] if key == name => value.as_str(),
                _ => None,
            })
    };
    let place = property("readme_failure").or_else(|| property("readme_block"))?;
    let (readme, line) = place.rsplit_once(':')?;
    Some(ReadmeFailure {
        test: nodeid.rsplit("::").next().unwrap_or(nodeid).to_owned(),
        readme: readme.to_owned(),
        line: line.parse().ok()?,
    })
}

/// pytest's one line on why a phase failed or skipped: the crash's message (`longrepr`'s
/// `reprcrash`), a skip's reason, or the first line of a plain-text report.
fn crash_line(event: &Value) -> String {
    let longrepr = event.get("longrepr");
    let crash = longrepr.and_then(|l| l.pointer("/reprcrash/message"));
    let text = match (crash.and_then(Value::as_str), longrepr) {
        (Some(message), _) => message.to_owned(),
        // A skip: `[path, line, reason]`.
        (None, Some(Value::Array(parts))) => parts
            .last()
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        (None, Some(Value::String(text))) => text.clone(),
        _ => String::new(),
    };
    let first = text
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    first.trim().to_owned()
}

/// pytest's report of a failed phase as its terminal shows it under FAILURES: each
/// traceback entry's lines and place (of each exception of a chain), then the captured
/// sections (output, logs, the server's log that conftest.py adds).
fn failure_report(event: &Value) -> String {
    let mut parts = Vec::new();
    match event.get("longrepr") {
        Some(Value::String(text)) => parts.push(text.trim_end().to_owned()),
        Some(longrepr @ Value::Object(_)) => {
            let chain = longrepr.get("chain").and_then(Value::as_array);
            match chain {
                Some(chain) => {
                    for link in chain {
                        let link = link.as_array().map(Vec::as_slice).unwrap_or_default();
                        if let Some(traceback) = link.first() {
                            parts.push(traceback_text(traceback));
                        }
                        if let Some(description) = link.get(2).and_then(Value::as_str) {
                            parts.push(description.to_owned());
                        }
                    }
                }
                None => parts.extend(longrepr.get("reprtraceback").map(traceback_text)),
            }
        }
        _ => {}
    }
    let sections = event.get("sections").and_then(Value::as_array);
    for section in sections.into_iter().flatten() {
        if let Some([title, content]) = section.as_array().map(Vec::as_slice) {
            let (title, content) = (title.as_str(), content.as_str());
            let (Some(title), Some(content)) = (title, content) else {
                continue;
            };
            parts.push(format!("----- {title} -----\n{}", content.trim_end()));
        }
    }
    parts.retain(|part| !part.is_empty());
    parts.join("\n")
}

/// One traceback of a `longrepr`: its entries' lines, each followed by its place.
fn traceback_text(traceback: &Value) -> String {
    let entries = traceback.get("reprentries").and_then(Value::as_array);
    let mut text = Vec::new();
    for entry in entries.into_iter().flatten() {
        let data = entry.get("data").unwrap_or(entry);
        let lines = data.get("lines").and_then(Value::as_array);
        text.extend(
            lines
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned),
        );
        if let Some(place) = data.get("reprfileloc").filter(|place| !place.is_null()) {
            let field = |name: &str| {
                place
                    .get(name)
                    .map(|v| v.to_string().trim_matches('"').to_owned())
            };
            let (path, line, message) = (field("path"), field("lineno"), field("message"));
            text.push(format!(
                "{}:{}: {}",
                path.unwrap_or_default(),
                line.unwrap_or_default(),
                message.unwrap_or_default()
            ));
        }
    }
    text.join("\n")
}

/// The reports of the first failed tests of `run`, each under a pytest-like title, at most
/// `max_lines` lines in all (the head and the tail when longer); `None` if none failed with
/// a report (a failure outside any test: pytest's own, a collection error).
pub fn failure_reports(run: &PytestRun, max_lines: usize) -> Option<String> {
    let failed = run.finished.iter().filter(|t| t.outcome == Outcome::Failed);
    let failed = failed.filter_map(|test| Some((&test.nodeid, test.report.as_ref()?)));
    let collect_errors = run
        .collect_errors
        .iter()
        .map(|(nodeid, report)| (nodeid, report));
    let reports: Vec<String> = collect_errors
        .chain(failed)
        .take(3)
        .map(|(nodeid, report)| format!("_____ {nodeid} _____\n{report}"))
        .collect();
    if reports.is_empty() {
        return None;
    }
    let text = reports.join("\n");
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max_lines {
        return Some(text);
    }
    let tail = max_lines / 3;
    let head = max_lines - tail;
    let left_out = lines.len() - max_lines;
    Some(format!(
        "{}\n... ({left_out} lines left out; the step's log has them all)\n{}",
        lines[..head].join("\n"),
        lines[lines.len() - tail..].join("\n")
    ))
}

/// Whether the test carries a marker (pytest lists markers among its keywords).
fn is_marked(event: &Value, marker: &str) -> bool {
    event
        .get("keywords")
        .and_then(Value::as_object)
        .is_some_and(|keywords| keywords.contains_key(marker))
}

/// pytest's own account of what failed, from its terminal output: the FAILURES and ERRORS
/// sections (assertion, traceback, captured server log) and the short test summary, up to
/// `max_lines` (the head and the tail when longer). `None` when it has no such section.
pub fn failure_excerpt(output: &str, max_lines: usize) -> Option<String> {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines.iter().position(|line| {
        let title = line.trim_matches(|c| c == '=' || c == ' ');
        line.starts_with('=') && matches!(title, "FAILURES" | "ERRORS" | "short test summary info")
    })?;
    let shown = &lines[start..];
    if shown.len() <= max_lines {
        return Some(shown.join("\n"));
    }
    let tail = max_lines / 3;
    let head = max_lines - tail;
    let left_out = shown.len() - max_lines;
    Some(format!(
        "{}\n... ({left_out} lines left out; the step's log has them all)\n{}",
        shown[..head].join("\n"),
        shown[shown.len() - tail..].join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(nodeid: &str, when: &str, outcome: &str, duration: f64, marks: &[&str]) -> String {
        let keywords: serde_json::Map<String, Value> = marks
            .iter()
            .map(|m| ((*m).to_owned(), Value::from(1)))
            .collect();
        serde_json::json!({
            "$report_type": "TestReport", "nodeid": nodeid, "when": when,
            "outcome": outcome, "duration": duration, "keywords": keywords,
            "longrepr": null, "sections": [],
        })
        .to_string()
            + "\n"
    }

    fn test(nodeid: &str, outcomes: [&str; 3], seconds: f64, marks: &[&str]) -> String {
        ["setup", "call", "teardown"]
            .iter()
            .zip(outcomes)
            .map(|(when, outcome)| report(nodeid, when, outcome, seconds / 3.0, marks))
            .collect()
    }

    #[test]
    fn failing_readme_tests_name_their_readme_line() {
        let with_properties = |nodeid: &str, when: &str, outcome: &str, properties: Value| {
            let mut event: Value =
                serde_json::from_str(&report(nodeid, when, outcome, 0.1, &[])).unwrap();
            event["user_properties"] = properties;
            event.to_string() + "\n"
        };
        let block = |place: &str| serde_json::json!([["readme_block", place]]);
        let failure = serde_json::json!([
            ["readme_block", "docs/A & B.md:10"],
            ["readme_failure", "docs/A & B.md:14"]
        ]);
        let log = [
            with_properties(
                "t.py::test_readme_block_1",
                "call",
                "passed",
                block("README.md:3"),
            ),
            with_properties(
                "t.py::test_readme_block_1",
                "teardown",
                "passed",
                block("README.md:3"),
            ),
            with_properties(
                "t.py::test_readme_block_2_quick_start",
                "call",
                "failed",
                failure.clone(),
            ),
            with_properties(
                "t.py::test_readme_block_2_quick_start",
                "teardown",
                "failed",
                failure,
            ),
            // XPASS(strict): the block passed though it should not.
            with_properties(
                "t.py::test_readme_block_3",
                "call",
                "failed",
                block("README.md:20"),
            ),
            with_properties(
                "t.py::test_readme_block_3",
                "teardown",
                "passed",
                block("README.md:20"),
            ),
            test("t.py::test_other", ["passed", "failed", "passed"], 0.1, &[]),
        ]
        .concat();
        let mut run = PytestRun::default();
        run.feed(log.as_bytes());
        assert_eq!(
            run.readme_failures,
            [
                ReadmeFailure {
                    test: "test_readme_block_2_quick_start".into(),
                    readme: "docs/A & B.md".into(),
                    line: 14
                },
                ReadmeFailure {
                    test: "test_readme_block_3".into(),
                    readme: "README.md".into(),
                    line: 20
                },
            ]
        );
    }

    #[test]
    fn counts_and_times_come_from_the_phases() {
        let log = [
            "{\"pytest_version\": \"9.2.0\", \"$report_type\": \"SessionStart\"}\n".to_owned(),
            test("t.py::ok", ["passed", "passed", "passed"], 0.3, &["unit"]),
            test("t.py::bad", ["passed", "failed", "passed"], 1.5, &["unit"]),
            report("t.py::skipped", "setup", "skipped", 0.0, &["skip"]),
            report("t.py::skipped", "teardown", "passed", 0.0, &["skip"]),
            test("t.py::teardown", ["passed", "passed", "failed"], 0.1, &[]),
            test("t.py::slow", ["passed", "passed", "passed"], 7.5, &["slow"]),
            "{\"exitstatus\": 1, \"$report_type\": \"SessionFinish\"}\n".to_owned(),
        ]
        .concat();
        let mut run = PytestRun::default();
        for chunk in log.as_bytes().chunks(11) {
            run.feed(chunk);
        }
        assert_eq!(
            run.counts,
            Counts {
                passed: 2,
                failed: 2,
                skipped: 1
            }
        );
        assert_eq!(run.running, None);
        let slowest: Vec<_> = run.slowest(2).into_iter().map(|t| t.nodeid).collect();
        assert_eq!(slowest, ["t.py::slow", "t.py::bad"]);
        let outliers: Vec<_> = run.outliers(Duration::from_secs(1));
        assert_eq!(outliers.len(), 1, "slow-marked tests have no budget");
        assert_eq!(outliers[0].nodeid, "t.py::bad");
        assert!((outliers[0].duration.as_secs_f64() - 1.5).abs() < 1e-6);
    }

    /// pytest-rerunfailures' report log: each attempt has its three phases; a failed attempt
    /// that runs again says `rerun` instead of `failed`.
    #[test]
    fn a_test_run_again_is_one_test_flaky_if_it_passed_in_the_end() {
        let rerun = |nodeid: &str| {
            let crash = serde_json::json!({
                "$report_type": "TestReport", "nodeid": nodeid, "when": "call",
                "outcome": "rerun", "duration": 0.5,
                "longrepr": {"reprcrash": {"path": "t.py", "lineno": 3,
                    "message": "AssertionError: demo failure\nassert 1 > 1"}},
            });
            report(nodeid, "setup", "passed", 0.0, &[])
                + &crash.to_string()
                + "\n"
                + &report(nodeid, "teardown", "passed", 0.0, &[])
        };
        let mut run = PytestRun::default();
        run.feed(rerun("t.py::flaky").as_bytes());
        assert_eq!(
            run.counts,
            Counts::default(),
            "an attempt that runs again is not an end"
        );
        assert_eq!(run.running.as_deref(), Some("t.py::flaky"));
        run.feed(test("t.py::flaky", ["passed"; 3], 0.3, &[]).as_bytes());
        run.feed((rerun("t.py::bad") + &rerun("t.py::bad")).as_bytes());
        run.feed(test("t.py::bad", ["passed", "failed", "passed"], 0.3, &[]).as_bytes());
        assert_eq!((run.counts.passed, run.counts.failed), (1, 1));
        let flaky: Vec<&Timed> = run.flaky().collect();
        let [flaky] = flaky.as_slice() else {
            panic!("{flaky:?}")
        };
        assert_eq!(flaky.nodeid, "t.py::flaky");
        assert_eq!(flaky.reruns, ["AssertionError: demo failure"]);
        assert_eq!(
            (flaky.attempts(), flaky.duration),
            (2, Duration::from_millis(300))
        );
        let bad = &run.finished[1];
        assert_eq!(
            (bad.outcome, bad.attempts(), bad.is_flaky()),
            (Outcome::Failed, 3, false)
        );
        assert_eq!(run.failed, ["t.py::bad"]);
    }

    #[test]
    fn an_interrupted_run_shows_the_running_test() {
        let mut run = PytestRun::default();
        run.feed(test("t.py::done", ["passed"; 3], 0.1, &[]).as_bytes());
        run.feed(report("t.py::hangs", "setup", "passed", 0.1, &[]).as_bytes());
        run.feed(b"{\"$report_type\": \"TestRep");
        assert_eq!(run.running.as_deref(), Some("t.py::hangs"));
        assert_eq!(run.counts.passed, 1);
        assert_eq!(run.finished.len(), 1);
    }

    #[test]
    fn a_collection_error_is_a_failure_and_noise_is_ignored() {
        let mut run = PytestRun::default();
        run.feed(b"not json\n{\"$report_type\": \"CollectReport\", \"outcome\": \"failed\", \"nodeid\": \"tests/test_x.py\"}\n{\"$report_type\": \"Warning\"}\n");
        assert_eq!(run.counts.failed, 1);
        assert_eq!(run.failed, ["tests/test_x.py"]);
    }

    /// Recorded from pytest 9.2.0 with pytest-reportlog: a passing and a failing test
    /// that prints.
    const RECORDED: &str = include_str!("../../tests/fixtures/pytest/reportlog-9.2.0.jsonl");

    #[test]
    fn a_failed_tests_report_comes_from_the_report_log() {
        let mut run = PytestRun::default();
        run.feed(RECORDED.as_bytes());
        assert_eq!((run.counts.passed, run.counts.failed), (1, 1));
        let reports = failure_reports(&run, 100).unwrap();
        assert_eq!(
            reports,
            "_____ test_demo.py::test_fails _____\n\
             \x20   def test_fails():\n\
             \x20       print(\"some output\")\n\
             \x20       value = helper(2)\n\
             >       assert value == 4, \"helper is off by one\"\n\
             E       AssertionError: helper is off by one\n\
             E       assert 3 == 4\n\
             test_demo.py:12: AssertionError\n\
             ----- Captured stdout call -----\n\
             some output"
        );
        let short = failure_reports(&run, 6).unwrap();
        assert_eq!(short.lines().count(), 7, "{short}");
        assert!(short.contains("lines left out"), "{short}");
        let mut passed = PytestRun::default();
        passed.feed(test("t.py::ok", ["passed"; 3], 0.1, &[]).as_bytes());
        assert_eq!(failure_reports(&passed, 100), None);
    }

    /// The JUnit report of a stage, from its tests' ends: each test once, with its failed
    /// attempts; a lane's tests with the lane before their class.
    #[test]
    fn each_test_once_with_its_failed_attempts_and_its_lane() {
        let timed = |nodeid: &str, outcome: Outcome, reruns: &[&str]| Timed {
            nodeid: nodeid.to_owned(),
            duration: Duration::from_millis(1500),
            slow: false,
            outcome,
            message: (outcome != Outcome::Passed).then(|| "AssertionError: no".to_owned()),
            reruns: reruns.iter().map(|r| (*r).to_owned()).collect(),
            report: None,
        };
        let tests = [
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
        let ended: Vec<TestEnded> = tests
            .iter()
            .map(|t| t.ended("b", "pytest unit", None))
            .collect();
        assert_eq!(ended[1].outcome, TestOutcome::Flaky);
        assert_eq!(ended[1].test, "b/tests/test_a.py::TestX::test_flaky[1]");
        let xml = crate::engine::junit::report("pytest unit", &ended)
            .to_string()
            .unwrap();
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
        let lane = tests[0].ended("b", "pytest unit (py3.12)", Some("py3.12"));
        assert_eq!(lane.test, "b/tests/test_a.py::test_ok (py3.12)");
        assert_eq!(lane.case.class, "py3.12.tests.test_a");
        assert_eq!(lane.case.suite, "pytest unit (py3.12)");
    }

    #[test]
    fn a_collection_errors_report_is_shown_too() {
        let mut run = PytestRun::default();
        run.feed(b"{\"$report_type\": \"CollectReport\", \"outcome\": \"failed\", \"nodeid\": \"tests/test_x.py\", \"longrepr\": \"ImportError while importing test module\"}\n");
        assert_eq!(
            failure_reports(&run, 100).unwrap(),
            "_____ tests/test_x.py _____\nImportError while importing test module"
        );
    }

    #[test]
    fn the_failure_excerpt_is_pytests_own() {
        let output = "collected 3 items\n\ntests/test_a.py .F.\n\n\
            =================================== FAILURES ===================================\n\
            ___________________________________ test_b ____________________________________\n\
            \n    def test_b():\n>       assert 1 == 2\nE       assert 1 == 2\n\n\
            tests/test_a.py:5: AssertionError\n\
            =========================== short test summary info ============================\n\
            FAILED tests/test_a.py::test_b - assert 1 == 2\n\
            ========================= 1 failed, 2 passed in 0.05s =========================\n";
        let excerpt = failure_excerpt(output, 100).unwrap();
        assert!(excerpt.starts_with("=================================== FAILURES"));
        assert!(excerpt.contains("E       assert 1 == 2"));
        assert!(excerpt.ends_with("1 failed, 2 passed in 0.05s ========================="));
        assert!(!excerpt.contains("collected 3 items"));
        let short = failure_excerpt(output, 6).unwrap();
        assert_eq!(short.lines().count(), 7, "{short}");
        assert!(short.contains("lines left out"));
        assert_eq!(failure_excerpt("4 passed in 0.1s", 100), None);
    }
}
