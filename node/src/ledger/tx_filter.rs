//! [`TxFilter`]: which transaction ids the index may hold, in memory, so
//! that asking about an id that was never committed — what the endorser,
//! the validator, the committer and the gateway ask about nearly every new
//! transaction — costs no tree lookup.

use fastbloom::BloomFilter;
use parking_lot::RwLock;
use weft_types::TxId;

/// The first layer's false-positive rate; each next layer's is half the
/// one before, so all of them together stay under twice this.
const FIRST_LAYER_RATE: f64 = 0.001;

/// The first layer's capacity, in ids (about 1.8 MB of bits); each next
/// layer holds twice as many as the one before.
const FIRST_LAYER_CAPACITY: usize = 1 << 20;

/// A set of transaction ids with false positives and no false negatives:
/// [`TxFilter::may_contain`] is `false` only for an id never inserted.
///
/// A Bloom filter keeps its false-positive rate only up to the number of
/// items it was sized for, and the index grows without end; so this is a
/// chain of filters (a scalable Bloom filter), each twice the capacity of
/// the one before at half its false-positive rate, and an id may be in the
/// set when any of them says so. With `n` ids there are `O(log n)` layers,
/// about 2.5 bytes per id, and under 0.2 % false positives in all.
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
    /// An empty filter.
    pub(crate) fn new() -> Self {
        TxFilter::starting_at(FIRST_LAYER_CAPACITY)
    }

    fn starting_at(capacity: usize) -> Self {
        TxFilter {
            layers: RwLock::new(Layers {
                filters: vec![layer(capacity, FIRST_LAYER_RATE)],
                in_last: 0,
                capacity_of_last: capacity,
            }),
        }
    }

    /// Adds `ids`. Call it before the index entries become readable: a
    /// reader that trusts a negative answer must never miss a committed id.
    pub(crate) fn insert_all(&self, ids: impl IntoIterator<Item = TxId>) {
        let mut layers = self.layers.write();
        for id in ids {
            if layers.in_last >= layers.capacity_of_last {
                let capacity = layers.capacity_of_last.saturating_mul(2);
                // Each layer half the rate of the one before it.
                let halvings = i32::try_from(layers.filters.len()).unwrap_or(i32::MAX);
                let rate = FIRST_LAYER_RATE * 0.5_f64.powi(halvings);
                layers.filters.push(layer(capacity, rate));
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

fn layer(capacity: usize, rate: f64) -> BloomFilter {
    BloomFilter::with_false_pos(rate).expected_items(capacity)
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
        let filter = TxFilter::starting_at(100);
        let ids: Vec<TxId> = (0..1_000).map(id).collect();
        filter.insert_all(ids.iter().copied());
        assert!(filter.layers.read().filters.len() >= 4);
        assert!(ids.iter().all(|i| filter.may_contain(i)));
    }

    #[test]
    fn ids_never_inserted_are_mostly_refused() {
        let filter = TxFilter::new();
        filter.insert_all((0..10_000).map(id));
        let false_positives = (10_000..110_000)
            .filter(|n| filter.may_contain(&id(*n)))
            .count();
        // 0.1 % expected; a filter that answered "maybe" to everything
        // would give 100,000.
        assert!(false_positives < 500, "{false_positives} false positives");
    }
}
