//! [`Snapshot`]: committed state at one height, for simulations and the
//! validator.

use parking_lot::RawRwLock;
use parking_lot::lock_api::ArcRwLockReadGuard;
use weft_abi::{ErrorCode, HistoryEntry, HostError};
use weft_chaincode::sim::StateView;
use weft_types::{
    Block, ChaincodeDefinition, ChannelConfig, Digest, Policy, TxId, ValidationCode, Version,
    sha3_256,
};

use crate::validator::CommittedState;

use std::sync::Arc;

use super::blockfile::BlockFile;
use super::error::LedgerError;
use super::private::{self, PrivateValue};
use super::records::Savepoint;
use super::tx_filter::TxFilter;
use super::{CONFIG_KEY, CONFIG_NAMESPACE, LIFECYCLE_NAMESPACE, keys, reads};

/// A consistent view of the ledger at one height. It holds the ledger's read
/// lock, so no block commits while it lives: every read sees the same height.
/// It is `'static` and `Send`, so it can move into a simulation thread.
///
/// **Keep it short-lived, and never take a second snapshot (or call a
/// [`Ledger`](super::Ledger) read) on a thread that holds one**: the lock is
/// fair, so once a commit is waiting, new readers wait behind it, and a
/// thread waiting for itself deadlocks. Simulations are bounded by fuel, so
/// a commit waits at most as long as the longest simulation running.
pub struct Snapshot {
    pub(crate) tree: sled::Tree,
    pub(crate) blocks: Arc<BlockFile>,
    pub(crate) savepoint: ArcRwLockReadGuard<RawRwLock, Savepoint>,
    pub(crate) txs: Arc<TxFilter>,
    pub(crate) reader: Option<PrivateReader>,
}

