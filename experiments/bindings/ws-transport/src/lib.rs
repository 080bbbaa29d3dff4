//! A small WebSocket transport for the `simd-r-drive` RPC service.
//!
//! It does what muxio's `RpcClient` does, with one difference that matters for latency: it
//! can disable Nagle's algorithm (TCP_NODELAY) on the client socket. With Nagle on, every
//! small request waits for the server's delayed ACK, which costs 40 ms or more per call on
//! loopback; with both ends set, a call takes well under a millisecond.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use simd_r_drive_ws_transport::{ConnectOptions, WsTransport};
//!
//! let client = WsTransport::connect("127.0.0.1", 34129, ConnectOptions::default()).await?;
//! client.write(b"key".to_vec(), b"value".to_vec()).await?;
//! assert_eq!(client.read(b"key".to_vec()).await?, Some(b"value".to_vec()));
//! # Ok(())
//! # }
//! ```

mod methods;
mod transport;

pub use methods::ServerError;
pub use transport::{ConnectOptions, WsTransport};
