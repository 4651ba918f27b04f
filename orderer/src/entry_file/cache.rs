//! [`EntryCache`]: the newest entries of an entry file, in memory, so that
//! reading back what was just appended does no I/O.

use std::collections::VecDeque;

use raft::eraftpb::Entry;

/// Entries with consecutive indexes, each with its payload length (its
/// protobuf size); the oldest go once they hold more than `max_bytes`.
/// Entries share their data with the caller's (`Bytes`), so keeping one
/// costs no copy.
pub(super) struct EntryCache {
    entries: VecDeque<(Entry, u32)>,
    bytes: u64,
    max_bytes: u64,
}

impl std::fmt::Debug for EntryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryCache")
            .field("entries", &self.entries.len())
            .field("bytes", &self.bytes)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl EntryCache {
    /// An empty cache holding at most `max_bytes` of payload.
    pub(super) fn new(max_bytes: u64) -> EntryCache {
        EntryCache {
            entries: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Adds `entry`, which follows the newest one, then drops the oldest
    /// entries beyond the limit.
    pub(super) fn push(&mut self, entry: &Entry, len: u32) {
        if self
            .entries
            .back()
            .is_some_and(|(e, _)| e.index + 1 != entry.index)
        {
            self.clear();
        }
        self.entries.push_back((entry.clone(), len));
        self.bytes += u64::from(len);
        while self.bytes > self.max_bytes {
            let Some((_, len)) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= u64::from(len);
        }
    }

    /// Entry `index`, if cached.
    pub(super) fn get(&self, index: u64) -> Option<&Entry> {
        let first = self.entries.front()?.0.index;
        let position = usize::try_from(index.checked_sub(first)?).ok()?;
        self.entries.get(position).map(|(entry, _)| entry)
    }

    /// Drops entry `index` and every later one.
    pub(super) fn truncate_from(&mut self, index: u64) {
        while self.entries.back().is_some_and(|(e, _)| e.index >= index) {
            if let Some((_, len)) = self.entries.pop_back() {
                self.bytes -= u64::from(len);
            }
        }
    }

    /// Drops the entries up to `index`.
    pub(super) fn drop_through(&mut self, index: u64) {
        while self.entries.front().is_some_and(|(e, _)| e.index <= index) {
            if let Some((_, len)) = self.entries.pop_front() {
                self.bytes -= u64::from(len);
            }
        }
    }

    /// Drops every entry.
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64) -> Entry {
        Entry {
            index,
            ..Entry::default()
        }
    }

    fn cached(cache: &EntryCache) -> Vec<u64> {
        cache.entries.iter().map(|(e, _)| e.index).collect()
    }

    #[test]
    fn keeps_the_newest_entries_within_its_bytes() {
        let mut cache = EntryCache::new(25);
        for index in 1..=5 {
            cache.push(&entry(index), 10);
        }
        assert_eq!(cached(&cache), [4, 5]);
        assert_eq!(cache.get(3), None);
        assert_eq!(cache.get(4).map(|e| e.index), Some(4));
        assert_eq!(cache.get(6), None);
        cache.truncate_from(5);
        cache.push(&entry(5), 30);
        assert_eq!(cached(&cache), Vec::<u64>::new(), "larger than the cache");
        cache.push(&entry(6), 5);
        cache.push(&entry(7), 5);
        cache.drop_through(6);
        assert_eq!(cached(&cache), [7]);
        assert_eq!(cache.bytes, 5);
        // An entry that does not follow replaces what was cached.
        cache.push(&entry(20), 5);
        assert_eq!(cached(&cache), [20]);
    }
}
