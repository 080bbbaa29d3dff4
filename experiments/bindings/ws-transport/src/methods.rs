//! One typed method per method of the service definition.
//!
//! Every method returns [`io::Error`]: transport failures keep their kind (a dropped
//! connection is `ConnectionAborted`), and an error reported by the server is an
//! `io::ErrorKind::Other` whose inner error is a [`ServerError`].

use crate::WsTransport;
use muxio_rpc_service::error::RpcServiceError;
use muxio_rpc_service_caller::prebuffered::RpcCallPrebuffered;
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
    /// Stores `payload` under `key`; returns the store's new tail offset.
    pub async fn write(&self, key: Vec<u8>, payload: Vec<u8>) -> io::Result<u64> {
        let reply = Write::call(self, WriteRequestParams { key, payload }).await;
        Ok(reply.map_err(into_io)?.tail_offset)
    }

    /// Stores every `(key, payload)` pair in one call; returns the new tail offset.
    pub async fn batch_write(&self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> io::Result<u64> {
        let reply = BatchWrite::call(self, BatchWriteRequestParams { entries }).await;
        Ok(reply.map_err(into_io)?.tail_offset)
    }

    /// The payload stored under `key`, or `None`.
    pub async fn read(&self, key: Vec<u8>) -> io::Result<Payload> {
        let reply = Read::call(self, ReadRequestParams { key }).await;
        Ok(reply.map_err(into_io)?.entry_payload)
    }

    /// The payloads stored under `keys`, in the same order, `None` where missing.
    pub async fn batch_read(&self, keys: Vec<Vec<u8>>) -> io::Result<Vec<Payload>> {
        let reply = BatchRead::call(self, BatchReadRequestParams { keys }).await;
        Ok(reply.map_err(into_io)?.entries_payloads)
    }

    /// Deletes `key`; returns the new tail offset.
    pub async fn delete(&self, key: Vec<u8>) -> io::Result<u64> {
        let reply = Delete::call(self, DeleteRequestParams { key }).await;
        Ok(reply.map_err(into_io)?.tail_offset)
    }

    /// Whether `key` holds a payload.
    pub async fn exists(&self, key: Vec<u8>) -> io::Result<bool> {
        let reply = Exists::call(self, ExistsRequestParams { key }).await;
        Ok(reply.map_err(into_io)?.exists)
    }

    /// The number of live entries.
    pub async fn len(&self) -> io::Result<usize> {
        let reply = Len::call(self, LenRequestParams {}).await;
        Ok(reply.map_err(into_io)?.total_entries)
    }

    /// Whether the store holds no live entry.
    pub async fn is_empty(&self) -> io::Result<bool> {
        let reply = IsEmpty::call(self, IsEmptyRequestParams {}).await;
        Ok(reply.map_err(into_io)?.is_empty)
    }

    /// The size of the storage file in bytes.
    pub async fn file_size(&self) -> io::Result<u64> {
        let reply = FileSize::call(self, FileSizeRequestParams {}).await;
        Ok(reply.map_err(into_io)?.file_size)
    }
}

fn into_io(error: RpcServiceError) -> io::Error {
    match error {
        RpcServiceError::Transport(error) => error,
        RpcServiceError::Rpc(payload) => io::Error::other(ServerError {
            message: format!("{} ({:?})", payload.message, payload.code),
        }),
        RpcServiceError::Aborted => {
            io::Error::new(io::ErrorKind::ConnectionAborted, "the call was aborted")
        }
    }
}
