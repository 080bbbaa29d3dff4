//! A `ci` run's build as one folder that a checkout of the same commit tests without
//! compiling anything: `ci --archive DIR` writes it ([`make`]), `ci --from DIR` checks it and
//! hands its parts to the test stages ([`open`]); [`manifest`] says what it holds and
//! what made it.

pub mod make;
pub mod manifest;
pub mod open;

use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::cmd;

use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::Job;
use crate::engine::graph::{self, Node};
use crate::flags;
use crate::python::venv;
use manifest::Build;
use open::Opened;

/// The step that writes the archive: it runs with `--archive` alone.
pub const STEP: &str = "archive";
/// What `--archive` runs: the archive and what it needs, and the doctests, which cannot
/// travel in it.
const ARCHIVE_RUNS: [&str; 2] = [STEP, "doctests"];

/// What `--archive` or `--from` asks of a `ci` run's steps: each step asks it at one
/// hook, and a plain run ([`Archive::Off`]) changes nothing.
pub enum Archive {
    Off,
    /// `--archive DIR`: the build written to DIR; the commit and tools when it started,
    /// which must not have changed when the archive is written.
    Make {
        dir: Utf8PathBuf,
        before: OnceLock<Build>,
    },
    /// `--from DIR`: the archive, checked before any step runs.
    From(Opened),
}

impl Archive {
    /// From the flags. `--from`'s archive is opened and checked here, before any step
    /// runs, so that another commit, another target or a damaged part is refused in one
    /// line.
    pub fn new(sh: &StepContext, flags: &flags::Ci) -> Result<Archive> {
        // Named from where xtask started; every step works from the root.
        if let Some(dir) = &flags.archive {
            return Ok(Archive::Make {
                dir: paths::from_user(dir)?,
                before: OnceLock::new(),
            });
        }
        match &flags.from {
            Some(dir) => Ok(Archive::From(open::open(sh, &paths::from_user(dir)?)?)),
            None => Ok(Archive::Off),
        }
    }

    /// `--archive`'s steps, or else `selected` without the archive step, which `--only`
    /// cannot ask for.
    pub fn select<C>(
        &self,
        nodes: &[Node<C>],
        mut selected: Vec<bool>,
        only: &[String],
    ) -> Result<Vec<bool>> {
        if let Archive::Make { .. } = self {
            return graph::select(nodes, &ARCHIVE_RUNS.map(str::to_owned));
        }
        for (node, selected) in nodes.iter().zip(&mut selected) {
            if node.name == STEP && *selected {
                if !only.is_empty() {
                    bail!("the archive step runs with `--archive DIR`, not `--only`");
                }
                *selected = false;
            }
        }
        Ok(selected)
    }

    /// Before `rust build`: with `--from`, the venv tests' selection that the archive's
    /// build found, in place of a build; with `--archive`, a clean checkout and an empty
    /// DIR, refused before the build rather than after it.
    pub fn before_build(&self, sh: &StepContext) -> Result<Option<Vec<String>>> {
        match self {
            Archive::Off => Ok(None),
            Archive::Make { dir, before } => {
                let _ = before.set(here(sh, true)?);
                make::prepare(dir)?;
                Ok(None)
            }
            Archive::From(opened) => Ok(Some(opened.manifest.venv_tests.clone())),
        }
    }

    /// `bindings`: with `--from`, the archive's wheel installed into the venv; with
    /// `--archive`, the release wheel and sdist built into the archive. What it did, for
    /// the step's line; `None` for a plain run.
    pub fn bindings(&self, sh: &StepContext, python: Option<&str>) -> Option<Result<String>> {
        match self {
            Archive::Off => None,
            Archive::Make { dir, .. } => Some(make::python_packages(sh, dir)),
            Archive::From(opened) => Some(
                opened
                    .file(manifest::WHEEL)
                    .and_then(|wheel| venv::install_wheel(sh, python, &wheel))
                    .map(|()| "the archive's wheel".to_owned()),
            ),
        }
    }

    /// With `--from`, the archive's wheel and sdist, which the `wheel` row and the Python
    /// lanes take instead of building their own.
    pub fn packages(&self) -> Result<Option<(Utf8PathBuf, Utf8PathBuf)>> {
        match self {
            Archive::From(opened) => Ok(Some((
                opened.file(manifest::WHEEL)?,
                opened.file(manifest::SDIST)?,
            ))),
            _ => Ok(None),
        }
    }

