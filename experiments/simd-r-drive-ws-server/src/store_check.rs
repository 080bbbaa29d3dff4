//! The server's own reading of a storage file, before the engine opens it.
//!
//! The engine treats a broken tail as a crash to recover from, and its recovery only checks
//! that the entries link back to offset 0. A run of 20 zero bytes (a crash or power cut, the
//! end of a `.tar`) reads as an entry that spans the whole file, so the engine serves the
//! file with every key gone. This module checks more: the newest entry's CRC32 must match
//! its payload, and a zeroed record is never an entry. [`scan_back`] walks back to the last
//! entry that passes both checks, for `--repair` (see `repair`), which shows what it would
//! cut before it cuts.
//!
//! The on-disk format (simd-r-drive 0.17): each entry is `[pre-pad][payload][metadata]`,
//! the metadata being 20 bytes: key hash (u64 LE), the previous entry's end ("tail", u64
//! LE) and the CRC32 of the payload. A payload starts at the first 64-byte aligned offset
//! after the previous tail; a tombstone is one NUL byte right after the previous tail.

use anyhow::{Context, bail};
use simd_r_drive::{METADATA_SIZE, NULL_BYTE, PAYLOAD_ALIGNMENT};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// How much of the file one read brings in while walking it backwards.
const WINDOW: u64 = 1 << 20;

/// Succeeds for a missing file (the engine creates it), an empty file, and a file whose
/// newest entry's checksum holds and whose entries chain back to offset 0.
#[cfg(test)]
pub(crate) fn verify_intact(path: &Path) -> anyhow::Result<()> {
    let Some((file, len)) = open_existing(path)? else {
        return Ok(());
    };
    verify_prefix(path, &file, len)
}

/// As [`verify_intact`] for the first `end` bytes of the file: the bytes after `end` are
/// not read.
pub(crate) fn verify_prefix(path: &Path, file: &File, end: u64) -> anyhow::Result<()> {
    let shown = path.display();
    let flaw = tail_flaw(file, end).with_context(|| format!("cannot read storage file {shown}"))?;
    match flaw {
        None => Ok(()),
        Some(flaw) => bail!(
            "storage file {shown} is corrupt or not a simd-r-drive store ({flaw}); it was left untouched (give another path, or start with --repair, which says what it would cut before it cuts)"
        ),
    }
}

/// Counts the keys whose newest entry is not a tombstone, walking the chain back from
/// `tail`. The engine's index counts a deleted key again after a restart; this does not.
pub(crate) fn live_keys(path: &Path, tail: u64) -> anyhow::Result<u64> {
    let shown = path.display();
    let count = || -> io::Result<u64> {
        let file = File::open(path)?;
        let mut window = Window::new(&file);
        let (mut seen, mut live, mut cursor) = (HashSet::new(), 0, tail);
        while cursor != 0 {
            let entry = entry_ending_at(&mut window, cursor)?
                .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, "broken entry chain"))?;
            if seen.insert(entry.key_hash) && !is_tombstone(&mut window, &entry)? {
                live += 1;
            }
            cursor = entry.prev_tail;
        }
        Ok(live)
    };
    count().with_context(|| format!("cannot count the keys of storage file {shown}"))
}

/// Whether the first `end` bytes of the file are a whole store, as [`verify_prefix`] checks.
pub(crate) fn is_intact_prefix(file: &File, end: u64) -> io::Result<bool> {
    Ok(tail_flaw(file, end)?.is_none())
}

/// `None` for a path with nothing there yet; refuses anything but a regular file.
pub(crate) fn open_existing(path: &Path) -> anyhow::Result<Option<(File, u64)>> {
    let shown = path.display();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read storage file {shown}")),
    };
    let meta = file
        .metadata()
        .with_context(|| format!("cannot stat {shown}"))?;
    if !meta.is_file() {
        bail!("storage path {shown} is not a regular file; give the path of a storage file");
    }
    Ok(Some((file, meta.len())))
}

/// Why a file of `len` bytes is not intact, in words for the error message; `None` if it is.
fn tail_flaw(file: &File, len: u64) -> io::Result<Option<&'static str>> {
    if len == 0 {
        return Ok(None);
    }
    let mut window = Window::new(file);
    let Some(newest) = entry_ending_at(&mut window, len)? else {
        return Ok(Some(if window.is_zeroed_record(len)? {
            "it ends in zero bytes, as a crash or a power cut can leave, or as a .tar does"
        } else {
            "its last bytes are not an entry"
        }));
    };
    if !Chains::without_memory().reach_start(&mut window, len)? {
        return Ok(Some("its entries do not link back to the start"));
    }
    if !checksum_holds(file, &newest)? {
        return Ok(Some("its newest entry's checksum does not match its bytes"));
    }
    Ok(None)
}

