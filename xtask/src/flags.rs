//! Every command and flag of `cargo xtask`, in one place. Doc comments are the help text.

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Developer tasks: run the WebSocket server, test the Python bindings, run CI locally.
///
/// Set XTASK_SERVER_BIN to use a server binary of your own instead of building one.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    propagate_version = true
)]
pub struct Xtask {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the server and run it in the foreground, streaming its log until Ctrl-C.
    ///
    /// Once the server is ready, prints its address and lines to paste into another shell:
    /// `export TEST_SERVER_HOST=... TEST_SERVER_PORT=...`, and the `cargo xtask pytest
    /// --server ws://HOST:PORT` command that tests against this server. The server's log
    /// goes to target/xtask/logs/server-*.log; the newest 10 are kept.
    Server(Server),
    /// Turn the Python code blocks and sessions of a README (the bindings') into pytest tests.
    Extract(Extract),
    /// Make or refresh the bindings' venv: dev dependencies, and the bindings built by maturin.
    Venv(Venv),
    /// Run the bindings' pytest suite against a fresh server on an ephemeral port.
    ///
    /// The preparation (venv, README tests, server build) shows one status line per step
    /// unless --verbose is given or it fails; pytest's own output follows.
    Pytest(Pytest),
    /// Run every check as CI does, fail-fast unless --no-fail-fast, showing progress and a
    /// summary.
    ///
    /// Steps: the Rust tests, built once and run by cargo-nextest (pinned in the bindings'
    /// dev group, installed into the venv), and the doctests (`cargo test --doc`); extract;
    /// venv; xtask tests (those of xtask's own tests that need the venv, deferred until it
    /// exists); workflow lint (`cargo xtask workflow-lint`); then pytest in
    /// three stages: `unit` without a server, then, against one server, `integration` and
    /// `e2e` (every README block); server down, which runs after a failure too. `--list`
    /// shows the graph.
    ///
    /// On a terminal it draws a live line per step; elsewhere it prints a line per finished
    /// step. Each step's whole output goes to target/xtask/logs/ci/; a failure shows its
    /// details and that log. Tests over their budget (pytest: unit 1 s, integration and
    /// e2e 5 s; Rust: src/ 1 s, tests/ 5 s) are named as outliers. It ends with `ci: N passed, N failed, N skipped`. The
    /// exit status is the first failing step's. JUnit reports go to target/xtask/junit/.
    /// With GITHUB_ACTIONS=true, each step is a folded group with its whole output, and
    /// failures and outliers become annotations.
    Ci(Ci),
    /// Measure what Python costs over native Rust: the same calls from the bindings
    /// (pytest-benchmark) and from the transport they wrap, against one release server.
    ///
    /// Builds the release server, the bindings with --release (`cargo xtask venv --release`)
    /// and the native benchmark (ws-transport's `bench` example); prints the medians as
    /// `op | python | rust | python/rust` and writes them to target/xtask/bench/latest.json.
    Bench(Bench),
    /// Check .github/ offline: the workflows and dependabot.yml against their schemas, then
    /// zizmor's security audit (pinned actions, token permissions, credentials).
    ///
    /// Both tools come from the bindings' venv (`cargo xtask venv`). A finding fails with
    /// zizmor's report, which names the file, the line and the fix.
    WorkflowLint(WorkflowLint),
    /// Run every static check the workflow's lint job makes, side by side, showing a line
    /// per check.
    ///
    /// Checks: rustfmt and clippy (`-D warnings`) on the workspace, on xtask's venv tests
    /// (which `--all-targets` leaves out) and on the bindings' crate (outside the workspace,
    /// in a target dir of its own); mypy (strict, as the bindings' pyproject.toml says) on
    /// the bindings' package, stubs and tests and on the README compiler's runtime, with the
    /// venv's mypy; and the workflow lint (`cargo xtask workflow-lint`). The first failure
    /// stops the run and shows the file and line of each problem: rustfmt's diff, clippy's
    /// `--> file:line`, mypy's `file:line: error`. Each check's whole output goes to
    /// target/xtask/logs/lint/. It ends with `lint: N passed, N failed, N skipped`, counting
    /// checks. `cargo xtask ci && cargo xtask lint` is everything the workflow checks.
    Lint(Lint),
    /// Run the affected tests on every save, against one server kept warm between runs.
    ///
    /// Watches the workspace and sends each change where it belongs: a Python test or the
    /// package runs pytest; the bindings' README is extracted again; the bindings' or the
    /// transport's Rust rebuilds the bindings; the server's sources rebuild the server and
    /// restart it on the same port with a fresh store. Changed test files run first, then the
    /// rest of the suite with the last failures first; each run ends with `watch: N passed,
    /// N failed, N skipped in X s (what changed)`. Ctrl-C stops everything.
    Watch(Watch),
    /// Sum the JUnit reports of `cargo xtask ci --shard K/N` runs into one verdict, as CI's
    /// job after its shard jobs does.
    ///
    /// Each folder that holds reports is one run (one shard's `target/xtask/junit/`); the
    /// folders are searched to any depth. Prints a table of the runs and ends with
    /// `ci: N passed, N failed, N skipped`; with GITHUB_STEP_SUMMARY set, appends both to
    /// that file. Fails if any test or step failed.
    JunitMerge(JunitMerge),
    /// Run one test many times, side by side, to learn whether it is flaky.
    ///
    /// TEST is a Rust test, as nextest names it (`BINARY_ID NAME`, such as `xtask::server_owner
    /// sigkill_of_xtask_leaves_no_server_and_the_next_run_removes_its_store`) or by a part of
    /// its name that no other test has, run through nextest (ignored tests too); or a pytest
    /// node id (`tests/test_errors.py::test_x`, its file from here, the repository root or
    /// the bindings' folder), each worker's runs against a server of the worker's own.
    /// Prints how many runs passed and failed, the first failure's output and the slowest
    /// run, and ends with `stress: N passed, N failed, N skipped`; fails if any run failed.
    Stress(Stress),
    /// List the tests whose outcomes differ across the last `ci` runs of one commit, newest
    /// commit first.
    ///
    /// Every `cargo xtask ci` appends each test's outcome and duration, with the commit (and
    /// a hash of the uncommitted changes, if any), to target/xtask/history.jsonl. A test is
    /// listed when it passed in one run and failed in another, or passed only on a retry
    /// (flaky); a skip is not compared. Each is shown with its outcomes, newest first.
    Flaky(Flaky),
    /// Build the release wheel and sdist with maturin into target/xtask/wheel/dist, and check
    /// them as a user meets them.
    ///
    /// Checks: the wheel's tags (`cp310-abi3-<platform>`: one wheel for CPython 3.10+); its
    /// metadata (name, version and requires-python as pyproject.toml says, the README as the
    /// long description); its files (the package's every file, the `.pyi` stubs and
    /// `py.typed` among them, the `_native` extension, nothing else); its abi3 claim,
    /// audited by abi3audit (pinned in the dev group); and that the sdist builds a wheel of
    /// its own (skipped when the same sdist built one before). The first problem fails in
    /// one line that names it.
    Wheel(Wheel),
}

