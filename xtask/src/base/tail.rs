//! Reading a file as another process appends to it: a step's log, pytest's report log.

use std::fs::File;
use std::io::Read;

use camino::{Utf8Path, Utf8PathBuf};

use crate::base::paths;

/// A file read from where the last read stopped; a file that does not exist yet reads as
/// empty until it does.
pub struct Tail {
    path: Utf8PathBuf,
    file: Option<File>,
}

impl Tail {
    pub fn new(path: &Utf8Path) -> Tail {
        Tail {
            path: path.to_owned(),
            file: None,
        }
    }

    /// What was appended since the last call.
    pub fn read_new(&mut self) -> Vec<u8> {
        if self.file.is_none() {
            self.file = File::open(&self.path).ok();
        }
        let mut bytes = Vec::new();
        if let Some(file) = &mut self.file {
            let _ = file.read_to_end(&mut bytes);
        }
        bytes
    }
}

/// Splits a stream that arrives in pieces into whole lines. Bytes are kept until their line
/// ends, so that a line, or a UTF-8 character, cut between two reads is read whole.
#[derive(Debug, Default)]
pub struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// The lines that `bytes` completes, without their line ends.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(bytes);
        let Some(last_end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Vec::new();
        };
        let complete: Vec<u8> = self.partial.drain(..=last_end).collect();
        complete[..complete.len() - 1]
            .split(|&b| b == b'\n')
            .map(|line| {
                String::from_utf8_lossy(line)
                    .trim_end_matches('\r')
                    .to_owned()
            })
            .collect()
    }
}

/// The last `n` lines of the log at `path`, framed to be shown under an error:
/// `--- last 3 lines of target/x.log ---`, the lines, `---`; or a line saying it is empty.
pub fn last_lines(path: &Utf8Path, n: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let shown = &lines[lines.len().saturating_sub(n)..];
    let log = paths::display_path(path);
    if shown.is_empty() {
        return format!("(the log {log} is empty)");
    }
    format!(
        "--- last {} lines of {log} ---\n{}\n---",
        shown.len(),
        shown.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn lines_cut_anywhere_are_whole() {
        let text = "é one\r\ntwo\n\nthree";
        let mut lines = Lines::default();
        let mut got = Vec::new();
        for byte in text.as_bytes() {
            got.extend(lines.push(std::slice::from_ref(byte)));
        }
        assert_eq!(got, ["é one", "two", ""]);
        assert_eq!(lines.push(b"\n"), ["three"]);
    }

    #[test]
    fn reads_what_was_appended_since_the_last_read() {
        let (_guard, dir) = crate::base::paths::test_dir();
        let path = dir.join("log");
        let mut tail = Tail::new(&path);
        assert!(tail.read_new().is_empty(), "not there yet");
        let mut file = File::create(&path).unwrap();
        file.write_all(b"one\n").unwrap();
        assert_eq!(tail.read_new(), b"one\n");
        file.write_all(b"two").unwrap();
        assert_eq!(tail.read_new(), b"two");
        assert!(tail.read_new().is_empty());
        assert_eq!(
            last_lines(&path, 1),
            format!(
                "--- last 1 lines of {} ---\ntwo\n---",
                crate::base::paths::display_path(&path)
            )
        );
        assert_eq!(
            last_lines(&path, 5),
            format!(
                "--- last 2 lines of {} ---\none\ntwo\n---",
                crate::base::paths::display_path(&path)
            )
        );
        std::fs::write(&path, "").unwrap();
        assert_eq!(last_lines(&path, 5), format!("(the log {path} is empty)"));
    }
}
