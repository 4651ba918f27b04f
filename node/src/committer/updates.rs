//! From the validator's verdict to the ledger's [`BlockUpdates`].

use weft_types::to_json_bytes;

use super::error::CommitError;
use crate::ledger::{
    BlockUpdates, CONFIG_KEY, CONFIG_NAMESPACE, LIFECYCLE_NAMESPACE, PolicyWrite, StateWrite,
    TxUpdates,
};
use crate::validator::BlockValidation;

/// The writes of the valid transactions, plus what lifecycle and
/// configuration transactions commit: the definition (JSON) under
/// `_lifecycle/<name>` with its module, and the configuration (JSON) under
/// `_config/channel`. Key-level policies are stored as their canonical text.
pub fn block_updates(validation: &BlockValidation) -> Result<BlockUpdates, CommitError> {
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
        out.txs.push(TxUpdates {
            tx_id,
            index: w.tx,
            timestamp_ms: w.timestamp_ms,
            writes,
            policy_writes: w
                .key_policies
                .iter()
                .map(|p| PolicyWrite {
                    ns: p.namespace.clone(),
                    key: p.key.clone(),
                    policy: p.policy.as_ref().map(ToString::to_string),
                })
                .collect(),
        });
    }
    Ok(out)
}
