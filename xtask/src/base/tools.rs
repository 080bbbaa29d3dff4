//! Finding the outside tools xtask needs, and saying how to get the ones that are missing.

use anyhow::{Context, Result, ensure};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::cmd;

use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::Job;
use crate::traceln;

/// The first of `names` on PATH, or an error naming it and how to install it.
pub fn require(names: &[&str], how_to_get: &str) -> Result<Utf8PathBuf> {
    names
        .iter()
        .find_map(|name| which::which(name).ok())
        .and_then(|path| Utf8PathBuf::try_from(path).ok())
        .with_context(|| format!("`{}` not found on PATH: {how_to_get}", names[0]))
}

/// `python3` from PATH, if it is 3.10 or newer, as the bindings need.
pub fn python3(sh: &StepContext) -> Result<Utf8PathBuf> {
    let python = require(
        &["python3", "python"],
        "install Python 3.10 or newer (e.g. `apt install python3 python3-pip`, or python.org)",
    )?;
    let script = "import sys; print('%d.%d' % sys.version_info[:2])";
    let version = Job::new(sh, cmd!(sh, "{python} -c {script}"))
        .read()
        .with_context(|| format!("cannot run {python}"))?;
    let version = version.trim().to_owned();
    let (major, minor) = version
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?)))
        .with_context(|| format!("cannot tell the version of {python}"))?;
    ensure!(
        (major, minor) >= (3, 10),
        "{python} is Python {version}; the bindings need 3.10 or newer: install one, or name \
         it with --python (such as --python 3.12 or --python /usr/bin/python3.12)"
    );
    Ok(python)
}

/// uv from PATH; otherwise the copy xtask installed from PyPI into `target/xtask/uv`,
/// installing it first if needed.
pub fn uv(sh: &StepContext) -> Result<Utf8PathBuf> {
    if let Ok(uv) = require(&["uv"], "") {
        return Ok(uv);
    }
    let dir = paths::xtask_dir()?.join("uv");
    let uv = dir.join("bin/uv");
    if uv.is_file() {
        return Ok(uv);
    }
    let python = python3(sh)?;
    traceln!(
        sh,
        "uv is not on PATH: installing uv {} from PyPI into {}",
        UV_VERSION,
        paths::display_path(&dir)
    );
    let requirements = paths::xtask_dir()?.join("uv-bootstrap.txt");
    std::fs::write(&requirements, UV_REQUIREMENTS)
        .with_context(|| format!("cannot write {requirements}"))?;
    let args = uv_install_args(&dir, &requirements);
    Job::new(sh, cmd!(sh, "{python} -m pip {args...}"))
        .run()
        .context(
            "cannot install uv with pip; install uv yourself (https://docs.astral.sh/uv/) \
             or pip (e.g. `apt install python3-pip`)",
        )?;
    anyhow::ensure!(uv.is_file(), "pip installed uv, but not at {uv}");
    Ok(uv)
}

/// The pinned uv, with the hashes of its wheels (a requirements file, pip's format).
const UV_REQUIREMENTS: &str = include_str!("uv-bootstrap.txt");
/// The version that [`UV_REQUIREMENTS`] pins, for the message before the install.
const UV_VERSION: &str = "0.13.10";

/// pip's arguments: only the pinned wheel whose hash is listed, nothing else.
fn uv_install_args(dir: &Utf8Path, requirements: &Utf8Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--require-hashes",
        "--only-binary",
        ":all:",
        "--no-deps",
        "--target",
    ]
    .map(String::from)
    .into();
    args.extend([dir.to_string(), "-r".into(), requirements.to_string()]);
    args
}

#[cfg(test)]
mod uv_bootstrap_tests {
    use super::*;

    /// Issue 31 item 3: the bootstrap installs one pinned version, each wheel by its hash.
    #[test]
    fn the_uv_bootstrap_is_pinned_and_hash_checked() {
        let args = uv_install_args(Utf8Path::new("d"), Utf8Path::new("r.txt"));
        assert!(args.contains(&"--require-hashes".to_owned()), "{args:?}");
        assert_eq!(args[args.len() - 2..], ["-r", "r.txt"]);
        let lines: Vec<&str> = UV_REQUIREMENTS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect();
        assert_eq!(lines[0], format!("uv=={UV_VERSION} \\"));
        let hashes = lines[1..]
            .iter()
            .filter(|l| l.trim_start().starts_with("--hash=sha256:"))
            .count();
        // Linux x86_64 and aarch64 (two each), macOS x86_64 and arm64.
        assert_eq!(hashes, 6, "{UV_REQUIREMENTS}");
    }
}
