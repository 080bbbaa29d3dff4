//! What the linters found, as file:line findings: rustfmt's diff, clippy's diagnostics
//! (cargo's JSON messages) and mypy's errors (`mypy -O json`). Each finding keeps the text a
//! person reads (the diff hunk, the rendered diagnostic, mypy's line) with its file named
//! from the workspace root, whichever folder the tool ran from, so that every path shown can
//! be opened as it is.

use std::io::BufReader;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::Message;
use cargo_metadata::diagnostic::{Diagnostic, DiagnosticLevel};
use serde_json::Value;

use crate::base::paths;

/// One problem, where it is, and how the tool showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Relative to the workspace root when inside it.
    pub file: Utf8PathBuf,
    pub line: u64,
    /// From 1; `None` when the tool does not say.
    pub column: Option<u64>,
    /// One line, for an annotation.
    pub message: String,
    /// What to show a person: the tool's own text, its paths taken from the workspace root.
    pub text: String,
}

/// rustfmt 1.9's `--check` output (with `--color never`): a `Diff in PATH:LINE:` header per
/// hunk, PATH absolute, then the hunk. rustfmt has no stable structured output (its JSON
/// emitter needs `--unstable-features`), so this reads its prose; a test pins the format.
pub fn rustfmt(output: &str, root: &Utf8Path) -> Vec<Finding> {
    let mut findings: Vec<Finding> = Vec::new();
    for line in output.lines() {
        let header = line
            .strip_prefix("Diff in ")
            .and_then(|rest| rest.strip_suffix(':'))
            .and_then(|rest| rest.rsplit_once(':'))
            .and_then(|(path, number)| Some((path, number.parse::<u64>().ok()?)));
        match (header, findings.last_mut()) {
            (Some((path, number)), _) => {
                let file = paths::relative(root, root, Utf8Path::new(path));
                findings.push(Finding {
                    text: format!("Diff in {file}:{number}:"),
                    file,
                    line: number,
                    column: None,
                    message: "not formatted as rustfmt formats it".to_owned(),
                });
            }
            (None, Some(finding)) => {
                finding.text.push('\n');
                finding.text.push_str(line);
            }
            (None, None) => {}
        }
    }
    findings
}

/// The errors and warnings among cargo's JSON messages (`--message-format=json`), each
/// once: `--all-targets` checks a file once per target that includes it. `base` is the
/// folder of the workspace that cargo built, which rustc's paths are relative to.
pub fn clippy(json: &[u8], base: &Utf8Path, root: &Utf8Path) -> Result<Vec<Finding>> {
    let mut findings: Vec<Finding> = Vec::new();
    for message in Message::parse_stream(BufReader::new(json)) {
        let message = message.context("cannot read cargo's JSON messages")?;
        let Message::CompilerMessage(message) = message else {
            continue;
        };
        let Some(finding) = diagnostic(&message.message, base, root) else {
            continue;
        };
        if !findings.iter().any(|seen| seen.text == finding.text) {
            findings.push(finding);
        }
    }
    Ok(findings)
}

/// A diagnostic with a place in the code; a summary such as "aborting due to 2 previous
/// errors" has none.
fn diagnostic(diagnostic: &Diagnostic, base: &Utf8Path, root: &Utf8Path) -> Option<Finding> {
    if !matches!(
        diagnostic.level,
        DiagnosticLevel::Error | DiagnosticLevel::Warning | DiagnosticLevel::Ice
    ) {
        return None;
    }
    let span = diagnostic.spans.iter().find(|span| span.is_primary)?;
    let mut text = diagnostic.rendered.clone()?.trim_end().to_owned();
    if base != root {
        // rustc names files from the workspace it built: make those paths the root's.
        for shown in all_spans(diagnostic) {
            let file = paths::relative(base, root, Utf8Path::new(shown));
            for arrow in ["--> ", "::: "] {
                text = text.replace(&format!("{arrow}{shown}:"), &format!("{arrow}{file}:"));
            }
        }
    }
    Some(Finding {
        file: paths::relative(base, root, Utf8Path::new(&span.file_name)),
        line: span.line_start as u64,
        column: Some(span.column_start as u64),
        message: diagnostic.message.clone(),
        text,
    })
}

/// The files that a diagnostic and its children point at.
fn all_spans(diagnostic: &Diagnostic) -> Vec<&str> {
    let mut files: Vec<&str> = diagnostic
        .spans
        .iter()
        .map(|span| span.file_name.as_str())
        .collect();
    for child in &diagnostic.children {
        files.extend(all_spans(child));
    }
    files.sort_unstable();
    files.dedup();
    files
}

