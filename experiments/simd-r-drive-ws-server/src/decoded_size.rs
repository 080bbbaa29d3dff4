//! What a decoded request holds in memory, to hold it to the same limit as its encoding,
//! known before it is decoded.
//!
//! The encoding (bitcode) packs bytes: a value of small byte values takes as little as one
//! bit per byte, and an empty key one bit or less. So a request within the limit on the
//! wire can decode to eight times that in values, or far more in keys, and decoding takes
//! twice what it decodes to for a moment (bitcode unpacks a column, then copies each value
//! out of it). So each request is measured from its encoding's length columns
//! (`bitcode_lengths.rs`) before it is decoded; the measure counts each byte vector's own
//! header (24 bytes), which is what many empty keys cost.

use crate::bitcode_lengths::{Columns, Error};
use simd_r_drive_muxio_service_definition::prebuffered::*;

/// What one `Vec` costs besides its bytes.
const VEC: u64 = size_of::<Vec<u8>>() as u64;

/// The bytes a decoded request holds.
pub(crate) trait DecodedSize {
    /// Read from the encoding, without decoding it; an error if bitcode could not decode
    /// it either.
    fn size_of_encoded(encoded: &[u8]) -> Result<u64, Error>;

    /// Measured on the decoded request: what [`DecodedSize::size_of_encoded`] said.
    fn decoded_size(&self) -> u64;
}

fn bytes(v: &[u8]) -> u64 {
    VEC + v.len() as u64
}

/// `count` byte vectors: their length column, then their bytes, which are skipped.
fn byte_vectors(columns: &mut Columns<'_>, count: u64) -> Result<u64, Error> {
    let count = usize::try_from(count).map_err(|_| "a count overflows".to_string())?;
    let length = columns.lengths(count)?;
    columns.skip_bytes(length)?;
    Ok((count as u64).saturating_mul(VEC).saturating_add(length))
}

impl DecodedSize for WriteRequestParams {
    fn size_of_encoded(encoded: &[u8]) -> Result<u64, Error> {
        let mut columns = Columns::new(encoded);
        let size = byte_vectors(&mut columns, 1)? + byte_vectors(&mut columns, 1)?;
        columns.end().map(|()| size)
    }

    fn decoded_size(&self) -> u64 {
        bytes(&self.key) + bytes(&self.payload)
    }
}

impl DecodedSize for BatchWriteRequestParams {
    fn size_of_encoded(encoded: &[u8]) -> Result<u64, Error> {
        let mut columns = Columns::new(encoded);
        let entries = columns.lengths(1)?;
        let keys = byte_vectors(&mut columns, entries)?;
        let values = byte_vectors(&mut columns, entries)?;
        columns
            .end()
            .map(|()| VEC.saturating_add(keys).saturating_add(values))
    }

    fn decoded_size(&self) -> u64 {
        let entries = self.entries.iter();
        VEC + entries.map(|(k, v)| bytes(k) + bytes(v)).sum::<u64>()
    }
}

impl DecodedSize for BatchReadRequestParams {
    fn size_of_encoded(encoded: &[u8]) -> Result<u64, Error> {
        let mut columns = Columns::new(encoded);
        let count = columns.lengths(1)?;
        let keys = byte_vectors(&mut columns, count)?;
        columns.end().map(|()| VEC.saturating_add(keys))
    }

    fn decoded_size(&self) -> u64 {
        VEC + self.keys.iter().map(|k| bytes(k)).sum::<u64>()
    }
}

/// The requests that carry one key.
macro_rules! one_key {
    ($($params:ty),*) => {$(
        impl DecodedSize for $params {
            fn size_of_encoded(encoded: &[u8]) -> Result<u64, Error> {
                let mut columns = Columns::new(encoded);
                let size = byte_vectors(&mut columns, 1)?;
                columns.end().map(|()| size)
            }

            fn decoded_size(&self) -> u64 {
                bytes(&self.key)
            }
        }
    )*};
}
one_key!(ReadRequestParams, DeleteRequestParams, ExistsRequestParams);

/// The requests that carry nothing (bitcode refuses any byte sent with them).
macro_rules! no_arguments {
    ($($params:ty),*) => {$(
        impl DecodedSize for $params {
            fn size_of_encoded(_: &[u8]) -> Result<u64, Error> {
                Ok(0)
            }

            fn decoded_size(&self) -> u64 {
                0
            }
        }
    )*};
}
no_arguments!(
    LenRequestParams,
    IsEmptyRequestParams,
    FileSizeRequestParams
);
