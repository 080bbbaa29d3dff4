//! `cargo xtask extract`: turns every Python block of a README (the bindings' by default)
//! into a pytest test, so that the README's examples are tested like any other code. The
//! compiler itself is the `readme` module; this is the command around it.

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::base::context::StepContext;
use crate::base::paths;
use crate::{flags, readme};

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
    let generated = readme::compile(&readme, &paths::display_path(&readme), marker)?;
    let on_disk = std::fs::read_to_string(&out).ok();
    if on_disk.as_deref() == Some(generated.as_str()) {
        crate::traceln!(sh, "{} is up to date", paths::display_path(&out));
        return Ok(());
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
    write_atomically(&out, &generated)?;
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
    let bindings = std::fs::canonicalize(default_readme()).ok();
    let is_bindings = bindings.is_some() && std::fs::canonicalize(readme).ok() == bindings;
    Ok(is_bindings.then_some(BINDINGS_MARKER))
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
