//! The Wasm chaincode runtime: validates modules at deploy, compiles each
//! once, and runs every invocation in a fresh, metered instance.
//!
//! - [`RuntimeConfig`]: the limits (fuel, memory, stack, sizes), and the
//!   deterministic wasmtime engine built from them ([`PINNED_FEATURES`]).
//! - [`validate_module`]: the pure deploy-time check, returning
//!   [`ModuleInfo`] or every [`Rejection`].
//! - [`Runtime`]: [`Runtime::prepare`] (validate, compile, cache by hash),
//!   then [`Runtime::invoke`], which returns an [`Execution`] or a
//!   [`RuntimeError`].
//! - [`Runtime::simulate`]: the executor's pure core — a chaincode call run
//!   against `weft_chaincode::sim::TxSimulator` over a committed-state view,
//!   returning the outcome, the rw-set and the fuel used ([`Simulated`]).
//! - [`HostState`]: what a call's store holds — the [`weft_abi::Host`] the
//!   imports forward to (the transaction simulator), and the result buffer.
//!
//! This module performs no I/O: the simulator behind [`weft_abi::Host`]
//! owns the ledger.

mod cache;
mod config;
mod error;
mod executor;
mod host_fns;
mod host_state;
mod rejection;
#[allow(clippy::module_inception)]
mod runtime;
mod simulate;
mod validate;

pub use config::{PINNED_FEATURES, RuntimeConfig};
pub use error::RuntimeError;
pub use executor::Execution;
pub use host_state::{HostState, RuntimeHost};
pub use rejection::Rejection;
pub use runtime::{Prepared, Runtime};
pub use simulate::Simulated;
pub use validate::{ModuleInfo, validate_module};
