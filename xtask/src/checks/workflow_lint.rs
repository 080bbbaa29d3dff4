//! Checks `.github/` here, before a push does: the workflows and `dependabot.yml` against
//! their JSON schemas (SchemaStore's, bundled with `check-jsonschema`), then zizmor's
//! security audit (unpinned actions, broad token permissions, persisted credentials,
//! template injection, ...). Both tools come locked in the bindings' dev group and run
//! offline, so the verdict is the same on every machine and needs no network.

use anyhow::{Context, Result, anyhow, ensure};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::cmd;

use crate::base::context::StepContext;
use crate::base::fingerprint;
use crate::base::paths;
use crate::base::process::{self, Job};
use crate::python::venv;
use crate::traceln;

pub const GITHUB: &str = ".github/";
pub const WORKFLOWS: &str = ".github/workflows";
pub const DEPENDABOT: &str = ".github/dependabot.yml";

/// zizmor's exit codes from here up mean "findings" (10 + the highest severity); below,
/// zizmor itself failed.
const ZIZMOR_FINDINGS: u8 = 10;

/// The `workflow lint` step of `cargo xtask ci`: the workspace's own `.github/`, unless
/// nothing the verdict depends on changed since it last passed; `false` when it was
/// skipped. A fresh clone has no stamp, so CI always lints.
pub fn run_unless_unchanged(sh: &StepContext) -> Result<bool> {
    let root = paths::project_root();
    let stamp_file = paths::xtask_dir()?.join("workflow-lint.stamp");
    let stamp = stamp(&root, XTASK_CODE)?;
    if std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str()) {
        let stamp_file = paths::display_path(&stamp_file);
        traceln!(sh, "nothing changed since the last pass (see {stamp_file})");
        return Ok(false);
    }
    let _ = std::fs::remove_file(&stamp_file);
    check(sh, &root)?;
    std::fs::write(&stamp_file, stamp).with_context(|| format!("cannot write {stamp_file}"))?;
    Ok(true)
}

/// xtask's own code (its checks and flags), as `build.rs` hashed it: not the running
/// executable, which another worktree's `cargo xtask` may replace while this run goes on
/// when the two share a target dir.
const XTASK_CODE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    ", sources ",
    env!("XTASK_SOURCES_HASH")
);

/// What the verdict depends on: every file under `.github/`, the linters' locked versions
/// (the bindings' `uv.lock`), and `xtask`, the code that lints.
fn stamp(root: &Utf8Path, xtask: &str) -> Result<String> {
    let mut files = Vec::new();
    fingerprint::files_under(&root.join(GITHUB), &|_| false, &mut files)?;
    files.sort();
    files.push(root.join(paths::BINDINGS).join("uv.lock"));
    Ok(format!(
        "inputs {:016x} ({} files)\nxtask {xtask}\n",
        fingerprint::of_files(&files)?,
        files.len(),
    ))
}

/// Runs both linters from `root`, so that their messages name files as `.github/...`.
pub fn check(sh: &StepContext, root: &Utf8Path) -> Result<()> {
    let checker = venv_tool("check-jsonschema")?;
    let zizmor = venv_tool("zizmor")?;
    ensure!(
        root.join(GITHUB).is_dir(),
        "no {GITHUB} in {root}: give --root the folder that holds it"
    );
    let workflows = workflow_files(root)?;
    ensure!(
        root.join(DEPENDABOT).is_file(),
        "no {DEPENDABOT} in {root}: it keeps the action pins current; restore it from git"
    );
    let _dir = sh.push_dir(root);
    Job::new(
        sh,
        cmd!(
            sh,
            "{checker} --builtin-schema vendor.github-workflows {workflows...}"
        ),
    )
    .run()
    .context("a workflow under .github/workflows does not match the GitHub Actions schema")?;
    Job::new(
        sh,
        cmd!(
            sh,
            "{checker} --builtin-schema vendor.dependabot {DEPENDABOT}"
        ),
    )
    .run()
    .with_context(|| format!("{DEPENDABOT} does not match Dependabot's schema"))?;
    // --strict-collection: a file zizmor cannot parse fails the step instead of being
    // skipped with a warning.
    let audit = cmd!(sh, "{zizmor} --offline --strict-collection {GITHUB}");
    Job::new(sh, audit).run().map_err(|error| {
        if process::exit_code_of(&error) >= ZIZMOR_FINDINGS {
            error.context(
                "zizmor found a security problem in .github/: see its report above, \
                 whose `help` link says how to fix it",
            )
        } else {
            error.context("zizmor could not audit .github/")
        }
    })
}

