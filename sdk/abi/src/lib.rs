//! The contract between the Weft node (host) and Wasm chaincode (guest).
//!
//! - [`exports`]: what a module must export — `memory`, [`exports::ALLOC`]
//!   and [`exports::INVOKE`] — and the custom sections that carry the ABI
//!   version ([`ABI_VERSION`]) and the list of transactions.
//! - [`imports`]: the host functions in module `weft`, with their exact
//!   signatures, how bytes cross (pointer + length into guest memory; results
//!   are fetched with `take_result`), and their error convention.
//! - [`Host`]: the same functions as a Rust trait. The guest SDK implements it
//!   over the imports; the node's simulator implements it over ledger state;
//!   `MockContext` implements it in memory. One trait, so the three agree.
//! - [`codec`]: the small length-prefixed binary encoding of everything that
//!   crosses (no serde in the guest's hot path, `no_std` + `alloc`).
//! - [`ErrorCode`] / [`HostError`]: errors are values the chaincode sees.
#![no_std]

extern crate alloc;

pub mod codec;
mod error;
pub mod exports;
mod host;
pub mod imports;
mod types;

pub use error::{ErrorCode, HostError};
pub use host::Host;
pub use types::{
    Creator, HistoryEntry, Invocation, InvokeResponse, LogLevel, Outcome, TxInfo, TxKind,
    decode_history, decode_kv_batch, encode_history, encode_kv_batch,
};

/// The ABI version this crate describes. A module declares the version it was
/// built for in the [`exports::ABI_SECTION`] custom section; the host refuses
/// any other at deploy.
pub const ABI_VERSION: u32 = 1;
