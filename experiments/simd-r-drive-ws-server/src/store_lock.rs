//! One server per storage file. The engine neither locks its file nor sees another
//! process's appends, so two servers on one file overwrite each other's acknowledged
//! writes. An exclusive `flock`, held for the server's life, turns that into a clear error.

use anyhow::{Context, bail};
use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Opens (creating it if missing) and locks the storage file. The returned `File` holds the
/// lock until it is dropped; the kernel releases it if the process dies.
pub(crate) fn lock(path: &Path) -> anyhow::Result<File> {
    let shown = path.display();
    // Checked before any open: opening a FIFO would block until a writer comes.
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            bail!("storage path {shown} is not a regular file; give the path of a storage file")
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read storage file {shown}")),
    }
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot open storage file {shown}"))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let error = std::io::Error::last_os_error();
        if error.kind() == ErrorKind::WouldBlock {
            bail!(
                "storage file {shown} is in use by another process (another server?); stop it or give another path"
            );
        }
        return Err(error).with_context(|| format!("cannot lock storage file {shown}"));
    }
    Ok(file)
}
