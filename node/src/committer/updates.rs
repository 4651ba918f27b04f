//! From the validator's verdict to the ledger's [`BlockUpdates`].

use std::collections::BTreeMap;

use weft_types::{CollectionConfig, to_json_bytes};

use super::error::CommitError;
use crate::ledger::{
    BlockUpdates, CONFIG_KEY, CONFIG_NAMESPACE, LIFECYCLE_NAMESPACE, Ledger, OwedPrivateData,
    PolicyWrite, PrivateHashWrite, StateWrite, TxUpdates,
};
use crate::validator::{BlockValidation, TxWrites};

/// Who commits: the ledger (definitions as of the block before, the
/// transient store) and the org of the peer, whose membership of each
/// collection decides whether it stores private values.
#[derive(Clone, Copy)]
pub struct CommitSite<'a> {
    /// The ledger the block is committed to.
    pub ledger: &'a Ledger,
    /// The peer's org.
    pub org: &'a str,
    /// The block's number.
    pub block: u64,
}

/// The writes of the valid transactions, plus what lifecycle and
/// configuration transactions commit: the definition (JSON) under
/// `_lifecycle/<name>` with its module, and the configuration (JSON) under
/// `_config/channel`. Key-level policies are stored as their canonical text.
///
/// Private writes: every peer stores their hashes (with the block at which
/// the collection's block-to-live purges them); a member of the collection
/// also stores the values it received (transient store) when they match
/// the transaction's hash, and otherwise records them as owed.
pub fn block_updates(
    validation: &BlockValidation,
    site: CommitSite<'_>,
) -> Result<BlockUpdates, CommitError> {
    let mut collections = Collections::default();
    let mut out = BlockUpdates::default();
    for w in &validation.valid_writes {
        let tx_id = validation
            .tx_ids
            .get(w.tx as usize)
            .copied()
            .flatten()
            .ok_or_else(|| {
                CommitError::Inconsistent(format!("valid transaction {} has no tx id", w.tx))
            })?;
        let mut writes: Vec<StateWrite> = w
            .writes
            .iter()
            .map(|s| StateWrite {
                ns: s.namespace.clone(),
                key: s.key.clone(),
                value: s.value.as_ref().map(|v| v.0.clone()),
            })
            .collect();
        if let Some(def) = &w.definition {
            writes.push(StateWrite {
                ns: LIFECYCLE_NAMESPACE.into(),
                key: def.name.clone(),
                value: Some(to_json_bytes(def)),
            });
            let module = w.module.as_ref().ok_or_else(|| {
                CommitError::Inconsistent(format!("definition of {} without its module", def.name))
            })?;
            out.modules.push(module.0.clone());
        }
        if let Some(config) = &w.config {
            writes.push(StateWrite {
                ns: CONFIG_NAMESPACE.into(),
                key: CONFIG_KEY.into(),
                value: Some(to_json_bytes(config)),
            });
        }
        let mut tx = TxUpdates::new(tx_id, w.tx, w.timestamp_ms);
        tx.writes = writes;
        tx.policy_writes = w
            .key_policies
            .iter()
            .map(|p| PolicyWrite {
                ns: p.namespace.clone(),
                key: p.key.clone(),
                policy: p.policy.as_ref().map(ToString::to_string),
            })
            .collect();
        private_updates(&mut tx, w, site, &mut collections)?;
        out.txs.push(tx);
    }
    Ok(out)
}

/// Collection configurations by `(chaincode, collection)`, and the
/// channel's orgs (for implicit collections), read once per block.
#[derive(Default)]
struct Collections {
    configs: BTreeMap<(String, String), Option<CollectionConfig>>,
    orgs: Option<Vec<String>>,
}

impl Collections {
    fn get(
        &mut self,
        ledger: &Ledger,
        ns: &str,
        collection: &str,
    ) -> Result<Option<&CollectionConfig>, CommitError> {
        let key = (ns.to_string(), collection.to_string());
        if !self.configs.contains_key(&key) {
            if self.orgs.is_none() {
                let config = ledger.channel_config()?;
                self.orgs = Some(
                    config.map_or_else(Vec::new, |c| c.orgs.into_iter().map(|o| o.name).collect()),
                );
            }
            let orgs = self.orgs.as_deref().unwrap_or_default();
            let config = ledger.definition(ns)?.and_then(|d| {
                d.collection(collection, orgs)
                    .map(std::borrow::Cow::into_owned)
            });
            self.configs.insert(key.clone(), config);
        }
        Ok(self.configs.get(&key).and_then(Option::as_ref))
    }
}

/// The private part of one valid transaction's updates.
fn private_updates(
    tx: &mut TxUpdates,
    w: &TxWrites,
    site: CommitSite<'_>,
    collections: &mut Collections,
) -> Result<(), CommitError> {
    if w.private_sets.is_empty() {
        return Ok(());
    }
    for p in &w.private_hashes {
        let config = collections.get(site.ledger, &p.namespace, &p.collection)?;
        let expires_at = config
            .filter(|c| c.block_to_live > 0)
            .map(|c| site.block.saturating_add(c.block_to_live).saturating_add(1));
        tx.private_hashes.push(PrivateHashWrite {
            ns: p.namespace.clone(),
            collection: p.collection.clone(),
            key_hash: p.key_hash,
            value_hash: p.value_hash,
            expires_at,
        });
    }
    for set in &w.private_sets {
        let member = collections
            .get(site.ledger, &set.namespace, &set.collection)?
            .is_some_and(|c| c.has_member(site.org));
        if !member {
            continue;
        }
        let received =
            site.ledger
                .transient_copy(&tx.tx_id, &set.namespace, &set.collection, &set.hash)?;
        match received {
            Some(data) => tx.private_data.push(data),
            None => {
                tracing::info!(
                    tx = %tx.tx_id,
                    collection = %format!("{}/{}", set.namespace, set.collection),
                    "private data not received before commit; the reconciler will fetch it"
                );
                tx.private_missing.push(OwedPrivateData {
                    ns: set.namespace.clone(),
                    collection: set.collection.clone(),
                    hash: set.hash,
                });
            }
        }
    }
    Ok(())
}
