//! The Rust test binaries, as cargo reports them in its JSON messages
//! (`cargo test --no-run --message-format=json-render-diagnostics`), and the test targets
//! that `cargo test` leaves out by default (`test = false`), from `cargo metadata`. Both are
//! formats cargo promises to keep; its human `Running ...` lines are not.

use std::io::BufReader;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::{Message, Metadata, TargetKind};
use xshell::{Shell, cmd};

use crate::process::Job;

/// One test executable, as cargo built it (`rust build` counts them; nextest runs them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBinary {
    /// The package's name, for `-p`.
    pub package: String,
    /// The target's name, for `--test NAME` (an integration test) or `--lib`/`--bin`.
    pub target: String,
    pub kind: Kind,
    /// The target's main source file, relative to the package's folder: `tests/server.rs`.
    pub source: Utf8PathBuf,
    pub executable: Utf8PathBuf,
    /// Where cargo runs it from, and what `CARGO_MANIFEST_DIR` says.
    pub package_dir: Utf8PathBuf,
}

/// The kinds of test target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A library's or a binary's own `#[test]`s.
    Unit,
    /// A file under `tests/`.
    Integration,
}

/// The test executables among cargo's JSON messages, in the order cargo built them.
pub fn test_binaries(json: &[u8]) -> Result<Vec<TestBinary>> {
    let mut binaries = Vec::new();
    for message in Message::parse_stream(BufReader::new(json)) {
        let message = message.context("cannot read cargo's JSON messages")?;
        let Message::CompilerArtifact(artifact) = message else {
            continue;
        };
        let Some(executable) = artifact.executable.filter(|_| artifact.profile.test) else {
            continue;
        };
        let package_dir = artifact
            .manifest_path
            .parent()
            .context("a manifest path without a folder")?
            .to_owned();
        let kind = if artifact.target.kind.contains(&TargetKind::Test) {
            Kind::Integration
        } else {
            Kind::Unit
        };
        let source = artifact.target.src_path;
        binaries.push(TestBinary {
            package: package_name(&artifact.package_id.repr, &package_dir),
            target: artifact.target.name,
            kind,
            source: source
                .strip_prefix(&package_dir)
                .unwrap_or(&source)
                .to_owned(),
            executable,
            package_dir,
        });
    }
    Ok(binaries)
}

/// The package name from a package id (`path+file:///w/xtask#0.1.0`, or
/// `path+file:///w/a#name@0.1.0` when the folder is named otherwise).
fn package_name(id: &str, package_dir: &Utf8Path) -> String {
    let fragment = id.rsplit_once('#').map_or("", |(_, fragment)| fragment);
    match fragment.split_once('@') {
        Some((name, _)) => name.to_owned(),
        None => package_dir.file_name().unwrap_or_default().to_owned(),
    }
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
pub fn opt_in_test_args(sh: &Shell) -> Result<Vec<String>> {
    let metadata = Job::new(cmd!(sh, "cargo metadata --no-deps --format-version 1")).read()?;
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

    /// Two messages as cargo 1.95 writes them, trimmed to the fields that matter, around a
    /// line that is not JSON and a library that is not a test.
    const MESSAGES: &str = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/experiments/simd-r-drive-ws-server#0.1.0","manifest_path":"/w/experiments/simd-r-drive-ws-server/Cargo.toml","target":{"kind":["test"],"crate_types":["bin"],"name":"server","src_path":"/w/experiments/simd-r-drive-ws-server/tests/server.rs","edition":"2024","doc":false,"doctest":false,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/w/target/debug/deps/server-1b2c"],"executable":"/w/target/debug/deps/server-1b2c","fresh":true}
not json
{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#tokio@1.52.0","manifest_path":"/r/tokio-1.52.0/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"tokio","src_path":"/r/tokio-1.52.0/src/lib.rs","edition":"2021","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/w/target/debug/deps/libtokio.rlib"],"executable":null,"fresh":true}
{"reason":"compiler-artifact","package_id":"path+file:///w/experiments/bindings/ws-transport#simd-r-drive-ws-transport@0.1.0","manifest_path":"/w/experiments/bindings/ws-transport/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"simd_r_drive_ws_transport","src_path":"/w/experiments/bindings/ws-transport/src/lib.rs","edition":"2024","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/w/target/debug/deps/simd_r_drive_ws_transport-085b"],"executable":"/w/target/debug/deps/simd_r_drive_ws_transport-085b","fresh":false}
{"reason":"build-finished","success":true}
"#;

    #[test]
    fn test_binaries_come_from_the_json_messages() {
        let binaries = test_binaries(MESSAGES.as_bytes()).unwrap();
        assert_eq!(binaries.len(), 2, "{binaries:#?}");
        let server = &binaries[0];
        assert_eq!(server.package, "simd-r-drive-ws-server");
        assert_eq!(server.kind, Kind::Integration);
        assert_eq!(server.source, "tests/server.rs");
        assert_eq!(server.executable, "/w/target/debug/deps/server-1b2c");
        assert_eq!(server.package_dir, "/w/experiments/simd-r-drive-ws-server");
        let transport = &binaries[1];
        assert_eq!(transport.package, "simd-r-drive-ws-transport");
        assert_eq!(transport.kind, Kind::Unit);
        assert_eq!(transport.source, "src/lib.rs");
    }

    /// The tests that run pytest or import the venv's tools are the ones that `cargo test`
    /// leaves out, and no others: a new one that is not marked would fail every
    /// `cargo test --workspace` run without a venv.
    #[test]
    fn the_tests_that_need_python_are_the_opt_in_targets() {
        let metadata = cargo_metadata::MetadataCommand::new()
            .manifest_path(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .no_deps()
            .exec()
            .unwrap();
        let mut opt_in: Vec<String> = opt_in_tests(&metadata)
            .into_iter()
            .map(|(_, target)| target)
            .collect();
        opt_in.sort();
        let dir = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
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
