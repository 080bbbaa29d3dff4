//! One typed method per method of the service definition.
//!
//! Every method returns [`io::Error`]: transport failures keep their kind (a dropped
//! connection is `ConnectionAborted`), and an error reported by the server is an
//! `io::ErrorKind::Other` whose inner error is a [`ServerError`].

use crate::WsTransport;
use crate::calls::{Reply, connection_lost};
use crate::limits::{ENCODE_APART_SIZE, MAX_VALUE_SIZE};
use crate::request::send_request;
use muxio_rpc_service::RpcResultStatus;
use muxio_rpc_service::prebuffered::RpcMethodPrebuffered;
use simd_r_drive_muxio_service_definition::prebuffered::{
    BatchRead, BatchReadRequestParams, BatchWrite, BatchWriteRequestParams, Delete,
    DeleteRequestParams, Exists, ExistsRequestParams, FileSize, FileSizeRequestParams, IsEmpty,
    IsEmptyRequestParams, Len, LenRequestParams, Read, ReadRequestParams, Write,
    WriteRequestParams,
};
use std::{fmt, io};

/// The server ran the call and reported a failure, e.g. the engine refused the value.
#[derive(Debug, Clone)]
pub struct ServerError {
    /// The server's reason, as it sent it.
    pub message: String,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server error: {}", self.message)
    }
}

impl std::error::Error for ServerError {}

impl ServerError {
    /// The [`ServerError`] inside `error`, if the server reported it.
    pub fn find(error: &io::Error) -> Option<&ServerError> {
        error.get_ref()?.downcast_ref::<ServerError>()
    }
}

type Payload = Option<Vec<u8>>;

impl WsTransport {
    /// Stores `payload` under `key`; returns the store's new tail offset. A payload over
    /// [`MAX_VALUE_SIZE`] fails with `InvalidInput` before anything is sent.
    pub async fn write(&self, key: Vec<u8>, payload: Vec<u8>) -> io::Result<u64> {
        check_value_size(&payload)?;
        let size = key.len() + payload.len();
        let params = WriteRequestParams { key, payload };
        Ok(self.call_sized::<Write>(params, size).await?.tail_offset)
    }

