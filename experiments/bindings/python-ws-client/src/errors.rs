//! How transport errors become Python exceptions.

use pyo3::create_exception;
use pyo3::exceptions::{PyConnectionError, PyRuntimeError, PyTimeoutError};
use pyo3::prelude::*;
use simd_r_drive_ws_transport::SEND_QUEUE_LIMIT;
use std::io;

create_exception!(
    simd_r_drive_ws_client,
    ServerError,
    PyRuntimeError,
    "The server ran the call and reported a failure."
);

/// A failed call: the server's own failures become `ServerError`, everything else means
/// the connection is unusable and becomes `ConnectionError`.
pub fn call_failed(error: io::Error, address: &str) -> PyErr {
    match simd_r_drive_ws_transport::ServerError::find(&error) {
        Some(reason) => ServerError::new_err(reason.message.clone()),
        None => PyConnectionError::new_err(format!("{address}: {error}")),
    }
}

/// Any failure to connect is a `ConnectionError`; the message says why.
pub fn connect_failed(error: io::Error) -> PyErr {
    PyConnectionError::new_err(error.to_string())
}

/// A call that got no answer within `call_timeout`; the connection itself may be fine.
/// `unsent` bytes of requests were still queued: a server that does not read them leaves
/// calls waiting for room in the queue, and the message says so.
pub fn call_timed_out(address: &str, seconds: f64, unsent: usize) -> PyErr {
    let mut message = format!("no answer from {address} within {seconds} s (call_timeout)");
    if unsent > 0 {
        message += &format!(
            "; {unsent} bytes of requests were still waiting to be sent (at most \
             {SEND_QUEUE_LIMIT}): the server is slow to read them, or stopped"
        );
    }
    PyTimeoutError::new_err(message)
}

/// A call on a client inherited across `fork()`: its connection is served by threads that
/// only exist in the parent.
pub fn forked(parent: u32) -> PyErr {
    PyConnectionError::new_err(format!(
        "this client was connected in process {parent}, before a fork(); \
         create a new client in the child"
    ))
}
