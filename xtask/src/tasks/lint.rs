//! `cargo xtask lint`: every static check of the workflow's lint job, as one graph
//! ([`NODES`]) run by [`crate::engine::graph`]: independent checks side by side, the first failure
//! stops the run. A line per check (see [`crate::engine::steps`]); for a failed check, each problem
//! with its file and line (see [`crate::adapters::findings`]); every check's whole output in
//! `target/xtask/logs/lint/`. It ends with `lint: N passed, N failed, N skipped`, counting
//! checks. `--fix` first runs [`FIXES`], then the checks.

use anyhow::{Context, Result, bail, ensure};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::cmd;

use crate::adapters::cargo_build;
use crate::adapters::findings::{self, Finding};
use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::{self, Job, Reported, Sink};
use crate::base::signals;
use crate::checks::workflow_lint;
use crate::engine::events::Counts;
use crate::engine::graph::{self, FailFast, Node};
use crate::engine::steps::{Mode, Runner, State, Step};
use crate::python::venv;
use crate::{errln, flags, outln, traceln};

/// Lines of findings shown under a failed check; its log has all of them.
const SHOWN_LINES: usize = 80;

/// The checks: each row a name, the checks it needs (earlier in the table), and its body.
/// Two cargo commands on one target dir wait for each other's lock, so `clippy venv tests`
/// (the workspace's target dir, like `clippy`) comes after `clippy`, when most of what it
/// checks is already checked. `clippy bindings` has a target dir of its own (the crate's
/// `target/`, as in the workflow) and runs beside them. `venv` builds the bindings in the
/// workspace's target dir only when the venv is out of date; it is not ordered against
/// `clippy`, so that `--only clippy` needs no Python and `--only mypy` no clippy: when both
/// run, cargo's lock makes one wait for the other.
const NODES: &[Node<Lint>] = &[
    Node::new("rustfmt", &[], |lint, sh, step| {
        rustfmt(lint, sh, step, Crates::Workspace)
    }),
    Node::new("rustfmt bindings", &[], |lint, sh, step| {
        rustfmt(lint, sh, step, Crates::Bindings)
    }),
    Node::new("clippy", &[], |lint, sh, step| {
        clippy(lint, sh, step, Crates::Workspace)
    }),
    Node::new("clippy venv tests", &["clippy"], |lint, sh, step| {
        clippy(lint, sh, step, Crates::VenvTests)
    }),
    Node::new("clippy bindings", &[], |lint, sh, step| {
        clippy(lint, sh, step, Crates::Bindings)
    }),
    Node::new("venv", &[], venv),
    Node::new("mypy", &["venv"], mypy),
    Node::new("workflow lint", &["venv"], workflow_lint),
];

/// What `--fix` runs before the checks. `fix X` runs when check `X` is selected. rustfmt
/// comes last, as cleanup, so that it formats what clippy's fixes wrote, and runs even when
/// a fix failed (code that does not compile can still be formatted).
const FIXES: &[Node<Lint>] = &[
    Node::new("fix clippy", &[], |_, sh, _| {
        clippy_fix(sh, Crates::Workspace)
    }),
    Node::new("fix clippy venv tests", &["fix clippy"], |_, sh, _| {
        clippy_fix(sh, Crates::VenvTests)
    }),
    Node::new("fix clippy bindings", &[], |_, sh, _| {
        clippy_fix(sh, Crates::Bindings)
    }),
    Node::always(
        "fix rustfmt",
        &["fix clippy", "fix clippy venv tests"],
        |_, sh, _| rustfmt_fix(sh, Crates::Workspace),
    ),
    Node::always(
        "fix rustfmt bindings",
        &["fix clippy bindings"],
        |_, sh, _| rustfmt_fix(sh, Crates::Bindings),
    ),
];

/// What the checks share.
struct Lint {
    /// On GitHub Actions: findings become annotations on their lines.
    github: bool,
}

