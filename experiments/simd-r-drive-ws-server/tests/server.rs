//! Drives the built server binary with the crates.io `simd-r-drive-ws-client`.

mod common;

use common::{Server, append, connect, runtime};
use simd_r_drive_ws_client::{AsyncDataStoreReader, AsyncDataStoreWriter};
use std::path::Path;

#[test]
fn serves_every_method() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store.bin"));
    runtime().block_on(async {
        let c = connect(&server).await;
        assert!(c.is_empty().await.unwrap());
        assert_eq!(c.len().await.unwrap(), 0);

        c.write(b"alpha", b"one").await.unwrap();
        c.batch_write(&[
            (b"beta".as_slice(), b"two".as_slice()),
            (b"gamma", b"three"),
        ])
        .await
        .unwrap();
        assert_eq!(
            c.read(b"alpha").await.unwrap().as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(c.read(b"missing").await.unwrap(), None);
        let got = c
            .batch_read(&[b"gamma", b"missing", b"beta"])
            .await
            .unwrap();
        assert_eq!(
            got,
            vec![Some(b"three".to_vec()), None, Some(b"two".to_vec())]
        );
        assert!(c.exists(b"beta").await.unwrap());
        assert_eq!(c.len().await.unwrap(), 3);
        assert!(!c.is_empty().await.unwrap());
        assert!(c.file_size().await.unwrap() > 0);

        c.delete(b"beta").await.unwrap();
        assert!(!c.exists(b"beta").await.unwrap());
        assert_eq!(c.read(b"beta").await.unwrap(), None);
        assert_eq!(c.len().await.unwrap(), 2);
    });
}

#[test]
fn storage_errors_reach_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store.bin"));
    runtime().block_on(async {
        let c = connect(&server).await;
        let err = c.write(b"k", b"").await.unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        // The connection is still usable after an error.
        c.write(b"k", b"v").await.unwrap();
    });
}

#[test]
fn data_survives_a_sigterm_restart() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let server = Server::start(&storage);
    runtime().block_on(async {
        let c = connect(&server).await;
        c.write(b"kept", b"across restarts").await.unwrap();
    });
    let status = server.stop_with(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "SIGTERM must exit 0: {status}");

    let server = Server::start(&storage);
    runtime().block_on(async {
        let c = connect(&server).await;
        assert_eq!(
            c.read(b"kept").await.unwrap().as_deref(),
            Some(&b"across restarts"[..])
        );
    });
    assert_eq!(
        server.stop_with(libc::SIGINT).code(),
        Some(0),
        "SIGINT must exit 0"
    );
}

#[test]
fn readiness_line_comes_fast_and_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store.bin"));
    println!("readiness line after {:?}", server.ready_after);
    assert!(
        server.ready_after.as_millis() < 2000,
        "{:?}",
        server.ready_after
    );
    // Nothing but the one line reaches stdout, even on shutdown.
    let mut child = common::spawn(&dir.path().join("other.bin"), &["--port", "0"]);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(line.starts_with("listening on ws://127.0.0.1:"), "{line:?}");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(rest.is_empty(), "extra stdout: {rest:?}");
    assert!(child.wait().unwrap().success());
}

fn assert_fails_with(storage: &Path, args: &[&str], expected: &str) {
    common::assert_fails_with(storage, args, &[expected]);
}

#[test]
fn missing_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("no-such-dir").join("store.bin");
    assert_fails_with(&storage, &["--port", "0"], "does not exist");
}

#[test]
fn corrupt_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("notes.txt");
    let content = "these are somebody's notes, not a store\n".repeat(50);
    std::fs::write(&storage, &content).unwrap();
    assert_fails_with(
        &storage,
        &["--port", "0"],
        "corrupt or not a simd-r-drive store",
    );
    assert_eq!(std::fs::read_to_string(&storage).unwrap(), content);
}

#[test]
fn a_fifo_as_storage_is_a_clear_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    assert_fails_with(&fifo, &["--port", "0"], "is not a regular file");
}

#[test]
fn a_second_server_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let first = Server::start(&storage);
    assert_fails_with(&storage, &["--port", "0"], "is in use by another process");
    drop(first);
    // Once the first one is gone, the file is free again.
    let again = Server::start(&storage);
    drop(again);
}

#[test]
fn directory_as_storage_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    assert_fails_with(dir.path(), &["--port", "0"], "is not a regular file");
}

