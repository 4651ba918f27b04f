//! The Rust client for a Weft gateway: wallet, proposals and transactions
//! signed locally, submit-and-wait, evaluate, event streams.
//!
//! Not yet filled; it is built on the protocol types re-exported here.

pub use weft_types as types;
