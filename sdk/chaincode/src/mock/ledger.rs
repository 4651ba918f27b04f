//! [`MemoryLedger`]: committed state in memory, a [`StateView`] for tests.

use std::collections::BTreeMap;
use std::ops::Bound;

use weft_abi::{HistoryEntry, HostError};
use weft_types::{KvWrite, NsRwSet, RwSet, Version};

use crate::sim::{SimulationResult, StateView};

/// One chaincode's committed data.
#[derive(Debug, Clone, Default)]
struct Namespace {
    values: BTreeMap<String, (Vec<u8>, Version)>,
    history: BTreeMap<String, Vec<HistoryEntry>>,
    key_policies: BTreeMap<String, String>,
    private: BTreeMap<String, BTreeMap<String, (Vec<u8>, Version)>>,
}

/// An in-memory ledger: world state with versions, key history, key-level
/// policies and private data, for every namespace. Every committed
/// transaction is a block of its own, so versions are `(height, 0)`.
#[derive(Debug, Clone, Default)]
pub struct MemoryLedger {
    namespaces: BTreeMap<String, Namespace>,
    height: u64,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of blocks committed.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The committed value and version of `key` in `ns`.
    pub fn value(&self, ns: &str, key: &str) -> Option<&(Vec<u8>, Version)> {
        self.namespaces.get(ns)?.values.get(key)
    }

    /// The committed private value of `key` in `collection` of `ns`.
    pub fn private_value(&self, ns: &str, collection: &str, key: &str) -> Option<&[u8]> {
        let (value, _) = self.namespaces.get(ns)?.private.get(collection)?.get(key)?;
        Some(value)
    }

    /// Commits `writes` (`None` deletes) to `ns` as the next block, as if a
    /// transaction `seed-HEIGHT` at time 0 had made them; returns the version.
    pub fn seed(&mut self, ns: &str, writes: &[(&str, Option<&[u8]>)]) -> Version {
        let ns_set = NsRwSet {
            namespace: ns.to_string(),
            writes: writes
                .iter()
                .map(|(key, value)| KvWrite {
                    key: key.to_string(),
                    value: value.map(Into::into),
                })
                .collect(),
            ..NsRwSet::default()
        };
        let result = SimulationResult {
            rwset: RwSet {
                namespaces: vec![ns_set],
            },
            ..SimulationResult::default()
        };
        let tx_id = format!("seed-{}", self.height + 1);
        self.commit(&tx_id, 0, &result)
    }

    /// Commits a successful simulation as the next block and returns its version.
    pub fn commit(&mut self, tx_id: &str, timestamp_ms: u64, result: &SimulationResult) -> Version {
        self.height += 1;
        let version = Version {
            block: self.height,
            tx: 0,
        };
        for ns_set in &result.rwset.namespaces {
            let ns = self.namespaces.entry(ns_set.namespace.clone()).or_default();
            for write in &ns_set.writes {
                let value = write.value.as_ref().map(|v| v.to_vec());
                match &value {
                    Some(v) => ns.values.insert(write.key.clone(), (v.clone(), version)),
                    None => ns.values.remove(&write.key),
                };
                ns.history
                    .entry(write.key.clone())
                    .or_default()
                    .push(HistoryEntry {
                        tx_id: tx_id.to_string(),
                        block: version.block,
                        tx: version.tx,
                        timestamp_ms,
                        value,
                    });
            }
            for kp in &ns_set.key_policy_writes {
                match &kp.policy {
                    Some(p) => ns.key_policies.insert(kp.key.clone(), p.to_string()),
                    None => ns.key_policies.remove(&kp.key),
                };
            }
        }
        for coll in &result.private_writes {
            let ns = self.namespaces.entry(coll.namespace.clone()).or_default();
            let store = ns.private.entry(coll.collection.clone()).or_default();
            for w in &coll.writes {
                match &w.value {
                    Some(v) => store.insert(w.key.clone(), (v.0.clone(), version)),
                    None => store.remove(&w.key),
                };
            }
        }
        version
    }
}

impl StateView for MemoryLedger {
    fn get(&self, ns: &str, key: &str) -> Result<Option<(Vec<u8>, Version)>, HostError> {
        Ok(self.value(ns, key).cloned())
    }

    fn range(
        &self,
        ns: &str,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>, Version)>, HostError> {
        let Some(ns) = self.namespaces.get(ns) else {
            return Ok(Vec::new());
        };
        if !end.is_empty() && end <= start {
            return Ok(Vec::new());
        }
        let upper = if end.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Excluded(end)
        };
        Ok(ns
            .values
            .range::<str, _>((Bound::Included(start), upper))
            .take(limit)
            .map(|(k, (v, ver))| (k.clone(), v.clone(), *ver))
            .collect())
    }

    fn history(&self, ns: &str, key: &str) -> Result<Vec<HistoryEntry>, HostError> {
        Ok(self
            .namespaces
            .get(ns)
            .and_then(|n| n.history.get(key))
            .cloned()
            .unwrap_or_default())
    }

    fn private_get(
        &self,
        ns: &str,
        collection: &str,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Version)>, HostError> {
        Ok(self
            .namespaces
            .get(ns)
            .and_then(|n| n.private.get(collection))
            .and_then(|c| c.get(key))
            .cloned())
    }

    fn private_hash(
        &self,
        ns: &str,
        collection: &str,
        key: &str,
    ) -> Result<Option<([u8; 32], Version)>, HostError> {
        Ok(self
            .private_get(ns, collection, key)?
            .map(|(v, ver)| (weft_types::sha3_256(&v).0, ver)))
    }

    fn key_policy(&self, ns: &str, key: &str) -> Result<Option<String>, HostError> {
        Ok(self
            .namespaces
            .get(ns)
            .and_then(|n| n.key_policies.get(key))
            .cloned())
    }
}
