//! Running the endorser off the async threads. A simulation is synchronous
//! CPU work (bounded by fuel) that needs a deep native stack for
//! chaincode-to-chaincode calls ([`Endorser::required_stack_bytes`], more
//! than tokio's blocking threads get), so each runs on a thread of its own
//! with that stack, at most [`MAX_EXECUTIONS`] at once.
//!
//! [`Endorser::required_stack_bytes`]: crate::endorser::Endorser::required_stack_bytes

use std::sync::Arc;

use tokio::sync::{Semaphore, oneshot};

use super::error::{GatewayError, Stage};

/// Simulations (evaluate and endorse, local and for other peers) running at
/// once; more wait for a turn.
pub const MAX_EXECUTIONS: usize = 16;

/// Runs closures on big-stack threads, a bounded number at a time.
#[derive(Debug)]
pub(crate) struct Executor {
    permits: Arc<Semaphore>,
    stack_bytes: usize,
}

impl Executor {
    pub(crate) fn new(stack_bytes: usize) -> Self {
        Executor {
            permits: Arc::new(Semaphore::new(MAX_EXECUTIONS)),
            stack_bytes,
        }
    }

    /// Runs `f` on a fresh thread once a turn is free. A panic in `f` is
    /// an internal error, never a crash of the gateway.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, GatewayError> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| {
            GatewayError::internal(Stage::Endorsement, "the gateway is shutting down")
        })?;
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("weft-gateway-exec".into())
            .stack_size(self.stack_bytes)
            .spawn(move || {
                let _permit = permit;
                // The receiver may have gone (the client hung up): nothing to do.
                let _ = tx.send(f());
            })
            .map_err(|e| {
                GatewayError::internal(
                    Stage::Endorsement,
                    format!("cannot start a thread for the chaincode: {e}"),
                )
            })?;
        rx.await.map_err(|_| {
            GatewayError::internal(
                Stage::Endorsement,
                "the chaincode call ended without an answer (the endorser panicked)",
            )
        })
    }
}
