//! The README compiler: turns the Python examples of a Markdown file into a pytest file.
//! Its stages are its modules: `markdown` reads the document with pulldown-cmark (and
//! `info` the fences' info strings), `items` adds the directives of its comments
//! (`directive`), `plan` decides the tests, `write` writes the file around `runtime.py`,
//! which records each README test's lines for `cargo xtask ci` to point at; `extract`
//! brings a README's test file up to date.

mod directive;
pub mod extract;
mod info;
mod items;
mod markdown;
mod plan;
mod write;

pub use write::GENERATED;

use anyhow::{Context, Result, anyhow, bail};
use camino::Utf8Path;

/// The pytest file for the README at `path`, shown in it and in tracebacks as `shown`;
/// marked with `marker` if one is given. A mistake in the README is an error naming its
/// line.
pub fn compile(path: &Utf8Path, shown: &Utf8Path, marker: Option<&str>) -> Result<String> {
    let markdown =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the README {path}"))?;
    let tests = items::parse(&markdown)
        .and_then(plan::plan)
        .map_err(|e| anyhow!("{shown}:{}: {}", e.line, e.message))?;
    if tests.is_empty() {
        bail!("{shown} has no ```python block: nothing to test");
    }
    Ok(write::test_file(shown, &tests, marker))
}
