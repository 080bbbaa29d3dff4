//! What an archive holds and what made it: the commit, rustc and its target triple, the
//! nextest version, and each part's file with its sha256. `manifest.json` is for xtask;
//! `SHA256SUMS` says the same hashes in the format `sha256sum --check` reads, for the
//! release job, which checks the files it publishes without xtask.

use std::io::Read;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Bump when the layout changes, so that an old archive is refused, not misread.
const FORMAT: u64 = 1;
pub const MANIFEST: &str = "manifest.json";
pub const SUMS: &str = "SHA256SUMS";

/// What built the archive; `--from` runs it only where the same holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// The commit of the checkout (`git rev-parse HEAD`), which must be clean.
    pub commit: String,
    /// `rustc -vV`'s release line, such as `1.95.0`.
    pub rustc: String,
    /// The host triple of that rustc, such as `x86_64-unknown-linux-gnu`.
    pub target: String,
    /// `cargo-nextest`'s version, pinned in the bindings' dev group.
    pub nextest: String,
}

/// One file of the archive, named relative to its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// What it is for, which `--from` looks it up by: [`NEXTEST_CI`], [`SERVER`], ...
    pub role: String,
    pub file: Utf8PathBuf,
    pub sha256: String,
}

/// The nextest archive of `cargo test --workspace`'s tests (profile `ci`).
pub const NEXTEST_CI: &str = "nextest-ci";
/// The nextest archive of xtask's tests that need the venv (profile `ci-venv`).
pub const NEXTEST_CI_VENV: &str = "nextest-ci-venv";
/// The release server, which the pytest stages run against and a release attaches.
pub const SERVER: &str = "server";
/// The bindings' release wheel, which the pytest stages test and a release publishes.
pub const WHEEL: &str = "wheel";
/// The bindings' source distribution, published beside the wheels.
pub const SDIST: &str = "sdist";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub build: Build,
    /// cargo's arguments that select xtask's venv tests (`-p xtask --test NAME ...`), as
    /// `rust build` found them in cargo's metadata.
    pub venv_tests: Vec<String>,
    pub parts: Vec<Part>,
}

impl Manifest {
    pub fn part(&self, role: &str) -> Result<&Part> {
        self.parts
            .iter()
            .find(|part| part.role == role)
            .with_context(|| format!("the archive has no {role}: make it again with `--archive`"))
    }

    pub fn to_json(&self) -> String {
        let parts: Vec<Value> = self
            .parts
            .iter()
            .map(|p| json!({"role": p.role, "file": p.file, "sha256": p.sha256}))
            .collect();
        let manifest = json!({
            "format": FORMAT,
            "commit": self.build.commit,
            "rustc": self.build.rustc,
            "target": self.build.target,
            "nextest": self.build.nextest,
            "venv_tests": self.venv_tests,
            "parts": parts,
        });
        serde_json::to_string_pretty(&manifest).expect("a JSON value prints") + "\n"
    }

    pub fn parse(text: &str) -> Result<Manifest> {
        let value: Value = serde_json::from_str(text).context("it is not JSON")?;
        let format = value.get("format").and_then(Value::as_u64);
        if format != Some(FORMAT) {
            bail!("it is of format {format:?}, this xtask reads {FORMAT}");
        }
        let text = |key: &str| -> Result<String> {
            Ok(value
                .get(key)
                .and_then(Value::as_str)
                .with_context(|| format!("it has no `{key}`"))?
                .to_owned())
        };
        let strings = |value: &Value, key: &str| -> Result<String> {
            Ok(value
                .get(key)
                .and_then(Value::as_str)
                .with_context(|| format!("a part has no `{key}`"))?
                .to_owned())
        };
        let mut parts = Vec::new();
        for part in value
            .get("parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let file = Utf8PathBuf::from(strings(part, "file")?);
            // Only names inside the folder: a manifest is read from a download.
            if file.is_absolute() || file.components().any(|c| c.as_str() == "..") {
                bail!("a part's file `{file}` is outside the archive");
            }
            parts.push(Part {
                role: strings(part, "role")?,
                file,
                sha256: strings(part, "sha256")?,
            });
        }
        let venv_tests = value.get("venv_tests").and_then(Value::as_array);
        let venv_tests = venv_tests.into_iter().flatten();
        Ok(Manifest {
            build: Build {
                commit: text("commit")?,
                rustc: text("rustc")?,
                target: text("target")?,
                nextest: text("nextest")?,
            },
            venv_tests: venv_tests
                .filter_map(|arg| arg.as_str().map(str::to_owned))
                .collect(),
            parts,
        })
    }

    /// `SHA256SUMS`: `HASH  FILE` per part, as `sha256sum` prints and `--check` reads.
    pub fn sums(&self) -> String {
        self.parts
            .iter()
            .map(|part| format!("{}  {}\n", part.sha256, part.file))
            .collect()
    }
}

