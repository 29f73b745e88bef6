//! An open-addressing hash table with linear probing, for small `Copy` slots.
//!
//! The table is at most half full, so a probe nearly always ends in the cache line of its
//! home slot, and a caller that knows the keys it will probe next can [`ProbeTable::prefetch`]
//! their lines meanwhile: a loop over many keys then overlaps their cache misses instead of
//! waiting for each in turn. (A `hashbrown` table splits a probe between its control bytes
//! and its entries, and has no way to ask for a prefetch.) Removal shifts the rest of a run
//! back, so there are no tombstones. The graph's name index and the Python bindings' index of
//! name objects are built on it.

/// What a [`ProbeTable`] stores: a small `Copy` value that knows its home slot.
pub trait ProbeSlot: Copy {
    /// The value of an empty slot.
    const FREE: Self;

    /// True for [`ProbeSlot::FREE`].
    fn is_free(&self) -> bool;

    /// Where a probe for this slot's key starts in a table of `slots` slots (a power of two).
    /// Callers probing by key compute the same from the key.
    fn home(&self, slots: usize) -> usize;
}

/// Slots for `entries` entries: a power of two, at least twice as many.
fn slots_for(entries: usize) -> usize {
    entries.saturating_mul(2).next_power_of_two().max(8)
}

/// The table; see the module comment.
#[derive(Debug, Clone)]
pub struct ProbeTable<S> {
    slots: Vec<S>,
    len: usize,
}

impl<S: ProbeSlot> Default for ProbeTable<S> {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl<S: ProbeSlot> ProbeTable<S> {
    /// An empty table with room for `entries` entries.
    pub fn with_capacity(entries: usize) -> Self {
        ProbeTable {
            slots: vec![S::FREE; slots_for(entries)],
            len: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots: the `slots` argument of [`ProbeSlot::home`] for probes right now.
    #[inline(always)]
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    #[inline(always)]
    fn next(&self, i: usize) -> usize {
        (i + 1) & (self.slots.len() - 1)
    }

    /// Asks the CPU to fetch the cache line of slot `home`. Only a hint: any value is fine.
    #[inline(always)]
    #[allow(unsafe_code)]
    pub fn prefetch(&self, home: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let slot = self
                .slots
                .as_ptr()
                .wrapping_add(home & (self.slots.len() - 1));
            // SAFETY: SSE, the instruction's only requirement, is part of every x86-64 CPU,
            // and a prefetch reads nothing the program sees (it cannot fault either).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(slot.cast()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = home;
    }

    /// The first entry, probing from `home`, for which `is` holds.
    #[inline(always)]
    pub fn find(&self, home: usize, mut is: impl FnMut(&S) -> bool) -> Option<S> {
        let mut i = home;
        loop {
            let s = self.slots[i];
            if s.is_free() {
                return None;
            }
            if is(&s) {
                return Some(s);
            }
            i = self.next(i);
        }
    }

    /// Adds `slot` unless an entry for which `is` holds is there already (probing from
    /// `slot`'s home); returns that entry then, and adds nothing.
    #[inline(always)]
    pub fn insert_unless(&mut self, slot: S, mut is: impl FnMut(&S) -> bool) -> Option<S> {
        debug_assert!(!slot.is_free());
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mut i = slot.home(self.slots.len());
        loop {
            let s = self.slots[i];
            if s.is_free() {
                self.slots[i] = slot;
                self.len += 1;
                return None;
            }
            if is(&s) {
                return Some(s);
            }
            i = self.next(i);
        }
    }

    /// Removes the first entry, probing from `home`, for which `is` holds; false if none.
    pub fn remove(&mut self, home: usize, mut is: impl FnMut(&S) -> bool) -> bool {
        let mut i = home;
        loop {
            let s = self.slots[i];
            if s.is_free() {
                return false;
            }
            if is(&s) {
                break;
            }
            i = self.next(i);
        }
        self.len -= 1;
        // Shift back every later entry of the run whose home is not between the hole and it.
        let mut hole = i;
        let mut j = self.next(i);
        while !self.slots[j].is_free() {
            let home = self.slots[j].home(self.slots.len());
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = self.next(j);
        }
        self.slots[hole] = S::FREE;
        true
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
        self.rebuild(slots, |_| true);
    }

    /// Keeps only the entries for which `keep` holds (rebuilding the table).
    pub fn retain(&mut self, keep: impl FnMut(&S) -> bool) {
        self.rebuild(self.slots.len(), keep);
    }

    fn rebuild(&mut self, slots: usize, mut keep: impl FnMut(&S) -> bool) {
        let old = std::mem::replace(&mut self.slots, vec![S::FREE; slots]);
        self.len = 0;
        for s in old.into_iter().filter(|s| !s.is_free() && keep(s)) {
            let mut i = s.home(slots);
            while !self.slots[i].is_free() {
                i = self.next(i);
            }
            self.slots[i] = s;
            self.len += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A key with a deliberately weak home (seven homes in all, some at the table's end), so
    /// that long runs, wrap-around and shifting back all get exercised.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Key(u32);

    impl ProbeSlot for Key {
        const FREE: Key = Key(u32::MAX);
        fn is_free(&self) -> bool {
            self.0 == u32::MAX
        }
        fn home(&self, slots: usize) -> usize {
            slots - 1 - (self.0 % 7) as usize
        }
    }

    fn find(table: &ProbeTable<Key>, key: u32) -> Option<Key> {
        table.find(Key(key).home(table.slot_count()), |s| s.0 == key)
    }

    #[test]
    fn insert_find_remove_agree_with_a_set() {
        let mut table: ProbeTable<Key> = ProbeTable::default();
        let mut model = HashSet::new();
        for step in 0..20_000u32 {
            let key = step.wrapping_mul(2_654_435_761) % 500;
            if step % 3 == 2 {
                let home = Key(key).home(table.slot_count());
                assert_eq!(table.remove(home, |s| s.0 == key), model.remove(&key));
            } else {
                let existing = table.insert_unless(Key(key), |s| s.0 == key);
                assert_eq!(existing.is_some(), !model.insert(key));
            }
            assert_eq!(table.len(), model.len());
        }
        for key in 0..500u32 {
            assert_eq!(
                find(&table, key).is_some(),
                model.contains(&key),
                "key {key}"
            );
        }
    }

    #[test]
    fn reserve_and_growth_keep_every_entry() {
        let mut table: ProbeTable<Key> = ProbeTable::default();
        table.reserve(3);
        for key in 0..5_000u32 {
            assert_eq!(table.insert_unless(Key(key), |_| false), None);
        }
        assert!(table.slot_count() >= 10_000);
        assert!((0..5_000).all(|key| find(&table, key) == Some(Key(key))));
        assert_eq!(find(&table, 5_000), None);
        table.retain(|s| s.0 % 3 == 0);
        assert_eq!(table.len(), 1_667);
        assert!((0..5_000).all(|key| find(&table, key).is_some() == (key % 3 == 0)));
    }
}
