//! The crash loop of issue 19, a measurement that `cargo test` skips (`cargo test -p
//! simd-r-drive-ws-server --test crash_loop -- --ignored --nocapture`): SIGKILL the server
//! during large writes, `CRASH_ROUNDS` times, restart it plainly each time, and check that
//! every acknowledged write reads back byte for byte.
//!
//! `CRASH_SERVER_BIN` names the server binary to test (default: this build's), so that an
//! older build can be measured the same way. `CRASH_ROUNDS` (default 20) bounds the loop.
//! When a plain restart is refused, it is counted and the loop goes on with `--repair`.

mod common;

use common::runtime;
use simd_r_drive_ws_client::{AsyncDataStoreReader, AsyncDataStoreWriter, WsClient};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEYS: usize = 6;

fn value_len(seq: u64) -> usize {
    (1 << 20) + (seq.wrapping_mul(2_654_435_761) % (7 << 20)) as usize
}

/// The value of write number `seq`: 1 to 8 MiB of bytes that depend on `seq`.
fn value(seq: u64) -> Vec<u8> {
    let len = value_len(seq);
    let mut state = seq.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

struct Running {
    child: Child,
    port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server; `Err(log)` if it exits before its readiness line.
fn start(bin: &str, storage: &Path, args: &[&str]) -> Result<Running, String> {
    let mut child = Command::new(bin)
        .arg(storage)
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the server");
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    let Some(port) = line.trim().rsplit(':').next().and_then(|p| p.parse().ok()) else {
        let mut log = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut log);
        let _ = child.wait();
        return Err(log);
    };
    // The log is drained on a thread, so that the server never blocks on a full pipe.
    let mut stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    Ok(Running { child, port })
}

/// Per key, the sequence number of its last acknowledged value, and the writes tried
/// after it whose acknowledgement never came (one of them may have landed).
type Acked = Arc<Mutex<BTreeMap<usize, (u64, Vec<u64>)>>>;

#[derive(Default, Debug)]
struct Figures {
    rounds: usize,
    refused: usize,
    acked_checked: usize,
    wrong: usize,
    /// Kills that left part of a write in the file (a torn tail).
    torn: usize,
    /// Kills that left a whole write whose acknowledgement never came.
    whole_unacked: usize,
}

#[test]
#[ignore = "a measurement: about a minute of large writes and kills"]
fn sigkill_during_large_writes() {
    let bin = std::env::var("CRASH_SERVER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_simd-r-drive-ws-server").to_owned());
    let rounds: usize = std::env::var("CRASH_ROUNDS").map_or(20, |r| r.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let acked: Acked = Arc::default();
    let mut figures = Figures::default();
    let mut seq = 0u64;
    for round in 0..rounds {
        let server = match start(&bin, &storage, &[]) {
            Ok(server) => server,
            Err(log) => {
                figures.refused += 1;
                let last = log.lines().last().unwrap_or_default().to_owned();
                println!("round {round}: plain restart refused: {last}");
                start(&bin, &storage, &["--repair"]).expect("start with --repair")
            }
        };
        let (checked, wrong) = check_acked(server.port, &acked);
        figures.acked_checked += checked;
        figures.wrong += wrong;
        let kill = kill_during_writes(server, &storage, &acked, &mut seq, round);
        figures.rounds += 1;
        let (past, whole) = (kill.len - kill.acked_end, kill.whole_end - kill.acked_end);
        let what = if kill.len == kill.whole_end {
            figures.whole_unacked += 1;
            "a whole unacknowledged write"
        } else if kill.len > kill.acked_end {
            figures.torn += 1;
            "a torn write"
        } else {
            "nothing"
        };
        println!(
            "round {round}: {checked} acknowledged values read back, {wrong} wrong; killed with {what} past the last acknowledged write ({past} of {whole} bytes)"
        );
    }
    let server = start(&bin, &storage, &[]).or_else(|log| {
        figures.refused += 1;
        println!(
            "final: plain restart refused: {}",
            log.lines().last().unwrap_or_default()
        );
        start(&bin, &storage, &["--repair"])
    });
    let (checked, wrong) = check_acked(server.expect("final start").port, &acked);
    figures.acked_checked += checked;
    figures.wrong += wrong;
    println!(
        "SUMMARY bin={bin} rounds={} torn_tails={} whole_unacked_writes={} plain_restarts_refused={} of {} acked_values_checked={} wrong={}",
        figures.rounds,
        figures.torn,
        figures.whole_unacked,
        figures.refused,
        figures.rounds + 1,
        figures.acked_checked,
        figures.wrong
    );
    assert_eq!(figures.wrong, 0);
}

/// Reads every key's last acknowledged value; (checked, wrong). A write in flight at the
/// kill may have landed (its reply lost), so the value after it is accepted too.
fn check_acked(port: u16, acked: &Acked) -> (usize, usize) {
    let acked = acked.lock().unwrap().clone();
    runtime().block_on(async {
        let c = WsClient::new("127.0.0.1", port).await.expect("connect");
        let mut wrong = 0;
        for (&key, (seq, tried)) in &acked {
            let got = c.read(format!("key-{key}").as_bytes()).await;
            let ok = match &got {
                Ok(Some(v)) => *v == value(*seq) || tried.iter().any(|&s| *v == value(s)),
                _ => false,
            };
            if !ok {
                wrong += 1;
                let shown = got.map(|v| v.map(|v| v.len()));
                println!("key-{key}: expected write {seq}, got {shown:?}");
            }
        }
        (acked.len(), wrong)
    })
}

/// Where the file stood after a kill.
struct Kill {
    /// The end of the last acknowledged write.
    acked_end: u64,
    /// The file's length.
    len: u64,
    /// Where the write in flight ends once whole.
    whole_end: u64,
}

/// Writes values on a thread while this one watches the file grow, and kills the server
/// while a write is landing (as soon as the file passes the last acknowledged end by a
/// number of bytes that varies per round).
fn kill_during_writes(
    server: Running,
    storage: &Path,
    acked: &Acked,
    seq: &mut u64,
    round: usize,
) -> Kill {
    let (port, first) = (server.port, *seq);
    *seq += 40;
    let tails = Arc::new(Mutex::new(vec![std::fs::metadata(storage).unwrap().len()]));
    let writer = {
        let (acked, tails) = (acked.clone(), tails.clone());
        std::thread::spawn(move || {
            runtime().block_on(async {
                let Ok(c) = WsClient::new("127.0.0.1", port).await else {
                    return;
                };
                for s in first..first + 40 {
                    let key = s as usize % KEYS;
                    if let Some((_, tried)) = acked.lock().unwrap().get_mut(&key) {
                        tried.push(s);
                    }
                    match c.write(format!("key-{key}").as_bytes(), &value(s)).await {
                        Ok(tail) => {
                            tails.lock().unwrap().push(tail);
                            acked.lock().unwrap().insert(key, (s, Vec::new()));
                        }
                        Err(_) => return,
                    }
                }
            })
        })
    };
    // After 1 to 3 acknowledged writes, kill once the file passes the last acknowledged end
    // by a threshold that varies per round.
    let wait_acks = 2 + round % 3;
    let threshold = 4096 + (round as u64 * 389_017) % (1 << 20);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (n, last) = {
            let t = tails.lock().unwrap();
            (t.len(), *t.last().unwrap())
        };
        let len = std::fs::metadata(storage).map_or(0, |m| m.len());
        if (n >= wait_acks && len > last + threshold) || Instant::now() > deadline {
            break;
        }
        std::hint::spin_loop();
    }
    drop(server); // SIGKILL, then reap.
    let _ = writer.join();
    let tails = tails.lock().unwrap();
    let acked_end = *tails.last().unwrap();
    let in_flight = first + tails.len() as u64 - 1;
    Kill {
        acked_end,
        len: std::fs::metadata(storage).unwrap().len(),
        whole_end: acked_end.next_multiple_of(64) + value_len(in_flight) as u64 + 20,
    }
}
