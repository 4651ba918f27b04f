//! Private data between peers: the writes a transaction makes in a private
//! collection travel outside the transaction (which carries only their
//! hashes), from the endorsing peer to the collection's member peers
//! ([`PrivateDataPush`]), and later from one member peer to another that
//! missed them ([`PrivateDataPull`]). Both are [`Signed`](crate::Signed) by
//! the sending peer, under [`Domain::PrivateData`].

use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::crypto::Domain;
use crate::signed::SignedPayload;
use crate::tx::TxId;

/// One private write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateWriteData {
    /// The key.
    pub key: String,
    /// The new value; `None` deletes the key.
    pub value: Option<Bytes>,
    /// Whether the delete is a purge.
    #[serde(default)]
    pub purge: bool,
}

/// The private writes one transaction makes in one collection, in key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionData {
    /// The chaincode.
    pub namespace: String,
    /// The collection.
    pub collection: String,
    /// One write per key, in key order.
    pub writes: Vec<PrivateWriteData>,
}

/// An endorsing peer handing a member peer the private writes of a
/// transaction it endorsed, to keep until the transaction commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateDataPush {
    /// The channel.
    pub channel: String,
    /// The transaction.
    pub tx_id: TxId,
    /// The endorser's ledger height when it simulated: the receiver first
    /// commits up to it (a while at most), so it knows the definitions the
    /// endorsement used.
    #[serde(default)]
    pub height: u64,
    /// Its private writes, per collection of which the receiver is a member.
    pub collections: Vec<CollectionData>,
}

impl SignedPayload for PrivateDataPush {
    const DOMAIN: Domain = Domain::PrivateData;
}

/// Private writes of a committed transaction that a member peer lacks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MissingPrivateData {
    /// The block of the transaction.
    pub block: u64,
    /// The transaction's index in it.
    pub tx: u32,
    /// The chaincode.
    pub namespace: String,
    /// The collection.
    pub collection: String,
}

/// A member peer asking another member peer for private writes it missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateDataPull {
    /// The channel.
    pub channel: String,
    /// The peer asked, `name@org`: another peer refuses the request, so a
    /// captured one cannot be sent elsewhere.
    pub to: String,
    /// When the request was made, unix milliseconds (a stale request is
    /// refused, so a captured one cannot be replayed for long).
    pub requested_at_ms: u64,
    /// What is wanted.
    pub wanted: Vec<MissingPrivateData>,
}

impl SignedPayload for PrivateDataPull {
    const DOMAIN: Domain = Domain::PrivateData;
}

/// One answer to a [`PrivateDataPull`]: the writes of one wanted item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateDataFound {
    /// The block of the transaction.
    pub block: u64,
    /// The transaction's index in it.
    pub tx: u32,
    /// Its private writes in the collection.
    pub data: CollectionData,
}

/// What a peer answers to a [`PrivateDataPull`]: the items it holds
/// (those it does not hold are left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateDataPullResponse {
    /// The items found.
    pub found: Vec<PrivateDataFound>,
}
