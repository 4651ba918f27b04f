//! Private data on the ledger: hashes for every peer, values for members,
//! the transient store, what members owe, and block-to-live purges. The
//! layouts are in `keys.rs`.

use weft_chaincode::sim::private_rwset_hash;
use weft_types::{CollectionData, Digest, MissingPrivateData, TxId, Version, sha3_256};

use super::Ledger;
use super::error::LedgerError;
use super::keys;
use super::records;
use super::updates::TxUpdates;

/// How many blocks private writes wait in the transient store for their
/// transaction to commit before they are dropped (the transaction was never
/// ordered, or was invalid).
pub const TRANSIENT_RETENTION_BLOCKS: u64 = 1_000;

/// A private value as this peer holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivateValue {
    /// The key does not exist.
    Absent,
    /// The value and its version.
    Here(Vec<u8>, Version),
    /// The key exists (its hash is committed at this version) but this
    /// peer does not hold the value: it is not a member, or it missed the
    /// data and has not reconciled it yet.
    NotHere(Version),
}

/// The value of `key` and whether it is the committed one.
pub(crate) fn get(
    tree: &sled::Tree,
    ns: &str,
    collection: &str,
    key: &str,
) -> Result<PrivateValue, LedgerError> {
    let key_hash = sha3_256(key.as_bytes());
    let Some((_, committed)) = hash_of(tree, ns, collection, &key_hash)? else {
        return Ok(PrivateValue::Absent);
    };
    let Some(raw) = tree.get(keys::private(keys::PRIVATE, ns, collection, &key_hash))? else {
        return Ok(PrivateValue::NotHere(committed));
    };
    let (version, value) = records::decode_versioned(&raw, "private state")?;
    if version != committed {
        return Ok(PrivateValue::NotHere(committed));
    }
    Ok(PrivateValue::Here(value.to_vec(), version))
}

/// The value hash and version of the private key whose hash is `key_hash`.
pub(crate) fn hash_of(
    tree: &sled::Tree,
    ns: &str,
    collection: &str,
    key_hash: &Digest,
) -> Result<Option<(Digest, Version)>, LedgerError> {
    let Some(raw) = tree.get(keys::private(keys::PRIVATE_HASH, ns, collection, key_hash))? else {
        return Ok(None);
    };
    let (version, hash) = records::decode_versioned(&raw, "private hash")?;
    Ok(Some((
        records::decode_digest(hash, "private hash")?,
        version,
    )))
}

/// The version of the value this peer holds for `key_hash`, if any.
pub(crate) fn value_version(
    tree: &sled::Tree,
    ns: &str,
    collection: &str,
    key_hash: &Digest,
) -> Result<Option<Version>, LedgerError> {
    let Some(raw) = tree.get(keys::private(keys::PRIVATE, ns, collection, key_hash))? else {
        return Ok(None);
    };
    Ok(Some(records::decode_versioned(&raw, "private state")?.0))
}

/// Whether this peer owes (awaits from other members) the private writes
/// transaction `version` made in `(ns, collection)`.
pub(crate) fn owes(
    tree: &sled::Tree,
    version: Version,
    ns: &str,
    collection: &str,
) -> Result<bool, LedgerError> {
    let key = keys::private_of_tx(
        keys::PRIVATE_MISSING,
        version.block,
        version.tx,
        ns,
        collection,
    );
    Ok(tree.contains_key(key)?)
}

/// The `D` (`prefix` [`keys::PRIVATE_DATA`]) or `O`
/// ([`keys::PRIVATE_MISSING`]) key of `item`.
fn item_key(prefix: u8, item: &MissingPrivateData) -> Vec<u8> {
    keys::private_of_tx(
        prefix,
        item.block,
        item.tx,
        &item.namespace,
        &item.collection,
    )
}

