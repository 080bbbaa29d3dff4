use super::*;
use step::*;

fn plan(paths: &[&str]) -> Plan {
    route(&paths.iter().map(Utf8PathBuf::from).collect())
}

fn b(path: &str) -> String {
    format!("{}/{path}", paths::BINDINGS)
}

/// Every route: a file it takes, the area, what `watch` does and what `ci` runs.
#[test]
fn each_change_goes_where_it_belongs() {
    use Rebuild::*;
    const PYTEST_ALL: &[&str] = &PYTEST;
    const PYTEST_AND_BINDINGS: &[&str] = &[BINDINGS, PYTEST_UNIT, PYTEST_INTEGRATION, PYTEST_E2E];
    let ci = |steps| CiWork::Steps(Selection::of(steps));
    let readme = CiWork::Steps(
        Selection::of(&[EXTRACT, PYTEST_E2E, XTASK_VENV_TESTS])
            .pytest_only(README_TESTS)
            .venv_test("readme_blocks", Some("hidden_setup_leaves_no_trace")),
    );
    let python = ci(PYTEST_ALL);
    let bindings = ci(PYTEST_AND_BINDINGS);
    let transport = CiWork::Steps(
        Selection::of(&[
            RUST_TESTS,
            DOCTESTS,
            BINDINGS,
            PYTEST_UNIT,
            PYTEST_INTEGRATION,
            PYTEST_E2E,
        ])
        .rust_package("simd-r-drive-ws-transport"),
    );
    let server = CiWork::Steps(
        Selection::of(&[RUST_TESTS, DOCTESTS, PYTEST_INTEGRATION, PYTEST_E2E])
            .rust_package("simd-r-drive-ws-server"),
    );
    let xtask = CiWork::Steps(Selection::of(&[RUST_TESTS, XTASK_VENV_TESTS]).rust_package("xtask"));
    let workflow = CiWork::Steps(Selection::of(&[WORKFLOW_LINT, RUST_TESTS]).rust_package("xtask"));
    let all_rebuilds: &[Rebuild] = &[Bindings, ReadmeTests, Server];
    #[rustfmt::skip]
    let cases: Vec<(String, Area, &[Rebuild], Scope, CiWork)> = vec![
        (b("README.md"), Area::BindingsReadme, &[ReadmeTests], Scope::Suite, readme),
        (b("tests/test_errors.py"), Area::TestFile, &[], Scope::Suite, python),
        (b("tests/sub/test_deep.py"), Area::TestFile, &[], Scope::Suite, python),
        (b("tests/conftest.py"), Area::Python, &[], Scope::Suite, python),
        (b("tests/data/sample.bin"), Area::Python, &[], Scope::Suite, python),
        (b("python/simd_r_drive_ws_client/__init__.py"), Area::Python, &[], Scope::Suite, python),
        (b("python/simd_r_drive_ws_client/_native.pyi"), Area::Python, &[], Scope::Suite, python),
        (b(".test_durations"), Area::Python, &[], Scope::Suite, python),
        (b("src/lib.rs"), Area::BindingsRust, &[Bindings], Scope::Suite, bindings),
        (b("Cargo.toml"), Area::BindingsRust, &[Bindings], Scope::Suite, bindings),
        (b(".cargo/config.toml"), Area::BindingsRust, &[Bindings], Scope::Suite, bindings),
        (b("Cargo.lock"), Area::Everything, all_rebuilds, Scope::Suite, CiWork::Everything),
        (b("uv.lock"), Area::Everything, all_rebuilds, Scope::Suite, CiWork::Everything),
        (b("pyproject.toml"), Area::Everything, all_rebuilds, Scope::Suite, CiWork::Everything),
        ("experiments/bindings/ws-transport/src/lib.rs".into(), Area::Transport, &[Bindings], Scope::Suite, transport),
        ("experiments/simd-r-drive-ws-server/src/main.rs".into(), Area::Server, &[Server], Scope::NeedingAServer, server),
        ("experiments/simd-r-drive-ws-server/tests/crash.rs".into(), Area::Server, &[Server], Scope::NeedingAServer, server),
        ("xtask/tests/watch.rs".into(), Area::XtaskTests, &[], Scope::Nothing, xtask),
        ("xtask/src/tasks/watch.rs".into(), Area::XtaskTests, &[], Scope::Nothing, xtask),
        ("xtask/src/tasks/watch/watcher.rs".into(), Area::XtaskTests, &[], Scope::Nothing, xtask),
        ("xtask/src/tasks/bench.rs".into(), Area::XtaskTests, &[], Scope::Nothing, xtask),
        ("xtask/src/tasks/bench/report.rs".into(), Area::XtaskTests, &[], Scope::Nothing, xtask),
        ("xtask/src/tasks/lint.rs".into(), Area::XtaskTests, &[], Scope::Nothing, xtask),
        ("xtask/src/adapters/findings.rs".into(), Area::XtaskTests, &[], Scope::Nothing, xtask),
        ("xtask/src/tasks/junit_merge.rs".into(), Area::XtaskTests, &[], Scope::Nothing, xtask),
        ("xtask/src/adapters/junit.rs".into(), Area::Runner, &[], Scope::Nothing, CiWork::Everything),
        ("xtask/src/engine/routing.rs".into(), Area::Runner, &[], Scope::Nothing, CiWork::Everything),
        ("xtask/src/tasks/ci.rs".into(), Area::Runner, &[], Scope::Nothing, CiWork::Everything),
        ("xtask/src/readme/runtime.py".into(), Area::Runner, &[], Scope::Nothing, CiWork::Everything),
        ("xtask/Cargo.toml".into(), Area::Runner, &[], Scope::Nothing, CiWork::Everything),
        ("README.md".into(), Area::XtaskTests, &[], Scope::Nothing, xtask),
        (".github/workflows/ci.yml".into(), Area::Workflow, &[], Scope::Nothing, workflow),
        (".github/dependabot.yml".into(), Area::Workflow, &[], Scope::Nothing, workflow),
        ("Cargo.toml".into(), Area::Everything, all_rebuilds, Scope::Suite, CiWork::Everything),
        ("Cargo.lock".into(), Area::Everything, all_rebuilds, Scope::Suite, CiWork::Everything),
        (".cargo/config.toml".into(), Area::Everything, all_rebuilds, Scope::Suite, CiWork::Everything),
        (".config/nextest.toml".into(), Area::Everything, all_rebuilds, Scope::Suite, CiWork::Everything),
        ("rust-toolchain.toml".into(), Area::Everything, all_rebuilds, Scope::Suite, CiWork::Everything),
        (".ci/run".into(), Area::Everything, all_rebuilds, Scope::Suite, CiWork::Everything),
    ];
    let mut used = vec![false; ROUTES.len()];
    for (path, area, rebuild, scope, ci) in cases {
        let row = ROUTES.iter().position(|r| matches(r.files, &path));
        assert_eq!(row.map(|row| ROUTES[row].area), Some(area), "{path}");
        used[row.unwrap()] = true;
        assert_eq!(area.watch(), (rebuild, scope), "{path}");
        assert_eq!(area.ci(), ci, "{path}");
        let got = plan(&[&path]);
        assert_eq!(got.rebuild, rebuild.iter().copied().collect(), "{path}");
        assert_eq!(got.scope, scope, "{path}");
        assert_eq!(got.changed.is_empty(), got.is_empty(), "{path}");
    }
    let untested: Vec<&str> = ROUTES
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(route, _)| route.files)
        .collect();
    assert!(untested.is_empty(), "routes without a case: {untested:?}");
}

