//! What `cargo test` prints, read as it comes: what it is doing now (the crate being
//! compiled, the test binary being run), how many tests finished, the counts of its
//! `test result:` lines, and, when it failed, the part of its output worth showing.

use crate::steps::Counts;
use crate::tail::Lines;

/// The state of a `cargo test` run, fed its output in pieces.
#[derive(Debug, Default)]
pub struct CargoTest {
    /// Sums of the `test result:` lines: what each test binary reported at its end.
    pub reported: Counts,
    /// Tests finished so far, from the `test NAME ... ok` lines.
    pub live: Counts,
    /// "compiling tokio", "running tests/server.rs", ...
    pub activity: String,
    lines: Lines,
    /// Test binaries (`tests/NAME.rs`) whose tests run again later for real: their passes
    /// here are not counted, lest the totals count them twice; a failure still is.
    deferred: &'static [&'static str],
    in_deferred: bool,
    /// The deferred binaries seen, by name, with their executables, to run them later
    /// without cargo (relative to where cargo ran).
    pub deferred_executables: Vec<(&'static str, String)>,
}

impl CargoTest {
    /// A run whose `deferred` test binaries count only their failures.
    pub fn deferring(deferred: &'static [&'static str]) -> CargoTest {
        CargoTest {
            deferred,
            ..CargoTest::default()
        }
    }

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
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("Compiling ") {
            self.activity = format!("compiling {}", first_word(rest));
        } else if let Some(rest) = trimmed.strip_prefix("Running ") {
            let (what, executable) = rest.split_once(" (").unwrap_or((rest, ""));
            self.activity = format!("running {what}");
            let deferred = (self.deferred.iter()).find(|name| what == format!("tests/{name}.rs"));
            self.in_deferred = deferred.is_some();
            if let Some(name) = deferred {
                let executable = executable.strip_suffix(')').unwrap_or(executable);
                self.deferred_executables
                    .push((name, executable.to_owned()));
            }
        } else if let Some(rest) = trimmed.strip_prefix("Doc-tests ") {
            self.activity = format!("doc-tests {}", first_word(rest));
            self.in_deferred = false;
        } else if let Some(rest) = line.strip_prefix("test result: ") {
            if let Some(counts) = parse_result(rest) {
                self.reported = self.reported + self.counted(counts);
            }
        } else if let Some(rest) = line.strip_prefix("test ") {
            self.test_line(rest);
        }
    }

    /// `NAME ... ok`, `NAME ... FAILED`, `NAME ... ignored[, reason]`.
    fn test_line(&mut self, rest: &str) {
        let Some((_, verdict)) = rest.rsplit_once(" ... ") else {
            return;
        };
        let mut counts = Counts::default();
        match verdict {
            "ok" => counts.passed = 1,
            "FAILED" => counts.failed = 1,
            v if v.starts_with("ignored") => counts.skipped = 1,
            _ => {}
        }
        self.live = self.live + self.counted(counts);
    }

    /// What of `counts` the totals take: only failures in a deferred binary.
    fn counted(&self, counts: Counts) -> Counts {
        if self.in_deferred {
            Counts {
                failed: counts.failed,
                ..Counts::default()
            }
        } else {
            counts
        }
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

fn first_word(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or(text)
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
/// cargo's closing `error:` lines; `None` when there is none (a build error, say).
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

    const PASSING: &str = "   Compiling libc v0.2.191
   Compiling xtask v0.1.0 (/work/main/xtask)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 9.19s
     Running unittests src/main.rs (target/debug/deps/xtask-1e4f)

running 3 tests
test paths::tests::a ... ok
test paths::tests::b ... ignored, needs a network
test paths::tests::c ... ok

test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s

     Running tests/signals.rs (target/debug/deps/signals-99a1)

running 1 test
test sighup ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.35s
";

    const FAILING: &str = "     Running tests/server.rs (target/debug/deps/server-1b2c)

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

error: test failed, to rerun pass `-p simd-r-drive-ws-server --test server`
";

    #[test]
    fn counts_come_from_the_result_lines() {
        let mut run = CargoTest::default();
        run.feed(PASSING.as_bytes());
        let expected = Counts {
            passed: 3,
            failed: 0,
            skipped: 1,
        };
        assert_eq!(run.counts(), expected);
        assert_eq!(run.live, expected);
        assert_eq!(run.activity, "running tests/signals.rs");
    }

    #[test]
    fn a_deferred_binary_counts_only_its_failures() {
        let mut run = CargoTest::deferring(&["signals", "server"]);
        run.feed(PASSING.as_bytes());
        let unit_tests_only = Counts {
            passed: 2,
            failed: 0,
            skipped: 1,
        };
        assert_eq!(run.counts(), unit_tests_only);
        assert_eq!(run.live, unit_tests_only);
        run.feed(FAILING.as_bytes());
        assert_eq!(run.counts().failed, 1);
        assert_eq!(run.counts().passed, 2);
        let executables = [
            ("signals", "target/debug/deps/signals-99a1".to_owned()),
            ("server", "target/debug/deps/server-1b2c".to_owned()),
        ];
        assert_eq!(run.deferred_executables, executables);
    }

    #[test]
    fn lines_cut_anywhere_are_read_whole() {
        let mut run = CargoTest::default();
        for chunk in PASSING.as_bytes().chunks(7) {
            run.feed(chunk);
        }
        assert_eq!(run.counts().passed, 3);
    }

    #[test]
    fn colours_are_ignored() {
        let mut run = CargoTest::default();
        run.feed(b"\x1b[1m\x1b[92m   Compiling\x1b[0m tokio v1.52.0\n");
        run.feed(b"test a ... \x1b[32mok\x1b[0m\n");
        run.feed(b"test result: \x1b[32mok\x1b[0m. 1 passed; 0 failed; 0 ignored; 0 measured\n");
        assert_eq!(run.activity, "compiling tokio");
        assert_eq!(run.live.passed, 1);
        assert_eq!(run.reported.passed, 1);
    }

    #[test]
    fn the_activity_follows_the_output() {
        let mut run = CargoTest::default();
        run.feed(b"   Compiling tokio v1.52.0\n");
        assert_eq!(run.activity, "compiling tokio");
        run.feed(b"   Doc-tests simd_r_drive_ws_transport\n");
        assert_eq!(run.activity, "doc-tests simd_r_drive_ws_transport");
    }

    #[test]
    fn a_failure_shows_the_failing_test_and_the_rerun_hint() {
        let mut run = CargoTest::default();
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
        assert!(excerpt.ends_with(
            "error: test failed, to rerun pass `-p simd-r-drive-ws-server --test server`"
        ));
        assert!(!excerpt.contains("refuses_a_fifo"));
    }

    #[test]
    fn an_interrupted_run_counts_what_finished() {
        // Killed mid-binary: no `test result:` line, and no failure section either.
        let cut = &FAILING[..FAILING.find("test keeps_every_write").unwrap()];
        let mut run = CargoTest::default();
        run.feed(cut.as_bytes());
        assert_eq!(run.counts().passed, 1);
        assert_eq!(failure_excerpt(cut), None);
        assert_eq!(failure_excerpt("error[E0425]: cannot find function"), None);
    }
}
