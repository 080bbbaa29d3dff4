//! A `ci` run's build as one folder that a checkout of the same commit tests without
//! compiling anything: `ci --archive DIR` writes it ([`make`]), `ci --from DIR` checks it and
//! hands its parts to the test stages ([`open`]); [`manifest`] says what it holds and
//! what made it.

pub mod make;
pub mod manifest;
pub mod open;

use anyhow::{Context, Result, bail};
use camino::Utf8Path;
use xshell::{Shell, cmd};

use crate::base::process::Job;
use manifest::Build;

/// This checkout and this machine: the commit, rustc's release and host triple; not yet
/// nextest's version (see [`nextest_version`]), which needs the venv. `clean` asks for a
/// checkout without uncommitted changes to tracked files, since an archive names its
/// commit.
pub fn here(sh: &Shell, clean: bool) -> Result<Build> {
    let commit = Job::new(cmd!(sh, "git rev-parse HEAD"))
        .read()
        .context("cannot tell the commit: is this a git checkout?")?;
    if clean {
        let changed = Job::new(cmd!(sh, "git status --porcelain --untracked-files=no")).read()?;
        if let Some(first) = changed.lines().next() {
            bail!(
                "uncommitted changes ({}): an archive is of one commit; commit or stash them first",
                first.trim()
            );
        }
    }
    let rustc = Job::new(cmd!(sh, "rustc -vV")).read()?;
    let field = |name: &str| {
        rustc
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|value| value.trim().to_owned())
            .with_context(|| format!("`rustc -vV` printed no `{name}` line"))
    };
    Ok(Build {
        commit: commit.trim().to_owned(),
        rustc: field("release:")?,
        target: field("host:")?,
        nextest: String::new(),
    })
}

/// The venv's cargo-nextest version, such as `0.9.148`.
pub fn nextest_version(sh: &Shell, nextest: &Utf8Path) -> Result<String> {
    let said = Job::new(cmd!(sh, "{nextest} nextest --version")).read()?;
    // `cargo-nextest 0.9.148 (abc 2026-01-01)`
    let version = said.split_whitespace().nth(1);
    Ok(version
        .context("cannot read `cargo-nextest --version`")?
        .to_owned())
}
