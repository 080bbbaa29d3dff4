//! `cargo xtask extract` end to end: the generated tests run under pytest, and a failing
//! README block is reported with the README's path and its own line number.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

~~~py title=async
import asyncio
await asyncio.sleep(0)
~~~
";

/// README line of `z = x / y`.
const FAILING_LINE: usize = 38;

fn scratch_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("xtask-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn extract(readme: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("extract")
        .arg("--readme")
        .arg(readme)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// A Python that can import pytest: `XTASK_TEST_PYTHON`, the bindings' venv, or python3.
fn python_with_pytest() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../experiments/bindings/python-ws-client/.venv/bin/python");
    let candidates = [
        std::env::var_os("XTASK_TEST_PYTHON").map(PathBuf::from),
        Some(venv),
        Some("python3".into()),
    ];
    candidates.into_iter().flatten().find(|python| {
        Command::new(python)
            .args(["-c", "import pytest"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
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
    assert!(
        stderr.contains("is stale: run `cargo xtask extract`"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
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
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn failing_block_names_readme_path_and_line() {
    let Some(python) = python_with_pytest() else {
        eprintln!(
            "skipped: no Python with pytest (set XTASK_TEST_PYTHON, or run `cargo xtask venv`)"
        );
        return;
    };
    let dir = scratch_dir("readme-run");
    let (readme, out) = (dir.join("README.md"), dir.join("test_readme.py"));
    std::fs::write(&readme, README).unwrap();
    assert!(extract(&readme, &out, &[]).status.success());
    // Run from elsewhere: the file is self-contained.
    let output = Command::new(&python)
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-rs", "--tb=long"])
        .arg(&out)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
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

    // Alone, a `continue` block replays the block it continues.
    let alone = Command::new(&python)
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-k", "block_2"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        alone.status.success(),
        "{}",
        String::from_utf8_lossy(&alone.stdout)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
