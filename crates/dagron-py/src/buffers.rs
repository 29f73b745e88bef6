//! Large `bytes` objects to be filled by one copy, backed by huge pages.
//!
//! A worker's 100 MB `bytes` result reaches the coordinator as a buffer (a shared-memory
//! mapping or a ZeroMQ frame) and must become a `bytes` object: one copy into a fresh
//! allocation. With `bytes(view)` most of that time is page faults, one per 4 KiB page of
//! the new object; asking for transparent huge pages before the first touch makes them 512
//! times fewer (100 MB: ~40 ms instead of ~70-75 ms on the 2-core test machine).
//!
//! The copy itself is Python's (`view[:] = source`): the buffer protocol is not part of the
//! stable ABI this module is built for (abi3, Python 3.9), a memoryview over raw memory is.
// A bytes object is writable only while it is new and unshared, which takes the C API.
#![allow(unsafe_code)]

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// `PyBUF_WRITE` from CPython's `object.h`: the memoryview may be written to.
const PYBUF_WRITE: std::os::raw::c_int = 0x200;

/// A new `bytes` object of `size` bytes, not yet filled, and a writable memoryview of its
/// data. The caller must fill all of it through the view and release the view before
/// anyone else sees the object (the view does not keep the object alive).
#[pyfunction]
pub fn bytes_to_fill(
    py: Python<'_>,
    size: usize,
) -> PyResult<(Bound<'_, PyBytes>, Bound<'_, PyAny>)> {
    let len =
        ffi::Py_ssize_t::try_from(size).map_err(|_| PyValueError::new_err("size is too large"))?;
    // SAFETY: with a NULL source, PyBytes_FromStringAndSize returns a new bytes object of
    // `len` uninitialised bytes (or NULL with an exception set, turned into the Err).
    let bytes = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromStringAndSize(std::ptr::null(), len))?
            .cast_into_unchecked::<PyBytes>()
    };
    // SAFETY: `bytes` is a bytes object, so this is its `len`-byte data area.
    let data = unsafe { ffi::PyBytes_AsString(bytes.as_ptr()) };
    advise_huge_pages(data as usize, size);
    // SAFETY: `data` points to `len` bytes owned by `bytes`, which the caller keeps alive
    // while it writes through the view (see the doc comment).
    let view = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromMemory(data, len, PYBUF_WRITE))?
    };
    Ok((bytes, view))
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(addr: usize, len: usize) {
    const HUGE_PAGE: usize = 2 << 20;
    let start = (addr + HUGE_PAGE - 1) & !(HUGE_PAGE - 1);
    let end = (addr + len) & !(HUGE_PAGE - 1);
    if end > start {
        // SAFETY: the whole-page range lies inside the new object's allocation; the advice
        // only changes how its untouched pages get backed. An error (no THP) is harmless.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_addr: usize, _len: usize) {}
