//! What a coverage run measured. For the Rust crates, the profiles are merged three ways
//! (the Rust tests', the pytest stages', both) and each read with `llvm-cov export`, so that
//! every line and function is attributed; the HTML and the LCOV come from both together.
//! For the Python package, coverage.py's data from the pytest stages.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;
use xshell::cmd;

use crate::base::context::StepContext;

use super::instrument::Profiles;
use super::llvm::Tools;
use crate::base::paths;
use crate::base::process::{Job, Sink};
use crate::python::venv;

/// The Rust crates measured: a row each, named as cargo names them, with the folder of
/// their sources (tests and examples are not measured, only what they exercise).
pub const RUST_CRATES: [(&str, &str); 3] = [
    (
        "simd-r-drive-ws-server",
        "experiments/simd-r-drive-ws-server/src",
    ),
    (
        "simd-r-drive-ws-transport",
        "experiments/bindings/ws-transport/src",
    ),
    (
        "simd-r-drive-ws-client (Rust)",
        "experiments/bindings/python-ws-client/src",
    ),
];

/// `covered` of `count`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    pub covered: u64,
    pub count: u64,
}

impl Ratio {
    pub fn percent(self) -> f64 {
        if self.count == 0 {
            100.0
        } else {
            100.0 * self.covered as f64 / self.count as f64
        }
    }

    fn add(&mut self, other: Ratio) {
        self.covered += other.covered;
        self.count += other.count;
    }
}

/// Which tests a figure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Rust,
    Python,
    Either,
}

pub const BY: [By; 3] = [By::Rust, By::Python, By::Either];

/// Lines and functions of a crate or package, by the tests that reached them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    /// Indexed like [`BY`]; a Python package has only `Python`, repeated.
    pub lines: [Ratio; 3],
    pub functions: [Ratio; 3],
}

/// A Rust function and how often each side's tests called it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Demangled, without the hash.
    pub name: String,
    pub file: Utf8PathBuf,
    pub by_rust: u64,
    pub by_python: u64,
}

/// The Rust side of a run.
#[derive(Debug, Default)]
pub struct Rust {
    pub rows: Vec<Row>,
    pub functions: Vec<Function>,
}

/// Where the Rust profiles are read and the reports written.
pub struct RustInputs<'a> {
    pub tools: &'a Tools,
    pub profiles: &'a Profiles,
    /// Every instrumented executable and library that ran.
    pub objects: Vec<Utf8PathBuf>,
    /// The crates: a name and the folder of its sources each.
    pub crates: Vec<(String, Utf8PathBuf)>,
    /// Where the profdata, HTML (`rust/`) and LCOV (`rust.lcov`) go.
    pub out: Utf8PathBuf,
}

/// Merges, attributes and writes the Rust reports.
pub fn rust(sh: &StepContext, inputs: &RustInputs<'_>) -> Result<Rust> {
    let rust = merge(sh, inputs, &inputs.profiles.rust(), "rust")?;
    let python = merge(sh, inputs, &inputs.profiles.python(), "python")?;
    let both = inputs.out.join("all.profdata");
    let profdata = &inputs.tools.llvm_profdata;
    Job::new(
        sh,
        cmd!(sh, "{profdata} merge -sparse {rust} {python} -o {both}"),
    )
    .run()
    .context("cannot merge the two sides' profiles")?;
    let exports = [&rust, &python, &both].map(|profile| export(sh, inputs, profile));
    let [by_rust, by_python, by_either] = exports;
    let (by_rust, by_python, by_either) = (by_rust?, by_python?, by_either?);
    let rows = inputs
        .crates
        .iter()
        .map(|(name, dir)| {
            let mut row = Row {
                name: name.clone(),
                ..Row::default()
            };
            for (i, export) in [&by_rust, &by_python, &by_either].into_iter().enumerate() {
                let (lines, functions) = summary_under(export, dir);
                row.lines[i] = lines;
                row.functions[i] = functions;
            }
            row
        })
        .collect();
    let functions = attribute(&by_rust, &by_python, &inputs.crates);
    write_html_and_lcov(sh, inputs, &both)?;
    Ok(Rust { rows, functions })
}

