//! The one error type of the core.

use std::fmt;

/// Everything that can go wrong when building or querying a [`crate::Dag`].
#[derive(Debug, Clone, PartialEq)]
pub enum DagError {
    /// Adding the edges would close a cycle. `path` is the closed cycle, first name repeated
    /// at the end, e.g. `["a", "b", "c", "a"]`.
    Cycle { path: Vec<String> },
    /// A node with this name already exists.
    DuplicateNode(String),
    /// No node has this name.
    UnknownNode(String),
    /// This edge already exists.
    DuplicateEdge { from: String, to: String },
    /// No such edge.
    UnknownEdge { from: String, to: String },
    /// Text handed to `from_json` is not a dagron graph document.
    InvalidJson(String),
    /// An argument is out of its domain (a negative cost, a wrong-length vector, ...).
    InvalidArgument(String),
}

impl fmt::Display for DagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DagError::Cycle { path } => {
                write!(f, "adding this would create a cycle: {}", path.join(" -> "))
            }
            DagError::DuplicateNode(name) => write!(f, "node {name:?} already exists"),
            DagError::UnknownNode(name) => write!(f, "node {name:?} does not exist"),
            DagError::DuplicateEdge { from, to } => {
                write!(f, "edge {from:?} -> {to:?} already exists")
            }
            DagError::UnknownEdge { from, to } => {
                write!(f, "edge {from:?} -> {to:?} does not exist")
            }
            DagError::InvalidJson(msg) => write!(f, "invalid dagron JSON: {msg}"),
            DagError::InvalidArgument(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for DagError {}

/// Result alias used throughout the core.
pub type Result<T, E = DagError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_message_reads_as_a_path() {
        let e = DagError::Cycle {
            path: vec!["a".into(), "b".into(), "a".into()],
        };
        assert_eq!(
            e.to_string(),
            "adding this would create a cycle: a -> b -> a"
        );
    }
}
