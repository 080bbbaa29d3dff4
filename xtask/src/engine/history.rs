//! The tests' history: every `ci` run appends each test's outcome and duration, with the
//! commit it ran on, to `target/xtask/history.jsonl` (a JSON object a line), so that
//! `cargo xtask flaky` can name the tests whose outcomes differ between runs of one commit.
//!
//! The outcomes are the tests' ends that the steps told as they ran (the adapters' typed
//! events), not a reading of the JUnit reports afterwards; a line of the file that cannot
//! be read (a run cut short while writing) is skipped, not an error.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{Value, json};
use xshell::cmd;

use crate::base::context::StepContext;
use crate::base::fingerprint::Fnv;
use crate::base::paths;
use crate::base::process::{Job, Sink};
use crate::engine::events::TestEnded;

/// How a test ended in one run.
pub use crate::engine::events::TestOutcome as Outcome;

/// One test in one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Which `ci` run: records of one run share it.
    pub run: String,
    /// Seconds since the epoch when the run ended.
    pub time: u64,
    /// What the run tested: the commit, and `+` a hash of its uncommitted changes if any.
    pub commit: String,
    pub test: String,
    pub outcome: Outcome,
    pub duration: Duration,
}

/// The history file of this worktree.
pub fn path() -> Result<Utf8PathBuf> {
    Ok(paths::xtask_dir()?.join("history.jsonl"))
}

/// What the worktree holds: `HEAD`'s commit, with `+` and a hash of `git diff HEAD` when
/// there are uncommitted changes, so that runs of different edits are never compared.
fn commit(sh: &StepContext) -> Result<String> {
    let head = Job::new(sh, cmd!(sh, "git rev-parse HEAD"))
        .stderr(Sink::Null)
        .read()?;
    let diff = Job::new(sh, cmd!(sh, "git diff HEAD"))
        .stderr(Sink::Null)
        .read()?;
    let head = head.trim();
    Ok(if diff.is_empty() {
        head.to_owned()
    } else {
        format!("{head}+{:016x}", Fnv::of(diff.as_bytes()))
    })
}

/// The records of one run, from the tests' ends it told.
pub fn records(run: &str, commit: &str, time: u64, tests: &[TestEnded]) -> Vec<Record> {
    let records = tests.iter().map(|test| Record {
        run: run.to_owned(),
        time,
        commit: commit.to_owned(),
        test: test.test.clone(),
        outcome: test.outcome,
        duration: test.duration,
    });
    records.collect()
}

/// Appends a `ci` run's `tests` to the history; returns how many.
pub fn record_run(sh: &StepContext, tests: &[TestEnded]) -> Result<usize> {
    let run = crate::base::process::unique_name("ci");
    let records = records(&run, &commit(sh)?, now(), tests);
    append(&path()?, &records)?;
    Ok(records.len())
}

/// Seconds since the epoch, now.
fn now() -> u64 {
    let since = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    since.map_or(0, |d| d.as_secs())
}

/// Appends `records` to `file`, a line each, in one write.
pub fn append(file: &Utf8Path, records: &[Record]) -> Result<()> {
    let mut text = String::new();
    for record in records {
        let line = json!({
            "run": record.run,
            "time": record.time,
            "commit": record.commit,
            "test": record.test,
            "outcome": record.outcome.name(),
            "duration": record.duration.as_secs_f64(),
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    }
    let mut out = std::fs::File::options()
        .create(true)
        .append(true)
        .open(file)
        .with_context(|| format!("cannot open {file}"))?;
    out.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {file}"))
}

/// The records in `text`, a history file's contents, in the order they were written.
pub fn read(text: &str) -> Vec<Record> {
    text.lines().filter_map(record).collect()
}

fn record(line: &str) -> Option<Record> {
    let value: Value = serde_json::from_str(line).ok()?;
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    Some(Record {
        run: text("run")?,
        time: value.get("time").and_then(Value::as_u64)?,
        commit: text("commit")?,
        test: text("test")?,
        outcome: Outcome::from_name(&text("outcome")?)?,
        duration: Duration::try_from_secs_f64(value.get("duration")?.as_f64()?).ok()?,
    })
}

/// A test whose outcomes differ across the runs of one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsteady {
    pub test: String,
    /// Its outcomes, newest first.
    pub outcomes: Vec<Outcome>,
}

/// One commit's unsteady tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub commit: String,
    /// How many runs were compared, and when the newest ended.
    pub runs: usize,
    pub newest: u64,
    pub tests: Vec<Unsteady>,
}