/// Why an archive cannot run here, in one line, or `None` when it can: the first of a
/// different commit, rustc target, or nextest.
pub fn mismatch(archive: &Build, here: &Build) -> Option<String> {
    if archive.commit != here.commit {
        return Some(format!(
            "the archive is of commit {}, this checkout is at {}: check out {} (or make an \
             archive here with `cargo xtask ci --archive DIR`)",
            short(&archive.commit),
            short(&here.commit),
            short(&archive.commit)
        ));
    }
    if archive.target != here.target {
        return Some(format!(
            "the archive was built for {}, this machine is {}: use the archive of this \
             system's build job",
            archive.target, here.target
        ));
    }
    // Known only once the venv is there: the steps that run nextest ask.
    if !here.nextest.is_empty() && archive.nextest != here.nextest {
        return Some(format!(
            "the archive was made with cargo-nextest {}, the venv has {}: run `cargo xtask \
             venv --deps-only` to install the pinned one",
            archive.nextest, here.nextest
        ));
    }
    None
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256(path: &Utf8Path) -> Result<String> {
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot open {path}"))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("cannot read {path}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Each part's file hashed again against the manifest: the first that is missing or
/// differs, in one line that names it.
pub fn check_parts(manifest: &Manifest, dir: &Utf8Path) -> Result<()> {
    for part in &manifest.parts {
        let path = dir.join(&part.file);
        if !path.is_file() {
            bail!(
                "the archive is damaged: {} is missing from {dir}; download or make it again",
                part.file
            );
        }
        let sha256 = sha256(&path)?;
        if sha256 != part.sha256 {
            bail!(
                "the archive is damaged: {}'s sha256 is {sha256}, its manifest says {}; \
                 download or make it again",
                part.file,
                part.sha256
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::paths;

    fn build() -> Build {
        Build {
            commit: "0123456789abcdef0123456789abcdef01234567".to_owned(),
            rustc: "1.95.0".to_owned(),
            target: "x86_64-unknown-linux-gnu".to_owned(),
            nextest: "0.9.148".to_owned(),
        }
    }

    #[test]
    fn sha256_of_known_text() {
        let (_guard, dir) = paths::test_dir();
        let file = dir.join("abc");
        std::fs::write(&file, "abc").unwrap();
        assert_eq!(
            sha256(&file).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_manifest_reads_back_as_written() {
        let manifest = Manifest {
            build: build(),
            venv_tests: vec!["-p".into(), "xtask".into(), "--test".into(), "watch".into()],
            parts: vec![Part {
                role: SERVER.to_owned(),
                file: "simd-r-drive-ws-server".into(),
                sha256: "ab".repeat(32),
            }],
        };
        assert_eq!(Manifest::parse(&manifest.to_json()).unwrap(), manifest);
        assert_eq!(
            manifest.sums(),
            format!("{}  simd-r-drive-ws-server\n", "ab".repeat(32))
        );
    }

    #[test]
    fn a_part_outside_the_folder_or_another_format_is_refused() {
        let outside = r#"{"format":1,"commit":"c","rustc":"r","target":"t","nextest":"n",
            "parts":[{"role":"server","file":"../../bin/sh","sha256":"00"}]}"#;
        let error = Manifest::parse(outside).unwrap_err().to_string();
        assert!(error.contains("outside the archive"), "{error}");
        let old = r#"{"format":0,"commit":"c"}"#;
        let error = Manifest::parse(old).unwrap_err().to_string();
        assert!(error.contains("format Some(0)"), "{error}");
    }

    #[test]
    fn a_different_commit_target_or_nextest_is_named() {
        let here = build();
        assert_eq!(mismatch(&build(), &here), None);
        let cases = [
            (
                Build {
                    commit: "fedcba9876543210fedcba9876543210fedcba98".to_owned(),
                    ..build()
                },
                "the archive is of commit fedcba987654, this checkout is at 0123456789ab",
            ),
            (
                Build {
                    target: "aarch64-apple-darwin".to_owned(),
                    ..build()
                },
                "the archive was built for aarch64-apple-darwin, this machine is x86_64",
            ),
            (
                Build {
                    nextest: "0.9.1".to_owned(),
                    ..build()
                },
                "the archive was made with cargo-nextest 0.9.1, the venv has 0.9.148",
            ),
        ];
        for (archive, said) in cases {
            let line = mismatch(&archive, &here).unwrap();
            assert!(line.starts_with(said), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn a_changed_or_missing_part_is_named() {
        let (_guard, dir) = paths::test_dir();
        std::fs::write(dir.join("wheel.whl"), "the wheel").unwrap();
        let mut manifest = Manifest {
            build: build(),
            venv_tests: Vec::new(),
            parts: vec![Part {
                role: WHEEL.to_owned(),
                file: "wheel.whl".into(),
                sha256: sha256(&dir.join("wheel.whl")).unwrap(),
            }],
        };
        check_parts(&manifest, &dir).unwrap();
        std::fs::write(dir.join("wheel.whl"), "the wheel, flipped").unwrap();
        let error = check_parts(&manifest, &dir).unwrap_err().to_string();
        assert!(
            error.starts_with("the archive is damaged: wheel.whl's sha256 is"),
            "{error}"
        );
        manifest.parts[0].file = "gone.whl".into();
        let error = check_parts(&manifest, &dir).unwrap_err().to_string();
        assert!(error.contains("gone.whl is missing"), "{error}");
    }
}
