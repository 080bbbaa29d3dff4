//! The record of the last acknowledged write, kept beside the storage file (`STORE.acked`).
//!
//! After a crash the file may end in bytes of a write that was never acknowledged: a large
//! write cut short, or a whole write whose reply never went out. Those bytes can hold
//! anything a value can, including what looks like entries (a value may hold another
//! store's bytes), so where the last acknowledged write ended cannot be read from the file
//! itself. The server writes it down here after every write, before the reply, and at
//! startup cuts what lies past it without reading it as entries.
//!
//! Format: two slots of [`SLOT`] bytes, written in turn. Each holds the tail (u64 LE), a
//! sequence number (u64 LE), the 20-byte metadata record of the entry that ends at the
//! tail, and the CRC32 of those 36 bytes. The newest slot whose CRC holds is the record, so
//! a slot torn by a power cut leaves the one before it. The metadata ties the record to its
//! file: a store copied over another, with the old record left beside it, does not match.

use anyhow::Context;
use simd_r_drive::METADATA_SIZE;
use std::fs::File;
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const SLOT: usize = 64;
const BODY: usize = 16 + METADATA_SIZE;

/// Where the last acknowledged write ended, and the metadata record that ends there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Acked {
    pub(crate) tail: u64,
    /// All zero for an empty store.
    pub(crate) last_meta: [u8; METADATA_SIZE],
}

impl Acked {
    pub(crate) const EMPTY: Acked = Acked {
        tail: 0,
        last_meta: [0; METADATA_SIZE],
    };

    /// Reads the metadata record that ends at `tail` from the storage file.
    pub(crate) fn read_from(file: &File, tail: u64) -> io::Result<Acked> {
        let mut last_meta = [0; METADATA_SIZE];
        if tail > 0 {
            let at = tail.checked_sub(METADATA_SIZE as u64).ok_or_else(|| {
                io::Error::new(ErrorKind::InvalidData, "tail before the first entry")
            })?;
            file.read_exact_at(&mut last_meta, at)?;
        }
        Ok(Acked { tail, last_meta })
    }
}

/// What is beside a storage file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// No record: a store from before records were kept, or a new one.
    Missing,
    /// A record whose slots all fail their checksum.
    Damaged,
    At(Acked),
}

/// `STORE.acked` for `STORE`.
pub(crate) fn path_for(storage: &Path) -> PathBuf {
    let mut name = storage.as_os_str().to_owned();
    name.push(".acked");
    PathBuf::from(name)
}

/// Reads the record beside `storage`.
pub(crate) fn read(storage: &Path) -> anyhow::Result<Found> {
    let path = path_for(storage);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let newest = bytes
        .chunks_exact(SLOT)
        .filter_map(decode)
        .max_by_key(|(seq, _)| *seq);
    Ok(newest.map_or(Found::Damaged, |(_, acked)| Found::At(acked)))
}

fn decode(slot: &[u8]) -> Option<(u64, Acked)> {
    let (body, rest) = slot.split_at(BODY);
    let crc = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
    if crc32fast::hash(body) != crc {
        return None;
    }
    let word = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
    let last_meta = body[16..].try_into().expect("20 bytes");
    Some((
        word(8),
        Acked {
            tail: word(0),
            last_meta,
        },
    ))
}

fn encode(seq: u64, acked: &Acked) -> [u8; SLOT] {
    let mut slot = [0; SLOT];
    slot[..8].copy_from_slice(&acked.tail.to_le_bytes());
    slot[8..16].copy_from_slice(&seq.to_le_bytes());
    slot[16..BODY].copy_from_slice(&acked.last_meta);
    let crc = crc32fast::hash(&slot[..BODY]);
    slot[BODY..BODY + 4].copy_from_slice(&crc.to_le_bytes());
    slot
}

/// Writes the record; with `sync`, each update is fsynced before the write is acknowledged.
pub(crate) struct Recorder {
    file: File,
    seq: u64,
    sync: bool,
}

impl Recorder {
    /// Opens (or creates) the record beside `storage` and writes `acked` to it, fsynced.
    pub(crate) fn start(storage: &Path, acked: &Acked, sync: bool) -> anyhow::Result<Recorder> {
        let path = path_for(storage);
        let shown = path.display();
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the record of acknowledged writes {shown}"))?;
        let seq = std::fs::read(&path)
            .map(|b| {
                b.chunks_exact(SLOT)
                    .filter_map(decode)
                    .map(|(s, _)| s)
                    .max()
            })
            .with_context(|| format!("cannot read {shown}"))?
            .unwrap_or(0);
        let mut recorder = Recorder { file, seq, sync };
        recorder
            .record(acked)
            .and_then(|()| recorder.file.sync_all())
            .with_context(|| format!("cannot write the record of acknowledged writes {shown}"))?;
        Ok(recorder)
    }

    /// Records `acked` as the end of the last acknowledged write. After a failure the next
    /// try writes the same slot again, so that the slot of the last record that held stays
    /// whole.
    pub(crate) fn record(&mut self, acked: &Acked) -> io::Result<()> {
        let seq = self.seq + 1;
        let at = (seq % 2) * SLOT as u64;
        self.file.write_all_at(&encode(seq, acked), at)?;
        if self.sync {
            self.file.sync_data()?;
        }
        self.seq = seq;
        Ok(())
    }
}

/// Writes `acked` as the record beside `storage` (after a repair), fsynced.
pub(crate) fn reset(storage: &Path, acked: &Acked) -> anyhow::Result<()> {
    Recorder::start(storage, acked, true).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(tail: u64) -> Acked {
        Acked {
            tail,
            last_meta: [tail as u8; METADATA_SIZE],
        }
    }

    #[test]
    fn the_newest_slot_wins_and_a_torn_one_leaves_the_older() {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("s.bin");
        assert_eq!(read(&storage).unwrap(), Found::Missing);
        let mut recorder = Recorder::start(&storage, &acked(0), false).unwrap();
        recorder.record(&acked(100)).unwrap();
        recorder.record(&acked(200)).unwrap();
        assert_eq!(read(&storage).unwrap(), Found::At(acked(200)));

        // A power cut tears the newest slot: the one before it is the record.
        let path = path_for(&storage);
        let mut bytes = std::fs::read(&path).unwrap();
        let newest = (recorder.seq % 2) as usize * SLOT;
        bytes[newest + 3] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read(&storage).unwrap(), Found::At(acked(100)));

        // A restart goes on from the highest sequence number.
        let mut recorder = Recorder::start(&storage, &acked(100), false).unwrap();
        recorder.record(&acked(300)).unwrap();
        assert_eq!(read(&storage).unwrap(), Found::At(acked(300)));

        std::fs::write(&path, [0xAB; 2 * SLOT]).unwrap();
        assert_eq!(read(&storage).unwrap(), Found::Damaged);
    }
}
