//! The release wheel and sdist, built by maturin as a release would build them, and checked
//! as a user would meet them: the wheel's tags, its metadata, its files, its abi3 claim
//! (abi3audit), and that the sdist builds a wheel of its own.
//!
//! A wheel is a zip and an sdist a tar.gz: Python's own `zipfile` and `tarfile` command
//! lines unpack them (xtask adds no archive crate for this).

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail, ensure};
use camino::{Utf8Path, Utf8PathBuf};
use regex::Regex;
use xshell::cmd;

use crate::base::context::StepContext;
use crate::base::fingerprint;
use crate::base::paths;
use crate::base::process::{self, Job};
use crate::python::venv;
use crate::traceln;

/// The import name of the package, its folder under `python/`.
const PACKAGE: &str = "simd_r_drive_ws_client";

/// Where `cargo xtask wheel` puts its work.
pub fn wheel_dir() -> Result<Utf8PathBuf> {
    Ok(paths::xtask_dir()?.join("wheel"))
}

/// What `maturin build --release` and `maturin sdist` made.
#[derive(Debug)]
pub struct Built {
    pub wheel: Utf8PathBuf,
    pub sdist: Utf8PathBuf,
}

/// Builds the release wheel and the sdist into `target/xtask/wheel/dist`, replacing what an
/// earlier build left there. Uses the tools venv's maturin (`cargo xtask venv --deps-only`).
/// Two commands, not `build --sdist`: that builds the wheel from the sdist unpacked in a new
/// temp folder each time, so cargo compiles the bindings again on every run.
pub fn build(sh: &StepContext) -> Result<Built> {
    // As `venv` does: the release library's name is shared by every worktree of this
    // target dir; and no other build empties `dist` while this one fills it.
    let _built_library = venv::lock(sh, &paths::shared_lock_dir()?.join("bindings-library.lock"))?;
    let dist = wheel_dir()?.join("dist");
    paths::empty_of(&dist, "whl")?;
    paths::empty_of(&dist, "gz")?;
    let maturin = maturin()?;
    let target_dir = paths::target_dir()?;
    let _dir = sh.push_dir(paths::bindings_dir());
    let build = cmd!(
        sh,
        "{maturin} build --release --locked --out {dist} --target-dir {target_dir}"
    )
    .env_remove("CONDA_PREFIX");
    Job::new(sh, build)
        .run()
        .context("maturin could not build the release wheel: see its errors above")?;
    Job::new(sh, cmd!(sh, "{maturin} sdist --out {dist}"))
        .run()
        .context("maturin could not build the sdist: see its errors above")?;
    Ok(Built {
        wheel: only_file(&dist, ".whl")?,
        sdist: only_file(&dist, ".tar.gz")?,
    })
}

fn maturin() -> Result<Utf8PathBuf> {
    let maturin = venv::venv_dir().join("bin/maturin");
    ensure!(
        maturin.is_file(),
        "no maturin at {maturin}: run `cargo xtask venv --deps-only`"
    );
    Ok(maturin)
}

/// The one file of `dir` whose name ends with `suffix`.
fn only_file(dir: &Utf8Path, suffix: &str) -> Result<Utf8PathBuf> {
    let mut found: Vec<Utf8PathBuf> = dir
        .read_dir_utf8()
        .with_context(|| format!("cannot read {dir}"))?
        .flatten()
        .filter(|entry| entry.file_name().ends_with(suffix))
        .map(|entry| entry.path().to_owned())
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        n => bail!("{n} files named *{suffix} in {dir}, expected one"),
    }
}

