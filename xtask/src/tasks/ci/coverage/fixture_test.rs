//! The report's attribution, measured for real on a small fixture crate
//! (`xtask/tests/fixtures/coverage/`): its Rust test calls one function, Python calls
//! another through ctypes, and a third is called by nothing.
//!
//! It needs `llvm-cov` and `llvm-profdata` of rustc's LLVM. Only the instrumented build of
//! `cargo xtask ci --coverage`, which has checked that they are there, sets `cfg(coverage)`
//! and runs it; elsewhere (a plain `ci`, `cargo test`) it is ignored, and says why.

use camino::Utf8Path;
use xshell::cmd;

use super::instrument::Profiles;
use super::{llvm, report};
use crate::adapters::cargo_build;
use crate::base::context::StepContext;
use crate::base::process::{Job, Sink};
use crate::base::{paths, tools};

/// What a profile of the fixture leaves out of its run: the instrumented run's own build
/// environment, which would send the fixture's build through cargo-llvm-cov's wrapper.
const INHERITED: [&str; 6] = [
    "RUSTC_WRAPPER",
    "__CARGO_LLVM_COV_RUSTC_WRAPPER",
    "__CARGO_LLVM_COV_RUSTC_WRAPPER_RUSTFLAGS",
    "__CARGO_LLVM_COV_RUSTC_WRAPPER_CRATE_NAMES",
    "CARGO_LLVM_COV",
    "CARGO_LLVM_COV_SHOW_ENV",
];

#[test]
#[cfg_attr(
    not(coverage),
    ignore = "needs LLVM's coverage tools: `cargo xtask ci --coverage` runs it"
)]
fn a_function_called_only_from_python_is_covered_by_the_python_tests() {
    let sh = StepContext::terminal(paths::shell().unwrap());
    let tools = llvm::find(&sh).unwrap();
    let (_guard, dir) = paths::test_dir();
    let fixture = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/coverage");
    let crate_dir = dir.join("crate");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    for file in ["Cargo.toml", "src/lib.rs", "call_from_python.py"] {
        std::fs::copy(fixture.join(file), crate_dir.join(file)).unwrap();
    }
    let manifest = crate_dir.join("Cargo.toml");
    let target = dir.join("target");
    let build = |args: &[&str]| {
        let mut build = cmd!(
            sh,
            "cargo {args...} --lib --message-format=json --manifest-path {manifest}"
        )
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "-C instrument-coverage");
        for name in INHERITED {
            build = build.env_remove(name);
        }
        Job::new(&sh, build).stderr(Sink::Null).read().unwrap()
    };
    // The test harness, then the shared library that Python loads.
    let json = build(&["test", "--no-run"]);
    build(&["build"]);
    let test_exe = cargo_build::test_executables(json.as_bytes())
        .unwrap()
        .remove(0);
    let library = target.join(if cfg!(target_os = "macos") {
        "debug/libcoverage_fixture.dylib"
    } else {
        "debug/libcoverage_fixture.so"
    });
    assert!(
        library.is_file(),
        "the fixture's library was not built at {library}"
    );

    let profiles = Profiles {
        dir: dir.join("profiles"),
    };
    profiles.clear().unwrap();
    let rust_pattern = format!("{}/%p-%m.profraw", profiles.rust());
    Job::new(&sh, cmd!(sh, "{test_exe}"))
        .env("LLVM_PROFILE_FILE", &rust_pattern)
        .run()
        .unwrap();
    let python = tools::python3(&sh).unwrap();
    let script = crate_dir.join("call_from_python.py");
    Job::new(&sh, cmd!(sh, "{python} {script} {library}"))
        .env("LLVM_PROFILE_FILE", profiles.python_pattern())
        .run()
        .unwrap();

    let rust = report::rust(
        &sh,
        &report::RustInputs {
            tools: &tools,
            profiles: &profiles,
            // As in a run, what ran outside the tests first (see `coverage::objects`).
            objects: vec![library, test_exe],
            crates: vec![("coverage-fixture".to_owned(), crate_dir.join("src"))],
            out: dir.join("out"),
        },
    )
    .unwrap();
    let calls = |name: &str| {
        let found: Vec<_> = rust
            .functions
            .iter()
            .filter(|f| f.name.rsplit("::").next() == Some(name))
            .collect();
        assert_eq!(found.len(), 1, "{name} in {:?}", rust.functions);
        (found[0].by_rust > 0, found[0].by_python > 0)
    };
    assert_eq!(
        calls("called_from_python"),
        (false, true),
        "by Rust, by Python"
    );
    assert_eq!(
        calls("called_from_rust"),
        (true, false),
        "by Rust, by Python"
    );
    assert_eq!(
        calls("called_by_nothing"),
        (false, false),
        "by Rust, by Python"
    );
    // The crate's row agrees: of its three functions (and the test), one each side.
    let row = &rust.rows[0];
    let [by_rust, by_python, by_either] = row.functions;
    assert_eq!(by_python.covered, 1, "{row:?}");
    assert_eq!(by_either.covered, by_rust.covered + 1, "{row:?}");
    assert!(by_either.covered < by_either.count, "{row:?}");
    assert!(dir.join("out/rust/index.html").is_file());
    assert!(dir.join("out/rust.lcov").is_file());
}
