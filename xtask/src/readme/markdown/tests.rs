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

/// Each case's fences, as (info string, fence line, text).
fn assert_fences(cases: &[Case]) {
    for (markdown, expected) in cases {
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
fn fences_follow_commonmark() {
    assert_fences(CASES);
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

/// `(markdown, [(info, fence_line, text)])` for GitHub's containers and HTML blocks.
const CONTAINER_CASES: &[Case] = &[
    // Bug 1: a GitHub alert, a block quote, with or without the space after `>`.
    (
        "> [!TIP]\n> ```python\n> assert False\n> ```\n",
        &[("python", 2, "assert False\n")],
    ),
    (">```py\n>x = 1\n>  y\n>```\n", &[("py", 1, "x = 1\n y\n")]),
    // Nested quotes, and a list inside a quote.
    ("> > ```py\n> > x\n> > ```\n", &[("py", 1, "x\n")]),
    (
        "> - item\n>\n>   ```py\n>   x\n>   ```\n",
        &[("py", 3, "x\n")],
    ),
    // A quote inside a list item.
    ("- item\n\n  > ```py\n  > x\n  > ```\n", &[("py", 3, "x\n")]),
    // A lazy continuation line keeps the quote open; a fence is never lazy.
    ("> para\nlazy\n> ```py\n> x\n> ```\n", &[("py", 3, "x\n")]),
    ("> text\n```py\nx\n```\n", &[("py", 2, "x\n")]),
    // The quote ends where its `>` stops, and the fence with it.
    ("> ```py\n> x\ny\n", &[("py", 1, "x\n")]),
    // A tab after `>` counts as the optional space plus two columns.
    (">\t```py\n>\tx\n>\t```\n", &[("py", 1, "x\n")]),
    // Bug 9: a tab after a list marker starts the item's content.
    (
        "-\t```python\n \tx = 1\n \t```\n",
        &[("python", 1, "x = 1\n")],
    ),
    ("1.\t```py\n\tx\n\t```\n", &[("py", 1, "x\n")]),
    // Bug 9: a fence right after `<details>` is HTML; after a blank line it is code.
    ("<details>\n```python\nx\n```\n</details>\n", &[]),
    (
        "<details>\n<summary>More</summary>\n\n```python\nx\n```\n</details>\n",
        &[("python", 4, "x\n")],
    ),
    (
        "<p align=\"center\">\n  <img src=\"x.png\">\n</p>\n\n```py\nx\n```\n",
        &[("py", 5, "x\n")],
    ),
    ("<pre>\n```py\n\nx\n```\n</pre>\n", &[]),
    // An inline tag does not start HTML inside a paragraph.
    ("text\n<img src=x>\n```py\nx\n```\n", &[("py", 3, "x\n")]),
    // A thematic break is not a list item.
    ("* * *\n```py\nx\n```\n", &[("py", 2, "x\n")]),
];

#[test]
fn fences_inside_github_containers_and_html() {
    assert_fences(CONTAINER_CASES);
}

/// Bug 2: a byte order mark at the start hid the first fence and broke the pairing.
#[test]
fn a_byte_order_mark_is_ignored() {
    let md = "\u{feff}```python\na\n```\n\n```python\nb\n```\n\n```python\nc\n```\n";
    let got: Vec<_> = fenced_blocks(md).into_iter().map(|b| b.text).collect();
    assert_eq!(got, ["a\n", "b\n", "c\n"]);
}

#[test]
fn setup_and_output_work_inside_a_quote() {
    let md = "> <!-- xtask: setup\n> ```python\n> import os\n> ```\n> -->\n>\n> ```py\n> print(1)\n> ```\n>\n> ```output\n> 1\n> ```\n";
    let items = parse(md).unwrap();
    let Item::Setup(setup) = &items[0] else {
        panic!("{items:?}")
    };
    assert_eq!((setup.fence_line, setup.text.as_str()), (2, "import os\n"));
    let Item::Fence(output) = &items[2] else {
        panic!("{items:?}")
    };
    assert_eq!(
        (output.info.as_str(), output.follows_block),
        ("output", true)
    );
}

/// Bug 3: `<!-- XTASK: setup` was a plain comment, and its setup silently never ran.
#[test]
fn directives_are_read_in_any_case() {
    let items = parse("<!-- XTASK: Setup\n```python\nimport os\n```\n-->\n").unwrap();
    assert!(matches!(items.as_slice(), [Item::Setup(_)]), "{items:?}");
    let error = parse("<!-- Xtask: rest -->\n").unwrap_err();
    assert!(error.message.contains("unknown directive"), "{error}");
}