/// A valid transaction's private changes, into the block's batch.
pub(super) fn apply_tx(batch: &mut sled::Batch, version: Version, tx: &TxUpdates) {
    for p in &tx.private_hashes {
        let key = keys::private(keys::PRIVATE_HASH, &p.ns, &p.collection, &p.key_hash);
        let Some(hash) = &p.value_hash else {
            batch.remove(key);
            continue;
        };
        batch.insert(key, records::encode_versioned(version, hash.as_bytes()));
        if let Some(at) = p.expires_at {
            batch.insert(
                keys::private_expiry(at, &p.ns, &p.collection, &p.key_hash),
                &version.block.to_be_bytes()[..],
            );
        }
    }
    for data in &tx.private_data {
        apply_values(batch, version, data);
        batch.insert(
            keys::private_of_tx(
                keys::PRIVATE_DATA,
                version.block,
                version.tx,
                &data.namespace,
                &data.collection,
            ),
            weft_types::to_json_bytes(data),
        );
    }
    for owed in &tx.private_missing {
        batch.insert(
            keys::private_of_tx(
                keys::PRIVATE_MISSING,
                version.block,
                version.tx,
                &owed.ns,
                &owed.collection,
            ),
            &owed.hash.as_bytes()[..],
        );
    }
}

/// The values of `data` at `version`.
fn apply_values(batch: &mut sled::Batch, version: Version, data: &CollectionData) {
    for w in &data.writes {
        let key_hash = sha3_256(w.key.as_bytes());
        let key = keys::private(keys::PRIVATE, &data.namespace, &data.collection, &key_hash);
        match &w.value {
            Some(v) => batch.insert(key, records::encode_versioned(version, v)),
            None => batch.remove(key),
        }
    }
}

/// Block-to-live: removes the private keys due at block `number` (hash
/// and, where held, value), unless a later write replaced them.
pub(super) fn purge_expired(
    tree: &sled::Tree,
    batch: &mut sled::Batch,
    number: u64,
) -> Result<(), LedgerError> {
    let end = keys::by_block(keys::PRIVATE_EXPIRY, number.saturating_add(1));
    // The blocks whose writes in a collection expire now.
    let mut expired = std::collections::BTreeSet::new();
    for entry in tree.range(&[keys::PRIVATE_EXPIRY][..]..&end[..]) {
        let (key, value) = entry?;
        batch.remove(&*key);
        let (Some((ns, collection, key_hash)), Some(written)) = (
            keys::decode_private_expiry(&key),
            records::u64_at(&value, 0),
        ) else {
            return Err(LedgerError::corrupt("private expiry", "malformed record"));
        };
        let written_then = |v: Version| v.block == written;
        if hash_of(tree, &ns, &collection, &key_hash)?.is_some_and(|(_, v)| written_then(v)) {
            batch.remove(keys::private(
                keys::PRIVATE_HASH,
                &ns,
                &collection,
                &key_hash,
            ));
        }
        // The value by its own version: a member that missed a later
        // delete or rewrite still holds this one.
        if value_version(tree, &ns, &collection, &key_hash)?.is_some_and(written_then) {
            batch.remove(keys::private(keys::PRIVATE, &ns, &collection, &key_hash));
        }
        expired.insert((written, ns, collection));
    }
    // The transactions' own records of those writes go too (rewritten
    // keys included: their old values expire all the same), and nothing
    // expired is owed any longer.
    for (written, ns, collection) in expired {
        for prefix in [keys::PRIVATE_DATA, keys::PRIVATE_MISSING] {
            for entry in tree.scan_prefix(keys::by_block(prefix, written)) {
                let (key, _) = entry?;
                let same = keys::decode_private_of_tx(&key)
                    .is_some_and(|(_, _, n, c)| n == ns && c == collection);
                if same {
                    batch.remove(&*key);
                }
            }
        }
    }
    Ok(())
}

