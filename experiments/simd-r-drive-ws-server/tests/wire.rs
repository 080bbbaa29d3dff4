//! The server and bad input on the wire: raw WebSocket frames and raw TCP against the built
//! binary. Each connection that breaks the protocol is closed with a Close frame and one
//! warning line; the others carry on.

mod common;

use common::Server;
use common::raw_ws::{client_frame, muxio_frame, raw_websocket};
use simd_r_drive_ws_client::{AsyncDataStoreReader, AsyncDataStoreWriter, WsClient};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long a test waits for something the server must do within a few seconds.
const PATIENCE: Duration = Duration::from_secs(15);

/// A runtime whose worker keeps the clients' connections served (answering the server's
/// pings) while the test thread blocks on a raw socket.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Reads server frames until a Close frame and returns its code; panics if the connection
/// ends without one or none comes within [`PATIENCE`] (pings do not extend it).
fn close_code(tcp: &mut TcpStream) -> u16 {
    let payload = next_frame_of(tcp, 0x8, "a Close frame");
    u16::from_be_bytes([payload[0], payload[1]])
}

/// Reads server frames until one with `opcode` and returns its payload; panics if none
/// comes within [`PATIENCE`].
fn next_frame_of(tcp: &mut TcpStream, opcode: u8, what: &str) -> Vec<u8> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {what} within {PATIENCE:?}");
        tcp.set_read_timeout(Some(left)).unwrap();
        let mut head = [0u8; 2];
        tcp.read_exact(&mut head)
            .unwrap_or_else(|e| panic!("{what} from the server: {e}"));
        let len = match head[1] & 0x7F {
            126 => {
                let mut n = [0u8; 2];
                tcp.read_exact(&mut n).unwrap();
                u16::from_be_bytes(n) as usize
            }
            127 => {
                let mut n = [0u8; 8];
                tcp.read_exact(&mut n).unwrap();
                u64::from_be_bytes(n) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).unwrap();
        if head[0] & 0x0F == opcode {
            return payload;
        }
    }
}

/// After the Close frame the server hangs up.
fn assert_hung_up(tcp: &mut TcpStream) {
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
}

/// A real client that works before and after the bad connection.
fn with_a_real_client(port: u16, during: impl FnOnce()) {
    let rt = runtime();
    let client = rt.block_on(WsClient::new("127.0.0.1", port)).unwrap();
    rt.block_on(client.write(b"before", b"1")).unwrap();
    during();
    rt.block_on(client.write(b"after", b"2")).unwrap();
    assert_eq!(
        rt.block_on(client.read(b"before")).unwrap(),
        Some(b"1".to_vec())
    );
}

/// Sends `bytes` on a fresh connection while a real client works, and checks that the
/// server closes it with `expected_code` and writes exactly one warning line about it,
/// naming `reason`. The only other warning allowed is the shutdown's for the real client,
/// whose going away the server may not have seen yet when the test stops it (under load).
fn assert_refused(bytes: Vec<u8>, expected_code: u16, reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store.bin"));
    let mut bad_port = 0;
    with_a_real_client(server.port, || {
        let mut bad = raw_websocket(server.port, Some(PATIENCE));
        bad_port = bad.local_addr().unwrap().port();
        bad.write_all(&bytes).unwrap();
        assert_eq!(close_code(&mut bad), expected_code);
        assert_hung_up(&mut bad);
    });
    let log = server.stop_and_read_log();
    let peer = format!("peer=127.0.0.1:{bad_port}");
    let (about_it, others): (Vec<&str>, Vec<&str>) = (log.lines())
        .filter(|line| line.contains("WARN"))
        .partition(|line| line.split_whitespace().any(|word| word == peer));
    assert_eq!(
        about_it.len(),
        1,
        "one warning line about {peer} expected:\n{log}"
    );
    assert!(about_it[0].contains(reason), "{}", about_it[0]);
    let shutdown = "(1001): the server is shutting down";
    assert!(others.iter().all(|line| line.contains(shutdown)), "{log}");
}

