//! `cargo xtask extract` end to end: the generated tests run under pytest, a failing README
//! block is reported with the README's path and its own line number, and each directive
//! (`output`, hidden setup, `xfail`, reset, names, errors) does what the README promises.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::scratch_dir;

const README: &str = "# Demo

```python
from __future__ import annotations
import dataclasses

@dataclasses.dataclass
class Point:
    x: int
    y: int

LIMIT = 3

def within(p: Point) -> bool:
    return p.x < LIMIT

assert within(Point(1, 2))
print(\"héllo ✓ 日本\")
```

```py continue
assert within(Point(2, 0)) and LIMIT == 3
```

```python skip
raise SystemExit(\"never runs\")
```

```sh
exit 1
```

1. In a list:

   ```python3
   x = 1
   y = 0
   z = x / y
   ```

~~~py
import asyncio
await asyncio.sleep(0)
~~~
";

/// README line of `z = x / y`.
const FAILING_LINE: usize = 38;

fn extract(readme: &Path, out: &Path, extra: &[&str]) -> Output {
    common::xtask()
        .arg("extract")
        .arg("--readme")
        .arg(readme)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// A Python that can import pytest (see `common::python_with`).
fn python_with_pytest() -> PathBuf {
    common::python_with("pytest")
}

#[test]
fn generated_file_is_deterministic_and_checked() {
    let dir = scratch_dir("extract");
    let (readme, out) = (dir.join("README.md"), dir.join("test_readme.py"));
    std::fs::write(&readme, README).unwrap();
    assert!(extract(&readme, &out, &[]).status.success());
    let first = std::fs::read(&out).unwrap();
    assert!(extract(&readme, &out, &["--check"]).status.success());
    assert!(extract(&readme, &out, &[]).status.success());
    assert_eq!(
        first,
        std::fs::read(&out).unwrap(),
        "same README, same bytes"
    );
    assert!(
        String::from_utf8(first).unwrap().contains("héllo ✓ 日本"),
        "non-ASCII is kept"
    );

    std::fs::write(&readme, README.replace("LIMIT = 3", "LIMIT = 4")).unwrap();
    let check = extract(&readme, &out, &["--check"]);
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success());
    let fix = format!(
        "is stale: run `cargo xtask extract --readme {} --out {}`",
        readme.display(),
        out.display()
    );
    assert!(stderr.contains(&fix), "{stderr}");
}

#[test]
fn nothing_to_extract_is_an_error_and_writes_nothing() {
    let dir = scratch_dir("extract-none");
    let (readme, out) = (dir.join("README.md"), dir.join("test_readme.py"));
    let missing = extract(&readme, &out, &[]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the README"));
    std::fs::write(&readme, "# No Python\n\n```sh\nls\n```\n").unwrap();
    let none = extract(&readme, &out, &[]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("has no ```python block"));
    assert!(!out.exists());
}

#[test]
fn a_failed_write_leaves_no_temp_file() {
    let dir = scratch_dir("extract-unwritable");
    let (readme, out) = (dir.join("README.md"), dir.join("a-folder"));
    std::fs::write(&readme, "```python\nx = 1\n```\n").unwrap();
    std::fs::create_dir(&out).unwrap();
    let output = extract(&readme, &out, &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot write"), "{stderr}");
    let mut left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["README.md", "a-folder"]);
}

#[test]
fn failing_block_names_readme_path_and_line() {
    let python = python_with_pytest();
    let dir = scratch_dir("readme-run");
    let (readme, out) = (dir.join("README.md"), dir.join("test_readme.py"));
    std::fs::write(&readme, README).unwrap();
    assert!(extract(&readme, &out, &[]).status.success());
    // Run from elsewhere: the file is self-contained.
    let (code, stdout) = pytest(&python, &out, &["-rs", "--tb=long"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("1 failed, 3 passed, 1 skipped"), "{stdout}");
    assert!(stdout.contains("skipped in README"), "{stdout}");
    // Pytest shows the path relative to its directory.
    let folder = dir.file_name().unwrap().to_string_lossy();
    let location = format!("{folder}/README.md:{FAILING_LINE}: ZeroDivisionError");
    assert!(
        stdout.contains(&location),
        "expected {location} in:\n{stdout}"
    );
    assert!(
        stdout.contains(">   z = x / y"),
        "the README line is shown:\n{stdout}"
    );
    let quoted = stdout.split("README.md:").next().unwrap();
    assert!(
        quoted.contains("    x = 1\n") && !quoted.contains("LIMIT = 3"),
        "the failing block is quoted from its first line, and no earlier block is:\n{stdout}"
    );

    // Alone, a `continue` block replays the block it continues.
    let (code, alone) = pytest(&python, &out, &["-k", "block_2"]);
    assert_eq!(code, Some(0), "{alone}");
}

/// Runs pytest on a generated file from a folder of its own; `(exit code, stdout)`.
/// Without the venv's plugins (xdist, cov, benchmark...): a generated file needs none, and
/// loading them is a tenth of a second of each of these many runs.
fn pytest(python: &Path, file: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(python)
        .env("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        .args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-rxX",
            "--tb=short",
        ])
        .args(extra)
        .arg(file)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code(), stdout)
}

