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

/// A Python that can import `modules` (comma-separated): `XTASK_TEST_PYTHON`, the bindings'
/// venv, or `python3`. `None` means "skip": `cargo test --workspace` must pass where no
/// Python is set up. `XTASK_PYTHON_TESTS` changes that: `later` skips (`cargo xtask ci`
/// runs these tests again once it has made the venv), `require` turns a missing Python
/// into a failure, so that in that later run a skip cannot pass for a success.
pub fn python_with(modules: &str) -> Option<PathBuf> {
    let mode = std::env::var("XTASK_PYTHON_TESTS").unwrap_or_default();
    if mode == "later" {
        eprintln!("deferred: `cargo xtask ci` runs this test once the venv is ready");
        return None;
    }
    let found = first_python_with(modules);
    if found.is_none() {
        assert_ne!(
            mode, "require",
            "XTASK_PYTHON_TESTS=require, but no Python can import {modules}; run `cargo xtask venv`"
        );
        eprintln!("skipped: no Python that imports {modules} (run `cargo xtask venv`)");
    }
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
        let candidates = [
            std::env::var_os("XTASK_TEST_PYTHON").map(PathBuf::from),
            Some(bindings_dir().join(".venv/bin/python")),
            Some("python3".into()),
        ];
        candidates.into_iter().flatten().find(|python| {
            Command::new(python)
                .args(["-c", &format!("import {modules}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    });
    entry.clone()
}
