//! The peer's endorser: step 2 of execute → order → validate.
//!
//! [`Endorser`] takes a client's [`SignedProposal`](weft_types::SignedProposal)
//! and the transient map sent beside it, and
//! - [`Endorser::endorse`]: checks it ([`Endorser::authenticate`]), refuses a
//!   tx id already on the ledger, runs the chaincode as a transaction against
//!   one ledger [`Snapshot`](crate::ledger::Snapshot) and signs a
//!   [`ProposalResponse`](weft_types::ProposalResponse) over the result,
//!   rw-set digest and event (built only by `ProposalResponse::build`);
//! - [`Endorser::evaluate`]: the same checks, then a read-only run
//!   (`TxKind::Query`) whose [`Response`](weft_types::Response) is returned
//!   unsigned.
//!
//! A caller serving many proposals at once can take the creator's
//! signature check out of the sequence and batch it:
//! [`Endorser::prepare`] runs every other check and returns a [`Prepared`]
//! proposal; a [`SigBatcher`] verifies the signatures of concurrent ones in
//! ed25519 batches (about half the cost each) and hands back [`Verified`]
//! ones, which [`Endorser::endorse_verified`] and
//! [`Endorser::evaluate_verified`] run. **Invariant: only a checked
//! signature makes a [`Verified`]** (its constructor is private to this
//! module), so nothing is endorsed unchecked.
//!
//! Every refusal is an [`EndorseError`] saying what was wrong, with the
//! HTTP status the gateway answers with ([`EndorseError::status`]); nothing is
//! signed then. Chaincode may invoke other chaincodes (up to
//! [`MAX_INVOKE_DEPTH`] deep, no re-entry, one fuel budget per proposal).
//!
//! Checks run cheapest first. Creator certificates verified once are kept
//! (at most [`CERT_CACHE_ENTRIES`], shared with the peer's validator when
//! [`Endorser::remembering`] its memory; a cached certificate counts only
//! while the channel names the root key that signed it, its validity
//! window re-checked on every use), so a returning client costs one
//! ed25519 verification. Unlike the validator, which checks
//! certificates at the block's time, the endorser uses its clock: an
//! endorsement is a statement about now.
//!
//! **Invariant: a simulation reads one height.** The definition, the module
//! and every read of every chaincode in the call tree come from the same
//! snapshot, released before the response is signed.

mod authenticate;
#[allow(clippy::module_inception)]
mod endorser;
mod error;
mod invoke;
mod modules;
mod sig_batch;
mod simulate;

pub use crate::cert_cache::CERT_CACHE_ENTRIES;
pub use authenticate::{Authenticated, Prepared, Verified};
pub use endorser::{Endorsed, Endorser};
pub use error::EndorseError;
pub use invoke::MAX_INVOKE_DEPTH;
pub use sig_batch::{
    MAX_BATCH_CHECKS, MAX_BATCHES_IN_FLIGHT, MAX_QUEUED_CHECKS, SigBatchError, SigBatchStats,
    SigBatcher,
};
