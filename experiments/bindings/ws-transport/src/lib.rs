//! A small WebSocket transport for the `simd-r-drive` RPC service.
//!
//! It speaks muxio's RPC framing, as muxio's `RpcClient` does, with differences that matter:
//!
//! - It can disable Nagle's algorithm (TCP_NODELAY) on the client socket. With Nagle on,
//!   every small request waits for the server's delayed ACK, which costs 40 ms or more per
//!   call on loopback; with both ends set, a call takes well under a millisecond.
//! - A request is encoded one frame at a time, in time linear in its size, yielding between
//!   frames, so a timeout or Ctrl-C stops even a 64 MiB write within milliseconds.
//! - A call that is dropped (timed out, interrupted) frees its state at once, and requests
//!   wait in a send queue bounded to [`SEND_QUEUE_LIMIT`] bytes.
//! - Values over [`MAX_VALUE_SIZE`] are refused before they are sent.
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

mod calls;
mod limits;
mod methods;
mod request;
mod send_queue;
mod transport;

pub use limits::{MAX_REPLY_SIZE, MAX_VALUE_SIZE, SEND_QUEUE_LIMIT};
pub use methods::ServerError;
pub use transport::{ConnectOptions, WsTransport};