/// Drops what waited in the transient store for `tx_id`.
pub(super) fn drop_transient(
    tree: &sled::Tree,
    batch: &mut sled::Batch,
    tx_id: &TxId,
) -> Result<(), LedgerError> {
    for entry in tree.scan_prefix(keys::transient_prefix(tx_id)) {
        let (key, value) = entry?;
        let height = records::u64_at(&value, 0)
            .ok_or_else(|| LedgerError::corrupt("transient", "no height"))?;
        let mut index = keys::by_block(keys::TRANSIENT_BY_HEIGHT, height).to_vec();
        index.extend_from_slice(&key[1..]);
        batch.remove(index);
        batch.remove(&*key);
    }
    Ok(())
}

/// Drops transient entries that arrived more than
/// [`TRANSIENT_RETENTION_BLOCKS`] before block `number`.
pub(super) fn purge_transient(
    tree: &sled::Tree,
    batch: &mut sled::Batch,
    number: u64,
) -> Result<(), LedgerError> {
    let Some(before) = number.checked_sub(TRANSIENT_RETENTION_BLOCKS) else {
        return Ok(());
    };
    let end = keys::by_block(keys::TRANSIENT_BY_HEIGHT, before);
    for entry in tree.range(&[keys::TRANSIENT_BY_HEIGHT][..]..&end[..]) {
        let (key, _) = entry?;
        if let Some(record) = keys::transient_of_index(&key) {
            batch.remove(record);
        }
        batch.remove(&*key);
    }
    Ok(())
}

