//! The JSON bodies of the gateway's requests and answers, as
//! `docs/gateway-api.md` names them. Protocol values inside them
//! (proposals, envelopes, certificates, digests) are `weft_types` types,
//! serialized as they are; the schema attributes only describe them to
//! the OpenAPI document.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use weft_types::{
    Bytes, Certificate, Digest, Envelope, Response, Signature, SignedProposal, TxId, ValidationCode,
};

/// `POST /v1/auth/challenge` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChallengeResponse {
    /// 32 random bytes, base64.
    pub challenge: String,
    /// When the challenge stops being accepted, unix milliseconds.
    pub expires_at_ms: u64,
}

/// `POST /v1/auth/token` request: the member's signature over the
/// challenge (`Domain::AuthChallenge` over `sha3_256(challenge bytes)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The challenge, base64, as the gateway gave it.
    pub challenge: String,
    /// The member's certificate.
    #[schema(value_type = Object)]
    pub certificate: Certificate,
    /// The member's signature, base64.
    #[schema(value_type = String)]
    pub signature: Signature,
}

/// `POST /v1/auth/token` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The session token (EdDSA JWT) for `Authorization: Bearer`.
    pub token: String,
    /// When the token expires, unix milliseconds.
    pub expires_at_ms: u64,
    /// The member's org.
    pub org: String,
    /// The member's name.
    pub name: String,
    /// The member's role (`client`, `admin`, …).
    pub role: String,
}

/// `POST /v1/evaluate` and `POST /v1/endorse` request (the peer-to-peer
/// `POST /v1/endorse` takes the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProposalRequest {
    /// The client's signed proposal.
    #[schema(value_type = Object)]
    pub proposal: SignedProposal,
    /// The transient map whose digest the proposal carries, values base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub transient: Option<BTreeMap<String, Bytes>>,
}

/// What a chaincode function returned (`weft_types::Response`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChaincodeResponse {
    /// 200 on success.
    pub status: u16,
    /// The error message, empty on success.
    pub message: String,
    /// The result bytes, base64.
    pub payload: String,
}

/// `POST /v1/endorse` answer: the transaction to sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EndorseResponse {
    /// The transaction id.
    #[schema(value_type = String)]
    pub tx_id: TxId,
    /// JSON of the unsigned `Transaction`, base64: exactly the bytes to sign.
    #[schema(value_type = String)]
    pub transaction: Bytes,
    /// sha3-256 of `transaction`, hex: sign `Domain::Transaction` over it.
    #[schema(value_type = String)]
    pub digest: Digest,
    /// The orgs whose peers endorsed, in the order of the endorsements.
    pub endorsed_by: Vec<String>,
    /// What the chaincode returned.
    #[schema(value_type = ChaincodeResponse)]
    pub response: Response,
}

/// `POST /v1/submit` answer without `wait`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubmitResponse {
    /// The transaction id.
    #[schema(value_type = String)]
    pub tx_id: TxId,
    /// Always `ordered`.
    pub status: String,
}

/// Where and how a transaction committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxStatus {
    /// The transaction id.
    #[schema(value_type = String)]
    pub tx_id: TxId,
    /// The block it committed in.
    pub block: u64,
    /// Its index in the block.
    pub index: u32,
    /// Its validation code (`VALID`, `MVCC_READ_CONFLICT`, …).
    #[schema(value_type = String, example = "VALID")]
    pub code: ValidationCode,
}

/// `GET /v1/transactions/{tx_id}` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxRecord {
    /// The transaction id.
    #[schema(value_type = String)]
    pub tx_id: TxId,
    /// The block it committed in.
    pub block: u64,
    /// Its index in the block.
    pub index: u32,
    /// Its validation code.
    #[schema(value_type = String, example = "VALID")]
    pub code: ValidationCode,
    /// The envelope as ordered.
    #[schema(value_type = Object)]
    pub envelope: Envelope,
}

/// `GET /v1/healthz` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// Blocks committed.
    pub height: u64,
    /// This peer, `name@org`.
    pub peer: String,
    /// The commit hash after the last block, hex.
    #[schema(value_type = String)]
    pub commit_hash: Digest,
}

/// `?wait=BOOL&timeout_ms=N` of `POST /v1/submit`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubmitQuery {
    /// Wait until this peer committed the transaction.
    pub wait: Option<bool>,
    /// How long to wait, milliseconds (default 30000).
    pub timeout_ms: Option<u64>,
}

/// `?timeout_ms=N` of `GET /v1/transactions/{tx_id}/status`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// How long to wait for the transaction to commit, milliseconds
    /// (default 0: answer at once).
    pub timeout_ms: Option<u64>,
}

/// `?from=N` of `GET /v1/events/blocks`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BlocksQuery {
    /// The first block to send (default: the next one to commit).
    pub from: Option<u64>,
}

/// `?chaincode=NAME&from=N` of `GET /v1/events/chaincode`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChaincodeEventsQuery {
    /// The chaincode whose events to send.
    pub chaincode: Option<String>,
    /// The first block to look at (default: the next one to commit).
    pub from: Option<u64>,
}

/// One transaction of a block event (`data` of `event: block`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxEventView {
    /// Its index in the block.
    pub index: u32,
    /// Its id; null for an envelope whose creator could not be authenticated.
    #[schema(value_type = Option<String>)]
    pub tx_id: Option<TxId>,
    /// Its validation code.
    #[schema(value_type = String, example = "VALID")]
    pub code: ValidationCode,
    /// The chaincode a valid invocation ran.
    pub chaincode: Option<String>,
    /// The chaincode event of a valid invocation (`{"name", "payload"}`).
    #[schema(value_type = Option<Object>)]
    pub event: Option<weft_types::ChaincodeEvent>,
}

/// `data` of `event: block` (a committed block, as `BlockEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockEventView {
    /// The block number.
    pub number: u64,
    /// The block's header hash, hex.
    #[schema(value_type = String)]
    pub block_hash: Digest,
    /// The block's time, unix milliseconds.
    pub timestamp_ms: u64,
    /// This peer's commit hash after the block, hex.
    #[schema(value_type = String)]
    pub commit_hash: Digest,
    /// Every transaction of the block, in order.
    pub txs: Vec<TxEventView>,
}

/// `data` of `event: chaincode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChaincodeEventView {
    /// The block the transaction committed in.
    pub block: u64,
    /// The transaction that set the event.
    #[schema(value_type = String)]
    pub tx_id: TxId,
    /// The chaincode.
    pub chaincode: String,
    /// The event name.
    pub name: String,
    /// The event payload, base64.
    #[schema(value_type = String)]
    pub payload: Bytes,
}
