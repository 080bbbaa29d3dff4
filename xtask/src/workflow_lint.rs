//! Checks the GitHub Actions workflows against their JSON schema (SchemaStore's, bundled
//! with `check-jsonschema` from PyPI, so no network is needed), so that a broken workflow
//! fails `cargo xtask ci` here and not only once pushed.

use anyhow::{Context, Result, ensure};
use camino::Utf8PathBuf;
use xshell::{Shell, cmd};

use crate::process::Job;
use crate::{paths, venv};

pub const WORKFLOWS: &str = ".github/workflows";

/// Runs the venv's `check-jsonschema` on every workflow file.
pub fn run(sh: &Shell) -> Result<()> {
    let files = workflow_files()?;
    let checker = venv::venv_dir().join("bin/check-jsonschema");
    ensure!(
        checker.is_file(),
        "{} is missing: run `cargo xtask venv` (it comes with the bindings' dev group)",
        paths::display_path(&checker)
    );
    let _dir = sh.push_dir(paths::project_root());
    Job::new(cmd!(
        sh,
        "{checker} --builtin-schema vendor.github-workflows {files...}"
    ))
    .run()
    .context("a workflow under .github/workflows does not match the GitHub Actions schema")
}

/// The `*.yml` and `*.yaml` files of the workflow folder, sorted; none is an error.
fn workflow_files() -> Result<Vec<Utf8PathBuf>> {
    let dir = paths::project_root().join(WORKFLOWS);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {dir}"))? {
        let path = Utf8PathBuf::try_from(entry?.path())?;
        if matches!(path.extension(), Some("yml" | "yaml")) {
            files.push(paths::display_path(&path));
        }
    }
    files.sort();
    ensure!(!files.is_empty(), "no workflow file (*.yml) in {WORKFLOWS}");
    Ok(files)
}
