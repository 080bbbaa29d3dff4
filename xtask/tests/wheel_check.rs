//! `cargo xtask wheel --check` on copies of the real release wheel: the wheel as built
//! passes, and a copy without its stubs fails in one line that names the missing file. The
//! checker and its tools (the venv's Python, abi3audit) are the real ones.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::scratch_dir;

/// The release wheel: the one `cargo xtask ci --from` tests (`XTASK_WHEEL`), or the one
/// `cargo xtask wheel` left in this worktree, built first if there is none (a release
/// build: minutes the first time).
fn real_wheel() -> PathBuf {
    if let Some(wheel) = std::env::var_os("XTASK_WHEEL") {
        return wheel.into();
    }
    let dist = common::manifest_dir().join("../target/xtask/wheel/dist");
    let find = || {
        std::fs::read_dir(&dist)
            .ok()?
            .flatten()
            .map(|entry| entry.path())
            .find(|path| path.extension().is_some_and(|e| e == "whl"))
    };
    if let Some(wheel) = find() {
        return wheel;
    }
    let built = common::xtask()
        .args(["wheel", "--no-sdist"])
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    find().expect("`cargo xtask wheel` left no wheel")
}

/// Runs `python -m zipfile ARGS` in `dir`.
fn zipfile(dir: &Path, args: &[&std::ffi::OsStr]) {
    let python = common::python_with("zipfile");
    let done = Command::new(python)
        .current_dir(dir)
        .args(["-m", "zipfile"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
}

/// `cargo xtask wheel --check WHEEL`: whether it passed, and its stderr.
fn check(wheel: &Path) -> (bool, String) {
    let out = common::xtask()
        .args(["wheel", "--check"])
        .arg(wheel)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_wheel_without_its_stubs_fails_naming_the_file() {
    let wheel = real_wheel();
    let (passed, said) = check(&wheel);
    assert!(passed, "the wheel as built fails its check:\n{said}");

    let scratch = scratch_dir("wheel-check");
    let unpacked = scratch.join("unpacked");
    zipfile(
        &scratch,
        &["-e".as_ref(), wheel.as_os_str(), unpacked.as_os_str()],
    );
    let stub = unpacked.join("simd_r_drive_ws_client/_native.pyi");
    std::fs::remove_file(&stub).expect("the real wheel has the stubs");
    // The same file name: the check reads the tags from it.
    let doctored = scratch.join(wheel.file_name().unwrap());
    let mut args: Vec<std::ffi::OsString> = vec!["-c".into(), doctored.clone().into()];
    for entry in std::fs::read_dir(&unpacked).unwrap() {
        args.push(entry.unwrap().file_name());
    }
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    zipfile(&unpacked, &args);

    let (passed, said) = check(&doctored);
    assert!(!passed, "a wheel without its stubs passed:\n{said}");
    let error = said
        .lines()
        .find(|line| line.contains("error:"))
        .unwrap_or_else(|| panic!("no error line:\n{said}"));
    assert!(
        error.contains("the wheel lacks simd_r_drive_ws_client/_native.pyi"),
        "{error}"
    );
}
