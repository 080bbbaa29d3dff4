//! A WebSocket client by hand, for attacks and wire tests: a handshake and frames built
//! byte by byte, so that nothing on this side reads, answers Pings or sends anything the
//! caller did not write. Shared by the wire and memory tests and the attacks example
//! (`#[path]`), which all speak to the server below its client library.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Opens a TCP connection and does the WebSocket handshake; `read_timeout` stays set on
/// the socket for the caller's reads (`None`: reads block).
pub fn raw_websocket(port: u16, read_timeout: Option<Duration>) -> TcpStream {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(read_timeout).unwrap();
    write!(
        tcp,
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    // The server refuses frames sent before its answer to the handshake.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte)
            .expect("the answer to the handshake");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

/// A client frame (FIN set, masked with a zero key, which leaves the payload as is).
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(payload);
    frame
}

/// A muxio frame: payload length, stream id, sequence id, kind (0 open, 1 data, 2 end).
pub fn muxio_frame(stream: u32, seq: u32, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = (payload.len() as u32).to_le_bytes().to_vec();
    bytes.extend_from_slice(&stream.to_le_bytes());
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.push(kind);
    bytes.extend_from_slice(payload);
    bytes
}
