//! A call dropped while its request is being sent (a timeout, Ctrl-C) leaves the connection
//! usable: the transport sends a Cancel frame and the real server drops the request.

mod common;

use common::TestServer;
use std::time::Duration;

/// Bytes that do not repeat, so that the size on the wire is the real one.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_cut_short_mid_send_leaves_the_connection_usable() {
    let server = TestServer::start(true).await;
    let client = server.connect(true).await;
    client
        .write(b"before".to_vec(), b"1".to_vec())
        .await
        .unwrap();

    // Boxed, so that `drop` below drops the call itself (a pinned local would live on).
    let mut write = Box::pin(client.write(b"cut-short".to_vec(), noise(16 << 20)));
    let some_frames_queued = async {
        while client.unsent_bytes() == 0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::select! {
        biased;
        done = &mut write => panic!("the write ended before it could be cut short: {done:?}"),
        () = some_frames_queued => {}
    }
    // Dropped mid-send, as a timeout drops it: the transport queues a Cancel frame.
    drop(write);

    let next = tokio::time::timeout(
        Duration::from_secs(10),
        client.write(b"after".to_vec(), b"2".to_vec()),
    );
    next.await
        .expect("the call after the Cancel was not answered")
        .expect("the connection did not survive the Cancel");
    assert_eq!(
        client.read(b"after".to_vec()).await.unwrap(),
        Some(b"2".to_vec())
    );
    assert_eq!(client.read(b"cut-short".to_vec()).await.unwrap(), None);
    assert!(client.is_connected());
}
