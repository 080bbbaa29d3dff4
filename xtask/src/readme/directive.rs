//! The `<!-- xtask: NAME` comments of a README: `setup` hides a Python fence that runs
//! before the next visible block, `reset` ends what `continue` carries over. Any other
//! `xtask` comment is an error naming its line, so that a typo never hides a test. The
//! word `xtask` and the names are read case-insensitively.

use super::info::{Info, Kind};
use super::markdown::{Comment, Item, LineError, error, fenced_blocks};

/// The directive an `<!-- xtask: NAME` comment holds; `None` for any other comment.
pub fn read(comment: &Comment) -> Result<Option<Item>, LineError> {
    let line = comment.line;
    let opener = comment.opener.trim().to_lowercase();
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
    let info = Info::parse(&block.info);
    if info.kind() != Kind::Python || !info.words.is_empty() {
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
