//! Node data as the bindings keep it, and a name index keyed by Python's own string hash.
//!
//! Looking a name up in the core's index needs the name as UTF-8, which under the stable ABI
//! (abi3, Python 3.9) costs a new bytes object per call. Python caches every `str`'s hash, so
//! an index keyed by that hash, comparing the stored `str` objects, resolves a name from
//! Python without copying it. The stored `str` objects are also what queries hand back, so
//! returning 100k names allocates no new strings.

use dagron_core::{Dag, NodeId};
use hashbrown::HashTable;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// What the bindings store on each node.
#[derive(Debug)]
pub struct NodeData {
    pub name: Py<PyString>,
    pub hash: u64,
    pub payload: Option<Py<PyAny>>,
    pub metadata: Option<Py<PyAny>>,
}

impl NodeData {
    pub fn clone_ref(&self, py: Python<'_>) -> Self {
        NodeData {
            name: self.name.clone_ref(py),
            hash: self.hash,
            payload: self.payload.as_ref().map(|p| p.clone_ref(py)),
            metadata: self.metadata.as_ref().map(|m| m.clone_ref(py)),
        }
    }
}

/// Python's hash of a `str`, as the index's key.
pub fn py_hash(name: &Bound<'_, PyString>) -> PyResult<u64> {
    Ok(name.hash()? as u64)
}

/// One index entry. The address of the node's `str` sits beside the id so that the common
/// lookup, with the very object that was inserted, settles without touching the node.
#[derive(Debug, Clone, Copy)]
struct Entry {
    addr: usize,
    id: NodeId,
}

/// Name -> id, keyed by Python's string hash.
#[derive(Debug, Default)]
pub struct PyIndex {
    table: HashTable<Entry>,
}

impl PyIndex {
    /// The index of every live node of `dag`.
    pub fn build(dag: &Dag<NodeData>) -> Self {
        let mut index = PyIndex {
            table: HashTable::with_capacity(dag.node_count()),
        };
        for id in dag.node_ids() {
            index.insert(dag, id);
        }
        index
    }

    pub fn find(
        &self,
        dag: &Dag<NodeData>,
        name: &Bound<'_, PyString>,
        hash: u64,
    ) -> Option<NodeId> {
        let addr = name.as_ptr() as usize;
        self.table
            .find(hash, |e| {
                e.addr == addr
                    || dag
                        .data(e.id)
                        .name
                        .bind(name.py())
                        .as_any()
                        .eq(name)
                        .unwrap_or(false)
            })
            .map(|e| e.id)
    }

    pub fn insert(&mut self, dag: &Dag<NodeData>, id: NodeId) {
        let data = dag.data(id);
        let entry = Entry {
            addr: data.name.as_ptr() as usize,
            id,
        };
        self.table
            .insert_unique(data.hash, entry, |e| dag.data(e.id).hash);
    }

    pub fn remove(&mut self, hash: u64, id: NodeId) {
        if let Ok(entry) = self.table.find_entry(hash, |e| e.id == id) {
            entry.remove();
        }
    }

    pub fn reserve(&mut self, extra: usize, dag: &Dag<NodeData>) {
        self.table.reserve(extra, |e| dag.data(e.id).hash);
    }
}
