//! Range iterators: committed state fetched a batch at a time and merged
//! with the call's own writes, recording what the validator re-checks.

use std::collections::VecDeque;
use std::ops::Bound;

use weft_abi::{ErrorCode, HostError};
use weft_types::{KvRead, RangeQueryInfo, Version};

use super::simulator::{TxSimulator, invalid, latch};
use super::{
    MAX_BATCH_BYTES, MAX_KEY_BYTES, MAX_OPEN_ITERATORS, MAX_RANGE_QUERIES, RANGE_BATCH, StateView,
};
use crate::context::PLAIN_KEYS_START;

/// An open iterator.
#[derive(Debug)]
pub(super) struct Cursor {
    /// Index of its record in `TxSimulator::ranges`.
    record: usize,
    start: String,
    end: String,
    /// The last key consumed (from either source); the next one is after it.
    last: Option<String>,
    /// Committed entries fetched but not consumed yet.
    committed: VecDeque<(String, Vec<u8>, Version)>,
    /// Where the next committed fetch starts; `None` once committed state is exhausted.
    fetch_from: Option<String>,
    exhausted: bool,
}

/// The smallest string greater than `key`.
fn successor(key: &str) -> String {
    let mut next = String::with_capacity(key.len() + 1);
    next.push_str(key);
    next.push('\u{0}');
    next
}

fn check_bound(bound: &str) -> Result<(), HostError> {
    if bound.len() > MAX_KEY_BYTES {
        return Err(HostError::new(
            ErrorCode::LimitExceeded,
            format!("range bound longer than {MAX_KEY_BYTES} bytes"),
        ));
    }
    Ok(())
}

impl<S: StateView> TxSimulator<S> {
    pub(super) fn open_range(&mut self, start: &str, end: &str) -> Result<u32, HostError> {
        check_bound(start)?;
        check_bound(end)?;
        if self.iterators.len() >= MAX_OPEN_ITERATORS {
            return Err(HostError::new(
                ErrorCode::LimitExceeded,
                format!("at most {MAX_OPEN_ITERATORS} range iterators may be open at once"),
            ));
        }
        if self.ranges.len() >= MAX_RANGE_QUERIES {
            return Err(HostError::new(
                ErrorCode::LimitExceeded,
                format!("a call may open at most {MAX_RANGE_QUERIES} range queries"),
            ));
        }
        let start = if start.is_empty() {
            PLAIN_KEYS_START
        } else {
            start
        };
        let empty = !end.is_empty() && end <= start;
        let handle = self.next_handle;
        self.next_handle = self
            .next_handle
            .checked_add(1)
            .ok_or_else(|| invalid("out of iterator handles"))?;
        self.ranges.push(RangeQueryInfo {
            start_key: start.to_string(),
            end_key: end.to_string(),
            exhausted: empty,
            reads: Vec::new(),
            scanned_to: None,
        });
        self.iterators.insert(
            handle,
            Cursor {
                record: self.ranges.len() - 1,
                start: start.to_string(),
                end: end.to_string(),
                last: None,
                committed: VecDeque::new(),
                fetch_from: (!empty).then(|| start.to_string()),
                exhausted: empty,
            },
        );
        Ok(handle)
    }

    pub(super) fn next_batch(&mut self, handle: u32) -> Result<Vec<(String, Vec<u8>)>, HostError> {
        let cursor = self
            .iterators
            .get_mut(&handle)
            .ok_or_else(|| invalid(format!("no open range iterator {handle}")))?;
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        let mut bytes = 0usize;
        while !cursor.exhausted
            && out.len() < RANGE_BATCH
            && (out.is_empty() || bytes < MAX_BATCH_BYTES)
        {
            if cursor.committed.is_empty()
                && let Some(from) = cursor.fetch_from.take()
            {
                let fetched = match latch(
                    &mut self.failure,
                    self.state
                        .range(&self.namespace, &from, &cursor.end, RANGE_BATCH),
                ) {
                    Ok(fetched) => fetched,
                    Err(e) => {
                        // Leave the cursor where it was, so nothing is skipped.
                        cursor.fetch_from = Some(from);
                        return Err(e);
                    }
                };
                if fetched.len() >= RANGE_BATCH {
                    cursor.fetch_from = fetched.last().map(|(k, _, _)| successor(k));
                }
                cursor.committed = fetched.into();
            }
            let lower = match &cursor.last {
                Some(last) => Bound::Excluded(last.as_str()),
                None => Bound::Included(cursor.start.as_str()),
            };
            let upper = match cursor.end.as_str() {
                "" => Bound::Unbounded,
                end => Bound::Excluded(end),
            };
            let own_key = self
                .writes
                .range::<str, _>((lower, upper))
                .next()
                .map(|(k, _)| k.clone());
            let committed_key = cursor.committed.front().map(|(k, _, _)| k.as_str());
            let record = &mut self.ranges[cursor.record];
            let from_own = match (committed_key, own_key.as_deref()) {
                (None, None) => {
                    cursor.exhausted = true;
                    record.exhausted = true;
                    break;
                }
                (None, Some(_)) => true,
                (Some(c), Some(w)) => w < c,
                (Some(_), None) => false,
            };
            let (key, value) = match (from_own, own_key, cursor.committed.pop_front()) {
                (true, Some(key), committed) => {
                    // A key only this call wrote: not a committed read.
                    if let Some(c) = committed {
                        cursor.committed.push_front(c);
                    }
                    let value = self.writes.get(&key).cloned().flatten();
                    (key, value)
                }
                (_, _, Some((key, value, version))) => {
                    record.reads.push(KvRead {
                        key: key.clone(),
                        version: Some(version),
                    });
                    // The call's own write of the key replaces (or hides) the committed value.
                    match self.writes.get(&key) {
                        Some(own) => (key, own.clone()),
                        None => (key, Some(value)),
                    }
                }
                _ => break,
            };
            cursor.last = Some(key.clone());
            if let Some(value) = value {
                bytes += key.len() + value.len();
                out.push((key, value));
            }
        }
        let record = &mut self.ranges[cursor.record];
        record.scanned_to = if cursor.exhausted {
            None
        } else {
            cursor.last.clone()
        };
        check_batch(&out)?;
        Ok(out)
    }
}

/// Guards against a [`StateView`] returning keys out of order, which would
/// break the merge and the validator's re-run alike.
fn check_batch(batch: &[(String, Vec<u8>)]) -> Result<(), HostError> {
    if batch.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(HostError::new(
            ErrorCode::Internal,
            "the state view returned keys out of order",
        ));
    }
    Ok(())
}
