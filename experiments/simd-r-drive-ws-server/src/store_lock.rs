//! One server per storage file. The engine neither locks its file nor sees another
//! process's appends, so two servers on one file overwrite each other's acknowledged
//! writes. An exclusive `flock`, held for the server's life, turns that into a clear error.

use anyhow::{Context, bail};
use std::fs::File;
use std::io;
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
        .map_err(|e| anyhow::anyhow!("cannot open storage file {shown}: {e}; {}", advice(&e)))?;
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

/// What to do when the storage file cannot be opened for reading and writing.
fn advice(error: &io::Error) -> &'static str {
    match error.kind() {
        ErrorKind::PermissionDenied => {
            "the server reads and writes it: give it read and write permission (chmod u+rw), \
             check its owner, or clear an immutable flag (lsattr, chattr -i)"
        }
        ErrorKind::ReadOnlyFilesystem => {
            "its file system is mounted read-only: give a path on a writable one"
        }
        ErrorKind::NotFound => "its folder does not exist: create it first",
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => "the disk is full: free some space",
        _ => "give a path to a file the server can read and write",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_that_fails_says_what_to_do() {
        let said = |kind: ErrorKind| advice(&io::Error::from(kind));
        assert!(said(ErrorKind::PermissionDenied).contains("chmod u+rw"));
        assert!(said(ErrorKind::ReadOnlyFilesystem).contains("read-only"));
        assert!(said(ErrorKind::Other).starts_with("give a path"));
    }

    #[test]
    fn a_file_without_permissions_is_an_error_with_advice() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.bin");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        // Root may write anyway: then there is nothing to check here.
        if std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
            return;
        }
        let error = lock(&path).unwrap_err().to_string();
        assert!(error.contains("cannot open storage file"), "{error}");
        assert!(error.contains("chmod u+rw"), "{error}");
    }
}
