//! The scanner against CommonMark's rules, case by case.

use super::*;

/// `(markdown, [(info, fence_line, text)])`
type Case = (&'static str, &'static [(&'static str, usize, &'static str)]);

const CASES: &[Case] = &[
    ("```python\nx = 1\n```\n", &[("python", 1, "x = 1\n")]),
    ("~~~py\nx = 1\n~~~\n", &[("py", 1, "x = 1\n")]),
    (
        "````python3 skip\n```\nx\n````\n",
        &[("python3 skip", 1, "```\nx\n")],
    ),
    ("~~~~\na\n~~~\nb\n~~~~~\n", &[("", 1, "a\n~~~\nb\n")]),
    ("```py\na\n~~~\n```\n", &[("py", 1, "a\n~~~\n")]),
    ("``py\n```\n", &[("", 2, "")]),
    ("```py\n```\n", &[("py", 1, "")]),
    ("```py\n\n\n```\n", &[("py", 1, "\n\n")]),
    ("```py\nx\n```  \nafter\n", &[("py", 1, "x\n")]),
    ("```py\nx\n``` no\n```\n", &[("py", 1, "x\n``` no\n")]),
    ("```py `x`\nno fence\n", &[]),
    ("~~~py `x`\nok\n~~~\n", &[("py `x`", 1, "ok\n")]),
    (
        "   ```py\n   a\n  b\n    c\n   ```\n",
        &[("py", 1, "a\nb\n c\n")],
    ),
    ("    ```py\n    x\n    ```\n", &[]),
    (
        "```py\r\na = 1\r\nb = 2\r\n```\r\n",
        &[("py", 1, "a = 1\nb = 2\n")],
    ),
    ("```py\ra\r```\r", &[("py", 1, "a\n")]),
    (
        "```py\nprint('héllo ✓ 日本')\n```\n",
        &[("py", 1, "print('héllo ✓ 日本')\n")],
    ),
    ("```py\na\n\nb", &[("py", 1, "a\n\nb\n")]),
    ("text\n```py\nunclosed\n", &[("py", 2, "unclosed\n")]),
    (
        "```sh\nls\n```\n```python\nx\n```\n",
        &[("sh", 1, "ls\n"), ("python", 4, "x\n")],
    ),
    (
        "1. Step:\n\n   ```python\n   x = 1\n\n   y\n   ```\n",
        &[("python", 3, "x = 1\n\ny\n")],
    ),
    ("- item\n\n    ```py\n    x\n    ```\n", &[("py", 3, "x\n")]),
    (
        "- item\n\n    ```py\n      x\n   y\n    ```\n",
        &[("py", 3, "  x\ny\n")],
    ),
    (
        "-   item\n\n    ```py\n    x\n    ```\n",
        &[("py", 3, "x\n")],
    ),
    ("- ```py\n  x\n  ```\n", &[("py", 1, "x\n")]),
    (
        "- a\n  - b\n\n    ```py\n    x\n    ```\n",
        &[("py", 4, "x\n")],
    ),
    ("- a\n  ```py\n  x\nout\n", &[("py", 2, "x\n")]),
    ("- a\n\ntext\n    ```py\n    x\n", &[]),
    // Inside an HTML comment nothing is Markdown, to the end of the `-->` line.
    (
        "<!--\n```py\nx\n```\n-->\n```py\ny\n```\n",
        &[("py", 6, "y\n")],
    ),
    ("<!-- a --> ```py\n```py\nx\n```\n", &[("py", 2, "x\n")]),
    ("<!--\n```py\nx --> y\n```py\nz\n```\n", &[("py", 4, "z\n")]),
    ("```py\n<!--\n```\n-->\n", &[("py", 1, "<!--\n")]),
    ("<!-- never closed\n```py\nx\n```\n", &[]),
];

#[test]
fn fences_follow_commonmark() {
    for (markdown, expected) in CASES {
        let got: Vec<_> = fenced_blocks(markdown)
            .into_iter()
            .map(|b| (b.info, b.fence_line, b.text))
            .collect();
        let expected: Vec<_> = expected
            .iter()
            .map(|&(info, line, text)| (info.to_owned(), line, text.to_owned()))
            .collect();
        assert_eq!(got, expected, "markdown: {markdown:?}");
    }
}

