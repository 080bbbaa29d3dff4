//! Where things live: the workspace root, the bindings, and xtask's own files in `target/`.

use std::sync::OnceLock;

use anyhow::{Context, Result};
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};
use regex::Regex;
use xshell::{Shell, cmd};

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

/// Cargo's target directory, honouring `CARGO_TARGET_DIR` and cargo's config.
pub fn target_dir(sh: &Shell) -> Result<Utf8PathBuf> {
    static TARGET_DIR: OnceLock<Utf8PathBuf> = OnceLock::new();
    if let Some(dir) = TARGET_DIR.get() {
        return Ok(dir.clone());
    }
    let dir = match std::env::var("CARGO_TARGET_DIR") {
        // The common case is answered without spawning cargo.
        Ok(dir) if !dir.is_empty() => project_root().join(dir),
        _ => {
            let cmd = cmd!(sh, "cargo metadata --format-version 1 --no-deps");
            eprintln!("$ {cmd}");
            let metadata = cmd
                .read()
                .context("cannot ask cargo for the target directory")?;
            parse_target_directory(&metadata)
                .context("`cargo metadata` printed no target_directory")?
        }
    };
    Ok(TARGET_DIR.get_or_init(|| dir).clone())
}

fn parse_target_directory(metadata: &str) -> Option<Utf8PathBuf> {
    let re = Regex::new(r#""target_directory"\s*:\s*"((?:[^"\\]|\\.)*)""#).unwrap();
    let raw = re.captures(metadata)?.get(1)?.as_str();
    // JSON escapes in a path: only `\\` and `\"` occur in practice.
    Some(raw.replace("\\\\", "\\").replace("\\\"", "\"").into())
}

/// xtask's own state: logs, stamps, locks, reports, a private uv.
pub fn xtask_dir(sh: &Shell) -> Result<Utf8PathBuf> {
    Ok(target_dir(sh)?.join("xtask"))
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
    fn reads_target_directory_from_metadata() {
        let json = r#"{"packages":[],"target_directory":"/w/tar\"get","version":1}"#;
        assert_eq!(parse_target_directory(json).unwrap(), "/w/tar\"get");
        assert_eq!(parse_target_directory("{}"), None);
    }
}
