//! GitHub Actions' workflow commands (`::error ...::`), as the display and lint's findings
//! write them.

/// GitHub's workflow-command escaping for a message.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}
