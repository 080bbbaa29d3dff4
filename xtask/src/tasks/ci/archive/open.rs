//! `ci --from DIR`: an archive checked before anything of it runs (the same commit and
//! rustc target as here, every part's sha256 as its manifest says), then its parts for the
//! test stages: nextest's archives extracted (once, by the first step that needs each, which
//! checks nextest's version too) and the arguments that run them on this checkout, the
//! server, the wheel installed into the venv.

use std::sync::{Mutex, PoisonError};

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::cmd;

use super::manifest::{self, Manifest};
use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::Job;
use crate::python::venv;
use crate::traceln;

/// An archive that passed its checks.
#[derive(Debug)]
pub struct Opened {
    pub dir: Utf8PathBuf,
    pub manifest: Manifest,
    /// Held while a step of this run extracts, so that a step beside it waits here, in
    /// silence, rather than on the file lock, which tells of another `cargo xtask`.
    extracting: Mutex<()>,
}

/// The archive in `dir`, refused in one line if it cannot run here: no manifest, another
/// commit or target triple, or a part missing or changed.
pub fn open(sh: &StepContext, dir: &Utf8Path) -> Result<Opened> {
    let path = dir.join(manifest::MANIFEST);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{dir} holds no archive (no {}): make one with `cargo xtask ci --archive {dir}`",
            manifest::MANIFEST
        )
    })?;
    let manifest =
        Manifest::parse(&text).with_context(|| format!("{path} is not an archive's manifest"))?;
    let here = super::here(sh, false)?;
    if let Some(mismatch) = manifest::mismatch(&manifest.build, &here) {
        bail!("{mismatch}");
    }
    manifest::check_parts(&manifest, dir)?;
    make_executable(&dir.join(&manifest.part(manifest::SERVER)?.file))?;
    traceln!(
        sh,
        "the archive in {dir} is of this commit ({}) and intact ({} parts)",
        manifest.build.commit,
        manifest.parts.len()
    );
    Ok(Opened {
        dir: dir.to_owned(),
        manifest,
        extracting: Mutex::new(()),
    })
}

/// Where the nextest archive of `role` is extracted: this checkout's target dir.
fn extracted(role: &str) -> Result<Utf8PathBuf> {
    Ok(paths::target_dir()?.join("nextest-archive").join(role))
}

/// Extracts a nextest archive by listing its binaries (which runs none of them), so that
/// each later nextest call reads the files in place instead of extracting its own copy
/// (seconds each). Steps side by side may both need it: the first extracts, under a lock,
/// and marks the folder with the archive's sha256; the next finds the mark.
fn extract(sh: &StepContext, archive: &Utf8Path, sha256: &str, to: &Utf8Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {to}"))?;
    let _lock = venv::lock(sh, &to.join(".lock"))?;
    let mark = to.join(".extracted");
    if std::fs::read_to_string(&mark).is_ok_and(|said| said == sha256) {
        return Ok(());
    }
    let _ = std::fs::remove_file(&mark);
    let nextest = crate::adapters::nextest::binary()?;
    let root = paths::project_root();
    Job::new(sh, cmd!(
        sh,
        "{nextest} nextest list --archive-file {archive} --workspace-remap {root} --extract-to {to} --extract-overwrite --list-type binaries-only"
    ))
    .run()
    .with_context(|| format!("cargo-nextest could not extract {archive}"))?;
    std::fs::write(&mark, sha256).with_context(|| format!("cannot write {mark}"))
}

/// A downloaded artifact loses its mode bits: the server is made executable again, once
/// its hash has been checked.
fn make_executable(path: &Utf8Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {path} executable"))
}

impl Opened {
    pub fn file(&self, role: &str) -> Result<Utf8PathBuf> {
        Ok(self.dir.join(&self.manifest.part(role)?.file))
    }

    /// The nextest archive of `role`, extracted into the target dir if it is not yet,
    /// once the venv's nextest is found to be the archive's.
    pub fn extract(&self, sh: &StepContext, role: &str) -> Result<()> {
        let nextest = crate::adapters::nextest::binary()?;
        let here = manifest::Build {
            nextest: super::nextest_version(sh, &nextest)?,
            ..self.manifest.build.clone()
        };
        if let Some(mismatch) = manifest::mismatch(&self.manifest.build, &here) {
            bail!("{mismatch}");
        }
        let part = self.manifest.part(role)?;
        // A step that panicked while it held it left nothing half done: the mark is written last.
        let _this_run = self
            .extracting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        extract(
            sh,
            &self.dir.join(&part.file),
            &part.sha256,
            &extracted(role)?,
        )
    }

    /// nextest's arguments that select the archived tests of `role` and run them on this
    /// checkout, in place of cargo's package and target arguments: the archive as
    /// [`Opened::extract`] extracted it, which every nextest call then reuses.
    pub fn nextest_selection(&self, role: &str) -> Result<Vec<String>> {
        let target = extracted(role)?.join("target");
        let metadata = target.join("nextest");
        Ok(vec![
            format!("--binaries-metadata={metadata}/binaries-metadata.json"),
            format!("--cargo-metadata={metadata}/cargo-metadata.json"),
            format!("--target-dir-remap={target}"),
            format!("--workspace-remap={}", paths::project_root()),
        ])
    }
}
