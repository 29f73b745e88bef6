//! Scheduler state for one run: which nodes are ready, what finishing one releases.
//!
//! Nodes are addressed by their position in the graph's insertion order (`0..len`), so the
//! caller can keep its per-node data in plain lists.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::dag_algo::remaining_path_weights;
use crate::error::{DagError, Result};
use crate::graph::Dag;

/// Where one node is in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Waiting for predecessors.
    Pending,
    /// All predecessors done; queued.
    Ready,
    /// Handed out by [`ReadySet::pop`].
    Running,
    /// Finished successfully.
    Done,
    /// Finished unsuccessfully (failed, timed out).
    Failed,
    /// Will not run: an ancestor failed, or the run stopped.
    Dropped,
}

#[derive(Debug, PartialEq)]
struct Ready {
    priority: f64,
    index: u32,
}

impl Eq for Ready {}

impl Ord for Ready {
    fn cmp(&self, other: &Self) -> Ordering {
        // Heaviest remaining path first; among equals, the node inserted first.
        self.priority
            .total_cmp(&other.priority)
            .then_with(|| other.index.cmp(&self.index))
    }
}

impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Dependency-driven ready queue: a node becomes ready the moment its own predecessors are
/// done. Among ready nodes the one with the heaviest path still ahead of it goes first
/// (critical path first), which shortens the run on unbalanced graphs.
///
/// ```
/// use dagron_core::{Dag, ReadySet};
/// let mut dag: Dag = Dag::new();
/// dag.add_nodes([("a", ()), ("b", ())]).unwrap();
/// dag.add_edge(0, 1, None).unwrap();
/// let mut rs = ReadySet::new(&dag, None).unwrap();
/// assert_eq!(rs.pop(10), vec![0]);
/// assert_eq!(rs.complete(0).unwrap(), vec![1]);
/// assert_eq!(rs.pop(10), vec![1]);
/// rs.complete(1).unwrap();
/// assert!(rs.is_finished());
/// ```
#[derive(Debug)]
pub struct ReadySet {
    offsets: Vec<u32>,
    targets: Vec<u32>,
    waiting_on: Vec<u32>,
    priority: Vec<f64>,
    slots: Vec<Slot>,
    heap: BinaryHeap<Ready>,
    running: usize,
}

impl ReadySet {
    /// Scheduler state for `dag`; `costs` (by position) weight the critical-path priority,
    /// `None` counts every node as 1.
    pub fn new<N>(dag: &Dag<N>, costs: Option<&[f64]>) -> Result<Self> {
        let mut position = vec![u32::MAX; dag.id_bound()];
        let ids: Vec<_> = dag.node_ids().collect();
        for (pos, &id) in ids.iter().enumerate() {
            position[id as usize] = pos as u32;
        }
        let by_id_costs = match costs {
            None => None,
            Some(c) if c.len() == ids.len() => {
                let mut v = vec![0.0; dag.id_bound()];
                for (pos, &id) in ids.iter().enumerate() {
                    v[id as usize] = c[pos];
                }
                Some(v)
            }
            Some(c) => {
                return Err(DagError::InvalidArgument(format!(
                    "expected {} costs, got {}",
                    ids.len(),
                    c.len()
                )))
            }
        };
        let weights = remaining_path_weights(dag, by_id_costs.as_deref())?;
        let mut offsets = Vec::with_capacity(ids.len() + 1);
        let mut targets = Vec::with_capacity(dag.edge_count());
        let mut waiting_on = Vec::with_capacity(ids.len());
        let mut priority = Vec::with_capacity(ids.len());
        offsets.push(0);
        for &id in &ids {
            targets.extend(dag.successors(id).iter().map(|&s| position[s as usize]));
            offsets.push(targets.len() as u32);
            waiting_on.push(dag.in_degree(id) as u32);
            priority.push(weights[id as usize]);
        }
        let mut slots = vec![Slot::Pending; ids.len()];
        let mut heap = BinaryHeap::new();
        for (i, &w) in waiting_on.iter().enumerate() {
            if w == 0 {
                slots[i] = Slot::Ready;
                heap.push(Ready {
                    priority: priority[i],
                    index: i as u32,
                });
            }
        }
        Ok(ReadySet {
            offsets,
            targets,
            waiting_on,
            priority,
            slots,
            heap,
            running: 0,
        })
    }

    /// Number of nodes in the run.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True for a run of no nodes.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Where node `index` is.
    pub fn slot(&self, index: u32) -> Slot {
        self.slots[index as usize]
    }

    /// Nodes queued and not yet handed out.
    pub fn ready_count(&self) -> usize {
        self.heap.len()
    }

    /// Nodes handed out and not yet reported back.
    pub fn running_count(&self) -> usize {
        self.running
    }

    /// True when nothing is ready or running: the run is over.
    pub fn is_finished(&self) -> bool {
        self.heap.is_empty() && self.running == 0
    }

    /// Hands out up to `max` ready nodes, most urgent first, and marks them running.
    pub fn pop(&mut self, max: usize) -> Vec<u32> {
        let mut out = Vec::with_capacity(max.min(self.heap.len()));
        while out.len() < max {
            let Some(r) = self.heap.pop() else { break };
            self.slots[r.index as usize] = Slot::Running;
            out.push(r.index);
        }
        self.running += out.len();
        out
    }

