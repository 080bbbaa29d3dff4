//! The figures of `cargo xtask bench`: read from both sides' raw output, paired by op,
//! kept as `latest.json` (a list of `{op, python_us, rust_us}`), and shown as a table, with
//! the change since the previous run when asked.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The python/rust ratio each op should stay under.
pub const RATIO_GOAL: f64 = 1.5;
/// What a 1 KiB write+read from Python should take at most, in microseconds.
pub const WRITE_READ_GOAL_US: f64 = 1000.0;
pub const WRITE_READ_OP: &str = "write+read 1 KiB";

/// The ops, in the order they run and the table shows them, each with the Python test
/// that times it (`tests/test_benchmark.py`); the native side knows them by name.
pub const OPS: [(&str, &str); 6] = [
    ("write 1 KiB", "test_write_1kib"),
    ("read 1 KiB", "test_read_1kib"),
    (WRITE_READ_OP, "test_write_read_1kib"),
    ("batch_read 16x1 KiB", "test_batch_read_16_x_1kib"),
    ("batch_write 16x1 KiB", "test_batch_write_16_x_1kib"),
    ("read 1 MiB", "test_read_1mib"),
];

/// One op's medians, in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub op: String,
    pub python_us: f64,
    pub rust_us: f64,
}

impl Figure {
    pub fn ratio(&self) -> f64 {
        self.python_us / self.rust_us
    }
}

/// The entries of the native side's output, a list of `{op, median_us, samples}`.
pub fn rust_entries(text: &str) -> Result<Vec<Value>> {
    match serde_json::from_str(text).context("the native benchmark's output")? {
        Value::Array(list) => Ok(list),
        _ => bail!("the native benchmark's output is not a list"),
    }
}

/// The entries of pytest-benchmark's JSON report (`benchmarks`).
pub fn python_entries(text: &str) -> Result<Vec<Value>> {
    let mut report: Value = serde_json::from_str(text).context("pytest-benchmark's report")?;
    match report.get_mut("benchmarks").map(Value::take) {
        Some(Value::Array(list)) => Ok(list),
        _ => bail!("pytest-benchmark's report has no `benchmarks` list"),
    }
}

/// Pairs both sides' medians by op: the native side's `median_us`, and the Python test
/// whose `extra_info.op` names the op, with its median in seconds.
pub fn pair(rust: &[Value], python: &[Value]) -> Result<Vec<Figure>> {
    OPS.iter()
        .map(|&(op, _)| {
            let rust_us = rust
                .iter()
                .find(|entry| entry["op"] == op)
                .and_then(|entry| entry["median_us"].as_f64())
                .with_context(|| format!("the native benchmark did not measure `{op}`"))?;
            let python_us = python
                .iter()
                .find(|entry| entry["extra_info"]["op"] == op)
                .and_then(|entry| entry["stats"]["median"].as_f64())
                .map(|seconds| seconds * 1e6)
                .with_context(|| {
                    format!("no Python benchmark measured `{op}` (extra_info[\"op\"])")
                })?;
            Ok(Figure {
                op: op.to_owned(),
                python_us,
                rust_us,
            })
        })
        .collect()
}

pub fn to_json(figures: &[Figure]) -> String {
    let list: Vec<Value> = figures
        .iter()
        .map(|f| json!({"op": f.op, "python_us": f.python_us, "rust_us": f.rust_us}))
        .collect();
    let mut text = serde_json::to_string_pretty(&list).expect("figures are plain JSON");
    text.push('\n');
    text
}

pub fn from_json(text: &str) -> Result<Vec<Figure>> {
    let list: Value = serde_json::from_str(text)?;
    let Some(list) = list.as_array() else {
        bail!("not a list of {{op, python_us, rust_us}}");
    };
    list.iter()
        .map(|entry| {
            Ok(Figure {
                op: entry["op"]
                    .as_str()
                    .context("an entry has no op")?
                    .to_owned(),
                python_us: entry["python_us"].as_f64().context("no python_us")?,
                rust_us: entry["rust_us"].as_f64().context("no rust_us")?,
            })
        })
        .collect()
}

/// `op | python | rust | python/rust`, a Markdown table; with `previous`, two more columns
/// for the change of each side since then.
pub fn table(figures: &[Figure], previous: Option<&[Figure]>) -> String {
    let mut text = String::from("| op | python | rust | python/rust |");
    if previous.is_some() {
        text.push_str(" python change | rust change |");
    }
    text.push_str("\n| --- | ---: | ---: | ---: |");
    if previous.is_some() {
        text.push_str(" ---: | ---: |");
    }
    text.push('\n');
    for figure in figures {
        let mark = if figure.ratio() > RATIO_GOAL {
            " !"
        } else {
            ""
        };
        let _ = write!(
            text,
            "| {} | {} | {} | {:.2}{mark} |",
            figure.op,
            duration(figure.python_us),
            duration(figure.rust_us),
            figure.ratio()
        );
        if let Some(previous) = previous {
            let before = previous.iter().find(|p| p.op == figure.op);
            let python = before.map(|p| change(p.python_us, figure.python_us));
            let rust = before.map(|p| change(p.rust_us, figure.rust_us));
            let _ = write!(
                text,
                " {} | {} |",
                python.as_deref().unwrap_or("new"),
                rust.as_deref().unwrap_or("new")
            );
        }
        text.push('\n');
    }
    text
}

