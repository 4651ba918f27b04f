//! Read/write sets: what a simulated transaction read (with versions) and
//! what it would write, per chaincode namespace and private collection.

use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::crypto::Digest;
use weft_policy::Policy;

/// Where a committed value was written: the block and the index of the
/// transaction inside it. Versions order writes the same way on every peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    /// Block number.
    pub block: u64,
    /// Transaction index within the block.
    pub tx: u32,
}

/// One key read during simulation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvRead {
    /// The key.
    pub key: String,
    /// The committed version that was read; `None` when the key did not exist.
    pub version: Option<Version>,
}

/// One key written during simulation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvWrite {
    /// The key.
    pub key: String,
    /// The new value; `None` deletes the key.
    pub value: Option<Bytes>,
}

impl KvWrite {
    /// Whether this write deletes the key.
    pub fn is_delete(&self) -> bool {
        self.value.is_none()
    }
}

/// A change of a key's own endorsement policy (state-based endorsement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPolicyWrite {
    /// The key.
    pub key: String,
    /// The new policy; `None` removes the key-level policy so the
    /// chaincode's policy applies again.
    pub policy: Option<Policy>,
}

/// A range query made during simulation, kept so validators can re-run it and
/// detect phantom reads (keys inserted into or removed from the range since).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeQueryInfo {
    /// First key of the range, inclusive.
    pub start_key: String,
    /// End of the range, exclusive; empty means unbounded.
    pub end_key: String,
    /// Whether the iterator ran to the end of the range. When it did not,
    /// only committed keys in `[start_key, scanned_to]` are re-checked.
    pub exhausted: bool,
    /// When not exhausted: the last key the scan passed, whether it came from
    /// committed state or from the transaction's own writes. A key committed
    /// by another transaction anywhere up to it is a phantom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_to: Option<String>,
    /// Every key the iterator returned, with its version, in key order.
    pub reads: Vec<KvRead>,
}

/// A read of a private key, recorded by hash only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashedRead {
    /// sha3-256 of the key.
    pub key_hash: Digest,
    /// The committed version read; `None` when the key did not exist.
    pub version: Option<Version>,
}

/// A write of a private key, recorded by hashes only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashedWrite {
    /// sha3-256 of the key.
    pub key_hash: Digest,
    /// sha3-256 of the value; `None` deletes the key.
    pub value_hash: Option<Digest>,
}

/// What a transaction did in one private collection, as hashes. The private
/// values themselves travel outside the transaction, to member peers only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionHashedRwSet {
    /// The collection's name.
    pub collection: String,
    /// Hashed reads.
    pub reads: Vec<HashedRead>,
    /// Hashed writes.
    pub writes: Vec<HashedWrite>,
    /// sha3-256 of the private read/write set's bytes; members check the
    /// private data they receive against it.
    pub private_rwset_hash: Digest,
}

/// Everything a transaction read and wrote in one chaincode namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsRwSet {
    /// The chaincode name.
    pub namespace: String,
    /// Point reads, one per key.
    #[serde(default)]
    pub reads: Vec<KvRead>,
    /// Range queries, for phantom-read checks.
    #[serde(default)]
    pub range_queries: Vec<RangeQueryInfo>,
    /// Writes and deletes, one per key.
    #[serde(default)]
    pub writes: Vec<KvWrite>,
    /// Key-level endorsement policy changes.
    #[serde(default)]
    pub key_policy_writes: Vec<KeyPolicyWrite>,
    /// Private collections touched, by hash.
    #[serde(default)]
    pub collections: Vec<CollectionHashedRwSet>,
}

/// A transaction's read/write set: one entry per namespace it touched (a
/// chaincode that invokes another touches two).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RwSet {
    /// Per-namespace sets, in namespace order.
    pub namespaces: Vec<NsRwSet>,
}

impl RwSet {
    /// The set for `namespace`, if the transaction touched it.
    pub fn namespace(&self, namespace: &str) -> Option<&NsRwSet> {
        self.namespaces.iter().find(|ns| ns.namespace == namespace)
    }

    /// Whether the transaction writes nothing (a pure read).
    pub fn is_read_only(&self) -> bool {
        self.namespaces.iter().all(|ns| {
            ns.writes.is_empty()
                && ns.key_policy_writes.is_empty()
                && ns.collections.iter().all(|c| c.writes.is_empty())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_defaults() {
        let rw = RwSet {
            namespaces: vec![NsRwSet {
                namespace: "asset-transfer".into(),
                reads: vec![KvRead {
                    key: "a1".into(),
                    version: Some(Version { block: 3, tx: 1 }),
                }],
                writes: vec![
                    KvWrite {
                        key: "a1".into(),
                        value: Some(Bytes::from("v")),
                    },
                    KvWrite {
                        key: "a2".into(),
                        value: None,
                    },
                ],
                ..Default::default()
            }],
        };
        let json = serde_json::to_string(&rw).unwrap();
        assert_eq!(serde_json::from_str::<RwSet>(&json).unwrap(), rw);
        assert!(rw.namespaces[0].writes[1].is_delete());
        assert!(!rw.is_read_only());
        let minimal: RwSet = serde_json::from_str(r#"{"namespaces":[{"namespace":"x"}]}"#).unwrap();
        assert!(minimal.is_read_only());
    }
}
