//! Adding many nodes at once, with their names filed in the index in one pass at the end.
//!
//! Filing a name costs a cache miss on a random slot of the index. Interleaved with the
//! caller's own per-node work (the Python bindings parse an object and call the interpreter a
//! few times for every node), those misses come one at a time. Filed together in a tight loop
//! that prefetches the slots a few names ahead, they overlap.

use super::bulk::two_cores;
use super::{Dag, NameHash, NodeId, NodeMark};
use crate::error::{DagError, Result};
use crate::name_index::NameIndex;
use crate::name_store::NameStore;
use std::borrow::Cow;

/// How many names ahead of the one it files [`NodeBatch::index`] prefetches.
const PREFETCH_AHEAD: usize = 16;

/// From this many pending names on, `commit_alongside` runs the caller's work on a second
/// thread (below, a thread costs more than the overlap saves).
const PARALLEL_MIN: usize = 1 << 15;

/// Files the names of nodes `first + from ..` (hashes `hashes[from..]`) in `index`, in order,
/// prefetching ahead; on a duplicate, `Err` with its position in `hashes`.
fn file_names(
    index: &mut NameIndex,
    names: &NameStore,
    hashes: &[u32],
    first: usize,
    from: usize,
) -> std::result::Result<(), usize> {
    for i in from..hashes.len() {
        if let Some(&ahead) = hashes.get(i + PREFETCH_AHEAD) {
            index.prefetch(ahead);
        }
        let id = (first + i) as NodeId;
        if index
            .insert_unless(hashes[i], id, |other| {
                names.same(other as usize, id as usize)
            })
            .is_some()
        {
            return Err(i);
        }
    }
    Ok(())
}

/// Nodes being added to a [`Dag`] together; see [`Dag::node_batch`].
///
/// A node is in the graph as soon as it is pushed, but its name is checked for duplicates and
/// made findable only by [`NodeBatch::index`] or [`NodeBatch::commit`]. Dropping the batch
/// without committing it removes every node it added.
#[derive(Debug)]
pub struct NodeBatch<'a, N> {
    dag: &'a mut Dag<N>,
    mark: NodeMark,
    /// The name hash of each node pushed, in push order.
    hashes: Vec<u32>,
    /// How many of them are indexed.
    indexed: usize,
    committed: bool,
}

impl<N> Dag<N> {
    /// Starts adding nodes in bulk (room is made for `size_hint` of them).
    ///
    /// ```
    /// use dagron_core::{Dag, DagError};
    /// let mut dag: Dag<u32> = Dag::new();
    /// let mut batch = dag.node_batch(3);
    /// batch.push("a", 1).unwrap();
    /// batch.push("b", 2).unwrap();
    /// batch.commit().unwrap();
    ///
    /// let mut batch = dag.node_batch(2);
    /// batch.push("c", 3).unwrap();
    /// batch.push("a", 4).unwrap();
    /// assert_eq!(batch.commit(), Err(DagError::DuplicateNode("a".into())));
    /// assert_eq!(dag.node_count(), 2);
    /// assert_eq!(dag.node_id("c"), None);
    /// ```
    pub fn node_batch(&mut self, size_hint: usize) -> NodeBatch<'_, N> {
        self.reserve_nodes(size_hint);
        NodeBatch {
            mark: self.node_mark(),
            hashes: Vec::with_capacity(size_hint),
            indexed: 0,
            committed: false,
            dag: self,
        }
    }
}

