//! Large values stay interruptible, oversized ones are refused before sending, abandoned
//! calls free their state, and a server that stops reading cannot make the client grow.

mod common;

use common::TestServer;
use futures_util::StreamExt;
use simd_r_drive_ws_transport::{ConnectOptions, MAX_VALUE_SIZE, SEND_QUEUE_LIMIT, WsTransport};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio::sync::oneshot;

/// How long a dropped call may take to return. The old encoder took seconds for 64 MiB.
const PROMPT: Duration = Duration::from_secs(1);

/// `size` bytes that no compressor would shrink (xorshift), like a real large value.
fn noise(size: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut bytes = Vec::with_capacity(size + 8);
    while bytes.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(size);
    bytes
}

async fn connect(port: u16) -> Arc<WsTransport> {
    WsTransport::connect("127.0.0.1", port, ConnectOptions::default())
        .await
        .expect("cannot connect")
}

/// A WebSocket server for one client that completes the handshake, then reads and drops
/// everything (`reads`) or reads nothing at all, as a stopped server does. It never answers.
/// It stays up until the returned sender is dropped. Its receive buffer is small, so that
/// the kernel holds little of what a stopped server leaves unread.
async fn silent_server(reads: bool) -> (u16, oneshot::Sender<()>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 << 10).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(8).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
        if reads {
            let drain = async { while socket.next().await.is_some() {} };
            tokio::select! { _ = drain => {}, _ = stopped => {} }
        } else {
            let _ = stopped.await;
        }
    });
    (port, stop)
}

#[tokio::test]
async fn a_large_write_stops_at_its_timeout_and_the_connection_survives() {
    let server = TestServer::start(true).await;
    let client = server.connect(true).await;
    let value = noise(MAX_VALUE_SIZE);

    let started = Instant::now();
    let write = client.write(b"large".to_vec(), value);
    let outcome = tokio::time::timeout(Duration::from_millis(10), write).await;
    let took = started.elapsed();

    assert!(outcome.is_err(), "a 64 MiB write finished within 10 ms");
    assert!(took < PROMPT, "the timeout fired after {took:?}");
    assert_eq!(client.pending_calls(), 0, "the dropped call left its state");
    client
        .write(b"small".to_vec(), b"after".to_vec())
        .await
        .unwrap();
    let back = client.read(b"small".to_vec()).await.unwrap();
    assert_eq!(back.as_deref(), Some(&b"after"[..]));
}

#[tokio::test]
async fn a_value_over_the_limit_is_refused_before_it_is_sent() {
    let (port, _stop) = silent_server(true).await;
    let client = connect(port).await;

    let oversized = client.write(b"k".to_vec(), vec![1; MAX_VALUE_SIZE + 1]);
    let refused = tokio::time::timeout(PROMPT, oversized).await;
    let error = refused
        .expect("the value was sent, not refused")
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
    assert!(error.to_string().contains("64 MiB"), "{error}");
    let entries = vec![
        (b"a".to_vec(), b"ok".to_vec()),
        (b"b".to_vec(), vec![1; MAX_VALUE_SIZE + 1]),
    ];
    let error = client.batch_write(entries).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
}

#[tokio::test]
async fn abandoned_calls_leave_nothing_behind() {
    let (port, _stop) = silent_server(true).await;
    let client = connect(port).await;

    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.read(b"k".to_vec()).await }
    });
    wait_until(|| client.pending_calls() == 1).await;
    waiting.abort();
    wait_until(|| client.pending_calls() == 0).await;

    for n in 0..2_000u32 {
        // A zero timeout polls the call once (it registers and sends), then drops it.
        let call = client.read(n.to_le_bytes().to_vec());
        assert!(tokio::time::timeout(Duration::ZERO, call).await.is_err());
    }
    assert_eq!(client.pending_calls(), 0);
    assert!(client.is_connected());
}

#[tokio::test]
async fn a_server_that_stops_reading_cannot_grow_the_send_queue() {
    let (port, _stop) = silent_server(false).await;
    let client = connect(port).await;
    let value = noise(1 << 20);
    let full = SEND_QUEUE_LIMIT - (2 << 20);

    // The kernel's buffers take a few MiB, then the queue fills; once it is full, every
    // write waits for room until its timeout and the queue stays within its limit.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut writes_after_full = 0;
    for n in 0u32.. {
        assert!(
            Instant::now() < deadline,
            "the queue never filled: {client:?}"
        );
        let write = client.write(n.to_le_bytes().to_vec(), value.clone());
        let outcome = tokio::time::timeout(Duration::from_millis(200), write).await;
        assert!(
            outcome.is_err(),
            "write {n} was answered by a silent server"
        );
        assert!(client.unsent_bytes() <= SEND_QUEUE_LIMIT, "{client:?}");
        if client.unsent_bytes() > full {
            writes_after_full += 1;
        }
        if writes_after_full == 5 {
            break;
        }
    }
    assert_eq!(client.pending_calls(), 0);
    assert!(client.is_connected());
}

/// Waits for `condition`, polling; fails after five seconds.
async fn wait_until(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met within 5 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A server that answers the first request with a reply that never ends: 64 KiB chunks of
/// payload, one WebSocket message each, until the returned sender is dropped.
async fn endless_reply_server() -> (u16, oneshot::Sender<()>) {
    use muxio_core::rpc::{RpcDispatcher, RpcResponse};
    use muxio_core::utils::IdSpace;
    use tokio_tungstenite::tungstenite::Message;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, mut stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let Some(Ok(Message::Binary(request))) = socket.next().await else {
            return;
        };
        // The first frame's payload opens with the RPC header: type, then request id.
        let request_id = u32::from_le_bytes(request[14..18].try_into().unwrap());
        let mut dispatcher = RpcDispatcher::new_with_id_space(IdSpace::Server);
        let frames = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let emit = {
            let frames = frames.clone();
            move |f: &[u8]| frames.lock().unwrap().push(f.to_vec())
        };
        let response = RpcResponse {
            rpc_request_id: request_id,
            rpc_method_id: 0,
            rpc_result_status: Some(0),
            rpc_prebuffered_payload_bytes: None,
            is_finalized: false,
        };
        let mut encoder = dispatcher.respond(response, 64 << 10, emit).unwrap();
        let chunk = vec![0x5A; 64 << 10];
        loop {
            encoder.write_bytes(&chunk).unwrap();
            let out = std::mem::take(&mut *frames.lock().unwrap());
            for frame in out {
                use futures_util::SinkExt;
                tokio::select! {
                    sent = socket.send(Message::Binary(frame.into())) => if sent.is_err() { return },
                    _ = &mut stopped => return,
                }
            }
        }
    });
    (port, stop)
}

/// Issue 31 item 8: a reply that grows past the largest value plus framing fails its call
/// with the limit, within seconds, instead of growing the client until it dies (before,
/// the call waited for the end, buffering every chunk).
#[tokio::test]
async fn a_reply_over_the_limit_fails_its_call() {
    let (port, _stop) = endless_reply_server().await;
    let client = connect(port).await;
    let call = client.read(b"k".to_vec());
    let outcome = tokio::time::timeout(Duration::from_secs(60), call).await;
    let error = outcome.expect("the call kept buffering").unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
    assert!(error.to_string().contains("over 68157440 bytes"), "{error}");
    assert_eq!(client.pending_calls(), 0);
}
