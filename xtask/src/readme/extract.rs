//! `cargo xtask extract`: turns every Python block of a README (the bindings' by default)
//! into a pytest test, so that the README's examples are tested like any other code. The
//! compiler itself is the `readme` module; this is the command around it.

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::cmd;

use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::{self, Job};
use crate::python::venv;
use crate::{flags, readme, traceln};

/// The marker of the bindings' README tests: the stage that runs whole user workflows.
const BINDINGS_MARKER: &str = "e2e";

pub fn run(sh: &StepContext, flags: &flags::Extract) -> Result<()> {
    let readme = match &flags.readme {
        Some(path) => paths::from_user(path)?,
        None => default_readme(),
    };
    let out = match &flags.out {
        Some(path) => paths::from_user(path)?,
        None => default_out(),
    };
    let marker = marker_for(&readme, flags.marker.as_deref())?;
    let compiled = readme::compile(&readme, &paths::display_path(&readme), marker)?;
    let generated = compiled.test_file.as_str();
    let on_disk = std::fs::read_to_string(&out).ok();
    if on_disk.as_deref() == Some(generated) {
        crate::traceln!(sh, "{} is up to date", paths::display_path(&out));
        return Ok(());
    }
    // Only when the README changed (an up-to-date file costs no Python), and only the
    // bindings' README, whose Python the venv's is: another README may be written for a
    // newer one (t-strings, say) than any this machine has.
    if is_bindings_readme(&readme) {
        check_syntax(sh, &compiled)?;
    }
    if flags.check {
        let state = if on_disk.is_some() {
            "stale"
        } else {
            "missing"
        };
        bail!(
            "{} is {state}: run `{}`",
            paths::display_path(&out),
            fix_command(flags)
        );
    }
    write_atomically(&out, generated)?;
    crate::traceln!(sh, "wrote {}", paths::display_path(&out));
    Ok(())
}

/// The marker asked for, else the stage marker for the bindings' README and none for any
/// other, whose project may not know it (under `--strict-markers` it would stop pytest).
fn marker_for<'a>(readme: &Utf8Path, asked: Option<&'a str>) -> Result<Option<&'a str>> {
    if let Some(marker) = asked {
        let mut chars = marker.chars();
        let identifier = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !identifier {
            bail!("--marker {marker:?} is not a pytest marker name: use letters, digits and `_`");
        }
        return Ok(Some(marker));
    }
    Ok(is_bindings_readme(readme).then_some(BINDINGS_MARKER))
}

fn is_bindings_readme(readme: &Utf8Path) -> bool {
    let bindings = std::fs::canonicalize(default_readme()).ok();
    bindings.is_some() && std::fs::canonicalize(readme).ok() == bindings
}

/// The command that writes what `--check` checked: the same flags, without `--check`.
fn fix_command(flags: &flags::Extract) -> String {
    let mut command = String::from("cargo xtask extract");
    let paths = [("--readme", &flags.readme), ("--out", &flags.out)];
    for (flag, path) in paths {
        if let Some(path) = path {
            command.push_str(&format!(" {flag} {path}"));
        }
    }
    if let Some(marker) = &flags.marker {
        command.push_str(&format!(" --marker {marker}"));
    }
    command
}

/// Has a Python parse the README's blocks, so that a syntax error is named at its README
/// line now, not by pytest after a build and a server start: the venv's Python, else
/// `python3` (one process for every block, about 20 ms). Without a Python 3.10+, the tests
/// are left to find it; they name its README line too.
fn check_syntax(sh: &StepContext, compiled: &readme::Compiled) -> Result<()> {
    let python = venv::python();
    let python = match python.is_file() {
        true => python,
        false => match which::which("python3").map(Utf8PathBuf::try_from) {
            Ok(Ok(python3)) => python3,
            _ => {
                traceln!(
                    sh,
                    "extract: no Python to parse the README's blocks; the tests will"
                );
                return Ok(());
            }
        },
    };
    let input =
        paths::xtask_dir()?.join(format!("extract/{}.json", process::unique_name("blocks")));
    if let Some(dir) = input.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    }
    std::fs::write(&input, &compiled.syntax_check_input)
        .with_context(|| format!("cannot write {input}"))?;
    let script = paths::project_root().join(readme::SYNTAX_CHECK);
    let output = Job::new(sh, cmd!(sh, "{python} -I -S {script} {input}")).read();
    let _ = std::fs::remove_file(&input);
    match output {
        Ok(output) => match compiled.syntax_error(&output) {
            Some(error) => bail!("{error}"),
            None => Ok(()),
        },
        Err(error) if process::exit_code_of(&error) == readme::SYNTAX_CHECK_TOO_OLD => {
            traceln!(
                sh,
                "extract: {python} is older than 3.10; the tests will parse the README"
            );
            Ok(())
        }
        Err(error) => Err(error.context("cannot parse the README's blocks")),
    }
}

/// Brings the default test file up to date; what `pytest` and `ci` call.
pub fn ensure(sh: &StepContext) -> Result<()> {
    run(
        sh,
        &flags::Extract {
            readme: None,
            out: None,
            marker: None,
            check: false,
        },
    )
}

pub fn default_readme() -> Utf8PathBuf {
    paths::bindings_dir().join("README.md")
}

pub fn default_out() -> Utf8PathBuf {
    paths::bindings_dir().join("tests/test_readme_blocks.py")
}

/// Writes through a temp file and a rename, so that a concurrent run never reads half a file.
fn write_atomically(path: &Utf8Path, contents: &str) -> Result<()> {
    let dir = path.parent().context("the output path has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    let temp = dir.join(format!(".{}", crate::base::process::unique_name("extract")));
    let written = std::fs::write(&temp, contents)
        .with_context(|| format!("cannot write {temp}"))
        .and_then(|()| {
            std::fs::rename(&temp, path).with_context(|| format!("cannot write {path}"))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}
