//! `ci --changed`: the files that differ from a base (git), and what they call for in `ci`
//! through the routes of [`crate::engine::routing`]: the steps, each with the change that asked
//! for it, the packages of the Rust tests and the test files of each pytest stage.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::cmd;

use crate::base::context::StepContext;
use crate::base::process::{Job, Sink};
use crate::engine::graph::{self, Node};
use crate::engine::routing::{self, Area, CiWork, step};
use crate::errln;

/// The files that differ from a base, and how the base was found.
#[derive(Debug)]
pub struct Changes {
    /// "the merge base of HEAD and origin/main (1a2b3c4d)", for the header line.
    pub base: String,
    /// Paths from the repository root; a rename's old and new paths both.
    pub files: BTreeSet<Utf8PathBuf>,
}

/// The files that differ between the base and the working tree: committed since the base,
/// staged, unstaged, and untracked but not ignored. The base is the merge base of HEAD and
/// `reference`, what a pull request's diff starts from; without one, the merge base with
/// the upstream branch, or HEAD when there is none. `sh` is at the repository root.
pub fn files(sh: &StepContext, reference: Option<&str>) -> Result<Changes> {
    let (commit, base) = base_commit(sh, reference)?;
    let diff = git_read(sh, cmd!(sh, "git diff --name-status -z -M {commit} --"))
        .context("cannot list the changed files")?;
    let untracked = git_read(sh, cmd!(sh, "git ls-files --others --exclude-standard -z"))
        .context("cannot list the untracked files")?;
    let mut files = name_status_paths(&diff);
    files.extend(
        untracked
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(Into::into),
    );
    Ok(Changes { base, files })
}

/// The commit to compare with, and its description.
fn base_commit(sh: &StepContext, reference: Option<&str>) -> Result<(String, String)> {
    let upstream = || {
        let upstream = "@{upstream}";
        let found = cmd!(
            sh,
            "git rev-parse --abbrev-ref --symbolic-full-name {upstream}"
        );
        let found = Job::new(sh, found);
        found
            .stderr(Sink::Null)
            .read()
            .ok()
            .map(|s| s.trim().to_owned())
    };
    let reference = match reference {
        Some(reference) => reference.to_owned(),
        None => match upstream() {
            Some(upstream) if !upstream.is_empty() => upstream,
            _ => {
                let head = git_read(sh, cmd!(sh, "git rev-parse HEAD"))
                    .context("cannot find HEAD: is this a git checkout with a commit?")?;
                let head = head.trim().to_owned();
                return Ok((
                    head.clone(),
                    format!("HEAD ({}; no upstream branch)", short(&head)),
                ));
            }
        },
    };
    let commit = git_read(sh, cmd!(sh, "git merge-base HEAD {reference}")).with_context(|| {
        format!(
            "no merge base of HEAD and `{reference}`: name a branch or commit that HEAD \
             shares history with (a shallow clone needs more: `git fetch --unshallow`)"
        )
    })?;
    let commit = commit.trim().to_owned();
    let base = format!(
        "the merge base of HEAD and {reference} ({})",
        short(&commit)
    );
    Ok((commit, base))
}

