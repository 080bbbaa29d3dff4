//! `cargo xtask ci`: every check, as one graph ([`NODES`]): each step starts as soon as what
//! it needs has passed, independent steps run side by side, and the first failure stops
//! the run (see [`crate::engine::graph`]). It shows a line per step and a summary (see
//! [`crate::engine::steps`]), writes a JUnit report per pytest stage and one for the steps, and ends
//! with `ci: N passed, N failed, N skipped`: every test of every stage, Rust and Python.
//! The exit status is the first failing step's. With `--python` or `--wheel`, the pytest
//! stages run once per Python lane (see [`lanes`]).

mod archive;
mod builds;
mod changed;
mod coverage;
mod lanes;
mod pytest_stage;
mod report;
mod rust_tests;

use anyhow::Result;
use camino::Utf8PathBuf;

use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::Failed;
use crate::checks::workflow_lint;
use crate::engine::graph::{self, FailFast, Node};
use crate::engine::output::Output;
use crate::engine::steps::{Mode, Runner, Step};
use crate::flags::{self, Suite};
use crate::outln;
use crate::python::interpreters;
use crate::python::venv;
use crate::readme::extract;
use crate::server::test_server::{self, Server};
use archive::Archive;
use builds::Built;
use changed::Focus;
use coverage::Profiles;
use report::RunEnd;

/// The steps of `ci`: each row a name, the steps it needs (earlier in the table), and its
/// body. A step starts once all it needs has passed; `always` steps (cleanup) start once
/// what they need has ended, however it ended. The summary and the JUnit report follow
/// this order; `cargo xtask ci --list` prints it, and the README's diagram is drawn from it.
const NODES: &[Node<Ci>] = &[
    Node::new("extract", &[], |_, sh, _| extract::ensure(sh)),
    Node::new("venv deps", &[], venv_deps),
    Node::new("rust build", &[], |ci: &Ci, sh, step| {
        builds::rust_build(ci, sh, step, &ci.built)
    }),
    Node::new("workflow lint", &["venv deps"], workflow_lint),
    Node::new(
        "rust tests",
        &["rust build", "venv deps"],
        |ci, sh, step| rust_tests(ci, sh, step, ci.built.made()?, RustTests::Workspace),
    ),
    Node::new("doctests", &["rust build"], doctests),
    // After `rust build` when both run (see `builds_in_turn`).
    Node::new("bindings", &["venv deps"], builds::bindings),
    Node::new(
        "xtask venv tests",
        &["rust build", "bindings"],
        |ci, sh, step| rust_tests(ci, sh, step, ci.built.made()?, RustTests::Venv),
    ),
    Node::new("pytest unit", &["extract", "bindings"], |ci, sh, step| {
        pytest_stage::run(ci, sh, step, Suite::Unit, None)
    }),
    Node::new("server up", &["rust build"], |ci: &Ci, sh, step| {
        server_up(ci, sh, ci.server_of(step))
    }),
    // The stages come one after the other so that a failure shows sooner; with
    // `--no-fail-fast`, a stage runs after a failed one too.
    Node::new(
        "pytest integration",
        &["extract", "bindings", "server up"],
        |ci: &Ci, sh, step| {
            let server = ci.server_of(step).made()?;
            pytest_stage::run(ci, sh, step, Suite::Integration, Some(server))
        },
    )
    .after(&["pytest unit"]),
    Node::new(
        "pytest e2e",
        &["extract", "bindings", "server up"],
        |ci: &Ci, sh, step| {
            let server = ci.server_of(step).made()?;
            pytest_stage::run(ci, sh, step, Suite::E2e, Some(server))
        },
    )
    .after(&["pytest integration"]),
    Node::always(
        "server down",
        &["server up", "pytest e2e"],
        |ci, _, step| server_down(ci, step, ci.server_of(step).get()),
    ),
    Node::new(
        archive::STEP,
        &["rust build", "bindings"],
        |ci, sh, step| {
            let venv_tests = ci.built.made()?.venv_tests.clone();
            step.note(&ci.archive.write(sh, venv_tests)?);
            Ok(())
        },
    ),
    Node::new(
        "coverage",
        &[
            "rust tests",
            "xtask venv tests",
            "doctests",
            "pytest e2e",
            "server down",
        ],
        |ci: &Ci, sh, step| coverage_report(ci, sh, step, &ci.built, &ci.coverage_table),
    ),
];

