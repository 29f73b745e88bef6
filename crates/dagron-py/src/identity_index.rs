//! A name index keyed by the identity of the `str` objects the graph holds.
//!
//! Every node keeps a strong reference to the `str` it was named with, so while the node lives
//! no other object can have that address: finding the address in the index proves the name,
//! without reading the string (or even its type) at all. Names given as the very objects the
//! nodes were created from, the common case (`add_edges` over the list that `add_nodes` took,
//! names handed back by queries, interned literals), resolve with one probe. Any other `str`
//! falls back to the core's own index by UTF-8 text.
//!
//! The table is open addressing with linear probing over 16-byte slots, at most half full, so
//! a probe nearly always ends in the cache line of its home slot and callers resolving many
//! names can [`IdentityIndex::prefetch`] that line ahead. A home slot keeps an address's order
//! within each 64 KiB of memory (names allocated one after another, as a list of names
//! usually is, get neighbouring slots, so filing or scanning them walks memory in order)
//! while each 64 KiB block starts at a scrambled offset, so that names spread over memory in
//! a regular stride do not pile up on a few slots.

use dagron_core::probe_table::{ProbeSlot, ProbeTable};
use dagron_core::{Dag, NodeId};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::names::NodeData;
use crate::utf8::name_text;

/// One slot: the address of a node's `str` (0 when free) and the node's id.
#[derive(Debug, Clone, Copy)]
struct Slot {
    addr: usize,
    id: NodeId,
}

/// The home of the object at `addr` in a table of `slots` slots.
#[inline(always)]
fn home(addr: usize, slots: usize) -> usize {
    // CPython allocates objects on 16-byte boundaries: the low 4 bits carry nothing.
    let block = ((addr >> 16) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    (addr >> 4).wrapping_add(block as usize) & (slots - 1)
}

impl ProbeSlot for Slot {
    const FREE: Slot = Slot { addr: 0, id: 0 };

    #[inline(always)]
    fn is_free(&self) -> bool {
        self.addr == 0
    }

    #[inline(always)]
    fn home(&self, slots: usize) -> usize {
        home(self.addr, slots)
    }
}

/// Name object -> id.
#[derive(Debug, Default)]
pub struct IdentityIndex {
    table: ProbeTable<Slot>,
}

impl IdentityIndex {
    /// The index of every live node of `dag`.
    pub fn build(dag: &Dag<NodeData>) -> Self {
        let mut index = IdentityIndex::default();
        index.table.reserve(dag.node_count());
        for id in dag.node_ids() {
            let addr = dag.data(id).name.as_ptr() as usize;
            index.table.insert_unless(Slot { addr, id }, |_| false);
        }
        index
    }

    #[inline(always)]
    fn home(&self, addr: usize) -> usize {
        home(addr, self.table.slot_count())
    }

    /// Asks the CPU to fetch the cache line where a probe for the object at `addr` starts.
    #[inline(always)]
    pub fn prefetch(&self, addr: usize) {
        self.table.prefetch(self.home(addr));
    }

    /// The node whose name is the object at `addr`.
    #[inline(always)]
    pub fn find_addr(&self, addr: usize) -> Option<NodeId> {
        self.table
            .find(self.home(addr), |s| s.addr == addr)
            .map(|s| s.id)
    }

    /// The node named `name`: by identity first, else by text.
    #[inline]
    pub fn find(&self, dag: &Dag<NodeData>, name: &Bound<'_, PyAny>) -> PyResult<Option<NodeId>> {
        match self.find_addr(name.as_ptr() as usize) {
            Some(id) => Ok(Some(id)),
            None => Self::find_by_text(dag, name),
        }
    }

    /// The node named `name`, found by its text (the object is not a node's own name).
    #[cold]
    #[inline(never)]
    pub fn find_by_text(dag: &Dag<NodeData>, name: &Bound<'_, PyAny>) -> PyResult<Option<NodeId>> {
        let Ok(text) = name.cast::<PyString>() else {
            return Ok(None);
        };
        Ok(dag.node_id(&name_text(text)?))
    }

    /// Files the nodes `first, first + 1, ...` whose values are `values` (all live: a batch
    /// just added), prefetching the slots of the names a few nodes ahead. Reads only the
    /// name objects' addresses, so it may run off the interpreter's thread.
    pub fn insert_values(&mut self, first: NodeId, values: &[Option<NodeData>]) {
        const AHEAD: usize = 8;
        self.table.reserve(values.len());
        let addr = |v: &Option<NodeData>| v.as_ref().map(|d| d.name.as_ptr() as usize);
        for (k, value) in values.iter().enumerate() {
            if let Some(later) = values.get(k + AHEAD).and_then(addr) {
                self.prefetch(later);
            }
            if let Some(addr) = addr(value) {
                let id = first + k as NodeId;
                self.table.insert_unless(Slot { addr, id }, |_| false);
            }
        }
    }

    /// Unfiles every node from id `first` on (a batch being undone).
    pub fn forget_from(&mut self, first: NodeId) {
        self.table.retain(|s| s.id < first);
    }

    /// Unfiles node `id` of `dag`.
    pub fn remove(&mut self, dag: &Dag<NodeData>, id: NodeId) {
        let addr = dag.data(id).name.as_ptr() as usize;
        self.table
            .remove(self.home(addr), |s| s.addr == addr && s.id == id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filed_address_is_found_and_others_are_not() {
        // Neighbours, a regular 64 KiB stride and scattered addresses, past several growths.
        let mut addrs: Vec<usize> = (0..3000).map(|i| 0x7f00_0000_0000 + 64 * i).collect();
        addrs.extend((0..3000).map(|i| 0x5500_0000_0000 + (i << 16)));
        addrs.extend(
            (0..3000u64)
                .map(|i| ((i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20) as usize & !15) + 16),
        );
        let mut index = IdentityIndex::default();
        for (id, &addr) in addrs.iter().enumerate() {
            index.table.insert_unless(
                Slot {
                    addr,
                    id: id as NodeId,
                },
                |_| false,
            );
        }
        for (id, &a) in addrs.iter().enumerate() {
            assert_eq!(index.find_addr(a), Some(id as NodeId));
        }
        assert_eq!(index.find_addr(0x7f00_0000_0000 + 64 * 3000), None);
        assert_eq!(index.find_addr(0x7f00_0000_0000 - 16), None);
    }

    #[test]
    fn a_regular_stride_spreads_over_the_table() {
        // Objects 64 KiB apart would all share one home without the per-block offset.
        let table_slots = 1 << 12;
        let homes: std::collections::HashSet<usize> = (0..1000usize)
            .map(|i| home(0x5500_0000_0000 + (i << 16), table_slots))
            .collect();
        assert!(homes.len() > 900, "{} distinct homes", homes.len());
    }
}
