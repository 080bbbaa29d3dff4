//! One handler per method of the service definition, each decoding its request and running
//! its storage call on the blocking pool, so that neither a large decode nor file I/O
//! stalls the async runtime. A request that would decode to more than the limit on
//! requests is refused before it is decoded (see `decoded_size.rs`).

use crate::MAX_VALUE_SIZE;
use crate::decoded_size::DecodedSize;
use crate::requests::MAX_REQUEST_SIZE;
use crate::store::{Change, Store};
use anyhow::Context;
use muxio_rpc_service::prebuffered::RpcMethodPrebuffered;
use muxio_rpc_service_endpoint::{RpcServiceEndpoint, RpcServiceEndpointInterface};
use simd_r_drive::traits::{DataStoreReader, DataStoreWriter};
use simd_r_drive_muxio_service_definition::prebuffered::*;
use std::io;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// A request at least this large is measured on the blocking pool rather than in place
/// (a pass over its length columns), and one that decodes to at least this much waits for
/// [`LARGE_DECODES`] before decoding.
const LARGE: usize = 1 << 20;

/// Large requests decode one at a time, process-wide: decoding takes twice what the request
/// decodes to for a moment (see `decoded_size.rs`), up to twice the limit on a request, so
/// however many connections send such requests at once, one decodes at a time.
static LARGE_DECODES: Semaphore = Semaphore::const_new(1);

type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Registers every method of `simd-r-drive-muxio-service-definition`.
pub(crate) async fn register_all<C>(
    endpoint: &RpcServiceEndpoint<C>,
    store: &Arc<Store>,
) -> anyhow::Result<()>
where
    C: Send + Sync + Clone + 'static,
{
    register::<Write, C>(endpoint, store, |s, r| {
        check_value_size(&r.payload)?;
        let tail_offset = s.write(Change::Put(vec![&r.key]), |e| e.write(&r.key, &r.payload))?;
        Ok(WriteResponseParams { tail_offset })
    })
    .await?;
    register::<BatchWrite, C>(endpoint, store, |s, r| {
        let entries: Vec<(&[u8], &[u8])> = r
            .entries
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        for (_, value) in &entries {
            check_value_size(value)?;
        }
        let keys = entries.iter().map(|(k, _)| *k).collect();
        let tail_offset = s.write(Change::Put(keys), |e| e.batch_write(&entries))?;
        Ok(BatchWriteResponseParams { tail_offset })
    })
    .await?;
    register::<Read, C>(endpoint, store, |s, r| {
        let entry_payload = s.read_value(&r.key)?;
        Ok(ReadResponseParams { entry_payload })
    })
    .await?;
    register::<BatchRead, C>(endpoint, store, |s, r| {
        let keys: Vec<&[u8]> = r.keys.iter().map(Vec::as_slice).collect();
        let entries_payloads = s.read_values(&keys)?;
        Ok(BatchReadResponseParams { entries_payloads })
    })
    .await?;
    register::<Delete, C>(endpoint, store, |s, r| {
        let tail_offset = s.write(Change::Delete(&r.key), |e| e.delete(&r.key))?;
        Ok(DeleteResponseParams { tail_offset })
    })
    .await?;
    register_queries(endpoint, store).await
}

/// Refuses a value over [`MAX_VALUE_SIZE`], before anything is written.
fn check_value_size(value: &[u8]) -> io::Result<()> {
    if value.len() > MAX_VALUE_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "value of {} bytes is over the limit of {MAX_VALUE_SIZE} bytes (64 MiB); store it in smaller pieces",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// Reads what the request would decode to from its encoding, and refuses it, before it is
/// decoded, if that is over [`MAX_REQUEST_SIZE`], like a request that large on the wire.
fn check_decoded_size<T: DecodedSize>(encoded: &[u8]) -> io::Result<u64> {
    let size = T::size_of_encoded(encoded).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot decode the request: {e}"),
        )
    })?;
    within_the_limit(size).map(|()| size)
}

fn within_the_limit(size: u64) -> io::Result<()> {
    if size > MAX_REQUEST_SIZE as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the request decodes to {size} bytes, over the limit of {MAX_REQUEST_SIZE} bytes for a request; send it in smaller batches"
            ),
        ));
    }
    Ok(())
}

/// What the request decodes to, within the limit (see [`check_decoded_size`]); a large one
/// is measured on the blocking pool.
async fn measure<T: DecodedSize>(bytes: Vec<u8>) -> Result<(Vec<u8>, u64), HandlerError> {
    if bytes.len() < LARGE {
        let size = check_decoded_size::<T>(&bytes)?;
        return Ok((bytes, size));
    }
    let measured = tokio::task::spawn_blocking(move || {
        check_decoded_size::<T>(&bytes).map(|size| (bytes, size))
    });
    Ok(measured.await??)
}