/// What lies after the last offset at which a valid store ends.
#[derive(Debug, Default)]
pub(crate) struct Behind {
    /// The largest offset at which a valid store ends: its newest entry's checksum holds
    /// and the chain reaches offset 0. 0 if no offset does.
    pub(crate) valid_tail: u64,
    /// Entries after it whose own checksum holds (whole entries, though their chain does
    /// not reach the start): (key hash, end offset), newest first.
    pub(crate) whole: Vec<(u64, u64)>,
}

/// Walks back from `len`, trying every offset, to the last valid end of a store.
pub(crate) fn scan_back(file: &File, len: u64) -> io::Result<Behind> {
    let mut window = Window::new(file);
    let mut chains = Chains::with_memory();
    let mut behind = Behind::default();
    for tail in (1..=len).rev() {
        let Some(entry) = entry_ending_at(&mut window, tail)? else {
            continue;
        };
        if !checksum_holds(file, &entry)? {
            continue;
        }
        if chains.reach_start(&mut window, tail)? {
            behind.valid_tail = tail;
            break;
        }
        behind.whole.push((entry.key_hash, tail));
    }
    Ok(behind)
}

/// The whole entries (their checksum holds) that end after `at`, up to `len`: (key hash,
/// end offset), newest first; what a cut at `at` removes. Unlike [`scan_back`], it does not
/// stop at an end whose chain reaches the start: past the record of acknowledged writes,
/// such an entry is a write that was never acknowledged.
pub(crate) fn whole_entries_after(file: &File, at: u64, len: u64) -> io::Result<Vec<(u64, u64)>> {
    let mut window = Window::new(file);
    let mut whole = Vec::new();
    for tail in (at + 1..=len).rev() {
        let Some(entry) = entry_ending_at(&mut window, tail)? else {
            continue;
        };
        if checksum_holds(file, &entry)? {
            whole.push((entry.key_hash, tail));
        }
    }
    Ok(whole)
}

/// The key hashes of the entries that the chain ending at `tail` holds.
pub(crate) fn key_hashes(file: &File, tail: u64) -> io::Result<HashSet<u64>> {
    let mut window = Window::new(file);
    let (mut keys, mut cursor) = (HashSet::new(), tail);
    while cursor != 0 {
        let entry = entry_ending_at(&mut window, cursor)?
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, "broken entry chain"))?;
        keys.insert(entry.key_hash);
        cursor = entry.prev_tail;
    }
    Ok(keys)
}

/// What a full scan found: entries read, and the end offsets of those whose payload does
/// not match its checksum, newest first.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Scanned {
    pub(crate) entries: u64,
    pub(crate) bad: Vec<u64>,
}

/// Reads every entry of the chain that ends at `tail` and checks its payload's checksum
/// (`--verify`). The key hash and the link are not covered by any checksum.
pub(crate) fn scan_all(path: &Path, tail: u64) -> anyhow::Result<Scanned> {
    let shown = path.display();
    let scan = || -> io::Result<Scanned> {
        let file = File::open(path)?;
        let mut window = Window::new(&file);
        let (mut scanned, mut cursor) = (Scanned::default(), tail);
        while cursor != 0 {
            let entry = entry_ending_at(&mut window, cursor)?
                .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, "broken entry chain"))?;
            scanned.entries += 1;
            if !checksum_holds(&file, &entry)? {
                scanned.bad.push(cursor);
            }
            cursor = entry.prev_tail;
        }
        Ok(scanned)
    };
    scan().with_context(|| format!("cannot scan storage file {shown}"))
}

/// One entry, located from the metadata record that ends at its tail.
#[derive(Debug)]
struct Entry {
    key_hash: u64,
    prev_tail: u64,
    checksum: [u8; 4],
    /// Where the payload starts (after the pre-pad).
    start: u64,
    /// Where the payload ends and the metadata record starts.
    meta_offset: u64,
}

