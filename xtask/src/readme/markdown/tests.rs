//! What the reader makes of pulldown-cmark's events: closing lines, adjacency, and the
//! xtask directives in comments. Where fences are is pulldown-cmark's job, checked on
//! whole documents by `tests/readme_commonmark.rs`.

use super::*;
use crate::readme::items::parse;

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
