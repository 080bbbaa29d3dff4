//! `cargo xtask ci --archive` in one clone, `--from` in a second clone of the same commit
//! with its own empty target dir, the first clone deleted: every stage passes and nothing is
//! compiled; `--shard 1/2` and `2/2` add up to the whole run; a damaged archive and another
//! commit are refused. A cold build and five ci runs (some 15 minutes on two cores), on
//! the committed tree (a clone has no uncommitted change): run by hand,
//!
//! ```sh
//! cargo test -p xtask --test archive -- --ignored --nocapture
//! ```
//!
//! The refusals alone run in every `cargo test`: a manifest written here for this checkout,
//! made wrong one way at a time, is refused in one line before anything runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a `cargo xtask ci` run printed, and how it ended.
struct Run {
    passed: bool,
    /// The results, which end with the totals line.
    stdout: String,
    /// Both streams, the results first.
    output: String,
}

impl Run {
    /// `(passed, failed, skipped)` from the totals line, the last of stdout.
    fn totals(&self) -> (u64, u64, u64) {
        let last = self.last_line();
        let numbers: Vec<u64> = last
            .trim_start_matches("ci: ")
            .split(", ")
            .filter_map(|part| part.split(' ').next()?.parse().ok())
            .collect();
        match numbers[..] {
            [passed, failed, skipped] => (passed, failed, skipped),
            _ => panic!("no totals line at the end:\n{}", self.output),
        }
    }

    fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(dir)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?} failed in {}", dir.display());
}

/// A clone of this checkout's commit.
fn clone(into: &Path) -> PathBuf {
    let root = common::manifest_dir().join("..");
    let status = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(&root)
        .arg(into)
        .status()
        .unwrap();
    assert!(status.success(), "git clone failed");
    into.to_owned()
}

/// A `cargo` first on PATH that records each call in `calls`, then runs the real one.
fn recording_cargo(scratch: &Path) -> (PathBuf, PathBuf) {
    let real = which::which("cargo").expect("cargo on PATH");
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = scratch.join("cargo-calls");
    let script = format!(
        "#!/bin/sh\necho \"cargo $*\" >> '{}'\nexec '{}' \"$@\"\n",
        calls.display(),
        real.display()
    );
    let shim = bin.join("cargo");
    std::fs::write(&shim, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, calls)
}

/// `cargo xtask ci ARGS` on `checkout`, with its own target dir, as `cargo run` there
/// would start it (the xtask binary under test stands in for the harness's build).
fn ci(checkout: &Path, path: &std::ffi::OsStr, args: &[&str]) -> Run {
    let output = common::xtask()
        .env("CARGO_MANIFEST_DIR", checkout.join("xtask"))
        .env("CARGO_TARGET_DIR", checkout.join("target"))
        .env("PATH", path)
        .env_remove("XTASK_SERVER_BIN")
        .env_remove("GITHUB_ACTIONS")
        .current_dir(checkout)
        .arg("ci")
        .args(args)
        .output()
        .unwrap();
    let passed = output.status.success();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let output = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    eprintln!("--- cargo xtask ci {} ---\n{output}", args.join(" "));
    Run {
        passed,
        stdout,
        output,
    }
}

/// Every folder under `dir` named `name`.
fn find(dir: &Path, name: &str, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if entry.file_name() == name {
                found.push(path.clone());
            }
            find(&path, name, found);
        }
    }
}

/// Nothing was compiled on `checkout`: no `Compiling` line in the run or its step logs,
/// no cargo call that builds, and no fingerprint folder, which cargo writes for every
/// unit it compiles, in its target dir.
fn assert_compiled_nothing(checkout: &Path, run: &Run, calls: &Path) {
    let logs = checkout.join("target/xtask/logs/ci");
    let mut text = run.output.clone();
    for entry in std::fs::read_dir(&logs).unwrap().flatten() {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    let compiling: Vec<&str> = text.lines().filter(|l| l.contains("Compiling ")).collect();
    assert!(compiling.is_empty(), "compiled: {compiling:?}");
    let starts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("$ ") && (l.contains("maturin") || l.contains("cargo ")))
        .collect();
    assert!(starts.is_empty(), "started a build: {starts:?}");
    let calls = std::fs::read_to_string(calls).unwrap_or_default();
    let builds: Vec<&str> = calls
        .lines()
        .filter(|call| {
            let verb = call.split_whitespace().nth(1).unwrap_or_default();
            ["build", "test", "rustc", "run", "check", "doc", "clippy"].contains(&verb)
        })
        .collect();
    assert!(builds.is_empty(), "cargo was asked to build: {builds:?}");
    let mut fingerprints = Vec::new();
    find(checkout, ".fingerprint", &mut fingerprints);
    assert!(
        fingerprints.is_empty(),
        "cargo compiled into {fingerprints:?}"
    );
}

