//! What a step tells as it runs, in types that the tool adapters make and the display,
//! the JUnit writer and the totals read: the adapters import this, never the display.

use std::ops::Add;
use std::time::Duration;

/// Test counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl Counts {
    /// `LABEL: N passed, N failed, N skipped`: the last line of `ci` and `lint`, which CI
    /// log readers look for.
    pub fn line(self, label: &str) -> String {
        format!(
            "{label}: {} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

impl Add for Counts {
    type Output = Counts;
    fn add(self, other: Counts) -> Counts {
        Counts {
            passed: self.passed + other.passed,
            failed: self.failed + other.failed,
            skipped: self.skipped + other.skipped,
        }
    }
}

impl Counts {
    /// "215 passed", "2 failed, 30 passed, 1 skipped": failures first, zeros left out.
    pub fn describe(self) -> String {
        let parts = [
            (self.failed, "failed"),
            (self.passed, "passed"),
            (self.skipped, "skipped"),
        ];
        let shown: Vec<String> = parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        if shown.is_empty() {
            "no tests".to_owned()
        } else {
            shown.join(", ")
        }
    }
}

/// How a test ended, over all its attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TestOutcome {
    Passed,
    /// Failed, then passed on a retry.
    Flaky,
    Failed,
    Skipped,
}

impl TestOutcome {
    pub fn name(self) -> &'static str {
        match self {
            TestOutcome::Passed => "passed",
            TestOutcome::Flaky => "flaky",
            TestOutcome::Failed => "failed",
            TestOutcome::Skipped => "skipped",
        }
    }

    pub fn from_name(name: &str) -> Option<TestOutcome> {
        use TestOutcome::*;
        [Passed, Flaky, Failed, Skipped]
            .into_iter()
            .find(|outcome| outcome.name() == name)
    }
}

/// A test that finished, as its runner's adapter tells it (nextest's events, pytest's
/// report log, the doctests' libtest lines): what the tests' history records, read from
/// the run as it happens rather than from its reports afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct TestEnded {
    /// As its runner names it: nextest's `BINARY_ID NAME`, pytest's node id from the
    /// repository root, a doctest's `FILE - ITEM (line N)`.
    pub test: String,
    pub outcome: TestOutcome,
    /// Its last attempt's time.
    pub duration: Duration,
    /// The attempt it ended on: 1 without retries.
    pub attempt: usize,
    /// Where the JUnit writer files it, and what it says of it.
    pub case: Case,
}

/// A test as a JUnit report shows it: its suite, class and name (a Python lane's are its
/// own), why it failed or was skipped, and its failed attempts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Case {
    /// The `testsuite`: nextest's binary id, `pytest unit (py3.12)`, `doctests`.
    pub suite: String,
    pub class: String,
    pub name: String,
    /// Why it failed or was skipped, in a line.
    pub message: Option<String>,
    /// A failure's whole story: what the test printed, pytest's report of it.
    pub output: Option<String>,
    /// Why each earlier attempt failed, in order: a `flakyFailure` each for a test that
    /// passed in the end, a `rerunFailure` for one that failed.
    pub failed_attempts: Vec<String>,
}

/// An error of the compiler's, as cargo's JSON messages give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompilerError {
    /// `error[E0308]: mismatched types`.
    pub message: String,
    /// `FILE:LINE:COL`, the file named from the repository root; `None` for an error
    /// without a place (a linker's, say).
    pub place: Option<String>,
    /// The compiler's own rendering, snippet included, as a person reads it.
    pub rendered: String,
}

/// `FILE:LINE:COL: error[E0308]: mismatched types`: a failed build's cause in one line.
impl std::fmt::Display for CompilerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.place {
            Some(place) => write!(f, "{place}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A build that failed with the compiler's errors, as its adapter read them while it ran:
/// carried in the error, so that the step that asked for the build (`bindings`, through
/// `venv::ensure`) names the first as its cause without reading any log.
#[derive(Debug)]
pub struct BuildErrors(pub Vec<CompilerError>);

impl std::fmt::Display for BuildErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.first() {
            Some(first) => write!(f, "the compiler's first error: {first}"),
            None => f.write_str("the build failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_described_failures_first() {
        let counts = Counts {
            passed: 30,
            failed: 2,
            skipped: 1,
        };
        assert_eq!(counts.describe(), "2 failed, 30 passed, 1 skipped");
        let passed = Counts {
            passed: 215,
            ..Counts::default()
        };
        assert_eq!(passed.describe(), "215 passed");
        assert_eq!(Counts::default().describe(), "no tests");
    }
}