#[derive(Debug, Args)]
pub struct Server {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 34129, value_parser = port, allow_hyphen_values = true)]
    pub port: u16,
    /// Storage file to serve; it is kept, with the server's record of acknowledged writes
    /// beside it (PATH.acked, see the server's README). Default: a private temp file,
    /// removed on exit.
    #[arg(long, value_name = "PATH")]
    pub storage: Option<Utf8PathBuf>,
    /// Build and run the server with optimizations.
    #[arg(long)]
    pub release: bool,
    /// Seconds to wait for the server's `listening on` line.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        value_parser = ready_timeout,
        allow_hyphen_values = true
    )]
    pub ready_timeout: u64,
}

#[derive(Debug, Args)]
pub struct Extract {
    /// README to read. Default: the bindings' README.md; another README needs --out.
    #[arg(long, value_name = "PATH")]
    pub readme: Option<Utf8PathBuf>,
    /// Test file to write, new or one that extract wrote (any other file is refused).
    /// Default, for the bindings' README only: its tests/test_readme_blocks.py.
    #[arg(long, value_name = "PATH")]
    pub out: Option<Utf8PathBuf>,
    /// pytest marker for every test. Default: `e2e` for the bindings' README, none for
    /// any other.
    #[arg(long, value_name = "NAME")]
    pub marker: Option<String>,
    /// Write nothing; fail if the test file is missing or stale.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct Venv {
    /// Python version or interpreter for uv to use, such as 3.12 or /usr/bin/python3.
    #[arg(long, value_name = "VERSION")]
    pub python: Option<String>,
    /// Delete the venv and build it again, even if it is up to date.
    #[arg(long)]
    pub recreate: bool,
    /// Build the bindings optimized, as `cargo xtask bench` does; by default they are built
    /// in the dev profile, which rebuilds fast after an edit.
    #[arg(long)]
    pub release: bool,
    /// Install uv if missing, make the venv and sync the dev group, but build no bindings
    /// (`ci` runs this while `cargo test` compiles).
    #[arg(long, conflicts_with_all = ["recreate", "release"])]
    pub deps_only: bool,
}

