//! Reads a Markdown file the way CommonMark and GitHub do, as far as the README tests need:
//! fenced code blocks, wherever they sit in block quotes (GitHub's `> [!TIP]` alerts
//! included) and list items, ATX and setext headings, HTML blocks (a fence inside one is
//! HTML, not code), and the `<!-- xtask: NAME` comments that hide setup code or reset the
//! namespace. A block's lines lose their container prefixes and keep their line numbers.

use std::fmt;

use super::cursor::Cursor;
use super::{directive, html};

/// One fenced code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The info string after the opening fence, trimmed.
    pub info: String,
    /// 1-based line of the opening fence.
    pub fence_line: usize,
    /// The content, without container prefixes and the fence's indentation, and with `\n`
    /// after every line.
    pub text: String,
    /// 1-based line of the closing fence; `None` when the document or container ends first.
    pub close_line: Option<usize>,
    /// Whether only blank lines separate this fence from the block closed just before it,
    /// which is what lets an `output` block belong to the Python block above it.
    pub follows_block: bool,
}

impl Block {
    /// 1-based line of the block's first content line.
    pub fn first_line(&self) -> usize {
        self.fence_line + 1
    }
}

/// What the README tests take from a Markdown file, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An ATX or setext heading; setext headings are numbered by their first text line.
    Heading { line: usize, text: String },
    /// A fenced block outside HTML: one that readers see.
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

pub fn error(line: usize, message: impl Into<String>) -> LineError {
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
            Raw::Comment(comment) => items.extend(directive::read(&comment)?),
        }
    }
    Ok(items)
}

/// The fenced blocks that readers see, in order: those outside HTML.
pub fn fenced_blocks(markdown: &str) -> Vec<Block> {
    scan(markdown)
        .into_iter()
        .filter_map(|raw| match raw {
            Raw::Fence(block) => Some(block),
            _ => None,
        })
        .collect()
}

/// What the scanner finds, before directives are read.
enum Raw {
    Heading { line: usize, text: String },
    Fence(Block),
    Comment(Comment),
}

/// An HTML comment: `<!--` at the start of a line, to the end of the line holding `-->`.
pub struct Comment {
    pub line: usize,
    /// What follows `<!--` on its first line, up to `-->` if the comment ends there.
    pub opener: String,
    /// The lines between the first and the closing one, with their numbers.
    pub body: Vec<(usize, String)>,
    /// The closing line and what precedes `-->` on it; `None` if it never closes.
    pub close: Option<(usize, String)>,
}

/// A block quote or a list item, which holds other blocks.
enum Container {
    Quote,
    /// A list item; its lines are indented to the column where its content starts.
    Item {
        content: usize,
    },
}

/// The innermost open block that holds text.
enum Leaf {
    None,
    /// A paragraph (first line, text so far), which a setext underline makes a heading.
    Paragraph(usize, String),
    Fence(Fence),
    /// An HTML block other than a comment, and where it ends.
    Html(html::End),
    Comment(Comment),
}

/// An open fence.
struct Fence {
    marker: u8,
    len: usize,
    /// Columns of indentation removed from each content line: the fence's own.
    indent: usize,
    block: Block,
}

fn scan(markdown: &str) -> Vec<Raw> {
    // GitHub ignores a byte order mark; left in, it would hide the first fence.
    let markdown = markdown.strip_prefix('\u{feff}').unwrap_or(markdown);
    let mut scanner = Scanner {
        found: Vec::new(),
        containers: Vec::new(),
        leaf: Leaf::None,
        after_block: false,
    };
    for (index, line) in lines(markdown).enumerate() {
        scanner.line(index + 1, line);
    }
    scanner.finish()
}

struct Scanner {
    found: Vec<Raw>,
    /// The open containers, outermost first.
    containers: Vec<Container>,
    /// The open leaf, inside the innermost container.
    leaf: Leaf,
    /// Whether only blank lines were read since a fence closed.
    after_block: bool,
}

impl Scanner {
    fn line(&mut self, number: usize, line: &str) {
        let mut cursor = Cursor::new(line);
        let matched = self.match_containers(&mut cursor);
        if matched == self.containers.len() {
            if self.continue_leaf(number, &mut cursor) {
                return;
            }
        } else {
            if matches!(self.leaf, Leaf::Paragraph(..)) && is_lazy(&cursor) {
                // A lazy continuation line: the paragraph, and its containers, go on.
                self.add_to_paragraph(number, cursor.text());
                return;
            }
            self.close_leaf();
            self.containers.truncate(matched);
        }
        if matched == self.containers.len() && self.setext_underline(&cursor) {
            return;
        }
        self.open_containers(&mut cursor);
        self.new_leaf(number, &mut cursor);
    }

