//! [`Generations`]: a bounded map that forgets its oldest entries in bulk,
//! for the peer's memories of work done (signatures it made, certificates
//! it verified).
//!
//! Entries go into the newer of two maps; when it is full it becomes the
//! older one and the previous older one is dropped. So between `size` and
//! `2 * size` of the latest entries are kept, without per-entry bookkeeping,
//! and flooding it with new entries only makes old ones be worked out again.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// Two generations of at most `size` entries each.
#[derive(Debug)]
pub(crate) struct Generations<K, V> {
    size: usize,
    newer: HashMap<K, V>,
    older: HashMap<K, V>,
}

impl<K: Hash + Eq, V> Generations<K, V> {
    /// Empty, keeping generations of `size` entries (at least 1).
    pub(crate) fn new(size: usize) -> Self {
        Generations {
            size: size.max(1),
            newer: HashMap::new(),
            older: HashMap::new(),
        }
    }

    /// Adds (or replaces) `key` in the newer generation, which first
    /// becomes the older one if it is full and does not hold `key`.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.newer.len() >= self.size && !self.newer.contains_key(&key) {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(key, value);
    }

    /// The entry of `key`, in either generation.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.newer.get(key).or_else(|| self.older.get(key))
    }

    /// The entry of `key`; one found in the older generation is moved to
    /// the newer one, so entries in use outlive a roll.
    pub(crate) fn get_renewed(&mut self, key: &K) -> Option<&V>
    where
        K: Clone,
    {
        if !self.newer.contains_key(key) {
            let value = self.older.remove(key)?;
            self.insert(key.clone(), value);
        }
        self.newer.get(key)
    }

    /// How many entries are kept.
    pub(crate) fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_between_one_and_two_generations() {
        let mut g = Generations::new(2);
        for i in 0..5 {
            g.insert(i, i * 10);
        }
        // {0, 1} | {2, 3} | {4}: the generation of 0 and 1 is gone.
        assert_eq!(g.get(&0), None);
        assert_eq!(g.get(&1), None);
        assert_eq!(g.get(&2), Some(&20));
        assert_eq!(g.get(&4), Some(&40));
        assert_eq!(g.len(), 3);
        // Replacing an entry of a full newer generation does not roll it.
        g.insert(5, 50);
        g.insert(5, 51);
        assert_eq!(g.get(&4), Some(&40));
        assert_eq!(g.get(&5), Some(&51));
    }

    #[test]
    fn a_renewed_entry_outlives_the_next_roll() {
        let mut g = Generations::new(2);
        for i in 0..4 {
            g.insert(i, i);
        }
        // newer {2, 3}, older {0, 1}: renewing 0 rolls (older {2, 3}).
        assert_eq!(g.get_renewed(&0), Some(&0));
        assert_eq!(g.get(&1), None);
        g.insert(4, 4);
        g.insert(5, 5);
        // newer {5}, older {0, 4}: 0 is still there, 2 and 3 are not.
        assert_eq!(g.get(&0), Some(&0));
        assert_eq!(g.get(&2), None);
        assert_eq!(g.get_renewed(&7), None);
    }
}
