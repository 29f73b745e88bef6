//! The dagron graph JSON document, version 1.
//!
//! ```json
//! {"format": "dagron.graph", "version": 1,
//!  "nodes": [{"name": "a"}, {"name": "b", "payload": {"rows": 2}, "metadata": {"owner": "x"}}],
//!  "edges": [{"from": "a", "to": "b"}, {"from": "a", "to": "c", "weight": 2.5, "label": "rows"}]}
//! ```
//! Nodes appear in insertion order and edges grouped by source in insertion order, so a
//! round trip gives back the same graph with the same orders. `payload` and `metadata` are
//! present only when set and representable in JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DagError, Result};
use crate::graph::{Dag, EdgeAttrs, NodeId};

/// The value of the document's `format` key.
pub const FORMAT_NAME: &str = "dagron.graph";
/// The document version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The JSON-representable values carried by one node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeExtras {
    /// The node's payload, when it has one that JSON can hold.
    pub payload: Option<Value>,
    /// The node's metadata, when it has one that JSON can hold.
    pub metadata: Option<Value>,
}

#[derive(Serialize)]
struct NodeOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
}

#[derive(Serialize, Deserialize)]
struct EdgeDoc<S> {
    from: S,
    to: S,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weight: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
}

#[derive(Serialize)]
struct DocOut<'a> {
    format: &'static str,
    version: u32,
    nodes: Vec<NodeOut<'a>>,
    edges: Vec<EdgeDoc<&'a str>>,
}

#[derive(Deserialize)]
struct NodeIn {
    name: String,
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default)]
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct DocIn {
    format: String,
    version: u32,
    nodes: Vec<NodeIn>,
    #[serde(default)]
    edges: Vec<EdgeDoc<String>>,
}

/// Writes `dag` as a version-1 document; `extras` supplies each node's JSON values.
pub fn to_json<N, F>(dag: &Dag<N>, mut extras: F) -> String
where
    F: FnMut(NodeId, &N) -> NodeExtras,
{
    let nodes = dag
        .node_ids()
        .map(|id| {
            let e = extras(id, dag.data(id));
            NodeOut {
                name: dag.name(id),
                payload: e.payload,
                metadata: e.metadata,
            }
        })
        .collect();
    let edges = dag
        .edge_ids()
        .map(|(f, t)| {
            let a = dag.edge_attrs(f, t);
            EdgeDoc {
                from: dag.name(f),
                to: dag.name(t),
                weight: a.and_then(|a| a.weight),
                label: a.and_then(|a| a.label.clone()),
            }
        })
        .collect();
    let doc = DocOut {
        format: FORMAT_NAME,
        version: FORMAT_VERSION,
        nodes,
        edges,
    };
    serde_json::to_string(&doc).expect("serialising plain data cannot fail")
}

/// Reads a document written by [`to_json`]. Returns the graph and, by node id, the extras.
pub fn from_json(text: &str) -> Result<(Dag, Vec<NodeExtras>)> {
    let doc: DocIn =
        serde_json::from_str(text).map_err(|e| DagError::InvalidJson(e.to_string()))?;
    if doc.format != FORMAT_NAME {
        return Err(DagError::InvalidJson(format!(
            "format is {:?}, expected {FORMAT_NAME:?}",
            doc.format
        )));
    }
    if doc.version != FORMAT_VERSION {
        return Err(DagError::InvalidJson(format!(
            "version {} is not supported (this dagron reads version {FORMAT_VERSION})",
            doc.version
        )));
    }
    let mut dag = Dag::with_capacity(doc.nodes.len());
    dag.add_nodes(doc.nodes.iter().map(|n| (n.name.as_str(), ())))?;
    let extras = doc
        .nodes
        .into_iter()
        .map(|n| NodeExtras {
            payload: n.payload,
            metadata: n.metadata,
        })
        .collect();
    let mut edges = Vec::with_capacity(doc.edges.len());
    for e in doc.edges {
        let attrs = EdgeAttrs {
            weight: e.weight,
            label: e.label,
        };
        edges.push((dag.require(&e.from)?, dag.require(&e.to)?, Some(attrs)));
    }
    dag.add_edges(edges)?;
    Ok((dag, extras))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_orders_and_attrs() {
        let mut dag: Dag = Dag::new();
        dag.add_nodes([("b", ()), ("a \"q\"", ()), ("ü", ())])
            .unwrap();
        dag.add_edge(
            0,
            2,
            Some(EdgeAttrs {
                weight: Some(1.5),
                label: Some("x".into()),
            }),
        )
        .unwrap();
        dag.add_edge(0, 1, None).unwrap();
        let text = to_json(&dag, |id, _| NodeExtras {
            payload: (id == 1).then(|| serde_json::json!({"k": [1, 2]})),
            metadata: None,
        });
        let (back, extras) = from_json(&text).unwrap();
        assert_eq!(to_json(&back, |id, _| extras[id as usize].clone()), text);
        assert_eq!(back.edge_ids().collect::<Vec<_>>(), vec![(0, 2), (0, 1)]);
    }

    #[test]
    fn wrong_version_is_refused() {
        let err = from_json(r#"{"format":"dagron.graph","version":9,"nodes":[]}"#).unwrap_err();
        assert!(err.to_string().contains("version 9"));
        assert!(from_json("[]").is_err());
    }

    #[test]
    fn cyclic_document_is_refused() {
        let text = r#"{"format":"dagron.graph","version":1,"nodes":[{"name":"a"},{"name":"b"}],
            "edges":[{"from":"a","to":"b"},{"from":"b","to":"a"}]}"#;
        assert!(matches!(from_json(text), Err(DagError::Cycle { .. })));
    }
}
