//! What the server does with a storage file before the engine opens it: a plain start, with
//! no flag, after any crash of the server.
//!
//! The record of the last acknowledged write ([`acked`]) says where the store ends, and
//! whether a write had begun after it. Only then are the bytes after it cut: they are what
//! that one write left (cut short by a crash, or whole but never acknowledged), and they
//! are cut without being read as entries, a copy kept beside the store (see [`cutting`]).
//! Bytes after a record that shows no write under way were written past the record
//! (through another name of the file, or in a copy put back without its record): the record
//! is out of date, so the file is checked as a store without one and nothing is cut.
//! Anything else that is wrong (an entry at or before the record that fails its check, a
//! file shorter than the record, a record that does not match the file) is refused, the
//! file untouched; `--repair` (see [`repair`]) says what it would cut.
//!
//! A store without a record (made before records were kept) is checked as it always was:
//! its newest entry must be whole; then the record is written.

use crate::acked::{self, Acked, Found};
use crate::{cutting, repair, store_check};
use anyhow::{Context, bail};
use std::fs::File;
use std::path::Path;

/// How the file may be changed at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Only what one unacknowledged write left after the record is cut.
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
    let (acked, under_way) = match acked::read(path)? {
        Found::Missing => return by_the_file_alone(path, file, len),
        Found::Damaged => bail!(
            "the record of acknowledged writes {record} is damaged, so storage file {shown} cannot be checked; both were left untouched (start with --repair to check the file and write the record anew)"
        ),
        Found::At { acked, under_way } => (acked, under_way),
    };
    if acked.tail > len {
        bail!(
            "storage file {shown} ends at {len} bytes, before its last acknowledged write (which ended at {}): acknowledged writes are missing (a power cut without --sync, or an older copy put back?); it was left untouched (start with --repair, which says what it would cut before it cuts)",
            acked.tail
        );
    }
    if !acked.matches(file)? {
        bail!(
            "the record of acknowledged writes {record} does not match storage file {shown} (was another store copied over it?); both were left untouched (remove the record to check the file as a store without one, or start with --repair)"
        );
    }
    store_check::verify_prefix(path, file, acked.tail)?;
    if acked.tail < len && !under_way {
        tracing::warn!(
            "storage file {shown} goes on for {} bytes after the last write its record {record} knows of, and the record shows no write under way: they were written under another name of the file or in a copy put back; going by the file alone, nothing is cut",
            len - acked.tail
        );
        return by_the_file_alone(path, file, len).with_context(|| format!(
            "the record of acknowledged writes {record} is out of date (the file goes on after it, and it shows no write under way), so nothing was cut"
        ));
    }
    if acked.tail < len {
        let copy = cutting::keep_and_cut(path, file, acked.tail, len)?;
        tracing::warn!(
            "storage file {shown}: cut {} bytes after the last acknowledged write (at {}), the rest of a write that a crash cut short or that was never acknowledged; they are kept in {}",
            len - acked.tail,
            acked.tail,
            copy.display()
        );
    }
    Ok(acked)
}

/// A store with no record to go by (or none to trust): it must be whole as it is.
fn by_the_file_alone(path: &Path, file: &File, len: u64) -> anyhow::Result<Acked> {
    store_check::verify_prefix(path, file, len)?;
    Acked::read_from(file, len).with_context(|| format!("cannot read {}", path.display()))
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
