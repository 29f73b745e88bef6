//! `DAG`: the Python face of `dagron_core::Dag`.

use dagron_core::export::{self, NodeExtras};
use dagron_core::{dag_algo, traversal, Dag, EdgeAttrs, NodeId};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::builder::PyDagBuilder;
use crate::convert::{from_json_value, to_json_value};
use crate::errors::{edge_not_found, node_not_found, IntoPyResult};
use crate::identity_index::IdentityIndex;
use crate::names::NodeData;
use crate::utf8::held_name_text;

/// A directed acyclic graph of named nodes, stored in Rust.
#[pyclass(module = "dagron._core", name = "DAG")]
#[derive(Debug)]
pub struct PyDag {
    dag: Dag<NodeData>,
    index: IdentityIndex,
}

/// A node as given to `add_nodes`: a name, or `(name, payload[, metadata])`.
#[derive(Debug)]
pub struct NodeSpec<'py> {
    name: Bound<'py, PyString>,
    payload: Option<Py<PyAny>>,
    metadata: Option<Py<PyAny>>,
}

fn as_name<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    obj.cast::<PyString>().cloned().map_err(|_| {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!("node names must be str, got {ty}"))
    })
}

fn some_unless_none(obj: Option<Bound<'_, PyAny>>) -> Option<Py<PyAny>> {
    obj.filter(|o| !o.is_none()).map(Bound::unbind)
}

impl<'py> NodeSpec<'py> {
    #[inline(always)]
    pub fn parse(item: Bound<'py, PyAny>) -> PyResult<Self> {
        let item = match item.cast_into::<PyString>() {
            Ok(name) => {
                return Ok(NodeSpec {
                    name,
                    payload: None,
                    metadata: None,
                })
            }
            Err(e) => e.into_inner(),
        };
        let tuple = item.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err("a node is a name or a (name, payload[, metadata]) tuple")
        })?;
        if !(1..=3).contains(&tuple.len()) {
            return Err(PyTypeError::new_err(
                "a node is a name or a (name, payload[, metadata]) tuple",
            ));
        }
        Ok(NodeSpec {
            name: as_name(&tuple.get_item(0)?)?,
            payload: some_unless_none(tuple.get_item(1).ok()),
            metadata: some_unless_none(tuple.get_item(2).ok()),
        })
    }
}

/// Asks the CPU to fetch the start of the object at `obj` (its header and first fields).
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch_object(obj: *mut pyo3::ffi::PyObject) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE, the instruction's only requirement, is part of every x86-64 CPU, and a
        // prefetch reads nothing the program sees (it cannot fault either).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(obj.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = obj;
}

fn edge_attrs(weight: Option<f64>, label: Option<String>) -> PyResult<Option<EdgeAttrs>> {
    if let Some(w) = weight.filter(|w| !w.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "edge weights must be finite numbers, got {w}"
        )));
    }
    Ok((weight.is_some() || label.is_some()).then_some(EdgeAttrs { weight, label }))
}

impl PyDag {
    fn wrap(dag: Dag<NodeData>) -> Self {
        let index = IdentityIndex::build(&dag);
        PyDag { dag, index }
    }

    pub fn empty() -> Self {
        PyDag {
            dag: Dag::new(),
            index: IdentityIndex::default(),
        }
    }

    pub fn core(&self) -> &Dag<NodeData> {
        &self.dag
    }

    #[inline]
    fn lookup(&self, name: &Bound<'_, PyAny>) -> PyResult<Option<NodeId>> {
        self.index.find(&self.dag, name)
    }

    #[inline]
    fn resolve(&self, name: &Bound<'_, PyAny>) -> PyResult<NodeId> {
        self.lookup(name)?.ok_or_else(|| node_not_found(name))
    }

