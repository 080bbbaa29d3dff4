//! The store as the handlers see it: the `simd-r-drive` engine, plus what the engine lacks
//! for a server that acknowledges writes.
//!
//! - **A failed write is undone.** When a write fails part-way (a full disk, `RLIMIT_FSIZE`)
//!   the engine keeps its file position and its write buffer but not its tail offset, so
//!   the next write would be acknowledged and then read back wrong. Here every write runs
//!   under one writer lock; after a failure the engine is dropped, the file is cut back to
//!   the last acknowledged tail and the engine is opened again. If that fails too, every
//!   later call is refused with the reason until the server is restarted.
//! - **Counts are of live keys.** After a restart the engine's index counts a key whose
//!   newest entry is a tombstone, so `len` is kept here: counted from the file at open, then
//!   changed by each acknowledged write.
//! - **The end of the last acknowledged write is recorded** beside the file (see
//!   [`acked`]) before the reply goes out, and that a write is under way before it
//!   begins, so that a restart after a crash knows which bytes at the end were never
//!   acknowledged, and that no other bytes are.
//! - **Reads check what they return**: a value whose payload fails its CRC32 is an error
//!   naming the key, never bytes that were not written.
//! - **`--sync`** fsyncs the file, then the record, before a write is acknowledged.

use crate::acked::{self, Acked};
use crate::store_check;
use simd_r_drive::DataStore;
use simd_r_drive::traits::DataStoreReader;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

/// The engine, or why there is none.
enum Slot {
    Open(DataStore),
    Closed,
    /// A failed write could not be undone; the text says what happened and what to do.
    Lost(String),
}

/// What a write does to the set of keys, so that the live count follows it.
pub(crate) enum Change<'a> {
    /// These keys get a value (a key may appear more than once).
    Put(Vec<&'a [u8]>),
    /// This key is deleted.
    Delete(&'a [u8]),
}

pub(crate) struct Store {
    path: PathBuf,
    engine: RwLock<Slot>,
    /// Serialises writes and holds the end of the last acknowledged entry and its record.
    writer: Mutex<Writer>,
    live_keys: AtomicU64,
    /// A descriptor for fsync with `--sync`, and to read back the newest metadata record.
    file: File,
    sync: bool,
}

struct Writer {
    tail: u64,
    record: acked::Recorder,
}

impl Store {
    /// Opens a file that `startup` has checked (or repaired): every byte of it is
    /// acknowledged, and the record beside it is written to say so.
    pub(crate) fn open(path: &Path, sync: bool) -> anyhow::Result<Store> {
        use anyhow::Context;
        let shown = path.display();
        let engine =
            DataStore::open(path).with_context(|| format!("cannot open storage file {shown}"))?;
        let file = File::open(path).with_context(|| format!("cannot open {shown}"))?;
        let len = file
            .metadata()
            .with_context(|| format!("cannot stat {shown}"))?
            .len();
        let acked = Acked::read_from(&file, len).with_context(|| format!("cannot read {shown}"))?;
        let live_keys = store_check::live_keys(path, acked.tail)?;
        let record = acked::Recorder::start(path, &acked, sync)?;
        Ok(Store {
            path: path.to_path_buf(),
            engine: RwLock::new(Slot::Open(engine)),
            writer: Mutex::new(Writer {
                tail: acked.tail,
                record,
            }),
            live_keys: AtomicU64::new(live_keys),
            file,
            sync,
        })
    }

    /// The value of `key`, if any, after checking it against its checksum.
    pub(crate) fn read_value(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        self.read(|e| e.read(key)?.map(|entry| checked(key, &entry)).transpose())
    }

    /// [`Store::read_value`] for many keys at once.
    pub(crate) fn read_values(&self, keys: &[&[u8]]) -> io::Result<Vec<Option<Vec<u8>>>> {
        self.read(|e| {
            let entries = e.batch_read(keys)?;
            keys.iter()
                .zip(entries)
                .map(|(key, entry)| entry.map(|entry| checked(key, &entry)).transpose())
                .collect()
        })
    }

    /// Runs a read-only call on the engine; reads run concurrently with each other.
    pub(crate) fn read<T>(&self, op: impl FnOnce(&DataStore) -> io::Result<T>) -> io::Result<T> {
        let slot = self.engine.read().unwrap_or_else(|p| p.into_inner());
        op(engine(&slot)?)
    }

    /// Runs a write (`op` returns the new tail), keeping the live count; a failed write is
    /// undone before the error is returned.
    pub(crate) fn write(
        &self,
        change: Change,
        op: impl FnOnce(&DataStore) -> io::Result<u64>,
    ) -> io::Result<u64> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let slot = self.engine.read().unwrap_or_else(|p| p.into_inner());
        let engine = engine(&slot)?;
        let (added, removed) = count_change(engine, &change)?;
        writer.record.begin_write()?;
        let written = op(engine).and_then(|new_tail| self.acknowledge(&mut writer, new_tail));
        match written {
            Ok(new_tail) => {
                let live = self.live_keys.load(Ordering::Acquire) + added - removed;
                self.live_keys.store(live, Ordering::Release);
                Ok(new_tail)
            }
            // The engine checks its input before it writes a byte; nothing to undo.
            Err(e) if e.kind() == ErrorKind::InvalidInput => {
                writer.record.settle()?;
                Err(e)
            }
            Err(e) => {
                drop(slot);
                let undone = self.undo(writer.tail, e);
                if let Err(e) = writer.record.settle() {
                    tracing::warn!("cannot record that the failed write was undone: {e}");
                }
                Err(undone)
            }
        }
    }

    /// The number of keys that read back a value.
    pub(crate) fn live_keys(&self) -> io::Result<u64> {
        self.read(|_| Ok(self.live_keys.load(Ordering::Acquire)))
    }

    /// Drops the engine, which flushes and closes its file; later calls are refused.
    pub(crate) fn close(&self) {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut slot = self.engine.write().unwrap_or_else(|p| p.into_inner());
        *slot = Slot::Closed;
    }

    /// Makes a write that reached the file acknowledged: fsynced with `--sync`, then
    /// recorded. Until the record is written, a restart cuts the write.
    fn acknowledge(&self, writer: &mut Writer, new_tail: u64) -> io::Result<u64> {
        if new_tail == writer.tail {
            writer.record.settle()?;
            return Ok(new_tail);
        }
        if self.sync {
            self.file.sync_data()?;
        }
        writer
            .record
            .record(&Acked::read_from(&self.file, new_tail)?)?;
        writer.tail = new_tail;
        Ok(new_tail)
    }

    /// Puts file and engine back as they were at `tail`, and returns the error for the
    /// client. The old engine is dropped first: dropping it flushes what its buffer still
    /// holds, and the cut must come after that.
    fn undo(&self, tail: u64, cause: io::Error) -> io::Error {
        let mut slot = self.engine.write().unwrap_or_else(|p| p.into_inner());
        *slot = Slot::Closed;
        match reopen_at(&self.path, tail) {
            Ok(engine) => {
                *slot = Slot::Open(engine);
                tracing::warn!("a write failed and was undone: {cause}");
                io::Error::new(
                    cause.kind(),
                    format!("write failed and was undone, the store is as it was before: {cause}"),
                )
            }
            Err(e) => {
                let lost = format!(
                    "a write failed ({cause}) and could not be undone ({e}); the server refuses every call until it is restarted (with --repair if it then refuses the file)"
                );
                tracing::error!("{lost}");
                *slot = Slot::Lost(lost.clone());
                io::Error::other(lost)
            }
        }
    }
}

