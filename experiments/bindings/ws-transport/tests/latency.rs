//! Prints the median latency of a 1 KiB write plus its read, with and without Nagle's
//! algorithm on each end. A measurement, not a pass/fail test: a bound in milliseconds only
//! holds on a quiet machine. (Since the client and the server each send a message in one
//! write, Nagle's delayed ACKs no longer show in this request/reply pattern; TCP_NODELAY
//! stays on for the patterns where they would.) `cargo xtask bench` measures latency
//! against a release server.
//!
//! Run `cargo test -p simd-r-drive-ws-transport --test latency -- --ignored --nocapture`.

mod common;

use common::TestServer;
use std::time::{Duration, Instant};

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
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn write_read_latency_with_and_without_nagle() {
    // (server, client, rounds): fewer rounds with Nagle on, in case delayed ACKs come back.
    let setups = [
        (true, true, 200),
        (false, true, 12),
        (true, false, 12),
        (false, false, 12),
    ];
    for (server_nodelay, client_nodelay, rounds) in setups {
        let server = TestServer::start(server_nodelay).await;
        let median = median_write_read(&server, client_nodelay, rounds).await;
        println!(
            "1 KiB write+read, tcp_nodelay server={server_nodelay} client={client_nodelay}: \
             median {:.3} ms over {rounds} rounds",
            median.as_secs_f64() * 1e3
        );
    }
}
