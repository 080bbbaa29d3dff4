//! Where a changed file goes: one table of routes ([`ROUTES`]), read by `watch` (which
//! rebuilds and which tests follow a save) and by `ci --changed` (which steps a branch's
//! changes call for). A pure function of the paths, so that the table is tested as a table.
//! A file no route knows calls for nothing in `watch` and for everything in `ci`.

use std::collections::BTreeSet;

use camino::{Utf8Path, Utf8PathBuf};

use crate::base::paths;

/// What a group of files can affect. Each has its meaning for `watch` ([`Area::watch`]) and
/// for `ci` ([`Area::ci`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The bindings' README: its examples are the README tests.
    BindingsReadme,
    /// One of the bindings' pytest files.
    TestFile,
    /// What every pytest test may use: the package, its stubs, conftest, helpers, data.
    Python,
    /// The bindings' Rust and its build settings.
    BindingsRust,
    /// The transport the bindings wrap: a workspace crate with Rust tests of its own.
    Transport,
    /// The server's crate.
    Server,
    /// What only xtask's own tests check: xtask's tests, the tasks `ci` never runs, and the
    /// root README (whose `ci` diagram a test compares with the table).
    XtaskTests,
    /// The code `ci` runs: a change there can change any step.
    Runner,
    /// The workflows and dependabot's settings.
    Workflow,
    /// Shared by every build or test: the lock files, the toolchain, cargo's and nextest's
    /// settings, the bindings' pyproject.toml.
    Everything,
}

/// One row: the files, as a pattern from the repository root (`*` within a name, `**` any
/// folders), and what they affect. The first row that matches wins.
pub struct Route {
    pub files: &'static str,
    pub area: Area,
}

const fn row(files: &'static str, area: Area) -> Route {
    Route { files, area }
}

/// Every route, most specific first.
pub const ROUTES: &[Route] = &[
    row(
        "experiments/bindings/python-ws-client/README.md",
        Area::BindingsReadme,
    ),
    row(
        "experiments/bindings/python-ws-client/tests/**/test_*.py",
        Area::TestFile,
    ),
    // A name without an extension is a tool's temp file (sed's `sedXXXXXX`), not a source.
    row(
        "experiments/bindings/python-ws-client/tests/**/*.*",
        Area::Python,
    ),
    row(
        "experiments/bindings/python-ws-client/python/**/*.*",
        Area::Python,
    ),
    row(
        "experiments/bindings/python-ws-client/.test_durations",
        Area::Python,
    ),
    row(
        "experiments/bindings/python-ws-client/src/**",
        Area::BindingsRust,
    ),
    row(
        "experiments/bindings/python-ws-client/Cargo.toml",
        Area::BindingsRust,
    ),
    row(
        "experiments/bindings/python-ws-client/.cargo/**",
        Area::BindingsRust,
    ),
    row(
        "experiments/bindings/python-ws-client/Cargo.lock",
        Area::Everything,
    ),
    row(
        "experiments/bindings/python-ws-client/uv.lock",
        Area::Everything,
    ),
    row(
        "experiments/bindings/python-ws-client/pyproject.toml",
        Area::Everything,
    ),
    row("experiments/bindings/ws-transport/**", Area::Transport),
    row("experiments/simd-r-drive-ws-server/**", Area::Server),
    row("xtask/tests/**", Area::XtaskTests),
    // The tasks that `ci` never runs, and what they alone use; a name here that no file has
    // any more fails a test.
    row("xtask/src/tasks/watch.rs", Area::XtaskTests),
    row("xtask/src/tasks/watch/**", Area::XtaskTests),
    row("xtask/src/tasks/bench.rs", Area::XtaskTests),
    row("xtask/src/tasks/bench/**", Area::XtaskTests),
    row("xtask/src/tasks/lint.rs", Area::XtaskTests),
    row("xtask/src/adapters/findings.rs", Area::XtaskTests),
    row("xtask/src/tasks/junit_merge.rs", Area::XtaskTests),
    row("xtask/**", Area::Runner),
    row("README.md", Area::XtaskTests),
    row(".github/**", Area::Workflow),
    row("Cargo.toml", Area::Everything),
    row("Cargo.lock", Area::Everything),
    row(".cargo/**", Area::Everything),
    row(".config/**", Area::Everything),
    row("rust-toolchain*", Area::Everything),
    row(".ci/**", Area::Everything),
];

/// The area of `path` (from the repository root), or `None` if no route knows it.
pub fn area_of(path: &Utf8Path) -> Option<Area> {
    ROUTES
        .iter()
        .find(|route| matches(route.files, path.as_str()))
        .map(|route| route.area)
}

