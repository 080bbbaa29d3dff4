//! A cargo build as its JSON messages tell it (`cargo test --no-run --message-format=json`):
//! the crates built, the compiler's errors with their places, the test binaries; and the
//! test targets
//! that `cargo test` leaves out by default (`test = false`), from `cargo metadata`. Both are
//! formats cargo promises to keep; its human `Running ...` lines are not.

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::diagnostic::DiagnosticLevel;
use cargo_metadata::{Message, Metadata, TargetKind};
use xshell::cmd;

use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::Job;
use crate::base::tail::Lines;
use crate::engine::events::CompilerError;

/// A build followed through its JSON messages as they come.
#[derive(Debug, Default)]
pub struct Build {
    /// Artifacts built or found fresh so far.
    pub artifacts: u64,
    /// The compiler's errors, in the order it reported them.
    pub errors: Vec<CompilerError>,
    /// The test executables built (or found fresh), in the order cargo told them.
    pub test_executables: Vec<Utf8PathBuf>,
    lines: Lines,
}

impl Build {
    /// Takes the next piece of the messages; returns the diagnostics they complete (warnings
    /// too) as rendered for people, for the step's log. `workspace` is the folder cargo
    /// built in, from which rustc names files, `root` the folder they are named from instead.
    pub fn feed(&mut self, bytes: &[u8], workspace: &Utf8Path, root: &Utf8Path) -> Vec<String> {
        let mut rendered_now = Vec::new();
        for line in self.lines.push(bytes) {
            match serde_json::from_str::<Message>(&line) {
                Ok(Message::CompilerArtifact(artifact)) => {
                    self.artifacts += 1;
                    let test = artifact.executable.filter(|_| artifact.profile.test);
                    self.test_executables.extend(test);
                }
                Ok(Message::CompilerMessage(message)) => {
                    let diagnostic = message.message;
                    let rendered = diagnostic.rendered.clone().unwrap_or_default();
                    if diagnostic.level == DiagnosticLevel::Error {
                        let code = diagnostic.code.as_ref().map(|c| format!("[{}]", c.code));
                        let span = diagnostic.spans.iter().find(|span| span.is_primary);
                        let place = span.map(|span| {
                            let file = Utf8Path::new(&span.file_name);
                            let file = paths::relative(workspace, root, file);
                            format!("{file}:{}:{}", span.line_start, span.column_start)
                        });
                        self.errors.push(CompilerError {
                            message: format!(
                                "error{}: {}",
                                code.unwrap_or_default(),
                                diagnostic.message
                            ),
                            place,
                            rendered: rendered.clone(),
                        });
                    }
                    rendered_now.push(rendered);
                }
                _ => {}
            }
        }
        rendered_now
    }
}

/// The test executables among cargo's JSON messages, in the order cargo built them, from a
/// whole file of them (a recorded build; `rust build` reads them live through [`Build`]).
#[cfg(test)]
pub fn test_executables(json: &[u8]) -> Result<Vec<Utf8PathBuf>> {
    let mut executables = Vec::new();
    for message in Message::parse_stream(std::io::BufReader::new(json)) {
        let message = message.context("cannot read cargo's JSON messages")?;
        let Message::CompilerArtifact(artifact) = message else {
            continue;
        };
        executables.extend(artifact.executable.filter(|_| artifact.profile.test));
    }
    Ok(executables)
}

/// The workspace's integration tests that `cargo test` leaves out (`test = false` in their
/// package's manifest), as `(package, target)`: the xtask tests that need the venv.
pub fn opt_in_tests(metadata: &Metadata) -> Vec<(String, String)> {
    let members = metadata.workspace_packages();
    let targets = members.iter().flat_map(|package| {
        let targets = package.targets.iter();
        targets
            .filter(|target| target.kind.contains(&TargetKind::Test) && !target.test)
            .map(|target| (package.name.to_string(), target.name.clone()))
    });
    targets.collect()
}

/// The arguments that select [`opt_in_tests`] for a cargo command (`-p PACKAGE --test
/// NAME ...`), from `cargo metadata`; empty when there are none. `--all-targets` leaves
/// those targets out, so `ci` builds them and `lint` checks them with these.
pub fn opt_in_test_args(sh: &StepContext) -> Result<Vec<String>> {
    let metadata = Job::new(sh, cmd!(sh, "cargo metadata --no-deps --format-version 1")).read()?;
    let metadata =
        cargo_metadata::MetadataCommand::parse(metadata).context("cannot read `cargo metadata`")?;
    let mut args = Vec::new();
    for (package, target) in opt_in_tests(&metadata) {
        args.extend(["-p".to_owned(), package, "--test".to_owned(), target]);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::paths;

    /// Two messages as cargo 1.95 writes them, trimmed to the fields that matter, around a
    /// line that is not JSON and a library that is not a test.
    const MESSAGES: &str = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/experiments/simd-r-drive-ws-server#0.1.0","manifest_path":"/w/experiments/simd-r-drive-ws-server/Cargo.toml","target":{"kind":["test"],"crate_types":["bin"],"name":"server","src_path":"/w/experiments/simd-r-drive-ws-server/tests/server.rs","edition":"2024","doc":false,"doctest":false,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/w/target/debug/deps/server-1b2c"],"executable":"/w/target/debug/deps/server-1b2c","fresh":true}
not json
{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#tokio@1.52.0","manifest_path":"/r/tokio-1.52.0/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"tokio","src_path":"/r/tokio-1.52.0/src/lib.rs","edition":"2021","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/w/target/debug/deps/libtokio.rlib"],"executable":null,"fresh":true}
{"reason":"compiler-artifact","package_id":"path+file:///w/experiments/bindings/ws-transport#simd-r-drive-ws-transport@0.1.0","manifest_path":"/w/experiments/bindings/ws-transport/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"simd_r_drive_ws_transport","src_path":"/w/experiments/bindings/ws-transport/src/lib.rs","edition":"2024","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/w/target/debug/deps/simd_r_drive_ws_transport-085b"],"executable":"/w/target/debug/deps/simd_r_drive_ws_transport-085b","fresh":false}
{"reason":"build-finished","success":true}
"#;

    #[test]
    fn test_executables_come_from_the_json_messages() {
        let executables = test_executables(MESSAGES.as_bytes()).unwrap();
        assert_eq!(
            executables,
            [
                "/w/target/debug/deps/server-1b2c",
                "/w/target/debug/deps/simd_r_drive_ws_transport-085b"
            ],
        );
    }

    /// The tests that run pytest or import the venv's tools are the ones that `cargo test`
    /// leaves out, and no others: a new one that is not marked would fail every
    /// `cargo test --workspace` run without a venv.
    #[test]
    fn the_tests_that_need_python_are_the_opt_in_targets() {
        let metadata = cargo_metadata::MetadataCommand::new()
            .manifest_path(paths::project_root().join("xtask/Cargo.toml"))
            .no_deps()
            .exec()
            .unwrap();
        let mut opt_in: Vec<String> = opt_in_tests(&metadata)
            .into_iter()
            .map(|(_, target)| target)
            .collect();
        opt_in.sort();
        let dir = paths::project_root().join("xtask/tests");
        let mut need_python = Vec::new();
        for entry in dir.read_dir_utf8().unwrap() {
            let path = entry.unwrap().into_path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if path.is_file() && text.contains("common::python_with(") {
                need_python.push(path.file_stem().unwrap().to_owned());
            }
        }
        need_python.sort();
        assert!(!opt_in.is_empty());
        assert_eq!(
            opt_in, need_python,
            "mark each test that needs Python `test = false` in xtask/Cargo.toml, and no other"
        );
    }
}