/// The rows that run once per Python lane with `--python` or `--wheel`, each lane with a
/// server of its own; their need of `bindings` becomes one of the lane's venv.
const PER_LANE: &[&str] = &[
    "pytest unit",
    "server up",
    "pytest integration",
    "pytest e2e",
    "server down",
];

/// The table with `bindings` after `rust build` when both run (both build into one target
/// dir, the bindings reuse what it compiled, and `pytest unit` then never overlaps a Rust
/// build). Not in the table itself: what a node comes `after` is selected with it, and
/// `--only pytest-unit` builds no Rust test.
fn builds_in_turn(nodes: &'static [Node<Ci>], selected: &[bool]) -> &'static [Node<Ci>] {
    let runs = |name: &str| {
        let mut chosen = nodes.iter().zip(selected);
        chosen.any(|(node, chosen)| *chosen && node.name == name)
    };
    if !(runs("rust build") && runs("bindings")) {
        return nodes;
    }
    let table: Vec<Node<Ci>> = nodes
        .iter()
        .map(|node| match node.name {
            "bindings" => Node {
                after: Box::leak([node.after, &["rust build"]].concat().into_boxed_slice()),
                ..*node
            },
            _ => Node { ..*node },
        })
        .collect();
    Box::leak(table.into_boxed_slice())
}

/// What the steps share: the flags, and what one step makes for the next ([`Output`]s,
/// each handed, in the table's rows, to the step that makes it and to those that use it).
struct Ci {
    flags: flags::Ci,
    xtask_dir: Utf8PathBuf,
    junit_dir: Utf8PathBuf,
    github: bool,
    /// `rust build`'s test list, for the Rust tests and the coverage report.
    built: Output<Built>,
    /// `server up`'s server, for the stages that talk to it and `server down`.
    server: Output<Server>,
    /// What the changes call for (`--changed`); everything otherwise.
    focus: Focus,
    /// The Python lanes: none for a plain run, which tests in the bindings' venv.
    lanes: Vec<lanes::Lane>,
    /// How many pytest stages may run at once.
    slots: lanes::Slots,
    /// The release wheel and sdist (`--wheel`).
    wheel: Output<Utf8PathBuf>,
    sdist: Output<Utf8PathBuf>,
    /// With `--coverage`: where the instrumented run's profiles go.
    coverage: Option<Profiles>,
    /// With `--coverage`: the table, printed after the summary.
    coverage_table: Output<String>,
    /// `--archive` or `--from`: what the steps make into an archive or take from one.
    archive: Archive,
}

impl Ci {
    /// The run's shared state, before any step: with `--coverage`, the instrumented build's
    /// profiles; the JUnit folder emptied, since a stage that does not run this time
    /// (`--only`, a shard) must leave no old report for `junit-merge` to count.
    fn new(
        sh: &StepContext,
        flags: &flags::Ci,
        mode: Mode,
        lanes: Vec<lanes::Lane>,
        focus: Focus,
        archive: Archive,
    ) -> Result<Ci> {
        let coverage = flags
            .coverage
            .then(|| coverage::instrumented_run(sh, flags.python.as_deref()))
            .transpose()?;
        let xtask_dir = paths::xtask_dir()?;
        let junit_dir = xtask_dir.join("junit");
        paths::empty_of(&junit_dir, "xml")?;
        Ok(Ci {
            flags: flags.clone(),
            xtask_dir,
            junit_dir,
            github: mode == Mode::GitHub,
            built: Output::new("test list", "rust build"),
            server: Output::new("server", "server up"),
            focus,
            lanes,
            slots: lanes::Slots::for_cores(),
            wheel: Output::new("wheel", "wheel"),
            sdist: Output::new("sdist", "wheel"),
            coverage,
            coverage_table: Output::new("coverage table", "coverage"),
            archive,
        })
    }

    /// What the Rust tests' steps need of the run.
    fn rust_run(&self) -> rust_tests::Run {
        rust_tests::Run {
            xtask_dir: self.xtask_dir.clone(),
            junit_dir: self.junit_dir.clone(),
            shard: self.flags.shard,
            retries: self.flags.retries,
            fail_fast: !self.flags.no_fail_fast,
            env: self.archive.tests_env(),
        }
    }

    /// The `--python` of the bindings' venv: none with lanes, which have venvs of their own.
    fn bindings_python(&self) -> Option<&str> {
        if self.lanes.is_empty() {
            self.flags.python.as_deref()
        } else {
            None
        }
    }

    /// Where the server of a step's lane is kept: the lane's own, or the run's.
    fn server_of(&self, step: &Step) -> &Output<Server> {
        match self.lane(step) {
            Some(lane) => &lane.server,
            None => &self.server,
        }
    }

    /// The lane of a step that runs once per lane.
    fn lane(&self, step: &Step) -> Option<&lanes::Lane> {
        self.lanes.get(step.lane?)
    }
}

/// Which Rust tests a nextest step runs, each with a profile of its own in
/// `.config/nextest.toml`, so that two runs side by side write two JUnit reports.
#[derive(Debug, Clone, Copy)]
enum RustTests {
    /// `--workspace`: what `cargo test --workspace` runs.
    Workspace,
    /// The xtask tests that need the venv, named one by one (`test = false` targets).
    Venv,
}

/// Runs the selected steps of the table (with `--list`, only names them), then tells how
/// they ended.
pub fn run(sh: &StepContext, flags: &flags::Ci) -> Result<()> {
    let lanes = python_lanes(sh, flags)?;
    let nodes = if lanes.is_empty() {
        NODES
    } else {
        lanes::table(&lanes, flags.wheel)
    };
    if flags.list {
        return list(nodes, flags);
    }
    let (selected, focus) = match &flags.changed {
        Some(reference) => changed::select(sh, nodes, reference.as_deref())?,
        None => (graph::select(nodes, &flags.only)?, Focus::everything()),
    };
    let archive = Archive::new(sh, flags)?;
    let selected = archive.select(nodes, selected, &flags.only)?;
    let nodes = builds_in_turn(nodes, &selected);
    let mode = Mode::detect(flags.verbose);
    let ci = Ci::new(sh, flags, mode, lanes, focus, archive)?;
    let mut runner = Runner::new(mode, ci.xtask_dir.join("logs/ci"), nodes.len())?
        .with_names(nodes.iter().map(|node| node.name));
    let fail_fast = if flags.no_fail_fast {
        FailFast::No
    } else {
        FailFast::Yes
    };
    let result = graph::run(nodes, &selected, fail_fast, &ci, sh, &mut runner);
    let end = RunEnd {
        xtask_dir: ci.xtask_dir.clone(),
        junit_dir: ci.junit_dir.clone(),
        left_out: changed::left_out(nodes, &selected),
        coverage_table: ci.coverage_table.get().cloned(),
    };
    drop(ci);
    report::tell(sh, flags, &runner, end, result)
}

/// The Python lanes that `--python` or `--wheel` ask for (none for a plain run), checked
/// first against the flags that measure one Python in the bindings' venv, so that a
/// combination that cannot be met fails before any work.
fn python_lanes(sh: &StepContext, flags: &flags::Ci) -> Result<Vec<lanes::Lane>> {
    let lanes = lanes::lanes(match (&flags.python, flags.wheel) {
        (Some(python), _) => interpreters::resolve(sh, python)?,
        (None, true) => vec![interpreters::default_python(sh)?],
        (None, false) => Vec::new(),
    });
    anyhow::ensure!(
        !(flags.cov && lanes.len() > 1),
        "--cov measures one Python: name one with --python"
    );
    anyhow::ensure!(
        !(flags.coverage && (!lanes.is_empty() || flags.changed.is_some())),
        "--coverage runs every step in the bindings' venv: leave out --python, --wheel and --changed"
    );
    Ok(lanes)
}

/// `--list`: the table, in the order it can run; with `--only`, a dry run of what would.
fn list(nodes: &'static [Node<Ci>], flags: &flags::Ci) -> Result<()> {
    let selected = graph::select(nodes, &flags.only)?;
    let nodes = builds_in_turn(nodes, &selected);
    outln!("{}", graph::list_selected(nodes, &selected));
    Ok(())
}

/// The README's diagram of the steps, drawn from the table.
#[cfg(test)]
fn mermaid() -> String {
    let id = |name: &str| name.replace(' ', "_");
    let mut lines = vec!["flowchart LR".to_owned()];
    // A full run's table: `bindings` after `rust build` too.
    for node in builds_in_turn(NODES, &[true; NODES.len()]) {
        lines.push(format!("    {}[\"{}\"]", id(node.name), node.name));
        for need in node.needs.iter().chain(node.after) {
            let arrow = if node.always { "-.->" } else { "-->" };
            lines.push(format!("    {} {arrow} {}", id(need), id(node.name)));
        }
    }
    lines.join("\n")
}

/// The venv and its locked dependencies, without the bindings: they need no Rust, so the
/// download overlaps the compile.
fn venv_deps(ci: &Ci, sh: &StepContext, step: &mut Step) -> Result<()> {
    let python = ci.bindings_python();
    if venv::is_current(python, venv::Profile::Dev)? {
        step.note("up to date");
        return Ok(());
    }
    venv::dependencies_only(sh, python)
}

fn workflow_lint(_: &Ci, sh: &StepContext, step: &mut Step) -> Result<()> {
    if !workflow_lint::run_unless_unchanged(sh)? {
        step.note("unchanged since it last passed");
    }
    Ok(())
}

/// The Rust tests of the workspace or the venv's xtask tests, through nextest.
fn rust_tests(
    ci: &Ci,
    sh: &StepContext,
    step: &mut Step,
    built: &Built,
    which: RustTests,
) -> Result<()> {
    let (profile, mut selection) = match which {
        RustTests::Workspace => ("ci", ci.focus.rust_selection()),
        RustTests::Venv if ci.coverage.is_some() => {
            step.note(coverage::XTASK_TESTS_LEFT_OUT);
            return Ok(());
        }
        RustTests::Venv => ("ci-venv", ci.focus.venv_selection(&built.venv_tests)),
    };
    if ci.coverage.is_some() {
        selection.extend(["-E".to_owned(), coverage::RUST_TESTS_FILTER.to_owned()]);
    }
    let venv_tests = matches!(which, RustTests::Venv);
    let selection = ci.archive.nextest_selection(sh, venv_tests, selection)?;
    rust_tests::test_binaries(sh, step, &ci.rust_run(), profile, selection)
}

/// The doctests, whole in shard 1 (see [`rust_tests::doctests`]).
fn doctests(ci: &Ci, sh: &StepContext, step: &mut Step) -> Result<()> {
    if ci.flags.shard.is_some_and(|shard| shard.index != 1) {
        step.note("in shard 1");
        return Ok(());
    }
    if !ci.archive.runs_doctests() {
        step.note("where the archive was made");
        return Ok(());
    }
    rust_tests::doctests(sh, step, &ci.rust_run())
}

/// The run's server, or the lane's own.
fn server_up(ci: &Ci, sh: &StepContext, up: &Output<Server>) -> Result<()> {
    if let Some(profiles) = &ci.coverage {
        // The step's own shell: the server inherits it.
        sh.set_var("LLVM_PROFILE_FILE", profiles.server_pattern());
    }
    let binary = match ci.archive.server()? {
        Some(binary) => binary,
        None => test_server::binary_built_by_tests(sh)?,
    };
    let server = test_server::start_for_tests(sh, binary, 0, ci.flags.ready_timeout)?;
    up.set(server);
    Ok(())
}

/// Cleanup after a failure too, so that the summary says how the server ended.
fn server_down(ci: &Ci, step: &mut Step, server: Option<&Server>) -> Result<()> {
    match server {
        Some(server) => {
            let pid = server.pid();
            server.stop_cleanly()?;
            match (&ci.coverage, pid) {
                (Some(profiles), Some(pid)) => coverage::check_server_profile(profiles, pid),
                _ => Ok(()),
            }
        }
        None => {
            step.note("no server to stop");
            Ok(())
        }
    }
}

/// With `--coverage`, once every test has run: the report of both sides, its table kept
/// for the end of the run; a run below a threshold fails here.
fn coverage_report(
    ci: &Ci,
    sh: &StepContext,
    step: &mut Step,
    built: &Output<Built>,
    table: &Output<String>,
) -> Result<()> {
    let Some(profiles) = &ci.coverage else {
        step.note("with --coverage");
        return Ok(());
    };
    let objects = coverage::objects(&built.made()?.test_executables)?;
    let python_data = ci.xtask_dir.join(".coverage");
    let summary = coverage::report(sh, profiles, objects, &python_data)?;
    table.set(summary.table);
    match summary.below {
        Some(below) => Err(Failed {
            code: 1,
            message: below,
        }
        .into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_reads_in_an_order_that_runs() {
        graph::check(NODES).unwrap();
        let cleanup: Vec<_> = NODES.iter().filter(|n| n.always).map(|n| n.name).collect();
        assert_eq!(cleanup, ["server down"]);
    }

    /// The routes name steps of this table (`ci --changed` selects them by name).
    #[test]
    fn the_routes_name_steps_of_the_table() {
        use crate::engine::routing::{Area, CiWork, ROUTES};
        for route in ROUTES {
            if let CiWork::Steps(selection) = route.area.ci() {
                let names: Vec<String> = selection.steps.iter().map(|s| (*s).to_owned()).collect();
                graph::select(NODES, &names).unwrap();
            }
        }
        assert_eq!(Area::Runner.ci(), CiWork::Everything);
    }

    #[test]
    fn cheap_checks_need_nothing() {
        let first: Vec<_> = NODES
            .iter()
            .filter(|n| n.needs.is_empty())
            .map(|n| n.name)
            .collect();
        assert!(first.contains(&"extract"), "{first:?}");
    }

    #[test]
    fn the_readme_draws_the_table() {
        let readme = include_str!("../../../README.md");
        let diagram = mermaid();
        assert!(
            readme.contains(&diagram),
            "the README's ci diagram differs from the table; paste this into it:\n{diagram}"
        );
    }

    #[test]
    fn only_one_stage_runs_its_needs_and_the_cleanup() {
        let selected = graph::select(NODES, &["pytest-e2e".to_owned()]).unwrap();
        let names: Vec<_> = NODES
            .iter()
            .zip(&selected)
            .filter(|(_, s)| **s)
            .map(|(n, _)| n.name)
            .collect();
        assert!(names.contains(&"server down"), "{names:?}");
        assert!(names.contains(&"pytest unit"), "{names:?}");
        assert!(!names.contains(&"workflow lint"), "{names:?}");
        assert!(!names.contains(&"rust tests"), "{names:?}");
    }

    #[test]
    fn an_earlier_runs_reports_are_removed() {
        let (_guard, dir) = paths::test_dir();
        std::fs::write(dir.join("doctests.xml"), "<testsuites/>").unwrap();
        std::fs::write(dir.join("notes.txt"), "kept").unwrap();
        paths::empty_of(&dir, "xml").unwrap();
        assert!(!dir.join("doctests.xml").exists());
        assert!(dir.join("notes.txt").exists());
        paths::empty_of(&dir.join("new"), "xml").unwrap();
        assert!(dir.join("new").is_dir());
    }
}