    fn names<'py, I>(&self, py: Python<'py>, ids: I) -> PyResult<Bound<'py, PyList>>
    where
        I: IntoIterator<Item = NodeId>,
        I::IntoIter: ExactSizeIterator,
    {
        PyList::new(
            py,
            ids.into_iter().map(|id| self.dag.data(id).name.bind(py)),
        )
    }

    fn live_ids(&self) -> Vec<NodeId> {
        self.dag.node_ids().collect()
    }

    /// Adds nodes as they are parsed; on the first error nothing of the batch is kept. The
    /// names are filed in the core's index together at the end (see `NodeBatch`), and a
    /// parse error is raised after any duplicate name before it, so errors come in order.
    /// The identity index files the batch meanwhile, on a second thread for a large batch.
    pub fn insert_nodes<'py, I>(&mut self, specs: I, size_hint: usize) -> PyResult<()>
    where
        I: IntoIterator<Item = PyResult<NodeSpec<'py>>>,
    {
        let first = self.dag.id_bound() as NodeId;
        let mut batch = self.dag.node_batch(size_hint);
        let pushed = || -> PyResult<()> {
            for spec in specs {
                let spec = match spec {
                    Ok(spec) => spec,
                    Err(e) => {
                        batch.index().py()?;
                        return Err(e);
                    }
                };
                let py = spec.name.py();
                let data = NodeData::new(spec.name.unbind(), spec.payload, spec.metadata);
                batch
                    .push_named_by(data, |d| held_name_text(py, &d.name))?
                    .py()?;
            }
            Ok(())
        };
        pushed()?;
        let index = &mut self.index;
        let committed = batch.commit_alongside(|first, values| index.insert_values(first, values));
        if committed.is_err() {
            self.index.forget_from(first);
        }
        committed.py()
    }

    /// Parses an edge given to `add_edges`: `(from, to[, weight[, label]])`. The endpoints
    /// are resolved before anything runs Python code (a weight's `__float__`), and the tuple
    /// is held while anything does, so `item` may be a borrowed list item (see
    /// `parse_list_edges`).
    #[inline(always)]
    fn parse_edge(&self, item: &Bound<'_, PyAny>) -> PyResult<(NodeId, NodeId, Option<EdgeAttrs>)> {
        let tuple = item.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err("an edge is a (from, to[, weight[, label]]) tuple")
        })?;
        let n = tuple.len();
        if !(2..=4).contains(&n) {
            return Err(PyTypeError::new_err(
                "an edge is a (from, to[, weight[, label]]) tuple",
            ));
        }
        let (a, b) = (tuple.get_borrowed_item(0)?, tuple.get_borrowed_item(1)?);
        let from = self.resolve(&a)?;
        let to = self.resolve(&b)?;
        let attrs = if n > 2 {
            Self::parse_edge_attrs(tuple.clone(), n)?
        } else {
            None
        };
        Ok((from, to, attrs))
    }

    /// The weight and label of an edge tuple of `n` items (3 or 4), held while extracting.
    fn parse_edge_attrs(tuple: Bound<'_, PyTuple>, n: usize) -> PyResult<Option<EdgeAttrs>> {
        let weight: Option<f64> = tuple.get_borrowed_item(2)?.extract()?;
        let label: Option<String> = if n > 3 {
            tuple.get_borrowed_item(3)?.extract()?
        } else {
            None
        };
        edge_attrs(weight, label)
    }

    /// Adds edges from an iterable atomically.
    pub fn insert_edges(&mut self, edges: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut pairs = Vec::with_capacity(edges.len().unwrap_or(0));
        let mut attrs = Vec::new();
        if let Ok(list) = edges.cast_exact::<PyList>() {
            self.parse_list_edges(list, &mut pairs, &mut attrs)?;
        } else {
            for item in edges.try_iter()? {
                let (from, to, a) = self.parse_edge(&item?)?;
                if let Some(a) = a {
                    attrs.push((pairs.len(), a));
                }
                pairs.push((from, to));
            }
        }
        self.dag.add_edge_list(&pairs, attrs).py()
    }

    /// `insert_edges` for a list: its items are read in place (borrowed, so no reference
    /// count is written to each tuple and dropped again), and the tuple `LIST_AHEAD` items on
    /// is prefetched. Edge tuples are often scattered over memory (a shuffled list), and a
    /// cache miss per tuple, taken one at a time, was the largest cost of a random graph's
    /// `add_edges`. A list that Python code shrinks meanwhile (a weight's `__float__` can
    /// run any) ends the loop where it ends, as iterating it would.
    #[allow(unsafe_code)]
    fn parse_list_edges(
        &self,
        list: &Bound<'_, PyList>,
        pairs: &mut Vec<(NodeId, NodeId)>,
        attrs: &mut Vec<(usize, EdgeAttrs)>,
    ) -> PyResult<()> {
        const LIST_AHEAD: usize = 8;
        let py = list.py();
        let first_len = list.len();
        for i in 0.. {
            if i + LIST_AHEAD < first_len {
                // SAFETY: the GIL is held and `list` is a list; the result is borrowed and
                // only prefetched, never read (NULL, with IndexError set, if the list shrank).
                let ahead =
                    unsafe { pyo3::ffi::PyList_GetItem(list.as_ptr(), (i + LIST_AHEAD) as _) };
                if ahead.is_null() {
                    // SAFETY: as above; clears the IndexError just raised.
                    unsafe { pyo3::ffi::PyErr_Clear() };
                } else {
                    prefetch_object(ahead);
                }
            }
            // SAFETY: as above.
            let item = unsafe { pyo3::ffi::PyList_GetItem(list.as_ptr(), i as _) };
            if item.is_null() {
                // SAFETY: as above.
                unsafe { pyo3::ffi::PyErr_Clear() };
                break;
            }
            // SAFETY: `item` is a live object, the list's; `parse_edge` reads it only before
            // any Python code runs, and holds a reference of its own from then on.
            let item = unsafe { Borrowed::from_ptr(py, item) };
            let (from, to, a) = self.parse_edge(&item)?;
            if let Some(a) = a {
                attrs.push((pairs.len(), a));
            }
            pairs.push((from, to));
        }
        Ok(())
    }

    fn costs_by_id(&self, costs: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<f64>>> {
        let Some(costs) = costs.filter(|c| !c.is_none()) else {
            return Ok(None);
        };
        let mut by_id = vec![1.0; self.dag.id_bound()];
        for item in costs.call_method0("items")?.try_iter()? {
            let (name, cost): (Bound<'_, PyAny>, f64) = item?.extract()?;
            by_id[self.resolve(&name)? as usize] = cost;
        }
        Ok(Some(by_id))
    }
}

#[pymethods]
impl PyDag {
    #[new]
    fn py_new() -> Self {
        Self::empty()
    }

    /// A fluent builder; `build()` validates everything at once.
    #[staticmethod]
    fn builder() -> PyDagBuilder {
        PyDagBuilder::default()
    }

    /// Reads a document written by `to_json`.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        let mut failure = None;
        let mut convert = |v: Option<serde_json::Value>| match v {
            Some(serde_json::Value::Null) | None => None,
            Some(v) => match from_json_value(py, &v) {
                Ok(obj) => Some(obj),
                Err(e) => {
                    failure.get_or_insert(e);
                    None
                }
            },
        };
        let dag = export::from_json_with(text, |name, extras| {
            let name = PyString::new(py, name);
            NodeData::new(
                name.unbind(),
                convert(extras.payload),
                convert(extras.metadata),
            )
        })
        .py()?;
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(Self::wrap(dag))
    }

    /// Rebuilds a graph from `(name, payload, metadata)` and `(from, to, weight, label)`
    /// tuples; used by pickling.
    #[staticmethod]
    fn _from_parts(nodes: &Bound<'_, PyAny>, edges: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut dag = Self::empty();
        dag.add_nodes(nodes)?;
        dag.insert_edges(edges)?;
        Ok(dag)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let this = slf.borrow();
        let none = || py.None();
        let nodes = PyList::new(
            py,
            this.live_ids().into_iter().map(|id| {
                let d = this.dag.data(id);
                (
                    d.name.clone_ref(py),
                    d.payload().map_or_else(none, |p| p.clone_ref(py)),
                    d.metadata().map_or_else(none, |m| m.clone_ref(py)),
                )
            }),
        )?;
        let edges = PyList::new(
            py,
            this.dag
                .edge_ids()
                .collect::<Vec<_>>()
                .into_iter()
                .map(|(f, t)| {
                    let a = this.dag.edge_attrs(f, t);
                    (
                        this.dag.data(f).name.clone_ref(py),
                        this.dag.data(t).name.clone_ref(py),
                        a.and_then(|a| a.weight),
                        a.and_then(|a| a.label.clone()),
                    )
                }),
        )?;
        let rebuild = slf.get_type().getattr("_from_parts")?;
        PyTuple::new(
            py,
            [
                rebuild.into_any(),
                PyTuple::new(py, [nodes.into_any(), edges.into_any()])?.into_any(),
            ],
        )
    }

    #[pyo3(signature = (name, payload=None, metadata=None))]
    fn add_node(
        &mut self,
        name: &Bound<'_, PyAny>,
        payload: Option<Bound<'_, PyAny>>,
        metadata: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let spec = NodeSpec {
            name: as_name(name)?,
            payload: some_unless_none(payload),
            metadata: some_unless_none(metadata),
        };
        self.insert_nodes([Ok(spec)], 1)
    }

    /// Adds names or `(name, payload[, metadata])` tuples; all or nothing.
    fn add_nodes(&mut self, nodes: &Bound<'_, PyAny>) -> PyResult<()> {
        let size_hint = nodes.len().unwrap_or(0);
        let specs = nodes.try_iter()?.map(|item| item.and_then(NodeSpec::parse));
        self.insert_nodes(specs, size_hint)
    }

    #[pyo3(signature = (from_node, to_node, weight=None, label=None))]
    fn add_edge(
        &mut self,
        from_node: &Bound<'_, PyAny>,
        to_node: &Bound<'_, PyAny>,
        weight: Option<f64>,
        label: Option<String>,
    ) -> PyResult<()> {
        let (f, t) = (self.resolve(from_node)?, self.resolve(to_node)?);
        self.dag.add_edge(f, t, edge_attrs(weight, label)?).py()
    }

    /// Adds `(from, to[, weight[, label]])` tuples; all or nothing.
    fn add_edges(&mut self, edges: &Bound<'_, PyAny>) -> PyResult<()> {
        self.insert_edges(edges)
    }

    fn remove_node(&mut self, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = self.resolve(name)?;
        self.index.remove(&self.dag, id);
        self.dag.remove_node(id).py()?;
        Ok(())
    }

    fn remove_edge(
        &mut self,
        from_node: &Bound<'_, PyAny>,
        to_node: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (f, t) = (self.resolve(from_node)?, self.resolve(to_node)?);
        if !self.dag.has_edge(f, t) {
            return Err(edge_not_found(from_node, to_node));
        }
        self.dag.remove_edge(f, t).py()
    }

    fn node_count(&self) -> usize {
        self.dag.node_count()
    }

    fn edge_count(&self) -> usize {
        self.dag.edge_count()
    }

    fn has_node(&self, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.lookup(name)?.is_some())
    }

    fn has_edge(&self, from_node: &Bound<'_, PyAny>, to_node: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(match (self.lookup(from_node)?, self.lookup(to_node)?) {
            (Some(f), Some(t)) => self.dag.has_edge(f, t),
            _ => false,
        })
    }

    /// Node names in insertion order.
    fn nodes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.names(py, self.live_ids())
    }

    /// Node names in insertion order (same as `nodes()`).
    fn node_names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.names(py, self.live_ids())
    }

    /// `(from, to)` pairs, grouped by source in insertion order.
    fn edges<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(
            py,
            self.dag
                .edge_ids()
                .collect::<Vec<_>>()
                .into_iter()
                .map(|(f, t)| {
                    (
                        self.dag.data(f).name.bind(py),
                        self.dag.data(t).name.bind(py),
                    )
                }),
        )
    }

    fn edge_weight(
        &self,
        from_node: &Bound<'_, PyAny>,
        to_node: &Bound<'_, PyAny>,
    ) -> PyResult<Option<f64>> {
        let (f, t) = (self.resolve(from_node)?, self.resolve(to_node)?);
        if !self.dag.has_edge(f, t) {
            return Err(edge_not_found(from_node, to_node));
        }
        Ok(self.dag.edge_attrs(f, t).and_then(|a| a.weight))
    }

    fn edge_label(
        &self,
        from_node: &Bound<'_, PyAny>,
        to_node: &Bound<'_, PyAny>,
    ) -> PyResult<Option<String>> {
        let (f, t) = (self.resolve(from_node)?, self.resolve(to_node)?);
        if !self.dag.has_edge(f, t) {
            return Err(edge_not_found(from_node, to_node));
        }
        Ok(self.dag.edge_attrs(f, t).and_then(|a| a.label.clone()))
    }

    fn predecessors<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let id = self.resolve(name)?;
        self.names(py, self.dag.predecessors(id).iter().copied())
    }

    fn successors<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let id = self.resolve(name)?;
        self.names(py, self.dag.successors(id).iter().copied())
    }

    /// Every node with a path to `name`, in insertion order.
    fn ancestors<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let id = self.resolve(name)?;
        let dag = &self.dag;
        let ids = py.detach(|| traversal::ancestors(dag, id));
        self.names(py, ids)
    }

    /// Every node reachable from `name`, in insertion order.
    fn descendants<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let id = self.resolve(name)?;
        let dag = &self.dag;
        let ids = py.detach(|| traversal::descendants(dag, id));
        self.names(py, ids)
    }

    fn in_degree(&self, name: &Bound<'_, PyAny>) -> PyResult<usize> {
        Ok(self.dag.in_degree(self.resolve(name)?))
    }

    fn out_degree(&self, name: &Bound<'_, PyAny>) -> PyResult<usize> {
        Ok(self.dag.out_degree(self.resolve(name)?))
    }

    /// Nodes without predecessors, in insertion order.
    fn roots<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.names(
            py,
            self.dag
                .node_ids()
                .filter(|&i| self.dag.in_degree(i) == 0)
                .collect::<Vec<_>>(),
        )
    }

    /// Nodes without successors, in insertion order.
    fn leaves<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.names(
            py,
            self.dag
                .node_ids()
                .filter(|&i| self.dag.out_degree(i) == 0)
                .collect::<Vec<_>>(),
        )
    }

    fn get_payload(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let id = self.resolve(name)?;
        Ok(self
            .dag
            .data(id)
            .payload()
            .map_or_else(|| py.None(), |p| p.clone_ref(py)))
    }

    fn set_payload(
        &mut self,
        name: &Bound<'_, PyAny>,
        payload: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let id = self.resolve(name)?;
        self.dag.data_mut(id).set_payload(some_unless_none(payload));
        Ok(())
    }

    fn get_metadata(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let id = self.resolve(name)?;
        Ok(self
            .dag
            .data(id)
            .metadata()
            .map_or_else(|| py.None(), |m| m.clone_ref(py)))
    }

    fn set_metadata(
        &mut self,
        name: &Bound<'_, PyAny>,
        metadata: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let id = self.resolve(name)?;
        self.dag
            .data_mut(id)
            .set_metadata(some_unless_none(metadata));
        Ok(())
    }

    /// A new DAG of the given nodes and the edges among them (payloads and metadata shared).
    fn subgraph(&self, py: Python<'_>, names: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut ids = Vec::new();
        for name in names.try_iter()? {
            ids.push(self.resolve(&name?)?);
        }
        let sub = self.dag.subgraph_map(&ids, |_, d| d.clone_ref(py)).py()?;
        Ok(Self::wrap(sub))
    }

    /// A copy of the graph (payload and metadata objects are shared, not copied).
    fn copy(&self, py: Python<'_>) -> PyResult<Self> {
        let ids: Vec<NodeId> = self.dag.node_ids().collect();
        let sub = self.dag.subgraph_map(&ids, |_, d| d.clone_ref(py)).py()?;
        Ok(Self::wrap(sub))
    }

    /// Shape figures: counts, depth, width, degrees, density.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dag = &self.dag;
        let levels = py.detach(|| dag_algo::topological_levels(dag));
        let ids = || dag.node_ids();
        let n = dag.node_count();
        let stats = PyDict::new(py);
        stats.set_item("nodes", n)?;
        stats.set_item("edges", dag.edge_count())?;
        stats.set_item("roots", ids().filter(|&i| dag.in_degree(i) == 0).count())?;
        stats.set_item("leaves", ids().filter(|&i| dag.out_degree(i) == 0).count())?;
        stats.set_item("depth", levels.len())?;
        stats.set_item("width", levels.iter().map(Vec::len).max().unwrap_or(0))?;
        stats.set_item(
            "max_in_degree",
            ids().map(|i| dag.in_degree(i)).max().unwrap_or(0),
        )?;
        stats.set_item(
            "max_out_degree",
            ids().map(|i| dag.out_degree(i)).max().unwrap_or(0),
        )?;
        let density = if n > 1 {
            dag.edge_count() as f64 / (n as f64 * (n as f64 - 1.0) / 2.0)
        } else {
            0.0
        };
        stats.set_item("density", density)?;
        Ok(stats)
    }

    /// Kahn's order; among nodes ready together, the one inserted first comes first.
    fn topological_sort<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let dag = &self.dag;
        let order = py.detach(|| dag_algo::topological_sort(dag));
        self.names(py, order)
    }

    /// Nodes grouped by longest-path depth from the roots.
    fn topological_levels<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let dag = &self.dag;
        let levels = py.detach(|| dag_algo::Levels::of(dag));
        let lists = (0..levels.len())
            .map(|l| self.names(py, levels.level(l).iter().copied()))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, lists)
    }

    /// Re-checks acyclicity with one pass over the graph (always True for a DAG).
    fn is_acyclic(&self, py: Python<'_>) -> bool {
        let dag = &self.dag;
        py.detach(|| dag_algo::is_acyclic(dag))
    }

    /// The heaviest root-to-leaf path; `costs` maps names to non-negative costs (others 1).
    #[pyo3(signature = (costs=None))]
    fn critical_path<'py>(
        &self,
        py: Python<'py>,
        costs: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let by_id = self.costs_by_id(costs)?;
        let (path, _) = dag_algo::critical_path(&self.dag, by_id.as_deref()).py()?;
        self.names(py, path)
    }

    /// The total cost of `critical_path(costs)`.
    #[pyo3(signature = (costs=None))]
    fn critical_path_length(&self, costs: Option<&Bound<'_, PyAny>>) -> PyResult<f64> {
        let by_id = self.costs_by_id(costs)?;
        Ok(dag_algo::critical_path(&self.dag, by_id.as_deref()).py()?.1)
    }

    /// The versioned dagron JSON document (see docs/graph-json.md).
    fn to_json(&self, py: Python<'_>) -> String {
        export::to_json(&self.dag, |_, d| NodeExtras {
            payload: d.payload().and_then(|p| to_json_value(p.bind(py))),
            metadata: d.metadata().and_then(|m| to_json_value(m.bind(py))),
        })
    }

    fn to_dot(&self, py: Python<'_>) -> String {
        let dag = &self.dag;
        py.detach(|| export::to_dot(dag))
    }

    fn to_mermaid(&self, py: Python<'_>) -> String {
        let dag = &self.dag;
        py.detach(|| export::to_mermaid(dag))
    }

    fn __len__(&self) -> usize {
        self.dag.node_count()
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.lookup(name)?.is_some())
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.names(py, self.live_ids())?.try_iter()?.into_any())
    }

    fn __repr__(&self) -> String {
        format!(
            "DAG(nodes={}, edges={})",
            self.dag.node_count(),
            self.dag.edge_count()
        )
    }
}
