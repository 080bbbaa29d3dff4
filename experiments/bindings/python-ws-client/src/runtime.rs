//! The one tokio runtime that every client shares.
//!
//! Its worker threads also run each connection's read loop, which answers the server's
//! pings while Python is busy elsewhere, so an idle client stays connected.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::Runtime;

fn runtime() -> PyResult<&'static Runtime> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    let built = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("simd-r-drive-ws")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    built
        .as_ref()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start tokio: {e}")))
}

/// Runs `call` to completion with the GIL released, so that other Python threads run
/// meanwhile, including threads that use the same client.
pub fn block_on<F>(py: Python<'_>, call: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let runtime = runtime()?;
    Ok(py.detach(|| runtime.block_on(call)))
}