    /// nextest's arguments for the Rust tests: with `--from`, the archive's (extracted by
    /// the first step that needs it) in place of cargo's `selection`.
    pub fn nextest_selection(
        &self,
        sh: &StepContext,
        venv_tests: bool,
        selection: Vec<String>,
    ) -> Result<Vec<String>> {
        let Archive::From(opened) = self else {
            return Ok(selection);
        };
        let role = if venv_tests {
            manifest::NEXTEST_CI_VENV
        } else {
            manifest::NEXTEST_CI
        };
        // The venv tests' shards test lists both selections.
        for needed in [manifest::NEXTEST_CI, role] {
            opened.extract(sh, needed)?;
        }
        opened.nextest_selection(role)
    }

    /// The Rust tests' environment with `--from`: the xtask that a test starts takes the
    /// archive's server and wheel and this checkout's target dir, instead of building
    /// them into the target dir that the archive was built in; a test that lists the tests
    /// lists the archive's (one argument a line).
    pub fn tests_env(&self) -> Vec<(&'static str, String)> {
        let Archive::From(opened) = self else {
            return Vec::new();
        };
        let mut env = Vec::new();
        for (name, role) in [
            ("XTASK_NEXTEST_WORKSPACE", manifest::NEXTEST_CI),
            ("XTASK_NEXTEST_VENV", manifest::NEXTEST_CI_VENV),
        ] {
            if let Ok(selection) = opened.nextest_selection(role) {
                env.push((name, selection.join("\n")));
            }
        }
        for (name, role) in [
            ("XTASK_SERVER_BIN", manifest::SERVER),
            ("XTASK_WHEEL", manifest::WHEEL),
        ] {
            if let Ok(file) = opened.file(role) {
                env.push((name, file.to_string()));
            }
        }
        if let Ok(target) = paths::target_dir() {
            env.push(("CARGO_TARGET_DIR", target.to_string()));
        }
        env
    }

    /// The pytest stages' environment with `--from`: the archive's server for the tests
    /// that start one of their own (`XTASK_SERVER_BIN`, which they honour as xtask does);
    /// they would skip for want of a built one.
    pub fn pytest_env(&self) -> Vec<(&'static str, String)> {
        match self.server() {
            Ok(Some(server)) => vec![("XTASK_SERVER_BIN", server.to_string())],
            _ => Vec::new(),
        }
    }

    /// With `--from`, the archive's server, for `server up`.
    pub fn server(&self) -> Result<Option<Utf8PathBuf>> {
        match self {
            Archive::From(opened) => opened.file(manifest::SERVER).map(Some),
            _ => Ok(None),
        }
    }

    /// Whether the doctests run here: rustdoc compiles them as they run, so with
    /// `--from` they ran where the archive was made.
    pub fn runs_doctests(&self) -> bool {
        !matches!(self, Archive::From(_))
    }

    /// The archive step: nextest's archives, the release server and the manifest, next to
    /// the wheel that `bindings` built; its line for the step.
    pub fn write(&self, sh: &StepContext, venv_tests: Vec<String>) -> Result<String> {
        let Archive::Make { dir, before } = self else {
            bail!("no archive to write: run with `--archive DIR`");
        };
        let mut build = here(sh, true)?;
        if before.get() != Some(&build) {
            bail!(
                "the checkout changed during the build (now at {:.12}): run `--archive` again",
                build.commit
            );
        }
        build.nextest = nextest_version(sh, &crate::adapters::nextest::binary()?)?;
        let manifest = make::finish(sh, dir, build, venv_tests)?;
        Ok(format!(
            "{} parts of commit {:.12}",
            manifest.parts.len(),
            manifest.build.commit
        ))
    }
}

/// This checkout and this machine: the commit, rustc's release and host triple; not yet
/// nextest's version (see [`nextest_version`]), which needs the venv. `clean` asks for a
/// checkout without uncommitted changes to tracked files, since an archive names its
/// commit.
pub fn here(sh: &StepContext, clean: bool) -> Result<Build> {
    let commit = Job::new(sh, cmd!(sh, "git rev-parse HEAD"))
        .read()
        .context("cannot tell the commit: is this a git checkout?")?;
    if clean {
        let changed =
            Job::new(sh, cmd!(sh, "git status --porcelain --untracked-files=no")).read()?;
        if let Some(first) = changed.lines().next() {
            bail!(
                "uncommitted changes ({}): an archive is of one commit; commit or stash them first",
                first.trim()
            );
        }
    }
    let rustc = Job::new(sh, cmd!(sh, "rustc -vV")).read()?;
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
pub fn nextest_version(sh: &StepContext, nextest: &Utf8Path) -> Result<String> {
    let said = Job::new(sh, cmd!(sh, "{nextest} nextest --version")).read()?;
    // `cargo-nextest 0.9.148 (abc 2026-01-01)`
    let version = said.split_whitespace().nth(1);
    Ok(version
        .context("cannot read `cargo-nextest --version`")?
        .to_owned())
}