/// mypy's `-O json` output, a JSON object per line (mypy 1.11 and later); its paths are
/// relative to `base`, the folder it ran from. A line that is not such an object (a crash,
/// a config error) is not a finding: the step's log shows it.
pub fn mypy(output: &str, base: &Utf8Path, root: &Utf8Path) -> Vec<Finding> {
    output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|error| {
            let file = paths::relative(base, root, Utf8Path::new(error["file"].as_str()?));
            let line = error["line"].as_u64()?;
            let severity = error["severity"].as_str().unwrap_or("error");
            let message = error["message"].as_str()?.to_owned();
            let mut text = format!("{file}:{line}: {severity}: {message}");
            if let Some(code) = error["code"].as_str() {
                text.push_str(&format!("  [{code}]"));
            }
            for hint in error["hint"].as_str().unwrap_or_default().lines() {
                text.push_str(&format!("\n{file}:{line}: note: {hint}"));
            }
            Some(Finding {
                file,
                line,
                // mypy counts columns from 0.
                column: error["column"].as_u64().map(|c| c + 1),
                message,
                text,
            })
        })
        .collect()
}

/// The findings as a person reads them, one after the other, at most `limit` lines; the
/// step's log has all of them.
pub fn show(findings: &[Finding], limit: usize) -> String {
    let mut text = String::new();
    for (index, finding) in findings.iter().enumerate() {
        // A blank line between findings of several lines (a diff, a diagnostic), as the
        // tools print them; one-line findings (mypy's) follow each other.
        let several = |f: &Finding| f.text.contains('\n');
        if index > 0 {
            let blank = several(finding) || several(&findings[index - 1]);
            text.push_str(if blank { "\n\n" } else { "\n" });
        }
        text.push_str(&finding.text);
    }
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= limit {
        return text;
    }
    let more = lines.len() - limit;
    format!(
        "{}\n... {more} more lines in the log",
        lines[..limit].join("\n")
    )
}

/// A GitHub Actions `::error` command that puts `finding` on its line of the pull request.
pub fn annotation(finding: &Finding) -> String {
    let column = finding
        .column
        .map_or(String::new(), |column| format!(",col={column}"));
    format!(
        "::error file={},line={}{column}::{}",
        escape_property(finding.file.as_str()),
        finding.line,
        crate::base::github::escape_data(&finding.message)
    )
}

