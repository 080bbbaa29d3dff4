use super::{live_keys, scan_back, verify_intact};
use simd_r_drive::DataStore;
use simd_r_drive::traits::DataStoreWriter;
use std::path::Path;

/// A store with payloads of many sizes, overwrites and tombstones; returns the end of every
/// entry, the only lengths at which a prefix of the file is a whole store.
fn build_store(path: &Path) -> Vec<u64> {
    let store = DataStore::open(path).unwrap();
    let mut tails = Vec::new();
    for i in 0..40u32 {
        let payload = vec![b'x'; (i as usize * 37) % 300 + 1];
        tails.push(store.write(&i.to_le_bytes(), &payload).unwrap());
        if i % 7 == 3 {
            tails.push(store.delete(&(i - 1).to_le_bytes()).unwrap());
        }
    }
    tails
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Where `--repair` would cut: the last offset at which a valid store ends.
fn valid_tail(path: &Path) -> u64 {
    let file = std::fs::File::open(path).unwrap();
    scan_back(&file, len(path)).unwrap().valid_tail
}

/// Would the engine keep every byte of this file? Asked on a copy, since it truncates.
fn engine_keeps_all(path: &Path, scratch: &Path) -> bool {
    std::fs::copy(path, scratch).unwrap();
    let before = len(scratch);
    drop(DataStore::open(scratch).unwrap());
    len(scratch) == before
}

/// Exactly the prefixes that end at an entry's end are intact, and the engine keeps each of
/// them whole. (The engine also keeps some other prefixes, such as one ending in a run of
/// pre-pad zeros: that is the bug this check exists for.) Opening costs the engine a 64 MiB
/// buffer, so only the intact prefixes and a sample of the others are shown to it.
#[test]
fn intact_prefixes_are_exactly_the_entry_ends() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.bin");
    let mut tails = build_store(&full);
    tails.insert(0, 0);
    let bytes = std::fs::read(&full).unwrap();
    let (cut, scratch) = (dir.path().join("cut.bin"), dir.path().join("scratch.bin"));
    let mut intact = Vec::new();
    for len in 0..=bytes.len() {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        if verify_intact(&cut).is_ok() {
            assert!(engine_keeps_all(&cut, &scratch), "engine cuts {len}");
            intact.push(len as u64);
        } else if len % 23 == 0 {
            assert!(valid_tail(&cut) < len as u64);
        }
    }
    assert_eq!(intact, tails);
}

#[test]
fn missing_file_is_fine_and_directory_is_not() {
    let dir = tempfile::tempdir().unwrap();
    assert!(verify_intact(&dir.path().join("new.bin")).is_ok());
    assert!(verify_intact(dir.path()).is_err());
}

#[test]
fn a_zero_tail_is_refused_and_repair_cuts_exactly_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.bin");
    build_store(&path);
    let good = len(&path);
    let live = live_keys(&path, good).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0u8; 64]);
    std::fs::write(&path, &bytes).unwrap();

    let err = verify_intact(&path).unwrap_err().to_string();
    assert!(err.contains("ends in zero bytes"), "{err}");
    assert_eq!(valid_tail(&path), good);
    assert_eq!(live_keys(&path, good).unwrap(), live);
}

/// A crash inside a value whose bytes hold a run of zeros leaves a tail that links to
/// offset 0 (a zero previous tail) but whose checksum cannot hold.
#[test]
fn a_cut_inside_a_zero_run_is_refused_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.bin");
    build_store(&path);
    let good = len(&path);
    let store = DataStore::open(&path).unwrap();
    let mut value = vec![0xAB_u8; 500];
    value.extend_from_slice(&[0u8; 40]);
    value.extend_from_slice(&[0xCD_u8; 500]);
    store.write(b"torn", &value).unwrap();
    drop(store);
    // Cut just after the zero run, as a crash mid-write can.
    let payload_start = good.next_multiple_of(64);
    let cut_at = payload_start + 500 + 40;
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..cut_at as usize]).unwrap();

    let err = verify_intact(&path).unwrap_err().to_string();
    assert!(err.contains("corrupt or not a simd-r-drive store"), "{err}");
    assert_eq!(valid_tail(&path), good);
}

#[test]
fn a_file_with_no_valid_entry_is_not_repaired_away() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.bin");
    let mut bytes = b"plain text, then the zero blocks a tar ends with\n".repeat(20);
    bytes.resize(10240, 0);
    std::fs::write(&path, &bytes).unwrap();
    assert!(verify_intact(&path).is_err());
    assert_eq!(valid_tail(&path), 0);
}

#[test]
fn live_keys_leaves_out_deleted_and_counts_overwritten_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.bin");
    let store = DataStore::open(&path).unwrap();
    store.write(b"a", b"1").unwrap();
    store.write(b"b", b"2").unwrap();
    store.write(b"a", b"3").unwrap();
    store.delete(b"b").unwrap();
    let tail = store.write(b"c", b"4").unwrap();
    drop(store);
    assert_eq!(live_keys(&path, tail).unwrap(), 2);
}
