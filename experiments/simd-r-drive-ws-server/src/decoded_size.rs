//! What a decoded request holds in memory, to hold it to the same limit as its encoding.
//!
//! The encoding (bitcode) packs bytes: a value of small byte values takes as little as one
//! bit per byte, and an empty key one bit or less. So a request within the limit on the
//! wire can decode to eight times that in values, or far more in keys. Each request is
//! measured once decoded, before the store sees it; the measure counts each byte vector's
//! own header (24 bytes), which is what many empty keys cost.

use simd_r_drive_muxio_service_definition::prebuffered::*;

/// What one `Vec` costs besides its bytes.
const VEC: usize = size_of::<Vec<u8>>();

/// The bytes a decoded request holds.
pub(crate) trait DecodedSize {
    fn decoded_size(&self) -> usize;
}

fn bytes(v: &[u8]) -> usize {
    VEC + v.len()
}

impl DecodedSize for WriteRequestParams {
    fn decoded_size(&self) -> usize {
        bytes(&self.key) + bytes(&self.payload)
    }
}

impl DecodedSize for BatchWriteRequestParams {
    fn decoded_size(&self) -> usize {
        let entries = self.entries.iter();
        VEC + entries.map(|(k, v)| bytes(k) + bytes(v)).sum::<usize>()
    }
}

impl DecodedSize for BatchReadRequestParams {
    fn decoded_size(&self) -> usize {
        VEC + self.keys.iter().map(|k| bytes(k)).sum::<usize>()
    }
}

/// The requests that carry one key.
macro_rules! one_key {
    ($($params:ty),*) => {$(
        impl DecodedSize for $params {
            fn decoded_size(&self) -> usize {
                bytes(&self.key)
            }
        }
    )*};
}
one_key!(ReadRequestParams, DeleteRequestParams, ExistsRequestParams);

/// The requests that carry nothing.
macro_rules! no_arguments {
    ($($params:ty),*) => {$(
        impl DecodedSize for $params {
            fn decoded_size(&self) -> usize {
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
