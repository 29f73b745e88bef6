//! Node names packed into one buffer.
//!
//! A graph of 100k nodes would otherwise make 100k small string allocations to build and
//! 100k frees to drop. Here name `i` is the text between the ends of names `i - 1` and `i` in
//! one growing `String` (8 bytes of bookkeeping a node). A removed node's bytes stay behind,
//! unread, until removed text outweighs the live text; then the buffer is rewritten once.

/// Names by dense position.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameStore {
    text: String,
    ends: Vec<usize>,
    garbage: usize,
}

impl NameStore {
    pub fn with_capacity(names: usize) -> Self {
        NameStore {
            text: String::new(),
            ends: Vec::with_capacity(names),
            garbage: 0,
        }
    }

    fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1]
        }
    }

    /// The name at `i` (a forgotten one reads as its old text or as empty).
    #[inline]
    pub fn get(&self, i: usize) -> &str {
        &self.text[self.start(i)..self.ends[i]]
    }

    /// The name at `i` as bytes: for comparing names, which needs no check that the slice
    /// falls on character boundaries.
    #[inline]
    pub fn bytes(&self, i: usize) -> &[u8] {
        &self.text.as_bytes()[self.start(i)..self.ends[i]]
    }

    /// True when the names at `i` and `j` are the same.
    #[inline]
    pub fn same(&self, i: usize, j: usize) -> bool {
        self.bytes(i) == self.bytes(j)
    }

    pub fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends.push(self.text.len());
    }

    /// Drops the last name (undoing a `push`).
    pub fn pop(&mut self) {
        if self.ends.pop().is_some() {
            self.text.truncate(self.start(self.ends.len()));
        }
    }

    /// Room for `names` more names, their text included: as long as the names so far on
    /// average (16 bytes each for a first batch). Without it a large batch's text grows by
    /// doubling, copying the buffer each time; reserved room that ends up unused costs address
    /// space only, as its pages are never touched.
    pub fn reserve(&mut self, names: usize) {
        self.ends.reserve(names);
        let average = if self.ends.is_empty() {
            16
        } else {
            self.text.len().div_ceil(self.ends.len())
        };
        self.text.reserve(names.saturating_mul(average));
    }

    /// Marks the name at `i` as no longer needed. `live[k]` tells which names are still
    /// needed, for the rewrite that drops the others once they outweigh the rest.
    pub fn forget(&mut self, i: usize, live: &[bool]) {
        self.garbage += self.ends[i] - self.start(i);
        if self.garbage > 4096 && self.garbage * 2 > self.text.len() {
            self.compact(live);
        }
    }

    fn compact(&mut self, live: &[bool]) {
        let mut text = String::with_capacity(self.text.len() - self.garbage);
        let mut start = 0;
        for (end, &keep) in self.ends.iter_mut().zip(live) {
            if keep {
                text.push_str(&self.text[start..*end]);
            }
            start = *end;
            *end = text.len();
        }
        self.text = text;
        self.garbage = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pop_forget_and_compact_keep_every_live_name() {
        let mut store = NameStore::with_capacity(0);
        let names: Vec<String> = (0..3000).map(|i| format!("név-{i}")).collect();
        for n in &names {
            store.push(n);
        }
        store.push("last");
        store.pop();
        assert_eq!(store.ends.len(), names.len());
        let mut live = vec![true; names.len()];
        for i in (0..names.len()).filter(|i| i % 3 != 2) {
            live[i] = false;
            store.forget(i, &live);
        }
        assert!(store.text.len() < names.iter().map(String::len).sum::<usize>());
        for (i, n) in names.iter().enumerate() {
            if live[i] {
                assert_eq!(store.get(i), n);
            }
        }
        store.push("after");
        assert_eq!(store.get(names.len()), "after");
    }
}
