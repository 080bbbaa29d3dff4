//! `ci --archive DIR`: what the test stages need, written to DIR once `rust build` and the
//! wheel are built. nextest's archives of the test binaries (with the non-test binaries,
//! build scripts' outputs and the cargo metadata they need, relative to the workspace), the
//! release server, the bindings' release wheel and sdist, and a manifest with the sha256
//! of each. The doctests do not travel (rustdoc compiles them when they run): the build
//! runs them.

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{Shell, cmd};

use super::manifest::{self, Build, Manifest, Part};
use crate::base::paths;
use crate::base::process::Job;
use crate::python::venv;
use crate::server::test_server;
use crate::traceln;

/// The folder of the wheel and the sdist, inside the archive.
const PYTHON: &str = "python";
/// Written first into a folder that xtask makes an archive in, so that a run cut short
/// leaves a folder that the next run may replace.
const MARK: &str = ".xtask-archive";

/// DIR, ready for an archive: absent, empty, or an archive (finished or not), which is
/// replaced. Any other folder is the user's, and left alone.
pub fn prepare(dir: &Utf8Path) -> Result<()> {
    let entries = match dir.read_dir_utf8() {
        Ok(entries) => entries.count(),
        Err(_) if !dir.exists() => 0,
        Err(error) => return Err(error).with_context(|| format!("cannot read {dir}")),
    };
    if entries > 0 {
        if !dir.join(MARK).is_file() {
            bail!(
                "{dir} is not empty and holds no archive (no {}): name a new folder for it",
                manifest::MANIFEST
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove the old {dir}"))?;
    }
    std::fs::create_dir_all(dir.join(PYTHON)).with_context(|| format!("cannot create {dir}"))?;
    write(&dir.join(MARK), "made by `cargo xtask ci --archive`\n")
}

/// The bindings' release wheel and sdist, as users install them, built by the venv's
/// maturin into the archive, in the workspace's target dir (so that the release build of
/// the dependencies is shared with the server's).
pub fn python_packages(sh: &Shell, dir: &Utf8Path) -> Result<()> {
    let maturin = venv::venv_dir().join("bin/maturin");
    let out = dir.join(PYTHON);
    let target_dir = paths::target_dir()?;
    let _dir = sh.push_dir(paths::bindings_dir());
    // As `venv` does: the release library's name is shared by every worktree of this
    // target dir.
    let _built_library = venv::lock(&paths::shared_lock_dir()?.join("bindings-library.lock"))?;
    let build = cmd!(
        sh,
        "{maturin} build --release --sdist --locked --out {out} --target-dir {target_dir}"
    )
    .env_remove("CONDA_PREFIX");
    Job::new(build)
        .run()
        .context("maturin could not build the wheel: see the compiler's errors above")
}

/// The rest of the archive, then its manifest over every part: nextest's archives of the
/// two selections (built already by `rust build`: nextest's cargo call compiles nothing
/// new), the release server, and the Python packages already there.
pub fn finish(
    sh: &Shell,
    dir: &Utf8Path,
    build: Build,
    venv_tests: Vec<String>,
) -> Result<Manifest> {
    let nextest = crate::adapters::nextest::binary()?;
    let mut parts = Vec::new();
    let selections = [
        (manifest::NEXTEST_CI, vec!["--workspace".to_owned()]),
        (manifest::NEXTEST_CI_VENV, venv_tests.clone()),
    ];
    for (role, selection) in selections {
        let file = Utf8PathBuf::from(format!("{role}.tar.zst"));
        let archive_file = dir.join(&file);
        Job::new(cmd!(
            sh,
            "{nextest} nextest archive --archive-file {archive_file} {selection...}"
        ))
        .run()
        .with_context(|| format!("cargo-nextest could not archive the tests ({role})"))?;
        parts.push((role, file));
    }
    let server = test_server::build(sh, true)?;
    let file = Utf8PathBuf::from(format!("{}-{}", test_server::SERVER_PACKAGE, build.target));
    std::fs::copy(&server, dir.join(&file))
        .with_context(|| format!("cannot copy {server} into {dir}"))?;
    parts.push((manifest::SERVER, file));
    for entry in dir.join(PYTHON).read_dir_utf8()? {
        let name = entry?.file_name().to_owned();
        let role = if name.ends_with(".whl") {
            manifest::WHEEL
        } else if name.ends_with(".tar.gz") {
            manifest::SDIST
        } else {
            continue;
        };
        parts.push((role, Utf8Path::new(PYTHON).join(name)));
    }
    let mut hashed = Vec::new();
    for (role, file) in parts {
        let sha256 = manifest::sha256(&dir.join(&file))?;
        traceln!("{sha256}  {file}");
        hashed.push(Part {
            role: role.to_owned(),
            file,
            sha256,
        });
    }
    let manifest = Manifest {
        build,
        venv_tests,
        parts: hashed,
    };
    write(&dir.join(manifest::SUMS), &manifest.sums())?;
    write(&dir.join(manifest::MANIFEST), &manifest.to_json())?;
    Ok(manifest)
}

fn write(path: &Utf8Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {path}"))
}
