//! Splits each WebSocket message from a client into muxio frames, in one pass.
//!
//! muxio's decoder keeps the bytes of a frame it cannot finish and waits for more, so a
//! message of random bytes whose first four read as a large length would sit in memory
//! and leave the client waiting forever; a frame of an unknown kind is logged and dropped.
//! Clients of this protocol send whole frames in each message, so here a message must be
//! a sequence of whole frames of known kinds. Each frame borrows from the message: the
//! cost of a message is one step per frame, whatever their number.
//!
//! A muxio frame is a 13-byte header, payload length (u32 LE), stream id (u32 LE),
//! sequence id (u32 LE), kind (u8: 0 open, 1 data, 2 end, 3 cancel, 4 pong, 5 ping),
//! followed by the payload.

/// The size of a frame's header: what an empty frame costs on the wire.
pub(crate) const HEADER_SIZE: usize = 13;

/// What a frame says about its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The first frame of a stream (0).
    Open,
    /// More of the stream (1).
    Data,
    /// The stream's last frame (2).
    End,
    /// The sender gave the stream up (3).
    Cancel,
    /// muxio's own keep-alive frames (4 and 5), which carry no request.
    KeepAlive,
}

/// One frame of a message.
#[derive(Debug)]
pub(crate) struct Frame<'m> {
    pub(crate) stream_id: u32,
    pub(crate) seq_id: u32,
    pub(crate) kind: Kind,
    pub(crate) payload: &'m [u8],
}

/// The frames of `message`, in order; an item is an error (and the last one) where the
/// message stops being whole frames of known kinds.
pub(crate) fn frames(message: &[u8]) -> impl Iterator<Item = Result<Frame<'_>, String>> {
    let mut rest = message;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let split = split_frame(rest);
        rest = match &split {
            Ok((_, after)) => after,
            Err(_) => &[],
        };
        Some(split.map(|(frame, _)| frame))
    })
}

/// The first frame of `bytes` and what follows it.
fn split_frame(bytes: &[u8]) -> Result<(Frame<'_>, &[u8]), String> {
    let malformed = |what: String| format!("not an RPC frame: {what}");
    if bytes.len() < HEADER_SIZE {
        return Err(malformed(format!(
            "{} bytes, shorter than a frame header",
            bytes.len()
        )));
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let payload_len = word(0) as usize;
    let kind = match bytes[12] {
        0 => Kind::Open,
        1 => Kind::Data,
        2 => Kind::End,
        3 => Kind::Cancel,
        4 | 5 => Kind::KeepAlive,
        unknown => return Err(malformed(format!("unknown frame kind {unknown}"))),
    };
    let body = &bytes[HEADER_SIZE..];
    if body.len() < payload_len {
        return Err(malformed(format!(
            "the header announces {payload_len} payload bytes, the message holds {}",
            body.len()
        )));
    }
    let (payload, after) = body.split_at(payload_len);
    let frame = Frame {
        stream_id: word(4),
        seq_id: word(8),
        kind,
        payload,
    };
    Ok((frame, after))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A muxio frame as a client encodes it.
    pub(crate) fn frame(stream: u32, seq: u32, kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = (payload.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(&stream.to_le_bytes());
        bytes.extend_from_slice(&seq.to_le_bytes());
        bytes.push(kind);
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn whole_frames_pass_and_anything_else_is_malformed() {
        let mut two = frame(1, 0, 0, b"abc");
        two.extend(frame(1, 1, 2, b""));
        let split: Vec<_> = frames(&two).collect::<Result<_, _>>().unwrap();
        assert_eq!(split.len(), 2);
        assert_eq!((split[0].kind, split[0].payload), (Kind::Open, &b"abc"[..]));
        assert_eq!((split[1].kind, split[1].seq_id), (Kind::End, 1));
        let cases: [&[u8]; 4] = [
            b"short",
            &frame(1, 0, 9, b"x"),
            &frame(1, 0, 0, b"abc")[..15],
            &[0xff; 64],
        ];
        for bytes in cases {
            let last = frames(bytes).last().unwrap();
            assert!(last.is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn many_empty_frames_split_in_one_pass() {
        let message: Vec<u8> = (0..100_000).flat_map(|i| frame(1, i, 1, b"")).collect();
        assert_eq!(frames(&message).filter(|f| f.is_ok()).count(), 100_000);
    }
}
