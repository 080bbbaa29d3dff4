//! A README as its tests see it, in document order: headings, visible fences, and the
//! `<!-- xtask:` directives read from its comments. Apart from `markdown` (which reads
//! Markdown) and `directive` (which reads a comment), so that neither imports the other's
//! user.

use super::directive;
use super::markdown::{Item, LineError, Raw, scan};

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