/// Whether `path` matches `pattern`: `*` stands for any part of one name, `**` for any
/// number of whole folders. Written here because a dozen patterns do not pay for a
/// dependency (`cargo xtask` compiles on every call).
fn matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    matches_names(&pattern, &path)
}

fn matches_names(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.split_first(), path.split_first()) {
        (None, None) => true,
        (Some((&"**", rest)), _) => {
            matches_names(rest, path) || (!path.is_empty() && matches_names(pattern, &path[1..]))
        }
        (Some((first, rest)), Some((name, names))) => {
            matches_name(first, name) && matches_names(rest, names)
        }
        _ => false,
    }
}

/// One name against one pattern name: the parts between the `*`s, in order.
fn matches_name(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == name;
    }
    if name.len() < first.len() + last.len() || !name.starts_with(first) || !name.ends_with(last) {
        return false;
    }
    let mut middle = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match middle.find(part) {
            Some(at) => middle = &middle[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// What must be brought up to date before the tests run, in the order it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rebuild {
    /// The bindings (their Rust, the transport they wrap, their dependencies): as `venv` does.
    Bindings,
    /// The README's tests, extracted again.
    ReadmeTests,
    /// The server: built, then restarted on the same port with a fresh store.
    Server,
}

/// Which tests a change calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// None: the change touches no component (xtask itself, the notes, ...).
    Nothing,
    /// Those that talk to a server: only the server changed.
    NeedingAServer,
    /// The whole chosen suite.
    Suite,
}

/// The `ci` steps named by the routes; `ci`'s tests check that its table has each.
pub mod step {
    pub const EXTRACT: &str = "extract";
    pub const WORKFLOW_LINT: &str = "workflow lint";
    pub const RUST_TESTS: &str = "rust tests";
    pub const DOCTESTS: &str = "doctests";
    pub const BINDINGS: &str = "bindings";
    pub const XTASK_VENV_TESTS: &str = "xtask venv tests";
    pub const PYTEST_UNIT: &str = "pytest unit";
    pub const PYTEST_INTEGRATION: &str = "pytest integration";
    pub const PYTEST_E2E: &str = "pytest e2e";
    pub const PYTEST: [&str; 3] = [PYTEST_UNIT, PYTEST_INTEGRATION, PYTEST_E2E];
}

/// What a change calls for in `ci`: these steps (each with what it needs), or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiWork {
    Everything,
    Steps(Selection),
}

/// Some steps of `ci`, and how far their tests narrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub steps: &'static [&'static str],
    /// The one workspace package whose tests `rust tests` runs; `None`: all of them.
    pub rust_package: Option<&'static str>,
    /// The one test target that `xtask venv tests` runs, and in it the one test if named;
    /// `None`: all of them.
    pub venv_test: Option<(&'static str, Option<&'static str>)>,
    /// The one test file (from the bindings' folder) that the pytest stages among `steps`
    /// run; `None`: the whole stages.
    pub pytest_only: Option<&'static str>,
}

impl Selection {
    pub fn of(steps: &'static [&'static str]) -> Selection {
        Selection {
            steps,
            rust_package: None,
            venv_test: None,
            pytest_only: None,
        }
    }

    pub fn rust_package(self, package: &'static str) -> Selection {
        Selection {
            rust_package: Some(package),
            ..self
        }
    }

    pub fn venv_test(self, target: &'static str, test: Option<&'static str>) -> Selection {
        Selection {
            venv_test: Some((target, test)),
            ..self
        }
    }

    pub fn pytest_only(self, file: &'static str) -> Selection {
        Selection {
            pytest_only: Some(file),
            ..self
        }
    }
}

impl Area {
    /// What `watch` rebuilds, and which tests it runs after.
    pub fn watch(self) -> (&'static [Rebuild], Scope) {
        use Rebuild::*;
        match self {
            Area::BindingsReadme => (&[ReadmeTests], Scope::Suite),
            Area::TestFile | Area::Python => (&[], Scope::Suite),
            Area::BindingsRust | Area::Transport => (&[Bindings], Scope::Suite),
            Area::Server => (&[Server], Scope::NeedingAServer),
            // watch runs the bindings' tests: xtask and the workflow are none of its business.
            Area::XtaskTests | Area::Runner | Area::Workflow => (&[], Scope::Nothing),
            Area::Everything => (&[Bindings, ReadmeTests, Server], Scope::Suite),
        }
    }

