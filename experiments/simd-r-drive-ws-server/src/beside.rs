//! The files the server keeps beside a store (the record of acknowledged writes, copies of
//! cut bytes): opened without following a symbolic link, created with the store's own
//! permissions, and read no further than they can be long.
//!
//! The folder of a store may be shared (`/tmp`): a link planted at `STORE.acked` must not
//! make the server write into the link's target, a FIFO there must not block the start,
//! and a store kept at 0600 must not get a world-readable copy of its values.

use std::fs::File;
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Up to `max` bytes of the regular file at `path`; `None` if nothing is there.
pub(crate) fn read_small(path: &Path, max: usize) -> io::Result<Option<Vec<u8>>> {
    let file = match File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(refused_link(e)),
    };
    regular(&file)?;
    let mut bytes = Vec::new();
    file.take(max as u64).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Opens the record at `path` for reading and writing, creating it with the permissions
/// of `storage` if missing.
pub(crate) fn open_record(storage: &Path, path: &Path) -> io::Result<File> {
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(store_mode(storage)?)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(refused_link)?;
    regular(&file)?;
    Ok(file)
}

/// Creates a new file at `path` (never one that exists, nor through a link) with the
/// permissions of `storage`.
pub(crate) fn create_new(storage: &Path, path: &Path) -> io::Result<File> {
    File::options()
        .write(true)
        .create_new(true)
        .mode(store_mode(storage)?)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// The permission bits of the store; the umask may only take more away.
fn store_mode(storage: &Path) -> io::Result<u32> {
    Ok(std::fs::metadata(storage)?.permissions().mode() & 0o777)
}

fn regular(file: &File) -> io::Result<()> {
    if file.metadata()?.is_file() {
        return Ok(());
    }
    Err(io::Error::new(
        ErrorKind::InvalidInput,
        "it is not a regular file (a FIFO, a device, a folder?); remove it",
    ))
}

/// `O_NOFOLLOW` fails on a symbolic link with `ELOOP`: say so, and what to do.
fn refused_link(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return io::Error::new(
            ErrorKind::InvalidInput,
            "it is a symbolic link, which the server does not follow there; remove it",
        );
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_fifos_are_refused_and_reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"untouched").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let store = dir.path().join("store");
        std::fs::write(&store, b"").unwrap();
        let err = open_record(&store, &link).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert!(read_small(&link, 8).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"untouched");

        let fifo = dir.path().join("fifo");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let err = read_small(&fifo, 8).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");

        std::fs::write(&target, vec![7; 1000]).unwrap();
        assert_eq!(read_small(&target, 128).unwrap().unwrap().len(), 128);
    }
}
