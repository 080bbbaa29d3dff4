//! The environment of an instrumented run. cargo-llvm-cov's `show-env` gives it (its
//! `RUSTC_WRAPPER` adds `-C instrument-coverage --cfg=coverage` to the workspace's own
//! crates only, so that the dependencies build as usual); xtask adds the bindings' crate
//! (outside the workspace), a target dir of its own (`llvm-cov-target`, as cargo-llvm-cov
//! uses, so that a plain run's builds stay warm), the LLVM tools, and where the profiles go.
//!
//! `ci --coverage` then runs again as itself with that environment (an `exec`), so that
//! every process below it inherits it: cargo, nextest, maturin, the server, pytest, and the
//! xtask processes that xtask's own tests start. A profile is written by every
//! instrumented process when it exits; the Rust tests' go to `profiles/rust/`, the pytest
//! stages' and their server's to `profiles/python/` (see [`Profiles`]).

use std::convert::Infallible;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::cmd;

use crate::base::context::StepContext;

use super::llvm::Tools;
use crate::base::paths;
use crate::base::process::{Job, Sink};
use crate::python::venv;
use crate::traceln;

/// Set in the instrumented run's environment: the folder of its profiles. A run that finds
/// it set is the instrumented run.
const PROFILES_VAR: &str = "XTASK_COVERAGE_PROFILES";
/// The crate of the bindings' extension, which `show-env` cannot name: it is built by
/// maturin from outside the workspace.
const BINDINGS_CRATE: &str = "simd_r_drive_ws_client";
/// The cargo-llvm-cov pinned in the bindings' pyproject.toml, whose `show-env` output the
/// parser below was tested on.
pub const VERSION: &str = "0.9.1";

/// Where the profiles of a coverage run go.
#[derive(Debug, Clone)]
pub struct Profiles {
    pub dir: Utf8PathBuf,
}

impl Profiles {
    /// The instrumented run's profiles, when this is one.
    pub fn of_this_run() -> Option<Profiles> {
        let dir = std::env::var(PROFILES_VAR)
            .ok()
            .filter(|dir| !dir.is_empty())?;
        Some(Profiles { dir: dir.into() })
    }

    /// The Rust tests' profiles: the default of the instrumented run.
    pub fn rust(&self) -> Utf8PathBuf {
        self.dir.join("rust")
    }

    /// The pytest stages' profiles: the bindings' extension in pytest's processes, and the
    /// server they test.
    pub fn python(&self) -> Utf8PathBuf {
        self.dir.join("python")
    }

    /// `LLVM_PROFILE_FILE` for a process of the pytest stages: a file per process.
    pub fn python_pattern(&self) -> String {
        format!("{}/%p-%m.profraw", self.python())
    }

    /// `LLVM_PROFILE_FILE` for the pytest stages' server: named by its pid, so that its
    /// stop can check that it wrote one.
    pub fn server_pattern(&self) -> String {
        format!("{}/server-%p.profraw", self.python())
    }

    /// The profile that the pytest stages' server with `pid` writes as it exits.
    pub fn server_profile(&self, pid: u32) -> Utf8PathBuf {
        self.python().join(format!("server-{pid}.profraw"))
    }

    /// Removes an earlier run's profiles: each run is measured alone.
    pub fn clear(&self) -> Result<()> {
        for dir in [self.rust(), self.python()] {
            paths::empty_of(&dir, "profraw")?;
        }
        Ok(())
    }
}

/// The target dir of instrumented builds, beside the plain one.
pub fn target_dir() -> Result<Utf8PathBuf> {
    Ok(paths::target_dir()?.join("llvm-cov-target"))
}

/// Runs this command again, as an instrumented run: with the environment of
/// [`environment`]. Returns only on failure.
pub fn exec_instrumented(
    sh: &StepContext,
    tools: &Tools,
    python: Option<&str>,
) -> Result<Infallible> {
    use std::os::unix::process::CommandExt;
    let env = environment(sh, tools, python)?;
    let exe = std::env::current_exe().context("cannot find xtask's own executable")?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shown: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    traceln!(
        sh,
        "$ {} {} {}",
        shown.join(" "),
        exe.display(),
        args.join(" ")
    );
    let error = std::process::Command::new(&exe)
        .args(&args)
        .envs(env)
        .exec();
    Err(error).with_context(|| format!("cannot run {} again, instrumented", exe.display()))
}

/// The instrumented run's environment: `show-env`'s, with the additions of the module doc.
fn environment(
    sh: &StepContext,
    tools: &Tools,
    python: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let llvm_cov = venv::venv_dir().join("bin/cargo-llvm-cov");
    if !llvm_cov.is_file() {
        traceln!(
            sh,
            "cargo-llvm-cov is not in the venv yet: installing the venv's dependencies"
        );
        venv::dependencies_only(sh, python)?;
    }
    if !llvm_cov.is_file() {
        bail!(
            "cargo-llvm-cov is not in the venv ({llvm_cov}): run `cargo xtask venv --deps-only`, \
             which installs the version pinned in the bindings' pyproject.toml ({VERSION})"
        );
    }
    // With the tools named, cargo-llvm-cov never asks rustup to install its component.
    let shown = Job::new(sh, cmd!(sh, "{llvm_cov} llvm-cov show-env"))
        .env("LLVM_COV", &tools.llvm_cov)
        .env("LLVM_PROFDATA", &tools.llvm_profdata)
        .stderr(Sink::Null)
        .read()?;
    let profiles = paths::xtask_dir()?.join("coverage/profiles");
    let mut env = adjusted(parse_show_env(&shown)?, &target_dir()?, &profiles);
    env.push(("LLVM_COV".into(), tools.llvm_cov.to_string()));
    env.push(("LLVM_PROFDATA".into(), tools.llvm_profdata.to_string()));
    Ok(env)
}

