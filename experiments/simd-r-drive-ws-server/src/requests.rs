//! Assembles RPC requests from a connection's frames, in time linear in their size, with
//! what the unfinished ones hold bounded in count and in bytes.
//!
//! This replaces muxio's server-side decoding (`RpcDispatcher::read_bytes`, reached through
//! `decode_bytes`), which misbehaves under hostile input: its frame decoder moves its
//! remaining buffer for every frame (quadratic in the frames of a message), it looks
//! requests up in a list scanned once per frame and once per message (quadratic in the
//! unfinished requests), it keeps a stream's out-of-order frames and every empty stream
//! forever at no cost against any limit, and it answers a Cancel frame with an error that
//! closed the connection. Here a stream's frames must come in order (clients send them
//! so over the one WebSocket), each frame costs its 13-byte header against the limits
//! even when empty, a Cancel frame drops its request quietly, and the RPC header
//! (type, request id, method id, metadata) is read by hand: 15 bytes, then the metadata.
//! Replies still go through muxio's dispatcher (see `reply.rs`).

use crate::MAX_VALUE_SIZE;
use crate::frame_check::{Frame, HEADER_SIZE, Kind};
use muxio_core::rpc::RpcRequest;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most one request may carry, frame headers included: a value at the limit plus
/// 1 MiB for keys and framing (a batch's values together count against it). The decoded
/// request is held to the same limit (see `handlers.rs`).
pub(crate) const MAX_REQUEST_SIZE: usize = MAX_VALUE_SIZE + (1 << 20);

/// The most the unfinished requests of one connection may hold together, in bytes.
pub(crate) const MAX_PENDING_BYTES: usize = 4 * MAX_REQUEST_SIZE;

/// The most requests one connection may have begun and not finished. Each call of a
/// client is one request; a client rarely has more than a few in flight.
pub(crate) const MAX_PENDING_REQUESTS: usize = 1024;

/// What an unfinished request holds besides its bytes (its entry, its buffer's header),
/// counted against [`MAX_PENDING_BYTES`] so that empty requests are not free.
const REQUEST_OVERHEAD: usize = 128;

/// The fixed part of an RPC header: message type (u8), request id (u32 LE), method id
/// (u64 LE), metadata length (u16 LE).
const RPC_HEADER_SIZE: usize = 15;
/// The message type of a call; responses and events are not requests.
const CALL: u8 = 0;

/// Why the connection must close.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not the protocol (close code 1007).
    Malformed(String),
    /// A request or the unfinished requests together are over a size limit (1009).
    TooBig(String),
    /// Too many unfinished requests (1008).
    TooMany(String),
    /// The server-wide budget is spent: try again later (1013).
    Busy(String),
}

/// The unfinished requests of one connection, by stream id.
#[derive(Default)]
pub(crate) struct Requests {
    open: HashMap<u32, Partial>,
    /// What the open requests cost together, as counted against the limits.
    held: usize,
    /// The server-wide budget that `held` is also counted against.
    budget: Arc<Budget>,
}

/// What the unfinished requests of every connection may hold together (`--request-budget`):
/// without it, a few dozen connections each within their own limit hold gigabytes.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    held: AtomicUsize,
}

impl Default for Budget {
    /// No server-wide bound, for tests of one connection's limits.
    fn default() -> Budget {
        Budget::new(usize::MAX)
    }
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Budget {
        Budget {
            limit,
            held: AtomicUsize::new(0),
        }
    }

    /// Takes `cost` bytes if they fit; nothing if they do not.
    fn take(&self, cost: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(cost).filter(|&after| after <= self.limit)
            })
            .is_ok()
    }

    fn give(&self, cost: usize) {
        self.held.fetch_sub(cost, Ordering::AcqRel);
    }

    /// What every connection's unfinished requests hold now.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

impl Drop for Requests {
    /// A connection that ends (or is closed) gives back what its requests held.
    fn drop(&mut self) {
        self.budget.give(self.held);
    }
}

/// A request whose End frame has not come yet.
struct Partial {
    next_seq: u32,
    /// The RPC header, the metadata and the payload, as received so far.
    bytes: Vec<u8>,
    /// Its bytes, its frames' headers and [`REQUEST_OVERHEAD`].
    cost: usize,
}

/// A whole request: its id and what muxio's handlers take.
pub(crate) type Request = (u32, RpcRequest);

impl Requests {
    /// The requests of a new connection, counted against `budget` as well.
    pub(crate) fn new(budget: Arc<Budget>) -> Requests {
        Requests {
            open: HashMap::new(),
            held: 0,
            budget,
        }
    }

    /// Takes one frame; returns the request it completes, if it does.
    pub(crate) fn take(&mut self, frame: Frame<'_>) -> Result<Option<Request>, Refusal> {
        match frame.kind {
            Kind::KeepAlive => Ok(None),
            Kind::Cancel => {
                self.forget(frame.stream_id);
                Ok(None)
            }
            Kind::Open | Kind::Data => self.append(&frame).map(|()| None),
            Kind::End => {
                self.append(&frame)?;
                self.finish(frame.stream_id).map(Some)
            }
        }
    }

