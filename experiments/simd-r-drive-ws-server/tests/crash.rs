//! Crashes and damaged files (issue 19, findings 7 to 10), against the built server binary:
//! a restart after a crash needs no flag, `--repair` never makes things worse, bytes inside
//! a torn value are never read as entries, and reads check what they return.

mod common;

use common::{
    Server, append, assert_fails_with, connect, mark_write_under_way, record_path, runtime,
};
use simd_r_drive::{METADATA_SIZE, PAYLOAD_ALIGNMENT, compute_hash};
use simd_r_drive_ws_client::{AsyncDataStoreReader, AsyncDataStoreWriter};
use std::path::{Path, PathBuf};

/// Key `key-i` holds `value(i, round)` after `round`.
fn value(i: usize, round: usize) -> Vec<u8> {
    format!("value-{i}-round-{round}-")
        .into_bytes()
        .repeat(20 + i % 7)
}

/// Writes `n` keys, `rounds` times over, through a server that is then killed with
/// SIGKILL (nothing is flushed at exit); returns the tail offset of every write, in order.
fn store_killed_after(storage: &Path, n: usize, rounds: usize) -> Vec<u64> {
    let server = Server::start(storage);
    let tails = runtime().block_on(async {
        let c = connect(&server).await;
        let mut tails = Vec::new();
        for round in 0..rounds {
            for i in 0..n {
                let key = format!("key-{i}");
                tails.push(c.write(key.as_bytes(), &value(i, round)).await.unwrap());
            }
        }
        tails
    });
    server.stop_with(libc::SIGKILL);
    tails
}

/// Every key reads back its value of the last round, and the count is right.
fn assert_keys(server: &Server, n: usize, round: usize) {
    runtime().block_on(async {
        let c = connect(server).await;
        for i in 0..n {
            let got = c.read(format!("key-{i}").as_bytes()).await.unwrap();
            assert_eq!(got, Some(value(i, round)), "key-{i}");
        }
        assert_eq!(c.len().await.unwrap(), n);
    });
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// What the engine writes first for a value after `tail`: zeros up to the next aligned
/// offset, then the payload.
fn pre_pad(tail: u64) -> Vec<u8> {
    vec![0; (tail.next_multiple_of(PAYLOAD_ALIGNMENT) - tail) as usize]
}

/// A metadata record as the engine writes it: key hash, previous tail, CRC32 of the payload.
fn metadata(key: &[u8], prev_tail: u64, payload: &[u8]) -> Vec<u8> {
    let mut meta = Vec::with_capacity(METADATA_SIZE);
    meta.extend_from_slice(&compute_hash(key).to_le_bytes());
    meta.extend_from_slice(&prev_tail.to_le_bytes());
    meta.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    meta
}

/// The copies of cut bytes that `--repair` left beside the store.
fn cut_copies(storage: &Path) -> Vec<PathBuf> {
    let prefix = format!("{}.cut-", storage.file_name().unwrap().to_str().unwrap());
    let dir = storage.parent().unwrap();
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&prefix)
        })
        .collect()
}

/// Finding 7: a large write cut short by SIGKILL leaves a torn tail, which a plain restart
/// cuts by itself (one log line with the byte count), keeping every acknowledged write.
#[test]
fn a_restart_after_a_write_cut_short_needs_no_flag() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let tails = store_killed_after(&storage, 8, 1);
    let acked = *tails.last().unwrap();
    assert_eq!(len(&storage), acked);
    // The start of a 1 MiB write: its pre-pad and 300,000 bytes of its payload.
    let mut torn = pre_pad(acked);
    torn.extend(std::iter::repeat_n(0x5A_u8, 300_000));
    mark_write_under_way(&storage);
    append(&storage, &torn);

    let server = Server::start(&storage);
    assert_keys(&server, 8, 0);
    let log = server.stop_and_read_log();
    let cut = format!("cut {} bytes after the last acknowledged write", torn.len());
    assert_eq!(log.matches(&cut).count(), 1, "{log}");
    assert_eq!(len(&storage), acked);
    // Whatever a start cuts, it keeps.
    let copies = cut_copies(&storage);
    assert_eq!(copies.len(), 1);
    assert_eq!(std::fs::read(&copies[0]).unwrap(), torn);

    // The next start has nothing to cut.
    let server = Server::start(&storage);
    assert_keys(&server, 8, 0);
    assert!(!server.stop_and_read_log().contains(" cut "));
}