/// What a cargo command looks at.
#[derive(Debug, Clone, Copy)]
enum Crates {
    /// The workspace, every target that `cargo test` builds.
    Workspace,
    /// xtask's tests that need the venv (`test = false`), which `--all-targets` leaves out.
    VenvTests,
    /// The bindings' crate, outside the workspace (linking pyo3 needs a Python), checked
    /// through its manifest, in its own target dir.
    Bindings,
}

impl Crates {
    fn manifest() -> String {
        format!("{}/Cargo.toml", paths::BINDINGS)
    }

    /// What selects them for `cargo clippy`; empty when there is nothing to check.
    fn clippy_args(self, sh: &StepContext) -> Result<Vec<String>> {
        Ok(match self {
            Crates::Workspace => vec!["--workspace".to_owned(), "--all-targets".to_owned()],
            Crates::VenvTests => cargo_build::opt_in_test_args(sh)?,
            Crates::Bindings => {
                vec![
                    "--manifest-path".to_owned(),
                    Crates::manifest(),
                    "--all-targets".to_owned(),
                ]
            }
        })
    }

    /// What selects them for `cargo fmt`.
    fn fmt_args(self) -> Vec<String> {
        match self {
            Crates::Workspace | Crates::VenvTests => vec!["--all".to_owned()],
            Crates::Bindings => vec!["--manifest-path".to_owned(), Crates::manifest()],
        }
    }

    /// The folder that rustc names their files from: the root of the workspace cargo built.
    fn base(self) -> Utf8PathBuf {
        match self {
            Crates::Workspace | Crates::VenvTests => paths::project_root(),
            Crates::Bindings => paths::bindings_dir(),
        }
    }
}

pub fn run(sh: &StepContext, flags: &flags::Lint) -> Result<()> {
    if flags.list {
        outln!("{}", graph::list(NODES));
        outln!("\nwith --fix, before the checks:\n{}", graph::list(FIXES));
        return Ok(());
    }
    let selected = graph::select(NODES, &flags.only)?;
    let mode = Mode::detect(flags.verbose);
    let lint = Lint {
        github: mode == Mode::GitHub,
    };
    let logs = paths::xtask_dir()?.join("logs");
    let fixed = if flags.fix {
        fix(sh, &lint, mode, &selected, logs.join("lint-fix"))
    } else {
        Ok(())
    };
    if let Some(interrupted) = signals::received() {
        return Err(interrupted.into());
    }
    let mut runner = Runner::new(mode, logs.join("lint"), NODES.len())?;
    let result = graph::run(NODES, &selected, FailFast::Yes, &lint, sh, &mut runner);
    errln!("logs: {}", paths::display_path(&logs.join("lint")));
    // The last line, whatever happened: CI log readers look for it.
    for line in runner.end_lines(result.as_ref().err(), totals(&runner), "lint") {
        outln!("{line}");
    }
    // Failures were shown under their steps; main only passes the exit code on.
    result.and(fixed).map_err(|error| {
        Reported {
            code: process::exit_code_of(&error),
        }
        .into()
    })
}

/// Runs the fixes of the selected checks, with logs of their own.
fn fix(
    sh: &StepContext,
    lint: &Lint,
    mode: Mode,
    checks: &[bool],
    logs: Utf8PathBuf,
) -> Result<()> {
    let selected: Vec<bool> = FIXES
        .iter()
        .map(|fix| {
            let check = fix.name.strip_prefix("fix ").unwrap_or(fix.name);
            NODES.iter().zip(checks).any(|(n, s)| *s && n.name == check)
        })
        .collect();
    let mut runner = Runner::new(mode, logs.clone(), FIXES.len())?;
    let result = graph::run(FIXES, &selected, FailFast::Yes, lint, sh, &mut runner);
    if let Err(error) = &result {
        if let Some(line) = runner.failed_line(error) {
            outln!("{line}");
        }
        errln!("fix logs: {}", paths::display_path(&logs));
    }
    result
}

/// Checks, not tests: each check that passed, failed, or did not run to its end.
fn totals(runner: &Runner) -> Counts {
    let mut totals = Counts::default();
    for outcome in runner.in_order() {
        match outcome.state {
            State::Passed => totals.passed += 1,
            State::Failed => totals.failed += 1,
            State::Stopped | State::NotRun => totals.skipped += 1,
        }
    }
    totals
}

