//! Encodes replies in time proportional to their size.
//!
//! muxio's `respond` hands the whole payload to its frame encoder in one `write_bytes`,
//! which cuts 64 KiB frames from the front of one buffer, moving the rest each time: a
//! 64 MiB reply moves about 32 GiB. Here the header goes through `respond` (with no
//! payload, not finished), and the payload follows in pieces of one frame each, so the
//! encoder's buffer never holds more than a frame. The frames on the wire are the same.

use muxio_core::rpc::{RpcDispatcher, RpcResponse};
use muxio_rpc_service::constants::DEFAULT_SERVICE_MAX_CHUNK_SIZE;

/// Encodes `response` through `emit`, frame by frame.
pub(crate) fn encode(
    dispatcher: &mut RpcDispatcher<'_>,
    mut response: RpcResponse,
    emit: impl FnMut(&[u8]),
) -> Result<(), muxio_core::frame::FrameEncodeError> {
    let payload = response.rpc_prebuffered_payload_bytes.take();
    let finished = response.is_finalized;
    response.is_finalized = false;
    let mut encoder = dispatcher.respond(response, DEFAULT_SERVICE_MAX_CHUNK_SIZE, emit)?;
    for piece in payload
        .iter()
        .flat_map(|p| p.chunks(DEFAULT_SERVICE_MAX_CHUNK_SIZE))
    {
        encoder.write_bytes(piece)?;
    }
    if finished {
        encoder.flush()?;
        encoder.end_stream()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use muxio_core::utils::IdSpace;
    use std::time::{Duration, Instant};

    fn response(payload: Vec<u8>) -> RpcResponse {
        RpcResponse {
            rpc_request_id: 7,
            rpc_method_id: 9,
            rpc_result_status: Some(0),
            rpc_prebuffered_payload_bytes: Some(payload),
            is_finalized: true,
        }
    }

    /// Bytes that do not repeat, as a real value's would not.
    fn noise(len: usize) -> Vec<u8> {
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// The frames muxio's own `respond` emits, and the time it takes.
    fn upstream(payload: Vec<u8>) -> (Vec<Vec<u8>>, Duration) {
        let mut dispatcher = RpcDispatcher::new_with_id_space(IdSpace::Server);
        let mut frames = Vec::new();
        let started = Instant::now();
        dispatcher
            .respond(
                response(payload),
                DEFAULT_SERVICE_MAX_CHUNK_SIZE,
                |f: &[u8]| frames.push(f.to_vec()),
            )
            .unwrap();
        (frames, started.elapsed())
    }

    fn ours(payload: Vec<u8>) -> (Vec<Vec<u8>>, Duration) {
        let mut dispatcher = RpcDispatcher::new_with_id_space(IdSpace::Server);
        let mut frames = Vec::new();
        let started = Instant::now();
        encode(&mut dispatcher, response(payload), |f: &[u8]| {
            frames.push(f.to_vec())
        })
        .unwrap();
        (frames, started.elapsed())
    }

    /// Frames with the stream id (bytes 4..8) zeroed: each encoder draws a fresh one.
    fn without_stream_ids(mut frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        frames.iter_mut().for_each(|f| f[4..8].fill(0));
        frames
    }

    #[test]
    fn emits_the_same_frames_as_muxio() {
        for len in [0, 1, 65_535, 65_536, 65_537, 300_000] {
            assert_eq!(
                without_stream_ids(ours(noise(len)).0),
                without_stream_ids(upstream(noise(len)).0),
                "length {len}"
            );
        }
    }

    /// Side by side, in one run: `cargo test -p simd-r-drive-ws-server --release --lib
    /// reply -- --ignored --nocapture`. Prints the time of each and their ratio.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn measure_against_muxio() {
        for mib in [8, 16, 32, 64] {
            let payload = noise(mib << 20);
            let (_, theirs) = upstream(payload.clone());
            let (_, mine) = ours(payload);
            println!(
                "{mib} MiB reply: muxio respond {theirs:?}, ours {mine:?}, ratio {:.1}",
                theirs.as_secs_f64() / mine.as_secs_f64()
            );
        }
    }
}
