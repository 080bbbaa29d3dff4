//! The native side of `cargo xtask bench`: the same operations as the bindings' benchmark
//! (`tests/test_benchmark.py`), through the transport the bindings wrap, so that the
//! difference between the two is what Python costs.
//!
//! `bench HOST PORT OUT.json [OP]` writes a list of `{"op", "median_us", "samples"}`, for
//! every op or only `OP`.
//! Each op is warmed up, then timed call by call; the median resists the odd slow call
//! that a shared machine makes.

use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use simd_r_drive_ws_transport::{ConnectOptions, WsTransport};

/// Calls made before timing, so that buffers, caches and the connection are warm.
const WARMUP: Duration = Duration::from_millis(300);
/// Timing stops after this long, or after `MAX_SAMPLES` calls...
const BUDGET: Duration = Duration::from_secs(2);
const MAX_SAMPLES: usize = 20_000;
/// ...but never before this many calls, however slow they are.
const MIN_SAMPLES: usize = 50;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const BATCH: usize = 16;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (host, port, out, only) = match args.as_slice() {
        [host, port, out] => (host, port, out, None),
        [host, port, out, op] => (host, port, out, Some(op.as_str())),
        _ => {
            eprintln!("error: usage: bench HOST PORT OUT.json [OP] (`cargo xtask bench` runs it)");
            return ExitCode::FAILURE;
        }
    };
    match run(host, port, out, only).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The ops, in order; `cargo xtask bench` names the same in the same order.
const OPS: [&str; 6] = [
    "write 1 KiB",
    "read 1 KiB",
    "write+read 1 KiB",
    "batch_read 16x1 KiB",
    "batch_write 16x1 KiB",
    "read 1 MiB",
];

async fn run(host: &str, port: &str, out: &str, only: Option<&str>) -> io::Result<()> {
    let port: u16 = port
        .parse()
        .map_err(|_| io::Error::other(format!("bad port {port:?}: give a number")))?;
    if let Some(op) = only.filter(|op| !OPS.contains(op)) {
        return Err(io::Error::other(format!(
            "unknown op {op:?}: use one of {OPS:?}"
        )));
    }
    let client = WsTransport::connect(host, port, ConnectOptions::default()).await?;
    let keys = Keys::new();
    let mut results = Vec::new();
    for op in OPS
        .into_iter()
        .filter(|op| only.is_none_or(|only| only == *op))
    {
        results.push((op, measure(&client, &keys, op).await?));
    }
    std::fs::write(out, to_json(&results))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {out}: {e}")))
}

/// Sets `op` up, checks that it returns what was written, and times it.
async fn measure(client: &WsTransport, keys: &Keys, op: &str) -> io::Result<Median> {
    let small = vec![0xa5_u8; KIB];
    let key = keys.one(op);
    match op {
        "write 1 KiB" => time(|| client.write(key.clone(), small.clone())).await,
        "read 1 KiB" => {
            client.write(key.clone(), small.clone()).await?;
            check(client.read(key.clone()).await?, &small)?;
            time(|| client.read(key.clone())).await
        }
        "write+read 1 KiB" => {
            let write_read = || async {
                client.write(key.clone(), small.clone()).await?;
                client.read(key.clone()).await
            };
            check(write_read().await?, &small)?;
            time(write_read).await
        }
        "batch_read 16x1 KiB" | "batch_write 16x1 KiB" => {
            let batch: Vec<Vec<u8>> = (0..BATCH).map(|i| keys.one(&format!("{op}-{i}"))).collect();
            let entries = || batch.iter().map(|k| (k.clone(), small.clone())).collect();
            client.batch_write(entries()).await?;
            for payload in client.batch_read(batch.clone()).await? {
                check(payload, &small)?;
            }
            if op.starts_with("batch_read") {
                time(|| client.batch_read(batch.clone())).await
            } else {
                time(|| client.batch_write(entries())).await
            }
        }
        _ => {
            let large = vec![0x5a_u8; MIB];
            client.write(key.clone(), large.clone()).await?;
            check(client.read(key.clone()).await?, &large)?;
            time(|| client.read(key.clone())).await
        }
    }
}

/// Keys of this run only, so that runs never read each other's values.
struct Keys(String);

impl Keys {
    fn new() -> Keys {
        let nanos = SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap_or_default()
            .as_nanos();
        Keys(format!("bench-{}-{nanos}", std::process::id()))
    }

    fn one(&self, name: &str) -> Vec<u8> {
        format!("{}-{name}", self.0).into_bytes()
    }
}

fn check(payload: Option<Vec<u8>>, expected: &[u8]) -> io::Result<()> {
    match payload {
        Some(bytes) if bytes == expected => Ok(()),
        _ => Err(io::Error::other(
            "the server returned another value than was written",
        )),
    }
}

/// A median, in microseconds, and how many calls it is the median of.
struct Median {
    micros: f64,
    samples: usize,
}

/// Warms `op` up, then times it call by call within the budget.
async fn time<F, Fut, T>(mut op: F) -> io::Result<Median>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let started = Instant::now();
    while started.elapsed() < WARMUP {
        op().await?;
    }
    let mut samples = Vec::new();
    let started = Instant::now();
    while samples.len() < MIN_SAMPLES || (samples.len() < MAX_SAMPLES && started.elapsed() < BUDGET)
    {
        let call = Instant::now();
        op().await?;
        samples.push(call.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    Ok(Median {
        micros: samples[samples.len() / 2],
        samples: samples.len(),
    })
}

fn to_json(results: &[(&str, Median)]) -> String {
    let mut json = String::from("[\n");
    for (index, (op, median)) in results.iter().enumerate() {
        let comma = if index + 1 < results.len() { "," } else { "" };
        let _ = writeln!(
            json,
            "  {{\"op\": \"{op}\", \"median_us\": {:.3}, \"samples\": {}}}{comma}",
            median.micros, median.samples
        );
    }
    json.push_str("]\n");
    json
}
