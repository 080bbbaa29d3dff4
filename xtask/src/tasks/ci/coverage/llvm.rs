//! The LLVM tools that read coverage profiles, `llvm-profdata` and `llvm-cov`. They must be
//! of rustc's own LLVM major version: another one misreads or refuses the profiles that
//! rustc's instrumentation writes. Found in this order: `LLVM_COV` and `LLVM_PROFDATA` when
//! set, rustup's `llvm-tools` component, then `llvm-cov-<major>` and `llvm-profdata-<major>`
//! on PATH (Debian's and Ubuntu's `llvm-<major>` package). Each is checked for its major.

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use regex::Regex;
use xshell::cmd;

use crate::base::context::StepContext;

use crate::base::process::{Job, Sink};

/// The two tools, both of rustc's LLVM major version.
#[derive(Debug, Clone)]
pub struct Tools {
    pub llvm_cov: Utf8PathBuf,
    pub llvm_profdata: Utf8PathBuf,
}

/// Finds both tools and checks their version; the error says which to install.
pub fn find(sh: &StepContext) -> Result<Tools> {
    let verbose = Job::new(sh, cmd!(sh, "rustc -vV"))
        .read()
        .context("cannot run `rustc -vV`")?;
    let major = rustc_llvm_major(&verbose).context("`rustc -vV` names no LLVM version")?;
    let host = field(&verbose, "host").context("`rustc -vV` names no host")?;
    let sysroot = Job::new(sh, cmd!(sh, "rustc --print sysroot"))
        .read()
        .context("cannot run `rustc --print sysroot`")?;
    let component = Utf8Path::new(sysroot.trim()).join(format!("lib/rustlib/{host}/bin"));
    let find_one = |name: &str, variable: &str| -> Result<Utf8PathBuf> {
        let path = match std::env::var(variable) {
            Ok(path) if !path.is_empty() => Utf8PathBuf::from(path),
            _ if component.join(name).is_file() => component.join(name),
            _ => match which::which(format!("{name}-{major}")) {
                Ok(path) => Utf8PathBuf::try_from(path)?,
                Err(_) => bail!("{}", missing(name, major)),
            },
        };
        check_major(sh, &path, major)?;
        Ok(path)
    };
    Ok(Tools {
        llvm_cov: find_one("llvm-cov", "LLVM_COV")?,
        llvm_profdata: find_one("llvm-profdata", "LLVM_PROFDATA")?,
    })
}

/// What to install when a tool is missing: one line.
fn missing(name: &str, major: u32) -> String {
    format!(
        "coverage needs `{name}` of LLVM {major}, rustc's LLVM: install Debian's or Ubuntu's \
         package `llvm-{major}` (`apt-get install llvm-{major}`, which gives `{name}-{major}`), \
         or rustup's component (`rustup component add llvm-tools`)"
    )
}

/// Fails unless `path --version` says LLVM `major`.
fn check_major(sh: &StepContext, path: &Utf8Path, major: u32) -> Result<()> {
    let said = Job::new(sh, cmd!(sh, "{path} --version"))
        .stderr(Sink::Null)
        .read()
        .with_context(|| format!("cannot run `{path} --version`"))?;
    match tool_llvm_major(&said) {
        Some(found) if found == major => Ok(()),
        Some(found) => bail!(
            "{path} is of LLVM {found}, but rustc's LLVM is {major}; {}",
            missing_hint(major)
        ),
        None => bail!("{path} names no LLVM version; {}", missing_hint(major)),
    }
}

fn missing_hint(major: u32) -> String {
    format!(
        "coverage needs LLVM {major}'s tools: `apt-get install llvm-{major}`, or \
         `rustup component add llvm-tools` (or point LLVM_COV and LLVM_PROFDATA at them)"
    )
}

/// A `key: value` line of `rustc -vV`.
fn field<'a>(verbose: &'a str, key: &str) -> Option<&'a str> {
    verbose
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(": "))
        .map(str::trim)
}

/// `LLVM version: 22.1.2` in `rustc -vV` → 22.
pub fn rustc_llvm_major(verbose: &str) -> Option<u32> {
    field(verbose, "LLVM version")?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// `LLVM version 22.1.8` in a tool's `--version` (Debian's, rustup's, Homebrew's, Apple's
/// spell the line around it differently) → 22.
fn tool_llvm_major(said: &str) -> Option<u32> {
    let re = Regex::new(r"LLVM version (\d+)\.").unwrap();
    re.captures(said)?[1].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustcs_llvm_major_comes_from_its_verbose_version() {
        let verbose = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\n\
            host: x86_64-unknown-linux-gnu\nrelease: 1.95.0\nLLVM version: 22.1.2\n";
        assert_eq!(rustc_llvm_major(verbose), Some(22));
        assert_eq!(field(verbose, "host"), Some("x86_64-unknown-linux-gnu"));
        assert_eq!(rustc_llvm_major("rustc 1.95.0\n"), None);
    }

    #[test]
    fn a_tools_major_is_read_from_every_vendors_version_line() {
        let said = [
            (
                "LLVM (http://llvm.org/):\n  LLVM version 22.1.2-rust-1.95.0-stable\n",
                22,
            ),
            ("Debian LLVM version 22.1.8\n  Optimized build.\n", 22),
            ("Debian LLVM version 14.0.6\n", 14),
            ("Homebrew LLVM version 22.1.0\n", 22),
        ];
        for (text, major) in said {
            assert_eq!(tool_llvm_major(text), Some(major), "{text}");
        }
        assert_eq!(tool_llvm_major("llvm-cov: unknown option\n"), None);
    }

    #[test]
    fn the_missing_tool_line_names_the_major_the_package_and_the_component() {
        let line = missing("llvm-cov", 22);
        assert!(!line.contains('\n'));
        for part in [
            "LLVM 22",
            "llvm-22",
            "llvm-cov-22",
            "rustup component add llvm-tools",
        ] {
            assert!(line.contains(part), "{line}");
        }
    }
}