fn engine(slot: &Slot) -> io::Result<&DataStore> {
    match slot {
        Slot::Open(engine) => Ok(engine),
        Slot::Closed => Err(io::Error::other("server is shutting down")),
        Slot::Lost(why) => Err(io::Error::other(why.clone())),
    }
}

/// The payload of `key`'s entry, or an error naming the key if it fails its checksum.
fn checked(key: &[u8], entry: &simd_r_drive::EntryHandle) -> io::Result<Vec<u8>> {
    if !entry.is_valid_checksum() {
        let shown: String = key.escape_ascii().map(char::from).take(200).collect();
        tracing::error!(
            "the value of key \"{shown}\" fails its checksum (the storage file is damaged at offset {})",
            entry.start_offset()
        );
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!(
                "the stored value of key \"{shown}\" is damaged (its checksum does not match); restore the storage file from a backup, or write the key again"
            ),
        ));
    }
    Ok(entry.as_slice().to_vec())
}

/// How many keys a change adds to and removes from the live set.
fn count_change(engine: &DataStore, change: &Change) -> io::Result<(u64, u64)> {
    match change {
        Change::Put(keys) => {
            let mut added = 0;
            for key in keys.iter().collect::<HashSet<_>>() {
                added += u64::from(!engine.exists(key)?);
            }
            Ok((added, 0))
        }
        Change::Delete(key) => Ok((0, u64::from(engine.exists(key)?))),
    }
}

/// Cuts the file to `tail` and opens the engine on it again.
fn reopen_at(path: &Path, tail: u64) -> io::Result<DataStore> {
    let file = File::options().write(true).open(path)?;
    file.set_len(tail)?;
    file.sync_all()?;
    drop(file);
    DataStore::open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use simd_r_drive::traits::DataStoreWriter;
    use std::time::{Duration, Instant};

    /// The cost of `--sync` at the store, without the network: side by side in one run,
    /// `cargo test -p simd-r-drive-ws-server --release --lib measure_sync -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn measure_sync_cost() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Store::open(&dir.path().join("plain.bin"), false).unwrap();
        let synced = Store::open(&dir.path().join("synced.bin"), true).unwrap();
        for (label, len) in [("100 B", 100), ("64 KiB", 64 << 10), ("1 MiB", 1 << 20)] {
            let value = vec![0x5A_u8; len];
            let mut took = [Duration::ZERO; 2];
            // Interleaved rounds, so that both see the same load on the machine.
            for round in 0..20 {
                for (i, store) in [&plain, &synced].into_iter().enumerate() {
                    let started = Instant::now();
                    for n in 0..10 {
                        let key = format!("{label}-{round}-{n}");
                        let key = key.as_bytes();
                        store
                            .write(Change::Put(vec![key]), |e| e.write(key, &value))
                            .unwrap();
                    }
                    took[i] += started.elapsed();
                }
            }
            println!(
                "200 writes of {label}: plain {:?}, --sync {:?}, ratio {:.0}",
                took[0],
                took[1],
                took[1].as_secs_f64() / took[0].as_secs_f64()
            );
        }
    }
}