fn git_read(sh: &StepContext, command: xshell::Cmd<'_>) -> Result<String> {
    Job::new(sh, command).read()
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

/// The paths of `git diff --name-status -z`: a status, then one path, or two for a rename
/// or a copy (`R100`, `C75`), each ended by a NUL.
fn name_status_paths(output: &str) -> BTreeSet<Utf8PathBuf> {
    let mut fields = output.split('\0').filter(|f| !f.is_empty());
    let mut paths = BTreeSet::new();
    while let Some(status) = fields.next() {
        let count = if status.starts_with(['R', 'C']) { 2 } else { 1 };
        paths.extend(fields.by_ref().take(count).map(Utf8PathBuf::from));
    }
    paths
}

/// `ci --changed`: the `nodes` that the changed files call for, with what they need, each
/// named on a line with why it runs; and what the files call for, for the steps' bodies.
pub fn select<C>(
    sh: &StepContext,
    nodes: &[Node<C>],
    reference: Option<&str>,
) -> Result<(Vec<bool>, Focus)> {
    let changes = files(sh, reference)?;
    let focus = Focus::of(&changes.files);
    let count = match changes.files.len() {
        1 => "1 changed file".to_owned(),
        n => format!("{n} changed files"),
    };
    errln!("ci --changed: {count} since {}", changes.base);
    let asked = focus.steps(nodes.iter().map(|node| node.name));
    // A Python lane's row (`pytest unit (py3.12)`) is asked for by its step's name.
    let wanted: Vec<String> = nodes
        .iter()
        .map(|node| node.name)
        .filter(|name| asked.iter().any(|a| a == name || a == unlaned(name)))
        .map(str::to_owned)
        .collect();
    // An empty selection would be taken for every node.
    let selected = match wanted.is_empty() {
        true => vec![false; nodes.len()],
        false => graph::select(nodes, &wanted)?,
    };
    for (node, _) in nodes.iter().zip(&selected).filter(|(_, s)| **s) {
        errln!("  {}: {}", node.name, why(nodes, node, &focus, &selected));
    }
    Ok((selected, focus))
}

/// A step's name without its Python lane: `pytest unit (py3.12)` is `pytest unit`.
fn unlaned(name: &str) -> &str {
    name.split(" (").next().unwrap_or(name)
}

/// Why a selected node runs: a change asked for it, or a later node needs it.
fn why<C>(nodes: &[Node<C>], node: &Node<C>, focus: &Focus, selected: &[bool]) -> String {
    if let Some(why) = focus.why(unlaned(node.name)) {
        return why;
    }
    if node.always {
        return format!("cleans up after {}", node.needs.join(", "));
    }
    let user = nodes
        .iter()
        .zip(selected)
        .find(|(user, s)| **s && user.needs.contains(&node.name));
    let user = user.map_or("a later step", |(user, _)| user.name);
    if step::PYTEST.contains(&unlaned(node.name)) {
        format!("{user} comes after it; runs none of its tests, no change affects them")
    } else {
        format!("{user} needs it")
    }
}

/// The nodes not selected, for the line under the summary.
pub fn left_out<C>(nodes: &[Node<C>], selected: &[bool]) -> String {
    let names = nodes.iter().zip(selected).filter(|(_, s)| !**s);
    let names: Vec<&str> = names.map(|(node, _)| node.name).collect();
    match names.is_empty() {
        true => "none".to_owned(),
        false => names.join(", "),
    }
}

/// Which of a step's tests run: all, or only these (packages, test targets, files).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tests {
    All,
    Only(BTreeSet<&'static str>),
}

impl Default for Tests {
    fn default() -> Tests {
        Tests::none()
    }
}

impl Tests {
    fn none() -> Tests {
        Tests::Only(BTreeSet::new())
    }

    /// Adds what a change asks for: one more, or (`None`) all.
    fn narrow(&mut self, only: Option<&'static str>) {
        match (only, &mut *self) {
            (Some(one), Tests::Only(these)) => drop(these.insert(one)),
            (Some(_), Tests::All) => {}
            (None, _) => *self = Tests::All,
        }
    }
}

/// What a set of changes calls for in `ci`.
#[derive(Debug, Default)]
pub struct Focus {
    /// A change that calls for every step (the first), if one does.
    pub everything: Option<Utf8PathBuf>,
    /// Each step asked for, with the changes that asked (in path order).
    pub wanted: BTreeMap<&'static str, Vec<Utf8PathBuf>>,
    /// The packages whose Rust tests run.
    rust: Tests,
    /// The xtask test targets that need the venv to run.
    venv_tests: Tests,
    venv_test_names: Tests,
    /// The test files of each pytest stage asked for.
    pytest: BTreeMap<&'static str, Tests>,
    /// Changed test files, from the bindings' folder: they run first in each stage.
    first: BTreeSet<Utf8PathBuf>,
}

impl Focus {
    /// Everything, as `ci` without `--changed` runs.
    pub fn everything() -> Focus {
        Focus {
            everything: Some(Utf8PathBuf::new()),
            ..Focus::default()
        }
    }

    /// What `files` (from the repository root) call for. A file that no route knows calls
    /// for everything.
    pub fn of(files: &BTreeSet<Utf8PathBuf>) -> Focus {
        let mut focus = Focus::default();
        for path in files {
            let work = routing::area_of(path).map_or(CiWork::Everything, Area::ci);
            focus.add(path, work);
            focus.first.extend(routing::test_file(path));
        }
        focus
    }

    fn add(&mut self, path: &Utf8Path, work: CiWork) {
        let CiWork::Steps(selection) = work else {
            self.everything.get_or_insert_with(|| path.to_owned());
            return;
        };
        for &name in selection.steps {
            self.wanted.entry(name).or_default().push(path.to_owned());
            if name == step::RUST_TESTS {
                self.rust.narrow(selection.rust_package);
            }
            if name == step::XTASK_VENV_TESTS {
                let (target, test) = selection.venv_test.unzip();
                self.venv_tests.narrow(target);
                self.venv_test_names.narrow(test.flatten());
            }
            if step::PYTEST.contains(&name) {
                let stage = self.pytest.entry(name).or_insert_with(Tests::none);
                stage.narrow(selection.pytest_only);
            }
        }
    }

    /// The steps to select, by name; all of them with `everything`.
    pub fn steps<'a>(&self, all: impl Iterator<Item = &'a str>) -> Vec<String> {
        match self.everything {
            Some(_) => all.map(str::to_owned).collect(),
            None => self.wanted.keys().map(|&name| name.to_owned()).collect(),
        }
    }

    /// Why `name` runs, for its line before the run, if a change asked for it.
    pub fn why(&self, name: &str) -> Option<String> {
        if let Some(path) = &self.everything {
            return Some(format!("{path} changed, which every step may use"));
        }
        let paths = self.wanted.get(name)?;
        Some(match paths.as_slice() {
            [one] => format!("{one} changed"),
            [first, rest @ ..] => format!("{first} and {} more changed", rest.len()),
            [] => return None,
        })
    }

    /// cargo's package arguments for the `rust tests` step.
    pub fn rust_selection(&self) -> Vec<String> {
        match (&self.everything, &self.rust) {
            (None, Tests::Only(packages)) if !packages.is_empty() => {
                let packages = packages.iter();
                packages
                    .flat_map(|p| ["-p".to_owned(), (*p).to_owned()])
                    .collect()
            }
            _ => vec!["--workspace".to_owned()],
        }
    }

    /// cargo's arguments for `xtask venv tests`: `all` (`-p xtask --test NAME ...`) without
    /// the test targets that no change asked for, then the names of the tests asked for
    /// (nextest's name filters), if every change named its test.
    pub fn venv_selection(&self, all: &[String]) -> Vec<String> {
        let asked = match (&self.everything, &self.venv_tests) {
            (None, Tests::Only(targets)) if !targets.is_empty() => targets,
            _ => return all.to_vec(),
        };
        let mut args = Vec::new();
        let mut rest = all.iter();
        while let Some(arg) = rest.next() {
            match (arg.as_str(), rest.clone().next()) {
                ("--test", Some(target)) => {
                    rest.next();
                    if asked.contains(target.as_str()) {
                        args.extend([arg.clone(), target.clone()]);
                    }
                }
                _ => args.push(arg.clone()),
            }
        }
        if let Tests::Only(names) = &self.venv_test_names {
            args.extend(names.iter().map(|name| (*name).to_owned()));
        }
        args
    }

    /// The paths for the pytest stage `name`: the stage's files (from the bindings' folder),
    /// or none for the whole stage as pyproject.toml's `testpaths` says. `None`: no change
    /// affects its tests (it runs only because a later stage comes after it).
    pub fn pytest_paths(&self, name: &str) -> Option<Vec<String>> {
        if self.everything.is_some() {
            return Some(Vec::new());
        }
        match self.pytest.get(name)? {
            Tests::All => Some(Vec::new()),
            Tests::Only(files) => Some(files.iter().map(|f| (*f).to_owned()).collect()),
        }
    }

    /// The changed test files that still exist in the bindings' folder `bindings`, one a
    /// line, for conftest.py to run first (`XTASK_FIRST_FILES`): pytest collects the paths
    /// it is given in the folder's order, not in theirs.
    pub fn first_files(&self, bindings: &Utf8Path) -> String {
        let first = self
            .first
            .iter()
            .filter(|file| bindings.join(file).is_file());
        first.map(|file| format!("{file}\n")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::paths;

    /// A real repository: a commit, then a rename, an edit, a staged file, an untracked file
    /// and an ignored one.
    #[test]
    fn the_files_are_those_that_differ_from_the_base_untracked_too() {
        let (_guard, dir) = paths::test_dir();
        let sh = StepContext::terminal(xshell::Shell::new().unwrap());
        let _dir = sh.push_dir(&dir);
        let git = |args: &[&str]| {
            let identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"];
            Job::new(&sh, cmd!(sh, "git {identity...} {args...}"))
                .read()
                .unwrap();
        };
        git(&["init", "-q"]);
        for (file, text) in [
            ("old.rs", "fn a() {}\n"),
            ("kept.md", "x\n"),
            (".gitignore", "*.log\n"),
        ] {
            std::fs::write(dir.join(file), text).unwrap();
        }
        git(&["add", "."]);
        git(&["commit", "-qm", "base"]);
        let changes = files(&sh, None).unwrap();
        assert!(changes.files.is_empty(), "{:?}", changes.files);
        assert!(changes.base.starts_with("HEAD ("), "{}", changes.base);
        git(&["mv", "old.rs", "new.rs"]);
        std::fs::write(dir.join("kept.md"), "y\n").unwrap();
        std::fs::write(dir.join("staged.txt"), "s\n").unwrap();
        git(&["add", "staged.txt"]);
        std::fs::write(dir.join("untracked.py"), "u\n").unwrap();
        std::fs::write(dir.join("noise.log"), "ignored\n").unwrap();
        let changes = files(&sh, Some("HEAD")).unwrap();
        let got: Vec<&str> = changes.files.iter().map(|p| p.as_str()).collect();
        assert_eq!(
            got,
            ["kept.md", "new.rs", "old.rs", "staged.txt", "untracked.py"]
        );
        let error = files(&sh, Some("no-such-branch")).unwrap_err();
        assert!(format!("{error:#}").contains("no merge base of HEAD and `no-such-branch`"));
    }

    #[test]
    fn a_rename_names_both_paths() {
        let output = "M\0README.md\0R087\0experiments/bindings/python-ws-client/tests/test_a.py\0\
                      experiments/simd-r-drive-ws-server/src/a.rs\0A\0new file.txt\0";
        let paths: Vec<String> = name_status_paths(output)
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            paths,
            [
                "README.md",
                "experiments/bindings/python-ws-client/tests/test_a.py",
                "experiments/simd-r-drive-ws-server/src/a.rs",
                "new file.txt",
            ]
        );
        // Both ends of the rename call for their own steps.
        let focus = Focus::of(&name_status_paths(output).into_iter().take(3).collect());
        assert!(focus.everything.is_none());
        for wanted in [step::PYTEST_UNIT, step::RUST_TESTS, step::PYTEST_E2E] {
            assert!(focus.wanted.contains_key(wanted), "{wanted}: {focus:?}");
        }
        assert_eq!(
            focus.rust_selection(),
            ["-p", "simd-r-drive-ws-server", "-p", "xtask"]
        );
    }

    #[test]
    fn each_step_runs_what_its_changes_ask_for_and_all_when_one_asks_for_all() {
        let of = |paths: &[&str]| Focus::of(&paths.iter().map(Utf8PathBuf::from).collect());
        let readme = "experiments/bindings/python-ws-client/README.md";
        let venv = ["-p", "xtask", "--test", "readme_blocks", "--test", "watch"].map(String::from);
        let focus = of(&[readme]);
        let (target, test) = routing::README_CHECK;
        assert_eq!(
            focus.venv_selection(&venv),
            ["-p", "xtask", "--test", target, test]
        );
        assert_eq!(
            focus.pytest_paths(step::PYTEST_E2E).unwrap(),
            [routing::README_TESTS]
        );
        assert_eq!(
            focus.pytest_paths(step::PYTEST_UNIT),
            None,
            "only a need of e2e"
        );
        let focus = of(&[readme, "xtask/tests/watch.rs"]);
        assert_eq!(
            focus.venv_selection(&venv),
            venv,
            "xtask's tests ask for all"
        );
        let focus = of(&[readme, "experiments/simd-r-drive-ws-server/src/main.rs"]);
        assert_eq!(
            focus.pytest_paths(step::PYTEST_E2E).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(focus.rust_selection(), ["-p", "simd-r-drive-ws-server"]);
        // A file no route knows: everything, whole.
        let focus = of(&[readme, "notes/plan.txt"]);
        assert_eq!(
            focus.everything.as_deref(),
            Some(Utf8Path::new("notes/plan.txt"))
        );
        assert_eq!(focus.rust_selection(), ["--workspace"]);
        assert_eq!(focus.venv_selection(&venv), venv);
        assert_eq!(
            focus.pytest_paths(step::PYTEST_UNIT).unwrap(),
            Vec::<String>::new()
        );
        let all = ["a", "b"];
        assert_eq!(focus.steps(all.into_iter()), all);
    }
}
