//! What subscribers learn when a block commits.

use serde::{Deserialize, Serialize};
use weft_types::{Block, ChaincodeEvent, Digest, TxId, ValidationCode};

use crate::validator::BlockValidation;

/// One committed block, as subscribers (the gateway's commit-status waits
/// and event streams) see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEvent {
    /// The block number.
    pub number: u64,
    /// The block's header hash.
    pub block_hash: Digest,
    /// The block's time, unix milliseconds.
    pub timestamp_ms: u64,
    /// This peer's commit hash after the block.
    pub commit_hash: Digest,
    /// Every transaction of the block, in order.
    pub txs: Vec<TxEvent>,
}

/// One transaction of a committed block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxEvent {
    /// Its index in the block.
    pub index: u32,
    /// Its id, when authenticated (a forged or unreadable envelope has none
    /// worth reporting; a duplicate is reported under the original's id by
    /// the ledger).
    pub tx_id: Option<TxId>,
    /// Its validation code.
    pub code: ValidationCode,
    /// Why it is invalid, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The chaincode a valid invocation ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaincode: Option<String>,
    /// The chaincode event of a valid invocation; invalid transactions
    /// publish none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<ChaincodeEvent>,
}

impl BlockEvent {
    pub(super) fn new(block: &Block, validation: &BlockValidation, commit_hash: Digest) -> Self {
        let mut txs: Vec<TxEvent> = validation
            .codes
            .iter()
            .enumerate()
            .map(|(i, code)| TxEvent {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                tx_id: validation.tx_ids.get(i).copied().flatten(),
                code: *code,
                detail: validation.details.get(i).cloned().flatten(),
                chaincode: None,
                event: None,
            })
            .collect();
        for w in &validation.valid_writes {
            if let Some(tx) = txs.get_mut(w.tx as usize) {
                tx.chaincode.clone_from(&w.chaincode);
                tx.event.clone_from(&w.event);
            }
        }
        BlockEvent {
            number: block.number(),
            block_hash: block.hash(),
            timestamp_ms: block.header.timestamp_ms,
            commit_hash,
            txs,
        }
    }

    /// The transactions marked valid.
    pub fn valid(&self) -> impl Iterator<Item = &TxEvent> {
        self.txs.iter().filter(|t| t.code.is_valid())
    }
}
