//! `ci --archive DIR`: what the test stages need, written to DIR once `rust build` and the
//! wheel are built. nextest's archives of the test binaries (with the non-test binaries,
//! build scripts' outputs and the cargo metadata they need, relative to the workspace), the
//! release server, the bindings' release wheel and sdist, and a manifest with the sha256
//! of each. The doctests do not travel (rustdoc compiles them when they run): the build
//! runs them.

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::cmd;

use super::manifest::{self, Build, Manifest, Part};
use crate::base::context::StepContext;
use crate::base::process::Job;
use crate::python::wheel;
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

/// The bindings' release wheel and sdist, built and checked as `ci --wheel` does (the sdist
/// builds a wheel of its own), copied into the archive: what the test jobs install and the
/// release publishes. Returns the wheel's name.
pub fn python_packages(sh: &StepContext, dir: &Utf8Path) -> Result<String> {
    let built = wheel::build(sh)?;
    wheel::check(sh, &built.wheel)?;
    wheel::check_sdist(sh, &built.sdist)?;
    for file in [&built.wheel, &built.sdist] {
        let name = file.file_name().context("a package has a file name")?;
        let to = dir.join(PYTHON).join(name);
        std::fs::copy(file, &to).with_context(|| format!("cannot copy {file} to {to}"))?;
    }
    Ok(built.wheel.file_name().unwrap_or_default().to_owned())
}

/// The rest of the archive, then its manifest over every part: nextest's archives of the
/// two selections (built already by `rust build`: nextest's cargo call compiles nothing
/// new), the release server, and the Python packages already there.
pub fn finish(
    sh: &StepContext,
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
        Job::new(
            sh,
            cmd!(
                sh,
                "{nextest} nextest archive --archive-file {archive_file} {selection...}"
            ),
        )
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
        traceln!(sh, "{sha256}  {file}");
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
