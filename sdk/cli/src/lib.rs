//! The `weft` command line's library: what each subcommand does, apart from
//! argument parsing and printing (in `main.rs`), so that it can be tested and
//! reused by later commands (`weft up`, `weft bench --spawn`).
//!
//! - [`chaincode`]: `weft chaincode new | build | check | run` — scaffold,
//!   build and validate chaincode, and run one call against an in-memory ledger.
//! - [`network`]: `weft network init` — keys, certificates, genesis block, node configs.
//! - [`policy_cmd`]: `weft policy eval` — evaluate a policy against signers.

pub mod chaincode;
pub mod network;
pub mod policy_cmd;
