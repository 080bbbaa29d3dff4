//! Checks each WebSocket message from a client before muxio sees it.
//!
//! muxio's decoder keeps the bytes of a frame it cannot finish and waits for more, so a
//! message of random bytes whose first four read as a large length would sit in memory
//! and leave the client waiting forever; a frame of an unknown kind is logged and dropped.
//! Clients of this protocol send whole frames in each message, so here a message must be
//! a sequence of whole frames of known kinds. Each request's frames are also counted, so
//! that what one connection can make the server hold is bounded.
//!
//! A muxio frame is a 13-byte header, payload length (u32 LE), stream id (u32 LE),
//! sequence id (u32 LE), kind (u8: 0 open, 1 data, 2 end, 3 cancel, 4 pong, 5 ping),
//! followed by the payload.

use crate::MAX_VALUE_SIZE;
use std::collections::HashMap;

const HEADER_SIZE: usize = 13;
const KIND_END: u8 = 2;
const KIND_CANCEL: u8 = 3;
const KIND_LAST: u8 = 5;

/// The most one request may carry: a value at the limit plus 1 MiB for keys and framing
/// (a batch's values together count against it).
pub(crate) const MAX_REQUEST_SIZE: usize = MAX_VALUE_SIZE + (1 << 20);

/// The most the unfinished requests of one connection may hold together.
pub(crate) const MAX_PENDING_PER_CONNECTION: usize = 4 * MAX_REQUEST_SIZE;

/// Why a message is refused; the connection is closed with this reason.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not a sequence of whole muxio frames (close code 1007).
    Malformed(String),
    /// A request or the connection's pending requests are over the limit (close code 1009).
    TooBig(String),
}

/// The bytes received so far of each request (muxio stream) not yet ended.
#[derive(Default)]
pub(crate) struct FrameCheck {
    pending: HashMap<u32, usize>,
    pending_total: usize,
}

impl FrameCheck {
    /// Accepts `message` if it is whole frames of known kinds and keeps the limits.
    pub(crate) fn check(&mut self, message: &[u8]) -> Result<(), Refusal> {
        let mut rest = message;
        while !rest.is_empty() {
            let frame = split_frame(rest)?;
            self.count(frame.stream_id, frame.kind, frame.payload_len)?;
            rest = &rest[HEADER_SIZE + frame.payload_len..];
        }
        Ok(())
    }

    fn count(&mut self, stream: u32, kind: u8, payload_len: usize) -> Result<(), Refusal> {
        if kind == KIND_END || kind == KIND_CANCEL {
            if let Some(done) = self.pending.remove(&stream) {
                self.pending_total -= done;
            }
            return Ok(());
        }
        let held = self.pending.entry(stream).or_default();
        *held += payload_len;
        self.pending_total += payload_len;
        if *held > MAX_REQUEST_SIZE {
            return Err(Refusal::TooBig(format!(
                "a request is over {MAX_REQUEST_SIZE} bytes; values are limited to {MAX_VALUE_SIZE} bytes (64 MiB)"
            )));
        }
        if self.pending_total > MAX_PENDING_PER_CONNECTION {
            return Err(Refusal::TooBig(format!(
                "unfinished requests hold over {MAX_PENDING_PER_CONNECTION} bytes on this connection"
            )));
        }
        Ok(())
    }
}

struct FrameHead {
    stream_id: u32,
    kind: u8,
    payload_len: usize,
}

fn split_frame(bytes: &[u8]) -> Result<FrameHead, Refusal> {
    let malformed = |what: String| Refusal::Malformed(format!("not an RPC frame: {what}"));
    if bytes.len() < HEADER_SIZE {
        return Err(malformed(format!(
            "{} bytes, shorter than a frame header",
            bytes.len()
        )));
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let payload_len = word(0) as usize;
    let kind = bytes[12];
    if kind > KIND_LAST {
        return Err(malformed(format!("unknown frame kind {kind}")));
    }
    if bytes.len() - HEADER_SIZE < payload_len {
        return Err(malformed(format!(
            "the header announces {payload_len} payload bytes, the message holds {}",
            bytes.len() - HEADER_SIZE
        )));
    }
    Ok(FrameHead {
        stream_id: word(4),
        kind,
        payload_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u32, kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = (payload.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(&stream.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.push(kind);
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn whole_frames_pass_and_anything_else_is_malformed() {
        let mut check = FrameCheck::default();
        let mut two = frame(1, 0, b"abc");
        two.extend(frame(1, KIND_END, b""));
        assert_eq!(check.check(&two), Ok(()));
        let cases: [&[u8]; 4] = [
            b"short",
            &frame(1, 9, b"x"),
            &frame(1, 0, b"abc")[..15],
            &[0xff; 64],
        ];
        for bytes in cases {
            let refused = FrameCheck::default().check(bytes);
            assert!(matches!(refused, Err(Refusal::Malformed(_))), "{bytes:?}");
        }
    }

    #[test]
    fn a_request_over_the_limit_is_too_big_and_ended_ones_are_forgotten() {
        let mut check = FrameCheck::default();
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..MAX_REQUEST_SIZE >> 20 {
            assert_eq!(check.check(&frame(3, 1, &chunk)), Ok(()));
        }
        assert_eq!(check.check(&frame(3, KIND_END, b"")), Ok(()));
        assert_eq!(check.pending_total, 0);
        for _ in 0..MAX_REQUEST_SIZE >> 20 {
            check.check(&frame(5, 1, &chunk)).unwrap();
        }
        assert!(matches!(
            check.check(&frame(5, 1, b"x")),
            Err(Refusal::TooBig(_))
        ));
    }
}
