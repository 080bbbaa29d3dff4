//! `--repair`: cut a damaged storage file back to a valid store, without making it worse.
//!
//! It finds the cut (the last acknowledged write if the file is whole up to it, else the
//! last offset at which a valid store ends), says what the cut removes (bytes, whole
//! entries, keys that go back to an older value or disappear), and cuts only a torn tail:
//! bytes after the last acknowledged write, or, with no record to go by, bytes that hold
//! no whole entry. A cut that removes more (a flipped bit in an old entry breaks the chain
//! of every newer one) is refused unless `--repair-discard-entries` is given. Whatever is
//! cut is first copied to `STORE.cut-OFFSET-TIME` beside the store.

use crate::acked::{self, Acked, Found};
use crate::cutting;
use crate::store_check::{self, Behind};
use anyhow::{Context, bail};
use std::fmt;
use std::fs::File;
use std::path::Path;

/// What a cut removes.
#[derive(Debug, Default)]
struct Plan {
    /// Where the file is cut.
    at: u64,
    bytes: u64,
    whole_entries: usize,
    /// Keys with a whole entry in the cut that go back to an older entry.
    reverted: usize,
    /// Keys with a whole entry in the cut and none before it.
    vanished: usize,
    /// The cut reaches writes that were acknowledged.
    acknowledged: bool,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes after offset {}", self.bytes, self.at)?;
        if self.whole_entries == 0 {
            return write!(f, ", holding no whole entry");
        }
        write!(
            f,
            ", holding {} whole entries of {} keys ({} would go back to an older value, {} would disappear)",
            self.whole_entries,
            self.reverted + self.vanished,
            self.reverted,
            self.vanished
        )?;
        if self.acknowledged {
            write!(f, ", some of them acknowledged writes")?;
        }
        Ok(())
    }
}

impl Plan {
    /// More than a torn tail: whole entries without a record that vouches for the cut, or
    /// acknowledged writes.
    fn needs_permission(&self, record_vouches: bool) -> bool {
        self.acknowledged || (self.whole_entries > 0 && !record_vouches)
    }
}

/// Repairs `path` (`len` bytes) as far as allowed; returns the new acknowledged end.
pub(crate) fn run(
    path: &Path,
    file: &File,
    len: u64,
    discard_entries: bool,
) -> anyhow::Result<Acked> {
    let shown = path.display();
    let record = trusted_record(path, file, len)?;
    let (plan, vouches) =
        plan(file, len, record).with_context(|| format!("cannot read {shown}"))?;
    if plan.bytes == 0 {
        let acked = Acked::read_from(file, len).with_context(|| format!("cannot read {shown}"))?;
        acked::reset(path, &acked)?;
        match record {
            Some(tail) if tail > len => tracing::warn!(
                "--repair: storage file {shown} is whole but ends at {len} bytes, before its last acknowledged write (at {tail}): the writes after it are lost"
            ),
            _ => tracing::info!("--repair: storage file {shown} needs no cut"),
        }
        return Ok(acked);
    }
    if plan.at == 0 && plan.whole_entries == 0 && record.is_none() {
        bail!(
            "storage file {shown} holds no valid simd-r-drive entry, so it is not a store; it was left untouched (give another path)"
        );
    }
    if plan.needs_permission(vouches) && !discard_entries {
        bail!(
            "--repair would cut storage file {shown} by {plan}: more than a torn tail, so it was left untouched (add --repair-discard-entries to cut it anyway, keeping a copy of the cut bytes beside the store)"
        );
    }
    let copy = cutting::keep_and_cut(path, file, plan.at, len)?;
    let acked = Acked::read_from(file, plan.at).with_context(|| format!("cannot read {shown}"))?;
    acked::reset(path, &acked)?;
    tracing::warn!(
        "--repair: cut storage file {shown} by {plan}; the cut bytes are kept in {}",
        copy.display()
    );
    Ok(acked)
}

/// The record's tail when it can be believed about this file: the record is readable, the
/// metadata at its tail is the one recorded (or it lies past the end of the file, whose
/// bytes are then all acknowledged), and bytes after it come from a write it saw begin.
fn trusted_record(path: &Path, file: &File, len: u64) -> anyhow::Result<Option<u64>> {
    let shown = acked::path_for(path);
    let shown = shown.display();
    match acked::read(path)? {
        Found::Missing => Ok(None),
        Found::Damaged => {
            tracing::warn!("--repair: the record {shown} is damaged; going by the file alone");
            Ok(None)
        }
        Found::At { acked, .. } if acked.tail > len => Ok(Some(acked.tail)),
        Found::At { acked, under_way } if acked.tail < len && !under_way => {
            tracing::warn!(
                "--repair: the record {shown} is out of date (the file goes on after it, and it shows no write under way); going by the file alone"
            );
            Ok(None)
        }
        Found::At { acked, .. } if acked.matches(file)? => Ok(Some(acked.tail)),
        Found::At { .. } => {
            tracing::warn!(
                "--repair: the record {shown} does not match the file; going by the file alone"
            );
            Ok(None)
        }
    }
}

/// Where to cut and what the cut removes; `true` when the record vouches that everything
/// cut comes after the last acknowledged write.
fn plan(file: &File, len: u64, record: Option<u64>) -> anyhow::Result<(Plan, bool)> {
    if let Some(acked) = record.filter(|&acked| acked <= len) {
        if store_check::is_intact_prefix(file, acked)? {
            let behind = scan_between(file, acked, len)?;
            return Ok((describe(file, acked, len, &behind, false)?, true));
        }
    }
    let behind = store_check::scan_back(file, len)?;
    let acknowledged = record.is_some_and(|acked| behind.valid_tail < acked.min(len));
    let plan = describe(file, behind.valid_tail, len, &behind, acknowledged)?;
    Ok((plan, false))
}

/// The whole entries between `at` and `len`, for a cut at a known offset.
fn scan_between(file: &File, at: u64, len: u64) -> anyhow::Result<Behind> {
    Ok(Behind {
        valid_tail: at,
        whole: store_check::whole_entries_after(file, at, len)?,
    })
}

fn describe(
    file: &File,
    at: u64,
    len: u64,
    behind: &Behind,
    acknowledged: bool,
) -> anyhow::Result<Plan> {
    let kept = store_check::key_hashes(file, at)?;
    let cut: std::collections::HashSet<u64> = behind.whole.iter().map(|&(k, _)| k).collect();
    let reverted = cut.iter().filter(|k| kept.contains(k)).count();
    Ok(Plan {
        at,
        bytes: len - at,
        whole_entries: behind.whole.len(),
        reverted,
        vanished: cut.len() - reverted,
        acknowledged,
    })
}
