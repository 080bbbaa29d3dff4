//! Reading a file as another process appends to it: a step's log, pytest's report log.

use std::fs::File;
use std::io::Read;

use camino::{Utf8Path, Utf8PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_what_was_appended_since_the_last_read() {
        let dir = std::env::temp_dir().join(crate::process::unique_name("xtask-tail"));
        std::fs::create_dir(&dir).unwrap();
        let path = Utf8PathBuf::try_from(dir.join("log")).unwrap();
        let mut tail = Tail::new(&path);
        assert!(tail.read_new().is_empty(), "not there yet");
        let mut file = File::create(&path).unwrap();
        file.write_all(b"one\n").unwrap();
        assert_eq!(tail.read_new(), b"one\n");
        file.write_all(b"two").unwrap();
        assert_eq!(tail.read_new(), b"two");
        assert!(tail.read_new().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
