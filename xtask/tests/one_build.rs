//! Every dependency is compiled once: `cargo xtask` (xtask alone), `cargo test --workspace`
//! and the bindings' build (maturin, in the same target dir) must ask for the same version
//! and the same features of each crate they share. Cargo unifies features per build, over
//! the packages it builds, so one crate with other features is a second compile of it and of
//! everything above it: about 13 s of a cold `cargo xtask ci` for the xtask side and 12 s
//! for the bindings when this was written.

use std::collections::{BTreeMap, BTreeSet};
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// "name vVERSION" to the feature sets `cargo tree` shows for it (a crate built for the
/// compiler and for the target can have two).
type Features = BTreeMap<String, BTreeSet<String>>;

fn workspace() -> PathBuf {
    common::manifest_dir().join("..")
}

/// `cargo tree` with each crate's features, from `dir`; `--locked`, so that a lock file
/// that does not match its manifest fails here rather than being rewritten.
fn features(dir: &Path, args: &[&str]) -> Features {
    let output = Command::new(env!("CARGO"))
        .current_dir(dir)
        .args([
            "tree",
            "--locked",
            "--prefix",
            "none",
            "--no-dedupe",
            "-f",
            "{p}|{f}",
        ])
        .args(args)
        .output()
        .expect("cannot run cargo tree");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "cargo tree {args:?} in {dir:?} failed:\n{stderr}"
    );
    let mut crates = Features::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let (package, features) = line.split_once('|').unwrap_or((line, ""));
        let name_version = package
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        crates
            .entry(name_version)
            .or_default()
            .insert(features.to_owned());
    }
    crates
}

/// The crates of `other` that the workspace's build also has, with another version or
/// other features, each on a line.
fn differences(workspace: &Features, other: &Features) -> Vec<String> {
    let names: BTreeSet<&str> = workspace
        .keys()
        .filter_map(|k| k.split(' ').next())
        .collect();
    other
        .iter()
        .filter(|(crate_, _)| names.contains(crate_.split(' ').next().unwrap_or_default()))
        .filter(|(crate_, features)| workspace.get(*crate_) != Some(features))
        .map(|(crate_, features)| {
            let theirs = workspace
                .get(crate_)
                .map_or("another version".into(), |f| format!("{f:?}"));
            format!("  {crate_}: {features:?}, but cargo test --workspace: {theirs}")
        })
        .collect()
}

fn the_workspace_build() -> Features {
    features(&workspace(), &["--workspace", "-e", "normal,build,dev"])
}

#[test]
fn cargo_xtask_compiles_what_cargo_test_reuses() {
    let xtask = features(&workspace(), &["-p", "xtask", "-e", "normal,build"]);
    let differ = differences(&the_workspace_build(), &xtask);
    assert!(
        differ.is_empty(),
        "xtask alone asks for other features than the workspace's build; add them to the \
         pins at the end of xtask/Cargo.toml:\n{}",
        differ.join("\n")
    );
}

#[test]
fn the_bindings_reuse_what_cargo_test_compiled() {
    let bindings = workspace().join("experiments/bindings/python-ws-client");
    let differ = differences(
        &the_workspace_build(),
        &features(&bindings, &["-e", "normal,build"]),
    );
    assert!(
        differ.is_empty(),
        "the bindings ask for other versions or features than the workspace's build; pin \
         them in experiments/bindings/python-ws-client/Cargo.toml (features) or Cargo.lock \
         (versions):\n{}",
        differ.join("\n")
    );
}

/// `cargo xtask server` and `cargo xtask pytest` build the server alone (`cargo build -p`):
/// after a `cargo xtask ci`, that must compile nothing.
#[test]
fn the_server_alone_reuses_what_cargo_test_compiled() {
    let server = features(
        &workspace(),
        &["-p", "simd-r-drive-ws-server", "-e", "normal,build"],
    );
    let differ = differences(&the_workspace_build(), &server);
    assert!(
        differ.is_empty(),
        "the server alone asks for other features than the workspace's build; add them to \
         the pins at the end of experiments/simd-r-drive-ws-server/Cargo.toml:\n{}",
        differ.join("\n")
    );
}
