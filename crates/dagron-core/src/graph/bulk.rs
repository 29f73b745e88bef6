//! Adding a batch of edges about as large as the graph: grouped, not edge by edge.
//!
//! Pushing edge by edge touches the source's and the target's neighbour lists once per edge,
//! in batch order, which for a shuffled batch is a cache miss per list. Here the batch is
//! first grouped by source and by target (a stable counting sort, so each list still receives
//! its edges in batch order) and every list is then extended once, walking the lists in id
//! order.

use hashbrown::HashSet;

use super::{Adjacency, Dag, Monotone};
use crate::graph::NodeId;

/// Up to this many neighbours, a duplicate is looked for by scanning the list.
const SCAN_MAX: usize = 16;

/// Calls `each(key, values)` for every key of the batch that has values, in key order, with
/// that key's values in batch order; stops at the first `false`. A batch already ordered by
/// key (`sorted`: a chain added first to last) is walked as it is; any other is grouped by a
/// stable counting sort over `bound` keys.
fn for_each_group<K, E>(
    pairs: &[(NodeId, NodeId)],
    sorted: bool,
    bound: usize,
    key_value: K,
    mut each: E,
) -> bool
where
    K: Fn(&(NodeId, NodeId)) -> (NodeId, NodeId),
    E: FnMut(usize, &[NodeId]) -> bool,
{
    if sorted {
        let mut run: Vec<NodeId> = Vec::new();
        let mut i = 0;
        while i < pairs.len() {
            let (key, value) = key_value(&pairs[i]);
            let mut end = i + 1;
            while end < pairs.len() && key_value(&pairs[end]).0 == key {
                end += 1;
            }
            let values = if end == i + 1 {
                std::slice::from_ref(&value)
            } else {
                run.clear();
                run.extend(pairs[i..end].iter().map(|p| key_value(p).1));
                &run
            };
            if !each(key as usize, values) {
                return false;
            }
            i = end;
        }
        return true;
    }
    // Positions fit in u32 for any batch this is used for (checked by the caller).
    let mut starts = vec![0u32; bound + 1];
    for p in pairs {
        starts[key_value(p).0 as usize + 1] += 1;
    }
    for k in 1..=bound {
        starts[k] += starts[k - 1];
    }
    let mut sorted = vec![0; pairs.len()];
    {
        let mut next = starts[..bound].to_vec();
        for p in pairs {
            let (k, v) = key_value(p);
            let slot = &mut next[k as usize];
            sorted[*slot as usize] = v;
            *slot += 1;
        }
    }
    (0..bound).all(|k| {
        let group = &sorted[starts[k] as usize..starts[k + 1] as usize];
        group.is_empty() || each(k, group)
    })
}

/// Appends `new` to `list`. Groups are mostly one or two ids long, for which pushing them
/// one by one is cheaper than the general slice insertion.
#[inline(always)]
fn append(list: &mut Adjacency, new: &[NodeId]) {
    if new.len() <= 2 {
        for &v in new {
            list.push(v);
        }
    } else {
        list.extend_from_slice(new);
    }
}

/// Appends `new` to `list` unless that would repeat a neighbour; on a repeat `list` is left
/// as it was and `false` returned.
#[inline(always)]
fn extend_unique(list: &mut Adjacency, new: &[NodeId]) -> bool {
    if let [v] = new {
        // The usual group: one id.
        if has(list, *v) {
            return false;
        }
        list.push(*v);
        return true;
    }
    extend_unique_many(list, new)
}

/// `list.contains(&v)` for the short lists of a DAG: a plain loop, where the slice method's
/// vectorised search costs a few dozen instructions of set-up even for an empty list.
#[inline(always)]
fn has(list: &[NodeId], v: NodeId) -> bool {
    for &x in list {
        if x == v {
            return true;
        }
    }
    false
}

fn extend_unique_many(list: &mut Adjacency, new: &[NodeId]) -> bool {
    let old = list.len();
    if old + new.len() <= SCAN_MAX {
        for &v in new {
            if has(list, v) {
                list.truncate(old);
                return false;
            }
            list.push(v);
        }
        return true;
    }
    let mut seen: HashSet<NodeId> = list.iter().copied().collect();
    if !new.iter().all(|&v| seen.insert(v)) {
        return false;
    }
    list.extend_from_slice(new);
    true
}

/// From this many edges on, a grouped insert fills the successor and the predecessor lists on
/// two threads (below, a thread costs more than half the work).
const PARALLEL_MIN: usize = 1 << 15;

