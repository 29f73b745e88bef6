//! The one place where core errors become Python exceptions.
//!
//! The exception classes live in Python (`dagron.errors`) so they carry attributes and pickle
//! cleanly across processes; this module raises them.

use dagron_core::DagError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pyo3::import_exception!(dagron.errors, CycleError);
pyo3::import_exception!(dagron.errors, DuplicateNodeError);
pyo3::import_exception!(dagron.errors, NodeNotFoundError);
pyo3::import_exception!(dagron.errors, DuplicateEdgeError);
pyo3::import_exception!(dagron.errors, EdgeNotFoundError);
pyo3::import_exception!(dagron.errors, InvalidGraphJSONError);

/// Converts a core error to the matching `dagron.errors` exception.
pub fn to_py(err: DagError) -> PyErr {
    let msg = err.to_string();
    match err {
        DagError::Cycle { path } => CycleError::new_err((path, msg)),
        DagError::DuplicateNode(name) => DuplicateNodeError::new_err((name, msg)),
        DagError::UnknownNode(name) => NodeNotFoundError::new_err((name, msg)),
        DagError::DuplicateEdge { from, to } => DuplicateEdgeError::new_err((from, to, msg)),
        DagError::UnknownEdge { from, to } => EdgeNotFoundError::new_err((from, to, msg)),
        DagError::InvalidJson(_) => InvalidGraphJSONError::new_err(msg),
        DagError::InvalidArgument(_) => PyValueError::new_err(msg),
    }
}

/// `result.py()?` turns a core `Result` into a `PyResult`.
pub trait IntoPyResult<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, DagError> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// `NodeNotFoundError` for a name given from Python.
#[cold]
pub fn node_not_found(name: &Bound<'_, PyAny>) -> PyErr {
    let shown = name.repr().map(|r| r.to_string()).unwrap_or_default();
    NodeNotFoundError::new_err((
        name.clone().unbind(),
        format!("node {shown} does not exist"),
    ))
}

/// `EdgeNotFoundError` for names given from Python.
pub fn edge_not_found(from: &Bound<'_, PyAny>, to: &Bound<'_, PyAny>) -> PyErr {
    let (f, t) = (
        from.repr().map(|r| r.to_string()).unwrap_or_default(),
        to.repr().map(|r| r.to_string()).unwrap_or_default(),
    );
    EdgeNotFoundError::new_err((
        from.clone().unbind(),
        to.clone().unbind(),
        format!("edge {f} -> {t} does not exist"),
    ))
}
