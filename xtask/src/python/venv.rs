//! The bindings' venv, made with uv, with the dev dependency group and
//! the bindings built by `maturin develop`. Neither tool skips work on its own, so a stamp of
//! the inputs and the build profile decides whether anything needs doing.
//!
//! Tests use the dev profile, built in the workspace's own target dir: the bindings then
//! reuse the dependencies that `cargo test --workspace` compiled, and an edit of the
//! bindings recompiles one crate incrementally (about 2 s instead of 13 s for a release
//! build). `cargo xtask bench` asks for release.

use std::fs::File;
use std::os::fd::AsRawFd;

use anyhow::{Context, Result, bail, ensure};
use camino::{Utf8Path, Utf8PathBuf};
use regex::Regex;
use xshell::cmd;

use crate::adapters::compiler;
use crate::base::context::StepContext;
use crate::base::fingerprint::{self, Fnv};
use crate::base::paths;
use crate::base::process::{Event, Job, Stream};
use crate::base::tools;
use crate::engine::events::BuildErrors;
use crate::python::interpreters::{self, Interpreter};
use crate::traceln;

/// Bump when the steps below change, so that old stamps no longer match.
const STAMP_VERSION: u32 = 4;
const STAMP_FILE: &str = ".xtask-stamp";
/// The stamp's profile for bindings installed from a release wheel of these very inputs
/// (`ci --from`): as good as a dev build for the tests, so that nothing rebuilds them.
const WHEEL: &str = "wheel";

pub fn venv_dir() -> Utf8PathBuf {
    paths::bindings_dir().join(".venv")
}

/// The venv's interpreter.
pub fn python() -> Utf8PathBuf {
    venv_dir().join("bin/python")
}

/// The cargo profile the bindings are built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Fast to rebuild after an edit: what the tests use.
    Dev,
    /// Optimized: what users get, and what `bench` measures.
    Release,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Dev => "dev",
            Profile::Release => "release",
        }
    }
}

