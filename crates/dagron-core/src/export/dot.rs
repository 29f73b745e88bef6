//! Graphviz DOT.

use std::fmt::Write;

use crate::graph::Dag;

/// A DOT double-quoted label: quotes and backslashes escaped, line breaks as `\n` and `\r`,
/// and `&` written as an entity because Graphviz decodes entities in labels.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '&' => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The graph in DOT, nodes in insertion order, edge weights and labels as attributes.
///
/// Nodes get generated ids (`n0`, `n1`, ...) with the name as their label, so no name can be
/// misread by Graphviz (reserved words, a leading `%`, names that differ only in characters
/// a renderer folds).
///
/// ```
/// use dagron_core::{Dag, export::to_dot};
/// let mut dag: Dag = Dag::new();
/// dag.add_nodes([("a", ()), ("node", ())]).unwrap();
/// dag.add_edge(0, 1, None).unwrap();
/// let dot = to_dot(&dag);
/// assert!(dot.contains("n1 [label=\"node\"];"));
/// assert!(dot.contains("n0 -> n1;"));
/// ```
pub fn to_dot<N>(dag: &Dag<N>) -> String {
    let mut out = String::from("digraph dagron {\n");
    for id in dag.node_ids() {
        let _ = writeln!(out, "  n{id} [label={}];", quote(dag.name(id)));
    }
    for (f, t) in dag.edge_ids() {
        let _ = write!(out, "  n{f} -> n{t}");
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