    /// How many open containers `line` continues, taking their prefixes off.
    fn match_containers(&self, cursor: &mut Cursor) -> usize {
        let mut matched = 0;
        for container in &self.containers {
            let continues = match container {
                Container::Quote => take_quote_marker(cursor),
                Container::Item { content } => {
                    let needed = content.saturating_sub(cursor.column());
                    if cursor.is_blank() || cursor.indent() >= needed {
                        cursor.skip_indent(needed);
                        true
                    } else {
                        false
                    }
                }
            };
            if !continues {
                break;
            }
            matched += 1;
        }
        matched
    }

    /// Gives the line to an open fence, HTML block or comment; false if it is not theirs.
    fn continue_leaf(&mut self, number: usize, cursor: &mut Cursor) -> bool {
        match &mut self.leaf {
            Leaf::Fence(fence) => {
                if closes(cursor, fence.marker, fence.len) {
                    self.close_fence(Some(number));
                } else {
                    cursor.skip_indent(cursor.indent().min(fence.indent));
                    fence.block.text.push_str(cursor.rest());
                    fence.block.text.push('\n');
                }
                true
            }
            Leaf::Html(end @ html::End::BlankLine) if html::ends(*end, cursor.rest()) => {
                self.leaf = Leaf::None;
                false
            }
            Leaf::Html(end) => {
                if html::ends(*end, cursor.rest()) {
                    self.leaf = Leaf::None;
                }
                true
            }
            Leaf::Comment(comment) => {
                let rest = cursor.rest();
                match rest.find("-->") {
                    Some(end) => {
                        comment.close = Some((number, rest[..end].to_owned()));
                        self.close_leaf();
                    }
                    None => comment.body.push((number, rest.to_owned())),
                }
                true
            }
            Leaf::None | Leaf::Paragraph(..) => false,
        }
    }

    /// Starts the block quotes and list items that open on this line.
    fn open_containers(&mut self, cursor: &mut Cursor) {
        loop {
            let in_paragraph = matches!(self.leaf, Leaf::Paragraph(..));
            if take_quote_marker(cursor) {
                self.containers.push(Container::Quote);
            } else if let Some(content) = take_list_marker(cursor, in_paragraph) {
                self.containers.push(Container::Item { content });
            } else {
                return;
            }
            self.close_leaf();
        }
    }

    /// What is left of the line once the containers are read.
    fn new_leaf(&mut self, number: usize, cursor: &mut Cursor) {
        if cursor.is_blank() {
            if matches!(self.leaf, Leaf::Paragraph(..)) {
                self.leaf = Leaf::None;
            }
            return;
        }
        let after_block = std::mem::take(&mut self.after_block);
        let indent = cursor.indent();
        let in_paragraph = matches!(self.leaf, Leaf::Paragraph(..));
        if indent > 3 {
            // Indented code, or the continuation of a paragraph.
            if in_paragraph {
                self.add_to_paragraph(number, cursor.text());
            }
            return;
        }
        let text = cursor.text().to_owned();
        if let Some((marker, len, info)) = opening(&text) {
            self.leaf = Leaf::Fence(Fence {
                marker,
                len,
                indent,
                block: Block {
                    info: info.to_owned(),
                    fence_line: number,
                    text: String::new(),
                    close_line: None,
                    follows_block: after_block,
                },
            });
        } else if let Some(after) = text.strip_prefix("<!--") {
            self.open_comment(number, after);
        } else if let Some(end) = html::block_start(&text, in_paragraph) {
            let ends_here = matches!(end, html::End::Contains(_)) && html::ends(end, &text);
            self.leaf = if ends_here {
                Leaf::None
            } else {
                Leaf::Html(end)
            };
        } else if let Some(heading) = atx_heading(&text) {
            self.leaf = Leaf::None;
            self.found.push(Raw::Heading {
                line: number,
                text: heading,
            });
        } else if thematic_break(&text) {
            self.leaf = Leaf::None;
        } else {
            self.add_to_paragraph(number, &text);
        }
    }

    fn add_to_paragraph(&mut self, number: usize, text: &str) {
        if !matches!(self.leaf, Leaf::Paragraph(..)) {
            self.leaf = Leaf::Paragraph(number, String::new());
        }
        if let Leaf::Paragraph(_, paragraph) = &mut self.leaf {
            if !paragraph.is_empty() {
                paragraph.push(' ');
            }
            paragraph.push_str(text.trim());
        }
    }

