//! Blocks, envelopes and updates for the ledger tests and bench.
#![allow(dead_code)]

use weft_node::ledger::{BlockUpdates, Ledger, StateWrite, TxUpdates};
use weft_types::{
    Block, Bytes, ConfigTransaction, Digest, Envelope, Identity, OrgAuthority, Role, SigningKey,
    Transaction, TxBody, TxHeader, TxId, ValidationCode,
};

/// A client of org `Bank`.
pub(crate) fn identity() -> Identity {
    let ca = OrgAuthority::new("Bank", SigningKey::generate()).unwrap();
    ca.enroll("client", Role::Client, 0, u64::MAX).unwrap()
}

/// A signed envelope with a fresh tx id. The ledger reads only its header,
/// so the body is a small config transaction.
pub(crate) fn envelope(id: &Identity) -> (Envelope, TxId) {
    let header = TxHeader::new("weft", id.certificate(), 1_000);
    let tx_id = header.tx_id;
    let tx = Transaction {
        header,
        body: TxBody::Config(ConfigTransaction {
            config: Bytes::from("{}"),
            approvals: Vec::new(),
        }),
    };
    (Envelope::sign(&tx, id), tx_id)
}

/// The next block for `ledger`, chained to its last block, with `flags`.
pub(crate) fn next_block(
    ledger: &Ledger,
    envelopes: Vec<Envelope>,
    flags: Vec<ValidationCode>,
) -> Block {
    let number = ledger.height();
    let previous = match number.checked_sub(1) {
        Some(n) => ledger.block(n).unwrap().unwrap().hash(),
        None => Digest::ZERO,
    };
    let mut block = Block::new(number, previous, 1_000 * (number + 1), envelopes);
    block.metadata.validation_flags = flags;
    block
}

/// Commits a genesis block (one config tx, no state updates).
pub(crate) fn commit_genesis(ledger: &Ledger, id: &Identity) -> Digest {
    let block = next_block(ledger, vec![envelope(id).0], vec![ValidationCode::Valid]);
    ledger.commit(&block, &BlockUpdates::empty()).unwrap()
}

/// A write (`Some`) or delete (`None`) in namespace `ns`.
pub(crate) fn write(ns: &str, key: &str, value: Option<&[u8]>) -> StateWrite {
    StateWrite {
        ns: ns.into(),
        key: key.into(),
        value: value.map(<[u8]>::to_vec),
    }
}

/// The updates of one valid transaction.
pub(crate) fn tx_updates(tx_id: TxId, index: u32, writes: Vec<StateWrite>) -> TxUpdates {
    TxUpdates {
        writes,
        ..TxUpdates::new(tx_id, index, 5_000 + u64::from(index))
    }
}
