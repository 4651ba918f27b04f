//! Validation codes: the verdict a peer records for every transaction of a block.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a transaction in a block is or is not valid. Every peer that commits the
/// same block records the same code. Names and numbers follow Hyperledger
/// Fabric's `TxValidationCode` where the meaning is the same; Weft's own codes
/// are numbered from 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[repr(u8)]
pub enum ValidationCode {
    /// The transaction is valid; its writes are applied.
    Valid = 0,
    /// The envelope's payload does not parse or is inconsistent (e.g. the
    /// proposal header differs from the envelope header).
    BadPayload = 2,
    /// The envelope's signature does not verify with the creator's key
    /// (Fabric: `BAD_CREATOR_SIGNATURE`).
    BadSignature = 4,
    /// A configuration transaction is invalid.
    InvalidConfigTransaction = 6,
    /// The tx id is not `hex(sha3_256(nonce || creator))` (Fabric: `BAD_PROPOSAL_TXID`).
    BadTxid = 8,
    /// A transaction with this id is already on the ledger or earlier in this block.
    DuplicateTxid = 9,
    /// The valid endorsements do not satisfy the endorsement policy of a
    /// namespace, collection or key the transaction writes.
    EndorsementPolicyFailure = 10,
    /// A key read during simulation has since been changed, by a committed
    /// block or by an earlier valid transaction of the same block.
    MvccReadConflict = 11,
    /// Re-running a range query sees different keys or versions than the
    /// simulation did.
    PhantomReadConflict = 12,
    /// The transaction names another channel (Fabric: `TARGET_CHAIN_NOT_FOUND`).
    BadChannel = 14,
    /// The chaincode definition used at endorsement is not the current one
    /// (its sequence was upgraded since).
    ChaincodeVersionConflict = 18,
    /// The endorsed response does not parse, does not match the proposal, or
    /// the endorsements disagree on it.
    BadResponsePayload = 21,
    /// The read/write set does not parse, does not match its hash, or is
    /// inconsistent (a key twice, an unsorted namespace list).
    BadRwset = 22,
    /// The write set touches a namespace the transaction may not write
    /// (another chaincode's state, or the system namespaces).
    IllegalWriteset = 23,
    /// The chaincode is not defined on the channel.
    InvalidChaincode = 25,
    /// The creator's certificate is not issued by a channel org, is outside
    /// its validity, or has a role that may not submit this transaction.
    BadCreator = 100,
    /// An endorsement's signature or certificate is invalid. Fabric silently
    /// drops such endorsements; Weft names the problem.
    BadEndorsement = 101,
    /// Private data hashes or collection rules are violated (unknown
    /// collection, a non-member writing a member-only collection).
    InvalidPrivateData = 102,
    /// A chaincode lifecycle transaction is invalid: approvals do not satisfy
    /// `LifecycleEndorsement`, the module does not match its hash or fails
    /// validation, or the sequence is not the next one.
    InvalidLifecycleTransaction = 103,
    /// Not validated yet.
    NotValidated = 254,
    /// Invalid for a reason no other code describes.
    InvalidOtherReason = 255,
}

impl ValidationCode {
    /// Every code, in numeric order.
    pub const ALL: [ValidationCode; 21] = [
        ValidationCode::Valid,
        ValidationCode::BadPayload,
        ValidationCode::BadSignature,
        ValidationCode::InvalidConfigTransaction,
        ValidationCode::BadTxid,
        ValidationCode::DuplicateTxid,
        ValidationCode::EndorsementPolicyFailure,
        ValidationCode::MvccReadConflict,
        ValidationCode::PhantomReadConflict,
        ValidationCode::BadChannel,
        ValidationCode::ChaincodeVersionConflict,
        ValidationCode::BadResponsePayload,
        ValidationCode::BadRwset,
        ValidationCode::IllegalWriteset,
        ValidationCode::InvalidChaincode,
        ValidationCode::BadCreator,
        ValidationCode::BadEndorsement,
        ValidationCode::InvalidPrivateData,
        ValidationCode::InvalidLifecycleTransaction,
        ValidationCode::NotValidated,
        ValidationCode::InvalidOtherReason,
    ];

    /// Whether the transaction's writes are applied.
    pub fn is_valid(self) -> bool {
        self == ValidationCode::Valid
    }

    /// The numeric code.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The code with this number, if there is one.
    pub fn from_u8(n: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_u8() == n)
    }

    /// The name as it appears in JSON, e.g. `MVCC_READ_CONFLICT`.
    pub fn name(self) -> &'static str {
        match self {
            ValidationCode::Valid => "VALID",
            ValidationCode::BadPayload => "BAD_PAYLOAD",
            ValidationCode::BadSignature => "BAD_SIGNATURE",
            ValidationCode::InvalidConfigTransaction => "INVALID_CONFIG_TRANSACTION",
            ValidationCode::BadTxid => "BAD_TXID",
            ValidationCode::DuplicateTxid => "DUPLICATE_TXID",
            ValidationCode::EndorsementPolicyFailure => "ENDORSEMENT_POLICY_FAILURE",
            ValidationCode::MvccReadConflict => "MVCC_READ_CONFLICT",
            ValidationCode::PhantomReadConflict => "PHANTOM_READ_CONFLICT",
            ValidationCode::BadChannel => "BAD_CHANNEL",
            ValidationCode::ChaincodeVersionConflict => "CHAINCODE_VERSION_CONFLICT",
            ValidationCode::BadResponsePayload => "BAD_RESPONSE_PAYLOAD",
            ValidationCode::BadRwset => "BAD_RWSET",
            ValidationCode::IllegalWriteset => "ILLEGAL_WRITESET",
            ValidationCode::InvalidChaincode => "INVALID_CHAINCODE",
            ValidationCode::BadCreator => "BAD_CREATOR",
            ValidationCode::BadEndorsement => "BAD_ENDORSEMENT",
            ValidationCode::InvalidPrivateData => "INVALID_PRIVATE_DATA",
            ValidationCode::InvalidLifecycleTransaction => "INVALID_LIFECYCLE_TRANSACTION",
            ValidationCode::NotValidated => "NOT_VALIDATED",
            ValidationCode::InvalidOtherReason => "INVALID_OTHER_REASON",
        }
    }
}

impl fmt::Display for ValidationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::ValidationCode;

    #[test]
    fn names_numbers_and_json_agree() {
        for code in ValidationCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.name()));
            assert_eq!(serde_json::from_str::<ValidationCode>(&json).unwrap(), code);
            assert_eq!(ValidationCode::from_u8(code.as_u8()), Some(code));
        }
        let mut numbers: Vec<u8> = ValidationCode::ALL.iter().map(|c| c.as_u8()).collect();
        numbers.dedup();
        assert_eq!(
            numbers.len(),
            ValidationCode::ALL.len(),
            "codes are unique and sorted"
        );
        assert_eq!(
            ValidationCode::MvccReadConflict.as_u8(),
            11,
            "Fabric's number"
        );
        assert_eq!(ValidationCode::from_u8(77), None);
    }
}
