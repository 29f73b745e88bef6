//! Cross-module checks on pseudo-random graphs: orders, levels, JSON, atomic batches.

use dagron_core::dag_algo::{depths, topological_levels, topological_sort};
use dagron_core::export::{from_json, to_json, NodeExtras};
use dagron_core::{Dag, DagError, NodeId, ReadySet};

/// A small deterministic generator (64-bit LCG), enough to vary shapes without a dependency.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// A random DAG: edges only go from a lower to a higher position in a shuffled order, so it
/// is acyclic, while insertion order differs from any topological order.
fn random_dag(seed: u64, n: usize, m: usize) -> Dag {
    let mut rng = Lcg(seed);
    let mut rank: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        rank.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut dag = Dag::new();
    let names: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    dag.add_nodes(names.iter().map(|s| (s.as_str(), ())))
        .unwrap();
    let mut edges = Vec::new();
    for _ in 0..m {
        let (a, b) = (rng.below(n as u64) as usize, rng.below(n as u64) as usize);
        if rank[a] < rank[b]
            && !edges
                .iter()
                .any(|&(x, y, _)| x == a as u32 && y == b as u32)
        {
            edges.push((a as NodeId, b as NodeId, None));
        }
    }
    dag.add_edges(edges).unwrap();
    dag
}

#[test]
fn every_edge_respects_the_order_and_levels_are_depths() {
    for seed in 0..40 {
        let dag = random_dag(seed, 60, 150);
        let order = topological_sort(&dag);
        assert_eq!(order.len(), dag.node_count());
        let mut pos = vec![0; dag.id_bound()];
        for (i, &id) in order.iter().enumerate() {
            pos[id as usize] = i;
        }
        for (f, t) in dag.edge_ids() {
            assert!(pos[f as usize] < pos[t as usize]);
        }
        let depth = depths(&dag);
        for (level, ids) in topological_levels(&dag).iter().enumerate() {
            for &id in ids {
                assert_eq!(depth[id as usize] as usize, level);
                let want = dag
                    .predecessors(id)
                    .iter()
                    .map(|&p| depth[p as usize] + 1)
                    .max()
                    .unwrap_or(0);
                assert_eq!(depth[id as usize], want);
            }
        }
    }
}

#[test]
fn json_round_trip_is_identity() {
    for seed in 0..10 {
        let dag = random_dag(seed, 40, 100);
        let text = to_json(&dag, |_, _| NodeExtras::default());
        let (back, _) = from_json(&text).unwrap();
        assert_eq!(to_json(&back, |_, _| NodeExtras::default()), text);
    }
}

#[test]
fn a_cyclic_batch_changes_nothing() {
    for seed in 0..20 {
        let mut dag = random_dag(seed, 30, 60);
        let before: Vec<_> = dag.edge_ids().collect();
        let order = topological_sort(&dag);
        // Edges chaining the whole order (each harmless alone) plus one from its last node
        // back to its first.
        let mut batch: Vec<_> = order
            .windows(2)
            .filter(|w| !dag.has_edge(w[0], w[1]))
            .map(|w| (w[0], w[1], None))
            .collect();
        batch.push((*order.last().unwrap(), order[0], None));
        let err = dag.add_edges(batch).unwrap_err();
        let DagError::Cycle { path } = err else {
            panic!("expected a cycle, got {err}")
        };
        assert_eq!(path.first(), path.last());
        assert_eq!(dag.edge_ids().collect::<Vec<_>>(), before);
    }
}

#[test]
fn ready_set_runs_every_node_once_in_dependency_order() {
    let dag = random_dag(7, 80, 200);
    let mut rs = ReadySet::new(&dag, None).unwrap();
    let mut done = vec![false; dag.node_count()];
    while !rs.is_finished() {
        for i in rs.pop(3) {
            for &p in dag.predecessors(i) {
                assert!(done[p as usize], "node {i} ran before its predecessor {p}");
            }
            assert!(!done[i as usize]);
            done[i as usize] = true;
            rs.complete(i).unwrap();
        }
    }
    assert!(done.iter().all(|&d| d));
}
