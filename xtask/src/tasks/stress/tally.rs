//! The runs of a stress test as they end, and what is said of them: passes, failures (with
//! the first failure's output), and the slowest run.

use std::time::Duration;

use crate::engine::events::Counts;

/// Lines of the first failure's output that are shown.
const OUTPUT_LINES: usize = 100;

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// From 1, in the order the runs started.
    pub number: u32,
    pub passed: bool,
    /// The test's own time, as its runner measured it.
    pub duration: Duration,
    /// What it printed, kept for a failure.
    pub output: String,
}

/// Every run so far.
#[derive(Debug, Default)]
pub struct Tally {
    runs: Vec<Run>,
}

impl Tally {
    pub fn push(&mut self, mut run: Run) {
        if run.passed {
            run.output.clear();
        }
        self.runs.push(run);
    }

    pub fn counts(&self) -> Counts {
        let failed = self.runs.iter().filter(|run| !run.passed).count() as u64;
        Counts {
            passed: self.runs.len() as u64 - failed,
            failed,
            skipped: 0,
        }
    }

    /// The failed run that started first.
    pub fn first_failure(&self) -> Option<&Run> {
        let failed = self.runs.iter().filter(|run| !run.passed);
        failed.min_by_key(|run| run.number)
    }

    /// "slowest run: #17 in 2.41 s (median 0.40 s)".
    pub fn slowest_line(&self) -> Option<String> {
        let slowest = self.runs.iter().max_by_key(|run| run.duration)?;
        let mut durations: Vec<Duration> = self.runs.iter().map(|run| run.duration).collect();
        durations.sort();
        let median = durations[durations.len() / 2];
        Some(format!(
            "slowest run: #{} in {:.2} s (median {:.2} s)",
            slowest.number,
            slowest.duration.as_secs_f64(),
            median.as_secs_f64()
        ))
    }

    /// What to print once the runs are over, before the totals line.
    pub fn report(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.slowest_line().into_iter().collect();
        if let Some(first) = self.first_failure() {
            lines.push(format!("first failure (run #{}):", first.number));
            let output: Vec<&str> = first.output.lines().collect();
            let start = output.len().saturating_sub(OUTPUT_LINES);
            if start > 0 {
                lines.push(format!("  ... {start} lines before"));
            }
            lines.extend(output[start..].iter().map(|line| format!("  {line}")));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(number: u32, passed: bool, millis: u64) -> Run {
        Run {
            number,
            passed,
            duration: Duration::from_millis(millis),
            output: format!("output of run {number}\nits last line"),
        }
    }

    #[test]
    fn the_report_names_the_slowest_run_and_the_first_failure() {
        let mut tally = Tally::default();
        for r in [
            run(2, true, 400),
            run(5, false, 20),
            run(3, false, 10),
            run(1, true, 2410),
        ] {
            tally.push(r);
        }
        let counts = tally.counts();
        assert_eq!((counts.passed, counts.failed), (2, 2));
        assert_eq!(
            tally.report(),
            [
                "slowest run: #1 in 2.41 s (median 0.40 s)",
                "first failure (run #3):",
                "  output of run 3",
                "  its last line",
            ]
        );
    }

    #[test]
    fn only_failures_keep_their_output_and_a_long_one_is_cut() {
        let mut tally = Tally::default();
        tally.push(run(1, true, 1));
        assert_eq!(
            tally.report(),
            ["slowest run: #1 in 0.00 s (median 0.00 s)"]
        );
        assert!(tally.runs[0].output.is_empty());
        let mut long = run(2, false, 1);
        long.output = (0..150).map(|n| format!("line {n}\n")).collect();
        tally.push(long);
        let report = tally.report();
        assert_eq!(report[2], "  ... 50 lines before");
        assert_eq!(report.last().unwrap(), "  line 149");
        assert!(Tally::default().report().is_empty());
    }
}