#[test]
fn random_bytes_close_the_connection_with_1007() {
    let garbage: Vec<u8> = (0..64u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
        .collect();
    assert_refused(client_frame(0x2, &garbage), 1007, "(1007)");
}

#[test]
fn a_whole_frame_that_is_not_an_rpc_request_closes_with_1007() {
    // A well-formed muxio frame (length 20, stream 1, seq 0, kind Open) whose payload is not
    // an RPC header (message type 0xEE).
    let mut frame = 20u32.to_le_bytes().to_vec();
    frame.extend_from_slice(&1u32.to_le_bytes());
    frame.extend_from_slice(&0u32.to_le_bytes());
    frame.push(0);
    frame.extend_from_slice(&[0xEE; 20]);
    assert_refused(client_frame(0x2, &frame), 1007, "not an RPC request");
}

#[test]
fn a_text_message_closes_with_1002() {
    assert_refused(client_frame(0x1, b"{\"hello\": 1}"), 1002, "text message");
}

/// The frame header announces 100 MiB; the server refuses it from the header, with 1009,
/// before any payload arrives.
#[test]
fn a_frame_over_the_limit_is_refused_from_its_header() {
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(100u64 << 20).to_be_bytes());
    header.extend_from_slice(&[0, 0, 0, 0]);
    assert_refused(header, 1009, "(1009)");
}

/// Connections that never finish the handshake are closed after `--handshake-timeout`,
/// and while 100 of them are open a real client is served as usual.
#[test]
fn unfinished_handshakes_time_out_and_do_not_hold_up_a_client() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--port", "0", "--handshake-timeout", "1"];
    let server = Server::start_with(&dir.path().join("store.bin"), &args);
    let rt = runtime();
    let client = rt
        .block_on(WsClient::new("127.0.0.1", server.port))
        .unwrap();
    let calls = |n: usize| {
        let started = Instant::now();
        for i in 0..n {
            rt.block_on(client.write(b"k", format!("{i}").as_bytes()))
                .unwrap();
        }
        started.elapsed()
    };
    let alone = calls(10);
    let mut silent: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    let crowded = calls(10);
    // A second client can connect and work while they are all open, too.
    let second = rt
        .block_on(WsClient::new("127.0.0.1", server.port))
        .unwrap();
    assert_eq!(rt.block_on(second.read(b"k")).unwrap(), Some(b"9".to_vec()));
    println!("10 calls alone: {alone:?}; with 100 silent connections open: {crowded:?}");
    for tcp in &mut silent {
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut buf = [0u8; 1];
        // EOF (0 bytes) is the server hanging up; a timeout error fails the test.
        assert_eq!(tcp.read(&mut buf).expect("hung up within the timeout"), 0);
    }
}

/// A connection that finished the handshake and then falls silent (it does not even
/// answer pings) is closed after `--idle-timeout` with 1001; a real client that is merely
/// idle answers the pings and stays connected.
#[test]
fn silent_connections_are_closed_and_idle_clients_are_not() {
    let dir = tempfile::tempdir().unwrap();
    // 3 s: a Ping every second, and two seconds for the client's Pong to come back. With
    // 1 s (a Pong due within 0.67 s) a loaded machine that kept the client's runtime off a
    // core that long had the well-behaved client closed too.
    let args = ["--port", "0", "--idle-timeout", "3"];
    let server = Server::start_with(&dir.path().join("store.bin"), &args);
    let rt = runtime();
    let client = rt
        .block_on(WsClient::new("127.0.0.1", server.port))
        .unwrap();
    rt.block_on(client.write(b"k", b"v")).unwrap();
    let mut silent = raw_websocket(server.port, Some(PATIENCE));
    let started = Instant::now();
    assert_eq!(close_code(&mut silent), 1001);
    println!("silent connection closed after {:?}", started.elapsed());
    // The real client has sent nothing since before the silent connection opened, so it
    // has been idle for the whole window already; more than that now, its runtime polling.
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(1500)).await });
    assert_eq!(rt.block_on(client.read(b"k")).unwrap(), Some(b"v".to_vec()));
}

// The attacks of issue 19, each at a size a test can afford.

/// The 15-byte RPC header of a call, then its arguments as metadata.
fn rpc_call(request_id: u32, method_id: u64, args: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0];
    bytes.extend_from_slice(&request_id.to_le_bytes());
    bytes.extend_from_slice(&method_id.to_le_bytes());
    bytes.extend_from_slice(&(args.len() as u16).to_le_bytes());
    bytes.extend_from_slice(args);
    bytes
}