/// A file that no route knows: `watch` leaves it alone, `ci` runs everything.
#[test]
fn an_unknown_file_runs_everything_in_ci_and_nothing_in_watch() {
    for path in [
        "notes/todo.md",
        ".gitignore",
        "experiments/other/main.rs",
        &b("notes.txt"),
        // A tool's temp file, not a source.
        &b("tests/sedjHbdG6"),
    ] {
        assert_eq!(area_of(Utf8Path::new(path)), None, "{path}");
        assert!(plan(&[path]).is_empty(), "{path}");
    }
}

#[test]
fn a_changed_test_file_is_named_from_the_bindings_folder() {
    let got = plan(&[&b("tests/test_a.py"), &b("tests/conftest.py")]);
    let files: Vec<&str> = got.test_files.iter().map(|f| f.as_str()).collect();
    assert_eq!(files, ["tests/test_a.py"]);
    assert_eq!(test_file(Utf8Path::new("xtask/tests/test_x.py")), None);
}

/// The names of the tasks `ci` never runs are still files: a file moved or renamed would
/// otherwise fall to `Runner` in silence (which runs more, never less, but all of it).
#[test]
fn each_named_xtask_file_exists() {
    let root = paths::project_root();
    let mut files = Vec::new();
    let mut folders = vec![root.join("xtask/src")];
    while let Some(folder) = folders.pop() {
        for entry in folder.read_dir_utf8().unwrap() {
            let path = entry.unwrap().into_path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path.strip_prefix(&root).unwrap().to_string());
            }
        }
    }
    for route in ROUTES.iter().filter(|r| r.files.starts_with("xtask/src/")) {
        assert!(
            files.iter().any(|file| matches(route.files, file)),
            "no file matches the route `{}`: update routing::ROUTES",
            route.files
        );
    }
}

