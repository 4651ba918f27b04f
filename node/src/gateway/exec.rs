//! Running the endorser off the async threads. A simulation is synchronous
//! CPU work (bounded by fuel) that needs a deep native stack for
//! chaincode-to-chaincode calls ([`Endorser::required_stack_bytes`], more
//! than tokio's blocking threads get), so simulations run on a pool of
//! long-lived threads with that stack, one per core: a thread started per
//! call cost more than many simulations (a clone and a stack mapping each).
//! At most [`MAX_QUEUED`] wait for a turn; past that a call is refused as
//! overloaded (429) at once, so that a flood of proposals meets
//! back-pressure instead of unbounded queues and timeouts.
//!
//! The threads take calls from a channel and sleep when it is empty. (They
//! were a rayon pool, whose idle threads yield the CPU some thirty times
//! before sleeping: between proposals at a moderate rate that spinning was
//! about a sixth of a peer's CPU.)
//!
//! [`Endorser::required_stack_bytes`]: crate::endorser::Endorser::required_stack_bytes

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::error::{ErrorCode, GatewayError, Stage};

/// Simulations (evaluate and endorse, local and for other peers) running
/// or waiting at once; more are refused as overloaded. A few hundred
/// milliseconds of work on this machine class: a longer queue only adds
/// latency, and under overload turns into timeouts and wasted work.
pub const MAX_QUEUED: usize = 512;

/// A turn in the [`Executor`]'s bounded queue ([`Executor::admit`]).
#[derive(Debug)]
pub(crate) struct Admission(OwnedSemaphorePermit);

/// A call for the pool's threads.
type Job = Box<dyn FnOnce() + Send>;

/// Runs closures on a pool of big-stack threads, a bounded number queued.
#[derive(Debug)]
pub(crate) struct Executor {
    permits: Arc<Semaphore>,
    /// The pool's queue; its threads end when it is dropped.
    pool: Option<crossbeam_channel::Sender<Job>>,
    stack_bytes: usize,
}

impl Executor {
    pub(crate) fn new(stack_bytes: usize) -> Self {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        // Without a pool (the system refused threads), each call starts one.
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let started = (0..threads).all(|i| {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("weft-gateway-exec-{i}"))
                .stack_size(stack_bytes)
                .spawn(move || {
                    while let Ok(job) = queue.recv() {
                        // A job catches its call's panic itself; this also
                        // keeps the thread if dropping an unsent answer (or
                        // a panic's payload) panics.
                        let _ = catch_unwind(AssertUnwindSafe(job));
                    }
                })
                .is_ok()
        });
        let pool = started.then_some(jobs);
        Executor {
            permits: Arc::new(Semaphore::new(MAX_QUEUED)),
            pool,
            stack_bytes,
        }
    }

    /// A turn for one simulation, or 429 when [`MAX_QUEUED`] calls are
    /// already running or waiting. Taken first thing by a request that
    /// will simulate, so that an overloaded peer refuses it before
    /// spending anything on it (its signature check included).
    pub(crate) fn admit(&self) -> Result<Admission, GatewayError> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map(Admission)
            .map_err(|_| {
                GatewayError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::Overloaded,
                    Stage::Endorsement,
                    format!(
                        "{MAX_QUEUED} chaincode calls are already running or waiting on this \
                         peer; retry later"
                    ),
                )
            })
    }

    /// Runs `f` on the pool with the turn `admission` holds. A panic in
    /// `f` is an internal error, never a crash of the gateway.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        admission: Admission,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, GatewayError> {
        let permit = admission.0;
        let (tx, rx) = oneshot::channel();
        let job = move || {
            let outcome = catch_unwind(AssertUnwindSafe(f));
            // The turn goes back before the answer does, so a caller that
            // has its answer finds the turn free again.
            drop(permit);
            // On a panic `tx` is dropped unanswered: reported below.
            if let Ok(value) = outcome {
                // The receiver may have gone (the client hung up): nothing to do.
                let _ = tx.send(value);
            }
        };
        // A queue whose threads are all gone hands the job back, and it gets
        // a thread of its own (not expected: the threads catch every panic;
        // but no job is ever dropped unrun).
        let unqueued = match &self.pool {
            Some(pool) => pool.send(Box::new(job)).err().map(|e| e.into_inner()),
            None => Some(Box::new(job) as Job),
        };
        if let Some(job) = unqueued {
            std::thread::Builder::new()
                .name("weft-gateway-exec".into())
                .stack_size(self.stack_bytes)
                .spawn(job)
                .map_err(|e| {
                    GatewayError::internal(
                        Stage::Endorsement,
                        format!("cannot start a thread for the chaincode: {e}"),
                    )
                })?;
        }
        rx.await.map_err(|_| {
            GatewayError::internal(
                Stage::Endorsement,
                "the chaincode call ended without an answer (the endorser panicked)",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_are_bounded_and_come_back_when_a_call_ends() {
        let exec = Executor::new(1 << 20);
        let held: Vec<Admission> = (0..MAX_QUEUED).map(|_| exec.admit().unwrap()).collect();
        let refused = exec.admit().unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.body.code, ErrorCode::Overloaded);
        // A call run with one of the turns gives it back when it ends.
        let mut held = held.into_iter();
        let turn = held.next().unwrap();
        assert_eq!(exec.run(turn, || 41 + 1).await.unwrap(), 42);
        let again = exec.admit().unwrap();
        // A panicking call is an internal error and gives its turn back too.
        let err = exec.run::<()>(again, || panic!("boom")).await.unwrap_err();
        assert_eq!(err.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(exec.admit().is_ok());
    }
}