/// `--repair` on a torn tail after the record cuts exactly that tail, like a plain start,
/// and keeps a copy of it.
#[test]
fn repair_of_a_torn_tail_cuts_it_and_keeps_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let acked = *store_killed_after(&storage, 8, 1).last().unwrap();
    let mut torn = pre_pad(acked);
    torn.extend_from_slice(&[0xC3; 5000]);
    mark_write_under_way(&storage);
    append(&storage, &torn);

    let server = Server::start_with(&storage, &["--port", "0", "--repair"]);
    assert_keys(&server, 8, 0);
    let log = server.stop_and_read_log();
    let plan = format!(
        "by {} bytes after offset {acked}, holding no whole entry",
        torn.len()
    );
    assert!(log.contains(&plan), "{log}");
    assert_eq!(len(&storage), acked);
    let copies = cut_copies(&storage);
    assert_eq!(copies.len(), 1);
    assert_eq!(std::fs::read(&copies[0]).unwrap(), torn);
}

/// `--repair` names the whole entries it cuts after the record, also when the last of
/// them chains back to the start (a write that was whole but never acknowledged): it said
/// "holding no whole entry" there, because the scan stopped at the first end it trusted.
#[test]
fn repair_names_a_whole_unacknowledged_write_it_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let record = record_path(&storage);
    let write = |key: &str| {
        let server = Server::start(&storage);
        let tail = runtime().block_on(async {
            let c = connect(&server).await;
            c.write(key.as_bytes(), &value(0, 0)).await.unwrap()
        });
        server.stop_and_read_log();
        tail
    };
    let acked = write("key-0");
    mark_write_under_way(&storage);
    let under_way_after_the_first = std::fs::read(&record).unwrap();
    write("key-1");
    // The second write is whole, but the record says it was under way when the server
    // stopped: it was never acknowledged.
    std::fs::write(&record, under_way_after_the_first).unwrap();
    let cut = len(&storage) - acked;

    let server = Server::start_with(&storage, &["--port", "0", "--repair"]);
    let log = server.stop_and_read_log();
    let plan = format!(
        "by {cut} bytes after offset {acked}, holding 1 whole entries of 1 keys \
         (0 would go back to an older value, 1 would disappear)"
    );
    assert!(log.contains(&plan), "{log}");
    assert_eq!(len(&storage), acked);
}

/// Finding 7, the other half: damage at or before the last acknowledged write is never cut
/// by a plain start. A file shorter than its acknowledged writes is refused too.
#[test]
fn damage_before_the_acknowledged_end_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let tails = store_killed_after(&storage, 5, 1);
    let acked = *tails.last().unwrap();
    mark_write_under_way(&storage);
    let mut bytes = std::fs::read(&storage).unwrap();
    bytes[acked as usize - METADATA_SIZE - 3] ^= 0x01;
    bytes.extend_from_slice(&pre_pad(acked));
    bytes.extend_from_slice(b"torn");
    std::fs::write(&storage, &bytes).unwrap();
    assert_fails_with(
        &storage,
        &["--port", "0"],
        &["corrupt", "checksum", "--repair"],
    );
    assert_eq!(std::fs::read(&storage).unwrap(), bytes);

    let short = acked as usize - 100;
    std::fs::write(&storage, &bytes[..short]).unwrap();
    assert_fails_with(
        &storage,
        &["--port", "0"],
        &["before its last acknowledged write", "--repair"],
    );
    assert_eq!(std::fs::read(&storage).unwrap(), &bytes[..short]);
}

