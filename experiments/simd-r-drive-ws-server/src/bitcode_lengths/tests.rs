//! The reading of length columns checked against bitcode itself: every request that bitcode
//! encodes, or decodes from any bytes, measures the same from its encoding as decoded.

use crate::decoded_size::DecodedSize;
use muxio_rpc_service::prebuffered::RpcMethodPrebuffered;
use simd_r_drive_muxio_service_definition::prebuffered::*;

/// A small deterministic generator (xorshift64), so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Lengths of every packing of a length column: all below 2, 3, 4, 6, 16, near one
/// another far from zero (packed by offset), 255 and over (the second column, of 1, 2, 4
/// or 8 bytes an integer, or packed by offset).
const LENGTH_SPREADS: [(u64, u64); 10] = [
    (0, 2),
    (0, 3),
    (0, 4),
    (0, 6),
    (0, 16),
    (100, 2),
    (0, 254),
    (255, 3),
    (254, 300),
    (65_530, 12),
];

/// Bytes of every packing of a byte column, the same way.
const BYTE_SPREADS: [(u8, u8); 7] = [(0, 1), (0, 2), (0, 3), (0, 6), (0, 16), (200, 3), (0, 255)];

fn bytes(rng: &mut Rng, len: u64, (low, spread): (u8, u8)) -> Vec<u8> {
    let spread = u64::from(spread).max(1);
    (0..len).map(|_| low + rng.below(spread) as u8).collect()
}

fn byte_vectors(rng: &mut Rng, count: u64) -> Vec<Vec<u8>> {
    let (low, spread) = LENGTH_SPREADS[rng.below(LENGTH_SPREADS.len() as u64) as usize];
    let content = BYTE_SPREADS[rng.below(BYTE_SPREADS.len() as u64) as usize];
    let mut lengths: Vec<u64> = (0..count).map(|_| low + rng.below(spread)).collect();
    // Some columns mix small lengths with a few over 255.
    if count > 4 && rng.below(3) == 0 {
        lengths[rng.below(count) as usize] = 255 + rng.below(5_000);
    }
    lengths
        .iter()
        .map(|&len| bytes(rng, len, content))
        .collect()
}

fn measured<M>(params: M::Input) -> (Result<u64, String>, u64)
where
    M: RpcMethodPrebuffered,
    M::Input: DecodedSize,
{
    let size = params.decoded_size();
    let encoded = M::encode_request(params).unwrap();
    (M::Input::size_of_encoded(&encoded), size)
}

#[test]
fn every_packing_measures_as_decoded() {
    let mut rng = Rng(0x5eed);
    for round in 0..100 {
        let count = [0, 1, 2, 3, 5, 8, 9, 17, 40][round % 9];
        let keys = byte_vectors(&mut rng, count);
        let values = byte_vectors(&mut rng, count);
        let entries: Vec<_> = keys.clone().into_iter().zip(values).collect();
        let (read, size) = measured::<BatchWrite>(BatchWriteRequestParams { entries });
        assert_eq!(read, Ok(size), "batch write, round {round}");
        let (read, size) = measured::<BatchRead>(BatchReadRequestParams { keys });
        assert_eq!(read, Ok(size), "batch read, round {round}");
        let mut one = byte_vectors(&mut rng, 2);
        let (key, payload) = (one.remove(0), one.remove(0));
        let (read, size) = measured::<Write>(WriteRequestParams { key, payload });
        assert_eq!(read, Ok(size), "write, round {round}");
    }
}

/// The attack of issue 31 item 4, small: values of zeros take a bit a byte on the wire.
#[test]
fn values_of_zeros_measure_eight_times_their_encoding() {
    let entries = (0..8u8).map(|i| (vec![i], vec![0; 1 << 20])).collect();
    let encoded = BatchWrite::encode_request(BatchWriteRequestParams { entries }).unwrap();
    let size = BatchWriteRequestParams::size_of_encoded(&encoded).unwrap();
    assert_eq!(size, 24 + 8 * (24 + 1 + 24 + (1 << 20)));
    assert!(encoded.len() < (1 << 20) + 100, "{} bytes", encoded.len());
}

/// Whatever bitcode decodes measures the same; what it refuses does not panic here. The
/// inputs are encodings cut short, with a byte changed, or made of random bytes.
#[test]
fn any_bytes_measure_as_bitcode_decodes_them_or_fail() {
    let mut rng = Rng(0xbad);
    for round in 0..300 {
        let count = rng.below(12);
        let entries: Vec<_> = byte_vectors(&mut rng, count)
            .into_iter()
            .zip(byte_vectors(&mut rng, count))
            .collect();
        let mut encoded = bitcode_of(entries);
        match round % 3 {
            0 => encoded.truncate(rng.below(encoded.len() as u64 + 1) as usize),
            1 if !encoded.is_empty() => {
                let at = rng.below(encoded.len() as u64) as usize;
                encoded[at] = rng.next() as u8;
            }
            _ => {
                let len = rng.below(40);
                encoded = bytes(&mut rng, len, (0, 255));
            }
        }
        agrees::<BatchWrite>(&encoded, round);
        agrees::<BatchRead>(&encoded, round);
        agrees::<Write>(&encoded, round);
        agrees::<Read>(&encoded, round);
    }
}

fn bitcode_of(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
    BatchWrite::encode_request(BatchWriteRequestParams { entries }).unwrap()
}

fn agrees<M>(encoded: &[u8], round: usize)
where
    M: RpcMethodPrebuffered,
    M::Input: DecodedSize,
{
    let read = M::Input::size_of_encoded(encoded);
    if let Ok(decoded) = M::decode_request(encoded) {
        assert_eq!(
            read,
            Ok(decoded.decoded_size()),
            "round {round}: {encoded:?}"
        );
    }
}

#[test]
fn an_encoding_cut_short_or_with_bytes_left_is_refused() {
    let encoded = bitcode_of(vec![(b"key".to_vec(), vec![7; 300])]);
    for end in 0..encoded.len() {
        let cut = BatchWriteRequestParams::size_of_encoded(&encoded[..end]);
        assert!(cut.is_err(), "cut at {end}: {cut:?}");
    }
    let longer = [&encoded[..], &[0]].concat();
    let refused = BatchWriteRequestParams::size_of_encoded(&longer).unwrap_err();
    assert!(refused.contains("after the end"), "{refused}");
}
