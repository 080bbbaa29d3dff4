//! Keys and values: any bytes-like object, never `str`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView};
use simd_r_drive_ws_transport::MAX_VALUE_SIZE;

/// The bytes of a `bytes`, `bytearray` or `memoryview` argument, copied out so that the
/// GIL can be released while they travel.
pub struct BytesLike(pub Vec<u8>);

impl<'a, 'py> FromPyObject<'a, 'py> for BytesLike {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            return Ok(BytesLike(bytes.as_bytes().to_vec()));
        }
        if let Ok(array) = obj.cast::<PyByteArray>() {
            return Ok(BytesLike(array.to_vec()));
        }
        if obj.cast::<PyMemoryView>().is_ok() {
            let copy = obj.call_method0("tobytes")?;
            return Ok(BytesLike(copy.cast::<PyBytes>()?.as_bytes().to_vec()));
        }
        let type_name = obj.get_type().name()?;
        Err(PyTypeError::new_err(format!(
            "expected bytes, bytearray or memoryview, not {type_name}"
        )))
    }
}

/// A value the engine can store. It refuses an empty value, and a lone NULL byte is its
/// deletion marker; the server refuses a value over `MAX_VALUE_SIZE`. Checking here gives a
/// `ValueError` before anything is sent, instead of a server error after.
pub fn check_value(value: &[u8]) -> PyResult<()> {
    if value.len() > MAX_VALUE_SIZE {
        return Err(PyValueError::new_err(format!(
            "cannot store a value of {} bytes: the limit is MAX_VALUE_SIZE = {MAX_VALUE_SIZE} \
             bytes (64 MiB); split it across several keys",
            value.len()
        )));
    }
    match value {
        [] => Err(PyValueError::new_err(
            "cannot store an empty value: simd-r-drive refuses empty payloads",
        )),
        [0] => Err(PyValueError::new_err(
            "cannot store the value b'\\x00': simd-r-drive reserves a lone NULL byte as its \
             deletion marker",
        )),
        _ => Ok(()),
    }
}
