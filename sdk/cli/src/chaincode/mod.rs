//! `weft chaincode`: the chaincode developer's loop without a network.
//!
//! - [`new`]: scaffold a chaincode crate that builds and passes its tests as created.
//! - [`build`]: build a crate for `wasm32-unknown-unknown` and validate the module.
//! - [`check`]: the deploy-time validator alone, over a `.wasm` file ([`Checked`]).
//! - [`run`]: one call of a module against an in-memory ledger seeded from a
//!   JSON file, through the node's runtime ([`run::RunReport`]).
//!
//! Each command uses the node's own code — `weft_node::runtime::validate_module`
//! and `Runtime::simulate` over `weft_chaincode`'s `TxSimulator` — so what it
//! accepts and computes is what a peer would.

pub mod build;
pub mod check;
pub mod new;
pub mod run;

pub use check::Checked;