/// `cargo fmt --check`: rustfmt's diff of each file it would change.
fn rustfmt(lint: &Lint, sh: &StepContext, step: &mut Step, crates: Crates) -> Result<()> {
    let args = crates.fmt_args();
    let diff = step.log.with_extension("diff");
    let fix = format!("cargo fmt {}", args.join(" "));
    let command = cmd!(sh, "cargo fmt {args...} --check -- --color never");
    let (result, text) = run_capturing(sh, command, &diff)?;
    traceln!(sh, "{}", text.trim_end());
    let found = findings::rustfmt(&text, &paths::project_root());
    failed_with(lint, step, result, &found, |files, n| {
        format!(
            "rustfmt would change {files} ({}): run `cargo xtask lint --fix` (or `{fix}`)",
            plural(n, "hunk", "hunks")
        )
    })
}

/// `cargo clippy -- -D warnings`, reading its diagnostics from cargo's JSON messages.
fn clippy(lint: &Lint, sh: &StepContext, step: &mut Step, crates: Crates) -> Result<()> {
    let args = crates.clippy_args(sh)?;
    if args.is_empty() {
        step.note("nothing to check");
        return Ok(());
    }
    let json = step.log.with_extension("jsonl");
    let command = cmd!(
        sh,
        "cargo clippy --message-format=json {args...} -- -D warnings"
    );
    let (result, text) = run_capturing(sh, command, &json)?;
    let found = findings::clippy(text.as_bytes(), &crates.base(), &paths::project_root())?;
    for finding in &found {
        traceln!(sh, "{}\n", finding.text);
    }
    failed_with(lint, step, result, &found, |files, n| {
        format!(
            "clippy finds {} in {files}; `cargo xtask lint --fix` applies the fixes that \
             clippy knows to be safe",
            plural(n, "problem", "problems")
        )
    })
}

/// mypy from the venv, in the bindings' folder so that their pyproject.toml configures it:
/// strict, on the package, its stubs, the tests and the README compiler's runtime.
fn mypy(lint: &Lint, sh: &StepContext, step: &mut Step) -> Result<()> {
    let mypy = venv::venv_dir().join("bin/mypy");
    ensure!(
        mypy.is_file(),
        "{} is missing: run `cargo xtask venv` (it comes with the bindings' dev group)",
        paths::display_path(&mypy)
    );
    let bindings = paths::bindings_dir();
    let _dir = sh.push_dir(&bindings);
    let json = step.log.with_extension("jsonl");
    let (result, text) = run_capturing(sh, cmd!(sh, "{mypy} -O json"), &json)?;
    let found = findings::mypy(&text, &bindings, &paths::project_root());
    for finding in &found {
        traceln!(sh, "{}", finding.text);
    }
    // What is not a finding (a crash, a config error) goes to the log as mypy said it.
    for line in text.lines().filter(|line| !line.starts_with('{')) {
        traceln!(sh, "{line}");
    }
    failed_with(lint, step, result, &found, |files, n| {
        format!(
            "mypy (strict) finds {} in {files}",
            plural(n, "error", "errors")
        )
    })
}

/// mypy and the workflow linters need the venv's tools, not the built bindings: a venv
/// built for either profile will do, so that `lint` never turns `bench`'s release build
/// into a dev one. Otherwise the venv is made as `cargo xtask venv` makes it.
fn venv(_: &Lint, sh: &StepContext, step: &mut Step) -> Result<()> {
    if venv::is_current(None, venv::Profile::Dev)?
        || venv::is_current(None, venv::Profile::Release)?
    {
        step.note("up to date");
        return Ok(());
    }
    venv::ensure(sh, None, false, venv::Profile::Dev)
}

fn workflow_lint(_: &Lint, sh: &StepContext, step: &mut Step) -> Result<()> {
    if !workflow_lint::run_unless_unchanged(sh)? {
        step.note("unchanged since it last passed");
    }
    Ok(())
}

