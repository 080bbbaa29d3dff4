//! Finds the fenced code blocks of a Markdown file the way CommonMark does: backtick or
//! tilde fences of three or more, indented up to three spaces (also inside list items),
//! closed by a fence of the same kind at least as long, or by the end of the document.

/// One fenced code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The info string after the opening fence, trimmed.
    pub info: String,
    /// 1-based line of the opening fence.
    pub fence_line: usize,
    /// The content, with the fence's indentation removed and `\n` after every line.
    pub text: String,
}

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

    /// Whether a word after the language, such as `skip` or `continue`, is present.
    pub fn has_word(&self, word: &str) -> bool {
        self.info.split_whitespace().skip(1).any(|w| w == word)
    }
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

pub fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    // Content columns of the open list items, innermost last.
    let mut lists: Vec<usize> = Vec::new();
    let mut open: Option<Fence> = None;
    for (index, line) in lines(markdown).enumerate() {
        let number = index + 1;
        let indent = leading_spaces(line);
        let blank = line.trim().is_empty();
        if let Some(fence) = &mut open {
            let left_container = !blank && indent < fence.container;
            if !left_container {
                let inner = &line[indent.min(fence.container)..];
                if closes(inner, fence.marker, fence.len) {
                    blocks.push(open.take().unwrap().block);
                    continue;
                }
                let text = &line[indent.min(fence.strip)..];
                fence.block.text.push_str(text);
                fence.block.text.push('\n');
                continue;
            }
            // The list item ends, and the block with it.
            blocks.push(open.take().unwrap().block);
        }
        if blank {
            continue;
        }
        while lists.last().is_some_and(|&column| indent < column) {
            lists.pop();
        }
        let container = lists.last().copied().unwrap_or(0);
        let (container, rest_start) = match list_item_content(line, indent, container) {
            Some(content) => {
                lists.push(content);
                (content, content.min(line.len()))
            }
            None => (container, container),
        };
        let rest = &line[rest_start..];
        let own_indent = leading_spaces(rest);
        if own_indent > 3 {
            continue;
        }
        if let Some((marker, len, info)) = opening(&rest[own_indent..]) {
            open = Some(Fence {
                marker,
                len,
                strip: rest_start + own_indent,
                container,
                block: Block {
                    info: info.to_owned(),
                    fence_line: number,
                    text: String::new(),
                },
            });
        }
    }
    // An unclosed fence runs to the end of the document.
    blocks.extend(open.map(|fence| fence.block));
    blocks
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
    fn info_words() {
        let block = |info: &str| Block {
            info: info.into(),
            fence_line: 1,
            text: String::new(),
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
