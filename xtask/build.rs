//! Two jobs, both cheap.
//!
//! - xtask's `[build-dependencies]` count only with a build script: they pin the features of
//!   syn on the compiler's side to those of `cargo test --workspace` and of the bindings'
//!   build (see xtask/Cargo.toml), so that every proc-macro is compiled once.
//! - `XTASK_SOURCES_HASH`: a hash of xtask's own code (`src/`, this file, the manifest), for
//!   the stamps whose verdict depends on xtask itself (the workflow lint's). The running
//!   executable cannot be fingerprinted instead: in a target dir that several worktrees
//!   share, another worktree's `cargo xtask` replaces it while this one runs.

use std::path::{Path, PathBuf};

#[path = "src/base/fingerprint/fnv.rs"]
#[allow(dead_code)] // `Fnv::of` serves xtask, not this script.
mod fnv;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let mut files = vec![PathBuf::from("build.rs"), PathBuf::from("Cargo.toml")];
    files_under(&manifest_dir, Path::new("src"), &mut files);
    files.sort();
    let mut hash = fnv::Fnv::default();
    for file in &files {
        // Relative names, so that two checkouts of one commit hash the same.
        hash.write(file.to_string_lossy().as_bytes());
        hash.write(&std::fs::read(manifest_dir.join(file)).unwrap_or_default());
    }
    println!("cargo:rustc-env=XTASK_SOURCES_HASH={:016x}", hash.0);
    // Only these: without a `rerun-if-changed`, cargo would rerun this on any file of the
    // package, tests included. A folder is scanned whole.
    for input in ["src", "build.rs", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={input}");
    }
}

/// The files under `root/dir`, as paths relative to `root`.
fn files_under(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return;
    };
    for entry in entries.flatten() {
        let path = dir.join(entry.file_name());
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => files_under(root, &path, files),
            Ok(_) => files.push(path),
            Err(_) => {}
        }
    }
}