    fn successors(&self, index: u32) -> &[u32] {
        let (a, b) = (
            self.offsets[index as usize] as usize,
            self.offsets[index as usize + 1] as usize,
        );
        &self.targets[a..b]
    }

    fn finish(&mut self, index: u32, to: Slot) -> Result<()> {
        match self.slots.get(index as usize) {
            Some(Slot::Running) => {
                self.slots[index as usize] = to;
                self.running -= 1;
                Ok(())
            }
            Some(other) => Err(DagError::InvalidArgument(format!(
                "node #{index} is {other:?}, not running"
            ))),
            None => Err(DagError::InvalidArgument(format!("no node #{index}"))),
        }
    }

    /// Reports a running node done; returns the nodes this made ready (now queued).
    pub fn complete(&mut self, index: u32) -> Result<Vec<u32>> {
        self.finish(index, Slot::Done)?;
        let mut released = Vec::new();
        for k in self.offsets[index as usize]..self.offsets[index as usize + 1] {
            let s = self.targets[k as usize];
            let w = &mut self.waiting_on[s as usize];
            *w -= 1;
            if *w == 0 && self.slots[s as usize] == Slot::Pending {
                self.slots[s as usize] = Slot::Ready;
                self.heap.push(Ready {
                    priority: self.priority[s as usize],
                    index: s,
                });
                released.push(s);
            }
        }
        Ok(released)
    }

    /// Reports a running node failed; drops and returns every descendant not already
    /// dropped, in insertion order.
    pub fn fail(&mut self, index: u32) -> Result<Vec<u32>> {
        self.finish(index, Slot::Failed)?;
        let mut stack: Vec<u32> = self.successors(index).to_vec();
        let mut dropped = Vec::new();
        while let Some(n) = stack.pop() {
            if self.slots[n as usize] == Slot::Pending {
                self.slots[n as usize] = Slot::Dropped;
                dropped.push(n);
                stack.extend_from_slice(self.successors(n));
            }
        }
        dropped.sort_unstable();
        Ok(dropped)
    }

    /// Hands a running node back to the queue (a retry, or a lost worker).
    pub fn requeue(&mut self, index: u32) -> Result<()> {
        self.finish(index, Slot::Ready)?;
        self.heap.push(Ready {
            priority: self.priority[index as usize],
            index,
        });
        Ok(())
    }

    /// Stops the run: drops every node not yet handed out and returns them in insertion
    /// order. Running nodes are left to be reported.
    pub fn drop_unstarted(&mut self) -> Vec<u32> {
        self.heap.clear();
        let mut dropped = Vec::new();
        for (i, s) in self.slots.iter_mut().enumerate() {
            if matches!(s, Slot::Pending | Slot::Ready) {
                *s = Slot::Dropped;
                dropped.push(i as u32);
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// a -> b -> c -> d and a -> e: d's branch is longer, so b goes before e.
    fn unbalanced() -> Dag {
        let mut dag = Dag::new();
        dag.add_nodes([("a", ()), ("e", ()), ("b", ()), ("c", ()), ("d", ())])
            .unwrap();
        dag.add_edges([(0, 1, None), (0, 2, None), (2, 3, None), (3, 4, None)])
            .unwrap();
        dag
    }

    #[test]
    fn critical_path_first() {
        let mut rs = ReadySet::new(&unbalanced(), None).unwrap();
        assert_eq!(rs.pop(4), vec![0]);
        assert_eq!(rs.complete(0).unwrap(), vec![1, 2]);
        assert_eq!(rs.pop(1), vec![2]);
        assert_eq!(rs.pop(1), vec![1]);
    }

    #[test]
    fn failure_drops_descendants_only() {
        let mut rs = ReadySet::new(&unbalanced(), None).unwrap();
        rs.pop(1);
        rs.complete(0).unwrap();
        let got = rs.pop(2);
        assert_eq!(got, vec![2, 1]);
        assert_eq!(rs.fail(2).unwrap(), vec![3, 4]);
        rs.complete(1).unwrap();
        assert!(rs.is_finished());
        assert_eq!(rs.slot(4), Slot::Dropped);
    }

    #[test]
    fn reporting_a_node_twice_is_an_error() {
        let mut rs = ReadySet::new(&unbalanced(), None).unwrap();
        rs.pop(1);
        rs.complete(0).unwrap();
        assert!(rs.complete(0).is_err());
        assert!(rs.fail(3).is_err());
    }

    #[test]
    fn requeue_and_drop_unstarted() {
        let mut rs = ReadySet::new(&unbalanced(), None).unwrap();
        rs.pop(1);
        rs.requeue(0).unwrap();
        assert_eq!(rs.pop(1), vec![0]);
        assert_eq!(rs.drop_unstarted(), vec![1, 2, 3, 4]);
        assert_eq!(rs.running_count(), 1);
        assert!(!rs.is_finished());
        rs.complete(0).unwrap();
        assert!(rs.is_finished());
    }

    #[test]
    fn costs_steer_priority() {
        let mut costs = vec![1.0; 5];
        costs[1] = 10.0;
        let mut rs = ReadySet::new(&unbalanced(), Some(&costs)).unwrap();
        rs.pop(1);
        rs.complete(0).unwrap();
        assert_eq!(rs.pop(1), vec![1]);
    }
}
