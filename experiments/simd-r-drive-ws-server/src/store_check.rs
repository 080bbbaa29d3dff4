//! A read-only integrity check of a storage file.
//!
//! `DataStore::open` treats a broken tail as a crash to recover from and truncates the file
//! to its last valid entry. For a file that is not a store at all, that is every byte. The
//! server refuses such a file instead, so that a wrong path never costs the user data.

use anyhow::{Context, bail};
use simd_r_drive::{METADATA_SIZE, NULL_BYTE, PAYLOAD_ALIGNMENT};
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Succeeds for a missing file (the engine creates it), an empty file, and a file whose
/// newest entry starts an unbroken chain of entries back to offset 0.
pub(crate) fn verify_intact(path: &Path) -> anyhow::Result<()> {
    let shown = path.display();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read storage file {shown}")),
    };
    let meta = file
        .metadata()
        .with_context(|| format!("cannot stat {shown}"))?;
    if !meta.is_file() {
        bail!("storage path {shown} is not a regular file; give the path of a storage file");
    }
    let len = meta.len();
    if len == 0
        || chain_reaches_start(&file, len)
            .with_context(|| format!("cannot read storage file {shown}"))?
    {
        return Ok(());
    }
    bail!(
        "storage file {shown} is corrupt or not a simd-r-drive store; it was left untouched (give another path, or --repair to cut it back to its last valid entry)"
    )
}

/// Walks the entry chain back from `len` the way the engine's recovery does, reading only the
/// 20-byte metadata records (and tombstone bytes).
fn chain_reaches_start(file: &File, len: u64) -> std::io::Result<bool> {
    let meta_size = METADATA_SIZE as u64;
    let mut cursor = len;
    while cursor != 0 {
        if cursor < meta_size {
            return Ok(false);
        }
        let meta_offset = cursor - meta_size;
        let mut meta = [0u8; METADATA_SIZE];
        file.read_exact_at(&mut meta, meta_offset)?;
        let prev_tail = u64::from_le_bytes(meta[8..16].try_into().expect("8 bytes"));
        if prev_tail >= meta_offset {
            return Ok(false);
        }
        if entry_start(file, prev_tail, meta_offset)? >= meta_offset {
            return Ok(false);
        }
        cursor = prev_tail;
    }
    Ok(true)
}

/// A tombstone is one NUL byte right after the previous tail; any other entry's payload
/// starts at the next aligned offset.
fn entry_start(file: &File, prev_tail: u64, meta_offset: u64) -> std::io::Result<u64> {
    if meta_offset - prev_tail == 1 {
        let mut byte = [0u8; 1];
        file.read_exact_at(&mut byte, prev_tail)?;
        if byte == NULL_BYTE {
            return Ok(prev_tail);
        }
    }
    let pad = (PAYLOAD_ALIGNMENT - prev_tail % PAYLOAD_ALIGNMENT) % PAYLOAD_ALIGNMENT;
    Ok(prev_tail + pad)
}

#[cfg(test)]
mod tests {
    use super::verify_intact;
    use simd_r_drive::DataStore;
    use simd_r_drive::traits::DataStoreWriter;
    use std::path::Path;

    /// A store with payloads of many sizes, overwrites and tombstones.
    fn build_store(path: &Path) {
        let store = DataStore::open(path).unwrap();
        for i in 0..40u32 {
            let payload = vec![b'x'; (i as usize * 37) % 300 + 1];
            store.write(&i.to_le_bytes(), &payload).unwrap();
            if i % 7 == 3 {
                store.delete(&(i - 1).to_le_bytes()).unwrap();
            }
        }
    }

    /// Would the engine keep every byte of this file? Asked on a copy, since it truncates.
    fn engine_keeps_all(path: &Path, scratch: &Path) -> bool {
        std::fs::copy(path, scratch).unwrap();
        let before = std::fs::metadata(scratch).unwrap().len();
        drop(DataStore::open(scratch).unwrap());
        std::fs::metadata(scratch).unwrap().len() == before
    }

    /// Every prefix that we call intact must be one the engine keeps whole, and a sample of
    /// the others (opening costs the engine a 64 MiB buffer, so not all of them) must be
    /// ones it would cut.
    #[test]
    fn agrees_with_the_engine_on_truncations() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("full.bin");
        build_store(&full);
        let bytes = std::fs::read(&full).unwrap();
        let (cut, scratch) = (dir.path().join("cut.bin"), dir.path().join("scratch.bin"));
        let mut intact = 0;
        for len in 0..=bytes.len() {
            std::fs::write(&cut, &bytes[..len]).unwrap();
            let ours = verify_intact(&cut).is_ok();
            if ours || len % 23 == 0 {
                assert_eq!(
                    ours,
                    engine_keeps_all(&cut, &scratch),
                    "disagree at length {len}"
                );
            }
            intact += usize::from(ours);
        }
        assert!(intact > 40, "only {intact} prefixes were intact");
    }

    #[test]
    fn missing_file_is_fine_and_directory_is_not() {
        let dir = tempfile::tempdir().unwrap();
        assert!(verify_intact(&dir.path().join("new.bin")).is_ok());
        assert!(verify_intact(dir.path()).is_err());
    }
}