/// Finding 1: one message of 500,000 empty frames (6.5 MB). muxio's decoder moved what was
/// left of the message for every frame, about 1.6 TB of moves here: the reply never came.
/// Now each frame costs one step and the call is answered.
#[test]
fn a_message_of_many_empty_frames_is_answered() {
    use muxio_rpc_service::prebuffered::RpcMethodPrebuffered;
    use simd_r_drive_muxio_service_definition::prebuffered::{Len, LenRequestParams};
    const FRAMES: u32 = 500_000;
    let args = Len::encode_request(LenRequestParams {}).unwrap();
    let mut message = muxio_frame(1, 0, 0, &rpc_call(1, Len::METHOD_ID, &args));
    message.reserve(13 * FRAMES as usize + 32);
    for seq in 1..=FRAMES {
        message.extend(muxio_frame(1, seq, 1, b""));
    }
    message.extend(muxio_frame(1, FRAMES + 1, 2, b""));
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store.bin"));
    with_a_real_client(server.port, || {
        let mut tcp = raw_websocket(server.port, Some(PATIENCE));
        let started = Instant::now();
        tcp.write_all(&client_frame(0x2, &message)).unwrap();
        let reply = next_frame_of(&mut tcp, 0x2, "a reply");
        println!("{FRAMES} empty frames answered in {:?}", started.elapsed());
        assert!(reply.len() >= 13, "a reply frame: {reply:?}");
    });
}

/// Finding 2: request headers (28 bytes) that never end. Each one made every later message
/// scan all of them; now the 1025th unfinished request closes the connection with 1008.
#[test]
fn unfinished_requests_are_limited_by_count() {
    let message: Vec<u8> = (0..20_000)
        .flat_map(|stream| muxio_frame(stream, 0, 0, &rpc_call(stream, 1, b"")))
        .collect();
    assert_refused(client_frame(0x2, &message), 1008, "unfinished requests");
}

/// Finding 3: empty frames held memory at no cost against the limits, as new streams (each
/// an entry) and as frames ahead of their turn (kept until their turn, which never came).
#[test]
fn empty_frames_are_not_free() {
    let new_streams: Vec<u8> = (0..20_000)
        .flat_map(|stream| muxio_frame(stream, 0, 0, b""))
        .collect();
    assert_refused(client_frame(0x2, &new_streams), 1008, "unfinished requests");
    let ahead_of_turn: Vec<u8> = (1..20_000)
        .flat_map(|seq| muxio_frame(7, seq, 1, b""))
        .collect();
    assert_refused(client_frame(0x2, &ahead_of_turn), 1007, "in order");
}

/// Finding 4: a client that sends Pings and never reads. Each Ping counted as activity and
/// queued a Pong: the connection lived on and grew. Now Pings do not reset the idle
/// timeout and unread Pongs are bounded, so the server closes it and its writes fail.
#[test]
fn a_client_that_sends_pings_and_never_reads_is_closed() {
    const MAX_FLOOD: usize = 256 << 20;
    let dir = tempfile::tempdir().unwrap();
    // 3 s: a Ping every second, and two seconds for the client's Pong to come back. With
    // 1 s (a Pong due within 0.67 s) a loaded machine that kept the client's runtime off a
    // core that long had the well-behaved client closed too.
    let args = ["--port", "0", "--idle-timeout", "3"];
    let server = Server::start_with(&dir.path().join("store.bin"), &args);
    let mut flood_port = 0;
    with_a_real_client(server.port, || {
        let mut flood = raw_websocket(server.port, Some(PATIENCE));
        flood_port = flood.local_addr().unwrap().port();
        flood.set_write_timeout(Some(PATIENCE)).unwrap();
        let pings: Vec<u8> = (0..1024).flat_map(|_| client_frame(0x9, b"ping")).collect();
        let deadline = Instant::now() + PATIENCE;
        let mut sent = 0;
        let refused = loop {
            if let Err(e) = flood.write_all(&pings) {
                break e;
            }
            sent += pings.len();
            assert!(
                Instant::now() < deadline && sent < MAX_FLOOD,
                "the server still takes Pings after {sent} bytes of them"
            );
        };
        println!("closed after {sent} bytes of Pings: {refused}");
    });
    let log = server.stop_and_read_log();
    let peer = format!("peer=127.0.0.1:{flood_port}");
    let about_it: Vec<&str> = log.lines().filter(|l| l.contains(&peer)).collect();
    assert_eq!(about_it.len(), 1, "one line about {peer} expected:\n{log}");
    let why = [
        "(1001): no request and no Pong",
        "(1008): the client does not read",
    ];
    assert!(why.iter().any(|w| about_it[0].contains(w)), "{log}");
}

/// Finding 5: the encoding packs bytes (a value of zeros takes one bit a byte, an empty key
/// one bit), so a request within the limit on the wire decoded to many times the limit.
/// Now the decoded request is held to the same limit: three million empty keys take 375 KB
/// on the wire and 72 MB decoded, and are refused.
#[test]
fn a_batch_of_keys_that_decodes_over_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store.bin"));
    let rt = runtime();
    let client = rt
        .block_on(WsClient::new("127.0.0.1", server.port))
        .unwrap();
    let keys: Vec<&[u8]> = vec![b""; 3_000_000];
    let started = Instant::now();
    let refused = rt
        .block_on(client.batch_read(&keys))
        .map(|_| ())
        .unwrap_err();
    println!("refused in {:?}: {refused}", started.elapsed());
    assert!(refused.to_string().contains("decodes to"), "{refused}");
}

