//! `cargo xtask bench`: what Python costs over native Rust. Builds a release server, the
//! release bindings and the transport's native benchmark, starts the server under the
//! guard, times the same operations from both sides against it, and shows the medians
//! side by side (see [`report`]).

mod report;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::cmd;

use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::Job;
use crate::engine::steps::{Mode, Runner};
use crate::python::pytest_runner::{self, Target};
use crate::python::venv;
use crate::server::test_server::{self, Server};
use crate::{errln, flags, outln};
use report::{Figure, OPS};

const TRANSPORT_PACKAGE: &str = "simd-r-drive-ws-transport";
/// pytest-benchmark's settings, close to the native side's: a warmup, then at least 50
/// calls and about 2 s per op.
const PYTEST_BENCHMARK_ARGS: [&str; 7] = [
    "--benchmark-warmup=on",
    "--benchmark-warmup-iterations=300",
    "--benchmark-min-rounds=50",
    "--benchmark-max-time=2",
    "--benchmark-columns=median,iqr,rounds",
    "--benchmark-sort=name",
    "-q",
];

pub fn run(sh: &StepContext, flags: &flags::Bench) -> Result<()> {
    let dir = paths::xtask_dir()?.join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir}"))?;
    let latest = dir.join("latest.json");
    // Read before the long part, so that a missing file fails at once.
    let previous = match flags.compare {
        true => Some(read_figures(&latest).with_context(|| {
            format!(
                "nothing to compare with: {} is missing or unreadable; run `cargo xtask bench` first",
                paths::display_path(&latest)
            )
        })?),
        false => None,
    };
    let figures = measure(sh, flags, &dir)?;
    if latest.is_file() {
        let kept = dir.join("previous.json");
        std::fs::rename(&latest, &kept).with_context(|| format!("cannot move {latest}"))?;
    }
    std::fs::write(&latest, report::to_json(&figures))
        .with_context(|| format!("cannot write {latest}"))?;
    outln!("{}", report::table(&figures, previous.as_deref()));
    for line in report::verdict(&figures) {
        outln!("{line}");
    }
    errln!("figures: {}", paths::display_path(&latest));
    Ok(())
}

fn read_figures(path: &Utf8Path) -> Result<Vec<Figure>> {
    let text = std::fs::read_to_string(path)?;
    report::from_json(&text)
}

/// Builds, starts the server, and times each op from both sides, one after the other, so
/// that the two figures of an op see the same load: a status line per step.
fn measure(sh: &StepContext, flags: &flags::Bench, dir: &Utf8Path) -> Result<Vec<Figure>> {
    let log_dir = paths::xtask_dir()?.join("logs/bench");
    let mut runner = Runner::new(Mode::detect(flags.verbose), log_dir, 4 + OPS.len())?;
    runner.step(sh, "venv --release", |sh, _| {
        venv::ensure(sh, None, false, venv::Profile::Release)
    })?;
    let (server_binary, native) = runner.step(sh, "build", |sh, _| build(sh, dir))?;
    let server = runner.step(sh, "server up", |sh, _| {
        test_server::start_for_tests(sh, server_binary, 0, 30)
    })?;
    let (mut rust, mut python) = (Vec::new(), Vec::new());
    for (index, (op, test)) in OPS.into_iter().enumerate() {
        let rust_json = dir.join(format!("rust-{index}.json"));
        let python_json = dir.join(format!("python-{index}.json"));
        runner.step(sh, op, |sh, _| {
            native_side(sh, &native, &server, op, &rust_json)?;
            python_side(sh, &server, test, &python_json)?;
            rust.extend(report::rust_entries(&read(&rust_json)?)?);
            python.extend(report::python_entries(&read(&python_json)?)?);
            Ok(())
        })?;
    }
    runner.step(sh, "server down", |_, _| server.stop_cleanly())?;
    report::pair(&rust, &python)
}

fn read(path: &Utf8Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))
}

/// The release server and the native benchmark, copied into `dir`. cargo puts them at
/// names (`release/NAME`, `release/examples/bench`) that every worktree sharing the target
/// dir builds to: the copies, made under a lock the other worktrees' benches take too, are
/// this worktree's builds for the whole run.
fn build(sh: &StepContext, dir: &Utf8Path) -> Result<(Utf8PathBuf, Utf8PathBuf)> {
    let _shared = venv::lock(sh, &paths::shared_lock_dir()?.join("release-binaries.lock"))?;
    let server = test_server::build(sh, true)?;
    Job::new(
        sh,
        cmd!(
            sh,
            "cargo build --release -p {TRANSPORT_PACKAGE} --example bench"
        ),
    )
    .run()
    .context("cannot build the native benchmark")?;
    let native = paths::target_dir()?.join("release/examples/bench");
    Ok((private_copy(&server, dir)?, private_copy(&native, dir)?))
}

/// `binary`, copied into `dir` under its own name. Renamed into place, so that an older copy
/// that another bench of this worktree still runs is replaced, not overwritten.
fn private_copy(binary: &Utf8Path, dir: &Utf8Path) -> Result<Utf8PathBuf> {
    let name = binary
        .file_name()
        .with_context(|| format!("{binary} names no file"))?;
    let copy = dir.join(name);
    let partial = dir.join(format!("{name}.partial"));
    std::fs::copy(binary, &partial)
        .with_context(|| format!("cannot copy {binary} to {partial}"))?;
    std::fs::rename(&partial, &copy).with_context(|| format!("cannot rename {partial}"))?;
    Ok(copy)
}

fn native_side(
    sh: &StepContext,
    native: &Utf8Path,
    server: &Server,
    op: &str,
    out: &Utf8Path,
) -> Result<()> {
    let host = &server.address.host;
    let port = server.address.port.to_string();
    Job::new(sh, cmd!(sh, "{native} {host} {port} {out} {op}"))
        .run()
        .context("the native benchmark failed")
}

fn python_side(sh: &StepContext, server: &Server, test: &str, out: &Utf8Path) -> Result<()> {
    let mut args: Vec<String> = vec![
        "-m".into(),
        "benchmark".into(),
        format!("tests/test_benchmark.py::{test}"),
        format!("--benchmark-json={out}"),
    ];
    args.extend(PYTEST_BENCHMARK_ARGS.map(String::from));
    let report = pytest_runner::Report::WithTheTrace;
    pytest_runner::run(sh, Target::Guarded(server), &args, &[], report, || Ok(()))
}
