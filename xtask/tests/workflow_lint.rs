//! `cargo xtask workflow-lint` on copies of this repository's `.github/`: the copy as it is
//! passes, and each kind of mistake the lint exists for fails it with the linter's own
//! message. The linters are the venv's real check-jsonschema and zizmor, offline.

mod common;

use std::path::Path;

use common::{Scratch, scratch_dir};

/// A scratch folder holding a copy of `.github/`, removed on drop, so that a failing test
/// leaves nothing behind either; it fails without a venv that can run the linters (see
/// `common::python_with`).
fn github_copy(name: &str) -> Scratch {
    // check-jsonschema and zizmor are both in the dev group: a Python that imports one
    // comes from a venv that has the other.
    common::python_with("check_jsonschema");
    let root = scratch_dir(name);
    let source = common::manifest_dir().join("../.github");
    copy_dir(&source, &root.join(".github"));
    root
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Replaces the first `old` in `root/file` with `new`; `old` must be there.
fn edit(root: &Path, file: &str, old: &str, new: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(old), "{file} no longer contains {old:?}");
    std::fs::write(&path, text.replacen(old, new, 1)).unwrap();
}

/// Runs the lint on `root`; `(success, stdout and stderr together)`.
fn lint(root: &Path) -> (bool, String) {
    let output = common::xtask()
        .arg("workflow-lint")
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

const CI: &str = ".github/workflows/ci.yml";

#[test]
fn the_workflows_as_committed_pass() {
    let root = github_copy("lint-clean");
    let (passed, output) = lint(&root);
    assert!(passed, "{output}");
    assert!(output.contains("No findings to report"), "{output}");
}

#[test]
fn an_action_on_a_tag_fails() {
    let root = github_copy("lint-unpinned");
    let workflow = std::fs::read_to_string(root.join(CI)).unwrap();
    let pinned = workflow
        .lines()
        .find_map(|line| line.trim().strip_prefix("- uses: actions/checkout@"))
        .expect("ci.yml checks out the repository");
    edit(&root, CI, pinned, "v4");
    let (passed, output) = lint(&root);
    assert!(!passed, "{output}");
    assert!(output.contains("error[unpinned-uses]"), "{output}");
    assert!(output.contains("uses: actions/checkout@v4"), "{output}");
    assert!(
        output.contains("zizmor found a security problem in .github/"),
        "{output}"
    );
}

#[test]
fn a_write_all_token_fails() {
    let root = github_copy("lint-write-all");
    edit(
        &root,
        CI,
        "permissions:\n  contents: read\n",
        "permissions: write-all\n",
    );
    let (passed, output) = lint(&root);
    assert!(!passed, "{output}");
    assert!(output.contains("[excessive-permissions]"), "{output}");
    assert!(output.contains("write-all"), "{output}");
}

#[test]
fn a_dependabot_file_off_its_schema_fails() {
    let root = github_copy("lint-dependabot");
    let dependabot = ".github/dependabot.yml";
    edit(
        &root,
        dependabot,
        "interval: weekly",
        "interval: fortnightly",
    );
    let (passed, output) = lint(&root);
    assert!(!passed, "{output}");
    assert!(output.contains("'fortnightly' is not one of"), "{output}");
    assert!(
        output.contains(".github/dependabot.yml does not match Dependabot's schema"),
        "{output}"
    );
}