/// A named set of the bindings' tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// Tests that need no server (marker `unit`); starts no server.
    Unit,
    /// Tests against a live server (marker `integration`).
    Integration,
    /// Whole user workflows, every README block among them (marker `e2e`).
    E2e,
    /// Everything but `slow` and `benchmark` tests.
    Fast,
    /// Everything but `benchmark` tests.
    Full,
}

#[derive(Debug, Args)]
pub struct Pytest {
    /// Which tests to run.
    #[arg(long, value_enum, value_name = "NAME", default_value = "full")]
    pub suite: Suite,
    /// Same as --suite unit: start no server, run only the tests marked `unit`.
    #[arg(long, conflicts_with = "suite")]
    pub no_server: bool,
    /// Port for the server; 0 (the default) picks a free one.
    #[arg(long, default_value_t = 0, value_parser = port, allow_hyphen_values = true)]
    pub port: u16,
    /// Seconds to wait for the server's `listening on` line.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        value_parser = ready_timeout,
        allow_hyphen_values = true
    )]
    pub ready_timeout: u64,
    /// Test against a server that is already running, such as `cargo xtask server`'s; it is
    /// neither started nor stopped.
    #[arg(
        long,
        value_name = "ws://HOST:PORT",
        conflicts_with_all = ["no_server", "port", "ready_timeout"]
    )]
    pub server: Option<String>,
    /// Measure the Python package's line coverage (pytest-cov): writes
    /// target/xtask/coverage.xml and prints the total; the threshold is `fail_under` in
    /// pyproject.toml.
    #[arg(long)]
    pub cov: bool,
    /// Run the suite once per Python, one after the other, each in a venv of its own, as
    /// for `cargo xtask ci --python`: a version (3.12), a list (3.10,3.13), a path, or
    /// `all`.
    #[arg(long, value_name = "VERSIONS", conflicts_with = "cov")]
    pub python: Option<String>,
    /// Show everything the preparation runs and prints, not just a line per step.
    #[arg(short, long)]
    pub verbose: bool,
    #[command(flatten)]
    pub retries: Retries,
    /// Test files, folders or node ids to run, such as `tests/test_errors.py::test_x`,
    /// relative to the current folder.
    #[arg(value_name = "TESTS")]
    pub tests: Vec<String>,
    /// Arguments for pytest, after `--`: `-k EXPR`, `-x`, paths (relative to the current
    /// folder), ...
    #[arg(last = true, value_name = "PYTEST_ARGS")]
    pub pytest_args: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct Ci {
    /// Run the pytest stages once per Python, side by side, each in a venv of its own
    /// (target/xtask/venvs/): a version (3.12), a list (3.10,3.13), a path, or `all` (every
    /// version from requires-python to the newest found). Found on PATH, by uv, in pyenv's,
    /// mise's and asdf's folders; never downloaded.
    #[arg(long, value_name = "VERSIONS")]
    pub python: Option<String>,
    /// Test the release wheel as users install it (not editable, not the debug build): build
    /// and check it as `cargo xtask wheel` does, then install it into each Python lane's
    /// venv.
    #[arg(long)]
    pub wheel: bool,
    /// Seconds to wait for the server's `listening on` line.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        value_parser = ready_timeout,
        allow_hyphen_values = true
    )]
    pub ready_timeout: u64,
    /// Measure the Python package's line coverage over the three pytest stages, as for
    /// `cargo xtask pytest --cov`.
    #[arg(long)]
    pub cov: bool,
    /// Measure what the tests cover: the server, the transport and the bindings' extension
    /// built instrumented (in target/llvm-cov-target), the Rust tests' and the pytest stages'
    /// profiles kept apart, and the Python package through pytest-cov. Prints a table of
    /// lines and functions covered by the Rust tests, the Python tests and either; writes
    /// HTML and LCOV to target/xtask/coverage/; fails below a threshold. Needs llvm-cov and
    /// llvm-profdata of rustc's LLVM (`apt-get install llvm-22`, or rustup's llvm-tools).
    #[arg(long, conflicts_with_all = ["shard", "store_durations"])]
    pub coverage: bool,
    /// Stream every step's whole output as it comes, each line after its step's name,
    /// instead of a line per step.
    #[arg(short, long)]
    pub verbose: bool,
    /// Print the steps, with what each needs, in an order they can run in, and run
    /// nothing; with `--only`, those that would run (a dry run).
    #[arg(long)]
    pub list: bool,
    /// Run only this step and what it needs (and the cleanup of what they start), such as
    /// `--only pytest-unit`; repeat it for several. `--list` names the steps.
    #[arg(long, value_name = "STEP")]
    pub only: Vec<String>,
    /// Run the K-th of N shards of every test stage, such as `--shard 1/2`, as CI's shard
    /// jobs do: the Rust tests by nextest's `--partition slice:K/N`, each pytest stage by
    /// the recorded durations (pytest-split); the doctests run in shard 1. Each shard starts
    /// its own server; together the N shards run every test once.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Record every pytest test's duration into the bindings' `.test_durations`, which
    /// `--shard` splits by; commit the file.
    #[arg(long, conflicts_with = "shard")]
    pub store_durations: bool,
    /// Run only the steps and tests that the files changed since REF can affect (default:
    /// the merge base with the upstream branch, else HEAD; uncommitted and untracked files
    /// count), each step's line saying which change calls for it. A file that no route
    /// knows runs everything; the README lists the routes.
    #[arg(
        long,
        value_name = "REF",
        num_args = 0..=1,
        conflicts_with_all = ["list", "only", "store_durations", "cov"]
    )]
    pub changed: Option<Option<String>>,
    #[command(flatten)]
    pub retries: Retries,
    /// Run every step that can still run after a failure, instead of stopping at the
    /// first: only a step whose needs failed does not run (the pytest stages still need
    /// the server and the bindings). The summary shows each step's outcome.
    #[arg(long)]
    pub no_fail_fast: bool,
    /// Build what the test stages need and write it to DIR instead of testing: nextest's
    /// archives of the Rust tests, the release server, the bindings' release wheel and
    /// sdist, and a manifest with the commit and each file's sha256. Runs the doctests,
    /// which cannot travel. `--from DIR` tests it.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = [
            "from", "only", "shard", "store_durations", "cov", "coverage", "changed", "python",
            "wheel"
        ]
    )]
    pub archive: Option<Utf8PathBuf>,
    /// Run every test stage of the archive in DIR on this checkout, compiling nothing: the
    /// Rust tests from nextest's archives, pytest against the archive's server with its
    /// wheel installed into the venv. Refused if the archive is of another commit or
    /// target, or damaged.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = ["store_durations", "coverage", "changed"]
    )]
    pub from: Option<Utf8PathBuf>,
}

