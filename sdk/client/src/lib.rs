//! The Rust client for a Weft gateway (the REST API of `docs/gateway-api.md`):
//! proposals and transactions built and signed locally, submit-and-wait,
//! evaluate, and event streams that resume where they stopped.
//!
//! - [`Gateway`]: a connection to a channel's gateways, logged in as one
//!   member (challenge/token, renewed by itself), failing over to the next
//!   gateway when one is unreachable. [`Gateway::contract`] gives a
//!   [`Contract`] to [`evaluate`](Contract::evaluate) and
//!   [`submit`](Contract::submit) chaincode functions.
//! - [`Wallet`] (identities on disk, as `weft network init` writes them) and
//!   [`Profile`] (the JSON connection profile `weft up` writes).
//! - Offline signing: [`Contract::new_proposal`] → [`UnsignedProposal`] →
//!   [`PreparedProposal`] → [`Gateway::endorse_signed`] → [`Endorsed`] →
//!   [`Gateway::submit_signed`], each step exposing the bytes to sign.
//! - Events: [`Gateway::block_events`], [`Gateway::chaincode_events`], and a
//!   [`Checkpoint`] file to resume them after a restart.
//! - Errors: [`ClientError`], one variant per stage the gateway reports.
//!
//! ```no_run
//! use weft_client::{ClientError, Gateway, Profile};
//! use weft_types::ValidationCode;
//!
//! # async fn run() -> Result<(), ClientError> {
//! let profile = Profile::load("network/profile.json")?;
//! let gateway = Gateway::connect(&profile, profile.identity()?).await?;
//! let assets = gateway.contract("asset-transfer");
//!
//! match assets.submit("create", &["asset1", "blue", "10"]).await {
//!     Ok(committed) => println!("in block {}", committed.block),
//!     Err(ClientError::Validation { code: ValidationCode::MvccReadConflict, .. }) => {
//!         // Someone changed what we read: build a fresh proposal and retry.
//!     }
//!     Err(e) => return Err(e),
//! }
//! let json = assets.evaluate("read", &["asset1"]).await?;
//! # let _ = json;
//! # Ok(())
//! # }
//! ```
//!
//! This crate speaks plain HTTP (no TLS) and depends on the protocol types
//! only, never on the node or the orderer.

mod api;
pub mod batch;
pub mod batching;
mod checkpoint;
mod contract;
mod error;
mod events;
mod fsutil;
mod gateway;
mod http;
mod profile;
mod proposal;
mod signer;
mod sse;
mod verifier;
mod wallet;

pub use api::{CommitStatus, Committed, Health, Submitted, TransactionRecord, TransientMap};
pub use checkpoint::{Checkpoint, Position};
pub use contract::Contract;
pub use error::{ClientError, ErrorBody, Result, Stage};
pub use events::{BlockEvent, ContractEvent, EventStream, TxEvent};
pub use gateway::{
    DEFAULT_CHANNEL, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RECONNECTS, DEFAULT_STREAM_IDLE_TIMEOUT,
    DEFAULT_TIMEOUT, Gateway, GatewayConfig,
};
pub use profile::{GatewayEntry, Profile, ProfileIdentity};
pub use proposal::{Endorsed, PreparedProposal, ProposalBuilder, UnsignedProposal};
pub use signer::Signer;
pub use wallet::{CERT_FILE, KEY_FILE, Wallet};
pub use weft_types as types;