impl<N> NodeBatch<'_, N> {
    /// Adds a node; its name is checked against the others' only by `index` or `commit`.
    #[inline]
    pub fn push(&mut self, name: &str, data: N) -> Result<NodeId> {
        let id = self.push_name(name)?;
        self.dag.data.push(Some(data));
        Ok(id)
    }

    /// [`NodeBatch::push`] for a value that carries its own name (as
    /// [`Dag::add_node_named_by`]): `name_of` reads it, and may fail with the caller's error.
    #[inline(always)]
    pub fn push_named_by<E, F>(
        &mut self,
        data: N,
        name_of: F,
    ) -> std::result::Result<Result<NodeId>, E>
    where
        F: FnOnce(&N) -> std::result::Result<Cow<'_, str>, E>,
    {
        let name = name_of(&data)?;
        let id = match self.push_name(&name) {
            Ok(id) => id,
            Err(e) => return Ok(Err(e)),
        };
        self.dag.data.push(Some(data));
        Ok(Ok(id))
    }

    /// Everything of a new node but its value, which the caller pushes next.
    #[inline(always)]
    fn push_name(&mut self, name: &str) -> Result<NodeId> {
        let id = self.dag.next_id()?;
        let NameHash(hash) = self.dag.name_hash(name);
        self.dag.push_unindexed(name);
        self.hashes.push(hash);
        Ok(id)
    }

    /// Files the names pushed since the last call, in push order. On a name already in the
    /// graph (or pushed earlier in the batch) it stops with [`DagError::DuplicateNode`]: that
    /// is the first duplicate in push order, and the batch is then good only for dropping.
    pub fn index(&mut self) -> Result<()> {
        let first = self.mark_bound();
        let dag = &mut *self.dag;
        let filed = file_names(
            &mut dag.index,
            &dag.names,
            &self.hashes,
            first,
            self.indexed,
        );
        self.filed(filed)
    }

    /// Records how far `file_names` got.
    fn filed(&mut self, filed: std::result::Result<(), usize>) -> Result<()> {
        match filed {
            Ok(()) => {
                self.indexed = self.hashes.len();
                Ok(())
            }
            Err(i) => {
                self.indexed = i;
                let name = self.dag.names.get(self.mark_bound() + i);
                Err(DagError::DuplicateNode(name.to_owned()))
            }
        }
    }

    /// Files every name and keeps the batch; on a duplicate name nothing of it is kept.
    pub fn commit(mut self) -> Result<()> {
        self.index()?;
        self.committed = true;
        Ok(())
    }

    /// [`NodeBatch::commit`], running `alongside` meanwhile on the batch's first id and its
    /// nodes' values (in id order), and returning what it returns. A caller that keeps an
    /// index of its own over the values (the Python bindings index the name objects) builds
    /// it there. For a large batch on a machine with more than one core, `alongside` runs on
    /// a second thread while the names are filed; otherwise after. On a duplicate name the
    /// batch is undone and the error returned, and whatever `alongside` did stands: the
    /// caller undoes it.
    ///
    /// ```
    /// use dagron_core::Dag;
    /// let mut dag: Dag<u32> = Dag::new();
    /// let mut batch = dag.node_batch(2);
    /// batch.push("a", 10).unwrap();
    /// batch.push("b", 20).unwrap();
    /// let sum = batch
    ///     .commit_alongside(|first, values| {
    ///         assert_eq!(first, 0);
    ///         values.iter().flatten().sum::<u32>()
    ///     })
    ///     .unwrap();
    /// assert_eq!((sum, dag.node_id("b")), (30, Some(1)));
    /// ```
    pub fn commit_alongside<R, F>(mut self, alongside: F) -> Result<R>
    where
        N: Sync,
        R: Send,
        F: FnOnce(NodeId, &[Option<N>]) -> R + Send,
    {
        let first = self.mark_bound();
        let from = self.indexed;
        if self.hashes.len() - from < PARALLEL_MIN || !two_cores() {
            self.index()?;
            let result = alongside(first as NodeId, &self.dag.data[first..]);
            self.committed = true;
            return Ok(result);
        }
        let dag = &mut *self.dag;
        let hashes = &self.hashes;
        let (filed, result) = std::thread::scope(|scope| {
            let values = &dag.data[first..];
            let side = scope.spawn(move || alongside(first as NodeId, values));
            let filed = file_names(&mut dag.index, &dag.names, hashes, first, from);
            (
                filed,
                side.join().expect("the caller's work does not panic"),
            )
        });
        self.filed(filed)?;
        self.committed = true;
        Ok(result)
    }

    fn mark_bound(&self) -> usize {
        self.mark.bound
    }
}

