//! Issue 31, items 1 and 6: no acknowledged write is cut because the record beside the
//! store was out of date, and the files beside a store are no door to its values.

mod common;

use common::runtime;
use common::{Server, append, assert_fails_with, connect, mark_write_under_way, record_path};
use simd_r_drive_ws_client::{AsyncDataStoreReader, AsyncDataStoreWriter};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes `keys` (each its own name as value) through a server on `storage`, then stops it.
fn write_keys(storage: &Path, keys: &[&str]) {
    let server = Server::start(storage);
    runtime().block_on(async {
        let c = connect(&server).await;
        for key in keys {
            c.write(key.as_bytes(), key.as_bytes()).await.unwrap();
        }
    });
    server.stop_and_read_log();
}

/// A plain start on `storage` serves every key of `keys` with its value.
fn assert_every_key_reads_back(storage: &Path, keys: &[&str]) -> String {
    let server = Server::start(storage);
    runtime().block_on(async {
        let c = connect(&server).await;
        for key in keys {
            let got = c.read(key.as_bytes()).await.unwrap();
            assert_eq!(got.as_deref(), Some(key.as_bytes()), "{key}");
        }
    });
    server.stop_and_read_log()
}

fn cut_copies(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".cut-"))
        .collect()
}

/// Writes through a symbolic link to the store, then a start under the store's own name:
/// every write made through the link reads back (the old server cut them all, with one
/// warning line, keeping no copy).
#[test]
fn writes_through_a_symlink_survive_a_start_under_the_real_name() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.bin");
    let link = dir.path().join("link.bin");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    write_keys(&real, &["a1", "a2"]);
    write_keys(&link, &["b1", "b2", "b3"]);
    let log = assert_every_key_reads_back(&real, &["a1", "a2", "b1", "b2", "b3"]);
    assert!(!log.contains(" cut "), "{log}");
    assert!(cut_copies(dir.path()).is_empty());
}

/// A store copied away, written to, and copied back without its record: every write made
/// to the copy reads back, and a torn tail after such a record is refused, not cut.
#[test]
fn writes_to_a_copy_put_back_survive_a_plain_start() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let away = tempfile::tempdir().unwrap();
    let copy = away.path().join("copy.bin");
    write_keys(&storage, &["a1", "a2"]);
    std::fs::copy(&storage, &copy).unwrap();
    write_keys(&copy, &["b1", "b2"]);
    std::fs::copy(&copy, &storage).unwrap();
    let log = assert_every_key_reads_back(&storage, &["a1", "a2", "b1", "b2"]);
    assert!(!log.contains(" cut "), "{log}");

    // Again, and this time the copy put back ends in a torn write: with a record that saw
    // no write begin, nothing is cut; the start is refused and says what to do.
    std::fs::copy(&storage, &copy).unwrap();
    write_keys(&copy, &["c1"]);
    std::fs::copy(&copy, &storage).unwrap();
    append(&storage, &[0x5A; 1000]);
    let before = std::fs::read(&storage).unwrap();
    assert_fails_with(&storage, &["--port", "0"], &["out of date", "--repair"]);
    assert_eq!(std::fs::read(&storage).unwrap(), before, "untouched");
    assert!(cut_copies(dir.path()).is_empty());
}

/// Item 6: a store kept at 0600 gets its record and its copies of cut bytes at 0600 too.
#[test]
fn files_beside_a_store_get_its_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    std::fs::write(&storage, b"").unwrap();
    std::fs::set_permissions(&storage, std::fs::Permissions::from_mode(0o600)).unwrap();
    write_keys(&storage, &["k"]);
    mark_write_under_way(&storage);
    append(&storage, &[0x5A; 100]);
    assert_every_key_reads_back(&storage, &["k"]);
    let copies = cut_copies(dir.path());
    assert_eq!(copies.len(), 1, "the start keeps what it cuts");
    for path in [record_path(&storage), copies[0].clone()] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
    }
}

/// Item 6: a symbolic link planted as `STORE.acked` is not followed: the start is refused
/// with a line that says to remove it, and the link's target is untouched (`--repair`
/// wrote a record into it).
#[test]
fn a_record_planted_as_a_symlink_is_refused_and_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    write_keys(&storage, &["k"]);
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    std::fs::remove_file(record_path(&storage)).unwrap();
    std::os::unix::fs::symlink(&victim, record_path(&storage)).unwrap();
    for args in [&["--port", "0"][..], &["--port", "0", "--repair"]] {
        assert_fails_with(&storage, args, &["symbolic link", "remove it"]);
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious", "{args:?}");
    }
}
