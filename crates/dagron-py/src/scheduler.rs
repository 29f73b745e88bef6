//! `ReadySet`: the executor's scheduler state, one call per event.

use dagron_core::ReadySet as CoreReadySet;
use pyo3::prelude::*;

use crate::errors::IntoPyResult;
use crate::graph::PyDag;

/// Scheduler state for one run; indices are positions in `dag.node_names()`.
#[pyclass(module = "dagron._core", name = "ReadySet")]
#[derive(Debug)]
pub struct PyReadySet {
    inner: CoreReadySet,
}

#[pymethods]
impl PyReadySet {
    #[new]
    #[pyo3(signature = (dag, costs=None))]
    fn new(dag: PyRef<'_, PyDag>, costs: Option<Vec<f64>>) -> PyResult<Self> {
        let inner = CoreReadySet::new(dag.core(), costs.as_deref()).py()?;
        Ok(PyReadySet { inner })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    #[getter]
    fn ready_count(&self) -> usize {
        self.inner.ready_count()
    }

    #[getter]
    fn running_count(&self) -> usize {
        self.inner.running_count()
    }

    fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    fn pop(&mut self, max: usize) -> Vec<u32> {
        self.inner.pop(max)
    }

    fn complete(&mut self, index: u32) -> PyResult<Vec<u32>> {
        self.inner.complete(index).py()
    }

    fn fail(&mut self, index: u32) -> PyResult<Vec<u32>> {
        self.inner.fail(index).py()
    }

    fn requeue(&mut self, index: u32) -> PyResult<()> {
        self.inner.requeue(index).py()
    }

    fn drop_unstarted(&mut self) -> Vec<u32> {
        self.inner.drop_unstarted()
    }
}