/// The record of acknowledged writes (`STORE.acked`) is removed, as for a store made before
/// records were kept: the file alone is then checked, as it always was.
fn forget_record(storage: &Path) {
    let mut record = storage.as_os_str().to_owned();
    record.push(".acked");
    std::fs::remove_file(record).unwrap();
}

/// The files beside the store that `--repair` wrote: copies of what it cut.
fn cut_copies(storage: &Path) -> Vec<Vec<u8>> {
    let prefix = format!("{}.cut-", storage.file_name().unwrap().to_str().unwrap());
    let dir = storage.parent().unwrap();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| std::fs::read(dir.join(n)).unwrap())
        .collect()
}

#[test]
fn without_a_record_a_torn_tail_is_refused_unless_repair() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let server = Server::start(&storage);
    runtime().block_on(async {
        let c = connect(&server).await;
        c.write(b"good", b"entry").await.unwrap();
    });
    drop(server);
    forget_record(&storage);
    let good_len = std::fs::metadata(&storage).unwrap().len();
    let mut bytes = std::fs::read(&storage).unwrap();
    bytes.extend_from_slice(b"half-written entry");
    std::fs::write(&storage, &bytes).unwrap();

    assert_fails_with(&storage, &["--port", "0"], "--repair");
    assert_eq!(
        std::fs::read(&storage).unwrap(),
        bytes,
        "refused file must be untouched"
    );

    let server = Server::start_with(&storage, &["--port", "0", "--repair"]);
    runtime().block_on(async {
        let c = connect(&server).await;
        assert_eq!(
            c.read(b"good").await.unwrap().as_deref(),
            Some(&b"entry"[..])
        );
    });
    assert_eq!(std::fs::metadata(&storage).unwrap().len(), good_len);
    assert_eq!(cut_copies(&storage), vec![b"half-written entry".to_vec()]);
}

#[test]
fn busy_port_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    assert_fails_with(
        &dir.path().join("s.bin"),
        &["--port", &port],
        "already in use",
    );
}

#[test]
fn bad_host_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s.bin");
    assert_fails_with(
        &storage,
        &["--port", "0", "--host", "not a host!"],
        "invalid --host",
    );
    assert_fails_with(
        &storage,
        &["--port", "0", "--host", "192.0.2.1", "--allow-remote"],
        "not an address of this machine",
    );
}

/// Writes `n` keys `key-0..` with values `value-0..`, through a server, and stops it cleanly.
fn store_with_keys(storage: &Path, n: usize) {
    let server = Server::start(storage);
    runtime().block_on(async {
        let c = connect(&server).await;
        for i in 0..n {
            c.write(
                format!("key-{i}").as_bytes(),
                format!("value-{i}").as_bytes(),
            )
            .await
            .unwrap();
        }
    });
    assert!(server.stop_with(libc::SIGTERM).success());
}

/// Every key of [`store_with_keys`] reads back, and the count is right.
fn assert_keys_intact(storage: &Path, args: &[&str], n: usize) {
    let server = Server::start_with(storage, args);
    runtime().block_on(async {
        let c = connect(&server).await;
        for i in 0..n {
            let got = c.read(format!("key-{i}").as_bytes()).await.unwrap();
            assert_eq!(got, Some(format!("value-{i}").into_bytes()), "key-{i}");
        }
        assert_eq!(c.len().await.unwrap(), n);
    });
}

#[test]
fn without_a_record_a_zero_tail_is_refused_and_repair_keeps_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    store_with_keys(&storage, 100);
    forget_record(&storage);
    let good = std::fs::read(&storage).unwrap();
    append(&storage, &[0u8; 64]);
    let torn = std::fs::read(&storage).unwrap();

    assert_fails_with(&storage, &["--port", "0"], "ends in zero bytes");
    assert_eq!(
        std::fs::read(&storage).unwrap(),
        torn,
        "refused file must be untouched"
    );
    assert_keys_intact(&storage, &["--port", "0", "--repair"], 100);
    assert_eq!(std::fs::read(&storage).unwrap(), good);
}

