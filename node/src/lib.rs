//! The Weft peer: ledger (sled), Wasm runtime (wasmtime), endorser, validator,
//! committer, gateway (axum), the orderers' deliver client, and the
//! `weft-peer` process.
//!
//! - [`runtime`]: the Wasm chaincode runtime. [`runtime::RuntimeConfig`]
//!   (limits and the deterministic engine), [`runtime::validate_module`]
//!   (deploy-time checks), [`runtime::Runtime`] (`prepare` once per module
//!   hash, then `invoke`/`simulate`).
//! - [`ledger`]: blocks in an append-only block file, state, history, tx
//!   index, definitions and the commit-hash chain in one sled tree;
//!   [`ledger::Snapshot`] is one consistent height.
//! - [`endorser`]: authenticates a signed proposal, simulates it against a
//!   snapshot and signs the result ([`endorser::Endorser`]).
//! - [`validator`]: the pure two-stage block validation
//!   ([`validator::validate_block`]).
//! - [`committer`]: checks ordered blocks, validates and commits them,
//!   publishes [`committer::BlockEvent`]s ([`committer::Committer`]).
//! - [`gateway`]: the REST API of `docs/gateway-api.md` — sessions (JWT),
//!   evaluate, endorse across orgs, submit, commit status, reads, server-sent
//!   events, metrics, OpenAPI — and the peer-to-peer endorse endpoint.
//! - [`peer`]: the process — config, identity, genesis, block sources
//!   ([`peer::OrdererSource`] reads the orderers' deliver API, failing
//!   over) and the commit loop ([`peer::PeerNode`]); [`peer::daemon`] wires
//!   it all (`weft-peer --config FILE`, `weft peer --config FILE`).
//! - [`channel`]: the channel configuration in force, shared.
//!
//! The protocol types and the policy language are re-exported here.

mod cert_cache;
pub mod channel;
pub mod committer;
pub mod endorser;
pub mod gateway;
mod generations;
pub mod ledger;
pub mod peer;
pub mod runtime;
pub mod validator;

pub use weft_abi as abi;
pub use weft_policy as policy;
pub use weft_types as types;