/// For each commit, newest first, the tests whose outcomes differ across its last `last`
/// runs: a test flaky in a run, or passed in one and failed in another. A skip says
/// nothing (`--only` leaves tests out) and is not compared.
pub fn unsteady(records: &[Record], last: usize) -> Vec<Commit> {
    // Each commit's runs, in the order they were written, with their records.
    let mut commits: BTreeMap<&str, Vec<(&str, Vec<&Record>)>> = BTreeMap::new();
    for record in records {
        let runs = commits.entry(&record.commit).or_default();
        match runs.last_mut() {
            Some((run, tests)) if *run == record.run => tests.push(record),
            _ => runs.push((&record.run, vec![record])),
        }
    }
    let mut found: Vec<Commit> = commits
        .into_iter()
        .map(|(commit, runs)| {
            let newest_runs = &runs[runs.len().saturating_sub(last)..];
            unsteady_in(commit, newest_runs)
        })
        .filter(|commit| !commit.tests.is_empty())
        .collect();
    found.sort_by_key(|commit| std::cmp::Reverse(commit.newest));
    found
}

fn unsteady_in(commit: &str, runs: &[(&str, Vec<&Record>)]) -> Commit {
    let mut outcomes: BTreeMap<&str, Vec<Outcome>> = BTreeMap::new();
    for (_, records) in runs.iter().rev() {
        for record in records.iter().filter(|r| r.outcome != Outcome::Skipped) {
            outcomes
                .entry(&record.test)
                .or_default()
                .push(record.outcome);
        }
    }
    let tests = outcomes.into_iter().filter(|(_, seen)| {
        seen.contains(&Outcome::Flaky) || seen.iter().any(|outcome| *outcome != seen[0])
    });
    let newest = runs
        .iter()
        .flat_map(|(_, records)| records.iter().map(|r| r.time))
        .max();
    Commit {
        commit: commit.to_owned(),
        runs: runs.len(),
        newest: newest.unwrap_or(0),
        tests: tests
            .map(|(test, outcomes)| Unsteady {
                test: test.to_owned(),
                outcomes,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(run: &str, time: u64, commit: &str, test: &str, outcome: Outcome) -> Record {
        Record {
            run: run.to_owned(),
            time,
            commit: commit.to_owned(),
            test: test.to_owned(),
            outcome,
            duration: Duration::from_millis(250),
        }
    }

    #[test]
    fn records_go_out_and_come_back_whole() {
        let (_guard, dir) = paths::test_dir();
        let file = dir.join("deep/history.jsonl");
        let first = [record("r1", 10, "c1", "a x", Outcome::Flaky)];
        let second = [record("r2", 20, "c1+00ff", "b \"y\"", Outcome::Skipped)];
        append(&file, &first).unwrap();
        append(&file, &second).unwrap();
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("{\"cut\": \n");
        assert_eq!(read(&text), [first[0].clone(), second[0].clone()]);
    }

    #[test]
    fn a_run_records_each_test_it_told_of_with_its_outcome_and_time() {
        let ended = |test: &str, outcome, millis, attempt| TestEnded {
            test: test.to_owned(),
            outcome,
            duration: Duration::from_millis(millis),
            attempt,
            case: Default::default(),
        };
        let tests = [
            ended("nxdemo ok", Outcome::Passed, 500, 1),
            ended("nxdemo retried", Outcome::Flaky, 100, 2),
            ended("nxdemo bad", Outcome::Failed, 0, 2),
        ];
        let records = records("r", "c", 5, &tests);
        assert_eq!(records.len(), 3);
        assert_eq!(
            records[1],
            record("r", 5, "c", "nxdemo retried", Outcome::Flaky).with(0.1)
        );
    }

    impl Record {
        fn with(mut self, seconds: f64) -> Record {
            self.duration = Duration::from_secs_f64(seconds);
            self
        }
    }

    #[test]
    fn unsteady_tests_are_those_whose_outcomes_differ_within_a_commit() {
        use Outcome::*;
        let records = [
            // c1: `a` passes then fails; `b` passes twice, then is skipped; `c` is flaky once.
            record("1", 10, "c1", "a", Passed),
            record("1", 10, "c1", "b", Passed),
            record("1", 10, "c1", "c", Flaky),
            record("2", 20, "c1", "a", Failed),
            record("2", 20, "c1", "b", Passed),
            record("3", 30, "c1", "b", Skipped),
            // c2, newer: `a` fails on c2 and passed on c1: a change, not a flake.
            record("4", 40, "c2", "a", Failed),
            record("5", 50, "c2", "a", Failed),
            record("5", 50, "c2", "d", Passed),
            record("6", 60, "c2", "d", Failed),
        ];
        let found = unsteady(&records, 10);
        let names: Vec<(&str, Vec<&str>)> = found
            .iter()
            .map(|c| {
                (
                    c.commit.as_str(),
                    c.tests.iter().map(|t| t.test.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(names, [("c2", vec!["d"]), ("c1", vec!["a", "c"])]);
        assert_eq!(found[1].tests[0].outcomes, [Failed, Passed], "newest first");
        assert_eq!((found[1].runs, found[1].newest), (3, 30));
        // A commit's last run alone shows nothing that differs.
        assert!(unsteady(&records, 1).is_empty());
        assert!(unsteady(&[], 10).is_empty());
    }
}
