//! Where things live: the workspace root, the bindings, and xtask's own files in `target/`.

use std::sync::OnceLock;

use anyhow::{Context, Result};
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};

/// The bindings' folder, relative to the workspace root.
pub const BINDINGS: &str = "experiments/bindings/python-ws-client";

pub fn project_root() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

pub fn bindings_dir() -> Utf8PathBuf {
    project_root().join(BINDINGS)
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else the one xtask itself was built
/// into (which honours cargo's config too), found from the running executable.
pub fn target_dir() -> Result<Utf8PathBuf> {
    static TARGET_DIR: OnceLock<Utf8PathBuf> = OnceLock::new();
    if let Some(dir) = TARGET_DIR.get() {
        return Ok(dir.clone());
    }
    let dir = match std::env::var("CARGO_TARGET_DIR") {
        Ok(dir) if !dir.is_empty() => project_root().join(dir),
        _ => {
            let exe = std::env::current_exe().context("cannot tell where xtask runs from")?;
            let exe = Utf8PathBuf::try_from(exe).context("xtask's path is not UTF-8")?;
            target_dir_of(&exe).with_context(|| {
                format!("cannot find cargo's target directory above {exe}; set CARGO_TARGET_DIR")
            })?
        }
    };
    Ok(TARGET_DIR.get_or_init(|| dir).clone())
}

/// The nearest folder above `exe` that cargo marked as its target directory.
fn target_dir_of(exe: &Utf8Path) -> Option<Utf8PathBuf> {
    exe.ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Utf8Path::to_path_buf)
}

/// xtask's own state: logs, stamps, locks, reports, a private uv.
pub fn xtask_dir() -> Result<Utf8PathBuf> {
    Ok(target_dir()?.join("xtask"))
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
    fn the_target_dir_is_found_above_the_executable() {
        let exe = Utf8PathBuf::try_from(std::env::current_exe().unwrap()).unwrap();
        let found = target_dir_of(&exe).expect("unit tests run from inside a target dir");
        assert!(exe.starts_with(&found), "{found} is not above {exe}");
        assert!(found.join("CACHEDIR.TAG").is_file());
        assert_eq!(target_dir_of(Utf8Path::new("/no/such/dir/xtask")), None);
    }
}
