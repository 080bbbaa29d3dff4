//! CommonMark's HTML blocks, which GitHub passes through as HTML: a fence inside one is not
//! code, so it is not a test. Comments (`<!--` to `-->`) are read by the caller, since they
//! may hold xtask directives; this module knows the other kinds and where they end.

use std::sync::LazyLock;

use regex::Regex;

/// Where an HTML block ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// On the first line that contains this text (that line included).
    Contains(&'static str),
    /// Before the first blank line.
    BlankLine,
}

/// Tags that start an HTML block wherever they appear, even inside a paragraph
/// (CommonMark's kind 6), such as `<details>` and `<div>`.
const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "base",
    "basefont",
    "blockquote",
    "body",
    "caption",
    "center",
    "col",
    "colgroup",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hr",
    "html",
    "iframe",
    "legend",
    "li",
    "link",
    "main",
    "menu",
    "menuitem",
    "nav",
    "noframes",
    "ol",
    "optgroup",
    "option",
    "p",
    "param",
    "search",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "track",
    "ul",
];

/// Tags whose content is raw until their closing tag (kind 1).
const RAW_TAGS: &[&str] = &["pre", "script", "style", "textarea"];

/// A whole open or closing tag alone on its line (kind 7).
static LONE_TAG: LazyLock<Regex> = LazyLock::new(|| {
    let attribute = r#"\s+[A-Za-z_:][A-Za-z0-9_.:-]*(?:\s*=\s*(?:[^\s"'=<>`]+|'[^']*'|"[^"]*"))?"#;
    Regex::new(&format!(
        r"^(?:<[A-Za-z][A-Za-z0-9-]*(?:{attribute})*\s*/?>|</[A-Za-z][A-Za-z0-9-]*\s*>)\s*$"
    ))
    .expect("a valid pattern")
});

/// If `text` (indentation removed, not a comment) starts an HTML block, where it ends.
/// `in_paragraph`: a lone tag of any name cannot interrupt a paragraph.
pub fn block_start(text: &str, in_paragraph: bool) -> Option<End> {
    let lower = text.to_ascii_lowercase();
    let tag = |after: &str| -> String {
        after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
            .map(char::from)
            .collect()
    };
    let ends_name = |rest: &str| {
        rest.is_empty() || rest.starts_with([' ', '\t', '>']) || rest.starts_with("/>")
    };
    if let Some(after) = lower.strip_prefix('<') {
        let name = tag(after);
        if RAW_TAGS.contains(&name.as_str()) && ends_name(&after[name.len()..]) {
            return Some(End::Contains(raw_end(&name)));
        }
    }
    if lower.starts_with("<?") {
        return Some(End::Contains("?>"));
    }
    if lower.starts_with("<![cdata[") {
        return Some(End::Contains("]]>"));
    }
    if lower.starts_with("<!") && lower.as_bytes().get(2).is_some_and(u8::is_ascii_alphabetic) {
        return Some(End::Contains(">"));
    }
    let after = lower
        .strip_prefix("</")
        .or_else(|| lower.strip_prefix('<'))?;
    let name = tag(after);
    if BLOCK_TAGS.contains(&name.as_str()) && ends_name(&after[name.len()..]) {
        return Some(End::BlankLine);
    }
    let raw = RAW_TAGS.contains(&name.as_str());
    (!in_paragraph && !raw && LONE_TAG.is_match(text)).then_some(End::BlankLine)
}

fn raw_end(name: &str) -> &'static str {
    match name {
        "pre" => "</pre>",
        "script" => "</script>",
        "style" => "</style>",
        _ => "</textarea>",
    }
}

/// Whether `line` ends a block that ends on `end`; a blank-line block ends before the line.
pub fn ends(end: End, line: &str) -> bool {
    match end {
        End::Contains(text) => line.to_ascii_lowercase().contains(text),
        End::BlankLine => line.trim_matches([' ', '\t']).is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_html_blocks() {
        for (text, in_paragraph, expected) in [
            ("<details>", false, Some(End::BlankLine)),
            ("<DETAILS open>", true, Some(End::BlankLine)),
            ("</div>", true, Some(End::BlankLine)),
            ("<summary>Click</summary>", false, Some(End::BlankLine)),
            ("<pre>", false, Some(End::Contains("</pre>"))),
            ("<script src=x>", true, Some(End::Contains("</script>"))),
            ("<?php", false, Some(End::Contains("?>"))),
            ("<!DOCTYPE html>", false, Some(End::Contains(">"))),
            ("<img src=\"a.png\" alt='x'>", false, Some(End::BlankLine)),
            ("<img src=\"a.png\">", true, None),
            ("<a href=x>text</a>", false, None),
            ("<detailsx>", true, None),
            ("<3 python", false, None),
            ("text", false, None),
        ] {
            assert_eq!(block_start(text, in_paragraph), expected, "{text}");
        }
        assert!(ends(End::Contains("</pre>"), "x </PRE> y"));
        assert!(ends(End::BlankLine, " \t"));
        assert!(!ends(End::BlankLine, "x"));
    }
}