const DIRECTIVES: &str = r#"# Directives

<!-- xtask: setup
```python
import json
GREETING = "hi"
```
-->

```python
print(json.dumps({"greeting": GREETING}))
print("trailing spaces   ")
```

```output
{"greeting": "hi"}
trailing spaces
```

## Wrong output

```python
for n in range(3):
    print("line", n)
```

```output
line 0
line one
line 2
```

## Fails as promised

```python xfail
partial = True
raise KeyError("expected")
```

```python continue
assert partial
```

## Passes, though it should fail

```python xfail
assert True
```

## Reset

```python
leftover = 1
```

<!-- xtask: reset -->

```python
assert "leftover" not in globals() and "GREETING" not in globals()
```

## Broken setup

<!-- xtask: setup
```python
raise RuntimeError("setup broke")
```
-->

```python
print("never runs")
```
"#;

/// The README line of `needle`, 1-based.
fn line_of(markdown: &str, needle: &str) -> usize {
    markdown.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn directives_run_as_documented() {
    let python = python_with_pytest();
    let dir = scratch_dir("directives");
    let (readme, out) = (dir.join("README.md"), dir.join("test_directives.py"));
    std::fs::write(&readme, DIRECTIVES).unwrap();
    let extracted = extract(&readme, &out, &[]);
    assert!(
        extracted.status.success(),
        "{}",
        String::from_utf8_lossy(&extracted.stderr)
    );
    let (code, stdout) = pytest(&python, &out, &["-v"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("3 failed, 4 passed, 1 xfailed"), "{stdout}");
    // Names carry the nearest heading.
    for passed in [
        "test_readme_block_1_directives PASSED",
        "test_readme_block_3_fails_as_promised XFAIL",
        "test_readme_block_4_fails_as_promised PASSED",
        "test_readme_block_6_reset PASSED",
        "test_readme_block_7_reset PASSED",
    ] {
        assert!(stdout.contains(passed), "{passed} in:\n{stdout}");
    }
    // Output: a unified diff, naming the `output` block's README line.
    let expected_line = line_of(DIRECTIVES, "line 0");
    let folder = dir.file_name().unwrap().to_string_lossy();
    for text in [
        format!(
            "{folder}/README.md:{expected_line}: block 2 did not print what its `output` block says"
        ),
        format!("--- expected ({}", shown(&readme).display()),
        "+++ printed".to_owned(),
        "-line one".to_owned(),
        "+line 1".to_owned(),
    ] {
        assert!(stdout.contains(&text), "{text} in:\n{stdout}");
    }
    // An xfail block that passes fails the run.
    assert!(
        stdout.contains("test_readme_block_5_passes_though_it_should_fail FAILED"),
        "{stdout}"
    );
    assert!(stdout.contains("[XPASS(strict)]"), "{stdout}");
    // A failing hidden setup points at its own README line.
    let setup_line = line_of(DIRECTIVES, "setup broke");
    let location = format!("{folder}/README.md:{setup_line}: in <module>");
    assert!(stdout.contains(&location), "{location} in:\n{stdout}");
}

#[test]
fn a_reset_clears_the_namespace() {
    let python = python_with_pytest();
    let dir = scratch_dir("reset");
    let (readme, out) = (dir.join("README.md"), dir.join("test_reset.py"));
    // Without the reset, the last block would see `x` through `continue`.
    let md = "```py\nx = 1\n```\n```py continue\nassert x == 1\n```\n<!-- xtask: reset -->\n\
              ```py\nassert 'x' not in globals()\n```\n";
    std::fs::write(&readme, md).unwrap();
    assert!(extract(&readme, &out, &[]).status.success());
    let (code, stdout) = pytest(&python, &out, &[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("3 passed"), "{stdout}");

    std::fs::write(
        &readme,
        md.replace("```py\nassert 'x'", "```py continue\nassert 'x'"),
    )
    .unwrap();
    let refused = extract(&readme, &out, &[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains(
            "README.md:8: a `continue` block cannot follow `<!-- xtask: reset -->` (line 7)"
        ),
        "{stderr}"
    );
}

#[test]
fn typos_are_errors_that_name_the_line() {
    let dir = scratch_dir("typos");
    let (readme, out) = (dir.join("README.md"), dir.join("test_typos.py"));
    for (md, message) in [
        (
            "# A\n\n```py\n```\n\n```python skp\nx\n```\n",
            "README.md:6: unknown word `skp` after ```python",
        ),
        (
            "# A\n\n<!-- xtask: setpu\n```py\n```\n-->\n",
            "README.md:3: unknown directive `xtask: setpu`",
        ),
        (
            "# A\n\n```output\nx\n```\n",
            "README.md:3: an `output` block must come right after",
        ),
    ] {
        std::fs::write(&readme, md).unwrap();
        let refused = extract(&readme, &out, &[]);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{md}");
        assert!(stderr.contains(message), "{message} in: {stderr}");
        assert!(!out.exists(), "nothing is written");
    }
}

/// Each `<!-- xtask: setup` comment of `markdown`: (its code, the comment as written).
fn setup_comments(markdown: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find("<!--") {
        let end = rest[start..].find("-->").expect("every comment is closed") + start + 3;
        let comment = &rest[start..end];
        if comment.starts_with("<!-- xtask: setup") {
            let code = comment.split("```").nth(1).unwrap();
            let code = code.split_once('\n').unwrap().1;
            found.push((code.to_owned(), comment.to_owned()));
        }
        rest = &rest[end..];
    }
    found
}

/// Hidden setup leaves no trace: each setup comment opens right before its fence and closes
/// right after it, with no `-->` in between (CommonMark ends the comment at the first one),
/// so that once comments are dropped, as renderers do, none of its code is left.
fn assert_setup_hidden(markdown: &str) -> usize {
    let setups = setup_comments(markdown);
    let mut rendered = markdown.to_owned();
    for (_, comment) in &setups {
        rendered = rendered.replacen(comment.as_str(), "", 1);
    }
    for (code, comment) in &setups {
        assert!(
            comment.starts_with("<!-- xtask: setup\n```python\n")
                && comment.ends_with("\n```\n-->"),
            "the comment brackets the fence: {comment}"
        );
        assert_eq!(comment.matches("-->").count(), 1, "{comment}");
        assert!(
            !rendered.contains(code.as_str()),
            "setup code is visible: {code}"
        );
    }
    assert!(!rendered.contains("xtask: setup"));
    setups.len()
}

#[test]
fn hidden_setup_leaves_no_trace() {
    assert_eq!(assert_setup_hidden(DIRECTIVES), 2);
    let bindings =
        common::manifest_dir().join("../experiments/bindings/python-ws-client/README.md");
    let readme = std::fs::read_to_string(bindings).unwrap();
    assert!(
        assert_setup_hidden(&readme) >= 1,
        "the bindings' README hides its boilerplate"
    );
    assert!(
        readme.contains("\n```output\n"),
        "the bindings' README checks an output"
    );
}

#[test]
fn syntax_errors_name_their_readme_line() {
    let python = python_with_pytest();
    let dir = scratch_dir("syntax");
    let (readme, out) = (dir.join("README.md"), dir.join("test_syntax.py"));
    std::fs::write(&readme, "# S\n\ntext\n\n```py\nx = 1\ny = (\n```\n").unwrap();
    // Another README than the bindings' is not parsed by `extract` (it may be written for
    // a newer Python): its tests find the error, at its README line.
    assert!(extract(&readme, &out, &[]).status.success());
    let (code, stdout) = pytest(&python, &out, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("README.md\", line 7"), "{stdout}");
}

/// `path` as xtask shows it: from the workspace root when inside it (the temp dir of a
/// run under `cargo xtask ci` is), else as it is.
fn shown(path: &Path) -> PathBuf {
    let manifest_dir = common::manifest_dir();
    let root = manifest_dir.parent().unwrap();
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

/// Extracts `md` (with `extra` flags) and runs pytest on it: `(exit code, stdout, folder)`.
fn run_markdown(
    name: &str,
    md: &str,
    extra: &[&str],
    args: &[&str],
) -> (Option<i32>, String, common::Scratch) {
    let python = python_with_pytest();
    let dir = scratch_dir(name);
    let (readme, out) = (dir.join("README.md"), dir.join(format!("test_{name}.py")));
    std::fs::write(&readme, md).unwrap();
    let extracted = extract(&readme, &out, extra);
    assert!(
        extracted.status.success(),
        "{}",
        String::from_utf8_lossy(&extracted.stderr)
    );
    let (code, stdout) = pytest(&python, &out, args);
    (code, stdout, dir)
}

/// Bug 1: a fence in a GitHub alert was no test at all; now it runs, and fails at its line.
#[test]
fn a_fence_in_a_github_alert_is_a_test() {
    let md = "# Alert\n\n> [!TIP]\n> Try this:\n>\n> ```python\n> x = 1\n> assert x == 2\n> ```\n";
    let (code, stdout, _dir) = run_markdown("alert", md, &[], &["--tb=long"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("1 failed"), "{stdout}");
    assert!(stdout.contains("README.md:8: AssertionError"), "{stdout}");
    assert!(
        stdout.contains(">   assert x == 2"),
        "the prefix is gone:\n{stdout}"
    );
    // Only the README frame is quoted: quoting the generated file's frame made pytest parse
    // that whole file once per failure (bug 7).
    assert!(!stdout.contains("_run_block("), "{stdout}");
}

/// Bug 2: after a byte order mark, all three blocks are tests, the two failing ones too.
#[test]
fn a_byte_order_mark_loses_no_block() {
    let md = "\u{feff}```python\nx = 1\n```\n\n```python\nassert False\n```\n\n```python\nassert False\n```\n";
    let (code, stdout, _dir) = run_markdown("bom", md, &[], &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("2 failed, 1 passed"), "{stdout}");
}

/// Bug 5: a syntax error is reported once, at its README line, quoting that line.
/// A failing `assert` in a README block shows the values it compared, at its README line,
/// as pytest shows them for an assert in a test module (it rewrites only those).
#[test]
fn a_failing_assert_shows_its_values() {
    let md = "# Values\n\n```python\nvalue = {\"k\": b\"y\"}\nassert value[\"k\"] == b\"x\"\n```\n";
    let (code, stdout, _dir) = run_markdown("assert-values", md, &[], &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("AssertionError: assert b'y' == b'x'"),
        "{stdout}"
    );
    assert!(stdout.contains("README.md:5"), "{stdout}");
}

/// Issue 32: a short example's failing comparison is shown whole, not cut to 80 columns
/// (`[b'value of a...e of c', None]` on both sides); another test's stays pytest's.
#[test]
fn a_readme_comparison_is_shown_untruncated() {
    let md = "# Values\n\n```python\n\
        got = [b\"value of a, value of b, value of c\", None]\n\
        assert got == [b\"value of a, value of B, value of c\", None]\n```\n";
    let (code, stdout, dir) = run_markdown("assert-whole", md, &[], &[]);
    assert_eq!(code, Some(1), "{stdout}");
    let whole = "assert [b'value of a, value of b, value of c', None] == \
        [b'value of a, value of B, value of c', None]";
    assert!(stdout.contains(whole), "{stdout}");
    // In one session with the README's tests, a plain test keeps pytest's explanation.
    let long = "[\"value of a, value of b, value of c, value of d\"]";
    let plain = format!("def test_plain():\n    assert {long} == [\"x\"]\n");
    std::fs::write(dir.join("test_zz_plain.py"), plain).unwrap();
    let (code, stdout) = pytest(&python_with_pytest(), &dir, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("2 failed"), "{stdout}");
    assert!(stdout.contains(whole), "{stdout}");
    assert!(
        stdout.contains("AssertionError: assert ['value of a,..., value of d'] == ['x']"),
        "a plain test's comparison is not pytest's: {stdout}"
    );
}

#[test]
fn a_syntax_error_is_reported_once() {
    // One that parses, which `extract` lets through, and the compiler rejects.
    let md = "# S\n\ntext that is not code\n\n```py\nx = 1\nreturn x\n```\n";
    let (code, stdout, _dir) = run_markdown("syntax-once", md, &[], &["--tb=long"]);
    assert_eq!(code, Some(1), "{stdout}");
    let failure = stdout.split("= FAILURES =").nth(1).unwrap();
    assert_eq!(failure.matches("SyntaxError:").count(), 1, "{stdout}");
    assert!(!failure.contains("During handling"), "{stdout}");
    assert!(
        !failure.contains("def _compile"),
        "no xtask frames:\n{stdout}"
    );
    assert!(
        failure.contains("README.md\", line 7\n    return x\n    ^"),
        "{stdout}"
    );
}

/// Bug 6: a task started in one block is awaited in the block that continues it.
#[test]
fn top_level_await_carries_across_continue() {
    let md = "```python\nimport asyncio\nasync def answer():\n    await asyncio.sleep(0)\n    return 42\n\
              task = asyncio.ensure_future(answer())\n```\n\n\
              ```python continue\nassert await task == 42\nloop = asyncio.get_running_loop()\n```\n\n\
              ```python continue\nimport sys\nassert asyncio.get_event_loop() is loop\n\
              sys.readme_chain_loop = loop\n```\n\n\
              ```python\nimport sys\nassert sys.readme_chain_loop.is_closed(), 'the chain ended'\n```\n";
    let (code, stdout, _dir) = run_markdown("async-chain", md, &[], &[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("4 passed"), "{stdout}");
}

/// A `continue` chain is order-free: each test sees exactly the state that the blocks
/// before it leave, whatever ran before it. Run as 3, 2, 1, the old runtime handed block 2
/// the namespace that block 3's replay had already changed (`[1, 2, 2]`).
#[test]
fn a_continue_chain_passes_in_reverse_order() {
    let md = "# Chain\n\n```python\nx = [1]\n```\n\n\
              ```python continue\nx.append(2)\nassert x == [1, 2], x\n```\n\n\
              ```python continue\nassert x == [1, 2], x\n```\n";
    let (code, stdout, dir) = run_markdown("chain-order", md, &[], &["-v"]);
    assert_eq!(code, Some(0), "{stdout}");
    let python = python_with_pytest();
    let out = dir.join("test_chain-order.py");
    let reversed: Vec<String> = (1..=3)
        .rev()
        .map(|n| format!("{}::test_readme_block_{n}_chain", out.display()))
        .collect();
    let reversed: Vec<&str> = reversed.iter().map(String::as_str).collect();
    let output = Command::new(&python)
        .env("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-v"])
        .args(&reversed)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let order: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.split("::").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(
        order,
        [
            "test_readme_block_3_chain",
            "test_readme_block_2_chain",
            "test_readme_block_1_chain"
        ],
        "{stdout}"
    );
}

/// Bug 7: pytest parses the whole source "file" of every traceback entry. With every block
/// of a long README as valid Python there, 500 failures took 47 s; the fence line before
/// each block stops that parse at the first fence. (The time itself is measured by hand:
/// see the README compiler's notes; a test asserts the cause, not a duration.)
#[test]
fn pytest_parses_no_further_than_the_first_fence() {
    let mut md = String::from("# Long\n");
    for i in 0..50 {
        md.push_str(&format!("\n```python\nx = {i}\nassert x < 0\n```\n"));
    }
    let python = python_with_pytest();
    let dir = scratch_dir("parse-once");
    let (readme, out) = (dir.join("README.md"), dir.join("test_parse_once.py"));
    std::fs::write(&readme, &md).unwrap();
    assert!(extract(&readme, &out, &[]).status.success());
    let probe = format!(
        "import ast, importlib.util, linecache\n\
         spec = importlib.util.spec_from_file_location('generated', {out:?})\n\
         module = importlib.util.module_from_spec(spec)\n\
         spec.loader.exec_module(module)\n\
         source = ''.join(linecache.getlines(module.README_PATH))\n\
         try:\n    ast.parse(source)\n    print('parsed every line')\n\
         except SyntaxError as error:\n    print('stopped at line', error.lineno)\n"
    );
    let output = Command::new(&python).args(["-c", &probe]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.trim(),
        "stopped at line 3",
        "the first fence is line 3"
    );
}

/// Bug 8: a foreign README's tests carry no marker, so that a project that runs pytest
/// with `--strict-markers` collects them; `--marker` adds one.
#[test]
fn a_foreign_readme_gets_no_marker_unless_asked() {
    let md = "```python\nx = 1\n```\n";
    let strict = [
        "--strict-markers",
        "-W",
        "error::pytest.PytestUnknownMarkWarning",
    ];
    let (code, stdout, _dir) = run_markdown("no-marker", md, &[], &strict);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");

    let (code, stdout, dir) = run_markdown("marker", md, &["--marker", "docs"], &strict);
    assert_eq!(
        code,
        Some(2),
        "an unregistered marker stops collection:\n{stdout}"
    );
    assert!(stdout.contains("'docs' not found in `markers`"), "{stdout}");
    let (code, stdout) = pytest(
        &common::python_with("pytest"),
        &dir.join("test_marker.py"),
        &["-m", "not docs"],
    );
    assert_eq!(code, Some(5), "-m selects by it:\n{stdout}");

    let dir = scratch_dir("bad-marker");
    let (readme, out) = (dir.join("README.md"), dir.join("test_x.py"));
    std::fs::write(&readme, md).unwrap();
    let refused = extract(&readme, &out, &["--marker", "not-a name"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is not a pytest marker name"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// Bug 9: a long `output` diff is cut after 200 lines, saying how much was left out.
#[test]
fn long_output_diffs_are_cut() {
    let expected: String = (0..300).map(|n| format!("line {n}\n")).collect();
    let md = format!(
        "# Out\n\n```python\nfor n in range(300):\n    print('other', n)\n```\n\n```output\n{expected}```\n"
    );
    let (code, stdout, _dir) = run_markdown("long-diff", &md, &[], &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("... 403 more lines of diff left out"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("\n-line ").count(),
        197,
        "the diff is cut:\n{stdout}"
    );
}

/// Bug 9: a U+2028 in a block no longer moves pytest's `>` off the failing line.
#[test]
fn a_line_separator_keeps_the_failing_line() {
    let md = "```python\ns = \"a\u{2028}b\"\nt = 1\nassert t == 2\n```\n";
    let (code, stdout, _dir) = run_markdown("u2028", md, &[], &["--tb=long"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains(">   assert t == 2"), "{stdout}");
}

const SESSIONS: &str = r#"# Sessions

```pycon
>>> sorted([3, 1, 2])
[1, 2, 3]
>>> print(list(range(20)))  # doctest: +ELLIPSIS
[0, 1, ..., 19]
```

```python
>>> total = sum([1, 2])
>>> total
3
```

```pycon continue
>>> total
3
```

```python
>>> wrong = 1
>>> wrong
4
>>> 1 / 0
1
```

<!-- xtask: setup
```python
GREETING = "hi"
```
-->

```pycon
>>> GREETING
'hi'
```

```pycon skip
>>> raise SystemExit
```

```pycon xfail
>>> 1 + 1
3
```
"#;

/// Doctest sessions: output compared as doctest does (with its options), failures named
/// at the README line of the example with what was expected and got, and `continue`,
/// setup, `skip` and `xfail` as for any block.
#[test]
fn sessions_run_as_doctests() {
    let (code, stdout, _dir) = run_markdown("sessions", SESSIONS, &[], &["-v"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("1 failed, 4 passed, 1 skipped, 1 xfailed"),
        "{stdout}"
    );
    let wrong = SESSIONS.lines().position(|l| l == ">>> wrong").unwrap() + 1;
    let divide = line_of(SESSIONS, ">>> 1 / 0");
    for text in [
        format!("README.md:{wrong}: example failed\n>>> wrong\nExpected:\n    4\nGot:\n    1"),
        format!(
            "README.md:{divide}: example failed\n>>> 1 / 0\nRaised:\n    ZeroDivisionError: division by zero"
        ),
        "test_readme_block_3_sessions PASSED".to_owned(),
    ] {
        assert!(stdout.contains(&text), "{text} in:\n{stdout}");
    }
    assert!(!stdout.contains("traceback entries are hidden"), "{stdout}");
}

/// The JUnit report carries each README test's block line and failing line, which
/// `cargo xtask ci` turns into annotations without reading the README.
#[test]
fn the_junit_report_names_the_failing_readme_line() {
    let md = "# J\n\n```python\nx = 1\n```\n\n```python\ny = 0\nz = 1 / y\n```\n";
    let python = python_with_pytest();
    let dir = scratch_dir("junit");
    let (readme, out, xml) = (
        dir.join("README.md"),
        dir.join("test_j.py"),
        dir.join("j.xml"),
    );
    std::fs::write(&readme, md).unwrap();
    assert!(extract(&readme, &out, &[]).status.success());
    let (code, stdout) = pytest(&python, &out, &[&format!("--junitxml={}", xml.display())]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");
    let report = std::fs::read_to_string(&xml).unwrap();
    let shown = shown(&readme).display().to_string();
    for property in [
        format!(r#"<property name="readme_block" value="{shown}:4" />"#),
        format!(r#"<property name="readme_block" value="{shown}:8" />"#),
        format!(r#"<property name="readme_failure" value="{shown}:9" />"#),
    ] {
        assert!(report.contains(&property), "{property} in:\n{report}");
    }
}

/// The runtime that every generated file carries is real Python, checked like the rest:
/// `mypy --strict`, through the bindings' pyproject.toml, which lists it.
#[test]
fn the_runtime_passes_mypy_strict() {
    let python = common::python_with("mypy, pytest");
    let runtime = common::manifest_dir().join("src/readme/runtime.py");
    // Its cache in the target dir: a warm run takes a fifth of a cold one. Under `ci
    // --from` the folder this test was built in is on another checkout, maybe gone: a
    // scratch cache then, rather than making that folder again.
    let scratch = tempfile::tempdir().unwrap();
    let built_in = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let cache = if built_in.is_dir() {
        built_in.join("mypy-runtime")
    } else {
        scratch.path().join("mypy-runtime")
    };
    let output = Command::new(python)
        .args(["-m", "mypy", "--strict", "--cache-dir"])
        .arg(&cache)
        .arg(&runtime)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let pyproject = std::fs::read_to_string(common::bindings_dir().join("pyproject.toml")).unwrap();
    assert!(
        pyproject.contains("\"../../../xtask/src/readme/runtime.py\""),
        "the lint job's mypy checks the runtime"
    );
}

/// The ````markdown examples of the root README's "Writing README examples" section, each
/// as a README of its own: they must extract, and pass (an `xfail` block by failing).
#[test]
fn the_examples_of_writing_readme_examples_pass() {
    let root = common::manifest_dir().join("../README.md");
    let readme = std::fs::read_to_string(root).unwrap();
    let section = readme
        .split("\n## Writing README examples\n")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let examples: Vec<&str> = section
        .split("````markdown\n")
        .skip(1)
        .map(|rest| rest.split("\n````\n").next().unwrap())
        .collect();
    assert!(examples.len() >= 5, "{examples:?}");
    for (n, example) in examples.into_iter().enumerate() {
        let md = format!("{example}\n");
        let (code, stdout, _dir) = run_markdown(&format!("doc-example-{n}"), &md, &[], &[]);
        assert_eq!(code, Some(0), "example {n}:\n{example}\n{stdout}");
        assert!(!stdout.contains(" failed"), "{stdout}");
    }
}
