//! Graphviz DOT.

use std::fmt::Write;

use crate::graph::Dag;

/// A DOT double-quoted string: quotes and backslashes escaped, line breaks as `\n`. Any name
/// (spaces, unicode, the words `node`, `graph`, `edge`) is a valid ID once quoted.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The graph in DOT, nodes in insertion order, edge weights and labels as attributes.
///
/// ```
/// use dagron_core::{Dag, export::to_dot};
/// let mut dag: Dag = Dag::new();
/// dag.add_nodes([("a", ()), ("node", ())]).unwrap();
/// dag.add_edge(0, 1, None).unwrap();
/// assert!(to_dot(&dag).contains("\"a\" -> \"node\";"));
/// ```
pub fn to_dot<N>(dag: &Dag<N>) -> String {
    let mut out = String::from("digraph dagron {\n");
    for id in dag.node_ids() {
        let _ = writeln!(out, "  {};", quote(dag.name(id)));
    }
    for (f, t) in dag.edge_ids() {
        let _ = write!(out, "  {} -> {}", quote(dag.name(f)), quote(dag.name(t)));
        if let Some(a) = dag.edge_attrs(f, t) {
            let mut attrs = Vec::new();
            if let Some(w) = a.weight {
                attrs.push(format!("weight={}", quote(&w.to_string())));
            }
            if let Some(l) = &a.label {
                attrs.push(format!("label={}", quote(l)));
            }
            let _ = write!(out, " [{}]", attrs.join(", "));
        }
        out.push_str(";\n");
    }
    out.push_str("}\n");
    out
}
