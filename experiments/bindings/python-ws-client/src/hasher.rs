//! `NamespaceHasher`, straight from the storage engine so that keys agree with Rust code.

use crate::bytes_like::BytesLike;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Builds 16-byte keys: the XXH3 hash of a prefix, then the XXH3 hash of the key.
#[pyclass(frozen, module = "simd_r_drive_ws_client")]
pub struct NamespaceHasher {
    inner: simd_r_drive::utils::NamespaceHasher,
}

#[pymethods]
impl NamespaceHasher {
    #[new]
    fn new(prefix: BytesLike) -> Self {
        NamespaceHasher {
            inner: simd_r_drive::utils::NamespaceHasher::new(&prefix.0),
        }
    }

    fn namespace<'py>(&self, py: Python<'py>, key: BytesLike) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.namespace(&key.0))
    }
}
