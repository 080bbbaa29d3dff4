//! Sending one request, one frame at a time.
//!
//! muxio's own caller hands the whole encoded request to its frame encoder at once, which
//! drains 64 KiB chunks from the front of one buffer (quadratic in the size) inside a
//! single poll, so neither a timeout nor Ctrl-C can run until it is done. Here the same
//! encoder is fed one frame's worth at a time: each step costs the same, the frames wait
//! for room in the bounded send queue, and the task yields between frames.

use crate::limits::FRAME_PAYLOAD_SIZE;
use crate::send_queue::SendQueue;
use muxio_core::frame::FrameEncodeError;
use muxio_core::rpc::rpc_internals::{RpcHeader, RpcMessageType, RpcStreamEncoder};
use std::io;
use std::sync::{Arc, Mutex};
use tokio_tungstenite::tungstenite::Message;

/// Frames the encoder has made and the queue has not taken yet.
type Outbox = Arc<Mutex<Vec<Vec<u8>>>>;
type Emit = Box<dyn FnMut(&[u8]) + Send>;

/// Sends a call of `method_id` with the encoded `args` as request `id`. Small arguments
/// travel in the header, as muxio's callers do; larger ones as the stream's payload.
pub(crate) async fn send_request(
    queue: &SendQueue,
    id: u32,
    method_id: u64,
    args: Vec<u8>,
) -> io::Result<()> {
    let (metadata, payload) = if args.len() < FRAME_PAYLOAD_SIZE {
        (args, Vec::new())
    } else {
        (Vec::new(), args)
    };
    let header = RpcHeader {
        rpc_msg_type: RpcMessageType::Call,
        rpc_request_id: id,
        rpc_method_id: method_id,
        rpc_metadata_bytes: metadata,
    };
    let mut stream = OpenStream::new(queue, id, &header)?;
    for chunk in payload.chunks(FRAME_PAYLOAD_SIZE) {
        stream.encoder.write_bytes(chunk).map_err(encode_error)?;
        stream.forward().await?;
        tokio::task::yield_now().await;
    }
    stream.encoder.flush().map_err(encode_error)?;
    stream.encoder.end_stream().map_err(encode_error)?;
    stream.forward().await?;
    stream.ended = true;
    Ok(())
}

/// A request on its way out. Dropped before its End frame was queued (the call timed out
/// or was interrupted), it queues a Cancel frame, so that the server drops the part it
/// has; the frames not queued yet are simply freed.
struct OpenStream<'q> {
    encoder: RpcStreamEncoder<Emit>,
    outbox: Outbox,
    queue: &'q SendQueue,
    /// Whether any frame reached the queue, so that the server may have seen the stream.
    started: bool,
    ended: bool,
}

impl<'q> OpenStream<'q> {
    fn new(queue: &'q SendQueue, id: u32, header: &RpcHeader) -> io::Result<Self> {
        let outbox = Outbox::default();
        let emit: Emit = {
            let outbox = outbox.clone();
            Box::new(move |frame: &[u8]| lock(&outbox).push(frame.to_vec()))
        };
        // The stream id only has to be unique on this connection; the request id is.
        let encoder =
            RpcStreamEncoder::new(id, FRAME_PAYLOAD_SIZE, header, emit).map_err(encode_error)?;
        Ok(OpenStream {
            encoder,
            outbox,
            queue,
            started: false,
            ended: false,
        })
    }

    /// Moves the frames made so far into the send queue, waiting for room.
    async fn forward(&mut self) -> io::Result<()> {
        let frames = std::mem::take(&mut *lock(&self.outbox));
        for frame in frames {
            self.queue.send(frame).await?;
            self.started = true;
        }
        Ok(())
    }
}

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        if !self.started || self.ended {
            return;
        }
        lock(&self.outbox).clear();
        if self.encoder.cancel_stream().is_ok() {
            for frame in std::mem::take(&mut *lock(&self.outbox)) {
                let _ = self.queue.send_now(Message::Binary(frame.into()));
            }
        }
    }
}

fn lock(outbox: &Outbox) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
    outbox.lock().unwrap_or_else(|e| e.into_inner())
}

fn encode_error(error: FrameEncodeError) -> io::Error {
    io::Error::other(format!("cannot encode the request: {error:?}"))
}
