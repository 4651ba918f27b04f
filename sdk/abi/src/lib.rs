//! The contract between the Weft node (host) and Wasm chaincode (guest): the
//! entry points the host calls, the host functions the guest imports (module
//! `weft`), how bytes cross the boundary, error codes, and the ABI version the
//! host checks at deploy.
//!
//! `no_std` + `alloc` so that it builds for `wasm32-unknown-unknown` with no
//! runtime. Not yet filled: this crate only fixes the version marker.
#![no_std]

/// The ABI version a module must declare; the host refuses other versions at deploy.
pub const ABI_VERSION: u32 = 1;
