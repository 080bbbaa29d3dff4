//! The native half of the `simd_r_drive_ws_client` Python package.
//!
//! The package's `__init__.py` re-exports these classes and adds the pure-Python parts
//! (`batch_read_structured`), so that their logic is testable without a server.

mod bytes_like;
mod client;
mod errors;
mod hasher;
mod runtime;

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_native")]
fn native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<client::DataStoreWsClient>()?;
    module.add_class::<hasher::NamespaceHasher>()?;
    module.add("ServerError", module.py().get_type::<errors::ServerError>())?;
    module.add("MAX_VALUE_SIZE", simd_r_drive_ws_transport::MAX_VALUE_SIZE)?;
    Ok(())
}
