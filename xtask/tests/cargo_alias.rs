//! `cargo xtask` works from the workspace and from the bindings' folder, which is a cargo
//! workspace of its own: there the root's alias (`run --package xtask`) finds no xtask, so
//! the bindings' own `.cargo/config.toml` names xtask's manifest, relative to that folder.

mod common;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    common::manifest_dir().join("..").canonicalize().unwrap()
}

/// The `xtask` alias of the cargo config in `dir`, as its words.
fn alias_in(dir: &Path) -> Vec<String> {
    let config = dir.join(".cargo/config.toml");
    let text =
        std::fs::read_to_string(&config).unwrap_or_else(|e| panic!("no {}: {e}", config.display()));
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("xtask = "))
        .unwrap_or_else(|| panic!("no xtask alias in {}", config.display()));
    let words = line.trim().trim_matches('"');
    words.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn the_root_alias_runs_the_xtask_package() {
    let alias = alias_in(&root());
    assert_eq!(alias, ["run", "--package", "xtask", "--"]);
}

#[test]
fn the_bindings_alias_reaches_xtask_from_their_folder() {
    let bindings = root().join("experiments/bindings/python-ws-client");
    let alias = alias_in(&bindings);
    assert_eq!(alias.first().map(String::as_str), Some("run"));
    assert_eq!(alias.last().map(String::as_str), Some("--"));
    let at = alias
        .iter()
        .position(|w| w == "--manifest-path")
        .expect("--manifest-path");
    // Cargo reads the path from where it runs: the bindings' folder.
    let manifest = bindings.join(&alias[at + 1]).canonicalize().unwrap();
    assert_eq!(manifest, root().join("xtask/Cargo.toml"));
}