#[test]
fn closing_lines_and_adjacency() {
    let md = "```py\nx\n```\n\n```output\n1\n```\ntext\n```output\n```\n- a\n  ```py\n  x\nout\n";
    let got: Vec<_> = fenced_blocks(md)
        .into_iter()
        .map(|b| (b.fence_line, b.close_line, b.follows_block))
        .collect();
    assert_eq!(
        got,
        [
            (1, Some(3), false),
            (5, Some(7), true),
            (9, Some(10), false),
            (12, None, false)
        ]
    );
}

fn heading(line: usize, text: &str) -> Item {
    Item::Heading {
        line,
        text: text.into(),
    }
}

#[test]
fn headings() {
    let md = "# Title #\n\n## Quick `start`\n\nSome\ntext\n---\n\nA\n===\n\n#hashtag\n####### seven\n\
              ### \n```md\n# not a heading\n```\n- item\n---\n";
    let got: Vec<_> = parse(md)
        .unwrap()
        .into_iter()
        .filter(|i| matches!(i, Item::Heading { .. }))
        .collect();
    assert_eq!(
        got,
        [
            heading(1, "Title"),
            heading(3, "Quick `start`"),
            heading(5, "Some text"),
            heading(9, "A"),
            heading(14, ""),
        ]
    );
}

fn only(md: &str) -> Item {
    let items = parse(md).unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    items.into_iter().next().unwrap()
}

#[test]
fn directives() {
    assert_eq!(
        only("text\n<!-- xtask: reset -->\n"),
        Item::Reset { line: 2 }
    );
    assert_eq!(only("<!--xtask:reset\n\n-->\n"), Item::Reset { line: 1 });
    let Item::Setup(block) = only("<!-- xtask: setup\n\n```python\nimport os\n```\n-->\n") else {
        panic!("not a setup")
    };
    assert_eq!(
        (block.fence_line, block.close_line, block.text.as_str()),
        (3, Some(5), "import os\n")
    );
    assert!(
        parse("<!-- a plain comment -->\n<!--\nxtask: reset\n-->\n")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn directive_mistakes_name_their_line() {
    for (md, line, message) in [
        (
            "\n<!-- xtask: rest -->\n",
            2,
            "unknown directive `xtask: rest`",
        ),
        ("<!-- xtask: -->\n", 1, "names no directive"),
        ("<!-- xtask reset -->\n", 1, "write an xtask directive as"),
        ("<!-- xtask: reset now -->\n", 1, "unexpected `now`"),
        ("<!-- xtask: reset\nx\n-->\n", 1, "holds nothing else"),
        ("<!-- xtask: setup\n```py\nx\n```\n", 1, "never ends"),
        ("<!-- xtask: setup\n-->\n", 1, "holds no ```python fence"),
        (
            "<!-- xtask: setup\n```py\nx = a-->b\n```\n-->\n",
            2,
            "not closed before the comment ends on line 3",
        ),
        (
            "<!-- xtask: setup\n```py\nx\n``` -->\n",
            2,
            "ends on line 4",
        ),
        (
            "<!-- xtask: setup\n```py\n```\nx -->\n",
            4,
            "put the setup's `-->`",
        ),
        ("<!-- xtask: setup\n```sh\nx\n```\n-->\n", 2, "not ```sh"),
        (
            "<!-- xtask: setup\n```py skip\nx\n```\n-->\n",
            2,
            "plain ```python",
        ),
        (
            "<!-- xtask: setup\n```py\n```\n```py\n```\n-->\n",
            4,
            "one fence per",
        ),
        (
            "<!-- xtask: setup\n```py\n```\nnote\n-->\n",
            4,
            "only a ```python fence",
        ),
    ] {
        let error = parse(md).unwrap_err();
        assert_eq!(error.line, line, "{md:?}: {error}");
        assert!(error.message.contains(message), "{md:?}: {error}");
    }
}
