//! The name -> id index: open addressing with linear probing over 8-byte slots.
//!
//! A slot holds a node id and 32 bits of its name's hash; a probe reads a candidate's name only
//! when those 32 bits match. The table is at most half full, so a probe almost always ends in
//! the cache line of the name's home slot, and a caller that knows the next names' hashes can
//! [`NameIndex::prefetch`] that line while it works on the current one: a bulk insert then
//! overlaps the cache misses of several names instead of waiting for each in turn. (A
//! `hashbrown` table keeps its control bytes and its entries in two places, and has no way to
//! ask for a prefetch.)
//!
//! The home slot comes from the hash's top bits (`hash * capacity >> 32`), so growing the table
//! reads no names. Removal shifts the following entries back (no tombstones).

use crate::graph::NodeId;

/// A free slot's id. `NodeId::MAX` is never handed out.
const FREE: NodeId = NodeId::MAX;

#[derive(Debug, Clone, Copy)]
struct Slot {
    id: NodeId,
    hash: u32,
}

impl Slot {
    const EMPTY: Slot = Slot { id: FREE, hash: 0 };
}

/// Id by name, with the names themselves kept by the caller (probes ask it to compare).
#[derive(Debug, Clone)]
pub(crate) struct NameIndex {
    slots: Vec<Slot>,
    len: usize,
}

impl Default for NameIndex {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

/// Slots for `entries` entries: a power of two, at least twice as many.
fn slots_for(entries: usize) -> usize {
    entries.saturating_mul(2).next_power_of_two().max(8)
}

impl NameIndex {
    pub fn with_capacity(entries: usize) -> Self {
        NameIndex {
            slots: vec![Slot::EMPTY; slots_for(entries)],
            len: 0,
        }
    }

    #[inline]
    fn home(&self, hash: u32) -> usize {
        ((u64::from(hash) * self.slots.len() as u64) >> 32) as usize
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        (i + 1) & (self.slots.len() - 1)
    }

    /// Asks the CPU to fetch the cache line where a probe for `hash` starts.
    #[inline]
    #[allow(unsafe_code)]
    pub fn prefetch(&self, hash: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let slot = self.slots[self.home(hash)..].as_ptr();
            // SAFETY: SSE, the instruction's only requirement, is part of every x86-64 CPU,
            // and a prefetch reads nothing the program sees (it cannot fault either).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(slot.cast()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = hash;
    }

    /// The id whose slot has `hash` and for which `is` holds.
    #[inline]
    pub fn find(&self, hash: u32, mut is: impl FnMut(NodeId) -> bool) -> Option<NodeId> {
        let mut i = self.home(hash);
        loop {
            let s = self.slots[i];
            if s.id == FREE {
                return None;
            }
            if s.hash == hash && is(s.id) {
                return Some(s.id);
            }
            i = self.next(i);
        }
    }

    /// Adds `id` under `hash` unless an entry for which `is` holds is there already; returns
    /// that entry's id then (and adds nothing).
    #[inline(always)]
    pub fn insert_unless(
        &mut self,
        hash: u32,
        id: NodeId,
        mut is: impl FnMut(NodeId) -> bool,
    ) -> Option<NodeId> {
        debug_assert_ne!(id, FREE);
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mut i = self.home(hash);
        loop {
            let s = self.slots[i];
            if s.id == FREE {
                self.slots[i] = Slot { id, hash };
                self.len += 1;
                return None;
            }
            if s.hash == hash && is(s.id) {
                return Some(s.id);
            }
            i = self.next(i);
        }
    }

    /// Removes the entry of `id`, filed under `hash`.
    pub fn remove(&mut self, hash: u32, id: NodeId) {
        let mut i = self.home(hash);
        loop {
            let s = self.slots[i];
            if s.id == FREE {
                return;
            }
            if s.id == id {
                break;
            }
            i = self.next(i);
        }
        self.len -= 1;
        // Shift back every following entry of the run that may sit at or before the hole.
        let mut hole = i;
        let mut j = self.next(i);
        loop {
            let s = self.slots[j];
            if s.id == FREE {
                break;
            }
            let home = self.home(s.hash);
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = s;
                hole = j;
            }
            j = self.next(j);
        }
        self.slots[hole] = Slot::EMPTY;
    }

    /// Room for `extra` more entries without growing.
    pub fn reserve(&mut self, extra: usize) {
        let want = slots_for(self.len.saturating_add(extra));
        if want > self.slots.len() {
            self.rehash(want);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        self.rehash(self.slots.len() * 2);
    }

    fn rehash(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, vec![Slot::EMPTY; slots]);
        for s in old.into_iter().filter(|s| s.id != FREE) {
            let mut i = self.home(s.hash);
            while self.slots[i].id != FREE {
                i = self.next(i);
            }
            self.slots[i] = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A deliberately weak hash so that runs of collisions and wrap-around get exercised.
    fn weak(key: u32) -> u32 {
        (key % 7).wrapping_mul(0x2545_f491) ^ (key % 3) << 30
    }

    #[test]
    fn insert_find_remove_agree_with_a_map() {
        let mut index = NameIndex::with_capacity(0);
        let mut model: HashMap<u32, NodeId> = HashMap::new();
        // id == key here, so `is` compares ids.
        for step in 0..20_000u32 {
            let key = step.wrapping_mul(2_654_435_761) % 500;
            let hash = weak(key);
            if step % 3 == 2 {
                if model.remove(&key).is_some() {
                    index.remove(hash, key);
                }
            } else {
                let existing = index.insert_unless(hash, key, |id| id == key);
                assert_eq!(existing.is_some(), model.contains_key(&key));
                model.insert(key, key);
            }
            assert_eq!(index.len, model.len());
        }
        for key in 0..500u32 {
            let found = index.find(weak(key), |id| id == key);
            assert_eq!(found, model.get(&key).copied(), "key {key}");
        }
    }

    #[test]
    fn runs_that_wrap_past_the_end_survive_removal() {
        let mut index = NameIndex::with_capacity(4);
        let last = u32::MAX; // home is the table's last slot
        for id in 0..4 {
            assert_eq!(index.insert_unless(last, id, |other| other == id), None);
        }
        index.remove(last, 1);
        for id in [0, 2, 3] {
            assert_eq!(index.find(last, |other| other == id), Some(id));
        }
        assert_eq!(index.find(last, |other| other == 1), None);
    }

    #[test]
    fn reserve_and_growth_keep_every_entry() {
        let mut index = NameIndex::default();
        index.reserve(3);
        for id in 0..10_000u32 {
            let hash = id.wrapping_mul(0x9e37_79b9);
            assert_eq!(index.insert_unless(hash, id, |_| false), None);
        }
        assert!(index.slots.len() >= 20_000);
        for id in (0..10_000u32).step_by(7) {
            let hash = id.wrapping_mul(0x9e37_79b9);
            assert_eq!(index.find(hash, |other| other == id), Some(id));
        }
    }
}