/// One side's profiles merged into `out/NAME.profdata`.
fn merge(
    sh: &StepContext,
    inputs: &RustInputs<'_>,
    dir: &Utf8Path,
    name: &str,
) -> Result<Utf8PathBuf> {
    let mut raw: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {dir}"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "profraw") {
            raw.push(path.to_string_lossy().into_owned());
        }
    }
    if raw.is_empty() {
        bail!(
            "no profiles in {}: no instrumented process of the {name} side ran",
            paths::display_path(dir)
        );
    }
    std::fs::create_dir_all(&inputs.out)
        .with_context(|| format!("cannot create {}", inputs.out))?;
    // A list file: the Rust tests leave a profile per test process, too many for one command.
    let list = inputs.out.join(format!("{name}.profraw-list"));
    std::fs::write(&list, raw.join("\n")).with_context(|| format!("cannot write {list}"))?;
    let merged = inputs.out.join(format!("{name}.profdata"));
    let profdata = &inputs.tools.llvm_profdata;
    Job::new(
        sh,
        cmd!(sh, "{profdata} merge -sparse -f {list} -o {merged}"),
    )
    .note(format!("{} profiles", raw.len()))
    .run()
    .with_context(|| format!("cannot merge the {name} side's profiles"))?;
    Ok(merged)
}

/// `-object A -object B ...` after the first object, then the source folders.
fn object_args(inputs: &RustInputs<'_>) -> Vec<String> {
    let mut args = Vec::new();
    for (i, object) in inputs.objects.iter().enumerate() {
        if i > 0 {
            args.push("-object".to_owned());
        }
        args.push(object.to_string());
    }
    args.extend(inputs.crates.iter().map(|(_, dir)| dir.to_string()));
    args
}

/// `llvm-cov export` of the crates' sources with `profile`, as JSON.
fn export(sh: &StepContext, inputs: &RustInputs<'_>, profile: &Utf8Path) -> Result<Value> {
    let llvm_cov = &inputs.tools.llvm_cov;
    let args = object_args(inputs);
    let json = Job::new(
        sh,
        cmd!(
            sh,
            "{llvm_cov} export -format=text -skip-expansions -instr-profile={profile} {args...}"
        ),
    )
    .read()
    .with_context(|| format!("llvm-cov cannot read {}", paths::display_path(profile)))?;
    serde_json::from_str(&json).context("cannot read llvm-cov's JSON export")
}

/// The lines and functions of the files under `dir`, from an export's file summaries.
fn summary_under(export: &Value, dir: &Utf8Path) -> (Ratio, Ratio) {
    let (mut lines, mut functions) = (Ratio::default(), Ratio::default());
    for file in files(export) {
        let name = file["filename"].as_str().unwrap_or_default();
        if !Utf8Path::new(name).starts_with(dir) {
            continue;
        }
        lines.add(ratio(&file["summary"]["lines"]));
        functions.add(ratio(&file["summary"]["functions"]));
    }
    (lines, functions)
}

