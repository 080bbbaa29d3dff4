//! The native side of `cargo xtask bench`: the same operations as the bindings' benchmark
//! (`tests/test_benchmark.py`), through the transport the bindings wrap, so that the
//! difference between the two is what Python costs.
//!
//! `bench HOST PORT OUT.json` writes a list of `{"op", "median_us", "samples"}`.
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
    let [host, port, out] = args.as_slice() else {
        eprintln!("error: usage: bench HOST PORT OUT.json (`cargo xtask bench` runs it)");
        return ExitCode::FAILURE;
    };
    match run(host, port, out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(host: &str, port: &str, out: &str) -> io::Result<()> {
    let port: u16 = port
        .parse()
        .map_err(|_| io::Error::other(format!("bad port {port:?}: give a number")))?;
    let client = WsTransport::connect(host, port, ConnectOptions::default()).await?;
    let keys = Keys::new();
    let small = vec![0xa5_u8; KIB];
    let large = vec![0x5a_u8; MIB];
    let mut results = Vec::new();

    let key = keys.one("write");
    results.push((
        "write 1 KiB",
        time(|| client.write(key.clone(), small.clone())).await?,
    ));

    let key = keys.one("read");
    client.write(key.clone(), small.clone()).await?;
    check(client.read(key.clone()).await?, &small)?;
    results.push(("read 1 KiB", time(|| client.read(key.clone())).await?));

    let key = keys.one("write-read");
    let write_read = || async {
        client.write(key.clone(), small.clone()).await?;
        client.read(key.clone()).await
    };
    check(write_read().await?, &small)?;
    results.push(("write+read 1 KiB", time(write_read).await?));

    let batch: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| keys.one(&format!("batch-{i}")))
        .collect();
    let entries = || batch.iter().map(|k| (k.clone(), small.clone())).collect();
    client.batch_write(entries()).await?;
    for payload in client.batch_read(batch.clone()).await? {
        check(payload, &small)?;
    }
    results.push((
        "batch_read 16x1 KiB",
        time(|| client.batch_read(batch.clone())).await?,
    ));
    results.push((
        "batch_write 16x1 KiB",
        time(|| client.batch_write(entries())).await?,
    ));

    let key = keys.one("large");
    client.write(key.clone(), large.clone()).await?;
    check(client.read(key.clone()).await?, &large)?;
    results.push(("read 1 MiB", time(|| client.read(key.clone())).await?));

    std::fs::write(out, to_json(&results))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {out}: {e}")))
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