/// The README route runs one xtask test by its name: a rename would leave it running none.
#[test]
fn the_test_that_reads_the_bindings_readme_exists() {
    let (target, test) = README_CHECK;
    let path = paths::project_root().join(format!("xtask/tests/{target}.rs"));
    let source = std::fs::read_to_string(&path).unwrap();
    assert!(
        source.contains(&format!("fn {test}()")) && source.contains(paths::BINDINGS),
        "{path} has no test `{test}` that reads the bindings' README: update README_CHECK"
    );
}

#[test]
fn patterns_match_names_and_folders() {
    let cases = [
        ("a/**/test_*.py", "a/test_x.py", true),
        ("a/**/test_*.py", "a/b/c/test_x.py", true),
        ("a/**/test_*.py", "a/b/x_test.py", false),
        ("a/**/*.*", "a/b/sedjHbdG6", false),
        ("a/**", "ab/c", false),
        ("a/**", "a/b", true),
        ("rust-toolchain*", "rust-toolchain", true),
        ("rust-toolchain*", "rust-toolchain.toml", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "ac", false),
        ("a*bb*c", "abbbc", true),
        ("README.md", "xREADME.md", false),
    ];
    for (pattern, path, expected) in cases {
        assert_eq!(matches(pattern, path), expected, "{pattern} {path}");
    }
}

#[test]
fn several_components_do_each_step_once_in_order() {
    let got = plan(&[
        "experiments/simd-r-drive-ws-server/src/main.rs",
        &b("README.md"),
        &b("src/lib.rs"),
        "experiments/bindings/ws-transport/src/lib.rs",
        &b("tests/test_a.py"),
        &b("tests/test_b.py"),
        "xtask/src/main.rs",
    ]);
    let order: Vec<Rebuild> = got.rebuild.iter().copied().collect();
    assert_eq!(
        order,
        [Rebuild::Bindings, Rebuild::ReadmeTests, Rebuild::Server]
    );
    assert_eq!(got.scope, Scope::Suite, "the widest scope wins");
    assert_eq!(got.test_files.len(), 2);
    assert_eq!(got.changed.len(), 6, "xtask's own file is not named");
}

#[test]
fn only_a_server_change_narrows_the_tests() {
    let mut got = plan(&["experiments/simd-r-drive-ws-server/src/store.rs"]);
    assert_eq!(got.scope, Scope::NeedingAServer);
    got.merge(plan(&[&b("tests/conftest.py")]));
    assert_eq!(got.scope, Scope::Suite);
}

#[test]
fn what_changed_is_short() {
    assert_eq!(
        plan(&[&b("tests/test_a.py")]).what_changed(),
        "tests/test_a.py"
    );
    assert_eq!(
        plan(&[&b("src/lib.rs"), "Cargo.lock"]).what_changed(),
        "Cargo.lock and src/lib.rs"
    );
    assert_eq!(
        plan(&[&b("src/a.rs"), &b("src/b.rs"), &b("src/c.rs")]).what_changed(),
        "src/a.rs and 2 more"
    );
    assert!(plan(&["xtask/src/main.rs"]).is_empty());
}
