//! The Weft peer: ledger (sled), Wasm runtime (wasmtime), endorser, validator,
//! committer, gateway (axum), deliver client and private data.
//!
//! Filled so far: [`runtime`], the Wasm chaincode runtime. Its main types:
//! [`runtime::RuntimeConfig`] (limits and the deterministic engine),
//! [`runtime::validate_module`] (deploy-time checks, returning
//! [`runtime::ModuleInfo`] or every [`runtime::Rejection`]),
//! [`runtime::Runtime`] (`prepare` once per module hash, then `invoke`, which
//! returns an [`runtime::Execution`] or a [`runtime::RuntimeError`]) and
//! [`runtime::HostState`] (the [`weft_abi::Host`] the imports forward to).
//!
//! The rest is built on the protocol types and the policy language
//! re-exported here.

pub mod channel;
pub mod committer;
pub mod endorser;
pub mod ledger;
pub mod peer;
pub mod runtime;
pub mod validator;

pub use weft_abi as abi;
pub use weft_policy as policy;
pub use weft_types as types;
