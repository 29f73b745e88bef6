//! Whole-graph algorithms: orders, levels, cycles, longest paths.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::error::{DagError, Result};
use crate::graph::{Dag, NodeId};

/// In-degree by id (0 for removed ids, whose lists are empty).
fn in_degrees<N>(dag: &Dag<N>) -> Vec<u32> {
    dag.in_lists().iter().map(|l| l.len() as u32).collect()
}

/// Kahn's algorithm with a FIFO queue: a topological order in O(V + E) when one exists, and
/// the in-degrees left over otherwise (non-zero exactly on and behind cycles).
fn kahn_fifo<N>(dag: &Dag<N>) -> (Vec<NodeId>, Vec<u32>) {
    let mut deg = in_degrees(dag);
    // The order doubles as the FIFO queue: what is placed is exactly what was dequeued.
    let mut order = Vec::with_capacity(dag.node_count());
    order.extend(dag.node_ids().filter(|&i| deg[i as usize] == 0));
    let out = dag.out_lists();
    let mut head = 0;
    while head < order.len() {
        let n = order[head];
        head += 1;
        for &s in &out[n as usize] {
            let d = &mut deg[s as usize];
            *d -= 1;
            if *d == 0 {
                order.push(s);
            }
        }
    }
    (order, deg)
}

/// The deterministic topological order: Kahn's algorithm that, among the nodes whose
/// predecessors are all placed, always places the one inserted first.
///
/// ```
/// use dagron_core::{Dag, dag_algo::topological_sort};
/// let mut dag: Dag = Dag::new();
/// let ids = dag.add_nodes([("b", ()), ("a", ()), ("c", ())]).unwrap();
/// dag.add_edge(ids[2], ids[0], None).unwrap();
/// assert_eq!(topological_sort(&dag), vec![ids[1], ids[2], ids[0]]);
/// ```
pub fn topological_sort<N>(dag: &Dag<N>) -> Vec<NodeId> {
    let mut deg = in_degrees(dag);
    let mut order = Vec::with_capacity(dag.node_count());
    let mut heap: BinaryHeap<Reverse<NodeId>> = dag
        .node_ids()
        .filter(|&i| deg[i as usize] == 0)
        .map(Reverse)
        .collect();
    let out = dag.out_lists();
    while let Some(Reverse(n)) = heap.pop() {
        order.push(n);
        for &s in &out[n as usize] {
            let d = &mut deg[s as usize];
            *d -= 1;
            if *d == 0 {
                heap.push(Reverse(s));
            }
        }
    }
    order
}

/// Depth of every node: the number of edges on the longest path from a root. Indexed by id
/// (holes hold 0). One Kahn pass: a node's depth is final when it is dequeued.
pub fn depths<N>(dag: &Dag<N>) -> Vec<u32> {
    let mut deg = in_degrees(dag);
    let mut depth = vec![0u32; dag.id_bound()];
    let mut queue: Vec<NodeId> = dag.node_ids().filter(|&i| deg[i as usize] == 0).collect();
    let out = dag.out_lists();
    let mut head = 0;
    while head < queue.len() {
        let n = queue[head];
        head += 1;
        let next = depth[n as usize] + 1;
        for &s in &out[n as usize] {
            let (d, k) = (&mut depth[s as usize], &mut deg[s as usize]);
            *d = (*d).max(next);
            *k -= 1;
            if *k == 0 {
                queue.push(s);
            }
        }
    }
    depth
}

/// Nodes grouped by depth (longest path from a root), each group in insertion order. Nodes in
/// one group never depend on each other.
pub fn topological_levels<N>(dag: &Dag<N>) -> Vec<Vec<NodeId>> {
    let levels = Levels::of(dag);
    (0..levels.len())
        .map(|l| levels.level(l).to_vec())
        .collect()
}

/// Every level of a graph in one allocation: the ids grouped by depth, each group in
/// insertion order, and where each group starts. A long chain has as many levels as nodes,
/// so one `Vec` per level would cost an allocation per node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Levels {
    ids: Vec<NodeId>,
    starts: Vec<usize>,
}

