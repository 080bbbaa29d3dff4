//! What the integration tests of xtask share: scratch folders, and the Python they run
//! pytest with.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// A fresh folder under the temp dir, unique to this process and moment.
pub fn scratch_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("xtask-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn bindings_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments/bindings/python-ws-client")
}

/// A Python that can import `modules` (comma-separated): the bindings' venv, or `python3`.
/// The tests that call this are left out of `cargo test` (`test = false` in xtask's
/// manifest): `cargo xtask ci` runs them once the venv is built. So a missing Python is a
/// failure, never a skip that could pass for a success.
pub fn python_with(modules: &str) -> Option<PathBuf> {
    let found = first_python_with(modules);
    assert!(
        found.is_some(),
        "no Python can import {modules}; run `cargo xtask venv`"
    );
    found
}

/// The first candidate Python that imports `modules`, found once per test binary: each
/// probe starts Python and imports pytest, which costs about a quarter of a second.
fn first_python_with(modules: &str) -> Option<PathBuf> {
    static FOUND: Mutex<BTreeMap<String, Option<PathBuf>>> = Mutex::new(BTreeMap::new());
    let mut found = FOUND
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let entry = found.entry(modules.to_owned()).or_insert_with(|| {
        let candidates: [PathBuf; 2] = [bindings_dir().join(".venv/bin/python"), "python3".into()];
        candidates.into_iter().find(|python| {
            Command::new(python)
                .args(["-c", &format!("import {modules}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    });
    entry.clone()
}
