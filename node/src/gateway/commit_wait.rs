//! Waiting for commits by transaction id. Every request waiting for its
//! transaction (`submit?wait=true`, the status long poll) registers here;
//! one dispatcher task per gateway reads the committer's block events and
//! wakes only the waiters of the transactions each block holds.
//!
//! Before, each waiter subscribed to the block events itself and scanned
//! every block: with a thousand clients waiting, every block woke a
//! thousand tasks to find one or two transactions each — work that grew
//! with the load exactly when the peer had the least CPU to spare.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::oneshot;
use weft_types::TxId;

use super::api::TxStatus;
use crate::committer::{BlockEvent, Committer};

type Senders = Vec<(u64, oneshot::Sender<TxStatus>)>;

/// The transactions being waited for, and by whom.
#[derive(Debug, Default)]
pub(crate) struct CommitWaiters {
    waiting: Mutex<HashMap<TxId, Senders>>,
    next_id: AtomicU64,
    /// Whether the dispatcher runs (it starts with the first waiter, inside
    /// the runtime that serves the requests).
    started: Mutex<bool>,
}

/// One registered wait; leaving the registry when dropped.
pub(crate) struct Waiter {
    registry: Arc<CommitWaiters>,
    tx_id: TxId,
    id: u64,
    /// Receives the status once the transaction is committed.
    pub(crate) status: oneshot::Receiver<TxStatus>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.registry.forget(&self.tx_id, self.id);
    }
}

impl CommitWaiters {
    /// Registers a wait for `tx_id`. Call it before checking the ledger
    /// (or before sending the transaction): a commit after this call
    /// cannot be missed, one before it is the ledger's to tell.
    pub(crate) fn register(self: &Arc<Self>, committer: &Arc<Committer>, tx_id: TxId) -> Waiter {
        self.ensure_dispatcher(committer);
        self.add(tx_id)
    }

    fn add(self: &Arc<Self>, tx_id: TxId) -> Waiter {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, status) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.entry(tx_id).or_default().push((id, sender));
        }
        Waiter {
            registry: self.clone(),
            tx_id,
            id,
            status,
        }
    }

    fn forget(&self, tx_id: &TxId, id: u64) {
        let Ok(mut waiting) = self.waiting.lock() else {
            return;
        };
        let now_empty = waiting.get_mut(tx_id).is_some_and(|senders| {
            senders.retain(|(i, _)| *i != id);
            senders.is_empty()
        });
        if now_empty {
            waiting.remove(tx_id);
        }
    }

    /// Starts the dispatcher once. It subscribes here, synchronously, so
    /// that no block committed after the first registration is missed.
    fn ensure_dispatcher(self: &Arc<Self>, committer: &Arc<Committer>) {
        let Ok(mut started) = self.started.lock() else {
            return;
        };
        if *started {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        *started = true;
        runtime.spawn(dispatch(
            Arc::downgrade(self),
            Arc::downgrade(committer),
            committer.subscribe(),
        ));
    }

    /// Wakes the waiters of the transactions of `event`.
    fn committed(&self, event: &BlockEvent) {
        let Ok(mut waiting) = self.waiting.lock() else {
            return;
        };
        if waiting.is_empty() {
            return;
        }
        for tx in &event.txs {
            let Some(tx_id) = tx.tx_id else { continue };
            deliver(
                &mut waiting,
                TxStatus {
                    tx_id,
                    block: event.number,
                    index: tx.index,
                    code: tx.code,
                },
            );
        }
    }

    /// After missed events: asks the ledger about every transaction
    /// waited for. The registry is not locked while the ledger is read.
    fn recheck(&self, committer: &Committer) {
        let ids: Vec<TxId> = match self.waiting.lock() {
            Ok(waiting) => waiting.keys().copied().collect(),
            Err(_) => return,
        };
        let found: Vec<TxStatus> = ids
            .into_iter()
            .filter_map(|tx_id| {
                let (block, index, code) = committer.ledger().tx(&tx_id).ok()??;
                Some(TxStatus {
                    tx_id,
                    block,
                    index,
                    code,
                })
            })
            .collect();
        let Ok(mut waiting) = self.waiting.lock() else {
            return;
        };
        for status in found {
            deliver(&mut waiting, status);
        }
    }
}

/// Answers, and forgets, every waiter of `status.tx_id`.
fn deliver(waiting: &mut HashMap<TxId, Senders>, status: TxStatus) {
    for (_, sender) in waiting.remove(&status.tx_id).unwrap_or_default() {
        let _ = sender.send(status.clone());
    }
}

/// The dispatcher: until the gateway or the committer is gone.
async fn dispatch(
    waiters: Weak<CommitWaiters>,
    committer: Weak<Committer>,
    mut events: broadcast::Receiver<Arc<BlockEvent>>,
) {
    loop {
        let event = events.recv().await;
        let Some(waiters) = waiters.upgrade() else {
            return;
        };
        match event {
            Ok(event) => waiters.committed(&event),
            Err(RecvError::Lagged(_)) => {
                let Some(committer) = committer.upgrade() else {
                    return;
                };
                waiters.recheck(&committer);
            }
            Err(RecvError::Closed) => {
                // No commit will come: the waits end now (their receivers
                // see the senders dropped) rather than at their timeouts,
                // and a later registration starts a dispatcher again.
                if let Ok(mut started) = waiters.started.lock() {
                    *started = false;
                }
                if let Ok(mut waiting) = waiters.waiting.lock() {
                    waiting.clear();
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use weft_types::{Digest, ValidationCode};

    use super::*;
    use crate::committer::TxEvent;

    fn id(n: u8) -> TxId {
        TxId(Digest([n; 32]))
    }

    fn block(number: u64, txs: &[(u8, ValidationCode)]) -> BlockEvent {
        BlockEvent {
            number,
            block_hash: Digest::ZERO,
            timestamp_ms: 0,
            commit_hash: Digest::ZERO,
            txs: txs
                .iter()
                .enumerate()
                .map(|(i, (n, code))| TxEvent {
                    index: u32::try_from(i).unwrap(),
                    tx_id: Some(id(*n)),
                    code: *code,
                    detail: None,
                    chaincode: None,
                    event: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_block_wakes_exactly_the_waiters_of_its_transactions() {
        let waiters = Arc::new(CommitWaiters::default());
        let mut first = waiters.add(id(1));
        let mut second = waiters.add(id(1));
        let mut other = waiters.add(id(2));
        waiters.committed(&block(
            7,
            &[
                (9, ValidationCode::Valid),
                (1, ValidationCode::MvccReadConflict),
            ],
        ));
        for w in [&mut first, &mut second] {
            let status = w.status.try_recv().unwrap();
            assert_eq!((status.block, status.index), (7, 1));
            assert_eq!(status.code, ValidationCode::MvccReadConflict);
        }
        assert!(other.status.try_recv().is_err(), "tx 2 is not in block 7");
        let left: Vec<TxId> = waiters.waiting.lock().unwrap().keys().copied().collect();
        assert_eq!(left, [id(2)]);
    }

    #[test]
    fn a_dropped_waiter_leaves_the_registry() {
        let waiters = Arc::new(CommitWaiters::default());
        let kept = waiters.add(id(3));
        drop(waiters.add(id(3)));
        drop(waiters.add(id(4)));
        let waiting = waiters.waiting.lock().unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[&id(3)].len(), 1);
        assert_eq!(waiting[&id(3)][0].0, kept.id);
    }
}
