//! Failures end in errors within a bounded time, never in a hang.

use futures_util::StreamExt;
use simd_r_drive_ws_transport::{ConnectOptions, WsTransport};
use std::io;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const BOUND: Duration = Duration::from_secs(5);

async fn connect(port: u16, connect_timeout: Duration) -> io::Result<std::sync::Arc<WsTransport>> {
    let options = ConnectOptions {
        connect_timeout,
        ..ConnectOptions::default()
    };
    WsTransport::connect("127.0.0.1", port, options).await
}

/// A port that nothing listens on: bind one, then close it.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn connecting_to_a_closed_port_is_refused() {
    let port = closed_port().await;
    let error = connect(port, BOUND).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
    assert!(error.to_string().contains(&port.to_string()), "{error}");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts TCP (the kernel does, from the backlog) but never answers the handshake.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let error = connect(port, Duration::from_millis(300)).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
    assert!(started.elapsed() < BOUND);
}

/// A WebSocket server that accepts one client, waits for its first message, then
/// hangs up without replying: the call that sent the message is left pending.
async fn hang_up_after_first_message() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let _first = socket.next().await;
    });
    port
}

#[tokio::test]
async fn pending_and_later_calls_fail_when_the_server_goes_away() {
    let port = hang_up_after_first_message().await;
    let client = connect(port, BOUND).await.unwrap();

    let pending = tokio::time::timeout(BOUND, client.read(b"key".to_vec())).await;
    let error = pending.expect("the pending call hung").unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionAborted, "{error}");
    assert!(!client.is_connected());

    let later = tokio::time::timeout(BOUND, client.len()).await;
    let error = later.expect("the later call hung").unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionAborted, "{error}");
}