/// `cargo clippy --fix`: applies the suggestions clippy marks machine-applicable, in files
/// with uncommitted changes too, which is what was asked for.
fn clippy_fix(sh: &StepContext, crates: Crates) -> Result<()> {
    let args = crates.clippy_args(sh)?;
    if args.is_empty() {
        return Ok(());
    }
    Job::new(
        sh,
        cmd!(
            sh,
            "cargo clippy --fix --allow-dirty --allow-staged {args...}"
        ),
    )
    .run()
    .context("clippy cannot apply its fixes; the checks below show why")
}

fn rustfmt_fix(sh: &StepContext, crates: Crates) -> Result<()> {
    // Cleanup runs after a signal too: formatting is not cleanup worth waiting for.
    sh.check()?;
    let args = crates.fmt_args();
    Job::new(sh, cmd!(sh, "cargo fmt {args...}"))
        .run()
        .context("rustfmt cannot format the code; the checks below show why")
}

/// Runs `command` with its stdout in `file` (its stderr goes to the step's log); returns how
/// it ended and what it printed. A stop (a signal, another check's failure) is the error.
fn run_capturing(
    sh: &StepContext,
    command: xshell::Cmd<'_>,
    file: &Utf8Path,
) -> Result<(Result<()>, String)> {
    let sink = std::fs::File::create(file).with_context(|| format!("cannot create {file}"))?;
    let result = Job::new(sh, command)
        .stdout(Sink::File(sink))
        .note(format!("stdout to {}", paths::display_path(file)))
        .run();
    if let Err(error) = result {
        if signals::is_stop(&error) {
            return Err(error);
        }
        let text = std::fs::read_to_string(file).unwrap_or_default();
        return Ok((Err(error), text));
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
    Ok((Ok(()), text))
}

/// The verdict of a check that ran a linter: passed, or failed showing each finding (and
/// annotating it on GitHub), and `why(files, count)` as the error. A failure without findings
/// (the tool itself broke) keeps the tool's error, and the log's end is shown.
fn failed_with(
    lint: &Lint,
    step: &mut Step,
    result: Result<()>,
    found: &[Finding],
    why: impl FnOnce(&str, usize) -> String,
) -> Result<()> {
    let Err(error) = result else {
        return Ok(());
    };
    if found.is_empty() {
        return Err(error);
    }
    step.details(findings::show(found, SHOWN_LINES));
    if lint.github {
        for finding in found {
            outln!("{}", findings::annotation(finding));
        }
    }
    let mut files: Vec<&str> = found.iter().map(|f| f.file.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    let files = match files.as_slice() {
        [one] => one.to_string(),
        many => format!("{} files", many.len()),
    };
    bail!("{}", why(&files, found.len()))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_read_in_an_order_that_runs() {
        graph::check(NODES).unwrap();
        graph::check(FIXES).unwrap();
        // Each fix fixes a check of that name.
        for fix in FIXES {
            let check = fix.name.strip_prefix("fix ").unwrap();
            assert!(NODES.iter().any(|n| n.name == check), "{}", fix.name);
        }
    }

    /// Two cargo commands on the workspace's target dir wait for each other's lock: the
    /// second clippy starts once the first has ended, and rustfmt formats what clippy fixed.
    #[test]
    fn cargo_commands_on_one_target_dir_are_ordered() {
        let needs = |nodes: &[Node<Lint>], name: &str| -> Vec<&str> {
            nodes
                .iter()
                .find(|n| n.name == name)
                .unwrap()
                .needs
                .to_vec()
        };
        assert_eq!(needs(NODES, "clippy venv tests"), ["clippy"]);
        assert!(needs(NODES, "clippy bindings").is_empty());
        assert!(needs(FIXES, "fix rustfmt").contains(&"fix clippy venv tests"));
    }

    #[test]
    fn only_one_check_runs_what_it_needs_and_no_more() {
        let names = |only: &[&str]| -> Vec<&str> {
            let only: Vec<String> = only.iter().map(|s| (*s).to_owned()).collect();
            let selected = graph::select(NODES, &only).unwrap();
            NODES
                .iter()
                .zip(&selected)
                .filter(|(_, s)| **s)
                .map(|(n, _)| n.name)
                .collect()
        };
        assert_eq!(names(&["mypy"]), ["venv", "mypy"]);
        assert_eq!(names(&["clippy"]), ["clippy"], "clippy needs no Python");
        assert_eq!(names(&["rustfmt-bindings"]), ["rustfmt bindings"]);
    }

    #[test]
    fn totals_count_checks() {
        let (_guard, dir) = paths::test_dir();
        let mut runner = Runner::new(Mode::Plain, dir, 3).unwrap();
        let sh = &StepContext::terminal(paths::shell().unwrap());
        runner.step(sh, "a", |_, _| Ok(())).unwrap();
        runner
            .step(sh, "b", |_, _| -> Result<()> { bail!("it broke") })
            .unwrap_err();
        runner.not_run(3, "c");
        let totals = totals(&runner);
        assert_eq!((totals.passed, totals.failed, totals.skipped), (1, 1, 1));
    }

    #[test]
    fn a_failure_names_the_file_or_how_many_files() {
        let lint = Lint { github: false };
        let (_guard, dir) = paths::test_dir();
        let mut runner = Runner::new(Mode::Plain, dir, 1).unwrap();
        let sh = &StepContext::terminal(paths::shell().unwrap());
        let finding = |file: &str| Finding {
            file: file.into(),
            line: 3,
            column: None,
            message: "m".to_owned(),
            text: format!("{file}:3: m"),
        };
        let one = [finding("a.py")];
        let two = [finding("a.py"), finding("b.py"), finding("a.py")];
        let mut message = |found: &[Finding]| {
            runner
                .step(sh, "x", |_, step| {
                    let error = Err(anyhow::anyhow!("exit 1"));
                    failed_with(&lint, step, error, found, |f, n| format!("{n} in {f}"))
                })
                .unwrap_err()
                .root_cause()
                .to_string()
        };
        assert_eq!(message(&one), "1 in a.py");
        assert_eq!(message(&two), "3 in 2 files");
        let passed = failed_with(&lint, &mut runner.begin(9, "y"), Ok(()), &two, |f, _| {
            f.into()
        });
        assert!(
            passed.is_ok(),
            "a linter that passed passes, whatever was parsed"
        );
    }

    /// The workflow has nothing of its own: every `run:` is a `cargo xtask` command, so
    /// that `cargo xtask ci && cargo xtask lint` checks everything it checks.
    /// The release jobs are the exception: they publish, and run no build (see below).
    #[test]
    fn the_workflow_runs_only_xtask_commands() {
        let workflow = include_str!("../../../.github/workflows/ci.yml");
        let checks = jobs(workflow)
            .into_iter()
            .filter(|(name, _)| !is_release(name));
        let commands: Vec<String> = checks.flat_map(|(_, job)| run_commands(&job)).collect();
        assert!(
            commands.iter().any(|c| c == "cargo xtask lint"),
            "the lint job runs `cargo xtask lint`: {commands:?}"
        );
        for command in &commands {
            assert!(
                command.starts_with("cargo xtask "),
                "ci.yml runs `{command}`: make it a `cargo xtask` command, so that it runs \
                 locally too"
            );
        }
    }

    fn is_release(job: &str) -> bool {
        job.starts_with("release")
    }

    /// A release publishes the very files the test jobs tested: its jobs wait for every
    /// test job, download the build jobs' archives, check them against their manifests'
    /// sha256s, and never build: no toolchain, no checkout, no cargo, maturin or Python
    /// build in any step. Only the PyPI job may ask for an OIDC token.
    #[test]
    fn the_release_jobs_publish_the_tested_files_and_build_nothing() {
        let workflow = include_str!("../../../.github/workflows/ci.yml");
        let all = jobs(workflow);
        let releases: Vec<_> = all.iter().filter(|(name, _)| is_release(name)).collect();
        assert_eq!(releases.len(), 2, "release-pypi and release-github");
        let allowed = ["actions/download-artifact@", "pypa/gh-action-pypi-publish@"];
        let builds = ["cargo", "maturin", "rustc", "pip", "uv", "build"];
        for (name, job) in &releases {
            let needs = job.lines().find(|l| l.trim().starts_with("needs:"));
            let needs = needs.unwrap_or_else(|| panic!("{name} needs nothing"));
            for tested in ["build", "test", "test-shards", "test-summary"] {
                assert!(
                    needs.split(['[', ']', ',', ' ']).any(|need| need == tested),
                    "{name} must wait for {tested}: {needs}"
                );
            }
            for uses in job.lines().filter_map(|l| l.trim().split_once("uses: ")) {
                assert!(
                    allowed.iter().any(|a| uses.1.starts_with(a)),
                    "{name} uses {}: a release job only downloads and publishes",
                    uses.1
                );
            }
            let commands = run_commands(job);
            assert!(
                commands.iter().any(|c| c.contains("sha256sum --check")),
                "{name} checks the files against the manifests: {commands:?}"
            );
            for command in commands {
                let words: Vec<&str> = command.split([' ', '/', '"', '(', ')', ';']).collect();
                for build in builds {
                    assert!(
                        !words.contains(&build),
                        "{name} runs `{command}`: a release job builds nothing"
                    );
                }
            }
        }
        for (name, job) in &all {
            let asks = job.contains("id-token: write");
            assert_eq!(asks, name == "release-pypi", "{name}: id-token: write");
        }
    }

    #[test]
    fn jobs_are_read_from_their_keys() {
        let workflow =
            "on: push\njobs:\n  a:\n    steps:\n      - run: x\n\n  b-c:\n    needs: a\n";
        let found = jobs(workflow);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, "a");
        assert!(found[0].1.contains("- run: x"));
        assert_eq!(found[1].0, "b-c");
        assert!(found[1].1.contains("needs: a"));
    }

    /// Each job of a workflow as (its key, its lines), from the two-space keys of `jobs:`.
    fn jobs(workflow: &str) -> Vec<(String, String)> {
        let mut jobs: Vec<(String, String)> = Vec::new();
        let mut in_jobs = false;
        for line in workflow.lines() {
            if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
                in_jobs = line.starts_with("jobs:");
                continue;
            }
            if !in_jobs {
                continue;
            }
            let key = line
                .strip_prefix("  ")
                .filter(|rest| !rest.starts_with([' ', '#']));
            match key.and_then(|key| key.strip_suffix(':')) {
                Some(name) => jobs.push((name.to_owned(), String::new())),
                None => {
                    if let Some((_, job)) = jobs.last_mut() {
                        job.push_str(line);
                        job.push('\n');
                    }
                }
            }
        }
        jobs
    }

    #[test]
    fn run_commands_are_read_from_single_lines_and_blocks() {
        let workflow = "jobs:\n  a:\n    steps:\n      - run: cargo xtask ci\n      - name: x\n        run: |\n          cargo fmt --check\n          # a comment\n\n          cargo xtask lint\n      - uses: a/b@c\n";
        assert_eq!(
            run_commands(workflow),
            ["cargo xtask ci", "cargo fmt --check", "cargo xtask lint"]
        );
    }

    /// The commands of every `run:` key of a workflow: its value, or each line of its block.
    fn run_commands(workflow: &str) -> Vec<String> {
        let mut commands = Vec::new();
        let mut block: Option<usize> = None;
        for line in workflow.lines() {
            let indent = line.len() - line.trim_start().len();
            let text = line.trim();
            if let Some(key_indent) = block {
                if text.is_empty() || text.starts_with('#') {
                    continue;
                }
                if indent > key_indent {
                    commands.push(text.to_owned());
                    continue;
                }
                block = None;
            }
            let Some(value) = text.trim_start_matches("- ").strip_prefix("run:") else {
                continue;
            };
            match value.trim() {
                "|" | ">" | "|-" | ">-" => block = Some(indent),
                command => commands.push(command.to_owned()),
            }
        }
        commands
    }
}
