//! The calls waiting for a reply, by request id.
//!
//! Each call holds a [`Registration`]; dropping it (the call finished, timed out or was
//! interrupted) removes the call's entry, so an abandoned call leaves nothing behind even
//! when its reply never comes. A reply that arrives for a removed call is ignored.

use crate::limits::MAX_REPLY_SIZE;
use muxio_core::rpc::rpc_internals::RpcStreamEvent;
use muxio_core::utils::IdSpace;
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tokio::sync::oneshot;

/// A complete reply: the server's status byte (`None` when it sent none) and its body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: Option<u8>,
    pub body: Vec<u8>,
}

/// Where a reply arrives.
pub(crate) type ReplyReceiver = oneshot::Receiver<io::Result<Reply>>;

#[derive(Default)]
pub(crate) struct Calls {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    waiting: HashMap<u32, Waiting>,
    next_id: u32,
    /// Set once the connection is gone: no call may register after that.
    closed: bool,
}

/// A call's reply as it comes in, frame by frame.
struct Waiting {
    status: Option<u8>,
    body: Vec<u8>,
    reply: oneshot::Sender<io::Result<Reply>>,
}

/// A call's place in [`Calls`]; dropping it removes the call.
pub(crate) struct Registration {
    pub id: u32,
    calls: Weak<Calls>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(calls) = self.calls.upgrade() {
            calls.lock().waiting.remove(&self.id);
        }
    }
}

impl Calls {
    /// A new request id and the receiver of its reply. Fails with `ConnectionAborted` once
    /// the connection is gone.
    pub fn register(self: &Arc<Self>) -> io::Result<(Registration, ReplyReceiver)> {
        let mut state = self.lock();
        if state.closed {
            return Err(connection_lost());
        }
        let id = IdSpace::Client.place(state.next_id);
        state.next_id = state.next_id.wrapping_add(1);
        let (reply, receiver) = oneshot::channel();
        let waiting = Waiting {
            status: None,
            body: Vec::new(),
            reply,
        };
        state.waiting.insert(id, waiting);
        let calls = Arc::downgrade(self);
        Ok((Registration { id, calls }, receiver))
    }

    /// Feeds one decoded event of an incoming reply to the call it belongs to.
    pub fn route(&self, event: RpcStreamEvent) {
        let mut state = self.lock();
        match event {
            RpcStreamEvent::Header {
                rpc_request_id,
                rpc_header,
                ..
            } => {
                if let Some(call) = state.waiting.get_mut(&rpc_request_id) {
                    call.status = rpc_header.rpc_metadata_bytes.first().copied();
                }
            }
            RpcStreamEvent::PayloadChunk {
                rpc_request_id,
                bytes,
                ..
            } => {
                let Some(call) = state.waiting.get_mut(&rpc_request_id) else {
                    return;
                };
                if call.body.len() + bytes.len() <= MAX_REPLY_SIZE {
                    call.body.extend_from_slice(&bytes);
                    return;
                }
                // The call is dropped here: the rest of its reply is ignored as it comes.
                let call = state.waiting.remove(&rpc_request_id).expect("found above");
                let _ = call.reply.send(Err(reply_too_large()));
            }
            RpcStreamEvent::End { rpc_request_id, .. } => {
                if let Some(call) = state.waiting.remove(&rpc_request_id) {
                    let reply = Reply {
                        status: call.status,
                        body: call.body,
                    };
                    let _ = call.reply.send(Ok(reply));
                }
            }
            RpcStreamEvent::Error {
                rpc_request_id,
                frame_decode_error,
                ..
            } => {
                tracing::warn!(?rpc_request_id, ?frame_decode_error, "bad reply frame");
                if let Some(call) = rpc_request_id.and_then(|id| state.waiting.remove(&id)) {
                    let error = io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("the server sent a corrupt reply: {frame_decode_error:?}"),
                    );
                    let _ = call.reply.send(Err(error));
                }
            }
        }
    }

    /// Fails every waiting call with `ConnectionAborted`, and every later registration.
    pub fn fail_all(&self) {
        let waiting = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.waiting)
        };
        for (_, call) in waiting {
            let _ = call.reply.send(Err(connection_lost()));
        }
    }

    /// How many calls wait for a reply.
    pub fn len(&self) -> usize {
        self.lock().waiting.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn reply_too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the server's reply is over {MAX_REPLY_SIZE} bytes, the largest value (64 MiB) plus framing; the call failed rather than hold it (for a batch_read of large values, read them one at a time)"
        ),
    )
}

pub(crate) fn connection_lost() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the connection to the server was lost; make a new client",
    )
}
