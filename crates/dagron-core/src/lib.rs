//! dagron-core: the graph store, algorithms, scheduler state and exports behind dagron.
//!
//! Pure Rust, no Python: the `dagron-py` crate wraps it for Python.

pub mod builder;
pub mod dag_algo;
pub mod error;
pub mod export;
pub mod graph;
mod name_index;
mod name_store;
pub mod probe_table;
pub mod scheduler;
pub mod traversal;

pub use builder::DagBuilder;
pub use error::{DagError, Result};
pub use graph::{Dag, EdgeAttrs, NodeId};
pub use scheduler::ReadySet;
