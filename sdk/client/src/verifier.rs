//! [`EndorsementVerifier`]: checks the endorsement signatures of the
//! concurrent endorse calls of one gateway connection in ed25519 batches.
//!
//! A client checks every endorsed transaction before signing it (see
//! `Endorsed`): two or three signatures each, which alone cost about as
//! much as the rest of the client's work per transaction. Batched across
//! the calls in flight they cost about half as much per signature.
//! [`EndorsementVerifier::finish`] queues one transaction's checks and
//! waits for its own verdict. A task (started by the first call, on its
//! runtime) takes everything queued — up to [`MAX_BATCH_JOBS`]
//! transactions — and verifies it on a blocking thread, one batch at a
//! time; what arrives meanwhile makes the next batch. Nothing waits on a
//! timer: a lone call is a batch of its own.
//!
//! A batch that fails is checked again one transaction at a time (each as
//! `batch_verify::verify` would alone), so a bad endorsement fails only
//! its own transaction. Without a tokio runtime, or with
//! [`MAX_QUEUED_JOBS`] waiting, a call verifies its own signatures inline.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use weft_types::batch_verify::{self, SignatureCheck};

use crate::error::{ClientError, Result};
use crate::proposal::{Endorsed, Prechecked};

/// Transactions one batch holds at most.
pub(crate) const MAX_BATCH_JOBS: usize = 64;

/// Transactions waiting for a batch at most; past it, calls verify inline.
pub(crate) const MAX_QUEUED_JOBS: usize = 4096;

type Checks = Vec<SignatureCheck<(usize, String)>>;

/// The verdict on one transaction's signatures: the first that failed.
type Verdict = std::result::Result<(), (usize, String)>;

struct Job {
    checks: Checks,
    answer: oneshot::Sender<Verdict>,
}

/// Batches the endorsement checks of concurrent calls. See the module
/// documentation.
pub(crate) struct EndorsementVerifier {
    queue: mpsc::Sender<Job>,
    /// The queue's other end, until the task draining it starts.
    idle: Mutex<Option<mpsc::Receiver<Job>>>,
    started: AtomicBool,
}

impl EndorsementVerifier {
    pub(crate) fn new() -> Self {
        let (queue, idle) = mpsc::channel(MAX_QUEUED_JOBS);
        EndorsementVerifier {
            queue,
            idle: Mutex::new(Some(idle)),
            started: AtomicBool::new(false),
        }
    }

    /// Verifies `checked`'s endorsement signatures (in a batch with the
    /// other calls waiting) and completes its checks.
    pub(crate) async fn finish(&self, mut checked: Prechecked) -> Result<Endorsed> {
        let checks = std::mem::take(&mut checked.signatures);
        if !self.start() {
            return checked.finish(batch_verify::verify(checks));
        }
        let (answer, answered) = oneshot::channel();
        let checks = match self.queue.try_send(Job { checks, answer }) {
            Ok(()) => {
                return match answered.await {
                    Ok(verdict) => checked.finish(verdict),
                    // The task stopped with the checks (its runtime shut down).
                    Err(_) => Err(ClientError::protocol(
                        "the endorsement signature verifier stopped before checking them",
                    )),
                };
            }
            Err(TrySendError::Full(job) | TrySendError::Closed(job)) => job.checks,
        };
        checked.finish(batch_verify::verify(checks))
    }

    /// Starts the task draining the queue, on the caller's runtime, once.
    /// `false` when there is no runtime to start it on.
    fn start(&self) -> bool {
        if self.started.load(Ordering::Acquire) {
            return true;
        }
        let Ok(mut idle) = self.idle.lock() else {
            return false;
        };
        if let Some(queue) = idle.take() {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                *idle = Some(queue);
                return false;
            };
            runtime.spawn(drain(queue));
        }
        self.started.store(true, Ordering::Release);
        true
    }
}

/// Takes batches off `queue` and verifies each on a blocking thread, one at
/// a time. Ends when every sender is gone.
async fn drain(mut queue: mpsc::Receiver<Job>) {
    loop {
        let mut jobs = Vec::new();
        if queue.recv_many(&mut jobs, MAX_BATCH_JOBS).await == 0 {
            return;
        }
        // If the runtime shuts down the jobs are dropped, and the callers
        // learn that the verifier stopped.
        if tokio::task::spawn_blocking(move || settle(jobs))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Verifies `jobs` in one batch and answers each: all verified, or each
/// checked again on its own.
fn settle(mut jobs: Vec<Job>) {
    // Nobody waits for these any more.
    jobs.retain(|j| !j.answer.is_closed());
    let groups: Vec<&[_]> = jobs.iter().map(|j| j.checks.as_slice()).collect();
    let verdicts = batch_verify::first_failures(&groups);
    for (mut job, failed) in jobs.into_iter().zip(verdicts) {
        let verdict = match failed {
            None => Ok(()),
            Some(i) => Err(job.checks.swap_remove(i).who),
        };
        let _ = job.answer.send(verdict);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposal::tests::{builder, endorse, forge_endorsement, identities};

    /// A prechecked answer to a fresh proposal, its endorsement forged or not.
    fn prechecked(forged: bool) -> Prechecked {
        let (client, peer) = identities();
        let prepared = builder(&client).build().unwrap().sign(&client).unwrap();
        let mut answer = endorse(&prepared, &peer);
        if forged {
            forge_endorsement(&mut answer, &prepared);
        }
        Endorsed::precheck(answer, &prepared).unwrap()
    }

    fn is_forgery(result: &Result<Endorsed>) -> bool {
        matches!(result, Err(e) if e.to_string()
            .contains("endorsement 0: the signature of peer0@Org1 does not verify"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_calls_share_batches_and_a_forgery_fails_alone() {
        let verifier = std::sync::Arc::new(EndorsementVerifier::new());
        let calls = (0..40).map(|i| {
            let verifier = verifier.clone();
            let checked = prechecked(i == 17);
            tokio::spawn(async move { verifier.finish(checked).await })
        });
        let results = futures::future::join_all(calls).await;
        for (i, r) in results.into_iter().enumerate() {
            let r = r.unwrap();
            if i == 17 {
                assert!(is_forgery(&r), "{:?}", r.err());
            } else {
                assert!(r.is_ok(), "call {i}: {:?}", r.err());
            }
        }
    }

    #[test]
    fn without_a_runtime_calls_verify_inline() {
        let verifier = EndorsementVerifier::new();
        assert!(futures::executor::block_on(verifier.finish(prechecked(false))).is_ok());
        let forged = futures::executor::block_on(verifier.finish(prechecked(true)));
        assert!(is_forgery(&forged), "{:?}", forged.err());
    }
}
