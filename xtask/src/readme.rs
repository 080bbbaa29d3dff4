//! Reads a Markdown file the way CommonMark does, as far as the README tests need: fenced
//! code blocks (backtick or tilde fences of three or more, indented up to three spaces, also
//! inside list items, closed by a fence of the same kind at least as long, or by the end of
//! the document), ATX and setext headings, and the `<!-- xtask: NAME` comments that hide
//! setup code or reset the namespace. Inside an HTML comment nothing is Markdown, as on
//! GitHub: a fence there is never rendered.

use std::fmt;

/// One fenced code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The info string after the opening fence, trimmed.
    pub info: String,
    /// 1-based line of the opening fence.
    pub fence_line: usize,
    /// The content, with the fence's indentation removed and `\n` after every line.
    pub text: String,
    /// 1-based line of the closing fence; `None` when the document (or comment) ends first.
    pub close_line: Option<usize>,
    /// Whether only blank lines separate this fence from the block closed just before it,
    /// which is what lets an `output` block belong to the Python block above it.
    pub follows_block: bool,
}

/// The words a Python block's info string may carry after the language.
pub const PYTHON_WORDS: [&str; 3] = ["skip", "continue", "xfail"];

impl Block {
    /// 1-based line of the block's first content line.
    pub fn first_line(&self) -> usize {
        self.fence_line + 1
    }

    pub fn language(&self) -> &str {
        self.info.split_whitespace().next().unwrap_or("")
    }

    pub fn is_python(&self) -> bool {
        matches!(self.language(), "python" | "py" | "python3")
    }

    /// The words after the language, such as `skip` or `continue`.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.info.split_whitespace().skip(1)
    }

    pub fn has_word(&self, word: &str) -> bool {
        self.words().any(|w| w == word)
    }
}

/// What the README tests take from a Markdown file, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An ATX or setext heading; setext headings are numbered by their first text line.
    Heading { line: usize, text: String },
    /// A fenced block outside HTML comments: one that readers see.
    Fence(Block),
    /// `<!-- xtask: setup`, one Python fence, `-->`: code that runs before the next visible
    /// Python block and that readers never see.
    Setup(Block),
    /// `<!-- xtask: reset -->`: what `continue` would carry over ends here.
    Reset { line: usize },
}

/// A mistake in the Markdown, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for LineError {}

fn error(line: usize, message: impl Into<String>) -> LineError {
    LineError {
        line,
        message: message.into(),
    }
}

/// The headings, visible fences and xtask directives of `markdown`; a malformed or unknown
/// `<!-- xtask:` directive is an error, so that a typo never hides a test.
pub fn parse(markdown: &str) -> Result<Vec<Item>, LineError> {
    let mut items = Vec::new();
    for raw in scan(markdown) {
        match raw {
            Raw::Heading { line, text } => items.push(Item::Heading { line, text }),
            Raw::Fence(block) => items.push(Item::Fence(block)),
            Raw::Comment(comment) => items.extend(directive(&comment)?),
        }
    }
    Ok(items)
}

/// The fenced blocks that readers see, in order: those outside HTML comments.
pub fn fenced_blocks(markdown: &str) -> Vec<Block> {
    scan(markdown)
        .into_iter()
        .filter_map(|raw| match raw {
            Raw::Fence(block) => Some(block),
            _ => None,
        })
        .collect()
}

