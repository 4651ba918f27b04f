//! [`StateIter`], a lazy range iterator, and [`Page`].

use std::collections::VecDeque;

use crate::context::SharedHost;
use crate::error::Result;

/// The largest page [`crate::Context::range_paged`] returns, in items.
pub const MAX_PAGE_SIZE: u32 = 1_000;

/// The `(key, value)` pairs of a range, in key order, fetched from the host a
/// batch at a time. The host's iterator is closed when this one is exhausted
/// or dropped. After an error the iterator ends.
pub struct StateIter {
    host: SharedHost,
    handle: Option<u32>,
    batch: VecDeque<(String, Vec<u8>)>,
}

impl core::fmt::Debug for StateIter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StateIter")
            .field("handle", &self.handle)
            .field("buffered", &self.batch.len())
            .finish()
    }
}

impl StateIter {
    pub(crate) fn new(host: SharedHost, handle: u32) -> Self {
        StateIter {
            host,
            handle: Some(handle),
            batch: VecDeque::new(),
        }
    }

    fn close(&mut self) {
        if let Some(handle) = self.handle.take() {
            // What was returned stays recorded; a failed close changes nothing.
            let _ = self.host.borrow_mut().range_close(handle);
        }
    }
}

impl Iterator for StateIter {
    type Item = Result<(String, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.batch.pop_front() {
            return Some(Ok(item));
        }
        let handle = self.handle?;
        let fetched = self.host.borrow_mut().range_next(handle);
        match fetched {
            Ok(batch) if batch.is_empty() => {
                self.close();
                None
            }
            Ok(batch) => {
                self.batch = batch.into();
                self.batch.pop_front().map(Ok)
            }
            Err(e) => {
                self.close();
                Some(Err(e.into()))
            }
        }
    }
}

impl Drop for StateIter {
    fn drop(&mut self) {
        self.close();
    }
}

/// One page of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The page's `(key, value)` pairs, in key order.
    pub items: Vec<(String, Vec<u8>)>,
    /// Where the next page starts; empty after the last page.
    pub bookmark: String,
}
