//! [`SigBatcher`]: verifies the creator signatures of concurrent proposals,
//! and the gateway's other signature checks (other orgs' endorsements), in
//! ed25519 batches.
//!
//! Checking a proposal's signature alone is the costliest step of an
//! endorsement that runs cheap chaincode; a batch costs about half as much
//! per signature once it holds tens of them, less when a key signs many of
//! them (another org's peer signs every endorsement it returns). Each
//! caller queues one signature ([`SigBatcher::verify`] for a [`Prepared`]
//! proposal, [`SigBatcher::verify_signature`] for any other) and waits for
//! its own verdict. A task (started by the first call, on its runtime)
//! takes everything queued — up to [`MAX_BATCH_CHECKS`] — and verifies it
//! on a blocking thread, with up to [`MAX_BATCHES_IN_FLIGHT`] batches at
//! once. Nothing waits on a timer: a lone signature is verified at once as
//! a batch of one, and what arrives while a batch is verified makes the
//! next batch. So batches grow only with the load: under a steady trickle
//! most are of one, and save nothing.
//!
//! A batch that fails is checked again one signature at a time, so a bad
//! signature fails its own call and no other. Checking each costs one
//! verification, so a batch spoiled by one bad signature costs at most
//! half again what checking its signatures alone would have.
//!
//! # The rule
//!
//! Batches and single checks follow ZIP 215 ([`weft_types::batch_verify`]),
//! as [`super::Endorser::authenticate`] and validation do, so a signature's
//! verdict does not depend on its batch nor on where it is checked.
//!
//! **Invariant: a call never hangs on the batcher.** Its answer is a
//! oneshot; if the task holding it stops (its runtime shut down, a panic),
//! the call gets [`SigBatchError::Stopped`] at once. At most
//! [`MAX_QUEUED_CHECKS`] wait; past that a call gets
//! [`SigBatchError::Overloaded`] at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Semaphore, mpsc, oneshot};
use weft_types::batch_verify::{SignatureCheck, first_failures};

use super::authenticate::{Prepared, Unverified, Verified};
use super::error::EndorseError;

/// Signatures one batch holds at most. Past a few tens, a bigger batch
/// saves little more per signature and makes its callers wait longer.
pub const MAX_BATCH_CHECKS: usize = 128;

/// Batches being verified at once. One: a thread verifying in batches
/// keeps up with tens of thousands of proposals a second, and a second
/// batch in flight would mostly take, as batches of one, proposals that
/// would otherwise have joined the next batch. A lone proposal waits at
/// most for one batch (a few milliseconds at [`MAX_BATCH_CHECKS`]).
pub const MAX_BATCHES_IN_FLIGHT: usize = 1;

/// Signature checks waiting for a batch at most; past it, a call is
/// refused at once ([`SigBatchError::Overloaded`]).
pub const MAX_QUEUED_CHECKS: usize = 4096;

/// Why [`SigBatcher::verify`] did not make a proposal [`Verified`].
#[derive(Debug, thiserror::Error)]
pub enum SigBatchError {
    /// The signature does not verify: [`EndorseError::BadSignature`],
    /// naming the creator.
    #[error(transparent)]
    Refused(EndorseError),
    /// [`MAX_QUEUED_CHECKS`] checks are waiting already.
    #[error(
        "{MAX_QUEUED_CHECKS} signatures are already waiting to be verified on this peer; retry later"
    )]
    Overloaded,
    /// The batcher's task is not running: it stopped (its runtime shut
    /// down), or there was no tokio runtime to start it on.
    #[error("the signature verifier is not running: {0}")]
    Stopped(&'static str),
}

/// What a [`SigBatcher`] has verified so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigBatchStats {
    /// Batches verified (a lone check is a batch of one).
    pub batches: u64,
    /// Signatures verified, in all batches.
    pub checks: u64,
    /// Batches of more than one that failed and were checked again one
    /// signature at a time.
    pub failed_batches: u64,
}

/// One signature waiting for its verdict, and who waits.
type Pending = SignatureCheck<Waiter>;

/// Who waits for a signature's verdict.
enum Waiter {
    /// An endorser, for a proposal: answered with it verified, or refused.
    Proposal(Unverified, oneshot::Sender<Result<Verified, EndorseError>>),
    /// A gateway, for another signature: answered whether it verified.
    Signature(oneshot::Sender<bool>),
}