pub fn ensure(
    sh: &StepContext,
    python: Option<&str>,
    recreate: bool,
    profile: Profile,
) -> Result<()> {
    let bindings = checked_bindings()?;
    let _lock = lock(sh, &paths::xtask_dir()?.join("venv.lock"))?;
    let venv = venv_dir();
    let stamp_path = venv.join(STAMP_FILE);
    if !recreate && is_current(python, profile)? {
        traceln!(sh, "venv is up to date ({}/.venv)", paths::BINDINGS);
        return Ok(());
    }
    // A refresh cut short must not look finished.
    let _ = std::fs::remove_file(&stamp_path);
    let uv = install_dependencies(sh, python, recreate)?;
    let _dir = sh.push_dir(&bindings);
    let uv_bin = uv.parent().context("uv has no folder")?;
    let path = std::env::join_paths(std::iter::once(uv_bin.as_std_path().to_owned()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let maturin = venv.join("bin/maturin");
    if !maturin.is_file() {
        bail!(
            "no maturin in the venv ({maturin}); it comes with the dev group of {}/pyproject.toml: \
             run `cargo xtask venv --recreate`",
            paths::BINDINGS
        );
    }
    // The workspace's target dir, so that the dependencies `cargo test --workspace` built
    // are reused; the profiles of the two manifests are kept equal for that (a test checks).
    let target_dir = paths::target_dir()?;
    // maturin installs the library that cargo copied to `<profile>/libNAME.so`, a name
    // every worktree sharing this target dir builds to: held from the build to the install.
    let _built_library = lock(sh, &paths::shared_lock_dir()?.join("bindings-library.lock"))?;
    let profile_name = profile.name();
    let develop = cmd!(
        sh,
        "{maturin} develop --uv --profile {profile_name} --target-dir {target_dir}"
    )
    .env("PATH", path)
    .env_remove("CONDA_PREFIX");
    // maturin passes on cargo's messages rendered, on stderr: read as they come, for the
    // errors a failed build names (in the error, as `BuildErrors`).
    let mut rendered = compiler::Rendered::new(&bindings, &paths::project_root());
    let built = Job::new(sh, develop)
        .env("VIRTUAL_ENV", venv.as_str())
        .follow(Stream::Stderr)
        .run_following(|event| {
            if let Event::Output(_, bytes) = event {
                rendered.feed(bytes);
            }
            Ok(())
        });
    rendered.finish();
    built
        .context(BuildErrors(rendered.errors))
        .context("maturin could not build the bindings: see the compiler's errors above")?;
    // Hashed again: uv may have rewritten pyvenv.cfg.
    let stamp = self::stamp(&bindings, &venv, python, profile.name())?;
    std::fs::write(&stamp_path, stamp).with_context(|| format!("cannot write {stamp_path}"))?;
    traceln!(sh, "venv is ready ({}/.venv)", paths::BINDINGS);
    Ok(())
}

/// Whether the venv was built from the current inputs, for this profile and `python`.
/// A release wheel of these inputs installed (`ci --from`) serves the dev profile too.
pub fn is_current(python: Option<&str>, profile: Profile) -> Result<bool> {
    let venv = venv_dir();
    let old = std::fs::read_to_string(venv.join(STAMP_FILE)).unwrap_or_default();
    let built_as = |name: &str| -> Result<bool> {
        let stamp = stamp(&paths::bindings_dir(), &venv, python, name)?;
        Ok(same_build(&old, &stamp, python.is_some()))
    };
    Ok(built_as(profile.name())? || (profile == Profile::Dev && built_as(WHEEL)?))
}

/// Installs `wheel` into the venv as users install it (not editable, replacing whatever
/// bindings it had), and stamps the venv with it: the caller vouches that the wheel was
/// built from this checkout's inputs (`ci --from` checked the archive's commit).
pub fn install_wheel(sh: &StepContext, python: Option<&str>, wheel: &Utf8Path) -> Result<()> {
    let _lock = lock(sh, &paths::xtask_dir()?.join("venv.lock"))?;
    let venv = venv_dir();
    let stamp_path = venv.join(STAMP_FILE);
    // An install cut short must not look finished.
    let _ = std::fs::remove_file(&stamp_path);
    let uv = tools::uv(sh)?;
    let interpreter = self::python();
    Job::new(
        sh,
        cmd!(
            sh,
            "{uv} pip install --python {interpreter} --reinstall --no-deps {wheel}"
        ),
    )
    .env("UV_PYTHON_DOWNLOADS", "never")
    .run()
    .context("uv could not install the wheel")?;
    let stamp = self::stamp(&paths::bindings_dir(), &venv, python, WHEEL)?;
    std::fs::write(&stamp_path, stamp).with_context(|| format!("cannot write {stamp_path}"))
}

/// `cargo xtask venv --deps-only`: uv (installed if missing), the venv and the locked dev
/// group, but not the bindings. It needs no Rust build, so `ci` runs it while
/// `cargo test` compiles.
pub fn dependencies_only(sh: &StepContext, python: Option<&str>) -> Result<()> {
    checked_bindings()?;
    let _lock = lock(sh, &paths::xtask_dir()?.join("venv.lock"))?;
    install_dependencies(sh, python, false)?;
    traceln!(
        sh,
        "the venv's dependencies are installed; the bindings are not built"
    );
    Ok(())
}

fn checked_bindings() -> Result<Utf8PathBuf> {
    let bindings = paths::bindings_dir();
    if !bindings.join("pyproject.toml").is_file() {
        bail!(
            "no pyproject.toml in {}: are the bindings checked out?",
            paths::BINDINGS
        );
    }
    Ok(bindings)
}

/// Makes the venv if needed and syncs the dev group into it; returns uv. The caller holds
/// the venv lock.
fn install_dependencies(
    sh: &StepContext,
    python: Option<&str>,
    recreate: bool,
) -> Result<Utf8PathBuf> {
    let venv = venv_dir();
    let uv = tools::uv(sh)?;
    let _dir = sh.push_dir(paths::bindings_dir());
    let creating = recreate || !venv.join("pyvenv.cfg").is_file();
    // A new venv without --python gets the python3 on PATH, checked to be new enough, not
    // whichever one uv prefers: uv may pick another, or try to download one.
    let interpreter = match python {
        Some(python) => Some(find_python(sh, python)?),
        None if creating => Some(tools::python3(sh)?.into_string()),
        None => None,
    };
    let python_flag = interpreter.map(|p| format!("--python={p}"));
    let python_flag = python_flag.as_slice();
    if creating {
        Job::new(sh, cmd!(sh, "{uv} venv --clear {python_flag...} .venv"))
            .run()
            .context("cannot create the venv")?;
    }
    let (synced, said) = Job::new(
        sh,
        cmd!(
            sh,
            "{uv} sync --group dev --no-install-project --locked {python_flag...}"
        ),
    )
    .env("UV_PYTHON_DOWNLOADS", "never")
    .run_keeping_stderr();
    synced.with_context(|| uv_failure(&said, &uv))?;
    Ok(uv)
}

/// The interpreter that `--python` names (a version such as `3.12`, or a path), found as
/// the lanes of `ci --python` find theirs (see [`interpreters`]), never downloaded.
fn find_python(sh: &StepContext, request: &str) -> Result<String> {
    match interpreters::resolve(sh, request)?.as_slice() {
        [one] => Ok(one.path.to_string()),
        _ => bail!("--python {request}: name one Python for the venv, such as --python 3.12"),
    }
}

/// What to do about a failed `uv sync`, from what uv said: one line, true to the case.
fn uv_failure(said: &str, uv: &Utf8Path) -> String {
    let said = said.to_lowercase();
    if said.contains("needs to be updated") {
        format!(
            "pyproject.toml and uv.lock disagree: update the lock with `{} lock` in {}",
            paths::display_path(uv),
            paths::BINDINGS
        )
    } else if [
        "dns error",
        "failed to lookup address",
        "error sending request",
        "connect",
    ]
    .iter()
    .any(|clue| said.contains(clue))
    {
        "cannot reach the package index: uv downloads the dev dependencies once, then          reuses its cache; connect to the network, or set UV_OFFLINE=1 if the cache has them"
            .to_owned()
    } else if said.contains("no interpreter found") {
        "uv found no such Python: see --python in `cargo xtask venv --help`".to_owned()
    } else {
        "cannot install the dev dependencies with uv (its error is above)".to_owned()
    }
}

/// How a lane's venv gets the bindings.
#[derive(Debug, Clone, Copy)]
pub enum Install<'a> {
    /// The dev build that [`ensure`] put in the package's folder, found through a `.pth`
    /// file as `maturin develop` installs it: abi3, so one build serves every lane.
    Editable,
    /// The release wheel, installed by uv as users install it.
    Wheel(&'a Utf8Path),
}

/// The `.pth` file of an editable lane, in its site-packages.
const EDITABLE_PTH: &str = "_xtask_simd_r_drive_ws_client.pth";

/// The venv of one interpreter, for the Python lanes of `ci` and `pytest --python`:
/// `target/xtask/venvs/py3.12-<hash of its path>`, so that each interpreter keeps its own
/// and switching between them rebuilds nothing.
pub fn lane_dir(interpreter: &Interpreter) -> Result<Utf8PathBuf> {
    let key = Fnv::of(interpreter.path.as_str().as_bytes()) & 0xffff_ffff;
    let name = format!("py{}-{key:08x}", interpreter.version.minor_name());
    Ok(paths::xtask_dir()?.join("venvs").join(name))
}

/// Makes or refreshes the venv of `interpreter` (see [`lane_dir`]): the locked dev group
/// from uv's cache, and the bindings as `install` says; returns its Python. A stamp skips
/// all of it when nothing changed.
pub fn ensure_lane(
    sh: &StepContext,
    interpreter: &Interpreter,
    install: Install<'_>,
) -> Result<Utf8PathBuf> {
    let bindings = checked_bindings()?;
    let dir = lane_dir(interpreter)?;
    // Not `with_extension`: the name has dots (`py3.12-...`).
    let _lock = lock(sh, &Utf8PathBuf::from(format!("{dir}.lock")))?;
    let python = dir.join("bin/python");
    let stamp_path = dir.join(STAMP_FILE);
    let stamp = lane_stamp(&bindings, interpreter, install)?;
    if python.is_file() && std::fs::read_to_string(&stamp_path).is_ok_and(|old| old == stamp) {
        traceln!(sh, "the venv of {} is up to date ({dir})", interpreter.path);
        return Ok(python);
    }
    let _ = std::fs::remove_file(&stamp_path);
    let uv = tools::uv(sh)?;
    let _dir = sh.push_dir(&bindings);
    let interpreter_path = &interpreter.path;
    // uv makes the venv with this interpreter, or makes it again if it had another.
    let (synced, said) = Job::new(
        sh,
        cmd!(
            sh,
            "{uv} sync --group dev --no-install-project --locked --python {interpreter_path}"
        ),
    )
    .env("UV_PROJECT_ENVIRONMENT", dir.as_str())
    .env("UV_PYTHON_DOWNLOADS", "never")
    .run_keeping_stderr();
    synced.with_context(|| uv_failure(&said, &uv))?;
    let pth = site_packages(&dir)?.join(EDITABLE_PTH);
    match install {
        Install::Editable => {
            let source = bindings.join("python");
            std::fs::write(&pth, format!("{source}\n"))
                .with_context(|| format!("cannot write {pth}"))?;
        }
        Install::Wheel(wheel) => {
            let _ = std::fs::remove_file(&pth);
            Job::new(sh, cmd!(
                sh,
                "{uv} pip install --python {python} --reinstall-package simd-r-drive-ws-client {wheel}"
            ))
            .env("UV_PYTHON_DOWNLOADS", "never")
            .run()
            .context("uv could not install the wheel")?;
        }
    }
    check_imported_from(sh, &python, install, &bindings, &dir)?;
    std::fs::write(&stamp_path, stamp).with_context(|| format!("cannot write {stamp_path}"))?;
    traceln!(sh, "the venv of {} is ready ({dir})", interpreter.path);
    Ok(python)
}

/// What a lane's venv was made from: the interpreter, the lock, and the bindings' install.
fn lane_stamp(
    bindings: &Utf8Path,
    interpreter: &Interpreter,
    install: Install<'_>,
) -> Result<String> {
    let lock = fingerprint::of_files(&[bindings.join("uv.lock"), bindings.join("pyproject.toml")])?;
    let install = match install {
        Install::Editable => "editable".to_owned(),
        Install::Wheel(wheel) => {
            let bytes = std::fs::read(wheel).with_context(|| format!("cannot read {wheel}"))?;
            format!("wheel {:016x}", Fnv::of(&bytes))
        }
    };
    Ok(format!(
        "version {STAMP_VERSION}\nlock {lock:016x}\ninterpreter {} {}\ninstall {install}\n",
        interpreter.version, interpreter.path
    ))
}

/// `lib/python3.X/site-packages` of a venv.
fn site_packages(venv: &Utf8Path) -> Result<Utf8PathBuf> {
    let lib = venv.join("lib");
    lib.read_dir_utf8()
        .with_context(|| format!("cannot read {lib}"))?
        .flatten()
        .map(|entry| entry.path().join("site-packages"))
        .find(|dir| dir.is_dir())
        .with_context(|| format!("no site-packages under {lib}"))
}

/// Imports the package where pytest runs and checks it comes from what `install` says: a
/// wheel lane that imported the source folder would test the wrong thing.
fn check_imported_from(
    sh: &StepContext,
    python: &Utf8Path,
    install: Install<'_>,
    bindings: &Utf8Path,
    venv: &Utf8Path,
) -> Result<()> {
    let script = "import simd_r_drive_ws_client._native as m; print(m.__file__)";
    let file = Job::new(sh, cmd!(sh, "{python} -c {script}"))
        .read()
        .context("the bindings do not import in the lane's venv")?;
    let expected = match install {
        Install::Editable => bindings.join("python"),
        Install::Wheel(_) => venv.to_owned(),
    };
    ensure!(
        Utf8Path::new(file.trim()).starts_with(&expected),
        "{python} imports the bindings from {}, not from {expected}",
        file.trim()
    );
    Ok(())
}

/// Holds an exclusive lock on `path` until dropped, so that two xtask runs never write one
/// thing at once: the venv (its lock is in the worktree's `target/xtask/`, as each worktree
/// has a venv of its own), or a file of a target dir that worktrees share. The kernel
/// releases it if xtask dies.
pub fn lock(sh: &StepContext, path: &Utf8Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open the lock file {path}"))?;
    let mut told = false;
    loop {
        // SAFETY: flock on a descriptor we own. Non-blocking, so that a signal is seen while
        // another run holds the lock.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(file);
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::WouldBlock {
            bail!("cannot lock {path}: {error}");
        }
        if !told {
            crate::errln!("waiting for another `cargo xtask`, which holds {path}");
            told = true;
        }
        sh.sleep(std::time::Duration::from_millis(50))?;
    }
}

/// Whether a venv stamped `old` is what `new` asks for. Without `--python`, any interpreter
/// the venv already has will do, so that `cargo xtask pytest` keeps a venv that
/// `cargo xtask venv --python 3.13` made.
fn same_build(old: &str, new: &str, python_given: bool) -> bool {
    let without_python = |stamp: &str| -> Vec<String> {
        stamp
            .lines()
            .filter(|line| !line.starts_with("python "))
            .map(str::to_owned)
            .collect()
    };
    if python_given {
        old == new
    } else {
        !old.is_empty() && without_python(old) == without_python(new)
    }
}

/// What the venv was built from: the bindings' inputs (see [`inputs`]), the interpreter,
/// the flags and the profile.
fn stamp(
    bindings: &Utf8Path,
    venv: &Utf8Path,
    python: Option<&str>,
    profile: &str,
) -> Result<String> {
    stamp_in(&paths::project_root(), bindings, venv, python, profile)
}

fn stamp_in(
    root: &Utf8Path,
    bindings: &Utf8Path,
    venv: &Utf8Path,
    python: Option<&str>,
    profile: &str,
) -> Result<String> {
    let files = inputs(root, bindings)?;
    let hash = fingerprint::of_files(&files)?;
    let interpreter = std::fs::read(venv.join("pyvenv.cfg")).unwrap_or_default();
    // An instrumented build (`ci --coverage`) goes through cargo-llvm-cov's wrapper: a
    // plain run must not take its bindings for its own. Not the target dir: a test's
    // scratch target dir builds the same bindings.
    let wrapper = std::env::var("RUSTC_WRAPPER").unwrap_or_default();
    Ok(format!(
        "version {STAMP_VERSION}\ninputs {:016x} ({} files)\ninterpreter {:016x}\nprofile {}\npython {}\nwrapper {wrapper}\n",
        hash,
        files.len(),
        Fnv::of(&interpreter),
        profile,
        python.unwrap_or("default"),
    ))
}

/// The files that can change the built bindings: their sources and those of their path
/// dependencies, and the workspace manifest those inherit from. Not the workspace's
/// Cargo.lock (the bindings have their own), the server, tests, examples, READMEs, nor the
/// Python package, which the editable install reads from its folder.
fn inputs(root: &Utf8Path, bindings: &Utf8Path) -> Result<Vec<Utf8PathBuf>> {
    let mut files = vec![root.join("Cargo.toml")];
    collect_inputs(bindings, &mut files)?;
    let manifest = std::fs::read_to_string(bindings.join("Cargo.toml")).unwrap_or_default();
    let path_dep = Regex::new(r#"path\s*=\s*"([^"]+)""#).unwrap();
    for captures in path_dep.captures_iter(&manifest) {
        collect_inputs(&bindings.join(&captures[1]), &mut files)?;
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Every file under `dir` that can change the built bindings; tests, examples, benches,
/// docs and build output cannot.
fn collect_inputs(dir: &Utf8Path, files: &mut Vec<Utf8PathBuf>) -> Result<()> {
    const SKIPPED: &[&str] = &[
        "target",
        "tests",
        "examples",
        "benches",
        "python",
        "__pycache__",
        "node_modules",
    ];
    let skipped = |name: &str| {
        name.starts_with('.')
            || SKIPPED.contains(&name)
            || name.ends_with(".so")
            || name.ends_with(".md")
    };
    fingerprint::files_under(dir, &skipped, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_venv_made_for_one_python_serves_runs_that_name_none() {
        let made = "version 3\ninputs 01 (3 files)\ninterpreter 02\npython 3.13\n";
        let default = "version 3\ninputs 01 (3 files)\ninterpreter 02\npython default\n";
        let changed = "version 3\ninputs 09 (3 files)\ninterpreter 02\npython default\n";
        assert!(same_build(made, default, false));
        assert!(!same_build(made, default, true));
        assert!(same_build(made, made, true));
        assert!(!same_build(made, changed, false));
        assert!(!same_build("", default, false));
    }

    /// A fake checkout: the workspace manifest, the bindings with a path dependency, the
    /// server, and what lies around them.
    const TREE: &[&str] = &[
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "server/src/main.rs",
        "bindings/Cargo.toml",
        "bindings/Cargo.lock",
        "bindings/pyproject.toml",
        "bindings/README.md",
        "bindings/src/client.rs",
        "bindings/python/pkg/__init__.py",
        "bindings/python/pkg/_native.abi3.so",
        "bindings/tests/test_client.py",
        "bindings/target/debug/out.so",
        "transport/Cargo.toml",
        "transport/src/lib.rs",
        "transport/tests/calls.rs",
        "transport/examples/bench.rs",
        "transport/benches/ops.rs",
    ];

    fn fake_tree() -> (tempfile::TempDir, Utf8PathBuf) {
        let (guard, root) = paths::test_dir();
        for file in TREE {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let text = if *file == "bindings/Cargo.toml" {
                "[dependencies]\nt = { path = \"../transport\" }\n"
            } else {
                "original\n"
            };
            std::fs::write(&path, text).unwrap();
        }
        (guard, root)
    }

    fn inputs_hash(root: &Utf8Path) -> u64 {
        fingerprint::of_files(&inputs(root, &root.join("bindings")).unwrap()).unwrap()
    }

    #[test]
    fn uv_failures_get_the_advice_that_fits() {
        let uv = Utf8Path::new("target/xtask/uv/bin/uv");
        let cases = [
            (
                "error: The lockfile at `uv.lock` needs to be updated, but `--locked` was provided.",
                "pyproject.toml and uv.lock disagree: update the lock with `target/xtask/uv/bin/uv lock`",
            ),
            (
                "error: Failed to fetch: `https://pypi.org/simple/maturin/`\n  Caused by: dns error: failed to lookup address information",
                "cannot reach the package index",
            ),
            (
                "error: something else",
                "cannot install the dev dependencies with uv",
            ),
        ];
        for (said, advice) in cases {
            let got = uv_failure(said, uv);
            assert!(got.starts_with(advice), "{said:?} gave {got:?}");
            assert!(!got.contains('\n'), "one line: {got:?}");
        }
        assert!(!uv_failure("dns error", uv).contains("uv lock"));
    }

    #[test]
    fn only_what_builds_the_bindings_rebuilds_them() {
        let (_guard, root) = fake_tree();
        let before = inputs_hash(&root);
        for (file, rebuilds) in [
            ("Cargo.toml", true),
            ("bindings/Cargo.toml", true),
            ("bindings/Cargo.lock", true),
            ("bindings/pyproject.toml", true),
            ("bindings/src/client.rs", true),
            ("transport/Cargo.toml", true),
            ("transport/src/lib.rs", true),
            ("Cargo.lock", false),
            ("README.md", false),
            ("server/src/main.rs", false),
            ("bindings/README.md", false),
            ("bindings/python/pkg/__init__.py", false),
            ("bindings/python/pkg/_native.abi3.so", false),
            ("bindings/tests/test_client.py", false),
            ("bindings/target/debug/out.so", false),
            ("transport/tests/calls.rs", false),
            ("transport/examples/bench.rs", false),
            ("transport/benches/ops.rs", false),
        ] {
            let path = root.join(file);
            let original = std::fs::read(&path).unwrap();
            let mut edited = original.clone();
            edited.extend_from_slice(b"// one more line\n");
            std::fs::write(&path, &edited).unwrap();
            let changed = inputs_hash(&root) != before;
            std::fs::write(&path, &original).unwrap();
            assert_eq!(changed, rebuilds, "an edit of {file}");
        }
    }

    #[test]
    fn switching_the_profile_rebuilds_once_then_stays_put() {
        let (_guard, root) = fake_tree();
        let bindings = root.join("bindings");
        let venv = bindings.join(".venv");
        let stamp_of =
            |profile: Profile| stamp_in(&root, &bindings, &venv, None, profile.name()).unwrap();
        let dev = stamp_of(Profile::Dev);
        let release = stamp_of(Profile::Release);
        assert!(
            !same_build(&dev, &release, false),
            "dev to release rebuilds"
        );
        assert!(same_build(&release, &stamp_of(Profile::Release), false));
        assert!(
            !same_build(&release, &dev, false),
            "release to dev rebuilds"
        );
        assert!(same_build(&dev, &stamp_of(Profile::Dev), false));
    }

    /// The bindings reuse the workspace's compiled dependencies only if both manifests ask
    /// for the same profiles.
    #[test]
    fn the_bindings_build_with_the_workspace_profiles() {
        let profiles = |manifest: &Utf8Path| -> String {
            let text = std::fs::read_to_string(manifest).unwrap();
            let mut keep = false;
            let mut out = String::new();
            for line in text.lines() {
                if line.starts_with('[') {
                    keep = line.starts_with("[profile");
                }
                if keep && !line.trim_start().starts_with('#') && !line.trim().is_empty() {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            out
        };
        let root = paths::project_root();
        assert_eq!(
            profiles(&root.join("Cargo.toml")),
            profiles(&paths::bindings_dir().join("Cargo.toml")),
            "copy the root Cargo.toml's [profile.*] sections into the bindings' Cargo.toml"
        );
    }
}
