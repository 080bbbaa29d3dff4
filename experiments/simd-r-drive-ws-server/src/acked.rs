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
//!
//! **A write under way.** Before each write the server records that one is under way (the
//! top bit of the sequence number), and after it the new end. Only then may a start cut
//! the bytes after the record: they are what that one write left. Bytes after a record
//! that shows no write under way were written past this record (through another name of
//! the file, or in a copy put back without its record): the record is out of date, and
//! the file is then checked as a store without one. The record is named after the file's
//! real path (symbolic links resolved), so that every name of a store shares it.
//!
//! The record is never opened through a symbolic link, is read at most [`RECORD_SIZE`]
//! bytes, and is created with the store's permissions (see [`beside`]).

use crate::beside;
use anyhow::Context;
use simd_r_drive::METADATA_SIZE;
use std::fs::File;
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const SLOT: usize = 64;
const BODY: usize = 16 + METADATA_SIZE;
/// Two slots: all a record holds, and all that is read of it.
const RECORD_SIZE: usize = 2 * SLOT;
/// The bit of the sequence number that says a write was under way.
const UNDER_WAY: u64 = 1 << 63;

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

    /// Whether the metadata record that ends at this tail in `file` is the one recorded.
    pub(crate) fn matches(&self, file: &File) -> anyhow::Result<bool> {
        let found = Acked::read_from(file, self.tail).context("cannot read the storage file")?;
        Ok(found == *self)
    }
}

/// What is beside a storage file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// No record: a store from before records were kept, or a new one.
    Missing,
    /// A record whose slots all fail their checksum.
    Damaged,
    /// The last acknowledged write, and whether another one had begun after it.
    At { acked: Acked, under_way: bool },
}

/// `STORE.acked` beside the real path of `STORE`: a symbolic link to a store shares the
/// store's record. A path that cannot be resolved (nothing there yet) is taken as given.
pub(crate) fn path_for(storage: &Path) -> PathBuf {
    let real = std::fs::canonicalize(storage).unwrap_or_else(|_| storage.to_path_buf());
    let mut name = real.into_os_string();
    name.push(".acked");
    PathBuf::from(name)
}

/// Reads the record beside `storage`.
pub(crate) fn read(storage: &Path) -> anyhow::Result<Found> {
    let path = path_for(storage);
    let Some(bytes) = beside::read_small(&path, RECORD_SIZE).with_context(|| {
        format!(
            "cannot read the record of acknowledged writes {}",
            path.display()
        )
    })?
    else {
        return Ok(Found::Missing);
    };
    let newest = bytes
        .chunks_exact(SLOT)
        .filter_map(decode)
        .max_by_key(|slot| slot.seq);
    Ok(newest.map_or(Found::Damaged, |slot| Found::At {
        acked: slot.acked,
        under_way: slot.under_way,
    }))
}

/// One slot, decoded.
struct Slot {
    seq: u64,
    under_way: bool,
    acked: Acked,
}

fn decode(slot: &[u8]) -> Option<Slot> {
    let (body, rest) = slot.split_at(BODY);
    let crc = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
    if crc32fast::hash(body) != crc {
        return None;
    }
    let word = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
    let last_meta = body[16..].try_into().expect("20 bytes");
    Some(Slot {
        seq: word(8) & !UNDER_WAY,
        under_way: word(8) & UNDER_WAY != 0,
        acked: Acked {
            tail: word(0),
            last_meta,
        },
    })
}

fn encode(seq: u64, under_way: bool, acked: &Acked) -> [u8; SLOT] {
    let mut slot = [0; SLOT];
    let flagged = seq | if under_way { UNDER_WAY } else { 0 };
    slot[..8].copy_from_slice(&acked.tail.to_le_bytes());
    slot[8..16].copy_from_slice(&flagged.to_le_bytes());
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
    /// What the record says was acknowledged last.
    last: Acked,
}

