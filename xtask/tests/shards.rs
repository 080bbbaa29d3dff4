//! The shards of `cargo xtask ci --shard K/N` together run every test exactly once, on the
//! real suite: the test lists of 3 shards, made with the arguments ci passes (nextest's
//! `--partition slice:K/N`; pytest-split's `--splits N --group K` over the committed
//! durations), add up to the unsharded lists, with no test in two shards.
//!
//! Needs the venv (its cargo-nextest, its pytest-split), so `test = false` in xtask's
//! manifest: `cargo xtask ci` runs it once the venv is built.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

const SHARDS: u32 = 3;
/// pytest's stages as ci selects them (`Suite::marker_expression`).
const STAGES: [&str; 3] = [
    "unit and not benchmark",
    "integration and not benchmark",
    "e2e and not benchmark",
];

fn workspace_root() -> PathBuf {
    common::manifest_dir().join("..")
}

/// Runs `command` and returns its stdout, or fails the test with its stderr.
fn stdout_of(command: &mut Command) -> String {
    let output = command.output().expect("cannot start the command");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Each test's count over `lists`, for the checks below.
fn counted(lists: &[Vec<String>]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for test in lists.iter().flatten() {
        *counts.entry(test.clone()).or_default() += 1;
    }
    counts
}

/// `shards` add up to `whole`: each test of `whole` in exactly one shard, and nothing else.
fn assert_split_exactly(what: &str, whole: &[String], shards: &[Vec<String>]) {
    assert!(!whole.is_empty(), "{what}: no tests listed");
    let counts = counted(shards);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{what}: in two shards: {twice:?}");
    let union: Vec<&String> = counts.keys().collect();
    let mut whole: Vec<&String> = whole.iter().collect();
    whole.sort();
    assert_eq!(union, whole, "{what}: the shards' union is not the whole");
    for (k, shard) in shards.iter().enumerate() {
        assert!(!shard.is_empty(), "{what}: shard {} is empty", k + 1);
    }
}

/// The workspace's `test = false` integration tests, named in xtask's manifest as ci's
/// second nextest run names them: `-p xtask --test NAME`.
fn venv_test_selection() -> Vec<String> {
    let manifest = std::fs::read_to_string(workspace_root().join("xtask/Cargo.toml")).unwrap();
    let mut selection = vec!["-p".to_owned(), "xtask".to_owned()];
    for block in manifest.split("[[test]]").skip(1) {
        let name = block
            .lines()
            .find_map(|line| line.trim().strip_prefix("name = "))
            .map(|name| name.trim_matches('"').to_owned());
        if let Some(name) = name.filter(|_| block.contains("test = false")) {
            selection.extend(["--test".to_owned(), name]);
        }
    }
    assert!(selection.len() > 2, "no test = false target in {manifest}");
    selection
}

/// The tests `cargo nextest list` selects with `args`, ignored ones included.
fn nextest_list(selection: &[String], partition: Option<u32>) -> Vec<String> {
    let nextest = common::bindings_dir().join(".venv/bin/cargo-nextest");
    assert!(nextest.is_file(), "no {nextest:?}; run `cargo xtask venv`");
    let mut command = Command::new(nextest);
    command
        .current_dir(workspace_root())
        .args([
            "nextest",
            "list",
            "--message-format=json",
            "--run-ignored=all",
        ])
        .args(selection);
    if let Some(k) = partition {
        command.arg(format!("--partition=slice:{k}/{SHARDS}"));
    }
    let list: serde_json::Value = serde_json::from_str(&stdout_of(&mut command)).unwrap();
    let mut tests = Vec::new();
    for suite in list["rust-suites"].as_object().unwrap().values() {
        let binary_id = suite["binary-id"].as_str().unwrap();
        for (name, case) in suite["testcases"].as_object().unwrap() {
            if case["filter-match"]["status"] == "matches" {
                tests.push(format!("{binary_id} {name}"));
            }
        }
    }
    tests
}

/// The tests pytest collects for each stage: whole (group 0), then in each group of the
/// shards, as `{"STAGE|GROUP": [nodeid, ...]}` (one Python process: see collect.py).
fn pytest_lists(python: &PathBuf) -> serde_json::Value {
    let script = common::manifest_dir().join("tests/shards/collect.py");
    let text = stdout_of(
        Command::new(python)
            .current_dir(common::bindings_dir())
            .arg(script)
            .arg(SHARDS.to_string())
            .arg(".test_durations")
            .args(STAGES),
    );
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The selection in nextest's arguments that ci passes in `XTASK_NEXTEST_<NAME>` (one a
/// line): under `cargo xtask ci --from`, the archive's test binaries, since listing
/// `--workspace` there would compile them.
fn selection_from_ci(name: &str) -> Option<Vec<String>> {
    let args = std::env::var(format!("XTASK_NEXTEST_{name}")).ok()?;
    Some(args.lines().map(str::to_owned).collect())
}

#[test]
fn three_shards_run_every_rust_test_once() {
    let selections = [
        selection_from_ci("WORKSPACE").unwrap_or_else(|| vec!["--workspace".to_owned()]),
        selection_from_ci("VENV").unwrap_or_else(venv_test_selection),
    ];
    for selection in selections {
        let whole = nextest_list(&selection, None);
        let shards: Vec<_> = (1..=SHARDS)
            .map(|k| nextest_list(&selection, Some(k)))
            .collect();
        assert_split_exactly(&selection.join(" "), &whole, &shards);
    }
}

#[test]
fn three_shards_run_every_pytest_test_once() {
    let python = common::python_with("pytest, pytest_split");
    let lists = pytest_lists(&python);
    let list = |stage: &str, group: u32| -> Vec<String> {
        let names = lists[format!("{stage}|{group}")].as_array().unwrap();
        names
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    };
    for stage in STAGES {
        let shards: Vec<_> = (1..=SHARDS).map(|k| list(stage, k)).collect();
        assert_split_exactly(stage, &list(stage, 0), &shards);
    }
}