    /// Turns the paragraph above into a heading if the line is a row of `=` or of `-`.
    fn setext_underline(&mut self, cursor: &Cursor) -> bool {
        let row = cursor.text().trim_end_matches([' ', '\t']);
        let underline =
            !row.is_empty() && (row.bytes().all(|b| b == b'=') || row.bytes().all(|b| b == b'-'));
        if cursor.indent() > 3 || !underline {
            return false;
        }
        let Leaf::Paragraph(line, text) = std::mem::replace(&mut self.leaf, Leaf::None) else {
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
                self.leaf = Leaf::None;
                self.found.push(Raw::Comment(comment));
            }
            None => self.leaf = Leaf::Comment(comment),
        }
    }

    /// Ends the open leaf: a fence or comment is cut off where its container ends.
    fn close_leaf(&mut self) {
        match std::mem::replace(&mut self.leaf, Leaf::None) {
            Leaf::Fence(fence) => {
                self.leaf = Leaf::Fence(fence);
                self.close_fence(None);
            }
            Leaf::Comment(comment) => self.found.push(Raw::Comment(comment)),
            Leaf::None | Leaf::Paragraph(..) | Leaf::Html(_) => {}
        }
    }

    fn close_fence(&mut self, close_line: Option<usize>) {
        let Leaf::Fence(fence) = std::mem::replace(&mut self.leaf, Leaf::None) else {
            unreachable!("a fence is open");
        };
        let mut block = fence.block;
        block.close_line = close_line;
        self.found.push(Raw::Fence(block));
        self.after_block = true;
    }

    fn finish(mut self) -> Vec<Raw> {
        // An unclosed fence or comment runs to the end of the document.
        self.close_leaf();
        self.found
    }
}

/// Whether a line that its containers do not continue still continues their paragraph:
/// it starts no block of its own.
fn is_lazy(cursor: &Cursor) -> bool {
    if cursor.is_blank() {
        return false;
    }
    if cursor.indent() > 3 {
        return true;
    }
    let text = cursor.text();
    let mut probe = cursor.clone();
    !(opening(text).is_some()
        || text.starts_with('>')
        || text.starts_with("<!--")
        || html::block_start(text, true).is_some()
        || atx_heading(text).is_some()
        || thematic_break(text)
        || take_list_marker(&mut probe, true).is_some())
}

/// Takes off a block quote marker: up to three spaces, `>`, and one optional space.
fn take_quote_marker(cursor: &mut Cursor) -> bool {
    let indent = cursor.indent();
    if indent > 3 || !cursor.text().starts_with('>') {
        return false;
    }
    cursor.skip_indent(indent);
    cursor.skip_marker(1);
    if cursor.rest().starts_with([' ', '\t']) {
        cursor.skip_indent(1);
    }
    true
}

/// Takes off a list marker (`-`, `+`, `*`, `1.` or `1)`) and the spaces after it, and gives
/// the column where the item's content starts. In a paragraph, an item must have content
/// and an ordered one must start at 1, as CommonMark says.
fn take_list_marker(cursor: &mut Cursor, in_paragraph: bool) -> Option<usize> {
    let indent = cursor.indent();
    let text = cursor.text();
    if indent > 3 || thematic_break(text) {
        return None;
    }
    let bytes = text.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let marker_len = match bytes.first()? {
        b'-' | b'+' | b'*' => 1,
        _ if (1..=9).contains(&digits) && matches!(bytes.get(digits), Some(b'.' | b')')) => {
            if in_paragraph && &text[..digits] != "1" {
                return None;
            }
            digits + 1
        }
        _ => return None,
    };
    let mut after = cursor.clone();
    after.skip_indent(indent);
    after.skip_marker(marker_len);
    let blank = after.is_blank();
    let spaces = after.indent();
    if (blank && in_paragraph) || (!blank && spaces == 0) {
        return None;
    }
    *cursor = after;
    // Five columns or more after the marker start indented code: the content starts at one.
    let width = if blank || spaces > 4 { 1 } else { spaces };
    let content = cursor.column() + width;
    cursor.skip_indent(if blank { 0 } else { width });
    Some(content)
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

/// `***`, `---` or `___`, three or more, spaces allowed between.
fn thematic_break(text: &str) -> bool {
    let marks: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t'))
        .collect();
    marks.len() >= 3
        && matches!(marks[0], b'*' | b'-' | b'_')
        && marks.iter().all(|&b| b == marks[0])
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

fn closes(cursor: &Cursor, marker: u8, min_len: usize) -> bool {
    if cursor.indent() > 3 {
        return false;
    }
    let rest = cursor.text();
    let len = rest.bytes().take_while(|&b| b == marker).count();
    len >= min_len && rest[len..].trim_matches([' ', '\t']).is_empty()
}

#[cfg(test)]
mod tests;
