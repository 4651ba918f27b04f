//! [`BlockCutter`]: the leader's batching of envelopes into blocks, as a
//! pure core (no clock, no I/O): the caller passes the time.
//!
//! Rules (Fabric's `BatchSize` and `BatchTimeout`):
//! - an envelope over `absolute_max_bytes` never gets here: broadcast
//!   rejects it ([`BlockCutter::admit`]);
//! - an envelope over `preferred_max_bytes` is a block of its own (what is
//!   pending is cut first);
//! - an envelope that would take the pending batch over
//!   `preferred_max_bytes` cuts the pending batch first;
//! - a batch is cut when it reaches `max_message_count` envelopes;
//! - a non-empty batch is cut `batch_timeout_ms` after its first envelope
//!   arrived ([`BlockCutter::deadline`], [`BlockCutter::cut_if_due`]).

use weft_types::OrderingParams;

/// One pending envelope: its bytes (as received) and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending<T> {
    /// What the caller batches (the envelope, or its JSON).
    pub item: T,
    /// Its size in bytes, as counted against the limits.
    pub bytes: u64,
}

/// Why broadcast refuses an envelope outright.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the envelope is {bytes} bytes; the channel accepts at most {max} (AbsoluteMaxBytes)")]
pub struct TooLarge {
    /// The envelope's size.
    pub bytes: u64,
    /// `absolute_max_bytes`.
    pub max: u64,
}

/// Batches envelopes into blocks.
#[derive(Debug, Clone)]
pub struct BlockCutter<T> {
    params: OrderingParams,
    pending: Vec<T>,
    pending_bytes: u64,
    /// When the first pending envelope arrived (caller's clock, ms).
    first_at_ms: Option<u64>,
}

impl<T> BlockCutter<T> {
    /// A cutter with the channel's ordering parameters.
    pub fn new(params: OrderingParams) -> Self {
        BlockCutter {
            params,
            pending: Vec::new(),
            pending_bytes: 0,
            first_at_ms: None,
        }
    }

    /// Whether broadcast may accept an envelope of `bytes` bytes.
    pub fn admit(&self, bytes: u64) -> Result<(), TooLarge> {
        if bytes > self.params.absolute_max_bytes {
            return Err(TooLarge {
                bytes,
                max: self.params.absolute_max_bytes,
            });
        }
        Ok(())
    }

    /// Adds an envelope that arrived at `now_ms`; returns the batches it
    /// completes, oldest first (none, one or two).
    pub fn push(&mut self, envelope: Pending<T>, now_ms: u64) -> Vec<Vec<T>> {
        let mut cut = Vec::new();
        let Pending { item, bytes } = envelope;
        if bytes > self.params.preferred_max_bytes {
            cut.extend(self.cut());
            cut.push(vec![item]);
            return cut;
        }
        if self.pending_bytes + bytes > self.params.preferred_max_bytes {
            cut.extend(self.cut());
        }
        if self.pending.is_empty() {
            self.first_at_ms = Some(now_ms);
        }
        self.pending.push(item);
        self.pending_bytes += bytes;
        if self.pending.len() >= self.params.max_message_count.max(1) as usize {
            cut.extend(self.cut());
        }
        cut
    }

    /// When the pending batch must be cut (ms, caller's clock); `None` when
    /// nothing is pending.
    pub fn deadline(&self) -> Option<u64> {
        self.first_at_ms
            .map(|t| t.saturating_add(self.params.batch_timeout_ms))
    }

    /// The pending batch if its deadline has passed at `now_ms`.
    pub fn cut_if_due(&mut self, now_ms: u64) -> Option<Vec<T>> {
        match self.deadline() {
            Some(deadline) if now_ms >= deadline => self.cut(),
            _ => None,
        }
    }

    /// The pending batch, now, if any (e.g. on losing leadership the caller
    /// takes it back to forward).
    pub fn cut(&mut self) -> Option<Vec<T>> {
        if self.pending.is_empty() {
            return None;
        }
        self.pending_bytes = 0;
        self.first_at_ms = None;
        Some(std::mem::take(&mut self.pending))
    }

    /// Envelopes pending.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(count: u32, preferred: u64, absolute: u64, timeout: u64) -> OrderingParams {
        OrderingParams {
            batch_timeout_ms: timeout,
            max_message_count: count,
            absolute_max_bytes: absolute,
            preferred_max_bytes: preferred,
        }
    }

    fn env(id: u32, bytes: u64) -> Pending<u32> {
        Pending { item: id, bytes }
    }

    #[test]
    fn cuts_at_the_message_count() {
        let mut c = BlockCutter::new(params(3, 1000, 2000, 100));
        assert!(c.push(env(1, 10), 0).is_empty());
        assert!(c.push(env(2, 10), 1).is_empty());
        assert_eq!(c.push(env(3, 10), 2), vec![vec![1, 2, 3]]);
        assert!(c.is_empty());
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn cuts_before_going_over_the_preferred_size() {
        let mut c = BlockCutter::new(params(100, 100, 1000, 100));
        assert!(c.push(env(1, 60), 0).is_empty());
        assert_eq!(c.push(env(2, 60), 0), vec![vec![1]]);
        assert_eq!(c.len(), 1);
        // Over the preferred size on its own: the pending batch, then it alone.
        assert_eq!(c.push(env(3, 150), 0), vec![vec![2], vec![3]]);
        assert!(c.is_empty());
    }

    #[test]
    fn cuts_on_timeout_from_the_first_envelope() {
        let mut c = BlockCutter::new(params(100, 1000, 2000, 100));
        assert_eq!(c.cut_if_due(1_000), None);
        c.push(env(1, 10), 1_000);
        c.push(env(2, 10), 1_090);
        assert_eq!(c.deadline(), Some(1_100));
        assert_eq!(c.cut_if_due(1_099), None);
        assert_eq!(c.cut_if_due(1_100), Some(vec![1, 2]));
        assert_eq!(c.cut_if_due(5_000), None);
    }

    #[test]
    fn admits_up_to_the_absolute_size() {
        let c = BlockCutter::<u32>::new(params(10, 100, 1000, 100));
        assert_eq!(c.admit(1000), Ok(()));
        let err = c.admit(1001).unwrap_err();
        assert!(err.to_string().contains("at most 1000"));
    }

    proptest! {
        /// Nothing is lost, duplicated or reordered; every batch respects
        /// the count, and only a single envelope can exceed the preferred size.
        #[test]
        fn batches_keep_order_and_limits(
            sizes in proptest::collection::vec(1u64..300, 0..200),
            count in 1u32..20,
            preferred in 50u64..400,
        ) {
            let mut c = BlockCutter::new(params(count, preferred, 10_000, 100));
            let mut out: Vec<Vec<u32>> = Vec::new();
            for (i, size) in sizes.iter().enumerate() {
                out.extend(c.push(env(i as u32, *size), i as u64));
            }
            out.extend(c.cut());
            let flat: Vec<u32> = out.iter().flatten().copied().collect();
            prop_assert_eq!(flat, (0..sizes.len() as u32).collect::<Vec<_>>());
            for batch in &out {
                prop_assert!(!batch.is_empty());
                prop_assert!(batch.len() <= count as usize);
                let bytes: u64 = batch.iter().map(|i| sizes[*i as usize]).sum();
                prop_assert!(bytes <= preferred || batch.len() == 1);
            }
        }
    }
}
