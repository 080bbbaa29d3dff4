//! The compiler's errors, read out of a build's rendered output (maturin's, which passes
//! on cargo's rendered messages only; the build that nextest or `cargo test --doc` runs
//! first) as it comes, so that a failed build shows them and its one-line cause names the
//! first. Where cargo's JSON messages exist, `cargo_build` reads those instead.

use std::collections::VecDeque;

use camino::{Utf8Path, Utf8PathBuf};

use crate::base::paths;
use crate::base::tail::Lines;
use crate::engine::events::CompilerError;

/// A build's rendered output, fed as it comes: the compiler's errors, each with its place
/// and its snippet, and the last [`SHOWN_LINES`] lines, for a failure that is not the
/// compiler's.
#[derive(Debug)]
pub struct Rendered {
    pub errors: Vec<CompilerError>,
    last: VecDeque<String>,
    /// The error being read, until the blank line that ends its snippet.
    open: Option<CompilerError>,
    lines: Lines,
    /// The folder of the workspace it builds, from which rustc names files.
    workspace: Utf8PathBuf,
    /// The folder files are named from instead.
    root: Utf8PathBuf,
}

impl Rendered {
    pub fn new(workspace: &Utf8Path, root: &Utf8Path) -> Rendered {
        Rendered {
            errors: Vec::new(),
            last: VecDeque::new(),
            open: None,
            lines: Lines::default(),
            workspace: workspace.to_owned(),
            root: root.to_owned(),
        }
    }

    /// Takes the next piece of the output; a line cut in two waits for its end.
    pub fn feed(&mut self, bytes: &[u8]) {
        for line in self.lines.push(bytes) {
            self.line(&line);
        }
    }

    /// The output has ended: an error still open is complete.
    pub fn finish(&mut self) {
        let rest = self.lines.push(b"\n");
        for line in rest.iter().filter(|line| !line.is_empty()) {
            self.line(line);
        }
        self.close();
    }

    fn line(&mut self, line: &str) {
        if self.last.len() == SHOWN_LINES {
            self.last.pop_front();
        }
        self.last.push_back(line.to_owned());
        if is_compiler_error(line) {
            self.close();
            self.open = Some(CompilerError {
                message: line.to_owned(),
                place: None,
                rendered: format!("{line}\n"),
            });
            return;
        }
        let Some(open) = &mut self.open else {
            return;
        };
        if line.trim().is_empty() || line.starts_with("error") || line.starts_with("warning") {
            self.close();
            return;
        }
        let trimmed = line.trim_start();
        match trimmed.strip_prefix("--> ") {
            // rustc's `  --> FILE:LINE:COL` follows the message.
            Some(place) => {
                let indent = &line[..line.len() - trimmed.len()];
                let place = paths::relative(&self.workspace, &self.root, Utf8Path::new(place));
                open.place.get_or_insert_with(|| place.to_string());
                open.rendered.push_str(&format!("{indent}--> {place}\n"));
            }
            None => open.rendered.push_str(&format!("{line}\n")),
        }
    }

    fn close(&mut self) {
        self.errors.extend(self.open.take());
    }

    /// What a failed build shows: the compiler's errors, or else the last lines of the
    /// output.
    pub fn shown(&self) -> String {
        if self.errors.is_empty() {
            let last: Vec<&str> = self.last.iter().map(String::as_str).collect();
            return last.join("\n");
        }
        shown_errors(&self.errors)
    }
}

/// The compiler's errors as rendered, at most [`SHOWN_LINES`] lines.
pub fn shown_errors(errors: &[CompilerError]) -> String {
    let rendered: Vec<&str> = errors.iter().map(|e| e.rendered.trim_end()).collect();
    let rendered = rendered.join("\n\n");
    let lines: Vec<&str> = rendered.lines().take(SHOWN_LINES).collect();
    lines.join("\n")
}

/// The compiler's errors, from the first one to cargo's `could not compile` (what maturin
/// adds after it, the whole cargo command, helps nobody), at most `most` lines; `None` if
/// it reported none.
pub fn errors(output: &str, most: usize) -> Option<String> {
    let lines: Vec<&str> = output.lines().collect();
    let first = lines.iter().position(|line| line.starts_with("error"))?;
    let last = lines[first..]
        .iter()
        .position(|line| line.starts_with("error: could not compile"))
        .map_or(lines.len(), |n| first + n + 1);
    Some(lines[first..last.min(first + most)].join("\n"))
}

/// Lines of a failed build's output shown under its step in `ci`; the log has them all.
pub const SHOWN_LINES: usize = 60;