/// A tool of the bindings' venv, which `cargo xtask venv` installs from the dev group.
fn venv_tool(name: &str) -> Result<Utf8PathBuf> {
    let tool = venv::venv_dir().join("bin").join(name);
    if tool.is_file() {
        return Ok(tool);
    }
    Err(anyhow!(
        "{} is missing: run `cargo xtask venv` (it comes with the bindings' dev group)",
        paths::display_path(&tool)
    ))
}

/// The `*.yml` and `*.yaml` files of `root`'s workflow folder, relative to `root` and
/// sorted; none is an error.
fn workflow_files(root: &Utf8Path) -> Result<Vec<Utf8PathBuf>> {
    let dir = root.join(WORKFLOWS);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {dir}"))? {
        let path = Utf8PathBuf::try_from(entry?.path())?;
        if matches!(path.extension(), Some("yml" | "yaml")) {
            let name = path.file_name().context("a directory entry has a name")?;
            files.push(Utf8Path::new(WORKFLOWS).join(name));
        }
    }
    files.sort();
    ensure!(!files.is_empty(), "no workflow file (*.yml) in {dir}");
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace with a `.github/` and a lock file, in a fresh temp dir.
    fn fake_root() -> (tempfile::TempDir, Utf8PathBuf) {
        let (guard, root) = paths::test_dir();
        let bindings = root.join(paths::BINDINGS);
        std::fs::create_dir_all(root.join(WORKFLOWS)).unwrap();
        std::fs::create_dir_all(&bindings).unwrap();
        std::fs::write(root.join(WORKFLOWS).join("ci.yml"), "on: push\n").unwrap();
        std::fs::write(root.join(DEPENDABOT), "version: 2\n").unwrap();
        std::fs::write(bindings.join("uv.lock"), "zizmor 1\n").unwrap();
        std::fs::write(root.join("README.md"), "# x\n").unwrap();
        (guard, root)
    }

    #[test]
    fn the_stamp_changes_with_what_the_verdict_depends_on_only() {
        let (_guard, root) = fake_root();
        let stamp = |xtask| super::stamp(&root, xtask).unwrap();
        let first = stamp(XTASK_CODE);
        assert_eq!(
            stamp(XTASK_CODE),
            first,
            "the same inputs give the same stamp"
        );
        std::fs::write(root.join("README.md"), "# y\n").unwrap();
        assert_eq!(
            stamp(XTASK_CODE),
            first,
            "a README does not change the verdict"
        );
        let other_xtask = "0.1.0, sources 0123456789abcdef";
        assert_ne!(stamp(other_xtask), first, "another xtask must lint again");
        let changes: [(&str, &str); 3] = [
            (".github/workflows/ci.yml", "on: pull_request\n"),
            (".github/workflows/new.yml", "on: push\n"),
            (
                "experiments/bindings/python-ws-client/uv.lock",
                "zizmor 2\n",
            ),
        ];
        let mut previous = first;
        for (file, text) in changes {
            std::fs::write(root.join(file), text).unwrap();
            let now = stamp(XTASK_CODE);
            assert_ne!(now, previous, "an edit of {file} must lint again");
            previous = now;
        }
    }
}
