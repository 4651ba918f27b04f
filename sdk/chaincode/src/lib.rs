//! What a Weft chaincode author writes against.
//!
//! A chaincode is an inherent `impl` block marked [`contract`]; its methods
//! marked `#[tx]` or `#[query]` are the functions clients call. Each takes a
//! [`Context`] — the one door to the ledger: state, ranges and
//! [composite keys](composite_key), private data, the transient input, the
//! event, the transaction's id, time and [`Creator`], other chaincodes, and
//! native `sha3_256` / `ed25519_verify` — and returns [`Result`].
//!
//! ```
//! use weft_chaincode::{Context, Result, contract};
//!
//! /// Counts things.
//! pub struct Counter;
//!
//! #[contract]
//! impl Counter {
//!     /// Adds `by` to the counter `name` and returns the new value.
//!     #[tx]
//!     pub fn add(ctx: &mut Context, name: String, by: u64) -> Result<u64> {
//!         let now = ctx.get_json::<u64>(&name)?.unwrap_or(0) + by;
//!         ctx.put_json(&name, &now)?;
//!         Ok(now)
//!     }
//!
//!     /// The counter `name`.
//!     #[query]
//!     pub fn get(ctx: &mut Context, name: String) -> Result<u64> {
//!         Ok(ctx.get_json(&name)?.unwrap_or(0))
//!     }
//! }
//! ```
//!
//! Arguments arrive as strings: a `String` (or `&str`) parameter takes the
//! string as it is, any other type is parsed as JSON (`"100"` is a `u64`,
//! `"[1,2]"` a `Vec`). The result is returned as JSON (`()` is `null`).
//! Errors are values: an `Err` becomes the response's error message.
//!
//! # Semantics
//!
//! - **Read your own writes.** After [`Context::put`] or [`Context::delete`],
//!   [`Context::get`] returns the new value (or `None`) and range iterators
//!   see the write merged into committed state, in key order. The host does
//!   this, not `Context` (which caches nothing but the [`TxInfo`]), so a
//!   chaincode behaves identically on the node, natively under
//!   [`MockContext`](mock::MockContext), and in Wasm. Only values served from
//!   committed state are recorded as reads, with their versions.
//! - Writes during a query (evaluate) fail; [`Context::history`] and
//!   [`Context::range_paged`] are allowed only there, since neither can be
//!   validated at commit.
//! - Keys are non-empty UTF-8, at most 1024 bytes; `U+0000` may appear only
//!   in composite keys, which start with it. Plain [`Context::range`] never
//!   returns composite keys.
//! - A panic aborts the call (a trap in Wasm); nothing is caught.
//!
//! # Modules
//!
//! - [`Contract`]: what [`contract`] implements (native dispatch, the list of
//!   transactions). On `wasm32` the macro also exports `weft_alloc` and
//!   `weft_invoke` and the `weft_abi` / `weft_contract` custom sections, so
//!   only one `#[contract]` may exist per crate.
//! - `sim` and `mock` (feature `mock`): `TxSimulator`, the pure-Rust
//!   [`weft_abi::Host`] that records a transaction's rw-set — the node runs the
//!   same code — and `MockContext`, an in-memory ledger for tests.

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod bump;
mod composite;
mod context;
mod contract;
mod error;
mod iter;
#[cfg(target_arch = "wasm32")]
mod wasm;

#[cfg(feature = "mock")]
pub mod mock;
#[cfg(feature = "mock")]
pub mod sim;

#[cfg(target_arch = "wasm32")]
pub use bump::BumpAllocator;
pub use composite::{COMPOSITE_KEY_NAMESPACE, composite_key, split_composite_key};
pub use context::{Context, PLAIN_KEYS_START, SharedHost};
pub use contract::{Contract, TxSpec};
pub use error::{Error, Result};
pub use iter::{MAX_PAGE_SIZE, Page, StateIter};
pub use weft_abi::{
    ABI_VERSION, Creator, ErrorCode, HistoryEntry, Host, HostError, InvokeResponse, LogLevel,
    Outcome, TxInfo, TxKind,
};
pub use weft_chaincode_macros::contract;

/// Used by the code [`contract`] generates; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::contract::{arity_error, into_outcome, parse_arg, unknown_function};
    #[cfg(target_arch = "wasm32")]
    pub use crate::wasm::{alloc, invoke};
}