/// Finding 6: a request cut short by a Cancel frame (the client's call timed out while it
/// was being sent) closed the connection with 1007 "Attempted to read from a cancelled
/// stream". Now the request is dropped and the same connection answers the next call.
#[test]
fn a_cancelled_request_leaves_the_connection_usable() {
    use muxio_rpc_service::prebuffered::RpcMethodPrebuffered;
    use simd_r_drive_muxio_service_definition::prebuffered::{Len, LenRequestParams};
    let args = Len::encode_request(LenRequestParams {}).unwrap();
    let mut cut_short = muxio_frame(1, 0, 0, &rpc_call(1, 2, b""));
    cut_short.extend(muxio_frame(1, 1, 1, &[7; 1000]));
    let cancel = muxio_frame(1, 2, 3, b"");
    let mut next = muxio_frame(3, 0, 0, &rpc_call(3, Len::METHOD_ID, &args));
    next.extend(muxio_frame(3, 1, 2, b""));
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store.bin"));
    let mut tcp = raw_websocket(server.port, Some(PATIENCE));
    for message in [cut_short, cancel, next] {
        tcp.write_all(&client_frame(0x2, &message)).unwrap();
    }
    let reply = next_frame_of(&mut tcp, 0x2, "the reply to the call after the Cancel");
    assert_eq!(reply[12], 0, "the reply opens a stream: {reply:?}");
    let log = server.stop_and_read_log();
    let shutdown = "(1001): the server is shutting down";
    let warnings = log.lines().filter(|line| line.contains("WARN"));
    assert!(
        warnings.into_iter().all(|line| line.contains(shutdown)),
        "{log}"
    );
}

/// Issue 31 item 4: a client that sends Pings and never reads is no longer read from once
/// its Pongs cannot leave: its sends stall for good (the kernel's buffers full both ways)
/// long before the idle timeout. Before, the server went on reading its Pings, a core busy
/// for the whole idle timeout (9 to 10 s of CPU in 30 s).
#[test]
fn the_server_stops_reading_a_client_that_does_not_read() {
    // The kernel's buffers on loopback take about 10 MB of Pings and Pongs.
    const MAX_FLOOD: usize = 128 << 20;
    let dir = tempfile::tempdir().unwrap();
    let args = ["--port", "0", "--idle-timeout", "120"];
    let server = Server::start_with(&dir.path().join("store.bin"), &args);
    let mut flood = raw_websocket(server.port, Some(PATIENCE));
    flood.set_nonblocking(true).unwrap();
    let pings: Vec<u8> = (0..1024)
        .flat_map(|_| client_frame(0x9, &[0x50; 100]))
        .collect();
    let (mut sent, mut at) = (0, 0);
    let mut progress = Instant::now();
    let stalled = loop {
        match flood.write(&pings[at..]) {
            Ok(n) => {
                (sent, at) = (sent + n, (at + n) % pings.len());
                progress = Instant::now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("the connection failed after {sent} bytes: {e}"),
        }
        // Two seconds without taking a byte: the server has stopped reading.
        if progress.elapsed() > Duration::from_secs(2) {
            break true;
        }
        if sent > MAX_FLOOD {
            break false;
        }
    };
    assert!(stalled, "the server read {sent} bytes of Pings and goes on");
    println!("the server stopped reading after {sent} bytes of Pings");
}

/// Issue 31 item 4: at most `--max-connections` are open; one more is answered 503 and
/// closed at once, and once one closes a new one is served.
#[test]
fn connections_over_the_limit_are_refused_with_503() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--port", "0", "--max-connections", "2"];
    let server = Server::start_with(&dir.path().join("store.bin"), &args);
    let first = raw_websocket(server.port, Some(PATIENCE));
    let _second = raw_websocket(server.port, Some(PATIENCE));
    let mut third = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    third.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut answer = String::new();
    third.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("--max-connections"), "{answer}");
    drop(first);
    // The server sees the first one go and frees its place.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut probe = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        probe.set_read_timeout(Some(PATIENCE)).unwrap();
        let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13";
        write!(
            probe,
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}\r\n\r\n"
        )
        .unwrap();
        let mut head = [0u8; 12];
        probe.read_exact(&mut head).unwrap();
        if head.starts_with(b"HTTP/1.1 101") {
            break;
        }
        assert!(Instant::now() < deadline, "no place freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}
