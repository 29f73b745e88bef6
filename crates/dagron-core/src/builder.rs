//! Collect nodes and edges by name, validate them all at once.

use crate::error::Result;
use crate::graph::{Dag, EdgeAttrs};

/// A graph under construction. Nothing is checked until [`DagBuilder::build`], which checks
/// everything in one pass: duplicates, unknown names, cycles.
///
/// ```
/// use dagron_core::DagBuilder;
/// let dag = DagBuilder::new()
///     .node("extract", ())
///     .node("load", ())
///     .edge("extract", "load", None)
///     .build()
///     .unwrap();
/// assert_eq!(dag.edge_count(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct DagBuilder<N = ()> {
    nodes: Vec<(String, N)>,
    edges: Vec<(String, String, Option<EdgeAttrs>)>,
}

impl<N> Default for DagBuilder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N> DagBuilder<N> {
    /// An empty builder.
    pub fn new() -> Self {
        DagBuilder {
            nodes: Vec::new(),
            edges: Vec::new(),
        }
    }

    /// Queues a node.
    pub fn node(mut self, name: impl Into<String>, data: N) -> Self {
        self.nodes.push((name.into(), data));
        self
    }

    /// Queues an edge between two names.
    pub fn edge(
        mut self,
        from: impl Into<String>,
        to: impl Into<String>,
        attrs: Option<EdgeAttrs>,
    ) -> Self {
        self.edges.push((from.into(), to.into(), attrs));
        self
    }

    /// Validates everything and returns the graph, or the first problem found.
    pub fn build(self) -> Result<Dag<N>> {
        let mut dag = Dag::with_capacity(self.nodes.len());
        let (names, data): (Vec<String>, Vec<N>) = self.nodes.into_iter().unzip();
        dag.add_nodes(names.iter().map(String::as_str).zip(data))?;
        let mut resolved = Vec::with_capacity(self.edges.len());
        for (from, to, attrs) in self.edges {
            resolved.push((dag.require(&from)?, dag.require(&to)?, attrs));
        }
        dag.add_edges(resolved)?;
        Ok(dag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DagError;

    #[test]
    fn cycle_found_at_build() {
        let err = DagBuilder::new()
            .node("a", ())
            .node("b", ())
            .edge("a", "b", None)
            .edge("b", "a", None)
            .build()
            .unwrap_err();
        assert!(matches!(err, DagError::Cycle { .. }));
    }

    #[test]
    fn unknown_name_found_at_build() {
        let err = DagBuilder::<()>::new()
            .edge("a", "b", None)
            .build()
            .unwrap_err();
        assert_eq!(err, DagError::UnknownNode("a".into()));
    }
}
