//! The hostile clients of issue 31 item 4, against two server binaries side by side, with
//! what each costs: the server's CPU time (from `wait4` once it stops) and peak RSS, and
//! the worst call of a well-behaved client (a process of its own, reading a key in a loop
//! meanwhile). Release builds; the figures are for comparing the two, in one run.
//!
//! ```text
//! cargo run --release -p simd-r-drive-ws-server --example attacks -- BEFORE_BIN AFTER_BIN [ROUNDS [ATTACK...]]
//! ```
//!
//! With no ATTACK named, both run, in this order:
//!
//! - `pings`: one client sends Pings and never reads, for the server's 30 s idle timeout.
//! - `zeros`: two clients at once, each one batch of 8 × 32 MiB of zeros (32 MiB on the
//!   wire, 256 MiB decoded, over the 65 MiB limit of a request).

#[path = "../tests/common/raw_ws.rs"]
mod raw_ws;

use muxio_rpc_service::prebuffered::RpcMethodPrebuffered;
use raw_ws::{client_frame, muxio_frame, raw_websocket};
use simd_r_drive_muxio_service_definition::prebuffered::{BatchWrite, BatchWriteRequestParams};
use simd_r_drive_ws_client::{AsyncDataStoreReader, AsyncDataStoreWriter, WsClient};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("client") {
        return well_behaved_client(args[1].parse().expect("a port"));
    }
    let [before, after] = [&args[0], &args[1]];
    let rounds: usize = args
        .get(2)
        .map_or(1, |n| n.parse().expect("a number of rounds"));
    let all = [("pings", pings as fn(u16)), ("zeros", zeros)];
    let named = &args[args.len().min(3)..];
    if let Some(unknown) = named.iter().find(|n| all.iter().all(|(name, _)| name != n)) {
        panic!("no attack {unknown:?}; the attacks are pings and zeros");
    }
    let chosen: Vec<_> = all
        .into_iter()
        .filter(|(name, _)| named.is_empty() || named.iter().any(|n| n == name))
        .collect();
    println!("| attack | build | server CPU | peak RSS | client's worst call |");
    println!("| --- | --- | --- | --- | --- |");
    for round in 0..rounds {
        for &(name, attack) in &chosen {
            // Interleaved, so that both builds see the same load on the machine.
            for (label, bin) in [("before", before), ("after", after)] {
                let cost = measure(bin, attack);
                println!(
                    "| {name} (round {}) | {label} | {:.2} s | {} MiB | {} ms |",
                    round + 1,
                    cost.cpu.as_secs_f64(),
                    cost.peak_rss >> 20,
                    cost.worst_call.as_millis()
                );
            }
        }
    }
}

struct Cost {
    cpu: Duration,
    peak_rss: u64,
    worst_call: Duration,
}

/// Runs `attack` against a fresh server of `bin` while a well-behaved client works.
fn measure(bin: &str, attack: fn(u16)) -> Cost {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(bin)
        .arg(dir.path().join("store.bin"))
        .args(["--port", "0", "--idle-timeout", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    let mut client = Command::new(std::env::current_exe().unwrap())
        .args(["client", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The client says when it has written its key and reads in a loop.
    let mut client_out = BufReader::new(client.stdout.take().unwrap());
    let mut ready = String::new();
    client_out.read_line(&mut ready).unwrap();
    attack(port);
    drop(client.stdin.take());
    let mut worst = String::new();
    client_out.read_line(&mut worst).unwrap();
    client.wait().unwrap();
    let (cpu, peak_rss) = stop(server);
    Cost {
        cpu,
        peak_rss,
        worst_call: Duration::from_micros(worst.trim().parse().expect("worst call in µs")),
    }
}

/// SIGTERM, then the server's CPU time from `wait4` and its peak RSS.
fn stop(server: Child) -> (Duration, u64) {
    let pid = server.id() as i32;
    let high_water_mark = vm_hwm(pid);
    // SAFETY: kill and wait4 on a child of ours that is not reaped yet; wait4 writes into
    // the structs it is given.
    let usage = unsafe {
        libc::kill(pid, libc::SIGTERM);
        let mut status = 0;
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(pid, &mut status, 0, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    // macOS gives bytes (and Linux kilobytes, when /proc is not there).
    let unit = if cfg!(target_os = "macos") { 1 } else { 1024 };
    (
        time(usage.ru_utime) + time(usage.ru_stime),
        high_water_mark.unwrap_or(usage.ru_maxrss as u64 * unit),
    )
}

/// The peak RSS in bytes from Linux's `/proc/PID/status`. `wait4`'s figure is no good
/// there: Linux carries the parent's peak into a child it spawns, so once this process has
/// built a batch of zeros, every server after it seemed to peak at 290 MiB.
fn vm_hwm(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Writes a key, says so, then reads it in a loop until stdin closes; prints the worst
/// call's time in µs.
fn well_behaved_client(port: u16) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = stop.send(());
    });
    let worst = rt.block_on(async {
        let client = WsClient::new("127.0.0.1", port).await.unwrap();
        client.write(b"key", b"value").await.unwrap();
        println!("ready");
        let mut worst = Duration::ZERO;
        while stopped.try_recv().is_err() {
            let started = Instant::now();
            client.read(b"key").await.unwrap();
            worst = worst.max(started.elapsed());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        worst
    });
    println!("{}", worst.as_micros());
}

/// Pings of 100 bytes, never reading, as fast as the socket takes them, until the server
/// closes the connection (or 40 s).
fn pings(port: u16) {
    let mut tcp = raw_websocket(port, None);
    tcp.set_nonblocking(true).unwrap();
    let burst: Vec<u8> = (0..1024)
        .flat_map(|_| client_frame(0x9, &[0x50; 100]))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut at = 0;
    while Instant::now() < deadline {
        match tcp.write(&burst[at..]) {
            Ok(n) => at = (at + n) % burst.len(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return,
        }
    }
}

/// Two clients at once, each one batch of 8 × 32 MiB of zeros; each waits for its answer
/// (a reply or a Close frame) or the end of its connection.
fn zeros(port: u16) {
    let args = BatchWrite::encode_request(BatchWriteRequestParams {
        entries: (0..8u8).map(|i| (vec![i], vec![0; 32 << 20])).collect(),
    })
    .unwrap();
    let mut header = vec![0];
    header.extend_from_slice(&1u32.to_le_bytes());
    header.extend_from_slice(&BatchWrite::METHOD_ID.to_le_bytes());
    header.extend_from_slice(&0u16.to_le_bytes());
    let mut message = muxio_frame(1, 0, 0, &header);
    let mut seq = 1;
    for chunk in args.chunks(64 << 10) {
        message.extend(muxio_frame(1, seq, 1, chunk));
        seq += 1;
    }
    message.extend(muxio_frame(1, seq, 2, b""));
    let frame = std::sync::Arc::new(client_frame(0x2, &message));
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let frame = frame.clone();
            std::thread::spawn(move || {
                let mut tcp = raw_websocket(port, None);
                tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                let _ = tcp.write_all(&frame);
                let _ = tcp.read(&mut [0; 64]);
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
}
