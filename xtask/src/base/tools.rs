//! Finding the outside tools xtask needs, and saying how to get the ones that are missing.

use anyhow::{Context, Result, ensure};
use camino::Utf8PathBuf;
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
        "uv is not on PATH: installing it from PyPI into {}",
        paths::display_path(&dir)
    );
    Job::new(
        sh,
        cmd!(
            sh,
            "{python} -m pip install --quiet --disable-pip-version-check --target {dir} uv"
        ),
    )
    .run()
    .context(
        "cannot install uv with pip; install uv yourself (https://docs.astral.sh/uv/) \
             or pip (e.g. `apt install python3-pip`)",
    )?;
    anyhow::ensure!(uv.is_file(), "pip installed uv, but not at {uv}");
    Ok(uv)
}