    /// How many requests are unfinished.
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.open.len()
    }

    fn forget(&mut self, stream_id: u32) {
        if let Some(partial) = self.open.remove(&stream_id) {
            self.held -= partial.cost;
            self.budget.give(partial.cost);
        }
    }

    fn append(&mut self, frame: &Frame<'_>) -> Result<(), Refusal> {
        let stream = frame.stream_id;
        if !self.open.contains_key(&stream) {
            self.begin(frame)?;
        }
        let partial = self.open.get_mut(&stream).expect("begun above");
        if frame.seq_id != partial.next_seq {
            return Err(Refusal::Malformed(format!(
                "frame {} of stream {stream} came where frame {} was due; send a stream's frames in order",
                frame.seq_id, partial.next_seq
            )));
        }
        let cost = HEADER_SIZE + frame.payload.len();
        if !self.budget.take(cost) {
            return Err(busy(&self.budget));
        }
        partial.next_seq = partial.next_seq.wrapping_add(1);
        partial.cost += cost;
        self.held += cost;
        if partial.cost > MAX_REQUEST_SIZE {
            return Err(Refusal::TooBig(format!(
                "a request is over {MAX_REQUEST_SIZE} bytes (frame headers count); values are limited to {MAX_VALUE_SIZE} bytes (64 MiB)"
            )));
        }
        if self.held > MAX_PENDING_BYTES {
            return Err(Refusal::TooBig(format!(
                "unfinished requests hold over {MAX_PENDING_BYTES} bytes on this connection"
            )));
        }
        let first_byte = frame.payload.first().filter(|_| partial.bytes.is_empty());
        if let Some(&kind) = first_byte.filter(|&&kind| kind != CALL) {
            return Err(Refusal::Malformed(format!(
                "not an RPC request: message type {kind}, a call is {CALL}"
            )));
        }
        partial.bytes.extend_from_slice(frame.payload);
        Ok(())
    }

    /// Opens a request for the first frame of a stream, within the count limit.
    fn begin(&mut self, frame: &Frame<'_>) -> Result<(), Refusal> {
        if frame.seq_id != 0 {
            return Err(Refusal::Malformed(format!(
                "frame {} of stream {} came before its frame 0; send a stream's frames in order",
                frame.seq_id, frame.stream_id
            )));
        }
        if self.open.len() >= MAX_PENDING_REQUESTS {
            return Err(Refusal::TooMany(format!(
                "over {MAX_PENDING_REQUESTS} unfinished requests on this connection; end or cancel each request"
            )));
        }
        if !self.budget.take(REQUEST_OVERHEAD) {
            return Err(busy(&self.budget));
        }
        let partial = Partial {
            next_seq: 0,
            bytes: Vec::new(),
            cost: REQUEST_OVERHEAD,
        };
        self.held += REQUEST_OVERHEAD;
        self.open.insert(frame.stream_id, partial);
        Ok(())
    }

    /// Closes the stream's request and reads its RPC header.
    fn finish(&mut self, stream_id: u32) -> Result<Request, Refusal> {
        let partial = self.open.remove(&stream_id).expect("appended to above");
        self.held -= partial.cost;
        self.budget.give(partial.cost);
        parse(partial.bytes)
    }
}

fn busy(budget: &Budget) -> Refusal {
    Refusal::Busy(format!(
        "the unfinished requests of all connections hold the server's budget of {} bytes (--request-budget); try again later",
        budget.limit
    ))
}