impl Waiter {
    fn gone(&self) -> bool {
        match self {
            Waiter::Proposal(_, answer) => answer.is_closed(),
            Waiter::Signature(answer) => answer.is_closed(),
        }
    }

    /// Answers with the verdict. A caller that went away (its client hung
    /// up) needs no answer.
    fn settle(self, verified: bool) {
        match self {
            Waiter::Proposal(who, answer) => {
                let _ = answer.send(if verified {
                    Ok(who.verified())
                } else {
                    Err(who.refused())
                });
            }
            Waiter::Signature(answer) => {
                let _ = answer.send(verified);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    checks: AtomicU64,
    failed_batches: AtomicU64,
}

/// Verifies the signatures of concurrent proposals in batches. See the
/// module documentation.
pub struct SigBatcher {
    queue: mpsc::Sender<Pending>,
    /// The queue's other end, until the task draining it starts.
    idle: Mutex<Option<mpsc::Receiver<Pending>>>,
    started: AtomicBool,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for SigBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigBatcher")
            .field("started", &self.started.load(Ordering::Relaxed))
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Default for SigBatcher {
    fn default() -> Self {
        SigBatcher::new()
    }
}

impl SigBatcher {
    /// A batcher queueing up to [`MAX_QUEUED_CHECKS`]. Needs no runtime:
    /// its task starts with the first [`SigBatcher::verify`].
    pub fn new() -> Self {
        SigBatcher::with_queue(MAX_QUEUED_CHECKS)
    }

    /// A batcher queueing up to `max_queued_checks` (at least one).
    fn with_queue(max_queued_checks: usize) -> Self {
        let (queue, idle) = mpsc::channel(max_queued_checks.max(1));
        SigBatcher {
            queue,
            idle: Mutex::new(Some(idle)),
            started: AtomicBool::new(false),
            counters: Arc::default(),
        }
    }

    /// Checks `prepared`'s signature in a batch with whatever else is
    /// waiting: the proposal [`Verified`], or [`SigBatchError::Refused`]
    /// with the [`EndorseError::BadSignature`] that
    /// [`Prepared::verify_alone`] would give.
    pub async fn verify(&self, prepared: Prepared) -> Result<Verified, SigBatchError> {
        let (answer, answered) = oneshot::channel();
        let check = prepared.into_check();
        self.queue(check.map_who(|who| Waiter::Proposal(who, answer)))?;
        match answered.await {
            Ok(verdict) => verdict.map_err(SigBatchError::Refused),
            Err(_) => Err(stopped()),
        }
    }

    /// Checks any signature in a batch with whatever else is waiting:
    /// whether it verifies, or why it could not be queued (then the caller
    /// may check it alone).
    pub async fn verify_signature<W>(
        &self,
        check: SignatureCheck<W>,
    ) -> Result<bool, SigBatchError> {
        let (answer, answered) = oneshot::channel();
        self.queue(check.map_who(|_| Waiter::Signature(answer)))?;
        answered.await.map_err(|_| stopped())
    }

    fn queue(&self, pending: Pending) -> Result<(), SigBatchError> {
        self.start()?;
        self.queue.try_send(pending).map_err(|e| match e {
            TrySendError::Full(_) => SigBatchError::Overloaded,
            TrySendError::Closed(_) => stopped(),
        })
    }

    /// What has been verified so far.
    pub fn stats(&self) -> SigBatchStats {
        SigBatchStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            checks: self.counters.checks.load(Ordering::Relaxed),
            failed_batches: self.counters.failed_batches.load(Ordering::Relaxed),
        }
    }

    /// Starts the task draining the queue, on the caller's runtime, once.
    fn start(&self) -> Result<(), SigBatchError> {
        if self.started.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut idle = self.idle.lock();
        if let Some(queue) = idle.take() {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                *idle = Some(queue);
                return Err(SigBatchError::Stopped("it needs a tokio runtime"));
            };
            runtime.spawn(drain(queue, self.counters.clone()));
        }
        self.started.store(true, Ordering::Release);
        Ok(())
    }
}

fn stopped() -> SigBatchError {
    SigBatchError::Stopped("it stopped before the signature was checked")
}

/// Takes batches off `queue` and verifies each on a blocking thread, at
/// most [`MAX_BATCHES_IN_FLIGHT`] at once. Ends when every sender is gone.
async fn drain(mut queue: mpsc::Receiver<Pending>, counters: Arc<Counters>) {
    let in_flight = Arc::new(Semaphore::new(MAX_BATCHES_IN_FLIGHT));
    loop {
        // A free slot first: what arrives meanwhile joins the next batch.
        let Ok(slot) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::new();
        if queue.recv_many(&mut batch, MAX_BATCH_CHECKS).await == 0 {
            return;
        }
        let counters = counters.clone();
        // If the runtime is shutting down the closure is dropped, and with
        // it the answers: the callers learn the batcher stopped.
        tokio::task::spawn_blocking(move || {
            settle(batch, &counters);
            drop(slot);
        });
    }
}

/// Verifies `batch` and answers each caller: in one batch, and if that
/// fails, one signature at a time.
fn settle(mut batch: Vec<Pending>, counters: &Counters) {
    // Nobody waits for these any more.
    batch.retain(|p| !p.who.gone());
    if batch.is_empty() {
        return;
    }
    counters.batches.fetch_add(1, Ordering::Relaxed);
    counters
        .checks
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    let groups: Vec<&[Pending]> = batch.iter().map(std::slice::from_ref).collect();
    let verdicts = first_failures(&groups);
    if batch.len() > 1 && verdicts.iter().any(Option::is_some) {
        counters.failed_batches.fetch_add(1, Ordering::Relaxed);
    }
    for (p, failed) in batch.into_iter().zip(verdicts) {
        p.who.settle(failed.is_none());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use weft_tests::network::{GENESIS_MS, TestNetwork};
    use weft_types::{Domain, Identity, SignedProposal};

    use super::super::authenticate::prepare;
    use super::*;
    use crate::cert_cache::CertCache;

    const PATIENCE: Duration = Duration::from_secs(10);

    struct Fixture {
        net: TestNetwork,
        certs: CertCache,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                net: TestNetwork::new(&["Org1", "Org2"]),
                certs: CertCache::new(16),
            }
        }

        /// A proposal by `creator`, numbered `n` (its argument).
        fn proposal(&self, creator: &Identity, n: usize) -> SignedProposal {
            let n = n.to_string();
            self.net
                .proposal(creator, "cc", "read", &[&n], &BTreeMap::new())
        }

        fn prepare(&self, signed: &SignedProposal) -> Prepared {
            let config = Arc::new(self.net.config.clone());
            prepare(
                &self.certs,
                config,
                GENESIS_MS / 1000,
                signed,
                BTreeMap::new(),
            )
            .unwrap()
        }
    }

    fn is_bad_signature(got: &Result<Verified, SigBatchError>) -> bool {
        matches!(
            got,
            Err(SigBatchError::Refused(EndorseError::BadSignature { .. }))
        )
    }

    // On one thread, so that every call is queued before the batcher's task
    // runs: on more, how the calls fall into batches depends on timing.
    // `tests/endorse_batch.rs` sends concurrent proposals through the
    // gateway on two threads.
    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_checks_are_batched_and_only_the_forged_ones_fail() {
        let f = Fixture::new();
        let client = &f.net.clients[0];
        let forged_at = [7, 23, 41];
        let proposals: Vec<SignedProposal> = (0..50)
            .map(|i| {
                let mut p = f.proposal(client, i);
                match forged_at.iter().position(|&at| at == i) {
                    // Signed by another client.
                    Some(0) => {
                        p.signature = f.net.clients[1].sign(Domain::Proposal, &p.payload_digest());
                    }
                    // An `R` that may not even decompress.
                    Some(1) => p.signature.0[3] ^= 0x10,
                    // Another `s`.
                    Some(_) => p.signature.0[40] ^= 1,
                    None => {}
                }
                p
            })
            .collect();
        let prepared: Vec<Prepared> = proposals.iter().map(|p| f.prepare(p)).collect();
        let b = Arc::new(SigBatcher::new());
        let calls: Vec<_> = prepared
            .into_iter()
            .map(|prepared| {
                let b = b.clone();
                tokio::spawn(async move { b.verify(prepared).await })
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            let got = tokio::time::timeout(PATIENCE, call)
                .await
                .expect("answered")
                .unwrap();
            if forged_at.contains(&i) {
                assert!(is_bad_signature(&got), "{i}: {got:?}");
            } else {
                let verified = got.unwrap();
                let header = &verified.authenticated().proposal.header;
                assert_eq!(header.tx_id, proposals[i].decode().unwrap().header.tx_id);
            }
        }
        let stats = b.stats();
        assert_eq!(stats.checks, 50, "{stats:?}");
        assert!(stats.batches < 50, "not batched: {stats:?}");
        assert!(stats.failed_batches >= 1, "checked one by one: {stats:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_lone_check_is_a_batch_of_one() {
        // That a signature gets the same verdict alone and in a batch is
        // `verify_all`'s; `tests/endorse_batch.rs` checks it through the
        // gateway with a signature only the cofactored rule accepts.
        let f = Fixture::new();
        let good = f.proposal(&f.net.clients[0], 0);
        let mut forged = good.clone();
        forged.signature = f.net.clients[1].sign(Domain::Proposal, &good.payload_digest());
        let b = SigBatcher::new();
        b.verify(f.prepare(&good)).await.unwrap();
        let stats = b.stats();
        assert_eq!((stats.batches, stats.checks), (1, 1), "{stats:?}");
        let got = b.verify(f.prepare(&forged)).await;
        assert!(is_bad_signature(&got), "{got:?}");
        let expected = SigBatchStats {
            batches: 2,
            checks: 2,
            failed_batches: 0,
        };
        assert_eq!(b.stats(), expected);
    }

    /// Other signatures (the gateway's check of other orgs' endorsements)
    /// share batches with proposals, each answered on its own.
    #[tokio::test(flavor = "current_thread")]
    async fn plain_signatures_join_the_batches_of_proposals() {
        let f = Fixture::new();
        let peer = &f.net.peers[1];
        let digest = weft_types::sha3_256(b"response");
        let endorsement = |signed: &weft_types::Digest| {
            SignatureCheck::new(
                (),
                &peer.body().public_key,
                Domain::Endorsement,
                &digest,
                &peer.sign(Domain::Endorsement, signed),
            )
        };
        let p = f.proposal(&f.net.clients[0], 0);
        let b = SigBatcher::new();
        let (proposal, good, bad, good_again) = tokio::join!(
            b.verify(f.prepare(&p)),
            b.verify_signature(endorsement(&digest)),
            b.verify_signature(endorsement(&weft_types::sha3_256(b"other"))),
            b.verify_signature(endorsement(&digest)),
        );
        proposal.unwrap();
        assert_eq!(
            (good.unwrap(), bad.unwrap(), good_again.unwrap()),
            (true, false, true)
        );
        let expected = SigBatchStats {
            batches: 1,
            checks: 4,
            failed_batches: 1,
        };
        assert_eq!(b.stats(), expected);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_refuses_at_once() {
        let f = Fixture::new();
        let p = f.proposal(&f.net.clients[0], 0);
        let b = SigBatcher::with_queue(2);
        // All three are queued before the task takes any.
        let (one, two, three) = tokio::join!(
            b.verify(f.prepare(&p)),
            b.verify(f.prepare(&p)),
            b.verify(f.prepare(&p))
        );
        one.unwrap();
        two.unwrap();
        assert!(matches!(three, Err(SigBatchError::Overloaded)), "{three:?}");
    }

    #[test]
    fn calls_fail_instead_of_hanging_when_the_task_stops() {
        let f = Fixture::new();
        let p = f.proposal(&f.net.clients[0], 0);
        let b = SigBatcher::new();
        // Outside any tokio runtime the task cannot start.
        let outside = futures::executor::block_on(b.verify(f.prepare(&p)));
        assert!(
            matches!(outside, Err(SigBatchError::Stopped(_))),
            "{outside:?}"
        );

        // The first call starts the task on its runtime, which then stops.
        let runtime = || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap()
        };
        let first = runtime();
        first.block_on(b.verify(f.prepare(&p))).unwrap();
        first.shutdown_background();
        let later = runtime().block_on(async {
            tokio::time::timeout(PATIENCE, b.verify(f.prepare(&p)))
                .await
                .expect("a call after the task stopped is answered at once")
        });
        assert!(matches!(later, Err(SigBatchError::Stopped(_))), "{later:?}");
    }
}