    /// The steps of `ci` that the change calls for.
    pub fn ci(self) -> CiWork {
        use step::*;
        const PYTEST_AND_BINDINGS: &[&str] =
            &[BINDINGS, PYTEST_UNIT, PYTEST_INTEGRATION, PYTEST_E2E];
        const TRANSPORT: &[&str] = &[
            RUST_TESTS,
            DOCTESTS,
            BINDINGS,
            PYTEST_UNIT,
            PYTEST_INTEGRATION,
            PYTEST_E2E,
        ];
        const SERVER: &[&str] = &[RUST_TESTS, DOCTESTS, PYTEST_INTEGRATION, PYTEST_E2E];
        let selection = match self {
            // One of xtask's tests checks what the bindings' README shows.
            Area::BindingsReadme => Selection::of(&[EXTRACT, PYTEST_E2E, XTASK_VENV_TESTS])
                .pytest_only(README_TESTS)
                .venv_test(README_CHECK.0, Some(README_CHECK.1)),
            Area::TestFile | Area::Python => Selection::of(&PYTEST),
            Area::BindingsRust => Selection::of(PYTEST_AND_BINDINGS),
            Area::Transport => Selection::of(TRANSPORT).rust_package("simd-r-drive-ws-transport"),
            Area::Server => Selection::of(SERVER).rust_package("simd-r-drive-ws-server"),
            Area::XtaskTests => {
                Selection::of(&[RUST_TESTS, XTASK_VENV_TESTS]).rust_package("xtask")
            }
            // xtask's `lint` tests read the workflow.
            Area::Workflow => Selection::of(&[WORKFLOW_LINT, RUST_TESTS]).rust_package("xtask"),
            Area::Runner | Area::Everything => return CiWork::Everything,
        };
        CiWork::Steps(selection)
    }
}

/// The xtask test (target, name) that reads the bindings' README; a test checks it exists.
pub const README_CHECK: (&str, &str) = ("readme_blocks", "hidden_setup_leaves_no_trace");

/// The tests `extract` writes from the bindings' README, from the bindings' folder.
pub const README_TESTS: &str = "tests/test_readme_blocks.py";

/// What to do after a set of changes: rebuilds, then the changed test files on their own,
/// then the tests of `scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub rebuild: BTreeSet<Rebuild>,
    /// Changed test files, relative to the bindings' folder, as pytest takes them.
    pub test_files: BTreeSet<Utf8PathBuf>,
    pub scope: Scope,
    /// The changed files that called for something, relative to the workspace root.
    pub changed: BTreeSet<Utf8PathBuf>,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            rebuild: BTreeSet::new(),
            test_files: BTreeSet::new(),
            scope: Scope::Nothing,
            changed: BTreeSet::new(),
        }
    }
}

impl Plan {
    /// Nothing to rebuild and nothing to run.
    pub fn is_empty(&self) -> bool {
        self.rebuild.is_empty() && self.scope == Scope::Nothing
    }

    /// Both plans' work, each step once.
    pub fn merge(&mut self, other: Plan) {
        self.rebuild.extend(other.rebuild);
        self.test_files.extend(other.test_files);
        self.scope = self.scope.max(other.scope);
        self.changed.extend(other.changed);
    }

    /// "tests/test_a.py", "src/lib.rs and 3 more": what changed, for the `watch:` line.
    pub fn what_changed(&self) -> String {
        let mut names = self.changed.iter().map(|path| short_name(path));
        match (names.next(), self.changed.len()) {
            (None, _) => "no change".to_owned(),
            (Some(first), 1) => first,
            (Some(first), 2) => format!("{first} and {}", names.next().unwrap_or_default()),
            (Some(first), n) => format!("{first} and {} more", n - 1),
        }
    }
}

/// A path as short as it can be while still telling the components apart: relative to the
/// bindings' folder for the bindings' files.
fn short_name(path: &Utf8Path) -> String {
    match path.strip_prefix(paths::BINDINGS) {
        Ok(inside) => inside.to_string(),
        Err(_) => path.to_string(),
    }
}

/// The changed test file of `path`, from the bindings' folder, as pytest takes it.
pub fn test_file(path: &Utf8Path) -> Option<Utf8PathBuf> {
    let inside = path.strip_prefix(paths::BINDINGS).ok()?;
    (area_of(path) == Some(Area::TestFile)).then(|| inside.to_owned())
}

/// `watch`'s plan for `changed`, paths relative to the workspace root. Paths that no route
/// knows call for nothing.
pub fn route(changed: &BTreeSet<Utf8PathBuf>) -> Plan {
    let mut plan = Plan::default();
    for path in changed {
        let Some(area) = area_of(path) else { continue };
        let (rebuild, scope) = area.watch();
        if rebuild.is_empty() && scope == Scope::Nothing {
            continue;
        }
        plan.merge(Plan {
            rebuild: rebuild.iter().copied().collect(),
            test_files: test_file(path).into_iter().collect(),
            scope,
            changed: [path.to_owned()].into(),
        });
    }
    plan
}

#[cfg(test)]
mod tests;