#[test]
fn without_a_record_a_crash_inside_a_value_with_a_zero_run_is_refused_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    store_with_keys(&storage, 20);
    let good_len = std::fs::metadata(&storage).unwrap().len();
    let mut value = vec![0x5A_u8; 1000];
    value[400..430].fill(0);
    let server = Server::start(&storage);
    runtime().block_on(async {
        connect(&server).await.write(b"torn", &value).await.unwrap();
    });
    assert!(server.stop_with(libc::SIGTERM).success());
    forget_record(&storage);
    // The crash cut the file right after the zero run.
    let cut = good_len.next_multiple_of(64) + 430;
    std::fs::File::options()
        .write(true)
        .open(&storage)
        .unwrap()
        .set_len(cut)
        .unwrap();

    assert_fails_with(
        &storage,
        &["--port", "0"],
        "corrupt or not a simd-r-drive store",
    );
    assert_keys_intact(&storage, &["--port", "0", "--repair"], 20);
    assert_eq!(std::fs::metadata(&storage).unwrap().len(), good_len);
}

#[test]
fn a_tar_file_is_refused_even_with_repair() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "some notes\n".repeat(100)).unwrap();
    let tar = dir.path().join("notes.tar");
    let made = std::process::Command::new("tar")
        .arg("cf")
        .arg(&tar)
        .arg("-C")
        .arg(dir.path())
        .arg("notes.txt")
        .status()
        .unwrap();
    assert!(made.success());
    let bytes = std::fs::read(&tar).unwrap();

    assert_fails_with(
        &tar,
        &["--port", "0"],
        "corrupt or not a simd-r-drive store",
    );
    assert_fails_with(
        &tar,
        &["--port", "0", "--repair"],
        "holds no valid simd-r-drive entry",
    );
    assert_eq!(
        std::fs::read(&tar).unwrap(),
        bytes,
        "a tar must be left untouched"
    );
}

/// A write that fails part-way (the file may not grow: RLIMIT_FSIZE, as on a full disk) is
/// undone: the next writes are acknowledged and read back exactly, before and after a
/// restart, and the file needs no repair.
#[test]
fn a_failed_write_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let server = Server::start_with_file_limit(&storage, 256 * 1024);
    let values: Vec<Vec<u8>> = (0..10u8)
        .map(|i| vec![0xF0 | i; 1000 + i as usize])
        .collect();
    runtime().block_on(async {
        let c = connect(&server).await;
        for (i, v) in values.iter().enumerate() {
            c.write(format!("key-{i}").as_bytes(), v).await.unwrap();
        }
        let err = c.write(b"big", &[0xFF; 512 * 1024]).await.unwrap_err();
        assert!(err.to_string().contains("undone"), "{err}");
        let err = c
            .batch_write(&[
                (b"big-a".as_slice(), [0xFF; 200 * 1024].as_slice()),
                (b"big-b", &[0xFE; 200 * 1024]),
            ])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("undone"), "{err}");
        // The space the failed writes took is free again.
        c.write(b"after", &[0xFF; 2000]).await.unwrap();
        c.delete(b"key-0").await.unwrap();
        assert_eq!(c.read(b"after").await.unwrap(), Some(vec![0xFF; 2000]));
        assert_eq!(c.read(b"big").await.unwrap(), None);
        assert_eq!(c.len().await.unwrap(), 10);
    });
    assert!(server.stop_with(libc::SIGTERM).success());

    let server = Server::start(&storage);
    runtime().block_on(async {
        let c = connect(&server).await;
        assert_eq!(c.read(b"after").await.unwrap(), Some(vec![0xFF; 2000]));
        assert_eq!(c.read(b"key-0").await.unwrap(), None);
        for (i, v) in values.iter().enumerate().skip(1) {
            assert_eq!(
                c.read(format!("key-{i}").as_bytes())
                    .await
                    .unwrap()
                    .as_ref(),
                Some(v)
            );
        }
        for key in [&b"big"[..], b"big-a", b"big-b"] {
            assert_eq!(c.read(key).await.unwrap(), None);
        }
        assert_eq!(c.len().await.unwrap(), 10);
    });
}