/// Finding 8: a flipped bit in an old entry's link breaks the chain of every newer entry.
/// `--repair` refuses to cut them (saying how many entries and keys), leaving the file as it
/// was; only `--repair-discard-entries` cuts, and the cut bytes are kept in a copy.
#[test]
fn repair_does_not_cut_whole_entries_unless_told_to() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let tails = store_killed_after(&storage, 8, 2);
    // The link of the 3rd write of the second round: 5 newer writes follow it.
    let flipped = tails[8 + 2];
    let mut bytes = std::fs::read(&storage).unwrap();
    bytes[flipped as usize - 12 + 3] ^= 0x40;
    std::fs::write(&storage, &bytes).unwrap();

    assert_fails_with(&storage, &["--port", "0"], &["do not link back"]);
    assert_fails_with(
        &storage,
        &["--port", "0", "--repair"],
        &[
            // The 5 newer ones; the one with the flipped bit is not whole.
            "holding 5 whole entries of 5 keys (5 would go back to an older value, 0 would disappear), some of them acknowledged writes",
            "--repair-discard-entries",
        ],
    );
    assert_eq!(std::fs::read(&storage).unwrap(), bytes, "untouched");
    assert!(cut_copies(&storage).is_empty());

    let kept = tails[8 + 1];
    let server = Server::start_with(
        &storage,
        &["--port", "0", "--repair", "--repair-discard-entries"],
    );
    runtime().block_on(async {
        let c = connect(&server).await;
        for i in 0..8 {
            let round = if i < 2 { 1 } else { 0 };
            let got = c.read(format!("key-{i}").as_bytes()).await.unwrap();
            assert_eq!(got, Some(value(i, round)), "key-{i}");
        }
    });
    let log = server.stop_and_read_log();
    assert!(log.contains("the cut bytes are kept in"), "{log}");
    assert_eq!(len(&storage), kept);
    let copies = cut_copies(&storage);
    assert_eq!(copies.len(), 1);
    assert_eq!(std::fs::read(&copies[0]).unwrap(), &bytes[kept as usize..]);
}

/// Finding 9: a value that holds what looks like entries (here two, linked to the real
/// last acknowledged write, with checksums that hold), torn by a crash right after them,
/// is cut whole at restart: the forged keys are not served and the real one keeps its value.
#[test]
fn bytes_inside_a_torn_value_are_never_read_as_entries() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let tails = store_killed_after(&storage, 5, 1);
    let acked = *tails.last().unwrap();

    // The torn write of a value that holds a forged entry for a key never written, then
    // one for key-1, each linked to the entry before it.
    let mut torn = pre_pad(acked);
    let ghost_payload = b"a key that was never written".to_vec();
    torn.extend_from_slice(&ghost_payload);
    torn.extend(metadata(b"ghost", acked, &ghost_payload));
    let ghost_end = acked + torn.len() as u64;
    torn.extend(pre_pad(ghost_end));
    let forged = b"not the value of key-1".to_vec();
    torn.extend_from_slice(&forged);
    torn.extend(metadata(b"key-1", ghost_end, &forged));

    // A plain start, and --repair too, cut the torn value whole.
    for args in [&["--port", "0"][..], &["--port", "0", "--repair"]] {
        mark_write_under_way(&storage);
        append(&storage, &torn);
        let server = Server::start_with(&storage, args);
        runtime().block_on(async {
            let c = connect(&server).await;
            assert_eq!(c.read(b"ghost").await.unwrap(), None, "{args:?}");
            assert_eq!(c.read(b"key-1").await.unwrap(), Some(value(1, 0)));
            assert_eq!(c.len().await.unwrap(), 5);
        });
        drop(server);
        assert_eq!(len(&storage), acked);
    }
}

/// Finding 10: a flipped bit in a stored value is an error naming the key, on `read` and
/// `batch_read`, not the wrong bytes; the other keys are served; `--verify` finds it at
/// startup.
#[test]
fn a_damaged_value_is_an_error_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let tails = store_killed_after(&storage, 5, 1);
    let mut bytes = std::fs::read(&storage).unwrap();
    // A byte in the middle of key-2's value (not the newest entry, which startup checks).
    bytes[tails[2] as usize - METADATA_SIZE - 40] ^= 0x08;
    std::fs::write(&storage, &bytes).unwrap();

    let server = Server::start(&storage);
    runtime().block_on(async {
        let c = connect(&server).await;
        let err = c.read(b"key-2").await.unwrap_err().to_string();
        assert!(err.contains("key \"key-2\" is damaged"), "{err}");
        let err = c.batch_read(&[b"key-1", b"key-2"]).await;
        assert!(err.unwrap_err().to_string().contains("key-2"));
        assert_eq!(c.read(b"key-3").await.unwrap(), Some(value(3, 0)));
    });
    drop(server);

    assert_fails_with(
        &storage,
        &["--port", "0", "--verify"],
        &["1 damaged entries of 5", "fail their checksums"],
    );
    assert_eq!(std::fs::read(&storage).unwrap(), bytes);
}
