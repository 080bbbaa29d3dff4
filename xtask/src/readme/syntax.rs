//! What `extract` gives a Python to parse (`syntax_check.py`), and what it makes of the
//! answer: a README block's syntax error named at its README line when the tests are
//! written, rather than by pytest after a build and a server start.

use camino::Utf8Path;
use serde_json::Value;

use super::plan::Test;

/// The script, from the workspace root; run as a file, so that its command line echoes
/// short. Needs only the standard library.
pub const SCRIPT: &str = "xtask/src/readme/syntax_check.py";
/// The script's exit code when the Python is older than the bindings' oldest (3.10).
pub const TOO_OLD: u8 = 3;

/// The script's input: `[first line, source]` of each block a test runs as a module; not
/// sessions (doctest reads those), nor blocks the README marks `skip` or `xfail` (which
/// may fail on purpose).
pub fn input(tests: &[Test]) -> String {
    let runs = tests
        .iter()
        .filter(|test| !test.session && test.skip.is_none() && !test.xfail);
    let code = runs.flat_map(|test| test.setup.iter().chain([&test.block]));
    let blocks: Vec<Value> = code
        .map(|block| {
            Value::from(vec![
                Value::from(block.first_line()),
                block.text.clone().into(),
            ])
        })
        .collect();
    Value::from(blocks).to_string()
}

/// The first syntax error the script reported, as `README.md:7: Python syntax error: ...`.
pub fn first_error(output: &str, shown: &Utf8Path) -> Option<String> {
    let error = output
        .lines()
        .find_map(|line| serde_json::from_str::<Value>(line).ok())?;
    let line = error["line"].as_u64().unwrap_or(0);
    let message = error["message"].as_str().unwrap_or("invalid syntax");
    let text = error["text"].as_str().unwrap_or("").trim();
    Some(format!(
        "{shown}:{line}: Python syntax error: {message}: `{text}`"
    ))
}

#[cfg(test)]
mod tests {
    use super::super::{items, plan};
    use super::*;

    #[test]
    fn the_input_holds_the_blocks_that_run_as_modules_with_their_lines() {
        let md = "# T\n\n```python\nx = 1\n```\n\n```python skip\nnot python\n```\n\n\
                  ```python\n>>> 1\n1\n```\n";
        let tests = items::parse(md).and_then(plan::plan).unwrap();
        assert_eq!(input(&tests), r#"[[4,"x = 1\n"]]"#);
    }

    #[test]
    fn the_first_reported_error_names_its_readme_line() {
        let output = "{\"line\": 7, \"message\": \"'(' was never closed\", \"text\": \"y = (\\n\"}\n\
                      {\"line\": 9, \"message\": \"x\", \"text\": \"\"}\n";
        assert_eq!(
            first_error(output, Utf8Path::new("README.md")).unwrap(),
            "README.md:7: Python syntax error: '(' was never closed: `y = (`"
        );
        assert_eq!(first_error("", Utf8Path::new("README.md")), None);
    }
}
