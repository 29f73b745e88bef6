//! Mermaid flowcharts.

use std::fmt::Write;

use crate::graph::Dag;

/// Node text for Mermaid: inside `"..."`, with the characters Mermaid would read as syntax
/// written as entity codes. Node ids are generated (`n0`, `n1`, ...), so no name can collide
/// with a keyword such as `end`.
fn label(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '|' => out.push_str("#124;"),
            '\n' => out.push_str("<br/>"),
            '\r' => out.push_str("#13;"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The graph as a Mermaid `flowchart TD`.
///
/// ```
/// use dagron_core::{Dag, export::to_mermaid};
/// let mut dag: Dag = Dag::new();
/// dag.add_nodes([("end", ()), ("say \"hi\"", ())]).unwrap();
/// dag.add_edge(0, 1, None).unwrap();
/// assert_eq!(
///     to_mermaid(&dag),
///     "flowchart TD\n    n0[\"end\"]\n    n1[\"say #quot;hi#quot;\"]\n    n0 --> n1\n"
/// );
/// ```
pub fn to_mermaid<N>(dag: &Dag<N>) -> String {
    let mut out = String::from("flowchart TD\n");
    for id in dag.node_ids() {
        let _ = writeln!(out, "    n{id}[{}]", label(dag.name(id)));
    }
    for (f, t) in dag.edge_ids() {
        match dag.edge_attrs(f, t).and_then(|a| a.label.as_deref()) {
            Some(l) => {
                let _ = writeln!(out, "    n{f} -->|{}| n{t}", label(l));
            }
            None => {
                let _ = writeln!(out, "    n{f} --> n{t}");
            }
        }
    }
    out
}