fn files(export: &Value) -> impl Iterator<Item = &Value> {
    let data = export["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    data.iter()
        .flat_map(|d| d["files"].as_array().map(Vec::as_slice).unwrap_or_default())
}

fn ratio(summary: &Value) -> Ratio {
    Ratio {
        covered: summary["covered"].as_u64().unwrap_or(0),
        count: summary["count"].as_u64().unwrap_or(0),
    }
}

/// Every function of the crates with its calls by each side, in file and line order. A
/// function is its place in the source, as llvm-cov's report counts it: the copies that
/// several binaries hold and a generic's instantiations are one function, reached when any
/// of them is; its name is the shortest of theirs.
fn attribute(
    by_rust: &Value,
    by_python: &Value,
    crates: &[(String, Utf8PathBuf)],
) -> Vec<Function> {
    type Place = (Utf8PathBuf, u64, u64);
    let mut found: BTreeMap<Place, Function> = BTreeMap::new();
    for (side, export) in [by_rust, by_python].into_iter().enumerate() {
        let data = export["data"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for function in data
            .iter()
            .flat_map(|d| d["functions"].as_array().into_iter().flatten())
        {
            let file = Utf8PathBuf::from(function["filenames"][0].as_str().unwrap_or_default());
            if !crates.iter().any(|(_, dir)| file.starts_with(dir)) {
                continue;
            }
            let start = &function["regions"][0];
            let place = (
                file.clone(),
                start[0].as_u64().unwrap_or(0),
                start[1].as_u64().unwrap_or(0),
            );
            let name = demangle(function["name"].as_str().unwrap_or_default());
            let count = function["count"].as_u64().unwrap_or(0);
            let entry = found.entry(place).or_insert_with(|| Function {
                name: name.clone(),
                file,
                by_rust: 0,
                by_python: 0,
            });
            if name.len() < entry.name.len() {
                entry.name = name;
            }
            if side == 0 {
                entry.by_rust += count;
            } else {
                entry.by_python += count;
            }
        }
    }
    found.into_values().collect()
}

/// A Rust symbol as people read it, for the list of functions: its identifiers joined by
/// `::`, without hashes and crate disambiguators (`_RNvNtCs1a_5crate6module4name` and
/// `_ZN5crate6module4name17h0123456789abcdefE` → `crate::module::name`). Not a full
/// demangler: the types of an impl's generic arguments are left out. llvm-cov's export does
/// not demangle, and its `-Xdemangler` needs a tool that rustup's component lacks.
pub fn demangle(symbol: &str) -> String {
    // llvm-cov prefixes the file of a function that is local to it: `file.rs:_R...`.
    let symbol = symbol.rsplit(':').next().unwrap_or(symbol);
    let (idents, legacy) = if let Some(rest) = symbol.strip_prefix("_R") {
        (v0_identifiers(rest), false)
    } else if let Some(rest) = symbol.strip_prefix("_ZN") {
        (legacy_identifiers(rest), true)
    } else {
        return symbol.to_owned();
    };
    let joined = idents.join("::");
    if !legacy {
        return joined;
    }
    [
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$u20$", " "),
        ("$RF$", "&"),
        ("$C$", ","),
        ("..", "::"),
        ("$u7b$", "{"),
        ("$u7d$", "}"),
    ]
    .iter()
    .fold(joined, |text, (from, to)| text.replace(from, to))
}

/// The identifiers of a legacy symbol's path, without the trailing hash.
fn legacy_identifiers(mut rest: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    while let Some((len, after)) = decimal(rest) {
        let Some(part) = after.get(..len) else { break };
        // A part that starts with `$` is mangled with a `_` before it.
        parts.push(
            part.strip_prefix('_')
                .filter(|p| p.starts_with('$'))
                .unwrap_or(part),
        );
        rest = &after[len..];
    }
    let is_hash = |part: &str| {
        part.len() == 17
            && part.starts_with('h')
            && part[1..].chars().all(|c| c.is_ascii_hexdigit())
    };
    if parts.last().is_some_and(|last| is_hash(last)) {
        parts.pop();
    }
    parts
}

/// The identifiers of a v0 symbol, in order: each `<length>[_]<bytes>`, skipping the
/// disambiguators (`s<base62>_`), back-references (`B<base62>_`) and lifetimes
/// (`L<base62>_`), and every tag letter.
fn v0_identifiers(mut rest: &str) -> Vec<&str> {
    let mut idents = Vec::new();
    while let Some(c) = rest.chars().next() {
        if let Some((len, after)) = decimal(rest) {
            let after = after.strip_prefix('_').unwrap_or(after);
            let Some(ident) = after.get(..len) else { break };
            // A closure's identifier is empty.
            idents.push(if ident.is_empty() { "{closure}" } else { ident });
            rest = &after[len..];
        } else if matches!(c, 's' | 'B' | 'L') {
            let base62 = rest[1..].find(|c: char| !c.is_ascii_alphanumeric());
            match base62.filter(|&end| rest[1 + end..].starts_with('_')) {
                Some(end) => rest = &rest[end + 2..],
                None => rest = &rest[1..],
            }
        } else {
            rest = &rest[c.len_utf8()..];
        }
    }
    idents
}

/// A decimal number at the start of `text`, and what follows it.
fn decimal(text: &str) -> Option<(usize, &str)> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    Some((text[..end].parse().ok()?, &text[end..]))
}

/// The HTML (`out/rust/index.html`) and LCOV (`out/rust.lcov`) of both sides together.
fn write_html_and_lcov(
    sh: &StepContext,
    inputs: &RustInputs<'_>,
    profile: &Utf8Path,
) -> Result<()> {
    let llvm_cov = &inputs.tools.llvm_cov;
    let args = object_args(inputs);
    let args = args.as_slice();
    let html = inputs.out.join("rust");
    Job::new(sh, cmd!(
        sh,
        "{llvm_cov} show -format=html -show-instantiations=false -output-dir={html} -instr-profile={profile} {args...}"
    ))
    .run()
    .context("llvm-cov cannot write the HTML report")?;
    let lcov = inputs.out.join("rust.lcov");
    let file = std::fs::File::create(&lcov).with_context(|| format!("cannot create {lcov}"))?;
    Job::new(
        sh,
        cmd!(
            sh,
            "{llvm_cov} export -format=lcov -instr-profile={profile} {args...}"
        ),
    )
    .stdout(Sink::File(file))
    .run()
    .context("llvm-cov cannot write the LCOV report")
}

/// The Python package's row, and its HTML (`out/python/`), LCOV and JSON, from the data
/// the pytest stages gathered in `data` (`COVERAGE_FILE`); and its `fail_under`.
pub fn python(sh: &StepContext, data: &Utf8Path, out: &Utf8Path) -> Result<(Row, f64)> {
    let python = venv::python();
    let _dir = sh.push_dir(paths::bindings_dir());
    let html = out.join("python");
    let lcov = out.join("python.lcov");
    let json = out.join("python.json");
    let xml = out.join("python.xml");
    for command in [
        cmd!(sh, "{python} -m coverage html --fail-under=0 -q -d {html}"),
        cmd!(sh, "{python} -m coverage lcov --fail-under=0 -q -o {lcov}"),
        cmd!(sh, "{python} -m coverage xml --fail-under=0 -q -o {xml}"),
        cmd!(sh, "{python} -m coverage json --fail-under=0 -q -o {json}"),
    ] {
        Job::new(sh, command)
            .env("COVERAGE_FILE", data)
            .run()
            .context("coverage.py cannot write its reports")?;
    }
    let text = std::fs::read_to_string(&json).with_context(|| format!("cannot read {json}"))?;
    let row = python_row(&serde_json::from_str(&text).context("cannot read coverage.py's JSON")?);
    let script = "import coverage; print(coverage.Coverage().config.fail_under)";
    let fail_under = Job::new(sh, cmd!(sh, "{python} -c {script}"))
        .read()
        .context("cannot read coverage.py's fail_under")?;
    let fail_under = fail_under
        .trim()
        .parse()
        .context("coverage.py's fail_under is not a number")?;
    Ok((row, fail_under))
}

/// The package's lines and functions (a function counts as covered when one of its
/// lines ran), from coverage.py's JSON report.
fn python_row(report: &Value) -> Row {
    let mut lines = Ratio::default();
    let mut functions = Ratio::default();
    let files = report["files"].as_object().into_iter().flatten();
    for (_, file) in files {
        lines.add(Ratio {
            covered: file["summary"]["covered_lines"].as_u64().unwrap_or(0),
            count: file["summary"]["num_statements"].as_u64().unwrap_or(0),
        });
        let named = file["functions"].as_object().into_iter().flatten();
        for (name, function) in named.filter(|(name, _)| !name.is_empty()) {
            let _ = name;
            let statements = function["summary"]["num_statements"].as_u64().unwrap_or(0);
            let covered = function["summary"]["covered_lines"].as_u64().unwrap_or(0);
            if statements > 0 {
                functions.add(Ratio {
                    covered: u64::from(covered > 0),
                    count: 1,
                });
            }
        }
    }
    Row {
        name: "simd_r_drive_ws_client (Python)".to_owned(),
        lines: [lines; 3],
        functions: [functions; 3],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_symbols_are_demangled_without_their_hash() {
        assert_eq!(
            demangle("_ZN22simd_r_drive_ws_server8handlers5batch17h0123456789abcdefE"),
            "simd_r_drive_ws_server::handlers::batch"
        );
        assert_eq!(
            demangle("src/lib.rs:_ZN7fixture17called_by_nothing17h0123456789abcdefE"),
            "fixture::called_by_nothing"
        );
        assert_eq!(
            demangle(
                "_ZN50_$LT$x..Store$u20$as$u20$core..ops..drop..Drop$GT$4drop17h0123456789abcdefE"
            ),
            "<x::Store as core::ops::drop::Drop>::drop"
        );
        assert_eq!(demangle("called_from_python"), "called_from_python");
        assert_eq!(
            demangle("_RNvNtCs7H1TyBeb74n_16coverage_fixture5testss_13the_rust_side"),
            "coverage_fixture::tests::the_rust_side"
        );
        assert_eq!(
            demangle("src/lib.rs:_RNvCs89NPeV4Kusu_16coverage_fixture17called_by_nothing"),
            "coverage_fixture::called_by_nothing"
        );
    }

    #[test]
    fn a_python_function_counts_once_and_as_covered_when_a_line_ran() {
        let report: Value = serde_json::from_str(
            r#"{"files": {"a.py": {"summary": {"covered_lines": 8, "num_statements": 10},
                "functions": {"": {"summary": {"covered_lines": 2, "num_statements": 2}},
                    "f": {"summary": {"covered_lines": 3, "num_statements": 4}},
                    "g": {"summary": {"covered_lines": 0, "num_statements": 4}}}}}}"#,
        )
        .unwrap();
        let row = python_row(&report);
        assert_eq!(
            row.lines[0],
            Ratio {
                covered: 8,
                count: 10
            }
        );
        assert_eq!(
            row.functions[0],
            Ratio {
                covered: 1,
                count: 2
            }
        );
    }
}
