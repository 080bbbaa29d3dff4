//! The coverage table, the same Markdown for the terminal and GitHub's step summary, and
//! the thresholds it is held to.

use anyhow::{Context, Result};
use xshell::cmd;

use crate::base::context::StepContext;

use super::report::{BY, By, Ratio, Row};
use crate::process::Job;

/// The Rust threshold's key in the root Cargo.toml's `[workspace.metadata.coverage]`.
pub const RUST_KEY: &str = "rust-lines-fail-under";

/// The thresholds: percentages of lines covered by either side's tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Of the Rust crates' lines together (`[workspace.metadata.coverage]`).
    pub rust: f64,
    /// Of the Python package's lines (`fail_under` in pyproject.toml, coverage.py's).
    pub python: f64,
}

/// The Rust threshold from `cargo metadata`; the workspace must set it.
pub fn rust_threshold(sh: &StepContext) -> Result<f64> {
    let json = Job::new(sh, cmd!(sh, "cargo metadata --no-deps --format-version 1")).read()?;
    let metadata: serde_json::Value =
        serde_json::from_str(&json).context("cannot read `cargo metadata`")?;
    metadata["metadata"]["coverage"][RUST_KEY]
        .as_f64()
        .with_context(|| {
            format!("set `{RUST_KEY} = PERCENT` under [workspace.metadata.coverage] in Cargo.toml")
        })
}

fn cell(ratio: Ratio) -> String {
    format!(
        "{:.1}% ({}/{})",
        ratio.percent(),
        ratio.covered,
        ratio.count
    )
}

/// The table: a row per Rust crate, their total, and a row per Python package.
pub fn render(rust: &[Row], python: &[Row]) -> String {
    let mut lines = vec![
        "| coverage | lines by Rust tests | by Python tests | by either | functions by Rust tests | by Python tests | by either |".to_owned(),
        "|---|---:|---:|---:|---:|---:|---:|".to_owned(),
    ];
    let total = rust_total(rust);
    for row in rust.iter().chain([&total]) {
        let cells: Vec<String> = row
            .lines
            .iter()
            .chain(&row.functions)
            .map(|r| cell(*r))
            .collect();
        lines.push(format!("| {} | {} |", row.name, cells.join(" | ")));
    }
    for row in python {
        let by = |ratios: &[Ratio; 3]| {
            BY.iter()
                .zip(ratios)
                .map(|(by, ratio)| match by {
                    By::Rust => "–".to_owned(),
                    _ => cell(*ratio),
                })
                .collect::<Vec<_>>()
                .join(" | ")
        };
        lines.push(format!(
            "| {} | {} | {} |",
            row.name,
            by(&row.lines),
            by(&row.functions)
        ));
    }
    lines.join("\n")
}

/// The Rust crates together.
pub fn rust_total(rust: &[Row]) -> Row {
    let mut total = Row {
        name: "Rust total".to_owned(),
        ..Row::default()
    };
    for row in rust {
        for i in 0..3 {
            total.lines[i].covered += row.lines[i].covered;
            total.lines[i].count += row.lines[i].count;
            total.functions[i].covered += row.functions[i].covered;
            total.functions[i].count += row.functions[i].count;
        }
    }
    total
}

/// The first threshold not met, as one line that names it and by how much.
pub fn below(rust: &[Row], python: &[Row], thresholds: Thresholds) -> Option<String> {
    let either = 2;
    let rust_lines = rust_total(rust).lines[either].percent();
    if rust_lines < thresholds.rust {
        return Some(format!(
            "the Rust crates' line coverage is {rust_lines:.1}%, {:.1} points under the \
             threshold {} (`{RUST_KEY}` in Cargo.toml's [workspace.metadata.coverage])",
            thresholds.rust - rust_lines,
            thresholds.rust
        ));
    }
    for row in python {
        let lines = row.lines[either].percent();
        if lines < thresholds.python {
            return Some(format!(
                "{}'s line coverage is {lines:.1}%, {:.1} points under the threshold {} \
                 (`fail_under` in the bindings' pyproject.toml)",
                row.name,
                thresholds.python - lines,
                thresholds.python
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, lines: [(u64, u64); 3]) -> Row {
        let ratios = lines.map(|(covered, count)| Ratio { covered, count });
        Row {
            name: name.to_owned(),
            lines: ratios,
            functions: ratios,
        }
    }

    #[test]
    fn the_table_has_a_row_per_crate_their_total_and_the_python_package() {
        let rust = [
            row("server", [(50, 100), (60, 100), (80, 100)]),
            row("transport", [(10, 50), (40, 50), (45, 50)]),
        ];
        let python = [row("package (Python)", [(9, 10); 3])];
        let table = render(&rust, &python);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 6, "{table}");
        assert!(
            lines[2].starts_with("| server | 50.0% (50/100) | 60.0% (60/100) | 80.0% (80/100) |"),
            "{table}"
        );
        assert!(
            lines[4]
                .starts_with("| Rust total | 40.0% (60/150) | 66.7% (100/150) | 83.3% (125/150) |"),
            "{table}"
        );
        assert!(
            lines[5].starts_with("| package (Python) | – | 90.0% (9/10) | 90.0% (9/10) | – |"),
            "{table}"
        );
    }

    #[test]
    fn a_run_below_a_threshold_names_it_and_by_how_much() {
        let rust = [row("server", [(50, 100), (60, 100), (80, 100)])];
        let python = [row("package (Python)", [(7, 10); 3])];
        let met = Thresholds {
            rust: 80.0,
            python: 70.0,
        };
        assert_eq!(below(&rust, &python, met), None);
        let rust_short = below(&rust, &python, Thresholds { rust: 85.0, ..met }).unwrap();
        assert!(
            rust_short.contains("80.0%, 5.0 points under the threshold 85"),
            "{rust_short}"
        );
        assert!(rust_short.contains(RUST_KEY), "{rust_short}");
        let python_short = below(
            &rust,
            &python,
            Thresholds {
                python: 72.5,
                ..met
            },
        )
        .unwrap();
        assert!(
            python_short.contains("package (Python)'s line coverage is 70.0%, 2.5 points under"),
            "{python_short}"
        );
        assert!(!python_short.contains('\n'));
    }
}
