//! What the gateway answers, as typed values (see `docs/gateway-api.md`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weft_types::{Bytes, Digest, Envelope, Response, SignedProposal, TxId, ValidationCode};

/// A transient map: private inputs sent beside a proposal, never part of a
/// transaction. The proposal carries only its digest
/// ([`weft_types::transient_digest`]).
pub type TransientMap = BTreeMap<String, Bytes>;

/// Where a transaction was committed, and with what verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitStatus {
    /// The transaction.
    pub tx_id: TxId,
    /// The block it is in.
    pub block: u64,
    /// Its index in the block.
    pub index: u32,
    /// The peers' verdict.
    pub code: ValidationCode,
}

/// A transaction submitted with [`crate::Contract::submit`] and committed valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The transaction.
    pub tx_id: TxId,
    /// The block it is in.
    pub block: u64,
    /// Its index in the block.
    pub index: u32,
    /// Always [`ValidationCode::Valid`]: an invalid commit is an error.
    pub code: ValidationCode,
    /// What the chaincode function returned at endorsement.
    pub result: Vec<u8>,
}

impl Committed {
    /// Where it was committed, without its result.
    pub fn status(&self) -> CommitStatus {
        CommitStatus {
            tx_id: self.tx_id,
            block: self.block,
            index: self.index,
            code: self.code,
        }
    }
}

/// The answer to [`crate::Gateway::submit_signed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Accepted by an orderer; not waited for.
    Ordered {
        /// The transaction.
        tx_id: TxId,
    },
    /// Committed valid by the gateway's peer.
    Committed(CommitStatus),
}

impl Submitted {
    /// The transaction.
    pub fn tx_id(&self) -> TxId {
        match self {
            Submitted::Ordered { tx_id } => *tx_id,
            Submitted::Committed(s) => s.tx_id,
        }
    }
}

/// A committed transaction with its envelope (`GET /v1/transactions/{tx_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRecord {
    /// The transaction.
    pub tx_id: TxId,
    /// The block it is in.
    pub block: u64,
    /// Its index in the block.
    pub index: u32,
    /// The peers' verdict.
    pub code: ValidationCode,
    /// The signed transaction as ordered.
    pub envelope: Envelope,
}

/// A gateway's health (`GET /v1/healthz`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok` when serving.
    pub status: String,
    /// Number of blocks committed (the next block's number).
    pub height: u64,
    /// The peer, `name@org`.
    #[serde(default)]
    pub peer: String,
    /// The peer's running commit hash.
    #[serde(default)]
    pub commit_hash: Option<Digest>,
}

/// `POST /v1/evaluate` and `/v1/endorse` request body.
#[derive(Serialize)]
pub(crate) struct ProposalRequest<'a> {
    pub(crate) proposal: &'a SignedProposal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) transient: Option<&'a TransientMap>,
}

/// `POST /v1/endorse` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct EndorseResponse {
    pub(crate) tx_id: TxId,
    pub(crate) transaction: Bytes,
    pub(crate) digest: Digest,
    #[serde(default)]
    pub(crate) endorsed_by: Vec<String>,
    pub(crate) response: Response,
}

/// `POST /v1/submit` answer: 202 `{tx_id, status}` or 200 `{tx_id, block, index, code}`.
#[derive(Debug, Deserialize)]
pub(crate) struct SubmitResponse {
    pub(crate) tx_id: TxId,
    #[serde(default)]
    pub(crate) block: Option<u64>,
    #[serde(default)]
    pub(crate) index: Option<u32>,
    #[serde(default)]
    pub(crate) code: Option<ValidationCode>,
}
