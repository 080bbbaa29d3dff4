//! Reads a Markdown file as GitHub does, through pulldown-cmark (the CommonMark parser of
//! rustdoc and mdBook), as far as the README tests need: fenced code blocks wherever they
//! sit (block quotes, GitHub's `> [!TIP]` alerts, list items; a fence inside an HTML block
//! is HTML, not code), headings, and the `<!-- xtask: NAME` comments that hide setup code
//! or reset the namespace. This module only turns the parser's events and byte ranges into
//! blocks with README line numbers; it reads no Markdown block syntax itself.

use std::fmt;
use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

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

/// What the parser finds, before directives are read.
pub enum Raw {
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

/// The block extensions GitHub renders: tables and footnotes. Not `ENABLE_GFM`: an alert is a
/// block quote either way, and with it the `> [!TIP]` line is no paragraph, so a line after
/// it that GitHub reads as lazy text (`    ```python`) opens a fence.
const GITHUB: Options = Options::ENABLE_TABLES.union(Options::ENABLE_FOOTNOTES);

/// What the parser finds, in document order; the directives are read by `items`.
pub fn scan(markdown: &str) -> Vec<Raw> {
    // GitHub ignores a byte order mark; pulldown-cmark reads it as text, which hides a
    // first fence.
    let markdown = markdown.strip_prefix('\u{feff}').unwrap_or(markdown);
    // CommonMark ends a line at a lone CR too, but pulldown-cmark opens no fence on such a
    // line. One line ending for another keeps every line number.
    let markdown = if markdown.contains('\r') {
        markdown.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        markdown.to_owned()
    };
    let mut reader = Reader {
        lines: LineStarts::new(&markdown),
        found: Vec::new(),
        open: Open::None,
        after_block: false,
    };
    for (event, range) in Parser::new_ext(&markdown, GITHUB).into_offset_iter() {
        reader.event(event, range);
    }
    reader.found
}

/// Where each line starts, to turn byte offsets into 1-based line numbers.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(text: &str) -> Self {
        let ends = text.match_indices('\n').map(|(at, _)| at + 1);
        LineStarts(std::iter::once(0).chain(ends).collect())
    }

    /// The line holding the byte at `offset`.
    fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }

    /// The line of the last byte of `range` (of its start if it is empty).
    fn last(&self, range: &Range<usize>) -> usize {
        self.of(range.end.max(range.start + 1) - 1)
    }
}

/// The leaf block whose text is being collected.
enum Open {
    None,
    /// A fenced block, and the last line that gave it text.
    Fence(Block, usize),
    Heading(usize, String),
    /// An HTML block: its first line and its text, without container prefixes.
    Html(usize, String),
}

struct Reader {
    lines: LineStarts,
    found: Vec<Raw>,
    open: Open,
    /// Whether only blank lines and container markers were read since a fence closed.
    after_block: bool,
}

impl Reader {
    fn event(&mut self, event: Event, range: Range<usize>) {
        let after_block = std::mem::take(&mut self.after_block);
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let fence_line = self.lines.of(range.start);
                let block = Block {
                    info: info.trim().to_owned(),
                    fence_line,
                    text: String::new(),
                    close_line: None,
                    follows_block: after_block,
                };
                self.open = Open::Fence(block, fence_line);
            }
            Event::End(TagEnd::CodeBlock) => self.close_fence(&range),
            Event::Start(Tag::Heading { .. }) => {
                self.open = Open::Heading(self.lines.of(range.start), String::new());
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Open::Heading(line, text) = std::mem::replace(&mut self.open, Open::None) {
                    let text = text.trim().to_owned();
                    self.found.push(Raw::Heading { line, text });
                }
            }
            Event::Start(Tag::HtmlBlock) => {
                self.open = Open::Html(self.lines.of(range.start), String::new());
            }
            Event::End(TagEnd::HtmlBlock) => {
                if let Open::Html(line, html) = std::mem::replace(&mut self.open, Open::None) {
                    self.found.extend(comment(line, &html).map(Raw::Comment));
                }
            }
            Event::Text(text) | Event::Code(text) | Event::Html(text) => {
                self.add_text(&text, &range);
            }
            Event::SoftBreak | Event::HardBreak => self.add_text(" ", &range),
            // Containers do not separate an `output` block from the block above it.
            Event::Start(Tag::BlockQuote(_) | Tag::List(_) | Tag::Item)
            | Event::End(TagEnd::BlockQuote(_) | TagEnd::List(_) | TagEnd::Item) => {
                self.after_block = after_block;
            }
            _ => {}
        }
    }

    fn add_text(&mut self, text: &str, range: &Range<usize>) {
        match &mut self.open {
            Open::Fence(block, last) => {
                block.text.push_str(text);
                if !range.is_empty() {
                    *last = self.lines.last(range);
                }
            }
            Open::Heading(_, heading) if !text.is_empty() => heading.push_str(text),
            Open::Html(_, html) => html.push_str(text),
            _ => {}
        }
    }

    /// Ends a fenced block; an indented one is not a test. The block's range runs to its
    /// closing fence, or stops with its last line of text when none closes it.
    fn close_fence(&mut self, range: &Range<usize>) {
        let Open::Fence(mut block, last_text) = std::mem::replace(&mut self.open, Open::None)
        else {
            return;
        };
        let last = self.lines.last(range);
        block.close_line = (last > last_text).then_some(last);
        if !block.text.is_empty() && !block.text.ends_with('\n') {
            block.text.push('\n');
        }
        self.found.push(Raw::Fence(block));
        self.after_block = true;
    }
}

/// The comment that an HTML block starting on `line` is, if it is one: `<!--` to the end of
/// the line holding `-->` (CommonMark's kind 2).
fn comment(line: usize, html: &str) -> Option<Comment> {
    let mut lines = html.lines().zip(line..);
    let opener = lines.next()?.0.trim_start().strip_prefix("<!--")?;
    let mut comment = Comment {
        line,
        opener: opener.to_owned(),
        body: Vec::new(),
        close: None,
    };
    if let Some(end) = opener.find("-->") {
        comment.opener.truncate(end);
        comment.close = Some((line, String::new()));
        return Some(comment);
    }
    for (text, number) in lines {
        if let Some(end) = text.find("-->") {
            comment.close = Some((number, text[..end].to_owned()));
            break;
        }
        comment.body.push((number, text.to_owned()));
    }
    Some(comment)
}

#[cfg(test)]
mod tests;
