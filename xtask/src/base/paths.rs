//! Where things live: the workspace root, the bindings, cargo's target dir, and xtask's own
//! files.
//!
//! Several worktrees (one per branch) may share one target dir (`CARGO_TARGET_DIR`). So
//! xtask's per-run state (logs, JUnit, coverage, stamps, bench results, the venv lock) lives
//! in the worktree's own `target/xtask/`, whatever the target dir; the shared target dir holds
//! only cargo's output and the locks over it ([`shared_lock_dir`]). Nothing here reads the
//! running executable: another worktree's `cargo xtask` relinks `debug/xtask` in a shared
//! target dir while this run goes on.

use std::sync::OnceLock;

use anyhow::{Context, Result};
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};

/// The bindings' folder, relative to the workspace root.
pub const BINDINGS: &str = "experiments/bindings/python-ws-client";

/// The workspace xtask works on: the parent of xtask's manifest folder, as cargo names it to
/// the running program (`cargo run`, `cargo test`), else as it was when xtask was built.
/// The two agree under `cargo xtask`; a test runs one xtask binary on a fake worktree by
/// setting `CARGO_MANIFEST_DIR` as `cargo run` would in that worktree.
pub fn project_root() -> Utf8PathBuf {
    static ROOT: OnceLock<Utf8PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
            .ok()
            .filter(|dir| Utf8Path::new(dir).is_absolute())
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").to_owned());
        Utf8Path::new(&manifest_dir)
            .parent()
            .unwrap_or(Utf8Path::new("/"))
            .to_path_buf()
    })
    .clone()
}

pub fn bindings_dir() -> Utf8PathBuf {
    project_root().join(BINDINGS)
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else the one xtask itself was built
/// into (which honours cargo's config too), found from its build script's output folder,
/// named at compile time: not from the executable, which may be gone (see the module doc).
pub fn target_dir() -> Result<Utf8PathBuf> {
    static TARGET_DIR: OnceLock<Utf8PathBuf> = OnceLock::new();
    if let Some(dir) = TARGET_DIR.get() {
        return Ok(dir.clone());
    }
    let dir = match std::env::var("CARGO_TARGET_DIR") {
        Ok(dir) if !dir.is_empty() => project_root().join(dir),
        _ => {
            let built_in = Utf8Path::new(env!("OUT_DIR"));
            target_dir_of(built_in).with_context(|| {
                format!(
                    "cannot find cargo's target directory above {built_in}; set CARGO_TARGET_DIR"
                )
            })?
        }
    };
    Ok(TARGET_DIR.get_or_init(|| dir).clone())
}

/// The nearest folder above `built` (a file or folder cargo made) that cargo marked as its
/// target directory.
fn target_dir_of(built: &Utf8Path) -> Option<Utf8PathBuf> {
    built
        .ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Utf8Path::to_path_buf)
}

/// xtask's own state, this worktree's alone: logs, JUnit, coverage, stamps, bench results,
/// the venv lock, a private uv. Always the worktree's `target/xtask/`, also when
/// `CARGO_TARGET_DIR` points elsewhere (maybe at a folder other worktrees share), so that two
/// runs of two worktrees never read or overwrite each other's files.
pub fn xtask_dir() -> Result<Utf8PathBuf> {
    Ok(project_root().join("target/xtask"))
}

/// The locks over what worktrees sharing a target dir really share: the files cargo copies
/// out of its hashed folders to fixed names (`debug/libNAME.so`, `release/examples/bench`),
/// which each worktree's build replaces with its own.
pub fn shared_lock_dir() -> Result<Utf8PathBuf> {
    Ok(target_dir()?.join("xtask-locks"))
}

/// A path the user typed, taken relative to the directory xtask was started from.
pub fn from_user(path: &Utf8Path) -> Result<Utf8PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let cwd = Utf8PathBuf::try_from(cwd).context("the current directory is not UTF-8")?;
    // `./x` is shown as `/cwd/x`, not `/cwd/./x`.
    let joined = cwd.join(path);
    Ok(joined
        .components()
        .filter(|part| *part != Utf8Component::CurDir)
        .collect())
}

