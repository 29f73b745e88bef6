//! PyO3 bindings: the `dagron._core` extension module. Conversion and error mapping only;
//! the graph logic lives in `dagron-core`.

use pyo3::prelude::*;

mod buffers;
mod builder;
mod convert;
mod errors;
mod graph;
mod names;
mod scheduler;
mod utf8;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<graph::PyDag>()?;
    m.add_class::<builder::PyDagBuilder>()?;
    m.add_class::<scheduler::PyReadySet>()?;
    m.add_function(wrap_pyfunction!(buffers::bytes_to_fill, m)?)?;
    Ok(())
}
