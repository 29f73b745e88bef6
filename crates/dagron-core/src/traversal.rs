//! Reachability: ancestors, descendants, paths.

use crate::graph::{Dag, NodeId};

/// A path `from -> ... -> to` following edges forward, if one exists. `from == to` gives
/// `[from]`. Depth-first, so it touches only what `from` reaches.
pub fn path_between<N>(dag: &Dag<N>, from: NodeId, to: NodeId) -> Option<Vec<NodeId>> {
    if from == to {
        return Some(vec![from]);
    }
    let mut parent: hashbrown::HashMap<NodeId, NodeId> = hashbrown::HashMap::new();
    let mut stack = vec![from];
    parent.insert(from, from);
    while let Some(n) = stack.pop() {
        for &s in dag.successors(n) {
            if parent.contains_key(&s) {
                continue;
            }
            parent.insert(s, n);
            if s == to {
                let mut path = vec![to];
                let mut cur = to;
                while cur != from {
                    cur = parent[&cur];
                    path.push(cur);
                }
                path.reverse();
                return Some(path);
            }
            stack.push(s);
        }
    }
    None
}

fn reach<N>(dag: &Dag<N>, start: NodeId, forward: bool) -> Vec<NodeId> {
    let mut seen = vec![false; dag.id_bound()];
    let mut stack = vec![start];
    let mut count = 0usize;
    while let Some(n) = stack.pop() {
        let next = if forward {
            dag.successors(n)
        } else {
            dag.predecessors(n)
        };
        for &m in next {
            if !seen[m as usize] {
                seen[m as usize] = true;
                count += 1;
                stack.push(m);
            }
        }
    }
    // Reported in insertion order: one pass over the bitmap beats sorting what was found.
    let mut out = Vec::with_capacity(count);
    out.extend(
        seen.iter()
            .enumerate()
            .filter(|(_, &s)| s)
            .map(|(i, _)| i as NodeId),
    );
    out
}

/// Every node with a path to `id`, in insertion order.
///
/// ```
/// use dagron_core::{Dag, traversal::ancestors};
/// let mut dag: Dag = Dag::new();
/// let ids = dag.add_nodes([("a", ()), ("b", ()), ("c", ())]).unwrap();
/// dag.add_edges([(ids[0], ids[1], None), (ids[1], ids[2], None)]).unwrap();
/// assert_eq!(ancestors(&dag, ids[2]), vec![ids[0], ids[1]]);
/// ```
pub fn ancestors<N>(dag: &Dag<N>, id: NodeId) -> Vec<NodeId> {
    reach(dag, id, false)
}

/// Every node reachable from `id`, in insertion order.
pub fn descendants<N>(dag: &Dag<N>, id: NodeId) -> Vec<NodeId> {
    reach(dag, id, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diamond_reachability() {
        let mut dag: Dag = Dag::new();
        let ids = dag
            .add_nodes([("a", ()), ("b", ()), ("c", ()), ("d", ())])
            .unwrap();
        dag.add_edges([(0, 1, None), (0, 2, None), (1, 3, None), (2, 3, None)])
            .unwrap();
        assert_eq!(descendants(&dag, ids[0]), vec![1, 2, 3]);
        assert_eq!(ancestors(&dag, 3), vec![0, 1, 2]);
        assert_eq!(path_between(&dag, 0, 3).unwrap().len(), 3);
        assert!(path_between(&dag, 3, 0).is_none());
    }
}
