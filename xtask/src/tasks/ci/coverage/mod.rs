//! `cargo xtask ci --coverage`: the run instrumented, its profiles attributed to the Rust
//! tests or the pytest stages, and one report of both (a table, HTML, LCOV, thresholds).
//!
//! - `llvm`: finds `llvm-cov` and `llvm-profdata` of rustc's LLVM major version.
//! - `instrument`: the instrumented run's environment (cargo-llvm-cov's `show-env`) and where
//!   each side's profiles go.
//! - `report`: merges and reads the profiles (and coverage.py's data), writes HTML and LCOV.
//! - `table`: the table and the thresholds.

#[cfg(test)]
mod fixture_test;
mod instrument;
pub mod llvm;
mod report;
mod table;

use std::fmt::Write as _;

use crate::base::context::StepContext;
use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

pub use instrument::Profiles;
use report::Function;

use crate::base::paths;

/// The Rust tests that `ci --coverage` runs (a nextest filterset): the workspace's but
/// xtask's own, and of those the coverage fixture test. xtask's tests start xtask runs
/// that run the pytest suite against the server: counted as Rust tests, they would hide
/// what only the Python tests reach. A plain `ci` runs them all.
pub const RUST_TESTS_FILTER: &str = "not package(xtask) | test(/::coverage::fixture_test::/)";

/// Why `ci --coverage` runs none of xtask's tests that need the venv.
pub const XTASK_TESTS_LEFT_OUT: &str =
    "not with --coverage: they run the pytest suite, which would count as Rust tests";

/// In `ci --coverage`, before anything runs: this run's profiles if it is the instrumented
/// run (an earlier run's profiles removed); otherwise the LLVM tools are found and this
/// command runs again as the instrumented run, in place of this one.
pub fn instrumented_run(sh: &StepContext, python: Option<&str>) -> Result<Profiles> {
    if let Some(profiles) = Profiles::of_this_run() {
        profiles.clear()?;
        return Ok(profiles);
    }
    let tools = llvm::find(sh)?;
    match instrument::exec_instrumented(sh, &tools, python)? {}
}

/// What ran instrumented, for llvm-cov: the server and the bindings' extension, then the
/// test executables, as the instrumented build made them. In this order because llvm-cov
/// keeps the first object's record of a symbol, and a test executable holds unused copies
/// (no counters) of the symbols that keep their name, such as `#[no_mangle]` functions.
pub fn objects(test_executables: &[Utf8PathBuf]) -> Result<Vec<Utf8PathBuf>> {
    // This is the instrumented run: its target dir is the instrumented one.
    let debug = paths::target_dir()?.join("debug");
    let library = if cfg!(target_os = "macos") {
        "libsimd_r_drive_ws_client.dylib"
    } else {
        "libsimd_r_drive_ws_client.so"
    };
    let built = [
        debug.join(crate::server::test_server::SERVER_PACKAGE),
        debug.join(library),
    ];
    Ok(built
        .into_iter()
        .chain(test_executables.iter().cloned())
        .collect())
}

/// The server that the pytest stages tested has written its profile: it exited through
/// `main`'s return, as it does on SIGTERM and when its owner's pipe closes (a SIGKILL
/// would have left none, and the Python side's figures would silently miss it).
pub fn check_server_profile(profiles: &Profiles, pid: u32) -> Result<()> {
    let profile = profiles.server_profile(pid);
    anyhow::ensure!(
        profile.is_file(),
        "the server (pid {pid}) wrote no coverage profile ({}): it did not exit through \
         main's return",
        paths::display_path(&profile)
    );
    Ok(())
}

/// Prints the table, and adds it to GitHub's step summary when there is one.
pub fn show_table(table: &str) -> Result<()> {
    crate::errln!("{table}");
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .context("cannot open GITHUB_STEP_SUMMARY")?;
        writeln!(file, "## Coverage\n\n{table}\n").context("cannot write GITHUB_STEP_SUMMARY")?;
    }
    Ok(())
}

/// A run's report: the table, and the threshold it fell below, if any.
pub struct Summary {
    pub table: String,
    pub below: Option<String>,
}

/// Reads both sides' profiles and coverage.py's `python_data`, writes the reports into
/// `target/xtask/coverage/` (`index.html` links llvm-cov's and coverage.py's HTML), and
/// returns the table.
pub fn report(
    sh: &StepContext,
    profiles: &Profiles,
    objects: Vec<Utf8PathBuf>,
    python_data: &Utf8Path,
) -> Result<Summary> {
    let tools = llvm::find(sh)?;
    let out = paths::xtask_dir()?.join("coverage");
    for dir in ["rust", "python"] {
        let _ = std::fs::remove_dir_all(out.join(dir));
    }
    let root = paths::project_root();
    let crates = report::RUST_CRATES
        .iter()
        .map(|(name, dir)| ((*name).to_owned(), root.join(dir)))
        .collect();
    let inputs = report::RustInputs {
        tools: &tools,
        profiles,
        objects,
        crates,
        out: out.clone(),
    };
    let rust = report::rust(sh, &inputs)?;
    let (python, python_threshold) = report::python(sh, python_data, &out)?;
    let thresholds = table::Thresholds {
        rust: table::rust_threshold(sh)?,
        python: python_threshold,
    };
    let python = [python];
    let table = table::render(&rust.rows, &python);
    write_pages(&out, &table, &rust.functions)?;
    Ok(Summary {
        below: table::below(&rust.rows, &python, thresholds),
        table: format!(
            "{table}\n\nReports: {} (HTML), {} and {} (LCOV); functions by who reaches them: {}",
            paths::display_path(&out.join("index.html")),
            paths::display_path(&out.join("rust.lcov")),
            paths::display_path(&out.join("python.lcov")),
            paths::display_path(&out.join("functions.md")),
        ),
    })
}

/// `index.html`, linking both HTML reports under the table, and `functions.md`, the Rust
/// functions that only the Python tests reach and those that no test reaches.
fn write_pages(out: &Utf8Path, table: &str, functions: &[Function]) -> Result<()> {
    let escaped = table.replace('&', "&amp;").replace('<', "&lt;");
    let index = format!(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>coverage</title>\n\
         <h1>Coverage of cargo xtask ci --coverage</h1>\n<pre>{escaped}</pre>\n<ul>\n\
         <li><a href=\"rust/index.html\">Rust: the server, the transport and the bindings' \
         extension (llvm-cov)</a></li>\n\
         <li><a href=\"python/index.html\">Python: the bindings' package (coverage.py)</a></li>\n\
         <li><a href=\"functions.md\">Rust functions by who reaches them</a></li>\n</ul>\n"
    );
    let index_path = out.join("index.html");
    std::fs::write(&index_path, index).with_context(|| format!("cannot write {index_path}"))?;
    let mut page = String::from("# Rust functions by who reaches them\n");
    type Keep = fn(&Function) -> bool;
    let groups: [(&str, Keep); 2] = [
        ("Reached only by the Python tests", |f| {
            f.by_python > 0 && f.by_rust == 0
        }),
        ("Reached by no test", |f| f.by_python == 0 && f.by_rust == 0),
    ];
    for (title, keep) in groups {
        let _ = writeln!(page, "\n## {title}\n");
        for function in functions.iter().filter(|f| keep(f)) {
            let file = paths::display_path(&function.file);
            let _ = writeln!(page, "- `{}` ({file})", function.name);
        }
    }
    let functions_path = out.join("functions.md");
    std::fs::write(&functions_path, page).with_context(|| format!("cannot write {functions_path}"))
}
