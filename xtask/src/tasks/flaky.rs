//! `cargo xtask flaky`: the tests whose outcomes differ across the last `ci` runs of one
//! commit, from the history that `ci` keeps (see [`crate::history`]).

use crate::base::context::StepContext;
use anyhow::{Context, Result};

use crate::base::paths;
use crate::engine::history::{self, Commit, Outcome};
use crate::{flags, outln};

pub fn run(_sh: &StepContext, flags: &flags::Flaky) -> Result<()> {
    let file = history::path()?;
    let text = match std::fs::read_to_string(&file) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        text => text.with_context(|| format!("cannot read {file}"))?,
    };
    let records = history::read(&text);
    let found = history::unsteady(&records, flags.runs.max(1));
    if found.is_empty() {
        outln!(
            "flaky: no test's outcome differs across the last {} runs of a commit ({} runs \
             recorded in {})",
            flags.runs,
            runs_in(&records),
            paths::display_path(&file)
        );
        return Ok(());
    }
    for commit in &found {
        for line in lines(commit) {
            outln!("{line}");
        }
    }
    Ok(())
}

fn runs_in(records: &[history::Record]) -> usize {
    let mut runs: Vec<&str> = records.iter().map(|r| r.run.as_str()).collect();
    runs.dedup();
    runs.len()
}

/// A commit's heading, then a line per test: its outcomes, newest first.
fn lines(commit: &Commit) -> Vec<String> {
    let (head, changes) = match commit.commit.split_once('+') {
        Some((head, changes)) => (head, format!(" with uncommitted changes {changes}")),
        None => (commit.commit.as_str(), String::new()),
    };
    let short = &head[..head.len().min(12)];
    let mut lines = vec![format!("{short}{changes}: {} runs compared", commit.runs)];
    for test in &commit.tests {
        let outcomes: Vec<&str> = test.outcomes.iter().map(|o| Outcome::name(*o)).collect();
        lines.push(format!(
            "  {}: {} (newest first)",
            test.test,
            outcomes.join(", ")
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use history::Unsteady;

    #[test]
    fn each_commit_is_a_heading_over_its_tests() {
        let commit = Commit {
            commit: "0123456789abcdef0123+00000000000000ff".to_owned(),
            runs: 3,
            newest: 30,
            tests: vec![Unsteady {
                test: "xtask::server_owner sigkill".to_owned(),
                outcomes: vec![Outcome::Failed, Outcome::Passed, Outcome::Flaky],
            }],
        };
        assert_eq!(
            lines(&commit),
            [
                "0123456789ab with uncommitted changes 00000000000000ff: 3 runs compared",
                "  xtask::server_owner sigkill: failed, passed, flaky (newest first)",
            ]
        );
    }
}