/// On whose behalf a simulation reads private data: the peer's org (only
/// members of a collection hold its values) and the creator's org (a
/// member-only-read collection refuses other orgs' clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateReader {
    /// The org of the peer running the simulation.
    pub peer_org: String,
    /// The org of the proposal's creator.
    pub creator_org: String,
    /// The channel configuration the request was checked against (each
    /// of its orgs has an implicit collection).
    pub channel: Arc<ChannelConfig>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("height", &self.height())
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// The snapshot, reading private data for `reader`. Without a reader a
    /// snapshot refuses private reads (hashes are open to all).
    pub fn for_reader(mut self, reader: PrivateReader) -> Self {
        self.reader = Some(reader);
        self
    }

    /// The private value of `key` in `(ns, collection)` as this peer holds
    /// it, with no membership check.
    pub fn private_value(
        &self,
        ns: &str,
        collection: &str,
        key: &str,
    ) -> Result<PrivateValue, LedgerError> {
        private::get(&self.tree, ns, collection, key)
    }

    /// The committed value hash and version of the private key whose
    /// sha3-256 is `key_hash`.
    pub fn private_hash(
        &self,
        ns: &str,
        collection: &str,
        key_hash: &Digest,
    ) -> Result<Option<(Digest, Version)>, LedgerError> {
        private::hash_of(&self.tree, ns, collection, key_hash)
    }

    /// A private read by a simulation: the membership rules of the
    /// collection for [`Snapshot::for_reader`]'s reader, then the value.
    fn member_read(
        &self,
        ns: &str,
        collection: &str,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Version)>, HostError> {
        let not_allowed = |m: String| HostError::new(ErrorCode::NotAllowed, m);
        let Some(reader) = &self.reader else {
            return Err(not_allowed(
                "private data is read only in a simulation on behalf of a client".into(),
            ));
        };
        let name = format!("{ns}/{collection}");
        let config = self
            .definition(ns)?
            .and_then(|d| {
                d.collection(collection, &reader.channel.org_names())
                    .map(std::borrow::Cow::into_owned)
            })
            .ok_or_else(|| {
                HostError::new(
                    ErrorCode::UnknownCollection,
                    format!("there is no private data collection {name}"),
                )
            })?;
        if !config.has_member(&reader.peer_org) {
            return Err(not_allowed(format!(
                "the peers of {} are not members of collection {name} and hold only hashes of \
                 its data; ask a peer of a member org",
                reader.peer_org
            )));
        }
        if config.member_only_read && !config.has_member(&reader.creator_org) {
            return Err(not_allowed(format!(
                "{} is not a member of collection {name}, which only its members may read",
                reader.creator_org
            )));
        }
        match private::get(&self.tree, ns, collection, key)? {
            PrivateValue::Absent => Ok(None),
            PrivateValue::Here(value, version) => Ok(Some((value, version))),
            PrivateValue::NotHere(version) => {
                let written = format!(
                    "the private value of {key:?} in {name} (written by transaction {} of block {})",
                    version.tx, version.block
                );
                let why = if private::owes(&self.tree, version, ns, collection)? {
                    "has not reached this peer yet; it is being reconciled from the other \
                     members, retry shortly"
                } else {
                    "is not held by this peer (its org was not a member when it was written, \
                     or no member could provide it); ask another member's peer"
                };
                Err(not_allowed(format!("{written} {why}")))
            }
        }
    }

    /// The channel of [`Snapshot::for_reader`]'s reader (`None` without one).
    pub fn reader_channel(&self) -> Option<Arc<ChannelConfig>> {
        self.reader.as_ref().map(|r| Arc::clone(&r.channel))
    }

    /// Blocks committed: the number of the next block. The state is that
    /// after block `height - 1`.
    pub fn height(&self) -> u64 {
        self.savepoint.height
    }

    /// The commit hash after the last committed block (zero before genesis).
    pub fn commit_hash(&self) -> Digest {
        self.savepoint.commit_hash
    }

    /// The value and version of `(ns, key)`.
    pub fn get(&self, ns: &str, key: &str) -> Result<Option<(Vec<u8>, Version)>, LedgerError> {
        reads::get(&self.tree, ns, key)
    }

    /// Up to `limit` entries of `ns` with `start <= key < end` (`end` empty:
    /// unbounded), in key order.
    pub fn range(
        &self,
        ns: &str,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>, Version)>, LedgerError> {
        reads::range(&self.tree, ns, start, end, limit)
    }

    /// Every committed change of `(ns, key)`, oldest first.
    pub fn history(&self, ns: &str, key: &str) -> Result<Vec<HistoryEntry>, LedgerError> {
        reads::history(&self.tree, ns, key)
    }

    /// The key-level endorsement policy of `(ns, key)`, as text.
    pub fn key_policy(&self, ns: &str, key: &str) -> Result<Option<String>, LedgerError> {
        reads::key_policy(&self.tree, ns, key)
    }

    /// Where `tx_id` was recorded: block, index and validation code. When
    /// the id occurs more than once, the valid occurrence if there is one,
    /// else the first.
    pub fn tx(&self, tx_id: &TxId) -> Result<Option<(u64, u32, ValidationCode)>, LedgerError> {
        reads::tx(&self.tree, &self.txs, tx_id)
    }

    /// Block `number` as committed (validation flags and commit hash set).
    pub fn block(&self, number: u64) -> Result<Option<Block>, LedgerError> {
        reads::block(&self.tree, &self.blocks, number)
    }
}

impl Snapshot {
    /// The committed definition of `chaincode`.
    pub fn definition(&self, chaincode: &str) -> Result<Option<ChaincodeDefinition>, LedgerError> {
        reads::definition(&self.tree, chaincode)
    }

    /// Every committed chaincode definition, by name.
    pub fn definitions(&self) -> Result<Vec<ChaincodeDefinition>, LedgerError> {
        reads::range(&self.tree, LIFECYCLE_NAMESPACE, "", "", usize::MAX)?
            .into_iter()
            .map(|(_, json, _)| decode_json(&json, "chaincode definition"))
            .collect()
    }

