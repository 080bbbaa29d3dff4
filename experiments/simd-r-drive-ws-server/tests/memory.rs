//! What hostile requests cost the server in memory: the peak RSS of the built binary.
//! Memory, unlike time, does not depend on the machine's load.

mod common;

use common::raw_ws::{client_frame, muxio_frame, raw_websocket};

use muxio_rpc_service::prebuffered::RpcMethodPrebuffered;
use simd_r_drive_muxio_service_definition::prebuffered::{BatchWrite, BatchWriteRequestParams};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout};
use std::time::{Duration, Instant};

/// How long a client waits for the server's answer before the test gives up.
const PATIENCE: Duration = Duration::from_secs(120);

/// Issue 31 item 4: two clients at once, each a batch of 8 × 32 MiB of zeros. The encoding
/// packs zeros to a bit a byte, so each is 32 MiB on the wire and 256 MiB decoded, over the
/// limit of a request. The server decoded them before measuring them (one at a time), and
/// decoding takes twice what it decodes to: it peaked at 709 MiB. Now what a request decodes
/// to is read from its encoding, and these are refused before they are decoded: the goal
/// is at most 512 MiB (the two messages and their requests, 2 × 64 MiB, are what remains).
#[test]
fn batches_that_decode_over_the_limit_are_refused_before_they_are_decoded() {
    const GOAL: u64 = 512 << 20;
    let dir = tempfile::tempdir().unwrap();
    let server = MeasuredServer::start(&dir.path().join("store.bin"));
    let message = std::sync::Arc::new(batch_of_zeros());
    let port = server.port;
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let message = message.clone();
            std::thread::spawn(move || send_and_read_the_answer(port, &message))
        })
        .collect();
    let answers: Vec<String> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let (peak, log) = server.stop();
    println!("peak RSS {} MiB", peak >> 20);
    assert!(
        peak <= GOAL,
        "the server peaked at {} MiB, over {} MiB:\n{log}",
        peak >> 20,
        GOAL >> 20
    );
    for answer in answers {
        assert!(answer.contains("the request decodes to"), "{answer:?}");
    }
}

/// One WebSocket message that carries one `batch_write` of 8 × 32 MiB of zeros, as the
/// client sends it: muxio frames of 64 KiB.
fn batch_of_zeros() -> Vec<u8> {
    let entries = (0..8u8).map(|i| (vec![i], vec![0; 32 << 20])).collect();
    let args = BatchWrite::encode_request(BatchWriteRequestParams { entries }).unwrap();
    let mut header = vec![0];
    header.extend_from_slice(&1u32.to_le_bytes());
    header.extend_from_slice(&BatchWrite::METHOD_ID.to_le_bytes());
    header.extend_from_slice(&0u16.to_le_bytes());
    let mut frames = muxio_frame(1, 0, 0, &header);
    let chunks = args.chunks(64 << 10);
    let seq = chunks.len() as u32 + 1;
    for (n, chunk) in chunks.enumerate() {
        frames.extend(muxio_frame(1, n as u32 + 1, 1, chunk));
    }
    frames.extend(muxio_frame(1, seq, 2, b""));
    client_frame(0x2, &frames)
}

/// Sends `message` over a WebSocket opened by hand, then returns what the server sends back
/// (the error reply, whose text is readable in it) until the reason of the refusal has come,
/// the server closes the connection, or [`PATIENCE`] runs out.
fn send_and_read_the_answer(port: u16, message: &[u8]) -> String {
    let mut tcp = raw_websocket(port, Some(PATIENCE));
    let _ = tcp.write_all(message);
    let deadline = Instant::now() + PATIENCE;
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    while !String::from_utf8_lossy(&answer).contains("send it in smaller batches") {
        let left = deadline.saturating_duration_since(Instant::now());
        tcp.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match tcp.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A server child whose peak RSS is read when it stops; killed and reaped if the test
/// fails before.
struct MeasuredServer {
    child: Option<Child>,
    /// Kept open: the server may write to its stdout after the readiness line.
    _stdout: BufReader<ChildStdout>,
    port: u16,
}

impl MeasuredServer {
    fn start(storage: &Path) -> MeasuredServer {
        let mut child = common::spawn(storage, &["--port", "0"]);
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port = line
            .trim_end()
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no readiness line, got {line:?}"));
        MeasuredServer {
            child: Some(child),
            _stdout: stdout,
            port,
        }
    }

    /// Stops the server with SIGTERM; returns its peak RSS in bytes and its log.
    // The child is reaped by `wait4`, which `Child::wait` does not call: it alone gives
    // the child's resource usage.
    #[allow(clippy::zombie_processes)]
    fn stop(mut self) -> (u64, String) {
        let mut child = self.child.take().unwrap();
        let pid = child.id() as i32;
        let high_water_mark = vm_hwm(pid);
        // SAFETY: kill and wait4 on our child, not reaped yet (`child` is never waited on);
        // wait4 writes into the structs it is handed.
        let (status, usage) = unsafe {
            libc::kill(pid, libc::SIGTERM);
            let mut status = 0;
            let mut usage: libc::rusage = std::mem::zeroed();
            assert_eq!(libc::wait4(pid, &mut status, 0, &mut usage), pid);
            (status, usage)
        };
        let log = common::stderr_of(&mut child);
        assert!(libc::WIFEXITED(status), "server status {status}:\n{log}");
        // macOS counts in bytes (and Linux in KiB, when /proc is not there).
        let unit = if cfg!(target_os = "macos") { 1 } else { 1024 };
        let peak = high_water_mark.unwrap_or(usage.ru_maxrss as u64 * unit);
        (peak, log)
    }
}

/// The process's peak RSS in bytes, from Linux's `/proc/PID/status`. `wait4`'s figure is
/// no good there: Linux carries the parent's peak into a child it spawns (at `exec`, from
/// the memory the child shared with it until then), so a test process that held more than
/// the server would be measured instead.
fn vm_hwm(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl Drop for MeasuredServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
