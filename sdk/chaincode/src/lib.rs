//! What a Weft chaincode author writes against: the entry macro, `Context`
//! (state, ranges, composite keys, private data, events, identity, transient
//! input, crypto) and `MockContext` for native unit tests.
//!
//! Not yet filled; it re-exports the ABI it will be built on.

pub use weft_abi::ABI_VERSION;