/// Retries of failed tests, for `ci` and `pytest`.
#[derive(Debug, Clone, Copy, Args)]
pub struct Retries {
    /// Run a failed test again, up to N times (nextest's retries, pytest-rerunfailures). A
    /// test that fails and then passes is flaky: named on a `flaky:` line with its
    /// attempts, counted, and recorded in the JUnit reports (`flakyFailure`).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// Fail the run when a test is flaky (it passed only on a retry).
    #[arg(long)]
    pub flaky_fails: bool,
}

/// `--port`: what a port is, said for `-1` or `70000` too (clap alone takes `-1` for a
/// flag).
fn port(text: &str) -> Result<u16, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a port: give 0 (any free port) to 65535"))
}

/// `--ready-timeout`: whole seconds, at least one; 0 would give up before the server
/// could print its first line.
fn ready_timeout(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("0 s leaves the server no time to start: give 1 or more seconds".to_owned()),
        Ok(seconds) => Ok(seconds),
        Err(_) => Err(format!(
            "`{text}` is not a number of seconds: give 1 or more, such as 30"
        )),
    }
}

/// One of N shards: `index` counts from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let parsed = text
            .split_once('/')
            .and_then(|(k, n)| Some((k.parse().ok()?, n.parse().ok()?)));
        match parsed {
            Some((index, count)) if (1..=count).contains(&index) => Ok(Shard { index, count }),
            _ => Err(format!(
                "`{text}` is not a shard: write K/N with 1 <= K <= N, such as 1/2"
            )),
        }
    }
}

