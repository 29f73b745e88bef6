//! A `str`'s UTF-8 text, without a copy where the interpreter allows it.
//!
//! Under the stable ABI for Python 3.9, PyO3 can only get a `str`'s text by encoding it into a
//! new `bytes` object. `PyUnicode_AsUTF8AndSize` returns the text in place (an ASCII string's
//! own data, or the UTF-8 form CPython caches on the object); it joined the stable ABI in 3.10
//! but every CPython 3 exports it with the same signature, so it is declared here. Windows
//! builds resolve symbols through `python3.dll`, which lists it only from 3.10, so they copy.

#![allow(unsafe_code)]

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::PyString;

#[cfg(not(windows))]
extern "C" {
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut pyo3::ffi::PyObject,
        size: *mut pyo3::ffi::Py_ssize_t,
    ) -> *const std::os::raw::c_char;
}

/// The text of `name`, borrowed from the `str` object when possible.
pub fn name_text<'a>(name: &'a Bound<'_, PyString>) -> PyResult<Cow<'a, str>> {
    held_name_text(name.py(), name.as_unbound())
}

/// The text of a `str` held as `Py` (a node's own name), borrowed from the object when
/// possible; `py` proves the GIL is held.
#[cfg(not(windows))]
pub fn held_name_text<'a>(py: Python<'_>, name: &'a Py<PyString>) -> PyResult<Cow<'a, str>> {
    let mut size: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: `name` is a live `str` (a `Py<PyString>` holds a reference to one) and `py`
    // means the GIL is held.
    let data = unsafe { PyUnicode_AsUTF8AndSize(name.as_ptr(), &mut size) };
    if data.is_null() {
        // Lone surrogates cannot be encoded; the Python error says so.
        return Err(PyErr::fetch(py));
    }
    // SAFETY: on success CPython returns `size` bytes of valid UTF-8 owned by the `str` object,
    // which cannot change (strings are immutable) and outlives the borrow `'a` of `name`.
    let text = unsafe {
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), size as usize);
        std::str::from_utf8_unchecked(bytes)
    };
    Ok(Cow::Borrowed(text))
}

/// The text of a `str` held as `Py` (copied: see the module comment).
#[cfg(windows)]
pub fn held_name_text<'a>(py: Python<'_>, name: &'a Py<PyString>) -> PyResult<Cow<'a, str>> {
    Ok(Cow::Owned(name.bind(py).to_cow()?.into_owned()))
}
