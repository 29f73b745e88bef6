//! PyO3 bindings: the `dagron._core` extension module. Conversion and error mapping only;
//! the graph logic lives in `dagron-core`.

use pyo3::prelude::*;

mod buffers;
mod builder;
mod convert;
mod errors;
mod graph;
mod identity_index;
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

/// The extension's Rust allocations (graph arrays, indexes, scratch space) come from mimalloc.
/// glibc hands a graph's large arrays back to the kernel when it is dropped, so the next graph
/// of that size faults every page in again (~1.7 µs a 4 KiB page here: ~5 ms of a 100k-node
/// build); mimalloc reuses them. Python's own objects are untouched: they keep CPython's
/// allocator. Measured in docs/benchmarks.md ("Graph, session 3").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