/// Checks the wheel at `wheel`: its name's tags, its metadata and its files (see
/// [`check_unpacked`]), then its abi3 claim with abi3audit. The first problem fails in a
/// line that names it.
pub fn check(sh: &StepContext, wheel: &Utf8Path) -> Result<()> {
    let name = wheel.file_name().context("a wheel has a file name")?;
    check_name(name)?;
    // A folder of this run's own, so that two checks side by side never share one.
    let unpacked = Scratch(wheel_dir()?.join(process::unique_name("unpacked")));
    unpack(sh, wheel, &unpacked.0, "zipfile")?;
    check_unpacked(&unpacked.0, &paths::bindings_dir())?;
    traceln!(
        sh,
        "{name}: tags, metadata and files are as the package claims"
    );
    audit_abi3(sh, wheel)
}

/// A folder removed when dropped, however the check ends.
struct Scratch(Utf8PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `simd_r_drive_ws_client-0.1.0-cp310-abi3-<platform>.whl`: one wheel for CPython 3.10
/// and later.
fn check_name(name: &str) -> Result<()> {
    let pattern = Regex::new(r"^([A-Za-z0-9_]+)-([^-]+)-([^-]+)-([^-]+)-([^-]+)\.whl$").unwrap();
    let captures = pattern
        .captures(name)
        .with_context(|| format!("{name}: not a wheel's file name"))?;
    ensure!(
        &captures[1] == PACKAGE,
        "{name}: the distribution is `{}`, expected `{PACKAGE}`",
        &captures[1]
    );
    let tags = format!("{}-{}", &captures[3], &captures[4]);
    ensure!(
        tags == "cp310-abi3",
        "{name}: tagged `{tags}`, expected `cp310-abi3` (one wheel for CPython 3.10+): is \
         pyo3's `abi3-py310` feature on?"
    );
    let platform = &captures[5];
    ensure!(
        ["manylinux", "musllinux", "linux_", "macosx_", "win"]
            .iter()
            .any(|prefix| platform.starts_with(prefix)),
        "{name}: platform tag `{platform}` is none of manylinux, linux, macosx, win"
    );
    Ok(())
}

/// Unpacks an archive with Python's `zipfile` or `tarfile` command line into a fresh `into`.
fn unpack(sh: &StepContext, archive: &Utf8Path, into: &Utf8Path, module: &str) -> Result<()> {
    if into.exists() {
        std::fs::remove_dir_all(into).with_context(|| format!("cannot remove {into}"))?;
    }
    std::fs::create_dir_all(into).with_context(|| format!("cannot create {into}"))?;
    let python = venv::python();
    Job::new(sh, cmd!(sh, "{python} -m {module} -e {archive} {into}"))
        .run()
        .with_context(|| format!("cannot unpack {archive}"))
}

/// Checks an unpacked wheel against the bindings' folder: the metadata says what
/// pyproject.toml says, with the README as the long description; every file of the Python
/// package is there, with the `_native` extension; nothing else is.
pub fn check_unpacked(unpacked: &Utf8Path, bindings: &Utf8Path) -> Result<()> {
    let files = files_under(unpacked)?;
    let dist_info = files
        .iter()
        .find_map(|file| {
            file.strip_suffix("/METADATA")
                .filter(|d| d.ends_with(".dist-info"))
        })
        .context("the wheel has no *.dist-info/METADATA")?
        .to_owned();
    let metadata = std::fs::read_to_string(unpacked.join(&dist_info).join("METADATA"))
        .context("cannot read the wheel's METADATA")?;
    let pyproject = std::fs::read_to_string(bindings.join("pyproject.toml"))
        .with_context(|| format!("cannot read {bindings}/pyproject.toml"))?;
    let readme = std::fs::read_to_string(bindings.join("README.md"))
        .with_context(|| format!("cannot read {bindings}/README.md"))?;
    check_metadata(&metadata, &pyproject, &readme)?;
    let source = bindings.join("python");
    let expected: BTreeSet<String> = files_under(&source)?
        .into_iter()
        .filter(|file| !is_built_or_cached(file))
        .collect();
    for file in &expected {
        ensure!(
            files.contains(file),
            "the wheel lacks {file} (in {}): check `python-source` and `include` in \
             pyproject.toml's [tool.maturin]",
            paths::display_path(&source.join(file))
        );
    }
    let extension = Regex::new(&format!(r"^{PACKAGE}/_native\.(abi3\.so|pyd)$")).unwrap();
    ensure!(
        files.iter().any(|file| extension.is_match(file)),
        "the wheel lacks the `_native` extension ({PACKAGE}/_native.abi3.so): check \
         `module-name` in pyproject.toml's [tool.maturin]"
    );
    let stray = files.iter().find(|file| {
        !file.starts_with(&format!("{dist_info}/"))
            && !expected.contains(*file)
            && !extension.is_match(file)
    });
    if let Some(stray) = stray {
        bail!("the wheel holds {stray}, which is no part of the package");
    }
    Ok(())
}

/// What a build or an interpreter leaves in the package's folder, which no wheel ships from
/// there.
fn is_built_or_cached(file: &str) -> bool {
    file.contains("__pycache__/") || file.ends_with(".so") || file.ends_with(".pyd")
}

/// Name, version and requires-python as pyproject.toml says them, and the README as the
/// long description in Markdown.
fn check_metadata(metadata: &str, pyproject: &str, readme: &str) -> Result<()> {
    let (headers, body) = metadata.split_once("\n\n").unwrap_or((metadata, ""));
    let header = |name: &str| {
        headers
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .map(str::trim)
    };
    let project = |key: &str| {
        Regex::new(&format!(r#"(?m)^{key}\s*=\s*"([^"]*)""#))
            .unwrap()
            .captures(pyproject)
            .map(|c| c[1].to_owned())
    };
    let normalize = |name: &str| name.to_lowercase().replace(['_', '.'], "-");
    for (field, key) in [
        ("Name", "name"),
        ("Version", "version"),
        ("Requires-Python", "requires-python"),
    ] {
        let claimed = project(key).with_context(|| format!("no `{key}` in pyproject.toml"))?;
        let got = header(field).with_context(|| format!("the wheel's METADATA has no {field}"))?;
        let same = if field == "Name" {
            normalize(got) == normalize(&claimed)
        } else {
            got == claimed
        };
        ensure!(
            same,
            "the wheel's METADATA says {field}: {got}, pyproject.toml says {key} = \"{claimed}\""
        );
    }
    ensure!(
        header("Description-Content-Type").is_some_and(|t| t.starts_with("text/markdown")),
        "the wheel's METADATA has no Description-Content-Type: text/markdown: is `readme` in \
         pyproject.toml?"
    );
    ensure!(
        body.trim() == readme.trim(),
        "the wheel's long description is not the bindings' README.md: is `readme` in \
         pyproject.toml?"
    );
    Ok(())
}

/// Every file under `dir`, as `/`-separated paths relative to it.
fn files_under(dir: &Utf8Path) -> Result<BTreeSet<String>> {
    let mut files = Vec::new();
    fingerprint::files_under(dir, &|_| false, &mut files)?;
    Ok(files
        .iter()
        .filter_map(|file| file.strip_prefix(dir).ok())
        .map(|file| file.as_str().replace('\\', "/"))
        .collect())
}

/// abi3audit (pinned in the dev group) on the wheel: every symbol the extension uses must
/// be in the stable ABI of CPython 3.10. A symbol outside it fails, named.
fn audit_abi3(sh: &StepContext, wheel: &Utf8Path) -> Result<()> {
    let abi3audit = venv::venv_dir().join("bin/abi3audit");
    ensure!(
        abi3audit.is_file(),
        "no abi3audit at {abi3audit}: it comes with the dev group; run `cargo xtask venv \
         --deps-only`"
    );
    let report = Job::new(sh, cmd!(sh, "{abi3audit} --report {wheel}"))
        .read()
        .context("abi3audit could not audit the wheel")?;
    let violations = abi3_violations(&report)?;
    if let Some((file, symbol)) = violations.first() {
        bail!(
            "{file} uses {symbol}, which is outside the abi3 (stable ABI) of CPython 3.10 \
             ({} such symbols; `{} --verbose {wheel}` lists them)",
            violations.len(),
            paths::display_path(&abi3audit)
        );
    }
    traceln!(sh, "abi3audit: every symbol is in the stable ABI");
    Ok(())
}

/// (file, symbol) of every non-abi3 symbol in abi3audit's `--report` JSON.
fn abi3_violations(report: &str) -> Result<Vec<(String, String)>> {
    let json: serde_json::Value =
        serde_json::from_str(report).context("abi3audit's report is not JSON")?;
    let mut found = Vec::new();
    let specs = json.get("specs").and_then(|s| s.as_object());
    for spec in specs.into_iter().flat_map(|specs| specs.values()) {
        let wheels = spec.get("wheels").and_then(|w| w.as_array());
        for wheel in wheels.into_iter().flatten() {
            let results = wheel.get("results").and_then(|r| r.as_array());
            for result in results.into_iter().flatten() {
                let file = result.get("so").and_then(|s| s.as_str()).unwrap_or("?");
                let bad = result.get("non_abi3_symbols").and_then(|s| s.as_array());
                for symbol in bad.into_iter().flatten().filter_map(|s| s.as_str()) {
                    found.push((file.to_owned(), symbol.to_owned()));
                }
                let computed = result.get("computed").and_then(|s| s.as_str());
                let baseline = result.get("baseline").and_then(|s| s.as_str());
                if let (Some(computed), Some(baseline)) = (computed, baseline)
                    && minor_of(computed) > minor_of(baseline)
                {
                    found.push((
                        file.to_owned(),
                        format!("the abi3 of CPython {computed} (claimed {baseline})"),
                    ));
                }
            }
        }
    }
    Ok(found)
}

fn minor_of(version: &str) -> Option<u32> {
    version.split('.').nth(1)?.parse().ok()
}

/// Builds a wheel from the sdist, as an installer without a matching wheel would, with the
/// venv's maturin and `--locked`; skipped when this very sdist built one before.
pub fn check_sdist(sh: &StepContext, sdist: &Utf8Path) -> Result<bool> {
    // Held from the unpacking to the stamp: the folder is fixed, so that cargo finds the
    // sdist's crates built before.
    let _built_library = venv::lock(sh, &paths::shared_lock_dir()?.join("bindings-library.lock"))?;
    let unpacked = wheel_dir()?.join("sdist");
    unpack(sh, sdist, &unpacked, "tarfile")?;
    let root = only_dir(&unpacked)?;
    // Of what it holds, not of its bytes: an sdist's archive carries times.
    let mut files = Vec::new();
    fingerprint::files_under(&unpacked, &|_| false, &mut files)?;
    files.sort();
    let stamp = format!("{:016x}\n", fingerprint::of_files(&files)?);
    let stamp_path = wheel_dir()?.join("sdist.checked");
    if std::fs::read_to_string(&stamp_path).is_ok_and(|old| old == stamp) {
        return Ok(false);
    }
    let out = wheel_dir()?.join("from-sdist");
    paths::empty_of(&out, "whl")?;
    let maturin = maturin()?;
    let target_dir = paths::target_dir()?;
    let _dir = sh.push_dir(&root);
    let build = cmd!(
        sh,
        "{maturin} build --release --locked --out {out} --target-dir {target_dir}"
    )
    .env_remove("CONDA_PREFIX");
    Job::new(sh, build).run().with_context(|| {
        format!("the sdist does not build a wheel ({root}): see maturin's errors")
    })?;
    let wheel = only_file(&out, ".whl")?;
    check_name(wheel.file_name().unwrap_or_default())?;
    std::fs::write(&stamp_path, stamp).with_context(|| format!("cannot write {stamp_path}"))?;
    Ok(true)
}

fn only_dir(dir: &Utf8Path) -> Result<Utf8PathBuf> {
    let found: Vec<Utf8PathBuf> = dir
        .read_dir_utf8()
        .with_context(|| format!("cannot read {dir}"))?
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.path().to_owned())
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "the sdist unpacks to {} folders in {dir}, expected one",
            found.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wheel_is_tagged_for_cpython_310_and_later_in_one_file() {
        let cases = [
            (
                "simd_r_drive_ws_client-0.1.0-cp310-abi3-manylinux_2_34_x86_64.whl",
                None,
            ),
            (
                "simd_r_drive_ws_client-0.1.0-cp310-abi3-macosx_11_0_arm64.whl",
                None,
            ),
            (
                "simd_r_drive_ws_client-0.1.0-cp312-cp312-manylinux_2_34_x86_64.whl",
                Some("tagged `cp312-cp312`"),
            ),
            (
                "simd_r_drive_ws_client-0.1.0-cp311-abi3-linux_x86_64.whl",
                Some("tagged `cp311-abi3`"),
            ),
            (
                "other-0.1.0-cp310-abi3-linux_x86_64.whl",
                Some("the distribution is `other`"),
            ),
            (
                "simd_r_drive_ws_client-0.1.0-cp310-abi3-any.whl",
                Some("platform tag `any`"),
            ),
            ("simd_r_drive_ws_client-0.1.0.tar.gz", Some("not a wheel")),
        ];
        for (name, problem) in cases {
            match (check_name(name), problem) {
                (Ok(()), None) => {}
                (Err(error), Some(problem)) => {
                    assert!(error.to_string().contains(problem), "{name}: {error}")
                }
                (got, _) => panic!("{name}: {got:?}"),
            }
        }
    }

    #[test]
    fn metadata_says_what_pyproject_says() {
        let pyproject = "name = \"simd-r-drive-ws-client\"\nversion = \"0.1.0\"\nrequires-python = \">=3.10\"\n";
        let readme = "# Client\n\nText.\n";
        let good = "Metadata-Version: 2.4\nName: simd-r-drive-ws-client\nVersion: 0.1.0\nRequires-Python: >=3.10\nDescription-Content-Type: text/markdown; charset=UTF-8; variant=GFM\n\n# Client\n\nText.\n";
        check_metadata(good, pyproject, readme).unwrap();
        let cases = [
            ("Version: 0.1.0", "Version: 0.2.0", "Version: 0.2.0"),
            ("Requires-Python: >=3.10\n", "", "no Requires-Python"),
            ("Name: simd-r-drive-ws-client", "Name: other", "Name: other"),
            (
                "Description-Content-Type: text/markdown",
                "Description-Content-Type: text/plain",
                "text/markdown",
            ),
            ("Text.", "Other.", "not the bindings' README.md"),
        ];
        for (from, to, problem) in cases {
            let doctored = good.replacen(from, to, 1);
            let error = check_metadata(&doctored, pyproject, readme).unwrap_err();
            assert!(error.to_string().contains(problem), "{to}: {error}");
        }
    }

    #[test]
    fn abi3audit_reports_name_each_symbol_outside_the_stable_abi() {
        let clean = r#"{"specs": {"w.whl": {"kind": "wheel", "wheels": [{"name": "w.whl", "results": [{"so": "_native.abi3.so", "baseline": "3.10", "computed": "3.7", "non_abi3_symbols": [], "future_abi3_objects": {}}]}]}}}"#;
        assert!(abi3_violations(clean).unwrap().is_empty());
        let bad = clean.replace("[]", r#"["_PyObject_GetDictPtr"]"#);
        assert_eq!(
            abi3_violations(&bad).unwrap(),
            [(
                "_native.abi3.so".to_owned(),
                "_PyObject_GetDictPtr".to_owned()
            )]
        );
        let newer = clean.replace(r#""computed": "3.7""#, r#""computed": "3.12""#);
        assert_eq!(abi3_violations(&newer).unwrap().len(), 1);
        assert!(abi3_violations("oops").is_err());
    }
}