    /// Stores every `(key, payload)` pair in one call; returns the new tail offset. Each
    /// payload is checked against [`MAX_VALUE_SIZE`] as for [`write`](Self::write).
    pub async fn batch_write(&self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> io::Result<u64> {
        entries
            .iter()
            .try_for_each(|(_, payload)| check_value_size(payload))?;
        let size = entries.iter().map(|(k, v)| k.len() + v.len()).sum();
        let params = BatchWriteRequestParams { entries };
        Ok(self
            .call_sized::<BatchWrite>(params, size)
            .await?
            .tail_offset)
    }

    /// The payload stored under `key`, or `None`.
    pub async fn read(&self, key: Vec<u8>) -> io::Result<Payload> {
        Ok(self
            .call::<Read>(ReadRequestParams { key })
            .await?
            .entry_payload)
    }

    /// The payloads stored under `keys`, in the same order, `None` where missing.
    pub async fn batch_read(&self, keys: Vec<Vec<u8>>) -> io::Result<Vec<Payload>> {
        Ok(self
            .call::<BatchRead>(BatchReadRequestParams { keys })
            .await?
            .entries_payloads)
    }

    /// Deletes `key`; returns the new tail offset.
    pub async fn delete(&self, key: Vec<u8>) -> io::Result<u64> {
        Ok(self
            .call::<Delete>(DeleteRequestParams { key })
            .await?
            .tail_offset)
    }

    /// Whether `key` holds a payload.
    pub async fn exists(&self, key: Vec<u8>) -> io::Result<bool> {
        Ok(self
            .call::<Exists>(ExistsRequestParams { key })
            .await?
            .exists)
    }

    /// The number of live entries.
    pub async fn len(&self) -> io::Result<usize> {
        Ok(self.call::<Len>(LenRequestParams {}).await?.total_entries)
    }

    /// Whether the store holds no live entry.
    pub async fn is_empty(&self) -> io::Result<bool> {
        Ok(self
            .call::<IsEmpty>(IsEmptyRequestParams {})
            .await?
            .is_empty)
    }

    /// The size of the storage file in bytes.
    pub async fn file_size(&self) -> io::Result<u64> {
        Ok(self
            .call::<FileSize>(FileSizeRequestParams {})
            .await?
            .file_size)
    }

    /// A call whose arguments are small.
    async fn call<M: RpcMethodPrebuffered>(&self, input: M::Input) -> io::Result<M::Output>
    where
        M::Input: Send + 'static,
        M::Output: Send + 'static,
    {
        self.call_sized::<M>(input, 0).await
    }

    /// One call whose arguments hold about `size` bytes: encodes them (off this task when
    /// they are large), registers the call, sends the request, waits for the reply.
    /// Dropping the future at any point (a timeout, Ctrl-C) frees what the call holds.
    async fn call_sized<M: RpcMethodPrebuffered>(
        &self,
        input: M::Input,
        size: usize,
    ) -> io::Result<M::Output>
    where
        M::Input: Send + 'static,
        M::Output: Send + 'static,
    {
        let args = encode_request::<M>(input, size).await?;
        let (registration, reply) = self.calls.register()?;
        send_request(&self.queue, registration.id, M::METHOD_ID, args).await?;
        let reply = reply.await.map_err(|_dropped| connection_lost())??;
        drop(registration);
        decode_response::<M>(successful(reply)?).await
    }
}

/// The encoded arguments. Encoding copies them whole, which for a large value takes long
/// enough to delay a timeout or Ctrl-C: that copy runs on the blocking pool, and a call
/// dropped meanwhile returns at once (the copy finishes and is freed).
async fn encode_request<M: RpcMethodPrebuffered>(
    input: M::Input,
    size: usize,
) -> io::Result<Vec<u8>>
where
    M::Input: Send + 'static,
{
    if size < ENCODE_APART_SIZE {
        return M::encode_request(input);
    }
    let encoding = tokio::task::spawn_blocking(move || M::encode_request(input));
    encoding
        .await
        .map_err(|e| io::Error::other(format!("cannot encode the request: {e}")))?
}

/// The decoded reply; a large one is decoded on the blocking pool, as in [`encode_request`].
async fn decode_response<M: RpcMethodPrebuffered>(body: Vec<u8>) -> io::Result<M::Output>
where
    M::Output: Send + 'static,
{
    if body.len() < ENCODE_APART_SIZE {
        return M::decode_response(&body);
    }
    let decoding = tokio::task::spawn_blocking(move || M::decode_response(&body));
    decoding
        .await
        .map_err(|e| io::Error::other(format!("cannot decode the reply: {e}")))?
}

/// Refuses a value the server would refuse, before a byte of it travels.
pub(crate) fn check_value_size(payload: &[u8]) -> io::Result<()> {
    if payload.len() <= MAX_VALUE_SIZE {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "a value of {} bytes is over the limit of {MAX_VALUE_SIZE} bytes (64 MiB); \
             split it into several keys",
            payload.len()
        ),
    ))
}

/// The body of a successful reply, or the server's reason for failing.
fn successful(reply: Reply) -> io::Result<Vec<u8>> {
    let status = reply.status.map(RpcResultStatus::try_from);
    let code = match status {
        None | Some(Ok(RpcResultStatus::Success)) => return Ok(reply.body),
        Some(Ok(RpcResultStatus::Fail)) => "Fail",
        Some(Ok(RpcResultStatus::SystemError)) => "System",
        Some(Ok(RpcResultStatus::MethodNotFound)) => "NotFound",
        Some(Err(_)) => "unknown status",
    };
    let reason = String::from_utf8_lossy(&reply.body);
    let message = if reason.is_empty() {
        format!("the call failed ({code})")
    } else {
        format!("{reason} ({code})")
    };
    Err(io::Error::other(ServerError { message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_size_limit_is_inclusive() {
        assert!(check_value_size(&vec![1; MAX_VALUE_SIZE]).is_ok());
        let error = check_value_size(&vec![1; MAX_VALUE_SIZE + 1]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("split it"), "{error}");
    }
}