/// The methods that take no key: they report on the store as a whole.
async fn register_queries<C>(
    endpoint: &RpcServiceEndpoint<C>,
    store: &Arc<Store>,
) -> anyhow::Result<()>
where
    C: Send + Sync + Clone + 'static,
{
    register::<Exists, C>(endpoint, store, |s, r| {
        Ok(ExistsResponseParams {
            exists: s.read(|e| e.exists(&r.key))?,
        })
    })
    .await?;
    register::<Len, C>(endpoint, store, |s, _| {
        Ok(LenResponseParams {
            total_entries: s.live_keys()? as usize,
        })
    })
    .await?;
    register::<IsEmpty, C>(endpoint, store, |s, _| {
        Ok(IsEmptyResponseParams {
            is_empty: s.live_keys()? == 0,
        })
    })
    .await?;
    register::<FileSize, C>(endpoint, store, |s, _| {
        Ok(FileSizeResponseParams {
            file_size: s.read(|e| e.file_size())?,
        })
    })
    .await
}

/// Wires one method: decode and check the request and run `op`, on the blocking pool, then
/// encode the answer.
async fn register<M, C>(
    endpoint: &RpcServiceEndpoint<C>,
    store: &Arc<Store>,
    op: fn(&Store, M::Input) -> io::Result<M::Output>,
) -> anyhow::Result<()>
where
    M: RpcMethodPrebuffered,
    M::Input: DecodedSize + Send + 'static,
    M::Output: Send + 'static,
    C: Send + Sync + Clone + 'static,
{
    let store = store.clone();
    endpoint
        .register_prebuffered(M::METHOD_ID, move |bytes, _ctx| {
            let store = store.clone();
            async move {
                let (bytes, size) = measure::<M::Input>(bytes).await?;
                let turn = if size >= LARGE as u64 {
                    Some(LARGE_DECODES.acquire().await?)
                } else {
                    None
                };
                let output = tokio::task::spawn_blocking(move || {
                    let request = M::decode_request(&bytes)?;
                    drop(bytes);
                    drop(turn);
                    // Measured again, decoded: should the reading of the encoding ever
                    // differ from bitcode's, the store still sees no request over the limit.
                    let decoded = request.decoded_size();
                    debug_assert_eq!(decoded, size, "as read from the encoding");
                    within_the_limit(decoded)?;
                    op(&store, request)
                })
                .await??;
                M::encode_response(output).map_err(HandlerError::from)
            }
        })
        .await
        .with_context(|| format!("cannot register RPC method {}", M::METHOD_ID))
}

#[cfg(test)]
mod tests {
    use super::*;
    use muxio_rpc_service_endpoint::WithHandlers;
    use simd_r_drive_muxio_service_definition::prebuffered::BatchWriteRequestParams;

    async fn endpoint(dir: &std::path::Path) -> (RpcServiceEndpoint<()>, Arc<Store>) {
        let store = Arc::new(Store::open(&dir.join("s.bin"), false).unwrap());
        let endpoint = RpcServiceEndpoint::new();
        register_all(&endpoint, &store).await.unwrap();
        (endpoint, store)
    }

    #[test]
    fn a_value_over_the_limit_is_refused_and_at_the_limit_is_not() {
        assert!(check_value_size(&vec![0; MAX_VALUE_SIZE]).is_ok());
        let err = check_value_size(&vec![0; MAX_VALUE_SIZE + 1]).unwrap_err();
        assert!(
            err.to_string().contains("over the limit of 67108864 bytes"),
            "{err}"
        );
    }

    /// A batch with one value over the limit stores none of its entries.
    #[tokio::test]
    async fn a_batch_with_one_value_over_the_limit_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (endpoint, store) = endpoint(dir.path()).await;
        let request = BatchWrite::encode_request(BatchWriteRequestParams {
            entries: vec![
                (b"ok".to_vec(), b"1".to_vec()),
                (b"big".to_vec(), vec![1; MAX_VALUE_SIZE + 1]),
            ],
        })
        .unwrap();
        let handler = endpoint
            .get_prebuffered_handlers()
            .with_handlers(|h| h.get(&BatchWrite::METHOD_ID).cloned())
            .await
            .unwrap();
        let err = handler(request, ()).await.unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
        assert_eq!(store.live_keys().unwrap(), 0);
        assert!(store.read(|e| e.read(b"ok")).unwrap().is_none());
    }

    /// Zeros take a bit a byte on the wire: a batch of one value of zeros at the limit
    /// (8 MiB sent) is measured from its encoding as within the limit, and stored. (Batches
    /// over it are refused in `tests/memory.rs`.)
    #[tokio::test]
    async fn a_batch_of_zeros_at_the_limit_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (endpoint, store) = endpoint(dir.path()).await;
        let handler = endpoint
            .get_prebuffered_handlers()
            .with_handlers(|h| h.get(&BatchWrite::METHOD_ID).cloned())
            .await
            .unwrap();
        let batch = |entries| BatchWrite::encode_request(BatchWriteRequestParams { entries });
        let at_the_limit = batch(vec![(b"max".to_vec(), vec![0; MAX_VALUE_SIZE])]).unwrap();
        handler(at_the_limit, ()).await.unwrap();
        let value = store.read_value(b"max").unwrap().unwrap();
        assert!(value.len() == MAX_VALUE_SIZE && value.iter().all(|&b| b == 0));
    }
}
