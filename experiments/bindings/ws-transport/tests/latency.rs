//! Prints the median latency of a 1 KiB write plus its read, with and without Nagle's
//! algorithm, and checks that TCP_NODELAY on both ends makes calls several times faster
//! than Nagle on the server. A ratio, not a bound in milliseconds: load slows both setups
//! alike, while Nagle's delayed ACKs (tens of ms) stay, so this holds on a busy machine.
//!
//! Run `cargo test -p simd-r-drive-ws-transport --test latency -- --nocapture` to see the
//! figures.

mod common;

use common::TestServer;
use std::time::{Duration, Instant};

/// How much faster TCP_NODELAY on both ends must be than Nagle on the server (about 100×
/// on a quiet machine, 18× with the CPU saturated).
const SPEEDUP: u32 = 4;

async fn median_write_read(server: &TestServer, client_nodelay: bool, rounds: usize) -> Duration {
    let client = server.connect(client_nodelay).await;
    let payload = vec![0xAB; 1024];
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds + 1 {
        let key = format!("latency-{round}").into_bytes();
        let started = Instant::now();
        client.write(key.clone(), payload.clone()).await.unwrap();
        let back = client.read(key).await.unwrap();
        samples.push(started.elapsed());
        assert_eq!(back.as_deref(), Some(&payload[..]));
    }
    samples.remove(0); // the first call warms up both ends
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn tcp_nodelay_on_both_ends_keeps_calls_fast() {
    // (server, client, rounds): with Nagle on, each round waits for delayed ACKs, so fewer.
    let setups = [
        (true, true, 200),
        (false, true, 12),
        (true, false, 12),
        (false, false, 12),
    ];
    let mut medians = Vec::new();
    for (server_nodelay, client_nodelay, rounds) in setups {
        let server = TestServer::start(server_nodelay).await;
        let median = median_write_read(&server, client_nodelay, rounds).await;
        println!(
            "1 KiB write+read, tcp_nodelay server={server_nodelay} client={client_nodelay}: \
             median {:.3} ms over {rounds} rounds",
            median.as_secs_f64() * 1e3
        );
        medians.push(median);
    }
    assert!(
        medians[0] * SPEEDUP < medians[1],
        "TCP_NODELAY on both ends ({:?}) is not {SPEEDUP}x faster than Nagle on the server ({:?})",
        medians[0],
        medians[1]
    );
}
