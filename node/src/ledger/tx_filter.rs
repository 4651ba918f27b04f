//! [`TxFilter`]: which transaction ids the index may hold, in memory, so
//! that asking about an id that was never committed — what the endorser,
//! the validator, the committer and the gateway ask about nearly every new
//! transaction — costs no tree lookup.

use fastbloom::BloomFilter;
use parking_lot::RwLock;
use weft_types::TxId;

/// The false-positive rate of each layer.
const FALSE_POSITIVE_RATE: f64 = 0.001;

/// The smallest layer's capacity, in ids (about 1.8 MB of bits).
const MIN_LAYER_CAPACITY: usize = 1 << 20;

/// A set of transaction ids with false positives and no false negatives:
/// [`TxFilter::may_contain`] is `false` only for an id never inserted.
///
/// A Bloom filter keeps its false-positive rate only up to the number of
/// items it was sized for, and the index grows without end; so this is a
/// chain of filters, each twice the capacity of the one before, and an id
/// may be in the set when any of them says so. With `n` ids there are
/// `O(log n)` layers and the rate stays under a few tenths of a percent.
#[derive(Debug)]
pub(crate) struct TxFilter {
    layers: RwLock<Layers>,
}

#[derive(Debug)]
struct Layers {
    /// Oldest first; only the last takes new ids.
    filters: Vec<BloomFilter>,
    /// How many ids the last filter took, and how many it was sized for.
    in_last: usize,
    capacity_of_last: usize,
}

impl TxFilter {
    /// A filter sized for `expected` ids to start with.
    pub(crate) fn new(expected: usize) -> Self {
        let capacity = expected.saturating_mul(2).max(MIN_LAYER_CAPACITY);
        TxFilter {
            layers: RwLock::new(Layers {
                filters: vec![layer(capacity)],
                in_last: 0,
                capacity_of_last: capacity,
            }),
        }
    }

    /// A filter holding `ids` (the index as found at open).
    pub(crate) fn with_ids(ids: &[TxId]) -> Self {
        let filter = TxFilter::new(ids.len());
        filter.insert_all(ids);
        filter
    }

    /// Adds `ids`. Call it before the index entries become readable: a
    /// reader that trusts a negative answer must never miss a committed id.
    pub(crate) fn insert_all<'a>(&self, ids: impl IntoIterator<Item = &'a TxId>) {
        let mut layers = self.layers.write();
        for id in ids {
            if layers.in_last >= layers.capacity_of_last {
                let capacity = layers.capacity_of_last.saturating_mul(2);
                layers.filters.push(layer(capacity));
                layers.capacity_of_last = capacity;
                layers.in_last = 0;
            }
            let last = layers.filters.last_mut().expect("there is always a layer");
            last.insert(id.0.as_bytes());
            layers.in_last += 1;
        }
    }

    /// `false` when `id` was certainly never inserted.
    pub(crate) fn may_contain(&self, id: &TxId) -> bool {
        let layers = self.layers.read();
        layers.filters.iter().any(|f| f.contains(id.0.as_bytes()))
    }
}

fn layer(capacity: usize) -> BloomFilter {
    BloomFilter::with_false_pos(FALSE_POSITIVE_RATE).expected_items(capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> TxId {
        TxId(weft_types::sha3_256(&n.to_be_bytes()))
    }

    #[test]
    fn every_inserted_id_is_found_across_layers() {
        // A small first layer forces new layers: nothing inserted may be
        // lost when one fills.
        let filter = TxFilter {
            layers: RwLock::new(Layers {
                filters: vec![layer(100)],
                in_last: 0,
                capacity_of_last: 100,
            }),
        };
        let ids: Vec<TxId> = (0..1_000).map(id).collect();
        filter.insert_all(&ids);
        assert!(filter.layers.read().filters.len() >= 4);
        assert!(ids.iter().all(|i| filter.may_contain(i)));
    }

    #[test]
    fn ids_never_inserted_are_mostly_refused() {
        let filter = TxFilter::with_ids(&(0..10_000).map(id).collect::<Vec<_>>());
        let false_positives = (10_000..110_000)
            .filter(|n| filter.may_contain(&id(*n)))
            .count();
        // 0.1 % expected; a filter that answered "maybe" to everything
        // would give 100,000.
        assert!(false_positives < 500, "{false_positives} false positives");
    }
}
