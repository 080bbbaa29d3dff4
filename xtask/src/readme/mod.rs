//! The README compiler: turns the Python examples of a Markdown file into a pytest file.
//! Its stages are its modules: `markdown` reads the document with pulldown-cmark (and
//! `info` the fences' info strings), `items` adds the directives of its comments
//! (`directive`), `plan` decides the tests, `write` writes the file around `runtime.py`,
//! which records each README test's lines for `cargo xtask ci` to point at; `syntax`
//! hands the blocks to a Python to parse (`syntax_check.py`) and reads its answer;
//! `extract` brings a README's test file up to date.

mod directive;
pub mod extract;
mod info;
mod items;
mod markdown;
mod plan;
mod syntax;
mod write;

pub use syntax::{SCRIPT as SYNTAX_CHECK, TOO_OLD as SYNTAX_CHECK_TOO_OLD};
pub use write::GENERATED;

use anyhow::{Context, Result, anyhow, bail};
use camino::{Utf8Path, Utf8PathBuf};

/// A README compiled: its pytest file, and what a Python is given to parse its blocks.
pub struct Compiled {
    pub test_file: String,
    /// The input of [`SYNTAX_CHECK`]: the blocks that run as modules, with their lines.
    pub syntax_check_input: String,
    shown: Utf8PathBuf,
}

impl Compiled {
    /// The first syntax error in the output of [`SYNTAX_CHECK`], at its README line.
    pub fn syntax_error(&self, output: &str) -> Option<String> {
        syntax::first_error(output, &self.shown)
    }
}

/// The pytest file for the README at `path`, shown in it and in tracebacks as `shown`;
/// marked with `marker` if one is given. A mistake in the README is an error naming its
/// line.
pub fn compile(path: &Utf8Path, shown: &Utf8Path, marker: Option<&str>) -> Result<Compiled> {
    let markdown =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the README {path}"))?;
    let tests = items::parse(&markdown)
        .and_then(plan::plan)
        .map_err(|e| anyhow!("{shown}:{}: {}", e.line, e.message))?;
    if tests.is_empty() {
        bail!("{shown} has no ```python block: nothing to test");
    }
    Ok(Compiled {
        test_file: write::test_file(shown, &tests, marker),
        syntax_check_input: syntax::input(&tests),
        shown: shown.to_owned(),
    })
}
