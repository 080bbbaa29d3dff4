//! Two worktrees that share one target dir (`CARGO_TARGET_DIR`) run `cargo xtask ci` at
//! once (issue 24). Each is a small fake worktree, with fake uv and linters that say where
//! they ran, but the real xtask binary runs its real `ci` graph on each (`--only
//! workflow-lint`: the venv's dependencies, then the lint and its stamp), pointed at its
//! worktree as `cargo run` there would point it (`CARGO_MANIFEST_DIR`). Both runs must pass
//! though they overlap and their executables are deleted under them, and each worktree's logs
//! must hold only its own run's output.

mod common;

use common::DiesWithTheTest;

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

const BINDINGS: &str = "experiments/bindings/python-ws-client";
/// The worktrees' folder names: neither is a prefix of the other, nor of anything else in
/// the scratch folder, so that a log that names the other worktree is caught.
const NAMES: [&str; 2] = ["worktree-a", "worktree-b"];

#[test]
fn two_worktrees_sharing_a_target_dir_run_ci_at_once_and_keep_their_own_state() {
    let scratch = common::scratch_dir("worktrees");
    let tools = fake_tools(&scratch);
    let shared_target = scratch.join("shared-target");
    let runs: Vec<Run> = NAMES
        .iter()
        .map(|name| {
            Run::start(
                &scratch,
                &fake_worktree(&scratch, name),
                &tools,
                &shared_target,
            )
        })
        .collect();

    // Both runs in their venv step at once: had they one venv lock for the two, the second
    // would wait there for the first, which waits in fake uv for the second.
    let both_in_uv = common::wait_until(Duration::from_secs(60), || {
        runs.iter()
            .all(|run| run.root.join(BINDINGS).join(".venv/uv-started").exists())
    });
    assert!(
        both_in_uv,
        "the two runs never were in their venv step at once:\n{}",
        outputs(&runs)
    );
    // What another worktree's `cargo xtask` does to `debug/xtask` in a shared target dir.
    for run in &runs {
        std::fs::remove_file(&run.exe).unwrap();
    }
    std::fs::write(scratch.join("go"), "").unwrap();

    for run in &runs {
        let status = run.wait(Duration::from_secs(120));
        assert!(
            status.is_some_and(|status| status.success()),
            "the run in {} failed ({status:?}):\n{}",
            run.root.display(),
            outputs(&runs)
        );
    }
    for (run, other) in [(&runs[0], NAMES[1]), (&runs[1], NAMES[0])] {
        check_own_state(run, other);
    }
    assert!(
        !shared_target.join("xtask").exists(),
        "a run wrote its state into the shared target dir"
    );
}

/// The run's logs and stamp are in its worktree's `target/xtask/`, its tools ran there, and
/// nothing in them names the `other` worktree.
fn check_own_state(run: &Run, other: &str) {
    let state = run.root.join("target/xtask");
    let logs = read_logs(&state.join("logs/ci"));
    let root = run.root.display();
    for expected in [
        format!("fake uv sync --group dev --no-install-project --locked in {root}/{BINDINGS}"),
        format!(
            "fake check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml in {root}"
        ),
        format!("fake zizmor --offline --strict-collection .github/ in {root}"),
    ] {
        assert!(
            logs.contains(&expected),
            "no `{expected}` in the logs of {root}:\n{logs}"
        );
    }
    assert!(
        !logs.contains(other),
        "the logs of {root} show the run of {other}:\n{logs}"
    );
    let stamp = state.join("workflow-lint.stamp");
    assert!(
        stamp.is_file(),
        "no {}: the lint did not pass",
        stamp.display()
    );
}

/// Every step log of a `ci` run, one after the other.
fn read_logs(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| std::fs::read_to_string(file).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A folder with fake `uv` on PATH (the linters are the venv's, in each worktree).
fn fake_tools(scratch: &Path) -> PathBuf {
    let tools = scratch.join("bin");
    std::fs::create_dir_all(&tools).unwrap();
    std::fs::copy(fixture("uv.sh"), tools.join("uv")).unwrap();
    tools
}

/// A worktree with what `ci --only workflow-lint` reads: the workspace manifest, the
/// bindings' manifests and lock, a venv whose linters are fakes, and a `.github/`.
fn fake_worktree(scratch: &Path, name: &str) -> PathBuf {
    let root = scratch.join(name);
    let bindings = root.join(BINDINGS);
    for dir in [
        root.join("xtask"),
        root.join(".github/workflows"),
        bindings.join(".venv/bin"),
    ] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let files = [
        (root.join("Cargo.toml"), "[workspace]\n"),
        (root.join(".github/workflows/ci.yml"), "on: push\n"),
        (root.join(".github/dependabot.yml"), "version: 2\n"),
        (bindings.join("Cargo.toml"), "[package]\n"),
        (bindings.join("pyproject.toml"), "[project]\n"),
        (bindings.join("uv.lock"), "version = 1\n"),
        (bindings.join(".venv/pyvenv.cfg"), "home = /usr/bin\n"),
    ];
    for (path, text) in files {
        std::fs::write(path, text).unwrap();
    }
    for tool in ["check-jsonschema", "zizmor"] {
        std::fs::copy(fixture("linter.sh"), bindings.join(".venv/bin").join(tool)).unwrap();
    }
    root
}

fn fixture(name: &str) -> PathBuf {
    common::manifest_dir()
        .join("tests/fixtures/worktree")
        .join(name)
}

/// One `xtask ci` of one worktree, from a copy of the xtask binary that the test deletes
/// while it runs; its process group is killed when dropped (fake uv waits in it).
struct Run {
    root: PathBuf,
    exe: PathBuf,
    output: PathBuf,
    child: std::cell::RefCell<Child>,
}

impl Run {
    fn start(scratch: &Path, root: &Path, tools: &Path, shared_target: &Path) -> Run {
        let name = root.file_name().unwrap().to_str().unwrap();
        let exe = scratch.join(format!("xtask-of-{name}"));
        std::fs::copy(common::xtask_exe(), &exe).unwrap();
        let output = scratch.join(format!("{name}.out"));
        let out = File::create(&output).unwrap();
        let path = std::env::join_paths(std::iter::once(tools.to_owned()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        let child = Command::new(&exe)
            .args(["ci", "--only", "workflow-lint"])
            .current_dir(root)
            .env("CARGO_MANIFEST_DIR", root.join("xtask"))
            .env("CARGO_TARGET_DIR", shared_target)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .dies_with_the_test()
            .spawn()
            .unwrap();
        Run {
            root: root.to_owned(),
            exe,
            output,
            child: std::cell::RefCell::new(child),
        }
    }

    /// The exit status, or `None` if the run did not end within `limit`.
    fn wait(&self, limit: Duration) -> Option<ExitStatus> {
        let mut status = None;
        common::wait_until(limit, || {
            status = self.child.borrow_mut().try_wait().unwrap();
            status.is_some()
        });
        status
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // The whole group, also after xtask ended: a fake uv may still wait for `go`. The
        // group outlives its leader while it has members, so its id is not reused meanwhile.
        let child = self.child.get_mut();
        // SAFETY: kill has no memory-safety preconditions; the group is the run's own.
        unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
    }
}

/// What each run printed, for a failure message.
fn outputs(runs: &[Run]) -> String {
    runs.iter()
        .map(|run| {
            let text = std::fs::read_to_string(&run.output).unwrap_or_default();
            format!("--- {} ---\n{text}", run.root.display())
        })
        .collect::<Vec<_>>()
        .join("\n")
}