/// Whether the goals hold, in one line each.
pub fn verdict(figures: &[Figure]) -> Vec<String> {
    let mut lines = Vec::new();
    let over: Vec<&str> = figures
        .iter()
        .filter(|f| f.ratio() > RATIO_GOAL)
        .map(|f| f.op.as_str())
        .collect();
    if over.is_empty() {
        lines.push(format!("every python/rust ratio is within {RATIO_GOAL}"));
    } else {
        lines.push(format!(
            "over the python/rust goal of {RATIO_GOAL} (marked !): {}",
            over.join(", ")
        ));
    }
    if let Some(write_read) = figures.iter().find(|f| f.op == WRITE_READ_OP) {
        let within = if write_read.python_us <= WRITE_READ_GOAL_US {
            "within"
        } else {
            "over"
        };
        lines.push(format!(
            "{WRITE_READ_OP} from Python: {} ({within} the 1 ms goal)",
            duration(write_read.python_us)
        ));
    }
    lines
}

/// "87.3 µs", "1.24 ms".
fn duration(micros: f64) -> String {
    if micros < 1000.0 {
        format!("{micros:.1} µs")
    } else {
        format!("{:.2} ms", micros / 1000.0)
    }
}

/// "+12%", "-3%": how `after` compares with `before`.
fn change(before: f64, after: f64) -> String {
    format!("{:+.0}%", (after / before - 1.0) * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUST: &str = r#"[
      {"op": "write 1 KiB", "median_us": 100.0, "samples": 9},
      {"op": "read 1 KiB", "median_us": 80.0, "samples": 9},
      {"op": "write+read 1 KiB", "median_us": 180.0, "samples": 9},
      {"op": "batch_read 16x1 KiB", "median_us": 200.0, "samples": 9},
      {"op": "batch_write 16x1 KiB", "median_us": 250.0, "samples": 9},
      {"op": "read 1 MiB", "median_us": 2000.0, "samples": 9}
    ]"#;

    fn python_report(ops: &[(&str, &str)]) -> Vec<Value> {
        let benchmarks: Vec<Value> = ops
            .iter()
            .map(|(op, test)| {
                json!({"name": test, "extra_info": {"op": op}, "stats": {"median": 0.0002}})
            })
            .collect();
        python_entries(&json!({"benchmarks": benchmarks}).to_string()).unwrap()
    }

    fn rust() -> Vec<Value> {
        rust_entries(RUST).unwrap()
    }

    #[test]
    fn both_sides_are_paired_by_op_and_kept_as_json() {
        let figures = pair(&rust(), &python_report(&OPS)).unwrap();
        assert_eq!(figures.len(), OPS.len());
        assert_eq!(figures[0].op, "write 1 KiB");
        assert!((figures[0].python_us - 200.0).abs() < 1e-9);
        assert!((figures[0].ratio() - 2.0).abs() < 1e-9);
        assert_eq!(from_json(&to_json(&figures)).unwrap(), figures);
        let saved: Value = serde_json::from_str(&to_json(&figures)).unwrap();
        let keys: Vec<&String> = saved[0].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["op", "python_us", "rust_us"]);
    }

    #[test]
    fn a_missing_op_is_named() {
        let error = pair(&rust(), &python_report(&OPS[..5])).unwrap_err();
        assert!(format!("{error:#}").contains("`read 1 MiB`"), "{error:#}");
        let error = pair(&[], &python_report(&OPS)).unwrap_err();
        assert!(format!("{error:#}").contains("native benchmark did not measure"));
        assert!(rust_entries("not json").is_err());
        assert!(python_entries("[]").is_err());
    }

    #[test]
    fn the_table_marks_ratios_over_the_goal_and_shows_changes() {
        let figures = pair(&rust(), &python_report(&OPS)).unwrap();
        let text = table(&figures, None);
        assert!(
            text.starts_with("| op | python | rust | python/rust |\n"),
            "{text}"
        );
        assert!(
            text.contains("| write 1 KiB | 200.0 µs | 100.0 µs | 2.00 ! |"),
            "{text}"
        );
        assert!(
            text.contains("| read 1 MiB | 200.0 µs | 2.00 ms | 0.10 |"),
            "{text}"
        );
        let mut before = figures.clone();
        before[0].python_us = 400.0;
        before.pop();
        let text = table(&figures, Some(&before));
        assert!(text.contains("| 2.00 ! | -50% | +0% |"), "{text}");
        assert!(text.contains("| 0.10 | new | new |"), "{text}");
        let lines = verdict(&figures);
        assert!(lines[0].contains("write 1 KiB"), "{lines:?}");
        assert!(lines[1].contains("within the 1 ms goal"), "{lines:?}");
    }

    /// Both sides must know every op by the same name, or the pairing fails after minutes.
    #[test]
    fn both_sides_measure_every_op() {
        let root = crate::base::paths::project_root();
        let python = std::fs::read_to_string(
            crate::base::paths::bindings_dir().join("tests/test_benchmark.py"),
        )
        .unwrap();
        let native = std::fs::read_to_string(
            root.join("experiments/bindings/ws-transport/examples/bench.rs"),
        )
        .unwrap();
        for (op, test) in OPS {
            assert!(
                python.contains(&format!("def {test}(")),
                "no Python test {test}"
            );
            let named = format!("benchmark.extra_info[\"op\"] = \"{op}\"");
            assert!(python.contains(&named), "{test} does not say {named}");
            assert!(
                native.contains(&format!("\"{op}\"")),
                "bench.rs does not time {op}"
            );
        }
    }
}
