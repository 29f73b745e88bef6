//! The name -> id index: a [`ProbeTable`] of 8-byte slots, each a node id and 32 bits of its
//! name's hash. A probe reads a candidate's name (kept by the graph) only when those 32 bits
//! match. The home slot comes from the hash's top bits (`hash * slots >> 32`), so growing the
//! table reads no names.

use crate::graph::NodeId;
use crate::probe_table::{ProbeSlot, ProbeTable};

#[derive(Debug, Clone, Copy)]
struct Slot {
    id: NodeId,
    hash: u32,
}

/// The home of `hash` in a table of `slots` slots.
#[inline(always)]
fn home(hash: u32, slots: usize) -> usize {
    ((u64::from(hash) * slots as u64) >> 32) as usize
}

impl ProbeSlot for Slot {
    /// `NodeId::MAX` is never handed out.
    const FREE: Slot = Slot {
        id: NodeId::MAX,
        hash: 0,
    };

    #[inline(always)]
    fn is_free(&self) -> bool {
        self.id == NodeId::MAX
    }

    #[inline(always)]
    fn home(&self, slots: usize) -> usize {
        home(self.hash, slots)
    }
}

/// Id by name, with the names themselves kept by the caller (probes ask it to compare).
#[derive(Debug, Clone, Default)]
pub(crate) struct NameIndex {
    table: ProbeTable<Slot>,
}

impl NameIndex {
    pub fn with_capacity(entries: usize) -> Self {
        NameIndex {
            table: ProbeTable::with_capacity(entries),
        }
    }

    #[inline(always)]
    fn home(&self, hash: u32) -> usize {
        home(hash, self.table.slot_count())
    }

    /// Asks the CPU to fetch the cache line where a probe for `hash` starts.
    #[inline(always)]
    pub fn prefetch(&self, hash: u32) {
        self.table.prefetch(self.home(hash));
    }

    /// The id filed under `hash` for which `is` holds.
    #[inline]
    pub fn find(&self, hash: u32, mut is: impl FnMut(NodeId) -> bool) -> Option<NodeId> {
        self.table
            .find(self.home(hash), |s| s.hash == hash && is(s.id))
            .map(|s| s.id)
    }

    /// Files `id` under `hash` unless an id for which `is` holds is filed there already;
    /// returns that id then (and files nothing).
    #[inline(always)]
    pub fn insert_unless(
        &mut self,
        hash: u32,
        id: NodeId,
        mut is: impl FnMut(NodeId) -> bool,
    ) -> Option<NodeId> {
        debug_assert_ne!(id, NodeId::MAX);
        self.table
            .insert_unless(Slot { id, hash }, |s| s.hash == hash && is(s.id))
            .map(|s| s.id)
    }

    /// Unfiles `id`, filed under `hash`.
    pub fn remove(&mut self, hash: u32, id: NodeId) {
        self.table.remove(self.home(hash), |s| s.id == id);
    }

    /// Room for `extra` more entries without growing.
    pub fn reserve(&mut self, extra: usize) {
        self.table.reserve(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_told_apart_by_hash_then_by_the_callers_comparison() {
        let mut index = NameIndex::with_capacity(0);
        // Ids 0 and 1 share a hash (names differ); id 2 has its own.
        assert_eq!(index.insert_unless(7, 0, |_| true), None);
        assert_eq!(index.insert_unless(7, 1, |other| other == 1), None);
        assert_eq!(index.insert_unless(9, 2, |_| true), None);
        assert_eq!(index.insert_unless(7, 3, |other| other == 1), Some(1));
        assert_eq!(index.find(7, |id| id == 0), Some(0));
        assert_eq!(index.find(9, |_| true), Some(2));
        index.remove(7, 0);
        assert_eq!(index.find(7, |id| id == 0), None);
        assert_eq!(index.find(7, |id| id == 1), Some(1));
        // The top of the hash range homes at the last slot; growth keeps everything.
        index.reserve(1000);
        assert_eq!(index.insert_unless(u32::MAX, 4, |_| true), None);
        assert_eq!(index.find(u32::MAX, |_| true), Some(4));
        assert_eq!(index.find(7, |id| id == 1), Some(1));
    }
}
