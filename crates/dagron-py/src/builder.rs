//! `DAGBuilder`: fluent construction, validated once at `build()`.

use pyo3::prelude::*;
use pyo3::types::{PyAny, PyList};

use crate::graph::{NodeSpec, PyDag};

/// Collects nodes and edges; `build()` checks everything at once and returns a `DAG`.
#[pyclass(module = "dagron._core", name = "DAGBuilder")]
#[derive(Debug, Default)]
pub struct PyDagBuilder {
    nodes: Vec<Py<PyAny>>,
    edges: Vec<Py<PyAny>>,
}

#[pymethods]
impl PyDagBuilder {
    #[new]
    fn py_new() -> Self {
        Self::default()
    }

    #[pyo3(signature = (name, payload=None, metadata=None))]
    fn add_node<'py>(
        mut slf: PyRefMut<'py, Self>,
        name: Bound<'py, PyAny>,
        payload: Option<Bound<'py, PyAny>>,
        metadata: Option<Bound<'py, PyAny>>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let py = slf.py();
        let spec = (name, payload, metadata)
            .into_pyobject(py)?
            .into_any()
            .unbind();
        slf.nodes.push(spec);
        Ok(slf)
    }

    fn add_nodes<'py>(
        mut slf: PyRefMut<'py, Self>,
        nodes: Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        // Collected first, so an iterable that fails halfway adds nothing.
        let items = nodes
            .try_iter()?
            .map(|i| i.map(Bound::unbind))
            .collect::<PyResult<Vec<_>>>()?;
        slf.nodes.extend(items);
        Ok(slf)
    }

    #[pyo3(signature = (from_node, to_node, weight=None, label=None))]
    fn add_edge<'py>(
        mut slf: PyRefMut<'py, Self>,
        from_node: Bound<'py, PyAny>,
        to_node: Bound<'py, PyAny>,
        weight: Option<f64>,
        label: Option<String>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let py = slf.py();
        let spec = (from_node, to_node, weight, label)
            .into_pyobject(py)?
            .into_any()
            .unbind();
        slf.edges.push(spec);
        Ok(slf)
    }

    fn add_edges<'py>(
        mut slf: PyRefMut<'py, Self>,
        edges: Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let items = edges
            .try_iter()?
            .map(|i| i.map(Bound::unbind))
            .collect::<PyResult<Vec<_>>>()?;
        slf.edges.extend(items);
        Ok(slf)
    }

    /// Validates every node and edge in one pass and returns the DAG (the builder can be
    /// built again).
    fn build(&self, py: Python<'_>) -> PyResult<PyDag> {
        let mut dag = PyDag::empty();
        let specs = self
            .nodes
            .iter()
            .map(|n| NodeSpec::parse(n.bind(py).clone()));
        dag.insert_nodes(specs, self.nodes.len())?;
        let edges = PyList::new(py, self.edges.iter().map(|e| e.bind(py)))?;
        dag.insert_edges(edges.as_any())?;
        Ok(dag)
    }
}