/// Splits a request's bytes into its header's fields, its metadata (the arguments of a
/// small call) and its payload (those of a large one).
fn parse(mut bytes: Vec<u8>) -> Result<Request, Refusal> {
    let malformed = |what: String| Refusal::Malformed(format!("not an RPC request: {what}"));
    if bytes.len() < RPC_HEADER_SIZE {
        return Err(malformed(format!(
            "{} bytes, shorter than an RPC header ({RPC_HEADER_SIZE})",
            bytes.len()
        )));
    }
    let request_id = u32::from_le_bytes(bytes[1..5].try_into().expect("4 bytes"));
    let method_id = u64::from_le_bytes(bytes[5..13].try_into().expect("8 bytes"));
    let metadata_len = u16::from_le_bytes(bytes[13..15].try_into().expect("2 bytes")) as usize;
    let header_end = RPC_HEADER_SIZE + metadata_len;
    if bytes.len() < header_end {
        return Err(malformed(format!(
            "the header announces {metadata_len} bytes of metadata, the request holds {}",
            bytes.len() - RPC_HEADER_SIZE
        )));
    }
    let metadata = bytes[RPC_HEADER_SIZE..header_end].to_vec();
    bytes.drain(..header_end);
    let request = RpcRequest {
        rpc_method_id: method_id,
        rpc_param_bytes: (!metadata.is_empty()).then_some(metadata),
        rpc_prebuffered_payload_bytes: (!bytes.is_empty()).then_some(bytes),
        is_finalized: true,
    };
    Ok((request_id, request))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame_check::frames;
    use crate::frame_check::tests::frame;

    fn header(request_id: u32, method_id: u64, metadata: &[u8]) -> Vec<u8> {
        let mut bytes = vec![CALL];
        bytes.extend_from_slice(&request_id.to_le_bytes());
        bytes.extend_from_slice(&method_id.to_le_bytes());
        bytes.extend_from_slice(&(metadata.len() as u16).to_le_bytes());
        bytes.extend_from_slice(metadata);
        bytes
    }

    fn feed(requests: &mut Requests, message: &[u8]) -> Result<Vec<Request>, Refusal> {
        let mut done = Vec::new();
        for frame in frames(message) {
            let frame = frame.map_err(Refusal::Malformed)?;
            done.extend(requests.take(frame)?);
        }
        Ok(done)
    }

    #[test]
    fn a_call_in_pieces_becomes_one_request() {
        let mut requests = Requests::default();
        let mut message = frame(9, 0, 0, &header(7, 42, b"args"));
        message.extend(frame(9, 1, 1, b"pay"));
        message.extend(frame(9, 2, 1, b""));
        message.extend(frame(9, 3, 1, b"load"));
        assert_eq!(feed(&mut requests, &message), Ok(vec![]));
        let done = feed(&mut requests, &frame(9, 4, 2, b"")).unwrap();
        let (id, request) = &done[0];
        assert_eq!((*id, request.rpc_method_id), (7, 42));
        assert_eq!(request.rpc_param_bytes.as_deref(), Some(&b"args"[..]));
        assert_eq!(
            request.rpc_prebuffered_payload_bytes.as_deref(),
            Some(&b"payload"[..])
        );
        assert_eq!((requests.pending(), requests.held), (0, 0));
    }

    #[test]
    fn a_cancelled_request_is_forgotten_without_an_error() {
        let mut requests = Requests::default();
        let mut message = frame(3, 0, 0, &header(1, 5, b""));
        message.extend(frame(3, 1, 1, &[1; 100]));
        message.extend(frame(3, 2, 3, b""));
        message.extend(frame(77, 0, 3, b""));
        assert_eq!(feed(&mut requests, &message), Ok(vec![]));
        assert_eq!((requests.pending(), requests.held), (0, 0));
    }

    #[test]
    fn frames_out_of_order_and_other_message_types_are_malformed() {
        let cases = [
            frame(1, 1, 1, b"late"),
            [frame(1, 0, 0, &header(1, 1, b"")), frame(1, 2, 2, b"")].concat(),
            frame(1, 0, 0, &[0xEE; 20]),
            [frame(1, 0, 0, &[CALL, 1, 2]), frame(1, 1, 2, b"")].concat(),
        ];
        for message in cases {
            let refused = feed(&mut Requests::default(), &message);
            assert!(matches!(refused, Err(Refusal::Malformed(_))), "{refused:?}");
        }
    }

    #[test]
    fn empty_streams_are_limited_by_count() {
        let mut requests = Requests::default();
        let message: Vec<u8> = (0..MAX_PENDING_REQUESTS as u32)
            .flat_map(|stream| frame(stream, 0, 0, b""))
            .collect();
        assert_eq!(feed(&mut requests, &message), Ok(vec![]));
        let refused = feed(&mut requests, &frame(u32::MAX, 0, 0, b""));
        assert!(matches!(refused, Err(Refusal::TooMany(_))), "{refused:?}");
    }

    /// Issue 31 item 4: the unfinished requests of all connections share one budget; a
    /// connection over it is refused, and one that ends gives back what it held.
    #[test]
    fn connections_share_one_budget_and_give_it_back() {
        let budget = Arc::new(Budget::new(10_000));
        let mut first = Requests::new(budget.clone());
        let mut second = Requests::new(budget.clone());
        let open = |stream: u32| frame(stream, 0, 0, &header(1, 5, &[7; 100]));
        let big = |stream: u32, seq: u32| frame(stream, seq, 1, &[1; 4_000]);
        assert_eq!(feed(&mut first, &[open(1), big(1, 1)].concat()), Ok(vec![]));
        assert_eq!(
            feed(&mut second, &[open(2), big(2, 1)].concat()),
            Ok(vec![])
        );
        let refused = feed(&mut second, &big(2, 2));
        assert!(matches!(refused, Err(Refusal::Busy(_))), "{refused:?}");
        let held = budget.held();
        drop(first);
        assert!(budget.held() < held / 2 + 300, "{}", budget.held());
        drop(second);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn empty_frames_count_against_the_request_limit() {
        let mut requests = Requests::default();
        requests.open.insert(
            5,
            Partial {
                next_seq: 0,
                bytes: Vec::new(),
                cost: MAX_REQUEST_SIZE - 2 * HEADER_SIZE,
            },
        );
        let two = [frame(5, 0, 1, b""), frame(5, 1, 1, b"")].concat();
        assert_eq!(feed(&mut requests, &two), Ok(vec![]));
        let refused = feed(&mut requests, &frame(5, 2, 1, b""));
        assert!(matches!(refused, Err(Refusal::TooBig(_))), "{refused:?}");
    }
}
