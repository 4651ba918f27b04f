//! [`EndorseError`]: why a proposal was not endorsed (or evaluated).

use weft_types::{CertificateError, Digest, Role, TxId, ValidationCode};

use crate::ledger::LedgerError;
use crate::runtime::RuntimeError;

/// Why the endorser refused a proposal, or could not answer it. Nothing is
/// signed in any of these cases. [`EndorseError::status`] maps each to the
/// HTTP status the gateway answers with; the message (`Display`) says what
/// was wrong in words a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum EndorseError {
    /// The signed bytes are not a proposal.
    #[error("the proposal does not parse: {reason}")]
    Malformed {
        /// The parser's complaint.
        reason: String,
    },
    /// The proposal is for another channel than this peer's.
    #[error("the proposal is for channel {proposal:?}, but this peer serves channel {channel:?}")]
    WrongChannel {
        /// The channel the proposal names.
        proposal: String,
        /// This peer's channel.
        channel: String,
    },
    /// The creator's certificate is malformed, not issued by a channel org,
    /// not signed by its org's root key, or outside its validity now.
    #[error("the proposal's creator is not accepted: {0}")]
    Creator(#[source] CertificateError),
    /// The creator is a channel member whose role may not invoke chaincode
    /// (peers and orderers never create transactions).
    #[error("{name}@{org} has role {role}; only clients and admins may invoke chaincode")]
    CreatorRole {
        /// The creator's org.
        org: String,
        /// The creator's member name.
        name: String,
        /// The creator's role.
        role: Role,
    },
    /// The creator's signature does not verify over the proposal bytes.
    #[error(
        "the signature on the proposal does not verify with the key of {name}@{org}: the bytes were altered or signed with another key"
    )]
    BadSignature {
        /// The creator's org.
        org: String,
        /// The creator's member name.
        name: String,
    },
    /// The tx id is not `sha3_256(nonce || creator certificate)`.
    #[error(
        "tx id {tx_id} is not the sha3-256 of the proposal's nonce and the creator's certificate"
    )]
    TxIdMismatch {
        /// The tx id the proposal claims.
        tx_id: TxId,
    },
    /// The transient map sent beside the proposal is not the one whose
    /// digest the creator signed (or a map came with a proposal that
    /// declares none, or none came with one that declares a digest).
    #[error(
        "the transient map sent ({entries} entries, digest {received}) does not match the proposal's transient digest ({})",
        signed.map_or_else(|| "none: no transient map may be sent".to_string(), |d| d.to_string())
    )]
    TransientMismatch {
        /// The digest in the signed proposal.
        signed: Option<Digest>,
        /// The digest of the map received.
        received: Digest,
        /// How many entries the received map has.
        entries: usize,
    },
    /// A transaction with this id is already on the ledger: the proposal is
    /// a replay, or the client reused its nonce.
    #[error(
        "tx id {tx_id} is already on the ledger (block {block}, transaction {index}, {}); make a new proposal",
        code.name()
    )]
    DuplicateTxId {
        /// The tx id.
        tx_id: TxId,
        /// The block it was committed in.
        block: u64,
        /// Its index in that block.
        index: u32,
        /// How it was validated there.
        code: ValidationCode,
    },
    /// No chaincode of this name is defined on the channel.
    #[error("chaincode {chaincode} is not defined on this channel")]
    UnknownChaincode {
        /// The name the proposal invokes.
        chaincode: String,
    },
    /// The chaincode refused the call with its own error (Fabric's status
    /// 400): the client learns the message, nothing is signed.
    #[error("chaincode {chaincode} returned an error: {message}")]
    Chaincode {
        /// The chaincode.
        chaincode: String,
        /// The chaincode's message.
        message: String,
    },
    /// The chaincode did not finish: it trapped, ran out of fuel or memory,
    /// overflowed its stack, returned garbage, or the ledger failed under it.
    #[error("chaincode {chaincode} failed to run: {source}")]
    Execution {
        /// The chaincode the proposal invoked.
        chaincode: String,
        /// What the runtime reported.
        #[source]
        source: RuntimeError,
    },
    /// The definition names a module this peer's ledger does not hold: the
    /// ledger is incomplete (internal error).
    #[error(
        "chaincode {chaincode}'s module {hash} is not in this peer's ledger (internal error: the lifecycle transaction that defined it should have stored it)"
    )]
    ModuleMissing {
        /// The chaincode.
        chaincode: String,
        /// The module hash its definition names.
        hash: Digest,
    },
    /// The committed module could not be prepared by this peer's runtime
    /// (internal error: validation accepted it when it was defined).
    #[error("chaincode {chaincode}'s module {hash} cannot be prepared: {source}")]
    ModuleUnusable {
        /// The chaincode.
        chaincode: String,
        /// The module hash.
        hash: Digest,
        /// What the runtime reported.
        #[source]
        source: RuntimeError,
    },
    /// The ledger could not be read.
    #[error("the ledger could not be read: {0}")]
    Ledger(#[from] LedgerError),
}

impl EndorseError {
    /// The HTTP status for this error: 400 for a bad request or a
    /// chaincode's own error, 401 when the creator or its signature cannot
    /// be authenticated, 403 for a member whose role may not invoke, 404 for
    /// an unknown chaincode, 409 for a tx id already used, 500 when the
    /// chaincode or the peer failed.
    pub fn status(&self) -> u16 {
        match self {
            EndorseError::Malformed { .. }
            | EndorseError::WrongChannel { .. }
            | EndorseError::TxIdMismatch { .. }
            | EndorseError::TransientMismatch { .. }
            | EndorseError::Chaincode { .. } => 400,
            EndorseError::Creator(_) | EndorseError::BadSignature { .. } => 401,
            EndorseError::CreatorRole { .. } => 403,
            EndorseError::UnknownChaincode { .. } => 404,
            EndorseError::DuplicateTxId { .. } => 409,
            EndorseError::Execution { .. }
            | EndorseError::ModuleMissing { .. }
            | EndorseError::ModuleUnusable { .. }
            | EndorseError::Ledger(_) => 500,
        }
    }
}