/// The directive an `<!-- xtask: NAME` comment holds; `None` for any other comment.
fn directive(comment: &Comment) -> Result<Option<Item>, LineError> {
    let line = comment.line;
    let opener = comment.opener.trim();
    let first = opener.split_whitespace().next().unwrap_or("");
    if first != "xtask" && !first.starts_with("xtask:") {
        return Ok(None);
    }
    let Some(rest) = opener.strip_prefix("xtask:") else {
        return Err(error(
            line,
            "write an xtask directive as `<!-- xtask: NAME`",
        ));
    };
    let Some((close_line, before_close)) = &comment.close else {
        return Err(error(
            line,
            "this `<!-- xtask:` comment never ends: close it with `-->`",
        ));
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words.as_slice() {
        ["setup"] => setup(comment, *close_line, before_close).map(Some),
        ["reset"] if comment.body.iter().all(|(_, t)| t.trim().is_empty()) => {
            Ok(Some(Item::Reset { line }))
        }
        ["reset"] => Err(error(line, "`<!-- xtask: reset -->` holds nothing else")),
        [] => Err(error(
            line,
            "`<!-- xtask:` names no directive: use `setup` or `reset`",
        )),
        [name @ ("setup" | "reset"), extra, ..] => Err(error(
            line,
            format!("unexpected `{extra}` after `xtask: {name}`"),
        )),
        [name, ..] => Err(error(
            line,
            format!("unknown directive `xtask: {name}`: use `setup` or `reset`"),
        )),
    }
}

/// The one closed Python fence of an `<!-- xtask: setup` comment, numbered as in the README.
fn setup(comment: &Comment, close_line: usize, before_close: &str) -> Result<Item, LineError> {
    let body: String = comment.body.iter().map(|(_, t)| format!("{t}\n")).collect();
    let mut fences = fenced_blocks(&body).into_iter().map(|mut block| {
        block.fence_line += comment.line;
        block.close_line = block.close_line.map(|l| l + comment.line);
        block
    });
    let Some(block) = fences.next() else {
        return Err(error(
            comment.line,
            "`<!-- xtask: setup` holds no ```python fence",
        ));
    };
    let Some(end) = block.close_line else {
        return Err(error(
            block.fence_line,
            format!(
                "the setup's fence is not closed before the comment ends on line {close_line} \
                 (a `-->` in the code ends the comment)"
            ),
        ));
    };
    if !before_close.trim().is_empty() {
        return Err(error(
            close_line,
            "put the setup's `-->` on a line of its own",
        ));
    }
    if !block.is_python() || block.words().next().is_some() {
        return Err(error(
            block.fence_line,
            format!("a setup fence is a plain ```python, not ```{}", block.info),
        ));
    }
    if let Some(second) = fences.next() {
        return Err(error(
            second.fence_line,
            "one fence per `<!-- xtask: setup`",
        ));
    }
    let stray = comment
        .body
        .iter()
        .find(|(n, text)| !text.trim().is_empty() && !(block.fence_line..=end).contains(n));
    if let Some((n, _)) = stray {
        return Err(error(
            *n,
            "only a ```python fence may sit inside `<!-- xtask: setup`",
        ));
    }
    Ok(Item::Setup(block))
}

/// What the scanner finds, before directives are read.
enum Raw {
    Heading { line: usize, text: String },
    Fence(Block),
    Comment(Comment),
}

/// An HTML comment: `<!--` at the start of a line, to the end of the line holding `-->`.
struct Comment {
    line: usize,
    /// What follows `<!--` on its first line, up to `-->` if the comment ends there.
    opener: String,
    /// The lines between the first and the closing one, with their numbers.
    body: Vec<(usize, String)>,
    /// The closing line and what precedes `-->` on it; `None` if the document ends first.
    close: Option<(usize, String)>,
}

/// An open fence.
struct Fence {
    marker: u8,
    len: usize,
    /// Spaces removed from each content line: the list item's and the fence's own.
    strip: usize,
    /// Column where the enclosing list item's content starts; 0 outside lists.
    container: usize,
    block: Block,
}

fn scan(markdown: &str) -> Vec<Raw> {
    let mut scanner = Scanner::default();
    for (index, line) in lines(markdown).enumerate() {
        scanner.line(index + 1, line);
    }
    scanner.finish()
}

#[derive(Default)]
struct Scanner {
    found: Vec<Raw>,
    /// Content columns of the open list items, innermost last.
    lists: Vec<usize>,
    open: Option<Fence>,
    comment: Option<Comment>,
    /// The paragraph being read (first line, text), which a setext underline makes a heading.
    paragraph: Option<(usize, String)>,
    /// Whether only blank lines were read since a fence closed.
    after_block: bool,
}

impl Scanner {
    fn line(&mut self, number: usize, line: &str) {
        if self.comment.is_some() {
            return self.comment_line(number, line);
        }
        if self.open.is_some() && self.fence_line(number, line) {
            return;
        }
        if line.trim().is_empty() {
            self.paragraph = None;
        } else {
            self.outside(number, line);
        }
    }

    fn comment_line(&mut self, number: usize, line: &str) {
        let comment = self.comment.as_mut().expect("a comment is open");
        match line.find("-->") {
            Some(end) => {
                comment.close = Some((number, line[..end].to_owned()));
                self.found.push(Raw::Comment(self.comment.take().unwrap()));
            }
            None => comment.body.push((number, line.to_owned())),
        }
    }

    /// A line while a fence is open; false if it ends the fence's list item instead, and
    /// is then read like any other line.
    fn fence_line(&mut self, number: usize, line: &str) -> bool {
        let fence = self.open.as_mut().expect("a fence is open");
        let indent = leading_spaces(line);
        if !line.trim().is_empty() && indent < fence.container {
            // The list item ends, and the block with it.
            self.close_fence(None);
            return false;
        }
        if closes(
            &line[indent.min(fence.container)..],
            fence.marker,
            fence.len,
        ) {
            self.close_fence(Some(number));
            return true;
        }
        fence.block.text.push_str(&line[indent.min(fence.strip)..]);
        fence.block.text.push('\n');
        true
    }

    fn close_fence(&mut self, close_line: Option<usize>) {
        let mut block = self.open.take().expect("a fence is open").block;
        block.close_line = close_line;
        self.found.push(Raw::Fence(block));
        self.after_block = true;
    }

    /// A non-blank line outside fences and comments.
    fn outside(&mut self, number: usize, line: &str) {
        let after_block = std::mem::take(&mut self.after_block);
        let indent = leading_spaces(line);
        if self.setext_underline(line, indent) {
            return;
        }
        while self.lists.last().is_some_and(|&column| indent < column) {
            self.lists.pop();
        }
        let container = self.lists.last().copied().unwrap_or(0);
        let (container, rest_start, in_item) = match list_item_content(line, indent, container) {
            Some(content) => {
                self.lists.push(content);
                (content, content.min(line.len()), true)
            }
            None => (container, container, false),
        };
        let rest = &line[rest_start..];
        let own_indent = leading_spaces(rest);
        let text = &rest[own_indent..];
        if own_indent > 3 {
            // Indented code, or the lazy continuation of a paragraph.
            return;
        }
        if let Some((marker, len, info)) = opening(text) {
            self.paragraph = None;
            self.open = Some(Fence {
                marker,
                len,
                strip: rest_start + own_indent,
                container,
                block: Block {
                    info: info.to_owned(),
                    fence_line: number,
                    text: String::new(),
                    close_line: None,
                    follows_block: after_block,
                },
            });
        } else if let Some(after) = text.strip_prefix("<!--") {
            self.paragraph = None;
            self.open_comment(number, after);
        } else if let Some(heading) = atx_heading(text) {
            self.paragraph = None;
            self.found.push(Raw::Heading {
                line: number,
                text: heading,
            });
        } else if in_item {
            self.paragraph = None;
        } else {
            let paragraph = self.paragraph.get_or_insert((number, String::new()));
            if !paragraph.1.is_empty() {
                paragraph.1.push(' ');
            }
            paragraph.1.push_str(text.trim());
        }
    }

    /// Turns the paragraph above into a heading if `line` is a row of `=` or of `-`.
    fn setext_underline(&mut self, line: &str, indent: usize) -> bool {
        let row = line.trim();
        let underline = row.bytes().all(|b| b == b'=') || row.bytes().all(|b| b == b'-');
        if indent > 3 || !underline {
            return false;
        }
        let Some((line, text)) = self.paragraph.take() else {
            return false;
        };
        self.found.push(Raw::Heading { line, text });
        true
    }

    fn open_comment(&mut self, number: usize, after: &str) {
        let mut comment = Comment {
            line: number,
            opener: after.to_owned(),
            body: Vec::new(),
            close: None,
        };
        match after.find("-->") {
            Some(end) => {
                comment.opener.truncate(end);
                comment.close = Some((number, String::new()));
                self.found.push(Raw::Comment(comment));
            }
            None => self.comment = Some(comment),
        }
    }

    fn finish(mut self) -> Vec<Raw> {
        // An unclosed fence or comment runs to the end of the document.
        if self.open.is_some() {
            self.close_fence(None);
        }
        self.found.extend(self.comment.take().map(Raw::Comment));
        self.found
    }
}

/// The title of an ATX heading (`## Title ##`), indentation already removed.
fn atx_heading(text: &str) -> Option<String> {
    let level = text.bytes().take_while(|&b| b == b'#').count();
    let rest = &text[level..];
    if !(1..=6).contains(&level) || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let rest = rest.trim();
    // A closing run of `#`, after a space, is not part of the title.
    let open = rest.trim_end_matches('#');
    let title = if open.is_empty() || open.ends_with([' ', '\t']) {
        open
    } else {
        rest
    };
    Some(title.trim().to_owned())
}

/// Lines without their endings; CommonMark ends lines at LF, CR or CRLF.
fn lines(markdown: &str) -> impl Iterator<Item = &str> {
    let mut rest = markdown;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        let line = &rest[..end];
        let ending = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[(end + ending).min(rest.len())..];
        Some(line)
    })
}