#[derive(Debug, Args)]
pub struct Bench {
    /// Also show each median's change since the previous run (its latest.json).
    #[arg(long)]
    pub compare: bool,
    /// Show everything the steps run and print, not just a line per step.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct WorkflowLint {
    /// Folder whose .github/ to check, such as a copy with a change to try out. Default: the
    /// workspace root.
    #[arg(long, value_name = "DIR")]
    pub root: Option<Utf8PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct Lint {
    /// First apply what can be applied (clippy's machine-applicable fixes with `--fix
    /// --allow-dirty --allow-staged`, then rustfmt), then check.
    #[arg(long)]
    pub fix: bool,
    /// Stream every check's whole output as it comes, each line after its check's name.
    #[arg(short, long)]
    pub verbose: bool,
    /// Print the checks, with what each needs, and run nothing.
    #[arg(long)]
    pub list: bool,
    /// Run only this check and what it needs, such as `--only mypy`; repeat it for several.
    /// `--list` names the checks.
    #[arg(long, value_name = "CHECK", conflicts_with = "list")]
    pub only: Vec<String>,
}

#[derive(Debug, Args)]
pub struct Watch {
    /// Which tests to run after a change.
    #[arg(long, value_enum, value_name = "NAME", default_value = "fast")]
    pub suite: Suite,
    /// Stop the running tests when a file changes and start over, instead of letting the run
    /// finish and running again after it.
    #[arg(long)]
    pub restart: bool,
    /// Port for the warm server, kept when it restarts; 0 (the default) picks a free one.
    #[arg(long, default_value_t = 0, value_parser = port, allow_hyphen_values = true)]
    pub port: u16,
    /// Seconds to wait for the server's `listening on` line.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        value_parser = ready_timeout,
        allow_hyphen_values = true
    )]
    pub ready_timeout: u64,
    /// Test files, folders or node ids to run after each change instead of the whole
    /// suite, relative to the current folder.
    #[arg(value_name = "TESTS")]
    pub tests: Vec<String>,
    /// Arguments for pytest, after `--`: `-k EXPR`, `-x`, paths (relative to the current
    /// folder), ...
    #[arg(last = true, value_name = "PYTEST_ARGS")]
    pub pytest_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct Stress {
    /// The test: a Rust test (`BINARY_ID NAME`, or a unique part of its name) or a pytest
    /// node id.
    #[arg(value_name = "TEST")]
    pub test: String,
    /// How many times to run it.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub count: u32,
    /// Busy loops (`yes > /dev/null`) to run beside it, as a loaded machine would; xtask
    /// starts them and stops them when it ends.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub load: u32,
    /// Runs side by side. Default: the number of CPUs.
    #[arg(long, value_name = "J")]
    pub jobs: Option<u32>,
    /// Seconds to wait for a Python test's server's `listening on` line.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub ready_timeout: u64,
}

#[derive(Debug, Args)]
pub struct Flaky {
    /// How many of each commit's last runs to compare.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub runs: usize,
}

#[derive(Debug, Args)]
pub struct Wheel {
    /// Check this wheel instead of building one; the sdist is not checked.
    #[arg(long, value_name = "WHEEL")]
    pub check: Option<Utf8PathBuf>,
    /// Do not build a wheel from the sdist.
    #[arg(long, conflicts_with = "check")]
    pub no_sdist: bool,
}

#[derive(Debug, Args)]
pub struct JunitMerge {
    /// Folders of JUnit reports, such as the shards' downloaded artifacts.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<Utf8PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(args: &[&str]) -> String {
        let args = ["cargo xtask"].iter().chain(args);
        Xtask::try_parse_from(args).unwrap_err().to_string()
    }

    #[test]
    fn a_bad_port_or_timeout_says_what_to_give() {
        let negative = error_of(&["server", "--port", "-1"]);
        assert!(
            negative.contains("`-1` is not a port: give 0"),
            "{negative}"
        );
        let large = error_of(&["pytest", "--port", "70000"]);
        assert!(large.contains("`70000` is not a port"), "{large}");
        let zero = error_of(&["watch", "--ready-timeout", "0"]);
        assert!(zero.contains("give 1 or more seconds"), "{zero}");
        assert!(Xtask::try_parse_from(["cargo xtask", "server", "--port", "0"]).is_ok());
    }

    #[test]
    fn tests_only_and_list_parse() {
        let parsed =
            Xtask::try_parse_from(["cargo xtask", "ci", "--only", "pytest-unit", "--list"]);
        assert!(parsed.is_ok(), "{parsed:?}");
        let parsed =
            Xtask::try_parse_from(["cargo xtask", "pytest", "tests/test_a.py::t", "--", "-x"]);
        match parsed.unwrap().command {
            Command::Pytest(pytest) => {
                assert_eq!(pytest.tests, ["tests/test_a.py::t"]);
                assert_eq!(pytest.pytest_args, ["-x"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
