//! Issue 31, item 2: who may reach the store. No web page (a handshake with an `Origin`
//! header) unless its origin is allowed, and no address other than loopback without
//! `--allow-remote`.

mod common;

use common::{Server, assert_fails_with};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends a WebSocket handshake for `/ws` with `extra` header lines and returns the status
/// line of the answer.
fn handshake_status(port: u16, extra: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(
        tcp,
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        tcp.read_exact(&mut byte)
            .expect("an answer to the handshake");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).trim_end().to_string()
}

#[test]
fn a_web_page_is_refused_unless_its_origin_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = "http://localhost:8000";
    let args = ["--port", "0", "--allow-origin", allowed];
    let server = Server::start_with(&dir.path().join("store.bin"), &args);
    let evil = handshake_status(server.port, "Origin: https://evil.example\r\n");
    assert!(evil.starts_with("HTTP/1.1 403"), "{evil}");
    let null = handshake_status(server.port, "Origin: null\r\n");
    assert!(null.starts_with("HTTP/1.1 403"), "{null}");
    let page = handshake_status(server.port, &format!("Origin: {allowed}\r\n"));
    assert!(page.starts_with("HTTP/1.1 101"), "{page}");
    // A client that is no browser sends no Origin.
    let tool = handshake_status(server.port, "");
    assert!(tool.starts_with("HTTP/1.1 101"), "{tool}");
    let log = server.stop_and_read_log();
    assert!(
        log.contains("--allow-origin \"https://evil.example\""),
        "{log}"
    );
}

#[test]
fn an_address_other_than_loopback_needs_allow_remote() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store.bin");
    let args = ["--host", "0.0.0.0", "--port", "0"];
    assert_fails_with(
        &storage,
        &args,
        &["not a loopback address", "--allow-remote"],
    );
    let (status, stdout, stderr) = common::run_until_ready(
        &storage,
        &["--host", "0.0.0.0", "--port", "0", "--allow-remote"],
    );
    assert!(
        stdout.starts_with("listening on ws://0.0.0.0:"),
        "{status:?} {stdout} {stderr}"
    );
}