/// `show-env`'s variables with xtask's changes: the bindings' crate instrumented too, the
/// instrumented target dir, the Rust tests' profiles as the default, and the marker.
fn adjusted(
    mut env: Vec<(String, String)>,
    target_dir: &Utf8Path,
    profiles: &Utf8Path,
) -> Vec<(String, String)> {
    env.retain(|(name, _)| name != "LLVM_PROFILE_FILE" && name != "CARGO_TARGET_DIR");
    for (name, value) in &mut env {
        if name == "__CARGO_LLVM_COV_RUSTC_WRAPPER_CRATE_NAMES" {
            value.push(',');
            value.push_str(BINDINGS_CRATE);
        }
        if name == "CARGO_LLVM_COV_TARGET_DIR" || name == "CARGO_LLVM_COV_BUILD_DIR" {
            *value = target_dir.to_string();
        }
    }
    let profiles = Profiles {
        dir: profiles.to_owned(),
    };
    env.push(("CARGO_TARGET_DIR".into(), target_dir.to_string()));
    env.push((
        "LLVM_PROFILE_FILE".into(),
        format!("{}/%p-%m.profraw", profiles.rust()),
    ));
    env.push((PROFILES_VAR.into(), profiles.dir.to_string()));
    env
}

/// `NAME=VALUE` lines, a value in single quotes when it holds what a shell would split.
fn parse_show_env(text: &str) -> Result<Vec<(String, String)>> {
    let mut env = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let (name, value) = line
            .split_once('=')
            .with_context(|| format!("cargo-llvm-cov's show-env printed `{line}`"))?;
        let value = match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            Some(quoted) if !quoted.contains('\'') => quoted,
            Some(_) => bail!("cargo-llvm-cov's show-env quoted a quote: `{line}`"),
            None => value,
        };
        env.push((name.to_owned(), value.to_owned()));
    }
    let has = |name: &str| env.iter().any(|(n, _)| n == name);
    if !has("RUSTC_WRAPPER") || !has("__CARGO_LLVM_COV_RUSTC_WRAPPER_CRATE_NAMES") {
        bail!(
            "cargo-llvm-cov's show-env no longer sets RUSTC_WRAPPER and the crates to \
             instrument; xtask reads the output of version {VERSION}"
        );
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As cargo-llvm-cov 0.9.1 prints it (the crate list shortened); `\x1f` separates the
    /// wrapper's flags.
    const SHOW_ENV: &str = "LLVM_PROFILE_FILE='/w/target/w-%p-%2m.profraw'\n\
        __CARGO_LLVM_COV_RUSTC_WRAPPER=1\n\
        __CARGO_LLVM_COV_RUSTC_WRAPPER_RUSTFLAGS='-C\x1finstrument-coverage\x1f--cfg=coverage'\n\
        __CARGO_LLVM_COV_RUSTC_WRAPPER_CRATE_NAMES=simd_r_drive_ws_server,xtask,build_script_build\n\
        RUSTC_WRAPPER=/w/.venv/bin/cargo-llvm-cov\n\
        CARGO_LLVM_COV=1\n\
        CARGO_LLVM_COV_SHOW_ENV=1\n\
        CARGO_LLVM_COV_TARGET_DIR=/w/target\n\
        CARGO_LLVM_COV_BUILD_DIR=/w/target\n";

    #[test]
    fn show_envs_output_becomes_the_instrumented_runs_environment() {
        let env = parse_show_env(SHOW_ENV).unwrap();
        let flags = "-C\x1finstrument-coverage\x1f--cfg=coverage";
        assert!(env.contains(&(
            "__CARGO_LLVM_COV_RUSTC_WRAPPER_RUSTFLAGS".into(),
            flags.into()
        )));
        let env = adjusted(env, "/w/target/llvm-cov-target".into(), "/w/p".into());
        let get = |name: &str| {
            let values: Vec<_> = env.iter().filter(|(n, _)| n == name).collect();
            assert_eq!(values.len(), 1, "{name}: {env:?}");
            values[0].1.clone()
        };
        assert_eq!(get("LLVM_PROFILE_FILE"), "/w/p/rust/%p-%m.profraw");
        assert_eq!(get("CARGO_TARGET_DIR"), "/w/target/llvm-cov-target");
        assert_eq!(
            get("CARGO_LLVM_COV_TARGET_DIR"),
            "/w/target/llvm-cov-target"
        );
        assert_eq!(get(PROFILES_VAR), "/w/p");
        assert!(
            get("__CARGO_LLVM_COV_RUSTC_WRAPPER_CRATE_NAMES")
                .ends_with(",xtask,build_script_build,simd_r_drive_ws_client")
        );
    }

    #[test]
    fn an_output_without_the_wrapper_is_refused() {
        let error = parse_show_env("LLVM_PROFILE_FILE=x\n").unwrap_err();
        assert!(error.to_string().contains(VERSION), "{error}");
        assert!(parse_show_env("no equals sign\n").is_err());
    }
}
