//! [`BlockEvent`]s of blocks committed earlier, rebuilt from the ledger so
//! that a replayed block reads as it did live.
//!
//! The ledger keeps each block with its validation flags and commit hash;
//! what the live event adds is derived the same way the validator derives
//! it: a tx id only when the ledger indexed it at this position (ids of
//! envelopes whose creator could not be authenticated, and of duplicates,
//! are never indexed there), and the chaincode and event only for a valid
//! invocation. The `detail` of invalid transactions is not stored, so
//! event streams leave it out of live events too.

use weft_types::{Block, Digest, ProposalResponsePayload, Transaction, TxBody, ValidationCode};

use crate::committer::{BlockEvent, TxEvent};
use crate::ledger::{Ledger, LedgerError};

/// The event of committed block `number`; `None` if it is not committed.
pub(crate) fn block_event(ledger: &Ledger, number: u64) -> Result<Option<BlockEvent>, LedgerError> {
    let Some(block) = ledger.block(number)? else {
        return Ok(None);
    };
    let commit_hash = match block.metadata.commit_hash {
        Some(h) => h,
        None => ledger.commit_hash_at(number)?.unwrap_or(Digest::ZERO),
    };
    let txs = txs(ledger, &block)?;
    Ok(Some(BlockEvent {
        number,
        block_hash: block.hash(),
        timestamp_ms: block.header.timestamp_ms,
        commit_hash,
        txs,
    }))
}

fn txs(ledger: &Ledger, block: &Block) -> Result<Vec<TxEvent>, LedgerError> {
    let number = block.number();
    let mut out = Vec::with_capacity(block.data.len());
    for (i, envelope) in block.data.iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        let code = block
            .metadata
            .validation_flags
            .get(i)
            .copied()
            .unwrap_or(ValidationCode::NotValidated);
        let tx: Option<Transaction> = envelope.decode().ok();
        let tx_id = match &tx {
            Some(tx) => {
                let id = tx.header.tx_id;
                let indexed_here = ledger
                    .tx(&id)?
                    .is_some_and(|(b, n, _)| b == number && n == index);
                indexed_here.then_some(id)
            }
            None => None,
        };
        let (chaincode, event) = match (&tx, code.is_valid()) {
            (
                Some(Transaction {
                    body: TxBody::Invoke(invoke),
                    ..
                }),
                true,
            ) => {
                let chaincode = invoke.proposal.decode().ok().map(|p| p.chaincode);
                let event = serde_json::from_slice::<ProposalResponsePayload>(&invoke.response)
                    .ok()
                    .and_then(|p| p.event);
                (chaincode, event)
            }
            _ => (None, None),
        };
        out.push(TxEvent {
            index,
            tx_id,
            code,
            detail: None,
            chaincode,
            event,
        });
    }
    Ok(out)
}
