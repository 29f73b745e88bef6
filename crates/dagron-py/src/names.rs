//! Node data as the bindings keep it, and a name index keyed by the identity of the `str`
//! objects the graph holds.
//!
//! Every node keeps a strong reference to the `str` it was named with, so while the node lives
//! no other object can have that address: finding the address in the index proves the name,
//! without reading the string (or even its type) at all. Names given as the very objects the
//! nodes were created from, the common case (`add_edges` over the list that `add_nodes` took,
//! names handed back by queries, interned literals), resolve with one probe of a small table.
//! Any other `str` falls back to the core's own index by UTF-8 text.

use dagron_core::{Dag, NodeId};
use hashbrown::HashTable;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::utf8::name_text;

/// What the bindings store on each node: the name object, and payload and metadata in a box
/// of their own, since most nodes have neither (16 bytes a node instead of 32).
#[derive(Debug)]
pub struct NodeData {
    pub name: Py<PyString>,
    extras: Option<Box<Extras>>,
}

#[derive(Debug)]
struct Extras {
    payload: Option<Py<PyAny>>,
    metadata: Option<Py<PyAny>>,
}

impl Extras {
    fn boxed(payload: Option<Py<PyAny>>, metadata: Option<Py<PyAny>>) -> Option<Box<Self>> {
        (payload.is_some() || metadata.is_some()).then(|| Box::new(Extras { payload, metadata }))
    }
}

impl NodeData {
    pub fn new(
        name: Py<PyString>,
        payload: Option<Py<PyAny>>,
        metadata: Option<Py<PyAny>>,
    ) -> Self {
        NodeData {
            name,
            extras: Extras::boxed(payload, metadata),
        }
    }

    pub fn payload(&self) -> Option<&Py<PyAny>> {
        self.extras.as_ref().and_then(|e| e.payload.as_ref())
    }

    pub fn metadata(&self) -> Option<&Py<PyAny>> {
        self.extras.as_ref().and_then(|e| e.metadata.as_ref())
    }

    pub fn set_payload(&mut self, payload: Option<Py<PyAny>>) {
        let metadata = self.extras.take().and_then(|e| e.metadata);
        self.extras = Extras::boxed(payload, metadata);
    }

    pub fn set_metadata(&mut self, metadata: Option<Py<PyAny>>) {
        let payload = self.extras.take().and_then(|e| e.payload);
        self.extras = Extras::boxed(payload, metadata);
    }

    pub fn clone_ref(&self, py: Python<'_>) -> Self {
        NodeData::new(
            self.name.clone_ref(py),
            self.payload().map(|p| p.clone_ref(py)),
            self.metadata().map(|m| m.clone_ref(py)),
        )
    }
}

/// One index entry: the address of a node's `str` and the node's id.
#[derive(Debug, Clone, Copy)]
struct Entry {
    addr: usize,
    id: NodeId,
}

/// The table's hash of an object address. hashbrown picks a bucket by the low bits and keeps
/// the top 7 as a tag. Low bits: the address itself (over 16, CPython's allocation
/// granularity), so names allocated one after another, as a list of names usually is, land
/// in neighbouring buckets and building or scanning the index walks memory in order instead
/// of missing the cache once per name. Top bits: a mix of the whole address (the MurmurHash3
/// finaliser's first steps), so tags tell apart addresses that share a bucket group.
#[inline]
fn address_hash(addr: usize) -> u64 {
    let a = addr as u64;
    let mut m = a ^ (a >> 33);
    m = m.wrapping_mul(0xff51_afd7_ed55_8ccd);
    m ^= m >> 33;
    (m & (0x7f << 57)) | (a >> 4)
}

/// Name object -> id.
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

    /// The node named `name`: by identity first, else by text.
    #[inline]
    pub fn find(&self, dag: &Dag<NodeData>, name: &Bound<'_, PyAny>) -> PyResult<Option<NodeId>> {
        let addr = name.as_ptr() as usize;
        match self.table.find(address_hash(addr), |e| e.addr == addr) {
            Some(e) => Ok(Some(e.id)),
            None => Self::find_by_text(dag, name),
        }
    }

    #[cold]
    #[inline(never)]
    fn find_by_text(dag: &Dag<NodeData>, name: &Bound<'_, PyAny>) -> PyResult<Option<NodeId>> {
        let Ok(text) = name.cast::<PyString>() else {
            return Ok(None);
        };
        Ok(dag.node_id(&name_text(text)?))
    }

    pub fn insert(&mut self, dag: &Dag<NodeData>, id: NodeId) {
        self.insert_at(dag.data(id).name.as_ptr() as usize, id);
    }

    /// Indexes node `id`, whose name object is at `addr`.
    pub fn insert_at(&mut self, addr: usize, id: NodeId) {
        self.table
            .insert_unique(address_hash(addr), Entry { addr, id }, |e| {
                address_hash(e.addr)
            });
    }

    pub fn remove(&mut self, dag: &Dag<NodeData>, id: NodeId) {
        let addr = dag.data(id).name.as_ptr() as usize;
        if let Ok(entry) = self.table.find_entry(address_hash(addr), |e| e.id == id) {
            entry.remove();
        }
    }

    /// Drops the entries of nodes `first` and after (a batch of them being undone).
    pub fn forget_from(&mut self, first: NodeId) {
        self.table.retain(|e| e.id < first);
    }

    pub fn reserve(&mut self, extra: usize) {
        self.table.reserve(extra, |e| address_hash(e.addr));
    }
}
