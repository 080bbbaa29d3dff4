//! Checks `.github/` here, before a push does: the workflows and `dependabot.yml` against
//! their JSON schemas (SchemaStore's, bundled with `check-jsonschema`), then zizmor's
//! security audit (unpinned actions, broad token permissions, persisted credentials,
//! template injection, ...). Both tools come locked in the bindings' dev group and run
//! offline, so the verdict is the same on every machine and needs no network.

use anyhow::{Context, Result, anyhow, ensure};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{Shell, cmd};

use crate::process::{self, Job};
use crate::{paths, venv};

pub const GITHUB: &str = ".github/";
pub const WORKFLOWS: &str = ".github/workflows";
pub const DEPENDABOT: &str = ".github/dependabot.yml";

/// zizmor's exit codes from here up mean "findings" (10 + the highest severity); below,
/// zizmor itself failed.
const ZIZMOR_FINDINGS: u8 = 10;

/// The `workflow lint` step of `cargo xtask ci`: the workspace's own `.github/`.
pub fn run(sh: &Shell) -> Result<()> {
    check(sh, &paths::project_root())
}

/// Runs both linters from `root`, so that their messages name files as `.github/...`.
pub fn check(sh: &Shell, root: &Utf8Path) -> Result<()> {
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
    Job::new(cmd!(
        sh,
        "{checker} --builtin-schema vendor.github-workflows {workflows...}"
    ))
    .run()
    .context("a workflow under .github/workflows does not match the GitHub Actions schema")?;
    Job::new(cmd!(
        sh,
        "{checker} --builtin-schema vendor.dependabot {DEPENDABOT}"
    ))
    .run()
    .with_context(|| format!("{DEPENDABOT} does not match Dependabot's schema"))?;
    // --strict-collection: a file zizmor cannot parse fails the step instead of being
    // skipped with a warning.
    let audit = cmd!(sh, "{zizmor} --offline --strict-collection {GITHUB}");
    Job::new(audit).run().map_err(|error| {
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
