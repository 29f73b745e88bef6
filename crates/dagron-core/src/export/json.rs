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

use std::borrow::Cow;

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

#[derive(Deserialize)]
struct EdgeIn<'a> {
    #[serde(borrow)]
    from: Cow<'a, str>,
    #[serde(borrow)]
    to: Cow<'a, str>,
    #[serde(default)]
    weight: Option<f64>,
    #[serde(default)]
    label: Option<String>,
}

#[derive(Deserialize)]
struct NodeIn<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default)]
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct DocIn<'a> {
    #[serde(borrow)]
    format: Cow<'a, str>,
    version: u32,
    #[serde(borrow)]
    nodes: Vec<NodeIn<'a>>,
    #[serde(default, borrow)]
    edges: Vec<EdgeIn<'a>>,
}

fn push_json<T: Serialize + ?Sized>(out: &mut String, value: &T) {
    out.push_str(&serde_json::to_string(value).expect("plain data serialises"));
}

/// Writes `dag` as a version-1 document; `extras` supplies each node's JSON values.
///
/// Written by hand rather than through a serde tree: each name is escaped once and then
/// copied for every edge that mentions it, which is what makes large graphs cheap to export.
pub fn to_json<N, F>(dag: &Dag<N>, mut extras: F) -> String
where
    F: FnMut(NodeId, &N) -> NodeExtras,
{
    let mut quoted = String::new();
    let mut spans = vec![(0usize, 0usize); dag.id_bound()];
    for id in dag.node_ids() {
        let start = quoted.len();
        push_json(&mut quoted, dag.name(id));
        spans[id as usize] = (start, quoted.len());
    }
    let name = |id: NodeId| {
        let (a, b) = spans[id as usize];
        &quoted[a..b]
    };
    let mut out = String::with_capacity(quoted.len() + 24 * dag.edge_count() + 64);
    out.push_str(r#"{"format":""#);
    out.push_str(FORMAT_NAME);
    out.push_str(r#"","version":"#);
    out.push_str(&FORMAT_VERSION.to_string());
    out.push_str(r#","nodes":["#);
    for (k, id) in dag.node_ids().enumerate() {
        if k > 0 {
            out.push(',');
        }
        out.push_str(r#"{"name":"#);
        out.push_str(name(id));
        let e = extras(id, dag.data(id));
        if let Some(p) = &e.payload {
            out.push_str(r#","payload":"#);
            push_json(&mut out, p);
        }
        if let Some(m) = &e.metadata {
            out.push_str(r#","metadata":"#);
            push_json(&mut out, m);
        }
        out.push('}');
    }
    out.push_str(r#"],"edges":["#);
    for (k, (f, t)) in dag.edge_ids().enumerate() {
        if k > 0 {
            out.push(',');
        }
        out.push_str(r#"{"from":"#);
        out.push_str(name(f));
        out.push_str(r#","to":"#);
        out.push_str(name(t));
        if let Some(a) = dag.edge_attrs(f, t) {
            if let Some(w) = a.weight {
                out.push_str(r#","weight":"#);
                push_json(&mut out, &w);
            }
            if let Some(l) = &a.label {
                out.push_str(r#","label":"#);
                push_json(&mut out, l);
            }
        }
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// Reads a document written by [`to_json`]. Returns the graph and, by node id, the extras.
pub fn from_json(text: &str) -> Result<(Dag, Vec<NodeExtras>)> {
    let mut extras = Vec::new();
    let dag = from_json_with(text, |_, e| extras.push(e))?;
    Ok((dag, extras))
}

/// Reads a document written by [`to_json`], making each node's value from its name and
/// extras with `make` (called in document order).
pub fn from_json_with<N, F>(text: &str, mut make: F) -> Result<Dag<N>>
where
    F: FnMut(&str, NodeExtras) -> N,
{
    let doc: DocIn<'_> =
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
    let mut data = Vec::with_capacity(doc.nodes.len());
    for n in &doc.nodes {
        let extras = NodeExtras {
            payload: n.payload.clone(),
            metadata: n.metadata.clone(),
        };
        data.push(make(&n.name, extras));
    }
    dag.add_nodes(doc.nodes.iter().map(|n| &*n.name).zip(data))?;
    let mut edges = Vec::with_capacity(doc.edges.len());
    for e in doc.edges {
        let attrs = EdgeAttrs {
            weight: e.weight,
            label: e.label,
        };
        edges.push((dag.require(&e.from)?, dag.require(&e.to)?, Some(attrs)));
    }
    dag.add_edges(edges)?;
    Ok(dag)
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