impl<N> Drop for NodeBatch<'_, N> {
    fn drop(&mut self) {
        if !self.committed {
            self.dag.rollback_nodes(self.mark);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_committed_batch_is_findable_in_order() {
        let mut dag: Dag<usize> = Dag::new();
        dag.add_node("before", 0).unwrap();
        let names: Vec<String> = (0..1000).map(|i| format!("n{i}")).collect();
        let mut batch = dag.node_batch(names.len());
        for (i, n) in names.iter().enumerate() {
            assert_eq!(batch.push(n, i).unwrap() as usize, i + 1);
        }
        batch.commit().unwrap();
        assert_eq!(dag.node_count(), 1001);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(dag.node_id(n), Some(i as NodeId + 1));
            assert_eq!(*dag.data(i as NodeId + 1), i);
        }
        assert!(dag.add_node("n5", 0).is_err());
    }

    #[test]
    fn a_duplicate_anywhere_undoes_the_whole_batch() {
        for dup in ["before", "n3", "n999"] {
            let mut dag: Dag<usize> = Dag::new();
            dag.add_node("before", 0).unwrap();
            let mut batch = dag.node_batch(0);
            for i in 0..1000 {
                batch.push(&format!("n{i}"), i).unwrap();
            }
            batch.push(dup, 0).unwrap();
            batch.push("after", 0).unwrap();
            assert_eq!(batch.commit(), Err(DagError::DuplicateNode(dup.into())));
            assert_eq!(dag.node_count(), 1);
            assert_eq!(dag.id_bound(), 1);
            assert_eq!(dag.node_id("n3"), None);
            assert_eq!(dag.node_id("before"), Some(0));
            dag.add_node("n3", 1).unwrap();
        }
    }

    #[test]
    fn the_first_duplicate_in_push_order_is_reported() {
        let mut dag: Dag = Dag::new();
        let mut batch = dag.node_batch(0);
        for name in ["a", "b", "b", "a"] {
            batch.push(name, ()).unwrap();
        }
        assert_eq!(batch.index(), Err(DagError::DuplicateNode("b".into())));
    }

    #[test]
    fn a_large_batch_runs_the_callers_work_alongside_and_still_refuses_duplicates() {
        let names: Vec<String> = (0..PARALLEL_MIN + 10).map(|i| format!("n{i}")).collect();
        for dup in [None, Some("n12")] {
            let mut dag: Dag<usize> = Dag::new();
            let mut batch = dag.node_batch(names.len());
            for (i, n) in names.iter().enumerate() {
                batch.push(n, i).unwrap();
            }
            if let Some(d) = dup {
                batch.push(d, 0).unwrap();
            }
            let seen = batch.commit_alongside(|first, values| {
                assert_eq!(first, 0);
                values.iter().flatten().count()
            });
            match dup {
                None => {
                    assert_eq!(seen, Ok(names.len()));
                    assert_eq!(dag.node_id("n5"), Some(5));
                }
                Some(d) => {
                    assert_eq!(seen, Err(DagError::DuplicateNode(d.into())));
                    assert_eq!(dag.node_count(), 0);
                    assert_eq!(dag.node_id("n5"), None);
                }
            }
        }
    }

    #[test]
    fn an_uncommitted_batch_leaves_nothing_behind() {
        let mut dag: Dag = Dag::new();
        {
            let mut batch = dag.node_batch(2);
            batch.push("x", ()).unwrap();
            batch.index().unwrap();
            batch.push("y", ()).unwrap();
        }
        assert_eq!(dag.node_count(), 0);
        assert_eq!(dag.node_id("x"), None);
        dag.add_node("x", ()).unwrap();
        dag.add_node("y", ()).unwrap();
    }
}
