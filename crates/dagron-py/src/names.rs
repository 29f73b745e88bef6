//! Node data as the bindings keep it.

use pyo3::prelude::*;
use pyo3::types::PyString;

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
