//! What a Rust test binary (libtest's harness) prints, read as it comes: how many tests
//! finished, the counts of its `test result:` line, and, when it failed, the part of its
//! output worth showing. `ci` runs the binaries that cargo built one after the other, their
//! output in one log, so a reader takes the output of several.

use crate::base::tail::Lines;
use crate::engine::events::Counts;

/// The state of test binaries' output, fed in pieces.
#[derive(Debug, Default)]
pub struct Libtest {
    /// Sums of the `test result:` lines: what each test binary reported at its end.
    pub reported: Counts,
    /// Tests finished so far, from the `test NAME ... ok` lines.
    pub live: Counts,
    /// Each finished test's name and verdict, in the order they finished, for a JUnit report.
    pub finished: Vec<(String, Verdict)>,
    lines: Lines,
}

/// How one test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    Ignored,
}

impl Libtest {
    /// Takes the next piece of output; a line cut in two waits for its end.
    pub fn feed(&mut self, bytes: &[u8]) {
        for line in self.lines.push(bytes) {
            self.line(&without_colors(&line));
        }
    }

    /// The counts to report: the binaries' own, or what was seen when none reported (a
    /// binary that crashed prints no `test result:`).
    pub fn counts(&self) -> Counts {
        if self.reported == Counts::default() {
            self.live
        } else {
            self.reported
        }
    }

    fn line(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("test result: ") {
            if let Some(counts) = parse_result(rest) {
                self.reported = self.reported + counts;
            }
        } else if let Some(rest) = line.strip_prefix("test ") {
            self.test_line(rest);
        }
    }

    /// `NAME ... ok`, `NAME ... FAILED`, `NAME ... ignored[, reason]`.
    fn test_line(&mut self, rest: &str) {
        let Some((name, verdict)) = rest.rsplit_once(" ... ") else {
            return;
        };
        let mut counts = Counts::default();
        let verdict = match verdict {
            "ok" => Verdict::Passed,
            "FAILED" => Verdict::Failed,
            v if v.starts_with("ignored") => Verdict::Ignored,
            _ => return,
        };
        match verdict {
            Verdict::Passed => counts.passed = 1,
            Verdict::Failed => counts.failed = 1,
            Verdict::Ignored => counts.skipped = 1,
        }
        self.live = self.live + counts;
        self.finished.push((name.to_owned(), verdict));
    }
}

/// `line` without its ANSI colour codes (`CARGO_TERM_COLOR=always` on GitHub Actions) and
/// its line end.
fn without_colors(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.trim_end().chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // `ESC [ params letter`: skip through the letter.
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            plain.push(c);
        }
    }
    plain
}

/// `ok. 33 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 2.12s`
fn parse_result(rest: &str) -> Option<Counts> {
    let (_, numbers) = rest.split_once(". ")?;
    let mut counts = Counts::default();
    for part in numbers.split("; ") {
        let (number, what) = part.split_once(' ')?;
        let number: u64 = number.parse().ok()?;
        match what {
            "passed" => counts.passed = number,
            "failed" => counts.failed = number,
            "ignored" => counts.skipped = number,
            _ => {}
        }
    }
    Some(counts)
}

/// The failing tests' output and the `failures:` list of each binary that failed, and
/// the closing `error:` lines; `None` when there is none (a crash, say).
pub fn failure_excerpt(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().collect();
    let mut excerpt = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        if lines[index] == "failures:" {
            let end = (index..lines.len())
                .find(|&i| lines[i].starts_with("test result: "))
                .unwrap_or(lines.len() - 1);
            excerpt.extend_from_slice(&lines[index..=end]);
            index = end + 1;
        } else {
            index += 1;
        }
    }
    if excerpt.is_empty() {
        return None;
    }
    excerpt.extend(lines.iter().filter(|line| line.starts_with("error: ")));
    Some(excerpt.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSING: &str = "
running 3 tests
test paths::tests::a ... ok
test paths::tests::b ... ignored, needs a network
test paths::tests::c ... ok

test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s


running 1 test
test sighup ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.35s
";

    const FAILING: &str = "
running 2 tests
test refuses_a_fifo ... ok
test keeps_every_write ... FAILED

failures:

---- keeps_every_write stdout ----

thread 'keeps_every_write' panicked at tests/server.rs:40:5:
assertion `left == right` failed
  left: None
 right: Some(b\"v\")

failures:
    keeps_every_write

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.50s
";

    #[test]
    fn counts_come_from_the_result_lines() {
        let mut run = Libtest::default();
        run.feed(PASSING.as_bytes());
        let expected = Counts {
            passed: 3,
            failed: 0,
            skipped: 1,
        };
        assert_eq!(run.counts(), expected);
        assert_eq!(run.live, expected);
        assert_eq!(run.finished.len(), 4);
        assert_eq!(
            run.finished[1],
            ("paths::tests::b".to_owned(), Verdict::Ignored)
        );
    }

    #[test]
    fn lines_cut_anywhere_are_read_whole() {
        let mut run = Libtest::default();
        for chunk in PASSING.as_bytes().chunks(7) {
            run.feed(chunk);
        }
        assert_eq!(run.counts().passed, 3);
    }

    #[test]
    fn colours_are_ignored() {
        let mut run = Libtest::default();
        run.feed(b"test a ... \x1b[32mok\x1b[0m\n");
        run.feed(b"test result: \x1b[32mok\x1b[0m. 1 passed; 0 failed; 0 ignored; 0 measured\n");
        assert_eq!(run.live.passed, 1);
        assert_eq!(run.reported.passed, 1);
    }

    #[test]
    fn a_failure_shows_the_failing_test_and_the_rerun_hint() {
        let mut run = Libtest::default();
        run.feed(FAILING.as_bytes());
        assert_eq!(
            run.counts(),
            Counts {
                passed: 1,
                failed: 1,
                skipped: 0
            }
        );
        let excerpt = failure_excerpt(FAILING).unwrap();
        assert!(excerpt.starts_with("failures:\n\n---- keeps_every_write stdout ----"));
        assert!(excerpt.contains("right: Some(b\"v\")"));
        assert!(excerpt.contains("test result: FAILED. 1 passed; 1 failed"));
        assert!(excerpt.ends_with("test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.50s"));
        assert!(!excerpt.contains("refuses_a_fifo"));
    }

    #[test]
    fn an_interrupted_run_counts_what_finished() {
        // Killed mid-binary: no `test result:` line, and no failure section either.
        let cut = &FAILING[..FAILING.find("test keeps_every_write").unwrap()];
        let mut run = Libtest::default();
        run.feed(cut.as_bytes());
        assert_eq!(run.counts().passed, 1);
        assert_eq!(failure_excerpt(cut), None);
        assert_eq!(failure_excerpt("error[E0425]: cannot find function"), None);
    }
}