impl Levels {
    /// The levels of `dag` (see [`topological_levels`]).
    pub fn of<N>(dag: &Dag<N>) -> Self {
        let depth = depths(dag);
        let mut starts: Vec<usize> = Vec::new();
        for id in dag.node_ids() {
            let d = depth[id as usize] as usize + 1;
            if starts.len() <= d {
                starts.resize(d + 1, 0);
            }
            starts[d] += 1;
        }
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        let mut next = starts.clone();
        let mut ids = vec![0; dag.node_count()];
        for id in dag.node_ids() {
            let slot = &mut next[depth[id as usize] as usize];
            ids[*slot] = id;
            *slot += 1;
        }
        Levels { ids, starts }
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// True for the empty graph.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids of level `l`, in insertion order.
    pub fn level(&self, l: usize) -> &[NodeId] {
        &self.ids[self.starts[l]..self.starts[l + 1]]
    }
}

/// A cycle as a node path (first node not repeated), or `None` when the graph is acyclic.
/// One Kahn pass over the whole graph.
pub fn find_cycle<N>(dag: &Dag<N>) -> Option<Vec<NodeId>> {
    let (order, deg) = kahn_fifo(dag);
    if order.len() == dag.node_count() {
        return None;
    }
    let start = dag.node_ids().find(|&i| deg[i as usize] > 0)?;
    Some(walk_back_to_cycle(dag, start, |p| deg[p as usize] > 0))
}

/// A cycle through at least one of the nodes reachable from `heads`, or `None`.
///
/// Used after adding edges whose heads are `heads`: a new cycle must run through a new edge
/// `u -> v`, so every node on it is reachable from `v`. Kahn's pass is confined to that
/// region, which keeps appending a batch to a large graph proportional to what it touches.
pub fn find_cycle_from<N>(dag: &Dag<N>, heads: &[NodeId]) -> Option<Vec<NodeId>> {
    let mut in_region = vec![false; dag.id_bound()];
    let mut region = Vec::new();
    for &h in heads {
        if !in_region[h as usize] {
            in_region[h as usize] = true;
            region.push(h);
        }
    }
    let mut k = 0;
    while k < region.len() {
        for &s in dag.successors(region[k]) {
            if !in_region[s as usize] {
                in_region[s as usize] = true;
                region.push(s);
            }
        }
        k += 1;
    }
    let mut deg = vec![0u32; dag.id_bound()];
    for &n in &region {
        for &s in dag.successors(n) {
            deg[s as usize] += 1;
        }
    }
    let mut queue: VecDeque<NodeId> = region
        .iter()
        .copied()
        .filter(|&n| deg[n as usize] == 0)
        .collect();
    let mut placed = 0usize;
    while let Some(n) = queue.pop_front() {
        placed += 1;
        for &s in dag.successors(n) {
            let d = &mut deg[s as usize];
            *d -= 1;
            if *d == 0 {
                queue.push_back(s);
            }
        }
    }
    if placed == region.len() {
        return None;
    }
    let start = *region.iter().filter(|&&n| deg[n as usize] > 0).min()?;
    Some(walk_back_to_cycle(dag, start, |p| {
        in_region[p as usize] && deg[p as usize] > 0
    }))
}

/// From a node Kahn could not place, walks backwards through predecessors it could not place
/// either (`unplaced`); such a walk must come round to a node already seen, closing a cycle.
/// Returns the cycle in edge direction.
fn walk_back_to_cycle<N>(
    dag: &Dag<N>,
    start: NodeId,
    unplaced: impl Fn(NodeId) -> bool,
) -> Vec<NodeId> {
    let mut seen_at = hashbrown::HashMap::new();
    let mut walk = Vec::new();
    let mut cur = start;
    loop {
        if let Some(&pos) = seen_at.get(&cur) {
            let mut cycle: Vec<NodeId> = walk[pos..].to_vec();
            cycle.reverse();
            return cycle;
        }
        seen_at.insert(cur, walk.len());
        walk.push(cur);
        cur = *dag
            .predecessors(cur)
            .iter()
            .find(|&&p| unplaced(p))
            .expect("an unplaced node has an unplaced predecessor");
    }
}

/// True when the graph has no cycle (always so for a [`Dag`]; this re-checks with one pass).
///
/// Kahn's algorithm that only counts: a stack of the nodes ready now instead of the whole
/// order, so the pass writes little beyond the in-degrees.
pub fn is_acyclic<N>(dag: &Dag<N>) -> bool {
    let mut deg = in_degrees(dag);
    let out = dag.out_lists();
    let mut ready: Vec<NodeId> = dag.node_ids().filter(|&i| deg[i as usize] == 0).collect();
    let mut placed = 0usize;
    while let Some(n) = ready.pop() {
        placed += 1;
        for &s in &out[n as usize] {
            let d = &mut deg[s as usize];
            *d -= 1;
            if *d == 0 {
                ready.push(s);
            }
        }
    }
    placed == dag.node_count()
}

fn check_costs<N>(dag: &Dag<N>, costs: &[f64]) -> Result<()> {
    if costs.len() != dag.id_bound() {
        return Err(DagError::InvalidArgument(format!(
            "expected {} costs, got {}",
            dag.id_bound(),
            costs.len()
        )));
    }
    if let Some(bad) = costs.iter().find(|c| !c.is_finite() || **c < 0.0) {
        return Err(DagError::InvalidArgument(format!(
            "costs must be finite and non-negative, got {bad}"
        )));
    }
    Ok(())
}

/// The heaviest path, where a path weighs the sum of its nodes' costs (indexed by id; `None`
/// means 1 per node). Returns the path from a root to a leaf and its weight; ties go to the
/// node inserted first.
pub fn critical_path<N>(dag: &Dag<N>, costs: Option<&[f64]>) -> Result<(Vec<NodeId>, f64)> {
    if let Some(c) = costs {
        check_costs(dag, c)?;
    }
    let cost = |id: NodeId| costs.map_or(1.0, |c| c[id as usize]);
    let order = topological_sort(dag);
    let mut best = vec![0.0f64; dag.id_bound()];
    let mut via = vec![NodeId::MAX; dag.id_bound()];
    for &n in &order {
        let mut top = 0.0;
        let mut from = NodeId::MAX;
        for &p in dag.predecessors(n) {
            if from == NodeId::MAX
                || best[p as usize] > top
                || (best[p as usize] == top && p < from)
            {
                top = best[p as usize];
                from = p;
            }
        }
        best[n as usize] = top + cost(n);
        via[n as usize] = from;
    }
    let mut end = None;
    for id in dag.node_ids() {
        if end.is_none_or(|e: NodeId| best[id as usize] > best[e as usize]) {
            end = Some(id);
        }
    }
    let Some(end) = end else {
        return Ok((Vec::new(), 0.0));
    };
    let mut path = vec![end];
    let mut cur = end;
    while via[cur as usize] != NodeId::MAX {
        cur = via[cur as usize];
        path.push(cur);
    }
    path.reverse();
    Ok((path, best[end as usize]))
}

/// For every node, the weight of the heaviest path from it to a leaf, itself included
/// (indexed by id). This is the scheduler's critical-path-first priority.
pub fn remaining_path_weights<N>(dag: &Dag<N>, costs: Option<&[f64]>) -> Result<Vec<f64>> {
    if let Some(c) = costs {
        check_costs(dag, c)?;
    }
    let (order, _) = kahn_fifo(dag);
    let mut rank = vec![0.0f64; dag.id_bound()];
    for &n in order.iter().rev() {
        let tail = dag
            .successors(n)
            .iter()
            .map(|&s| rank[s as usize])
            .fold(0.0, f64::max);
        rank[n as usize] = tail + costs.map_or(1.0, |c| c[n as usize]);
    }
    Ok(rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's fan-out / fan-in ETL graph.
    fn etl() -> Dag {
        let mut dag = Dag::new();
        dag.add_nodes(
            [
                "extract_api",
                "extract_db",
                "transform_api",
                "transform_db",
                "merge",
                "load",
            ]
            .map(|n| (n, ())),
        )
        .unwrap();
        dag.add_edges([
            (0, 2, None),
            (1, 3, None),
            (2, 4, None),
            (3, 4, None),
            (4, 5, None),
        ])
        .unwrap();
        dag
    }

    #[test]
    fn seed_order_and_levels() {
        let dag = etl();
        assert_eq!(topological_sort(&dag), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(
            topological_levels(&dag),
            vec![vec![0, 1], vec![2, 3], vec![4], vec![5]]
        );
    }

    #[test]
    fn reverse_inserted_chain_sorts_forward() {
        let mut dag: Dag = Dag::new();
        let names: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        dag.add_nodes(names.iter().map(|n| (n.as_str(), ())))
            .unwrap();
        dag.add_edges((1..5u32).rev().map(|i| (i, i - 1, None)))
            .unwrap();
        assert_eq!(topological_sort(&dag), vec![4, 3, 2, 1, 0]);
    }

    #[test]
    fn critical_path_follows_costs() {
        let dag = etl();
        let mut costs = vec![1.0; 6];
        costs[1] = 5.0;
        let (path, weight) = critical_path(&dag, Some(&costs)).unwrap();
        assert_eq!(path, vec![1, 3, 4, 5]);
        assert_eq!(weight, 8.0);
        let (path, weight) = critical_path(&dag, None).unwrap();
        assert_eq!(path, vec![0, 2, 4, 5]);
        assert_eq!(weight, 4.0);
    }

    #[test]
    fn remaining_weights_count_to_the_leaf() {
        let dag = etl();
        let r = remaining_path_weights(&dag, None).unwrap();
        assert_eq!(r, vec![4.0, 4.0, 3.0, 3.0, 2.0, 1.0]);
    }

    #[test]
    fn negative_cost_is_refused() {
        let dag = etl();
        assert!(critical_path(&dag, Some(&[-1.0; 6])).is_err());
        assert!(critical_path(&dag, Some(&[1.0; 2])).is_err());
    }
}
