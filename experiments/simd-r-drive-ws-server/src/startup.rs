//! What the server does with a storage file before the engine opens it: a plain start, with
//! no flag, after any crash of the server.
//!
//! The record of the last acknowledged write ([`acked`]) says where the store ends. Bytes
//! after it were never acknowledged (a write cut short by a crash, or one whose reply never
//! went out): they are cut, with one log line, without being read as entries. Anything
//! else that is wrong (an entry at or before the record that fails its check, a file
//! shorter than the record, a record that does not match the file) is refused, the file
//! untouched; `--repair` (see [`repair`]) says what it would cut.
//!
//! A store without a record (made before records were kept) is checked as it always was:
//! its newest entry must be whole; then the record is written.

use crate::acked::{self, Acked, Found};
use crate::{repair, store_check};
use anyhow::{Context, bail};
use std::fs::File;
use std::path::Path;

/// How the file may be changed at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Only a tail past the last acknowledged write is cut.
    Plain,
    /// `--repair`: cut back to the last valid entry; `discard_entries` allows a cut that
    /// removes whole entries (`--repair-discard-entries`).
    Repair { discard_entries: bool },
}

/// Checks (and, as `mode` allows, cuts) the storage file; returns where its acknowledged
/// writes end, which is then its length.
pub(crate) fn prepare(path: &Path, mode: Mode) -> anyhow::Result<Acked> {
    let Some((file, len)) = store_check::open_existing(path)? else {
        // A record left beside a file that is gone describes nothing.
        return Ok(Acked::EMPTY);
    };
    match mode {
        Mode::Plain => plain(path, &file, len),
        Mode::Repair { discard_entries } => repair::run(path, &file, len, discard_entries),
    }
}

fn plain(path: &Path, file: &File, len: u64) -> anyhow::Result<Acked> {
    let shown = path.display();
    let record = acked::path_for(path);
    let record = record.display();
    let acked = match acked::read(path)? {
        Found::Missing => {
            store_check::verify_intact(path)?;
            return Acked::read_from(file, len).with_context(|| format!("cannot read {shown}"));
        }
        Found::Damaged => bail!(
            "the record of acknowledged writes {record} is damaged, so storage file {shown} cannot be checked; both were left untouched (start with --repair to check the file and write the record anew)"
        ),
        Found::At(acked) => acked,
    };
    if acked.tail > len {
        bail!(
            "storage file {shown} ends at {len} bytes, before its last acknowledged write (which ended at {}): acknowledged writes are missing (a power cut without --sync?); it was left untouched (start with --repair, which says what it would cut before it cuts)",
            acked.tail
        );
    }
    if !matches(file, &acked)? {
        bail!(
            "the record of acknowledged writes {record} does not match storage file {shown} (was another store copied over it?); both were left untouched (remove the record to check the file as a store without one, or start with --repair)"
        );
    }
    store_check::verify_prefix(path, file, acked.tail)?;
    if acked.tail == 0 && len > 0 && store_check::verify_intact(path).is_ok() {
        bail!(
            "storage file {shown} holds a whole store, but its record {record} says it is empty (was a store copied over it?); both were left untouched (remove the record if this store was put there on purpose)"
        );
    }
    if acked.tail < len {
        cut(path, acked.tail)?;
        tracing::warn!(
            "storage file {shown}: cut {} bytes after the last acknowledged write (at {}), the rest of a write that a crash cut short or that was never acknowledged",
            len - acked.tail,
            acked.tail
        );
    }
    Ok(acked)
}

/// Whether the metadata record that ends at the acknowledged tail is the one recorded.
pub(crate) fn matches(file: &File, acked: &Acked) -> anyhow::Result<bool> {
    let found = Acked::read_from(file, acked.tail).context("cannot read the storage file")?;
    Ok(found == *acked)
}

/// Cuts the file to `len` bytes, durably.
pub(crate) fn cut(path: &Path, len: u64) -> anyhow::Result<()> {
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

/// `--verify`: reads every entry and refuses the file if one fails its checksum.
pub(crate) fn verify_every_entry(path: &Path, tail: u64) -> anyhow::Result<()> {
    let shown = path.display();
    let scanned = store_check::scan_all(path, tail)?;
    if let Some(newest) = scanned.bad.first() {
        bail!(
            "storage file {shown} has {} damaged entries of {} (the newest ends at offset {newest}): their values fail their checksums; it was left untouched (restore it from a backup, or start without --verify to serve the other keys: reads of a damaged value fail)",
            scanned.bad.len(),
            scanned.entries
        );
    }
    tracing::info!(
        "--verify: all {} entries of storage file {shown} match their checksums",
        scanned.entries
    );
    Ok(())
}