/// `path` relative to the workspace root when it is inside it, so that output is the same on
/// every checkout; otherwise `path` itself.
pub fn display_path(path: &Utf8Path) -> Utf8PathBuf {
    let root = project_root();
    match path.strip_prefix(&root) {
        Ok(relative) => relative.to_path_buf(),
        Err(_) => path.to_path_buf(),
    }
}

/// A shell in the workspace root, for one thread: `xshell::Shell` keeps its folder and
/// environment in cells that one thread at a time may use, and `ci` runs steps side by side.
pub fn shell() -> anyhow::Result<xshell::Shell> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(project_root());
    Ok(sh)
}

/// A temp folder for a unit test, and its path: removed when the guard drops, also when the
/// test fails.
#[cfg(test)]
pub fn test_dir() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("xtask-test-")
        .tempdir()
        .unwrap();
    let path = Utf8PathBuf::try_from(dir.path().to_owned()).unwrap();
    (dir, path)
}

/// Makes `dir` and removes the files in it that end in `.EXTENSION`: what an earlier run
/// left there (its step logs, its JUnit reports), which this run must not be mistaken for.
pub fn empty_of(dir: &Utf8Path, extension: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {dir}"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == extension) {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// `path`, with what an earlier run left there removed (its folder made), so that a stale
/// file is never read for this run's.
pub fn fresh_file(path: &Utf8Path) -> Result<Utf8PathBuf> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    }
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("cannot remove {path}"))
        }
        _ => Ok(path.to_owned()),
    }
}

/// `path` (relative to `base`, or absolute) as the workspace root names it: relative to
/// `root` when inside it, without `.` and `..` components.
pub fn relative(base: &Utf8Path, root: &Utf8Path, path: &Utf8Path) -> Utf8PathBuf {
    let mut normal = Utf8PathBuf::new();
    for part in base.join(path).components() {
        match part {
            Utf8Component::CurDir => {}
            Utf8Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    match normal.strip_prefix(root) {
        Ok(inside) => inside.to_owned(),
        Err(_) => normal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_paths_lose_their_dot_components() {
        let cwd = Utf8PathBuf::try_from(std::env::current_dir().unwrap()).unwrap();
        assert_eq!(
            from_user(Utf8Path::new("./a/./b.bin")).unwrap(),
            cwd.join("a/b.bin")
        );
        assert_eq!(from_user(Utf8Path::new("/x/./y")).unwrap(), "/x/./y");
    }

    #[test]
    fn the_target_dir_is_found_above_the_build_output() {
        let scratch = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(scratch.path()).unwrap();
        let out = root.join("target/debug/build/xtask-0123/out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(root.join("target/CACHEDIR.TAG"), "Signature").unwrap();
        std::fs::write(out.join("CACHEDIR.TAG"), "not above it").unwrap();
        assert_eq!(target_dir_of(&out), Some(root.join("target")));
        assert_eq!(target_dir_of(Utf8Path::new("/no/such/dir/xtask")), None);
        // Where this test was built, its own build output too. Not under `ci --from`: the
        // archive's tests run in another checkout, and the folder they were built in is gone.
        let built = Utf8Path::new(env!("OUT_DIR"));
        if built.is_dir() {
            let found = target_dir_of(built).expect("build scripts write inside the target dir");
            assert!(built.starts_with(&found), "{found} is not above {built}");
        }
    }

    #[test]
    fn state_lives_in_the_worktree_whatever_the_target_dir() {
        let state = xtask_dir().unwrap();
        assert_eq!(state, project_root().join("target/xtask"));
        assert!(
            shared_lock_dir()
                .unwrap()
                .starts_with(target_dir().unwrap())
        );
    }
}
