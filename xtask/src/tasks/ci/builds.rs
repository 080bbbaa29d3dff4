//! The build steps of `ci`: the Rust test binaries (`rust build`, from cargo's JSON
//! messages) and the bindings (`bindings`, by maturin). A failed build names its first
//! compiler error, with its place, and shows the others under the step.

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::cmd;

use super::Ci;
use crate::adapters::cargo_build;
use crate::adapters::compiler;
use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::{Event, Job, Sink, Stream};
use crate::base::signals;
use crate::engine::events::{BuildErrors, CompilerError, Counts};
use crate::engine::output::Output;
use crate::engine::steps::Step;
use crate::python::venv;
use crate::traceln;

/// What `rust build` found: the selection of the xtask tests that need the venv, which
/// `cargo test` and `--workspace` leave out (`-p xtask --test NAME ...`).
pub(super) struct Built {
    pub(super) venv_tests: Vec<String>,
    /// Every test executable, for the coverage report.
    pub(super) test_executables: Vec<Utf8PathBuf>,
}

/// The bindings, built into the venv that the stages test in (after `rust build` when both
/// run, so as to reuse what it compiled); with `--from` or `--archive`, the archive's part.
pub(super) fn bindings(ci: &Ci, sh: &StepContext, step: &mut Step) -> Result<()> {
    let python = ci.bindings_python();
    let built = match ci.archive.bindings(sh, python) {
        Some(done) => done.map(|note: String| step.note(&note)),
        None => venv::ensure(sh, python, false, venv::Profile::Dev),
    };
    built.map_err(|error| maturin_failed(step, error, "the bindings do not build"))
}

/// A failed build shows the compiler's errors; its cause is the first of them, with its
/// place, which says more than the build command's exit code (a signal stays the cause).
fn build_failed(
    step: &mut Step,
    error: anyhow::Error,
    errors: &[CompilerError],
    what: &'static str,
) -> anyhow::Error {
    let Some(first) = errors.first() else {
        // Not the compiler's (a manifest cargo cannot read, say): the end of the log says.
        return error.context(what);
    };
    step.details(compiler::shown_errors(errors));
    if signals::is_stop(&error) {
        return error.context(what);
    }
    anyhow::anyhow!(first.to_string()).context(what)
}

/// [`build_failed`] for maturin, whose errors `venv::ensure` read as it built and handed
/// back in its error ([`BuildErrors`]).
fn maturin_failed(step: &mut Step, error: anyhow::Error, what: &'static str) -> anyhow::Error {
    let errors = match error.downcast_ref::<BuildErrors>() {
        Some(BuildErrors(errors)) => errors.clone(),
        None => Vec::new(),
    };
    build_failed(step, error, &errors, what)
}

/// Builds every Rust test binary: `cargo test --workspace`'s, then the xtask tests that
/// need the venv, which `cargo test` leaves out (`test = false`; found in cargo's metadata).
pub(super) fn rust_build(
    ci: &Ci,
    sh: &StepContext,
    step: &mut Step,
    built: &Output<Built>,
) -> Result<()> {
    if let Some(venv_tests) = ci.archive.before_build(sh)? {
        step.note("from the archive");
        built.set(Built {
            venv_tests,
            test_executables: Vec::new(),
        });
        return Ok(());
    }
    let json = ci.xtask_dir.join("logs/ci/rust-build.jsonl");
    let mut tests = cargo_no_run(sh, step, &["--workspace"], &json)?;
    let selection = cargo_build::opt_in_test_args(sh)?;
    if !selection.is_empty() {
        tests.extend(cargo_no_run(sh, step, &selection, &json)?);
    }
    step.note(&format!("{} test binaries", tests.len()));
    built.set(Built {
        venv_tests: selection,
        test_executables: tests,
    });
    Ok(())
}

/// `cargo test --no-run ARGS` with cargo's JSON messages in `json` (its diagnostics,
/// rendered, go to the step's log); returns the test executables it built.
fn cargo_no_run(
    sh: &StepContext,
    step: &mut Step,
    args: &[impl AsRef<str>],
    json: &Utf8Path,
) -> Result<Vec<Utf8PathBuf>> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let file = std::fs::File::create(json).with_context(|| format!("cannot create {json}"))?;
    let job = Job::new(
        sh,
        cmd!(sh, "cargo test --no-run --message-format=json {args...}"),
    )
    .stdout(Sink::File(file))
    .follow(Stream::Stdout)
    .note(format!("messages to {}", paths::display_path(json)));
    let mut build = cargo_build::Build::default();
    let root = paths::project_root();
    let result = job.run_following(|event| {
        if let Event::Output(_, bytes) = event {
            for rendered in build.feed(bytes, &root, &root) {
                // The log is for people: the diagnostics as cargo would have shown them.
                traceln!(sh, "{}", rendered.trim_end());
            }
            let built = format!("{} crates built", build.artifacts);
            step.progress(Counts::default(), None, &built);
        }
        Ok(())
    });
    if let Err(error) = result {
        return Err(build_failed(
            step,
            error,
            &build.errors,
            "the Rust tests do not build",
        ));
    }
    Ok(build.test_executables)
}
