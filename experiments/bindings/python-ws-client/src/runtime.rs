//! The one tokio runtime that every client of a process shares.
//!
//! Its worker threads also run each connection's read loop, which answers the server's
//! pings while Python is busy elsewhere, so an idle client stays connected.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::time::Duration;
use tokio::runtime::Runtime;

/// How often a blocked call lets Python run its signal handlers, so that Ctrl-C stops it.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The runtime and the process that built it.
struct Shared {
    pid: u32,
    runtime: &'static Runtime,
}

/// The runtime of this process, built on first use.
///
/// After `fork()` the child has a copy of the parent's runtime but none of its worker
/// threads, so anything run on it waits forever. The child therefore builds its own. The
/// parent's copy is leaked, never dropped: dropping it would join threads that do not exist.
///
/// The lock is only taken with the GIL held, and `os.fork()` holds the GIL too, so no fork
/// happens while another thread holds the lock.
fn runtime() -> PyResult<&'static Runtime> {
    static SHARED: Mutex<Option<Shared>> = Mutex::new(None);
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    match shared.as_ref() {
        Some(built) if built.pid == pid => Ok(built.runtime),
        _ => {
            let runtime: &'static Runtime = Box::leak(Box::new(build()?));
            *shared = Some(Shared { pid, runtime });
            Ok(runtime)
        }
    }
}

fn build() -> PyResult<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("simd-r-drive-ws")
        .enable_all()
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start tokio: {e}")))
}

/// Runs `call` to completion with the GIL released, so that other Python threads run
/// meanwhile, including threads that use the same client.
///
/// While the call is pending, it takes the GIL back every [`SIGNAL_CHECK_INTERVAL`] to run
/// Python's signal handlers; when one raises (`KeyboardInterrupt` on Ctrl-C), the call is
/// dropped and the exception propagates. A call that finishes sooner never wakes up.
pub fn block_on<F>(py: Python<'_>, call: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let runtime = runtime()?;
    let mut call = pin!(call);
    loop {
        // The timer is made inside `block_on`, which provides the runtime it needs.
        let waiting = async { tokio::time::timeout(SIGNAL_CHECK_INTERVAL, call.as_mut()).await };
        match py.detach(|| runtime.block_on(waiting)) {
            Ok(output) => return Ok(output),
            Err(_still_pending) => py.check_signals()?,
        }
    }
}