impl Ledger {
    /// Keeps private writes received for `tx_id` until it commits (then the
    /// committer takes them) or [`TRANSIENT_RETENTION_BLOCKS`] pass. Each
    /// copy is kept under its own `private_rwset_hash`, so copies that
    /// differ stand side by side and the committer finds the one its
    /// transaction names. Not flushed here (an fsync per push would cap the
    /// pushes a peer takes): sled writes it out within its flush interval
    /// and every block commit flushes it; a copy lost to a crash before
    /// that is reconciled from another member after the commit.
    pub fn store_transient<'a>(
        &self,
        tx_id: &TxId,
        collections: impl IntoIterator<Item = &'a CollectionData>,
    ) -> Result<(), LedgerError> {
        let height = self.height();
        let mut batch = sled::Batch::default();
        for data in collections {
            let digest = private_rwset_hash(data);
            let mut value = height.to_be_bytes().to_vec();
            value.extend_from_slice(&weft_types::to_json_bytes(data));
            let (ns, coll) = (&data.namespace, &data.collection);
            batch.insert(keys::transient(tx_id, ns, coll, &digest), value);
            batch.insert(
                keys::transient_by_height(height, tx_id, ns, coll, &digest),
                &[][..],
            );
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// The copy of `tx_id`'s private writes in `(ns, collection)` whose
    /// `private_rwset_hash` is `hash`, if it arrived.
    pub fn transient_copy(
        &self,
        tx_id: &TxId,
        ns: &str,
        collection: &str,
        hash: &Digest,
    ) -> Result<Option<CollectionData>, LedgerError> {
        let Some(value) = self
            .tree
            .get(keys::transient(tx_id, ns, collection, hash))?
        else {
            return Ok(None);
        };
        let json = value
            .get(8..)
            .ok_or_else(|| LedgerError::corrupt("transient", "no height"))?;
        serde_json::from_slice(json)
            .map(Some)
            .map_err(|e| LedgerError::corrupt("transient", e.to_string()))
    }

    /// Up to `limit` private writes this peer owes, oldest first, each with
    /// the hash the data must match.
    pub fn missing_private(
        &self,
        limit: usize,
    ) -> Result<Vec<(MissingPrivateData, Digest)>, LedgerError> {
        self.missing_private_after(None, limit)
    }

    /// [`Ledger::missing_private`] from just after `after` (so a reconciler
    /// that cannot fill the oldest items still reaches the later ones).
    pub fn missing_private_after(
        &self,
        after: Option<&MissingPrivateData>,
        limit: usize,
    ) -> Result<Vec<(MissingPrivateData, Digest)>, LedgerError> {
        let start = match after {
            Some(item) => {
                let mut key = item_key(keys::PRIVATE_MISSING, item);
                key.push(0);
                key
            }
            None => vec![keys::PRIVATE_MISSING],
        };
        let end = vec![keys::PRIVATE_MISSING + 1];
        let mut out = Vec::new();
        for entry in self.tree.range(start..end).take(limit) {
            let (key, value) = entry?;
            let (block, tx, namespace, collection) = keys::decode_private_of_tx(&key)
                .ok_or_else(|| LedgerError::corrupt("missing private data", "malformed key"))?;
            let hash = records::decode_digest(&value, "missing private data")?;
            out.push((
                MissingPrivateData {
                    block,
                    tx,
                    namespace,
                    collection,
                },
                hash,
            ));
        }
        Ok(out)
    }

    /// Stops owing `item` (its collection no longer has this peer's org as
    /// a member, or no longer exists): the reconciler gives up on it.
    pub fn forget_owed(&self, item: &MissingPrivateData) -> Result<(), LedgerError> {
        self.tree.remove(item_key(keys::PRIVATE_MISSING, item))?;
        Ok(())
    }

    /// The private writes transaction `tx` of `block` made in
    /// `(ns, collection)`, where this peer holds them.
    pub fn private_data_of(
        &self,
        block: u64,
        tx: u32,
        ns: &str,
        collection: &str,
    ) -> Result<Option<CollectionData>, LedgerError> {
        let key = keys::private_of_tx(keys::PRIVATE_DATA, block, tx, ns, collection);
        let Some(raw) = self.tree.get(key)? else {
            return Ok(None);
        };
        serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| LedgerError::corrupt("private data", e.to_string()))
    }

    /// Stores private writes this peer owed, once they match the hash the
    /// transaction committed. Values are written only for keys whose
    /// committed hash is still this transaction's write (a later write
    /// wins). `Ok(false)` when nothing is owed for `item` or the data does
    /// not match (and nothing changes).
    pub fn reconcile(
        &self,
        item: &MissingPrivateData,
        data: &CollectionData,
    ) -> Result<bool, LedgerError> {
        let serial = self.commit_lock.lock();
        let owed_key = item_key(keys::PRIVATE_MISSING, item);
        let Some(raw) = self.tree.get(&owed_key)? else {
            return Ok(false);
        };
        let expected = records::decode_digest(&raw, "missing private data")?;
        if data.namespace != item.namespace
            || data.collection != item.collection
            || private_rwset_hash(data) != expected
        {
            return Ok(false);
        }
        let version = Version {
            block: item.block,
            tx: item.tx,
        };
        let mut batch = sled::Batch::default();
        for w in &data.writes {
            let key_hash = sha3_256(w.key.as_bytes());
            let (ns, coll) = (&data.namespace, &data.collection);
            let key = keys::private(keys::PRIVATE, ns, coll, &key_hash);
            let current = hash_of(&self.tree, ns, coll, &key_hash)?;
            if current.is_some_and(|(_, v)| v == version) {
                match &w.value {
                    Some(v) => batch.insert(key, records::encode_versioned(version, v)),
                    None => batch.remove(key),
                }
            } else if value_version(&self.tree, ns, coll, &key_hash)?.is_some_and(|v| v < version) {
                // A later write (also missed) or delete supersedes both this
                // one and the value held: better none than a stale one.
                batch.remove(key);
            }
        }
        batch.insert(
            item_key(keys::PRIVATE_DATA, item),
            weft_types::to_json_bytes(data),
        );
        batch.remove(owed_key);
        {
            let _write = self.savepoint.write();
            self.tree.apply_batch(batch)?;
        }
        // No flush (an fsync per item would cap reconciliation): a crash
        // before sled writes it out leaves the item owed, and it is fetched
        // again; the next block commit flushes it.
        drop(serial);
        Ok(true)
    }
}