/// `errors` (rustc's, from a build of the workspace in `workspace`) with each `--> FILE`
/// named from `root`, as [`Rendered`] names it: the same file gets the same name whichever
/// workspace failed to build.
pub fn named_from_root(errors: &str, workspace: &Utf8Path, root: &Utf8Path) -> String {
    let lines = errors.lines().map(|line| {
        let trimmed = line.trim_start();
        match trimmed.strip_prefix("--> ") {
            Some(place) => {
                let indent = &line[..line.len() - trimmed.len()];
                let place = paths::relative(workspace, root, Utf8Path::new(place));
                format!("{indent}--> {place}")
            }
            None => line.to_owned(),
        }
    });
    lines.collect::<Vec<_>>().join("\n")
}

/// rustc's own errors, not cargo's summary of them.
fn is_compiler_error(line: &str) -> bool {
    line.starts_with("error")
        && !line.starts_with("error: could not compile")
        && !line.starts_with("error: aborting")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATURIN: &str = "$ maturin develop\n   Compiling x\n\
        error[E0308]: mismatched types\n  --> src/lib.rs:3:5\n   |\n\n\
        error: could not compile `x` (lib)\n\u{1f4a5} maturin failed\n  Caused by: cargo rustc\n";

    #[test]
    fn errors_run_from_the_first_to_could_not_compile() {
        assert_eq!(
            errors(MATURIN, 10).unwrap(),
            "error[E0308]: mismatched types\n  --> src/lib.rs:3:5\n   |\n\n\
             error: could not compile `x` (lib)"
        );
        assert_eq!(
            errors(MATURIN, 1).unwrap(),
            "error[E0308]: mismatched types"
        );
        assert_eq!(errors("all fine\n", 10), None);
    }

    /// The first error as one line, `FILE:LINE:COL: error[E0308]: mismatched types`.
    fn first(output: &str, workspace: &Utf8Path, root: &Utf8Path) -> Option<String> {
        let mut rendered = Rendered::new(workspace, root);
        for chunk in output.as_bytes().chunks(7) {
            rendered.feed(chunk);
        }
        rendered.finish();
        rendered.errors.first().map(ToString::to_string)
    }

    #[test]
    fn the_first_error_is_one_line_with_its_place() {
        let root = Utf8Path::new("/w");
        assert_eq!(
            first(MATURIN, root, root).unwrap(),
            "src/lib.rs:3:5: error[E0308]: mismatched types"
        );
        let linker = "error: linking with `cc` failed: exit status: 1\n";
        assert_eq!(first(linker, root, root).unwrap(), linker.trim_end());
        assert_eq!(first("error: could not compile `x`\n", root, root), None);
    }

    #[test]
    fn each_error_keeps_its_snippet_and_a_failure_without_one_its_last_lines() {
        let root = Utf8Path::new("/w");
        let two = "   Compiling x\nerror[E0425]: cannot find value `y`\n --> src/a.rs:1:1\n  |\n1 | y\n  | ^\n\n\
            warning: unused\n --> src/b.rs:2:2\n\nerror: aborting due to 1 previous error\n";
        let mut rendered = Rendered::new(root, root);
        rendered.feed(two.as_bytes());
        rendered.finish();
        let [error] = rendered.errors.as_slice() else {
            panic!("{:?}", rendered.errors)
        };
        assert_eq!(
            error.rendered,
            "error[E0425]: cannot find value `y`\n --> src/a.rs:1:1\n  |\n1 | y\n  | ^\n"
        );
        assert!(
            rendered.shown().starts_with("error[E0425]"),
            "{}",
            rendered.shown()
        );
        let mut plain = Rendered::new(root, root);
        plain.feed(b"one\ntwo\n");
        plain.finish();
        assert!(plain.errors.is_empty());
        assert_eq!(plain.shown(), "one\ntwo");
    }

    #[test]
    fn a_place_in_another_workspace_is_named_from_the_root() {
        let root = Utf8Path::new("/w");
        let bindings = root.join("experiments/bindings/python-ws-client");
        assert_eq!(
            first(MATURIN, &bindings, root).unwrap(),
            "experiments/bindings/python-ws-client/src/lib.rs:3:5: error[E0308]: mismatched types"
        );
        let transport = "error[E0308]: x\n  --> ../ws-transport/src/lib.rs:1:1\n";
        assert_eq!(
            first(transport, &bindings, root).unwrap(),
            "experiments/bindings/ws-transport/src/lib.rs:1:1: error[E0308]: x"
        );
        assert_eq!(
            named_from_root(&errors(MATURIN, 2).unwrap(), &bindings, root),
            "error[E0308]: mismatched types\n  --> experiments/bindings/python-ws-client/src/lib.rs:3:5"
        );
        let elsewhere = "error[E0308]: x\n  --> /abs/x.rs:1:1\n";
        assert_eq!(
            first(elsewhere, &bindings, root).unwrap(),
            "/abs/x.rs:1:1: error[E0308]: x"
        );
    }
}
