//! One run of the test under stress, through its own runner: nextest for a Rust test, pytest
//! (against a server of the worker's) for a Python one; how it ended is read from the
//! runner's events, not from its prose.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;
use xshell::cmd;

use crate::base::context::StepContext;

use super::tally::Run;
use crate::adapters::nextest::TestId;
use crate::adapters::pytest_events::PytestRun;
use crate::base::process::{Job, Sink};
use crate::base::signals;
use crate::python::pytest_runner::{self, Report, Target};
use crate::server::test_server::Server;

/// The test and how to run it once.
pub enum Subject {
    Rust {
        nextest: Utf8PathBuf,
        id: TestId,
        /// The cargo arguments that build its binary alone, or the archive's (`ci --from`).
        selection: Vec<String>,
    },
    Python {
        nodeid: String,
    },
}

impl Subject {
    /// The test as the report names it.
    pub fn name(&self) -> String {
        match self {
            Subject::Rust { id, .. } => id.to_string(),
            Subject::Python { nodeid } => nodeid.clone(),
        }
    }

    /// Runs the test once, its runner's events and output in `dir` (run `number`'s files);
    /// a failing test is a run that failed, a runner that ran no test an error.
    pub fn run(
        &self,
        sh: &StepContext,
        dir: &Utf8Path,
        number: u32,
        server: Option<&Server>,
    ) -> Result<Run> {
        let events = dir.join(format!("run-{number}.jsonl"));
        let log = dir.join(format!("run-{number}.log"));
        let result = {
            // The run's commands and output go to its own log.
            let sh = &sh.logging_to(&log)?;
            match self {
                Subject::Rust { .. } => self.nextest(sh, &events),
                Subject::Python { nodeid } => pytest(sh, nodeid, &events, server),
            }
        };
        let result = match result {
            Err(error) if signals::is_stop(&error) => return Err(error),
            result => result,
        };
        let events_text = std::fs::read_to_string(&events).unwrap_or_default();
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        let ended = match self {
            Subject::Rust { .. } => rust_ending(&events_text),
            Subject::Python { .. } => python_ending(&events_text, log_text.clone()),
        };
        let Some((passed, duration, output)) = ended else {
            bail!("run {number} ran no test: its log, {log}, says why:\n{log_text}");
        };
        Ok(Run {
            number,
            passed: passed && result.is_ok(),
            duration,
            output,
        })
    }

    /// `cargo nextest run` of the one test, ignored or not, its events into `events`.
    fn nextest(&self, sh: &StepContext, events: &Utf8Path) -> Result<()> {
        let Subject::Rust {
            nextest,
            id,
            selection,
        } = self
        else {
            unreachable!("a Rust test");
        };
        let filter = id.filterset();
        let file =
            std::fs::File::create(events).with_context(|| format!("cannot create {events}"))?;
        Job::new(sh, cmd!(sh,
            "{nextest} nextest run --no-fail-fast --run-ignored=all --message-format=libtest-json-plus {selection...} -E {filter}"
        ))
        .env("NEXTEST_EXPERIMENTAL_LIBTEST_JSON", "1")
        .stdout(Sink::File(file))
        .run()
    }
}

/// pytest on the one node id, its report log into `events`, against `server`.
fn pytest(
    sh: &StepContext,
    nodeid: &str,
    events: &Utf8Path,
    server: Option<&Server>,
) -> Result<()> {
    let args = [
        "-p".to_owned(),
        "no:benchmark".to_owned(),
        // Side by side, the runs must not race on pytest's cache (nor clobber the user's
        // last-failed list).
        "-p".to_owned(),
        "no:cacheprovider".to_owned(),
        format!("--report-log={events}"),
        nodeid.to_owned(),
    ];
    let target = server.map_or(Target::Nothing, Target::Guarded);
    pytest_runner::run(sh, target, &args, &[], Report::WithTheTrace, || Ok(()))
}

/// How nextest's one test ended (passed, its time, its output), from its
/// libtest-json-plus events; `None` when no test ended.
pub fn rust_ending(events: &str) -> Option<(bool, Duration, String)> {
    events.lines().find_map(|line| {
        let event: Value = serde_json::from_str(line).ok()?;
        let field = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or("");
        if field("type") != "test" || !matches!(field("event"), "ok" | "failed") {
            return None;
        }
        let seconds = event
            .get("exec_time")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let duration = Duration::try_from_secs_f64(seconds).unwrap_or_default();
        Some((field("event") == "ok", duration, field("stdout").to_owned()))
    })
}

/// How pytest's one test ended, from its report log; its output is pytest's, `log`.
pub fn python_ending(events: &str, log: String) -> Option<(bool, Duration, String)> {
    let mut run = PytestRun::default();
    run.feed(events.as_bytes());
    // A last line without its newline, of a run cut short, is read too.
    run.feed(b"\n");
    let [test] = run.finished.as_slice() else {
        return None;
    };
    Some((run.counts.failed == 0, test.duration, log))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: &str =
        include_str!("../../../tests/fixtures/nextest/libtest-json-plus-0.9.148.jsonl");

    #[test]
    fn a_rust_run_ends_with_its_first_test() {
        let (passed, duration, output) = rust_ending(EVENTS).unwrap();
        assert!(!passed);
        assert_eq!(duration, Duration::from_nanos(145_276_207));
        assert!(output.contains("left: 2\n right: 3"), "{output}");
        let ok = r#"{"type":"test","event":"ok","name":"a$b","exec_time":0.5}"#;
        assert_eq!(
            rust_ending(ok),
            Some((true, Duration::from_millis(500), String::new()))
        );
        assert_eq!(rust_ending("not json\n{\"type\":\"suite\"}"), None);
    }

    #[test]
    fn a_python_run_ends_with_its_one_test() {
        let report = |when: &str, outcome: &str| {
            format!(
                r#"{{"$report_type":"TestReport","nodeid":"t.py::x","when":"{when}","outcome":"{outcome}","duration":0.25}}"#
            )
        };
        let passed = [
            report("setup", "passed"),
            report("call", "passed"),
            report("teardown", "passed"),
        ];
        let ending = python_ending(&passed.join("\n"), "log".to_owned());
        assert_eq!(
            ending,
            Some((true, Duration::from_millis(750), "log".to_owned()))
        );
        let failed = [
            report("setup", "passed"),
            report("call", "failed"),
            report("teardown", "passed"),
        ];
        assert!(!python_ending(&failed.join("\n"), String::new()).unwrap().0);
        assert_eq!(python_ending("", String::new()), None);
    }
}