/// True when this process may run on more than one core (asked once).
pub(super) fn two_cores() -> bool {
    static TWO: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TWO.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// Adds each source's group to its successor list unless that would repeat an edge; on a
/// repeat nothing of the batch is left in `out` and `false` is returned.
fn push_outgoing(
    out: &mut [Adjacency],
    pairs: &[(NodeId, NodeId)],
    sorted: bool,
    bound: usize,
) -> bool {
    let by_source = |&(f, t): &(NodeId, NodeId)| (f, t);
    let mut refused = None;
    for_each_group(pairs, sorted, bound, by_source, |s, group| {
        let ok = extend_unique(&mut out[s], group);
        if !ok {
            refused = Some(s);
        }
        ok
    });
    let Some(refused) = refused else {
        return true;
    };
    // The refusing list is unchanged; the ones before it (in the same group order) took
    // their groups.
    for_each_group(pairs, sorted, bound, by_source, |s, group| {
        if s == refused {
            return false;
        }
        let list = &mut out[s];
        list.truncate(list.len() - group.len());
        true
    });
    false
}

/// Adds each target's group to its predecessor list.
fn push_incoming(inc: &mut [Adjacency], pairs: &[(NodeId, NodeId)], sorted: bool, bound: usize) {
    for_each_group(
        pairs,
        sorted,
        bound,
        |&(f, t)| (t, f),
        |t, group| {
            append(&mut inc[t], group);
            true
        },
    );
}

/// Drops from each list its last entries, as many as `keys` names it (undoing appends).
fn pop_appended(lists: &mut [Adjacency], keys: impl Iterator<Item = NodeId>) {
    let mut added = vec![0u32; lists.len()];
    for k in keys {
        added[k as usize] += 1;
    }
    for (list, n) in lists.iter_mut().zip(added) {
        list.truncate(list.len() - n as usize);
    }
}

/// What one pass over a batch tells before anything is added.
struct BatchShape {
    /// Every endpoint is a live node.
    live: bool,
    /// The batch is ordered by source id, and by target id.
    by_source: bool,
    by_target: bool,
    /// The graph's edge directions once the batch is in.
    monotone: Monotone,
}

impl<N> Dag<N> {
    fn batch_shape(&self, pairs: &[(NodeId, NodeId)]) -> BatchShape {
        let alive = &self.alive;
        let live = |id: NodeId| alive.get(id as usize).copied().unwrap_or(false);
        let mut shape = BatchShape {
            live: true,
            by_source: true,
            by_target: true,
            monotone: self.monotone,
        };
        let mut prev = pairs.first().copied().unwrap_or_default();
        for &(f, t) in pairs {
            shape.live &= live(f) & live(t);
            shape.by_source &= prev.0 <= f;
            shape.by_target &= prev.1 <= t;
            shape.monotone = shape.monotone.with(f, t);
            prev = (f, t);
        }
        shape
    }

    /// Adds every edge of `pairs` to the neighbour lists. Returns `false`, with the graph as
    /// it was, when an endpoint is unknown or an edge is a duplicate (of an existing edge or
    /// within the batch): the caller redoes the batch edge by edge to name the first such edge
    /// in batch order. Does not check for cycles.
    pub(super) fn push_grouped(&mut self, pairs: &[(NodeId, NodeId)]) -> bool {
        if u32::try_from(pairs.len()).is_err() {
            return false;
        }
        let shape = self.batch_shape(pairs);
        if !shape.live {
            return false;
        }
        let bound = self.id_bound();
        let (out, inc) = (&mut self.out, &mut self.inc);
        let accepted = if pairs.len() >= PARALLEL_MIN && two_cores() {
            // The two sides touch disjoint lists: the predecessor lists fill on a second
            // thread meanwhile, and drop the batch again if the successor side refuses it.
            let accepted = std::thread::scope(|scope| {
                let incoming = scope.spawn(|| push_incoming(inc, pairs, shape.by_target, bound));
                let accepted = push_outgoing(out, pairs, shape.by_source, bound);
                incoming
                    .join()
                    .expect("the predecessor lists' thread does not panic");
                accepted
            });
            if !accepted {
                pop_appended(inc, pairs.iter().map(|&(_, t)| t));
            }
            accepted
        } else {
            let accepted = push_outgoing(out, pairs, shape.by_source, bound);
            if accepted {
                push_incoming(inc, pairs, shape.by_target, bound);
            }
            accepted
        };
        if accepted {
            self.edges += pairs.len();
            self.monotone = shape.monotone;
        }
        accepted
    }

    /// Undoes a successful [`Dag::push_grouped`] of `pairs` (and their attributes).
    pub(super) fn pop_grouped(&mut self, pairs: &[(NodeId, NodeId)]) {
        for key in pairs {
            self.attrs.remove(key);
        }
        pop_appended(&mut self.out, pairs.iter().map(|&(f, _)| f));
        pop_appended(&mut self.inc, pairs.iter().map(|&(_, t)| t));
        self.edges -= pairs.len();
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::nodes;
    use crate::{DagError, EdgeAttrs};

    #[test]
    fn grouped_batch_keeps_batch_order_per_list() {
        let mut dag = nodes(40);
        // Shuffled, with a hub whose list spills past the scan limit.
        let mut batch: Vec<(u32, u32, Option<EdgeAttrs>)> =
            (1..40).rev().map(|t| (0, t, None)).collect();
        batch.extend([(5, 7, None), (3, 7, None), (5, 6, None)]);
        batch[4].2 = Some(EdgeAttrs {
            weight: Some(2.0),
            label: None,
        });
        dag.add_edges(batch.clone()).unwrap();
        assert_eq!(
            dag.successors(0),
            (1..40).rev().collect::<Vec<u32>>().as_slice()
        );
        assert_eq!(dag.successors(5), &[7, 6]);
        assert_eq!(dag.predecessors(7), &[0, 5, 3]);
        assert_eq!(dag.edge_attrs(0, 35).unwrap().weight, Some(2.0));
        assert_eq!(dag.edge_count(), batch.len());
    }

    #[test]
    fn sorted_batch_refuses_duplicates_in_one_and_many_id_groups() {
        // Ordered by source (the walk without the counting sort): a repeat of an existing
        // edge in a one-id group, then a repeat within a group.
        for (bad, existing) in [((10u32, 11u32), Some((10u32, 11u32))), ((12, 13), None)] {
            let mut dag = nodes(30);
            if let Some((f, t)) = existing {
                dag.add_edge(f, t, None).unwrap();
            }
            let mut batch: Vec<(u32, u32, Option<EdgeAttrs>)> =
                (0..29).map(|i| (i, i + 1, None)).collect();
            batch.insert(bad.0 as usize + 1, (bad.0, bad.1, None));
            assert!(batch.is_sorted_by_key(|e| e.0));
            let before: Vec<_> = dag.edge_ids().collect();
            let err = dag.add_edges(batch).unwrap_err();
            assert_eq!(
                err,
                DagError::DuplicateEdge {
                    from: format!("n{}", bad.0),
                    to: format!("n{}", bad.1)
                }
            );
            assert_eq!(dag.edge_ids().collect::<Vec<_>>(), before);
        }
    }

    /// A batch large enough for the two-thread insert: a shuffled layered DAG.
    fn large_batch() -> (crate::Dag, Vec<(u32, u32, Option<EdgeAttrs>)>) {
        let n = 20_000u32;
        let dag = nodes(n as usize);
        let mut batch: Vec<(u32, u32, Option<EdgeAttrs>)> = (100..n)
            .flat_map(|t| [(t - 100, t, None), (t - 37, t, None)])
            .collect();
        // A fixed shuffle (an LCG), so both groupings take the counting sort.
        let mut state = 7u64;
        for i in (1..batch.len()).rev() {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            batch.swap(i, (state >> 33) as usize % (i + 1));
        }
        assert!(batch.len() >= super::PARALLEL_MIN);
        (dag, batch)
    }

    #[test]
    fn large_grouped_batch_fills_both_sides_in_batch_order() {
        let (mut dag, batch) = large_batch();
        dag.add_edges(batch.clone()).unwrap();
        assert_eq!(dag.edge_count(), batch.len());
        let mut preds: Vec<Vec<u32>> = vec![Vec::new(); dag.id_bound()];
        let mut succs: Vec<Vec<u32>> = vec![Vec::new(); dag.id_bound()];
        for &(f, t, _) in &batch {
            succs[f as usize].push(t);
            preds[t as usize].push(f);
        }
        for id in 0..dag.id_bound() as u32 {
            assert_eq!(dag.successors(id), succs[id as usize].as_slice());
            assert_eq!(dag.predecessors(id), preds[id as usize].as_slice());
        }
    }

    #[test]
    fn large_grouped_batch_with_a_duplicate_keeps_nothing_on_either_side() {
        let (mut dag, mut batch) = large_batch();
        dag.add_edge(5_000, 5_100, None).unwrap();
        let at = batch.len() / 2;
        batch.insert(at, (5_000, 5_100, None));
        let err = dag.add_edges(batch).unwrap_err();
        assert!(matches!(err, DagError::DuplicateEdge { .. }));
        assert_eq!(dag.edge_count(), 1);
        for id in 0..dag.id_bound() as u32 {
            let expect_out: &[u32] = if id == 5_000 { &[5_100] } else { &[] };
            let expect_in: &[u32] = if id == 5_100 { &[5_000] } else { &[] };
            assert_eq!(dag.successors(id), expect_out, "successors of {id}");
            assert_eq!(dag.predecessors(id), expect_in, "predecessors of {id}");
        }
    }

    #[test]
    fn grouped_batch_with_a_late_duplicate_or_cycle_keeps_nothing() {
        for bad in [(0u32, 20u32), (19, 0)] {
            let mut dag = nodes(30);
            dag.add_edge(0, 20, None).unwrap();
            let mut batch: Vec<(u32, u32, Option<EdgeAttrs>)> =
                (0..29).map(|i| (i, i + 1, None)).collect();
            batch.push((bad.0, bad.1, None));
            let before: Vec<_> = dag.edge_ids().collect();
            let err = dag.add_edges(batch).unwrap_err();
            if bad == (0, 20) {
                assert_eq!(
                    err,
                    DagError::DuplicateEdge {
                        from: "n0".into(),
                        to: "n20".into()
                    }
                );
            } else {
                assert!(matches!(err, DagError::Cycle { .. }));
            }
            assert_eq!(dag.edge_ids().collect::<Vec<_>>(), before);
            assert_eq!(dag.edge_count(), 1);
            assert_eq!(dag.predecessors(1), &[] as &[u32]);
        }
    }
}
