//! `DataStoreWsClient`: one WebSocket connection, shared by every thread that uses it.

use crate::bytes_like::{BytesLike, check_value};
use crate::errors::{call_failed, call_timed_out, connect_failed, forked};
use crate::runtime::block_on;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use simd_r_drive_ws_transport::{ConnectOptions, WsTransport};
use std::io;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Duration;

type Payloads = Vec<Option<Vec<u8>>>;

/// `subclass` lets the Python package add its pure-Python methods on top.
#[pyclass(subclass, frozen, module = "simd_r_drive_ws_client")]
pub struct DataStoreWsClient {
    /// Dropped only in the process that made it; see `Drop`.
    transport: ManuallyDrop<Arc<WsTransport>>,
    host: String,
    port: u16,
    /// `None`: a call waits as long as it takes.
    call_timeout: Option<Timeout>,
    /// The process that connected; after `fork()` the child has the object but not the
    /// runtime threads that serve its connection.
    pid: u32,
}

/// A timeout as given (for messages) and as used.
#[derive(Clone, Copy)]
struct Timeout {
    seconds: f64,
    duration: Duration,
}

impl Timeout {
    /// `seconds` must be positive and finite; `name` is the argument, for the message.
    fn new(name: &str, seconds: f64) -> PyResult<Self> {
        if !(seconds > 0.0 && seconds.is_finite()) {
            let reason = "must be a positive, finite number of seconds";
            return Err(PyValueError::new_err(format!(
                "bad {name} {seconds}: {reason}"
            )));
        }
        let duration = Duration::try_from_secs_f64(seconds)
            .map_err(|e| PyValueError::new_err(format!("bad {name} {seconds}: {e}")))?;
        Ok(Timeout { seconds, duration })
    }
}

impl DataStoreWsClient {
    /// Runs one call with the GIL released, within `call_timeout`, and turns its failure
    /// into an exception.
    fn call<T: Send>(
        &self,
        py: Python<'_>,
        call: impl Future<Output = io::Result<T>> + Send,
    ) -> PyResult<T> {
        if self.pid != std::process::id() {
            return Err(forked(self.pid));
        }
        let address = || format!("{}:{}", self.host, self.port);
        let answer = match self.call_timeout {
            None => block_on(py, call)?,
            Some(limit) => {
                // Made inside the async block: a timer needs the runtime `block_on` enters.
                let limited = async move { tokio::time::timeout(limit.duration, call).await };
                block_on(py, limited)?.map_err(|_elapsed| {
                    let unsent = self.transport.unsent_bytes();
                    call_timed_out(&address(), limit.seconds, unsent)
                })?
            }
        };
        answer.map_err(|e| call_failed(e, &address()))
    }
}

impl Drop for DataStoreWsClient {
    /// In a forked child the connection belongs to the parent's runtime, whose threads do
    /// not exist here: closing it could wait on them forever, so the child leaks it.
    fn drop(&mut self) {
        if self.pid == std::process::id() {
            // SAFETY: `transport` is never used again; this is the only place it is dropped.
            unsafe { ManuallyDrop::drop(&mut self.transport) };
        }
    }
}

#[pymethods]
impl DataStoreWsClient {
    #[new]
    #[pyo3(signature = (
        host, port, *, tcp_nodelay = true, connect_timeout = 5.0, call_timeout = Some(60.0)
    ))]
    fn new(
        py: Python<'_>,
        host: String,
        port: u16,
        tcp_nodelay: bool,
        connect_timeout: f64,
        call_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let connect_timeout = Timeout::new("connect_timeout", connect_timeout)?.duration;
        let call_timeout = call_timeout
            .map(|seconds| Timeout::new("call_timeout", seconds))
            .transpose()?;
        let options = ConnectOptions {
            tcp_nodelay,
            connect_timeout,
        };
        let connecting = WsTransport::connect(&host, port, options);
        let transport = block_on(py, connecting)?.map_err(connect_failed)?;
        Ok(DataStoreWsClient {
            transport: ManuallyDrop::new(transport),
            host,
            port,
            call_timeout,
            pid: std::process::id(),
        })
    }

    fn write(&self, py: Python<'_>, key: BytesLike, data: BytesLike) -> PyResult<()> {
        check_value(&data.0)?;
        self.call(py, self.transport.write(key.0, data.0))?;
        Ok(())
    }

    fn batch_write(&self, py: Python<'_>, entries: Vec<(BytesLike, BytesLike)>) -> PyResult<()> {
        let entries: Vec<_> = entries.into_iter().map(|(k, v)| (k.0, v.0)).collect();
        for (index, (_, value)) in entries.iter().enumerate() {
            check_value(value).map_err(|e| PyValueError::new_err(format!("entry {index}: {e}")))?;
        }
        self.call(py, self.transport.batch_write(entries))?;
        Ok(())
    }

    fn read<'py>(&self, py: Python<'py>, key: BytesLike) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let payload = self.call(py, self.transport.read(key.0))?;
        Ok(payload.map(|bytes| PyBytes::new(py, &bytes)))
    }

    fn batch_read<'py>(
        &self,
        py: Python<'py>,
        keys: Vec<BytesLike>,
    ) -> PyResult<Vec<Option<Bound<'py, PyBytes>>>> {
        let keys = keys.into_iter().map(|key| key.0).collect();
        let payloads: Payloads = self.call(py, self.transport.batch_read(keys))?;
        Ok(payloads
            .into_iter()
            .map(|p| p.map(|bytes| PyBytes::new(py, &bytes)))
            .collect())
    }

    fn exists(&self, py: Python<'_>, key: BytesLike) -> PyResult<bool> {
        self.call(py, self.transport.exists(key.0))
    }

    fn __contains__(&self, py: Python<'_>, key: BytesLike) -> PyResult<bool> {
        self.exists(py, key)
    }

    fn delete(&self, py: Python<'_>, key: BytesLike) -> PyResult<()> {
        self.call(py, self.transport.delete(key.0))?;
        Ok(())
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.call(py, self.transport.len())
    }

    fn is_empty(&self, py: Python<'_>) -> PyResult<bool> {
        self.call(py, self.transport.is_empty())
    }

    fn file_size(&self, py: Python<'_>) -> PyResult<u64> {
        self.call(py, self.transport.file_size())
    }

    fn is_connected(&self) -> bool {
        self.pid == std::process::id() && self.transport.is_connected()
    }

    fn __repr__(&self) -> String {
        format!("DataStoreWsClient({:?}, {})", self.host, self.port)
    }
}
