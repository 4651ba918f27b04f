//! What the validator reads of the committed ledger: versions, ranges,
//! key-level policies, known tx ids and chaincode definitions.
//!
//! The ledger implements [`CommittedState`]; [`MemoryState`] is an in-memory
//! implementation for tests and benchmarks that can also apply a validated
//! block, so simulations need no disk.

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::ops::Bound;

use weft_types::{Bytes, ChaincodeDefinition, Digest, Policy, TxId, Version};

use super::outcome::BlockValidation;

/// Read access to committed state, as of the block before the one being
/// validated.
///
/// Implementations must answer consistently for the whole validation of a
/// block (a snapshot). An error means the ledger cannot be read: validation
/// stops and the block must not be committed; the peer is inoperable until the
/// cause is fixed, since skipping the block would make it diverge.
pub trait CommittedState: Sync {
    /// Why the state could not be read.
    type Error: std::error::Error + Send + 'static;

    /// The version of `key` in `namespace`, `None` if the key does not exist.
    fn version(&self, namespace: &str, key: &str) -> Result<Option<Version>, Self::Error>;

    /// Every existing key of `namespace` in `[start, end)` with its version,
    /// in key order. An empty `end` means unbounded.
    fn range(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
    ) -> Result<Vec<(String, Version)>, Self::Error>;

    /// The key-level endorsement policy of `key`, if one is set.
    fn key_policy(&self, namespace: &str, key: &str) -> Result<Option<Policy>, Self::Error>;

    /// The version of the private key whose sha3-256 is `key_hash` in
    /// `collection` of `namespace`, `None` if it does not exist. Every peer
    /// has it, member or not.
    fn private_version(
        &self,
        namespace: &str,
        collection: &str,
        key_hash: &Digest,
    ) -> Result<Option<Version>, Self::Error>;

    /// Whether a transaction with this id is already on the ledger.
    fn tx_exists(&self, tx_id: &TxId) -> Result<bool, Self::Error>;

    /// The current definition of `chaincode`, if it is defined.
    fn definition(&self, chaincode: &str) -> Result<Option<ChaincodeDefinition>, Self::Error>;
}

/// Committed state held in memory: for tests, benchmarks and simulations.
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    /// `(namespace, key) → (value, version)`.
    pub values: BTreeMap<(String, String), (Bytes, Version)>,
    /// `(namespace, key) → key-level policy`.
    pub key_policies: BTreeMap<(String, String), Policy>,
    /// Every tx id on the ledger.
    pub tx_ids: HashSet<TxId>,
    /// Chaincode definitions by name.
    pub definitions: BTreeMap<String, ChaincodeDefinition>,
    /// `(namespace, collection, key hash) → version` of private keys.
    pub private_versions: BTreeMap<(String, String, Digest), Version>,
}

impl MemoryState {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value` at `version`, as if committed.
    pub fn put(&mut self, namespace: &str, key: &str, value: &[u8], version: Version) {
        self.values.insert(
            (namespace.to_string(), key.to_string()),
            (Bytes(value.to_vec()), version),
        );
    }

    /// The committed value of `key`, if any.
    pub fn value(&self, namespace: &str, key: &str) -> Option<&Bytes> {
        self.values
            .get(&(namespace.to_string(), key.to_string()))
            .map(|(v, _)| v)
    }

    /// Applies a validated block the way the ledger commits it: the writes of
    /// valid transactions at version `(block, tx index)`, key-level policies,
    /// definitions, and the tx ids [`BlockValidation::tx_ids`] lists.
    pub fn apply(&mut self, block_number: u64, validation: &BlockValidation) {
        for tx in &validation.valid_writes {
            let version = Version {
                block: block_number,
                tx: tx.tx,
            };
            for w in &tx.writes {
                let k = (w.namespace.clone(), w.key.clone());
                match &w.value {
                    Some(v) => {
                        self.values.insert(k, (v.clone(), version));
                    }
                    None => {
                        self.values.remove(&k);
                    }
                }
            }
            for p in &tx.key_policies {
                let k = (p.namespace.clone(), p.key.clone());
                match &p.policy {
                    Some(policy) => {
                        self.key_policies.insert(k, policy.clone());
                    }
                    None => {
                        self.key_policies.remove(&k);
                    }
                }
            }
            for w in &tx.private_hashes {
                let k = (w.namespace.clone(), w.collection.clone(), w.key_hash);
                match w.value_hash {
                    Some(_) => {
                        self.private_versions.insert(k, version);
                    }
                    None => {
                        self.private_versions.remove(&k);
                    }
                }
            }
            if let Some(def) = &tx.definition {
                self.definitions.insert(def.name.clone(), def.clone());
            }
        }
        self.tx_ids.extend(validation.tx_ids.iter().flatten());
    }
}

impl CommittedState for MemoryState {
    type Error = Infallible;

    fn version(&self, namespace: &str, key: &str) -> Result<Option<Version>, Infallible> {
        Ok(self
            .values
            .get(&(namespace.to_string(), key.to_string()))
            .map(|(_, v)| *v))
    }

    fn range(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
    ) -> Result<Vec<(String, Version)>, Infallible> {
        let lower = Bound::Included((namespace.to_string(), start.to_string()));
        let upper = if end.is_empty() {
            // Every key of a namespace sorts before the next namespace name
            // with a NUL appended.
            Bound::Excluded((format!("{namespace}\0"), String::new()))
        } else {
            Bound::Excluded((namespace.to_string(), end.to_string()))
        };
        if !end.is_empty() && end <= start {
            return Ok(Vec::new());
        }
        Ok(self
            .values
            .range((lower, upper))
            .filter(|((ns, _), _)| ns == namespace)
            .map(|((_, k), (_, v))| (k.clone(), *v))
            .collect())
    }

    fn key_policy(&self, namespace: &str, key: &str) -> Result<Option<Policy>, Infallible> {
        Ok(self
            .key_policies
            .get(&(namespace.to_string(), key.to_string()))
            .cloned())
    }

    fn private_version(
        &self,
        namespace: &str,
        collection: &str,
        key_hash: &Digest,
    ) -> Result<Option<Version>, Infallible> {
        Ok(self
            .private_versions
            .get(&(namespace.to_string(), collection.to_string(), *key_hash))
            .copied())
    }

    fn tx_exists(&self, tx_id: &TxId) -> Result<bool, Infallible> {
        Ok(self.tx_ids.contains(tx_id))
    }

    fn definition(&self, chaincode: &str) -> Result<Option<ChaincodeDefinition>, Infallible> {
        Ok(self.definitions.get(chaincode).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_stays_in_its_namespace_and_bounds() {
        let mut s = MemoryState::new();
        let v = Version { block: 1, tx: 0 };
        for (ns, k) in [("a", "1"), ("a", "2"), ("a", "3"), ("a\0", "x"), ("b", "1")] {
            s.put(ns, k, b"v", v);
        }
        let keys = |start, end| -> Vec<String> {
            let Ok(r) = s.range("a", start, end);
            r.into_iter().map(|(k, _)| k).collect()
        };
        assert_eq!(keys("", ""), ["1", "2", "3"]);
        assert_eq!(keys("2", ""), ["2", "3"]);
        assert_eq!(keys("1", "3"), ["1", "2"]);
        assert!(keys("3", "1").is_empty());
    }
}