    /// The module bytes with this sha3-256, if a committed definition brought them.
    pub fn module(&self, hash: &Digest) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.tree.get(keys::module(hash))?.map(|m| m.to_vec()))
    }

    /// The channel configuration in force after the last committed block;
    /// `None` before genesis.
    pub fn channel_config(&self) -> Result<Option<ChannelConfig>, LedgerError> {
        match reads::get(&self.tree, CONFIG_NAMESPACE, CONFIG_KEY)? {
            Some((json, _)) => decode_json(&json, "channel configuration").map(Some),
            None => Ok(None),
        }
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(
    json: &[u8],
    what: &'static str,
) -> Result<T, LedgerError> {
    serde_json::from_slice(json).map_err(|e| LedgerError::corrupt(what, e.to_string()))
}

/// `CommittedState` over a type with a `tree` field: both views read the
/// same records the same way and differ only in locking.
macro_rules! committed_state_over_tree {
    ($ty:ty) => {
        impl CommittedState for $ty {
            type Error = LedgerError;

            fn version(&self, namespace: &str, key: &str) -> Result<Option<Version>, LedgerError> {
                reads::version(&self.tree, namespace, key)
            }

            fn range(
                &self,
                namespace: &str,
                start: &str,
                end: &str,
            ) -> Result<Vec<(String, Version)>, LedgerError> {
                reads::range_versions(&self.tree, namespace, start, end)
            }

            fn key_policy(
                &self,
                namespace: &str,
                key: &str,
            ) -> Result<Option<Policy>, LedgerError> {
                reads::key_policy_parsed(&self.tree, namespace, key)
            }

            fn private_version(
                &self,
                namespace: &str,
                collection: &str,
                key_hash: &Digest,
            ) -> Result<Option<Version>, LedgerError> {
                Ok(private::hash_of(&self.tree, namespace, collection, key_hash)?.map(|(_, v)| v))
            }

            fn tx_exists(&self, tx_id: &TxId) -> Result<bool, LedgerError> {
                Ok(self.txs.may_contain(tx_id) && self.tree.contains_key(keys::tx(tx_id))?)
            }

            fn definition(
                &self,
                chaincode: &str,
            ) -> Result<Option<ChaincodeDefinition>, LedgerError> {
                reads::definition(&self.tree, chaincode)
            }
        }
    };
}

// The validator reads committed state through the same snapshot the
// committer holds while it validates, so no commit can slip in between.
committed_state_over_tree!(Snapshot);
committed_state_over_tree!(LatestState);

/// Committed state read straight from the tree, without the lock a
/// [`Snapshot`] holds: every read sees some committed block (batches apply
/// atomically), but two reads may see different ones while blocks commit.
/// For work whose result is checked against what committed meanwhile — the
/// committer runs stage 1 of the next block this way while the current one
/// commits — and never for a simulation.
#[derive(Clone)]
pub struct LatestState {
    pub(crate) tree: sled::Tree,
    pub(crate) txs: Arc<TxFilter>,
}

impl std::fmt::Debug for LatestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatestState").finish_non_exhaustive()
    }
}

impl StateView for Snapshot {
    fn get(&self, ns: &str, key: &str) -> Result<Option<(Vec<u8>, Version)>, HostError> {
        Ok(Snapshot::get(self, ns, key)?)
    }

    fn range(
        &self,
        ns: &str,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>, Version)>, HostError> {
        Ok(Snapshot::range(self, ns, start, end, limit)?)
    }

    fn history(&self, ns: &str, key: &str) -> Result<Vec<HistoryEntry>, HostError> {
        Ok(Snapshot::history(self, ns, key)?)
    }

    fn private_get(
        &self,
        ns: &str,
        collection: &str,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Version)>, HostError> {
        self.member_read(ns, collection, key)
    }

    fn private_hash(
        &self,
        ns: &str,
        collection: &str,
        key: &str,
    ) -> Result<Option<([u8; 32], Version)>, HostError> {
        let found = Snapshot::private_hash(self, ns, collection, &sha3_256(key.as_bytes()))?;
        Ok(found.map(|(hash, version)| (hash.0, version)))
    }

    fn key_policy(&self, ns: &str, key: &str) -> Result<Option<String>, HostError> {
        Ok(Snapshot::key_policy(self, ns, key)?)
    }
}
