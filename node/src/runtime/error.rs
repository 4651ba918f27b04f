//! [`RuntimeError`]: why a module was not prepared or a call did not return an outcome.

use weft_types::Digest;

use super::host_fns::HostTrap;
use super::host_state::{HostState, MemoryLimitExceeded};
use super::rejection::Rejection;

/// Why the runtime could not prepare a module or finish a call.
///
/// For an invocation, every variant but `NotPrepared` means the chaincode
/// failed (the caller answers 500 and discards what the simulator recorded);
/// the runtime itself stays usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The call used all its fuel (an endless or too long computation).
    #[error("out of fuel: the call used all {limit} units it was given")]
    OutOfFuel {
        /// The fuel the call was given.
        limit: u64,
    },
    /// The call tried to grow its memory past the limit.
    #[error("memory limit: the call tried to grow its memory past {limit_bytes} bytes")]
    MemoryLimit {
        /// The limit.
        limit_bytes: u64,
    },
    /// The call recursed past the stack limit.
    #[error("stack overflow: the call used more than the Wasm stack limit")]
    StackOverflow,
    /// The guest trapped (a panic is `unreachable`), or a host function
    /// refused a bad pointer.
    #[error("chaincode trapped: {message}")]
    Trap {
        /// What trapped, in words.
        message: String,
    },
    /// The module was refused: every reason.
    #[error("module rejected: {}", join(.0))]
    BadModule(Vec<Rejection>),
    /// No module with this hash was prepared (or it was evicted): call
    /// [`super::Runtime::prepare`] with its bytes first.
    #[error("module {hash} is not prepared")]
    NotPrepared {
        /// The module hash asked for.
        hash: Digest,
    },
    /// The guest returned something that is not an outcome: a buffer outside
    /// its memory or over the limit, or bytes that do not decode.
    #[error("bad output from chaincode: {reason}")]
    BadOutput {
        /// What was wrong.
        reason: String,
    },
    /// No instance could be created (every pooled slot is in use).
    #[error("cannot instantiate the module: {message}")]
    Instantiate {
        /// What wasmtime said.
        message: String,
    },
    /// The ledger failed while the call read it. The chaincode may have
    /// carried on without the value, so nothing it recorded can be endorsed.
    #[error("the ledger failed during the call: {message}")]
    Ledger {
        /// What the state view reported.
        message: String,
    },
    /// The engine could not be built from the configuration.
    #[error("cannot build the Wasm engine: {message}")]
    Engine {
        /// What wasmtime said.
        message: String,
    },
}

fn join(rejections: &[Rejection]) -> String {
    rejections
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether `err` came from the guest's execution (as opposed to the engine
/// refusing to instantiate).
pub(super) fn is_execution_error(err: &wasmtime::Error, state: &HostState) -> bool {
    state.memory_limit_hit()
        || err.is::<wasmtime::Trap>()
        || err.is::<HostTrap>()
        || err.is::<MemoryLimitExceeded>()
}

/// Turns a failed guest call into the error the caller sees.
pub(super) fn execution_error(
    err: &wasmtime::Error,
    state: &HostState,
    fuel_limit: u64,
    memory_limit_bytes: u64,
) -> RuntimeError {
    if state.memory_limit_hit() || err.is::<MemoryLimitExceeded>() {
        return RuntimeError::MemoryLimit {
            limit_bytes: memory_limit_bytes,
        };
    }
    if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::OutOfFuel => RuntimeError::OutOfFuel { limit: fuel_limit },
            wasmtime::Trap::StackOverflow => RuntimeError::StackOverflow,
            other => RuntimeError::Trap {
                message: other.to_string(),
            },
        };
    }
    if let Some(host) = err.downcast_ref::<HostTrap>() {
        return RuntimeError::Trap {
            message: host.message.clone(),
        };
    }
    RuntimeError::Trap {
        message: format!("{err:#}"),
    }
}
