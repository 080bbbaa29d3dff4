//! Content hashes for the stamps that let a step skip work whose inputs did not change
//! (the venv, the workflow lint).

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

mod fnv;

pub use fnv::Fnv;

/// Every file under `dir`, into `files`, leaving out each file or folder whose name
/// `skipped` says (a skipped folder is not entered).
pub fn files_under(
    dir: &Utf8Path,
    skipped: &dyn Fn(&str) -> bool,
    files: &mut Vec<Utf8PathBuf>,
) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {dir}"))? {
        let entry = entry?;
        let path = Utf8PathBuf::try_from(entry.path())?;
        if skipped(path.file_name().unwrap_or_default()) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            files_under(&path, skipped, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// The hash of `files`' names and contents, in the order given.
pub fn of_files(files: &[Utf8PathBuf]) -> Result<u64> {
    let mut hash = Fnv::default();
    for file in files {
        hash.write(file.as_str().as_bytes());
        hash.write(&std::fs::read(file).with_context(|| format!("cannot read {file}"))?);
    }
    Ok(hash.0)
}