fn leading_spaces(line: &str) -> usize {
    line.bytes().take_while(|&b| b == b' ').count()
}

/// `(marker, length, info)` if `line` (indentation already removed) opens a fence.
fn opening(line: &str) -> Option<(u8, usize, &str)> {
    let marker = *line.as_bytes().first()?;
    if marker != b'`' && marker != b'~' {
        return None;
    }
    let len = line.bytes().take_while(|&b| b == marker).count();
    let info = line[len..].trim();
    if len < 3 || (marker == b'`' && info.contains('`')) {
        return None;
    }
    Some((marker, len, info))
}

fn closes(line: &str, marker: u8, min_len: usize) -> bool {
    let indent = leading_spaces(line);
    if indent > 3 {
        return false;
    }
    let rest = &line[indent..];
    let len = rest.bytes().take_while(|&b| b == marker).count();
    len >= min_len && rest[len..].trim_matches([' ', '\t']).is_empty()
}

/// If `line` starts a list item (`-`, `+`, `*`, `1.` or `1)`) at most three spaces past
/// `container`, the column where the item's content starts.
fn list_item_content(line: &str, indent: usize, container: usize) -> Option<usize> {
    if indent > container + 3 {
        return None;
    }
    let rest = &line.as_bytes()[indent..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let marker_len = match rest.first()? {
        b'-' | b'+' | b'*' => 1,
        _ if (1..=9).contains(&digits) && matches!(rest.get(digits), Some(b'.' | b')')) => {
            digits + 1
        }
        _ => return None,
    };
    let after = &rest[marker_len..];
    let spaces = after.iter().take_while(|&&b| b == b' ').count();
    if spaces == after.len() {
        // An empty item: content starts one space after the marker.
        return Some(indent + marker_len + 1);
    }
    match spaces {
        0 => None,
        1..=4 => Some(indent + marker_len + spaces),
        // Five or more spaces start indented code inside the item.
        _ => Some(indent + marker_len + 1),
    }
}

#[cfg(test)]
mod tests {
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
        let md =
            "```py\nx\n```\n\n```output\n1\n```\ntext\n```output\n```\n- a\n  ```py\n  x\nout\n";
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
        let Item::Setup(block) = only("<!-- xtask: setup\n\n```python\nimport os\n```\n-->\n")
        else {
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
    fn info_words() {
        let block = |info: &str| Block {
            info: info.into(),
            fence_line: 1,
            text: String::new(),
            close_line: None,
            follows_block: false,
        };
        for (info, python, skip, cont) in [
            ("python", true, false, false),
            ("py skip", true, true, false),
            ("python3 continue", true, false, true),
            ("python title=x skip continue", true, true, true),
            ("pythonic", false, false, false),
            ("skip python", false, false, false),
            ("rust skip", false, true, false),
            ("", false, false, false),
        ] {
            let b = block(info);
            assert_eq!(
                (b.is_python(), b.has_word("skip"), b.has_word("continue")),
                (python, skip, cont),
                "{info}"
            );
        }
    }
}
