//! Prints the median latency of a 1 KiB write plus its read, with and without Nagle's
//! algorithm, and checks that with TCP_NODELAY on both ends it stays sub-millisecond-ish.
//!
//! Run `cargo test -p simd-r-drive-ws-transport --test latency -- --nocapture` to see the
//! figures.

mod common;

use common::TestServer;
use std::time::{Duration, Instant};

/// A loose bound, so that a busy CI machine does not fail the test; the target is 1 ms.
const BOTH_ENDS_BOUND: Duration = Duration::from_millis(5);

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
        medians[0] < BOTH_ENDS_BOUND,
        "median with TCP_NODELAY on both ends: {:?}",
        medians[0]
    );
}
