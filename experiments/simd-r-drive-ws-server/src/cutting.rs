//! Cutting a storage file back, always after keeping a copy of what is cut beside it
//! (`STORE.cut-OFFSET-TIME`, fsynced, with the store's permissions): a start that cuts
//! the wrong bytes loses nothing that cannot be put back.

use crate::beside;
use anyhow::Context;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Copies bytes `from..len` of `file` (the store at `path`) beside it, then cuts the store
/// to `from` bytes; returns the copy's path.
pub(crate) fn keep_and_cut(
    path: &Path,
    file: &File,
    from: u64,
    len: u64,
) -> anyhow::Result<PathBuf> {
    let copy = save(path, file, from, len)?;
    cut(path, from)?;
    Ok(copy)
}

/// Copies bytes `from..len` to a new file beside the store, fsynced, before they are cut.
fn save(path: &Path, file: &File, from: u64, len: u64) -> anyhow::Result<PathBuf> {
    let (copy, mut out) = new_copy(path, from).with_context(|| {
        format!(
            "cannot create a copy of the bytes to cut beside {}; nothing was cut",
            path.display()
        )
    })?;
    let mut write = || -> std::io::Result<()> {
        let mut buf = vec![0; (len - from).min(1 << 20) as usize];
        let mut at = from;
        while at < len {
            let n = buf.len().min((len - at) as usize);
            file.read_exact_at(&mut buf[..n], at)?;
            out.write_all(&buf[..n])?;
            at += n as u64;
        }
        out.sync_all()
    };
    write().with_context(|| {
        format!(
            "cannot keep a copy of the bytes to cut in {}; nothing was cut",
            copy.display()
        )
    })?;
    Ok(copy)
}

/// A new file named `STORE.cut-OFFSET-TIME`, with `-N` added if that name is taken (two
/// cuts at one offset within a second).
fn new_copy(path: &Path, from: u64) -> std::io::Result<(PathBuf, File)> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut n = 1;
    loop {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".cut-{from}-{secs}"));
        if n > 1 {
            name.push(format!("-{n}"));
        }
        let copy = PathBuf::from(name);
        match beside::create_new(path, &copy) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            created => return created.map(|file| (copy, file)),
        }
    }
}

/// Cuts the file to `len` bytes, durably.
fn cut(path: &Path, len: u64) -> anyhow::Result<()> {
    File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len).and_then(|()| f.sync_all()))
        .with_context(|| {
            format!(
                "cannot cut storage file {} back to {len} bytes",
                path.display()
            )
        })
}
