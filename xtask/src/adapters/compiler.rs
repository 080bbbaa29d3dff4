//! The compiler's errors, read out of a build's output (cargo's, or maturin's around it),
//! so that a failed build shows them and its one-line cause names the first.

use camino::Utf8Path;

use crate::base::paths;

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

/// What a failed build shows of its `output` (a step's log): the compiler's errors, or
/// else the last [`SHOWN_LINES`] lines.
pub fn shown(output: &str) -> String {
    errors(output, SHOWN_LINES).unwrap_or_else(|| {
        let lines: Vec<&str> = output.lines().collect();
        lines[lines.len().saturating_sub(SHOWN_LINES)..].join("\n")
    })
}

/// The first error as one line, `FILE:LINE:COL: error[E0308]: mismatched types`, for the
/// line that names a failed run's cause; `None` if the compiler reported no error. rustc
/// names files from the folder of the workspace it built, `workspace`; the file is named
/// from `root` instead, as everything else xtask shows.
pub fn first_error(output: &str, workspace: &Utf8Path, root: &Utf8Path) -> Option<String> {
    let mut lines = output.lines();
    let error = lines.by_ref().find(|line| is_compiler_error(line))?;
    // rustc's `  --> FILE:LINE:COL` follows the message, before the snippet's blank line.
    let place = lines
        .take_while(|line| !line.trim().is_empty())
        .find_map(|line| line.trim_start().strip_prefix("--> "));
    Some(match place {
        Some(place) => {
            let place = paths::relative(workspace, root, Utf8Path::new(place));
            format!("{place}: {error}")
        }
        None => error.to_owned(),
    })
}

/// `errors` (rustc's, from a build of the workspace in `workspace`) with each `--> FILE`
/// named from `root`, as [`first_error`] names it: the same file gets the same name whichever
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

    #[test]
    fn the_first_error_is_one_line_with_its_place() {
        let root = Utf8Path::new("/w");
        assert_eq!(
            first_error(MATURIN, root, root).unwrap(),
            "src/lib.rs:3:5: error[E0308]: mismatched types"
        );
        let linker = "error: linking with `cc` failed: exit status: 1\n";
        assert_eq!(first_error(linker, root, root).unwrap(), linker.trim_end());
        assert_eq!(
            first_error("error: could not compile `x`\n", root, root),
            None
        );
    }

    #[test]
    fn a_place_in_another_workspace_is_named_from_the_root() {
        let root = Utf8Path::new("/w");
        let bindings = root.join("experiments/bindings/python-ws-client");
        assert_eq!(
            first_error(MATURIN, &bindings, root).unwrap(),
            "experiments/bindings/python-ws-client/src/lib.rs:3:5: error[E0308]: mismatched types"
        );
        let transport = "error[E0308]: x\n  --> ../ws-transport/src/lib.rs:1:1\n";
        assert_eq!(
            first_error(transport, &bindings, root).unwrap(),
            "experiments/bindings/ws-transport/src/lib.rs:1:1: error[E0308]: x"
        );
        assert_eq!(
            named_from_root(&errors(MATURIN, 2).unwrap(), &bindings, root),
            "error[E0308]: mismatched types\n  --> experiments/bindings/python-ws-client/src/lib.rs:3:5"
        );
        let elsewhere = "error[E0308]: x\n  --> /abs/x.rs:1:1\n";
        assert_eq!(
            first_error(elsewhere, &bindings, root).unwrap(),
            "/abs/x.rs:1:1: error[E0308]: x"
        );
    }
}
