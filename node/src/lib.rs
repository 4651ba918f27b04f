//! The Weft peer: ledger (sled), Wasm runtime (wasmtime), endorser, validator,
//! committer, gateway (axum), deliver client and private data.
//!
//! Not yet filled; it is built on the protocol types and the policy language
//! re-exported here.

pub use weft_policy as policy;
pub use weft_types as types;