impl Recorder {
    /// Opens (or creates, with the store's permissions) the record beside `storage` and
    /// writes `acked` to it, fsynced.
    pub(crate) fn start(storage: &Path, acked: &Acked, sync: bool) -> anyhow::Result<Recorder> {
        let path = path_for(storage);
        let shown = path.display();
        let file = beside::open_record(storage, &path)
            .with_context(|| format!("cannot open the record of acknowledged writes {shown}"))?;
        let mut bytes = vec![0; RECORD_SIZE];
        let n = read_at_most(&file, &mut bytes).with_context(|| format!("cannot read {shown}"))?;
        let seq = bytes[..n]
            .chunks_exact(SLOT)
            .filter_map(decode)
            .map(|slot| slot.seq)
            .max()
            .unwrap_or(0);
        let mut recorder = Recorder {
            file,
            seq,
            sync,
            last: *acked,
        };
        recorder
            .record(acked)
            .and_then(|()| recorder.file.sync_all())
            .with_context(|| format!("cannot write the record of acknowledged writes {shown}"))?;
        Ok(recorder)
    }

    /// Records that a write begins after the last acknowledged one: until the next
    /// [`Recorder::record`], a start may cut what follows it.
    pub(crate) fn begin_write(&mut self) -> io::Result<()> {
        let last = self.last;
        self.put(&last, true)
    }

    /// Records `acked` as the end of the last acknowledged write, with no write under way.
    pub(crate) fn record(&mut self, acked: &Acked) -> io::Result<()> {
        self.put(acked, false)?;
        self.last = *acked;
        Ok(())
    }

    /// Records again that no write is under way (after a write that wrote nothing, or one
    /// that was undone).
    pub(crate) fn settle(&mut self) -> io::Result<()> {
        let last = self.last;
        self.record(&last)
    }

    /// After a failure the next try writes the same slot again, so that the slot of the
    /// last record that held stays whole.
    fn put(&mut self, acked: &Acked, under_way: bool) -> io::Result<()> {
        let seq = self.seq + 1;
        let at = (seq % 2) * SLOT as u64;
        self.file.write_all_at(&encode(seq, under_way, acked), at)?;
        if self.sync {
            self.file.sync_data()?;
        }
        self.seq = seq;
        Ok(())
    }
}

/// Reads up to `buf.len()` bytes from the start of `file`.
fn read_at_most(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64)? {
            0 => break,
            read => n += read,
        }
    }
    Ok(n)
}

/// Writes `acked` as the record beside `storage` (after a repair), fsynced.
pub(crate) fn reset(storage: &Path, acked: &Acked) -> anyhow::Result<()> {
    Recorder::start(storage, acked, true).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(acked: Acked, under_way: bool) -> Found {
        Found::At { acked, under_way }
    }

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
        std::fs::write(&storage, b"").unwrap();
        assert_eq!(read(&storage).unwrap(), Found::Missing);
        let mut recorder = Recorder::start(&storage, &acked(0), false).unwrap();
        recorder.record(&acked(100)).unwrap();
        recorder.record(&acked(200)).unwrap();
        assert_eq!(read(&storage).unwrap(), at(acked(200), false));

        // A power cut tears the newest slot: the one before it is the record.
        let path = path_for(&storage);
        let mut bytes = std::fs::read(&path).unwrap();
        let newest = (recorder.seq % 2) as usize * SLOT;
        bytes[newest + 3] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read(&storage).unwrap(), at(acked(100), false));

        // A restart goes on from the highest sequence number; a write begun and not
        // finished shows.
        let mut recorder = Recorder::start(&storage, &acked(100), false).unwrap();
        recorder.record(&acked(300)).unwrap();
        assert_eq!(read(&storage).unwrap(), at(acked(300), false));
        recorder.begin_write().unwrap();
        assert_eq!(read(&storage).unwrap(), at(acked(300), true));
        recorder.settle().unwrap();
        assert_eq!(read(&storage).unwrap(), at(acked(300), false));

        std::fs::write(&path, [0xAB; 2 * SLOT]).unwrap();
        assert_eq!(read(&storage).unwrap(), Found::Damaged);
    }
}