/// The entry whose metadata ends at `tail`, if those 20 bytes can be one: not all zero,
/// linking to an earlier tail, with a payload of at least one byte.
fn entry_ending_at(window: &mut Window, tail: u64) -> io::Result<Option<Entry>> {
    let meta_size = METADATA_SIZE as u64;
    if tail < meta_size || window.is_zeroed_record(tail)? {
        return Ok(None);
    }
    let meta_offset = tail - meta_size;
    let record = window.bytes(meta_offset, METADATA_SIZE)?;
    let word = |at: usize| u64::from_le_bytes(record[at..at + 8].try_into().expect("8 bytes"));
    let (key_hash, prev_tail) = (word(0), word(8));
    let checksum: [u8; 4] = record[16..20].try_into().expect("4 bytes");
    if prev_tail >= meta_offset {
        return Ok(None);
    }
    let start = payload_start(window, prev_tail, meta_offset)?;
    if start >= meta_offset {
        return Ok(None);
    }
    Ok(Some(Entry {
        key_hash,
        prev_tail,
        checksum,
        start,
        meta_offset,
    }))
}

/// A tombstone is one NUL byte right after the previous tail; any other payload starts at
/// the next 64-byte aligned offset.
fn payload_start(window: &mut Window, prev_tail: u64, meta_offset: u64) -> io::Result<u64> {
    if meta_offset - prev_tail == 1 && window.bytes(prev_tail, 1)? == NULL_BYTE {
        return Ok(prev_tail);
    }
    let pad = (PAYLOAD_ALIGNMENT - prev_tail % PAYLOAD_ALIGNMENT) % PAYLOAD_ALIGNMENT;
    Ok(prev_tail + pad)
}

fn is_tombstone(window: &mut Window, entry: &Entry) -> io::Result<bool> {
    Ok(entry.meta_offset - entry.start == 1 && window.bytes(entry.start, 1)? == NULL_BYTE)
}

/// Reads the payload in pieces and compares its CRC32 (the engine's `crc32fast`, IEEE
/// polynomial) with the one stored in the metadata.
fn checksum_holds(file: &File, entry: &Entry) -> io::Result<bool> {
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; WINDOW.min(entry.meta_offset - entry.start) as usize];
    let mut at = entry.start;
    while at < entry.meta_offset {
        let n = buf.len().min((entry.meta_offset - at) as usize);
        file.read_exact_at(&mut buf[..n], at)?;
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    Ok(hasher.finalize().to_le_bytes() == entry.checksum)
}

/// Walks entry chains back to offset 0. With memory (for [`scan_back`], which tries every
/// offset), each tail's verdict is kept, so a chain shared by many candidates is walked once.
struct Chains {
    memo: Option<HashMap<u64, bool>>,
}

impl Chains {
    fn without_memory() -> Chains {
        Chains { memo: None }
    }

    fn with_memory() -> Chains {
        Chains {
            memo: Some(HashMap::new()),
        }
    }

    fn reach_start(&mut self, window: &mut Window, tail: u64) -> io::Result<bool> {
        let mut walked = Vec::new();
        let mut cursor = tail;
        let verdict = loop {
            if cursor == 0 {
                break true;
            }
            if let Some(&known) = self.memo.as_ref().and_then(|m| m.get(&cursor)) {
                break known;
            }
            if self.memo.is_some() {
                walked.push(cursor);
            }
            match entry_ending_at(window, cursor)? {
                Some(entry) => cursor = entry.prev_tail,
                None => break false,
            }
        };
        if let Some(memo) = &mut self.memo {
            memo.extend(walked.into_iter().map(|t| (t, verdict)));
        }
        Ok(verdict)
    }
}

/// A read cache over the file for walking it backwards: each miss reads up to [`WINDOW`]
/// bytes ending at the end of the range asked for.
struct Window<'f> {
    file: &'f File,
    buf: Vec<u8>,
    start: u64,
}

impl<'f> Window<'f> {
    fn new(file: &'f File) -> Window<'f> {
        Window {
            file,
            buf: Vec::new(),
            start: 0,
        }
    }

    fn bytes(&mut self, offset: u64, n: usize) -> io::Result<&[u8]> {
        let end = offset + n as u64;
        if offset < self.start || end > self.start + self.buf.len() as u64 {
            let start = end.saturating_sub(WINDOW.max(n as u64));
            self.buf.resize((end - start) as usize, 0);
            self.file.read_exact_at(&mut self.buf, start)?;
            self.start = start;
        }
        let from = (offset - self.start) as usize;
        Ok(&self.buf[from..from + n])
    }

    /// True if the 20 bytes before `tail` are all zero: no real entry has a zero key hash,
    /// a zero previous tail and a zero checksum at once.
    fn is_zeroed_record(&mut self, tail: u64) -> io::Result<bool> {
        let meta_size = METADATA_SIZE as u64;
        Ok(tail >= meta_size
            && self
                .bytes(tail - meta_size, METADATA_SIZE)?
                .iter()
                .all(|&b| b == 0))
    }
}

#[cfg(test)]
mod tests;