#[test]
#[ignore = "a cold build in a fresh clone and five ci runs: some 15 minutes"]
fn an_archive_made_in_one_clone_is_tested_in_another_without_compiling() {
    let scratch = common::scratch_dir("archive");
    let (bin, calls) = recording_cargo(&scratch);
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let one = clone(&scratch.join("one"));
    let two = clone(&scratch.join("two"));
    // `XTASK_KEEP_ARCHIVE=DIR` keeps the archive for xtask/scripts/archive-vs-cold.sh.
    let archive =
        std::env::var_os("XTASK_KEEP_ARCHIVE").map_or(scratch.join("archive"), PathBuf::from);
    let archive_arg = archive.to_str().unwrap();

    let made = ci(&one, &path, &["--archive", archive_arg]);
    assert!(made.passed && made.totals().1 == 0, "{}", made.output);
    // Nothing of the build's checkout is left for the test side to lean on.
    std::fs::remove_dir_all(&one).unwrap();
    let _ = std::fs::remove_file(&calls);

    let whole = ci(&two, &path, &["--from", archive_arg]);
    let (passed, failed, skipped) = whole.totals();
    assert!(
        whole.passed && failed == 0 && passed > 0,
        "{}",
        whole.output
    );
    assert_compiled_nothing(&two, &whole, &calls);

    let first = ci(&two, &path, &["--from", archive_arg, "--shard", "1/2"]);
    let second = ci(&two, &path, &["--from", archive_arg, "--shard", "2/2"]);
    assert_compiled_nothing(&two, &second, &calls);
    let (p1, f1, s1) = first.totals();
    let (p2, f2, s2) = second.totals();
    eprintln!(
        "totals:\n{}\n{}\n{}",
        whole.last_line(),
        first.last_line(),
        second.last_line()
    );
    assert_eq!((f1, f2), (0, 0));
    assert_eq!(p1 + p2, passed, "the shards' passed tests add up");
    assert_eq!(s1 + s2, skipped, "the shards' skipped tests add up");

    // A flipped byte in one part.
    let sums = std::fs::read_to_string(archive.join("SHA256SUMS")).unwrap();
    let server = sums
        .lines()
        .filter_map(|line| Some(line.split_once("  ")?.1.to_owned()))
        .find(|file| file.starts_with("simd-r-drive-ws-server"))
        .expect("the archive has a server");
    let mut bytes = std::fs::read(archive.join(&server)).unwrap();
    bytes[100] ^= 1;
    std::fs::write(archive.join(&server), &bytes).unwrap();
    let damaged = ci(&two, &path, &["--from", archive_arg]);
    assert!(!damaged.passed, "{}", damaged.output);
    let said = format!("the archive is damaged: {server}'s sha256 is");
    assert!(damaged.output.contains(&said), "{}", damaged.output);
    bytes[100] ^= 1;
    std::fs::write(archive.join(&server), &bytes).unwrap();

    git(
        &two,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "another commit",
        ],
    );
    let other = ci(&two, &path, &["--from", archive_arg]);
    assert!(!other.passed, "{}", other.output);
    assert!(
        other.output.contains("the archive is of commit"),
        "{}",
        other.output
    );
}

/// This checkout's commit and rustc's host triple, as `--from` compares them.
fn commit_and_target(checkout: &Path) -> (String, String) {
    let read = |program: &str, args: &[&str]| {
        let output = Command::new(program)
            .current_dir(checkout)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{program} {args:?} failed");
        String::from_utf8(output.stdout).unwrap()
    };
    let commit = read("git", &["rev-parse", "HEAD"]).trim().to_owned();
    let rustc = read("rustc", &["-vV"]);
    let target = rustc
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names its host")
        .to_owned();
    (commit, target)
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// An archive's folder with one part (a stand-in server) and a manifest of `commit` and
/// `target` that says the part's sha256 is `sha256`.
fn fake_archive(dir: &Path, commit: &str, target: &str, sha256: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("server"), "#!/bin/sh\n").unwrap();
    let manifest = serde_json::json!({
        "format": 1,
        "commit": commit,
        "rustc": "1.0.0",
        "target": target,
        "nextest": "0.9.0",
        "venv_tests": [],
        "parts": [{"role": "server", "file": "server", "sha256": sha256}],
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
}

/// `cargo xtask ci --from DIR` on this checkout: it failed, and its refusal, which must be
/// one line beside the commands it printed (`$ git rev-parse HEAD`): no step ran.
fn refused(checkout: &Path, dir: &Path) -> String {
    let output = common::xtask()
        .current_dir(checkout)
        .env_remove("GITHUB_ACTIONS")
        .args(["ci", "--from"])
        .arg(dir)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "not refused:\n{said}");
    let lines: Vec<&str> = said.lines().filter(|l| !l.starts_with("$ ")).collect();
    assert!(
        matches!(lines[..], [line] if line.starts_with("error: ")),
        "not one line:\n{said}"
    );
    said
}

#[test]
fn another_commit_another_target_or_a_damaged_part_is_refused_in_one_line() {
    let checkout = common::manifest_dir().join("..");
    let (commit, target) = commit_and_target(&checkout);
    let scratch = common::scratch_dir("archive-refusals");
    let good = sha256(b"#!/bin/sh\n");
    let cases = [
        (
            "0123456789ab".repeat(3) + "0123",
            target.clone(),
            good.clone(),
            "the archive is of commit 0123456789ab, this checkout is at ".to_owned(),
        ),
        (
            commit.clone(),
            "sparc-sun-solaris".to_owned(),
            good.clone(),
            format!("the archive was built for sparc-sun-solaris, this machine is {target}"),
        ),
        (
            commit.clone(),
            target.clone(),
            sha256(b"another server"),
            format!("the archive is damaged: server's sha256 is {good}, its manifest says"),
        ),
    ];
    for (index, (commit, target, sha256, expected)) in cases.into_iter().enumerate() {
        let dir = scratch.join(format!("archive-{index}"));
        fake_archive(&dir, &commit, &target, &sha256);
        let said = refused(&checkout, &dir);
        assert!(
            said.contains(&expected),
            "expected `{expected}` in:\n{said}"
        );
    }
    // Not an archive at all.
    let said = refused(&checkout, &scratch.join("nothing"));
    assert!(said.contains("holds no archive"), "{said}");
}