#[test]
fn counts_are_of_live_keys_after_a_restart_too() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let server = Server::start(&storage);
    runtime().block_on(async {
        let c = connect(&server).await;
        c.batch_write(&[
            (b"a".as_slice(), b"1".as_slice()),
            (b"b", b"2"),
            (b"a", b"3"),
        ])
        .await
        .unwrap();
        c.write(b"c", b"4").await.unwrap();
        assert_eq!(c.len().await.unwrap(), 3);
        for key in [&b"a"[..], b"b", b"missing"] {
            c.delete(key).await.unwrap();
        }
        assert_eq!(c.len().await.unwrap(), 1);
    });
    assert!(server.stop_with(libc::SIGTERM).success());

    let server = Server::start(&storage);
    runtime().block_on(async {
        let c = connect(&server).await;
        assert_eq!(c.len().await.unwrap(), 1);
        assert!(!c.is_empty().await.unwrap());
        c.delete(b"c").await.unwrap();
        assert_eq!(c.len().await.unwrap(), 0);
        assert!(c.is_empty().await.unwrap());
        c.write(b"a", b"again").await.unwrap();
        assert_eq!(c.len().await.unwrap(), 1);
    });
}

/// Values up to 64 MiB are stored; one byte more is refused with the limit in the error,
/// and the connection stays usable. (The batch path's check is a unit test in `handlers`:
/// the crates.io client takes seconds to encode each such batch.)
#[test]
fn values_over_64_mib_are_refused_with_the_limit() {
    const MAX: usize = simd_r_drive_ws_server::MAX_VALUE_SIZE;
    assert_eq!(MAX, 67_108_864);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store.bin"));
    runtime().block_on(async {
        let c = connect(&server).await;
        let err = c.write(b"big", &vec![0u8; MAX + 1]).await.unwrap_err();
        assert!(
            err.to_string().contains("over the limit of 67108864 bytes"),
            "{err}"
        );
        c.write(b"max", &vec![0u8; MAX]).await.unwrap();
        assert_eq!(c.read(b"max").await.unwrap().map(|v| v.len()), Some(MAX));
        assert_eq!(c.len().await.unwrap(), 1);
    });
}

/// `--sync` keeps the server working as before, across a restart.
#[test]
fn sync_mode_serves_and_keeps_writes() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let server = Server::start_with(&storage, &["--port", "0", "--sync"]);
    runtime().block_on(async {
        let c = connect(&server).await;
        c.write(b"a", b"1").await.unwrap();
        c.batch_write(&[(b"b".as_slice(), b"2".as_slice())])
            .await
            .unwrap();
        c.delete(b"a").await.unwrap();
    });
    assert!(server.stop_with(libc::SIGTERM).success());
    let server = Server::start_with(&storage, &["--port", "0", "--sync"]);
    runtime().block_on(async {
        let c = connect(&server).await;
        assert_eq!(c.read(b"b").await.unwrap(), Some(b"2".to_vec()));
        assert_eq!(c.len().await.unwrap(), 1);
    });
}

/// The sequence: a write fails at the file size limit, space is freed (the limit
/// is lifted, with Linux's prlimit, while the server runs), and the next write must read
/// back exactly, before and after a restart, with the refused value nowhere.
#[cfg(target_os = "linux")]
#[test]
fn after_space_is_freed_the_next_write_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let server = Server::start_with_file_limit(&storage, 64 * 1024);
    let next = vec![0xFF_u8; 3000];
    runtime().block_on(async {
        let c = connect(&server).await;
        c.write(b"first", &[0xF0; 1000]).await.unwrap();
        c.write(b"refused", &[0xFF; 200 * 1024]).await.unwrap_err();
    });
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // (The test harness may not raise a hard limit, so only the soft one was lowered.)
    // SAFETY: prlimit on our own child, with a valid new limit and no old one asked for.
    let lifted = unsafe {
        libc::prlimit(
            server.pid(),
            libc::RLIMIT_FSIZE,
            &unlimited,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(lifted, 0, "prlimit: {}", std::io::Error::last_os_error());
    runtime().block_on(async {
        let c = connect(&server).await;
        c.write(b"next", &next).await.unwrap();
        assert_eq!(c.read(b"next").await.unwrap(), Some(next.clone()));
    });
    assert!(server.stop_with(libc::SIGTERM).success());

    let server = Server::start(&storage);
    runtime().block_on(async {
        let c = connect(&server).await;
        assert_eq!(c.read(b"next").await.unwrap(), Some(next));
        assert_eq!(c.read(b"first").await.unwrap(), Some(vec![0xF0; 1000]));
        assert_eq!(c.read(b"refused").await.unwrap(), None);
        assert_eq!(c.len().await.unwrap(), 2);
    });
}
