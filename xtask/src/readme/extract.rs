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
        None if flags.readme.is_none() => default_out(),
        None => bail!(
            "--readme needs --out: the default test file, {}, is the bindings' README's; name the file to write, such as --out tests/test_my_readme.py",
            paths::display_path(&default_out())
        ),
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
    refuse_to_replace_another_file(&out, on_disk.as_deref())?;
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

/// Only a file that `extract` wrote may be replaced: `--out README.md` (or any file of the
/// user's) is refused, untouched.
fn refuse_to_replace_another_file(out: &Utf8Path, on_disk: Option<&str>) -> Result<()> {
    // A folder there is left to the write, which fails with its own error.
    let unreadable = on_disk.is_none() && out.is_file();
    let foreign = on_disk.is_some_and(|text| !text.starts_with(readme::GENERATED));
    if unreadable || foreign {
        bail!(
            "refusing to replace {}: it is not a test file that `cargo xtask extract` wrote (those begin with `{}`); give --out a new path, or remove that file first",
            paths::display_path(out),
            readme::GENERATED
        );
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(readme: Option<&Utf8Path>, out: Option<&Utf8Path>) -> Result<()> {
        let flags = flags::Extract {
            readme: readme.map(Utf8Path::to_path_buf),
            out: out.map(Utf8Path::to_path_buf),
            marker: None,
            check: false,
        };
        run(&StepContext::terminal(xshell::Shell::new()?), &flags)
    }

    /// Issue 31 item 7 and issue 32 item 5: `--out` replaces only a generated file, and
    /// another README needs an `--out` of its own (it overwrote the bindings' test file).
    #[test]
    fn only_generated_files_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        let readme = dir.join("other.md");
        std::fs::write(&readme, "# Other\n\n```python\nassert 1 + 1 == 2\n```\n").unwrap();
        let err = extract(Some(&readme), None).unwrap_err().to_string();
        assert!(err.contains("--readme needs --out"), "{err}");

        let mine = dir.join("notes.md");
        std::fs::write(&mine, "my own notes\n").unwrap();
        let err = extract(Some(&readme), Some(&mine)).unwrap_err().to_string();
        assert!(err.contains("refusing to replace"), "{err}");
        assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my own notes\n");

        let out = dir.join("test_other.py");
        extract(Some(&readme), Some(&out)).unwrap();
        std::fs::write(&readme, "# Other\n\n```python\nassert 2 + 2 == 4\n```\n").unwrap();
        extract(Some(&readme), Some(&out)).expect("a generated file is replaced");
        assert!(std::fs::read_to_string(&out).unwrap().contains("2 + 2"));
    }
}
