//! The README compiler reads Markdown through pulldown-cmark. This document holds the cases
//! that were hardest for the hand-written scanner it replaced, each with the fences GitHub
//! shows there (checked against cmark-gfm, GitHub's parser): the compiler must make one
//! test per visible Python fence, at its README line, with its container prefixes gone, and
//! none for a fence that GitHub renders as text or HTML. The same document with CRLF line
//! endings and a byte order mark, or with lone CRs, must give the same tests.

mod common;

use common::scratch_dir;

const HARD_CASES: &str = r#"Hard cases ##
=============

1. A step:

   - in a nested item:

     ```python
     in_nested_item = 1
     ```

````python
in_four_backticks = """
```
"""
````

An indented block shows a fence; it is code, not a test:

    ```python
    raise SystemExit("indented")
    ```

<details>
```python
raise SystemExit("HTML: no blank line after <details>")
```
</details>

<details>
<summary>More</summary>

```python
after_details_and_a_blank_line = 1
```
</details>

## The `alert` case #

> [!TIP]
> ```Python title="tip.py"
> in_an_alert = 1
> ```

> A quoted paragraph
lazy continuation line
> ```python
> after_a_lazy_line = 1
> ```

> [!NOTE]
    ```python
    raise SystemExit("GitHub reads this line as lazy text of the alert")

</pre>
```python
raise SystemExit("a lone closing tag starts an HTML block that ends at a blank line")
```

-

    ```python
    raise SystemExit("an item that starts with a blank line is empty: indented code")
    ```

- item
  ```python
  unclosed_in_an_item = 1
the_item_ends_here = "text"
"#;

/// The code line of each test, as the README reads: the fence is on the line above.
const TESTS: &[&str] = &[
    "in_nested_item = 1",
    "in_four_backticks = \"\"\"",
    "after_details_and_a_blank_line = 1",
    "in_an_alert = 1",
    "after_a_lazy_line = 1",
    "unclosed_in_an_item = 1",
];

/// `(test name, README line of its fence, its first source literal)` for each generated
/// test, from the generated file.
fn tests_of(generated: &str) -> Vec<(String, usize, String)> {
    let names = generated
        .lines()
        .filter(|l| l.starts_with("def test_readme_block_"))
        .filter_map(|l| l.strip_prefix("def ")?.split('(').next());
    let fence_lines = generated
        .lines()
        .filter(|l| l.starts_with("    \"") && l.contains(" line "))
        .filter_map(|l| l.rsplit_once(" line ")?.1.split(':').next()?.parse().ok());
    let sources = generated
        .split("source=(\n")
        .skip(1)
        .filter_map(|rest| Some(rest.lines().next()?.trim().to_owned()));
    names
        .zip(fence_lines)
        .zip(sources)
        .map(|((name, line), source)| (name.to_owned(), line, source))
        .collect()
}

fn extract(name: &str, markdown: &str) -> String {
    let dir = scratch_dir(name);
    let (readme, out) = (dir.join("README.md"), dir.join("test_hard.py"));
    std::fs::write(&readme, markdown).unwrap();
    let output = common::xtask()
        .arg("extract")
        .arg("--readme")
        .arg(&readme)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{name}: {stderr}");
    std::fs::read_to_string(&out).unwrap()
}

#[test]
fn the_hard_cases_make_the_tests_github_shows() {
    let expected: Vec<_> = TESTS
        .iter()
        .map(|code| {
            let line = HARD_CASES.lines().position(|l| l.ends_with(code)).unwrap();
            (line, format!("{:?}", format!("{code}\n")))
        })
        .collect();
    let tests = tests_of(&extract("hard-cases", HARD_CASES));
    let got: Vec<_> = tests
        .iter()
        .map(|(_, line, source)| (*line, source.clone()))
        .collect();
    assert_eq!(got, expected, "(fence line, first source line) per test");
    let names: Vec<_> = tests.iter().map(|(name, ..)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "test_readme_block_1_hard_cases",
            "test_readme_block_2_hard_cases",
            "test_readme_block_3_hard_cases",
            "test_readme_block_4_the_alert_case",
            "test_readme_block_5_the_alert_case",
            "test_readme_block_6_the_alert_case",
        ]
    );
}

#[test]
fn crlf_a_byte_order_mark_and_lone_crs_change_no_test() {
    let lf = extract("hard-lf", HARD_CASES);
    let crlf = extract(
        "hard-crlf",
        &format!("\u{feff}{}", HARD_CASES.replace('\n', "\r\n")),
    );
    let cr = extract("hard-cr", &HARD_CASES.replace('\n', "\r"));
    assert_eq!(tests_of(&crlf), tests_of(&lf));
    assert_eq!(tests_of(&cr), tests_of(&lf));
    // A byte order mark before a first fence hid it.
    let bom = extract("hard-bom", "\u{feff}```python\nfirst = 1\n```\n");
    let lines: Vec<_> = tests_of(&bom)
        .into_iter()
        .map(|(_, line, _)| line)
        .collect();
    assert_eq!(lines, [1]);
}

/// The two cases where pulldown-cmark and GitHub's parser (cmark-gfm 0.29) disagree on a
/// fence, as the README's "Writing README examples" says; no second scanner papers over them.
#[test]
fn where_pulldown_cmark_and_github_disagree() {
    // GitHub renders no footnote definition that nothing refers to; its fence is a test here.
    let unreferenced = "[^1]: A note.\n\n    ```python\n    in_a_footnote = 1\n    ```\n";
    let tests = tests_of(&extract("footnote", unreferenced));
    assert_eq!(tests.len(), 1, "{tests:?}");
    // After an empty item and a line of spaces, GitHub keeps the fence in the item; CommonMark
    // ends the item there, and pulldown-cmark reads indented code: no test.
    let spaces =
        "```python\nvisible = 1\n```\n\n-\n  \n    ```python\n    in_the_item = 1\n    ```\n";
    let tests = tests_of(&extract("spaces", spaces));
    assert_eq!(tests.len(), 1, "{tests:?}");
}