/// GitHub's escaping for a workflow command's property value.
fn escape_property(value: &str) -> String {
    crate::base::github::escape_data(value)
        .replace(':', "%3A")
        .replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "/w";

    /// `cargo fmt --all --check -- --color never` as rustfmt 1.9.0 prints it.
    const RUSTFMT: &str = "Diff in /w/xtask/src/tools.rs:12:
 fn main() {
-    let x = 1;  let y=2;
+    let x = 1;
+    let y = 2;
 }
 
Diff in /w/experiments/bindings/python-ws-client/src/lib.rs:40:
-use a;use b;
+use a;
+use b;
";

    #[test]
    fn rustfmt_hunks_name_their_file_and_line_from_the_root() {
        let findings = rustfmt(RUSTFMT, Utf8Path::new(ROOT));
        assert_eq!(findings.len(), 2, "{findings:#?}");
        assert_eq!(findings[0].file, "xtask/src/tools.rs");
        assert_eq!(findings[0].line, 12);
        assert!(
            findings[0].text.starts_with(
                "Diff in xtask/src/tools.rs:12:\n fn main() {\n-    let x = 1;  let y=2;"
            ),
            "{}",
            findings[0].text
        );
        assert!(!findings[0].text.contains("use a;"), "hunks stay apart");
        assert_eq!(
            findings[1].file,
            "experiments/bindings/python-ws-client/src/lib.rs"
        );
        assert_eq!(rustfmt("", Utf8Path::new(ROOT)), []);
    }

    /// A warning denied by `-D warnings`, as clippy 0.1.95 reports it in the bindings'
    /// crate, twice (lib and lib test), around cargo's final message.
    fn clippy_messages() -> String {
        let rendered = "error: equal expressions as operands to `==`\n --> src/lib.rs:3:8\n  |\n3 |     if x == x {}\n  |        ^^^^^^\n  |\n  = note: `#[deny(clippy::eq_op)]` on by default\n\n";
        let message = serde_json::json!({
            "reason": "compiler-message",
            "package_id": "path+file:///w/experiments/bindings/python-ws-client#simd-r-drive-ws-client-py@0.1.0",
            "manifest_path": "/w/experiments/bindings/python-ws-client/Cargo.toml",
            "target": {"kind": ["cdylib"], "crate_types": ["cdylib"], "name": "simd_r_drive_ws_client",
                       "src_path": "/w/experiments/bindings/python-ws-client/src/lib.rs",
                       "edition": "2024", "doc": true, "doctest": false, "test": true},
            "message": {
                "rendered": rendered, "$message_type": "diagnostic", "children": [],
                "level": "error", "message": "equal expressions as operands to `==`",
                "code": {"code": "clippy::eq_op", "explanation": null},
                "spans": [{"byte_end": 50, "byte_start": 44, "column_end": 14, "column_start": 8,
                           "expansion": null, "file_name": "src/lib.rs", "is_primary": true,
                           "label": null, "line_end": 3, "line_start": 3,
                           "suggested_replacement": null, "suggestion_applicability": null,
                           "text": []}]
            }
        });
        let summary = serde_json::json!({
            "reason": "compiler-message",
            "package_id": "path+file:///w/experiments/bindings/python-ws-client#simd-r-drive-ws-client-py@0.1.0",
            "manifest_path": "/w/experiments/bindings/python-ws-client/Cargo.toml",
            "target": message["target"].clone(),
            "message": {"rendered": "error: aborting due to 1 previous error\n\n",
                        "$message_type": "diagnostic", "children": [], "level": "error",
                        "message": "aborting due to 1 previous error", "code": null, "spans": []}
        });
        format!(
            "{message}\n{message}\n{summary}\n{{\"reason\":\"build-finished\",\"success\":false}}\n"
        )
    }

    #[test]
    fn clippy_findings_are_deduplicated_and_point_from_the_root() {
        let bindings = Utf8Path::new("/w/experiments/bindings/python-ws-client");
        let findings = clippy(clippy_messages().as_bytes(), bindings, Utf8Path::new(ROOT)).unwrap();
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let finding = &findings[0];
        assert_eq!(
            finding.file,
            "experiments/bindings/python-ws-client/src/lib.rs"
        );
        assert_eq!((finding.line, finding.column), (3, Some(8)));
        assert!(
            finding
                .text
                .contains(" --> experiments/bindings/python-ws-client/src/lib.rs:3:8\n"),
            "{}",
            finding.text
        );
        assert_eq!(
            annotation(finding),
            "::error file=experiments/bindings/python-ws-client/src/lib.rs,line=3,col=8::\
             equal expressions as operands to `==`"
        );
        // In the workspace itself, rustc's paths are already the root's.
        let same = clippy(
            clippy_messages().as_bytes(),
            Utf8Path::new(ROOT),
            Utf8Path::new(ROOT),
        );
        assert!(same.unwrap()[0].text.contains(" --> src/lib.rs:3:8\n"));
    }

    /// `mypy -O json` as mypy 2.4.1 prints it, from the bindings' folder, with a line that is
    /// not JSON.
    const MYPY: &str = r#"{"file": "tests/test_x.py", "line": 1, "column": 9, "end_line": 1, "end_column": 12, "message": "Incompatible types in assignment (expression has type \"str\", variable has type \"int\")", "hint": null, "code": "assignment", "severity": "error"}
{"file": "../../../xtask/src/readme/runtime.py", "line": 20, "column": 0, "end_line": 21, "end_column": 12, "message": "Function is missing a type annotation", "hint": "Use \"-> None\" if function does not return a value", "code": "no-untyped-def", "severity": "error"}
mypy: can't read file 'nope.py'
"#;

    #[test]
    fn mypy_errors_name_their_file_and_line_from_the_root() {
        let bindings = Utf8Path::new("/w/experiments/bindings/python-ws-client");
        let findings = mypy(MYPY, bindings, Utf8Path::new(ROOT));
        assert_eq!(findings.len(), 2, "{findings:#?}");
        assert_eq!(
            findings[0].text,
            "experiments/bindings/python-ws-client/tests/test_x.py:1: error: Incompatible types \
             in assignment (expression has type \"str\", variable has type \"int\")  [assignment]"
        );
        assert_eq!(findings[0].column, Some(10));
        assert_eq!(findings[1].file, "xtask/src/readme/runtime.py");
        assert_eq!(
            findings[1].text,
            "xtask/src/readme/runtime.py:20: error: Function is missing a type annotation  \
             [no-untyped-def]\nxtask/src/readme/runtime.py:20: note: Use \"-> None\" if \
             function does not return a value"
        );
    }

    #[test]
    fn paths_outside_the_root_stay_absolute_and_long_output_is_cut() {
        let root = Utf8Path::new(ROOT);
        assert_eq!(
            paths::relative(root, root, Utf8Path::new("/elsewhere/a.rs")),
            "/elsewhere/a.rs"
        );
        assert_eq!(
            paths::relative(root, root, Utf8Path::new("./b/../a.rs")),
            "a.rs"
        );
        let findings = rustfmt(RUSTFMT, root);
        let shown = show(&findings, 3);
        assert_eq!(shown.lines().count(), 4, "{shown}");
        assert!(shown.ends_with("more lines in the log"), "{shown}");
        assert_eq!(show(&findings, 100).matches("Diff in").count(), 2);
        assert!(
            show(&findings, 100).contains("\n \n\nDiff in"),
            "hunks apart"
        );
        let errors = mypy(MYPY, Utf8Path::new(ROOT), Utf8Path::new(ROOT));
        let one_line = [errors[0].clone(), errors[0].clone()];
        assert_eq!(show(&one_line, 100).lines().count(), 2, "one line each");
    }
}
