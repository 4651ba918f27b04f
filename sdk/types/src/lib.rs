//! Weft's protocol types: everything that crosses a process boundary or is
//! stored on the ledger.
//!
//! - Identities: [`SigningKey`], [`PublicKey`], [`Signature`], [`Certificate`]
//!   issued by an [`OrgAuthority`], and [`Identity`] (certificate + key).
//! - Signed messages: [`Signed<T>`] carries the exact bytes that were signed,
//!   the signature over `domain || sha3_256(bytes)`, and the signer's certificate.
//! - The transaction flow: [`Proposal`] → [`ProposalResponse`] with an
//!   [`Endorsement`] over a [`ProposalResponsePayload`] and an [`RwSet`] →
//!   [`Envelope`] → [`Block`], validated into a [`ValidationCode`] per transaction.
//! - Configuration: [`ChannelConfig`], [`ChaincodeDefinition`],
//!   [`CollectionConfig`], and the node TOML files in [`node_config`].
//!
//! Everything is JSON via serde. Byte strings are base64, digests and tx ids hex.
//!
//! ```
//! use weft_types::{OrgAuthority, Role, SigningKey, Proposal, SignedProposal, TxHeader};
//! use std::collections::BTreeMap;
//!
//! let bank = OrgAuthority::new("Bank", SigningKey::generate()).unwrap();
//! let alice = bank.enroll("alice", Role::Client, 0, u64::MAX).unwrap();
//! let proposal = Proposal {
//!     header: TxHeader::new("weft", alice.certificate(), 1_700_000_000_000),
//!     chaincode: "asset-transfer".into(),
//!     function: "create".into(),
//!     args: vec!["asset1".into(), "alice".into(), "100".into()],
//!     transient_digest: None,
//! };
//! let signed = SignedProposal::sign(&proposal, &alice);
//!
//! let trust: BTreeMap<String, _> = [("Bank".to_string(), bank.root_key())].into();
//! let verified = signed.verify(&trust, 1_700_000_000).unwrap();
//! assert_eq!(verified.value, proposal);
//! assert_eq!(verified.signer.name, "alice");
//! ```

pub mod batch_verify;
mod block;
mod bytes;
mod certificate;
mod chaincode;
mod channel;
mod crypto;
mod names;
pub mod ndjson;
pub mod node_config;
mod private;
mod rwset;
mod signed;
mod tx;
mod validation;

pub use block::{
    Block, BlockError, BlockHeader, BlockMetadata, BlockSignature, data_hash, data_hash_of,
};
pub use bytes::{Bytes, from_base64, to_base64};
pub use certificate::{
    Certificate, CertificateBody, CertificateError, Identity, OrgAuthority, Role, TrustStore,
};
pub use chaincode::{
    ChaincodeDefinition, CollectionConfig, DefinitionError, IMPLICIT_COLLECTION_PREFIX,
};
pub use channel::{
    ChannelConfig, ChannelPolicies, ConfigError, Consensus, ORDERER_LEADER_HEADER, OrdererInfo,
    OrderingParams, OrgInfo, PeerInfo, RaftParams,
};
pub use crypto::{
    CryptoError, Digest, Domain, Hasher, PublicKey, Signature, SigningKey, random_bytes, sha3_256,
};
pub use names::{MAX_NAME_BYTES, NameError, check_name};
pub use private::{
    CollectionData, MissingPrivateData, PrivateDataFound, PrivateDataPull, PrivateDataPullResponse,
    PrivateDataPush, PrivateWriteData,
};
pub use rwset::{
    CollectionHashedRwSet, HashedRead, HashedWrite, KeyPolicyWrite, KvRead, KvWrite, NsRwSet,
    RangeQueryInfo, RwSet, Version,
};
pub use signed::{Signed, SignedPayload, Verified, VerifyError};
pub use tx::{
    AssembleError, ChaincodeEvent, ChaincodeId, ConfigTransaction, EndorsedTransaction,
    Endorsement, Envelope, LifecycleTransaction, NONCE_BYTES, Proposal, ProposalResponse,
    ProposalResponsePayload, Response, SignedProposal, Transaction, TxBody, TxHeader, TxId,
    transient_digest,
};
pub use validation::ValidationCode;
pub use weft_policy::Policy;

/// The header with which a gateway's 429 (overloaded) answer says for how
/// many milliseconds a client should send it no new work (endorse,
/// evaluate). `Retry-After` says the same in whole seconds, rounded up.
pub const RETRY_AFTER_MS_HEADER: &str = "x-weft-retry-after-ms";

/// JSON bytes of a protocol value. Protocol types only hold strings, numbers,
/// byte strings and maps keyed by strings, which always serialize.
pub fn to_json_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("protocol types always serialize to JSON")
}
