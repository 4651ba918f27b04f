//! Unit tests of commit and reads on a real sled directory.

use std::time::Duration;

use weft_abi::ErrorCode;
use weft_chaincode::sim::StateView;
use weft_types::{
    Block, Bytes, ConfigTransaction, Envelope, Identity, OrgAuthority, Role, SigningKey,
    Transaction, TxBody, TxHeader, TxId, ValidationCode, Version,
};

use super::*;
use crate::validator::CommittedState;
use weft_chaincode::sim::private_rwset_hash;

fn identity() -> Identity {
    let ca = OrgAuthority::new("Bank", SigningKey::generate()).unwrap();
    ca.enroll("client", Role::Client, 0, u64::MAX).unwrap()
}

fn envelope(id: &Identity) -> (Envelope, TxId) {
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

fn block(ledger: &Ledger, envelopes: Vec<Envelope>, flags: Vec<ValidationCode>) -> Block {
    let number = ledger.height();
    let previous = match number.checked_sub(1) {
        Some(n) => ledger.block(n).unwrap().unwrap().hash(),
        None => Digest::ZERO,
    };
    let mut b = Block::new(number, previous, 1_000 + number, envelopes);
    b.metadata.validation_flags = flags;
    b
}

fn put(tx_id: TxId, index: u32, key: &str, value: &str) -> TxUpdates {
    TxUpdates {
        writes: vec![StateWrite {
            ns: "cc".into(),
            key: key.into(),
            value: Some(value.as_bytes().to_vec()),
        }],
        ..TxUpdates::new(tx_id, index, 7)
    }
}

/// A ledger with the genesis block committed.
fn ledger_with_genesis(dir: &tempfile::TempDir) -> (Ledger, Identity) {
    let ledger = Ledger::open(dir.path()).unwrap();
    let id = identity();
    let genesis = block(&ledger, vec![envelope(&id).0], vec![ValidationCode::Valid]);
    ledger.commit(&genesis, &BlockUpdates::empty()).unwrap();
    (ledger, id)
}

#[test]
fn empty_ledger_is_at_height_zero() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.height(), 0);
    assert_eq!(ledger.commit_hash(), Digest::ZERO);
    assert_eq!(ledger.block(0).unwrap(), None);
    assert!(ledger.blocks_above_savepoint().is_empty());
}

#[test]
fn genesis_commits_like_any_block() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let id = identity();
    let (env, tx_id) = envelope(&id);
    let genesis = block(&ledger, vec![env], vec![ValidationCode::Valid]);
    let hash = ledger.commit(&genesis, &BlockUpdates::empty()).unwrap();
    assert_eq!(
        hash,
        commit_hash(
            &Digest::ZERO,
            0,
            &[ValidationCode::Valid],
            &BlockUpdates::empty()
        )
    );
    assert_eq!(ledger.height(), 1);
    assert_eq!(ledger.commit_hash(), hash);
    assert_eq!(ledger.commit_hash_at(0).unwrap(), Some(hash));
    assert_eq!(
        ledger.tx(&tx_id).unwrap(),
        Some((0, 0, ValidationCode::Valid))
    );
    let stored = ledger.block(0).unwrap().unwrap();
    assert_eq!(stored.metadata.commit_hash, Some(hash));
    assert_eq!(stored.header, genesis.header);
    assert_eq!(stored.data, genesis.data);
}

#[test]
fn commit_applies_writes_deletes_history_and_policies() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    let (e0, t0) = envelope(&id);
    let (e1, t1) = envelope(&id);
    let (e2, t2) = envelope(&id);
    let b1 = block(
        &ledger,
        vec![e0, e1, e2],
        vec![
            ValidationCode::Valid,
            ValidationCode::MvccReadConflict,
            ValidationCode::Valid,
        ],
    );
    let mut second = put(t2, 2, "a", "a2");
    second.policy_writes.push(PolicyWrite {
        ns: "cc".into(),
        key: "a".into(),
        policy: Some("OR('Bank.member')".into()),
    });
    let updates = BlockUpdates {
        txs: vec![put(t0, 0, "a", "a1"), second],
        ..Default::default()
    };
    ledger.commit(&b1, &updates).unwrap();

    // The later write in the block wins; both are in the history.
    assert_eq!(
        ledger.get("cc", "a").unwrap(),
        Some((b"a2".to_vec(), Version { block: 1, tx: 2 }))
    );
    let history = ledger.history("cc", "a").unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!((history[0].block, history[0].tx), (1, 0));
    assert_eq!(history[0].tx_id, t0.to_string());
    assert_eq!(history[1].value.as_deref(), Some(&b"a2"[..]));
    assert_eq!(
        ledger.key_policy("cc", "a").unwrap().as_deref(),
        Some("OR('Bank.member')")
    );
    // Every tx is indexed, the invalid one with its code.
    assert_eq!(
        ledger.tx(&t1).unwrap(),
        Some((1, 1, ValidationCode::MvccReadConflict))
    );
    assert_eq!(ledger.tx(&t2).unwrap(), Some((1, 2, ValidationCode::Valid)));

    // Delete the key and its policy.
    let (e3, t3) = envelope(&id);
    let b2 = block(&ledger, vec![e3], vec![ValidationCode::Valid]);
    let delete = TxUpdates {
        writes: vec![StateWrite {
            ns: "cc".into(),
            key: "a".into(),
            value: None,
        }],
        policy_writes: vec![PolicyWrite {
            ns: "cc".into(),
            key: "a".into(),
            policy: None,
        }],
        ..TxUpdates::new(t3, 0, 9)
    };
    ledger
        .commit(
            &b2,
            &BlockUpdates {
                txs: vec![delete],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(ledger.get("cc", "a").unwrap(), None);
    assert_eq!(ledger.key_policy("cc", "a").unwrap(), None);
    let history = ledger.history("cc", "a").unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[2].value, None);
    assert_eq!(history[2].timestamp_ms, 9);

    // Reopened, the ledger still finds every indexed id (the in-memory
    // filter in front of the index is rebuilt from it), and no other.
    drop(ledger);
    let ledger = Ledger::open(dir.path()).unwrap();
    for (tx_id, at) in [(t0, (1, 0)), (t1, (1, 1)), (t2, (1, 2)), (t3, (2, 0))] {
        assert_eq!(ledger.tx(&tx_id).unwrap().map(|(b, i, _)| (b, i)), Some(at));
        assert!(ledger.latest_state().tx_exists(&tx_id).unwrap());
    }
    let (_, never) = envelope(&id);
    assert_eq!(ledger.tx(&never).unwrap(), None);
    assert!(!ledger.latest_state().tx_exists(&never).unwrap());
}

#[test]
fn refused_blocks_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    let before = (ledger.height(), ledger.commit_hash());
    let (env, tx_id) = envelope(&id);
    let good = block(&ledger, vec![env], vec![ValidationCode::Valid]);
    let updates = BlockUpdates {
        txs: vec![put(tx_id, 0, "k", "v")],
        ..Default::default()
    };

    let mut skipped = good.clone();
    skipped.header.number = 2;
    assert!(matches!(
        ledger.commit(&skipped, &updates),
        Err(LedgerError::OutOfOrder {
            number: 2,
            height: 1
        })
    ));

    let mut unchained = good.clone();
    unchained.header.previous_hash = Digest([9; 32]);
    assert!(matches!(
        ledger.commit(&unchained, &updates),
        Err(LedgerError::BrokenChain { .. })
    ));

    let mut no_flags = good.clone();
    no_flags.metadata.validation_flags.clear();
    let err = ledger.commit(&no_flags, &updates).unwrap_err();
    assert!(
        err.to_string()
            .contains("0 validation flags for 1 transactions"),
        "{err}"
    );

    let mut invalid = good.clone();
    invalid.metadata.validation_flags = vec![ValidationCode::BadSignature];
    let err = ledger.commit(&invalid, &updates).unwrap_err();
    assert!(err.to_string().contains("marked BAD_SIGNATURE"), "{err}");

    let past_end = BlockUpdates {
        txs: vec![put(tx_id, 1, "k", "v")],
        ..Default::default()
    };
    assert!(matches!(
        ledger.commit(&good, &past_end),
        Err(LedgerError::BadBlock { .. })
    ));
    let unordered = BlockUpdates {
        txs: vec![put(tx_id, 0, "k", "v"), put(tx_id, 0, "j", "v")],
        ..Default::default()
    };
    assert!(matches!(
        ledger.commit(&good, &unordered),
        Err(LedgerError::BadBlock { .. })
    ));

    assert_eq!((ledger.height(), ledger.commit_hash()), before);
    assert_eq!(ledger.get("cc", "k").unwrap(), None);
    assert_eq!(ledger.tx(&tx_id).unwrap(), None);
    assert_eq!(ledger.block(1).unwrap(), None);
    ledger.commit(&good, &updates).unwrap();
    assert_eq!(ledger.height(), 2);
}

#[test]
fn a_duplicate_tx_id_keeps_the_valid_occurrence() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    let (env, tx_id) = envelope(&id);
    // First seen invalid, then valid in the same block, then again (duplicate) later.
    let b1 = block(
        &ledger,
        vec![env.clone(), env.clone()],
        vec![ValidationCode::BadCreator, ValidationCode::Valid],
    );
    ledger.commit(&b1, &BlockUpdates::empty()).unwrap();
    assert_eq!(
        ledger.tx(&tx_id).unwrap(),
        Some((1, 1, ValidationCode::Valid))
    );
    let b2 = block(&ledger, vec![env], vec![ValidationCode::DuplicateTxid]);
    ledger.commit(&b2, &BlockUpdates::empty()).unwrap();
    assert_eq!(
        ledger.tx(&tx_id).unwrap(),
        Some((1, 1, ValidationCode::Valid))
    );
}

#[test]
fn an_unparseable_envelope_is_not_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    let (mut env, tx_id) = envelope(&id);
    env.payload = Bytes::from("not json");
    let b1 = block(&ledger, vec![env], vec![ValidationCode::BadPayload]);
    ledger.commit(&b1, &BlockUpdates::empty()).unwrap();
    assert_eq!(ledger.tx(&tx_id).unwrap(), None);
    assert_eq!(ledger.height(), 2);
}

#[test]
fn range_respects_namespace_bounds_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    let (env, tx_id) = envelope(&id);
    let b1 = block(&ledger, vec![env], vec![ValidationCode::Valid]);
    let mut tx = put(tx_id, 0, "b", "1");
    for (ns, key) in [("cc", "a"), ("cc", "c"), ("cc2", "a"), ("c", "cb")] {
        tx.writes.push(StateWrite {
            ns: ns.into(),
            key: key.into(),
            value: Some(b"x".to_vec()),
        });
    }
    ledger
        .commit(
            &b1,
            &BlockUpdates {
                txs: vec![tx],
                ..Default::default()
            },
        )
        .unwrap();
    let keys = |start, end, limit| -> Vec<String> {
        ledger
            .range("cc", start, end, limit)
            .unwrap()
            .into_iter()
            .map(|(k, _, _)| k)
            .collect()
    };
    assert_eq!(keys("", "", 10), ["a", "b", "c"]);
    assert_eq!(keys("b", "", 10), ["b", "c"]);
    assert_eq!(keys("a", "c", 10), ["a", "b"]);
    assert_eq!(keys("", "", 2), ["a", "b"]);
    assert!(keys("", "", 0).is_empty());
    assert!(keys("c", "a", 10).is_empty());
    assert!(keys("c", "c", 10).is_empty());
}

#[test]
fn a_snapshot_holds_commits_off_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    let ledger = std::sync::Arc::new(ledger);
    let (env, tx_id) = envelope(&id);
    let b1 = block(&ledger, vec![env], vec![ValidationCode::Valid]);

    let snapshot = ledger.snapshot();
    let committer = {
        let ledger = ledger.clone();
        std::thread::spawn(move || {
            let updates = BlockUpdates {
                txs: vec![put(tx_id, 0, "k", "v")],
                ..Default::default()
            };
            ledger.commit(&b1, &updates).unwrap()
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !committer.is_finished(),
        "commit must wait for the snapshot"
    );
    assert_eq!(snapshot.height(), 1);
    assert_eq!(StateView::get(&snapshot, "cc", "k").unwrap(), None);
    drop(snapshot);
    let hash = committer.join().unwrap();
    let after = ledger.snapshot();
    assert_eq!(after.height(), 2);
    assert_eq!(after.commit_hash(), hash);
    assert_eq!(
        StateView::get(&after, "cc", "k").unwrap(),
        Some((b"v".to_vec(), Version { block: 1, tx: 0 }))
    );
}

#[test]
fn snapshot_is_a_static_sendable_state_view() {
    fn assert_view<V: StateView + Send + 'static>(_: &V) {}
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let snapshot = ledger.snapshot();
    assert_view(&snapshot);
    // Private values only for a reader; hashes for anyone.
    let refused = StateView::private_get(&snapshot, "cc", "coll", "k").unwrap_err();
    assert_eq!(refused.code, weft_abi::ErrorCode::NotAllowed);
    assert_eq!(
        StateView::private_hash(&snapshot, "cc", "coll", "k").unwrap(),
        None
    );
    assert_eq!(StateView::key_policy(&snapshot, "cc", "k").unwrap(), None);
    assert!(StateView::history(&snapshot, "cc", "k").unwrap().is_empty());
}

#[test]
fn ledger_errors_reach_chaincode_as_internal() {
    let e: weft_abi::HostError = LedgerError::corrupt("state", "short").into();
    assert_eq!(e.code, ErrorCode::Internal);
    assert!(e.message.contains("corrupt ledger record (state): short"));
}

#[test]
fn a_damaged_savepoint_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (ledger, _) = ledger_with_genesis(&dir);
        ledger.tree.insert(keys::SAVEPOINT, &[0u8; 5][..]).unwrap();
        ledger.db.flush().unwrap();
    }
    let err = Ledger::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            LedgerError::Corrupt {
                what: "savepoint",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn blocks_stored_past_the_savepoint_come_back_for_replay_and_a_torn_tail_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    let b1 = block(&ledger, vec![envelope(&id).0], vec![ValidationCode::Valid]);
    ledger.commit(&b1, &BlockUpdates::empty()).unwrap();
    let end = ledger.savepoint.read().block_file_end;
    // A crash after storing block 2 (and half of block 3) but before its
    // state batch: the file runs past the savepoint.
    let b2 = block(&ledger, vec![envelope(&id).0], vec![ValidationCode::Valid]);
    let json = serde_json::to_vec(&b2).unwrap();
    let after_b2 = ledger.blocks.append(end, &json).unwrap();
    ledger.blocks.append(after_b2, b"{\"half\":").unwrap();
    let torn = after_b2 + 4 + 8;
    ledger.blocks.truncate(torn - 3).unwrap();
    drop(ledger);

    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.height(), 2);
    assert_eq!(ledger.blocks_above_savepoint(), vec![b2.clone()]);
    assert!(
        ledger.blocks_above_savepoint().is_empty(),
        "handed over once"
    );
    // The file was cut at the savepoint: committing block 2 again works and
    // reads back.
    ledger.commit(&b2, &BlockUpdates::empty()).unwrap();
    assert_eq!(ledger.block(2).unwrap().unwrap().header, b2.header);
    drop(ledger);
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.height(), 3);
    assert!(ledger.blocks_above_savepoint().is_empty());
    assert_eq!(ledger.block(1).unwrap().unwrap().header, b1.header);
}

/// Private writes of `(cc, coll)` as the collection's data.
/// What a member lacking `data` records as owed.
fn owed_of(data: &weft_types::CollectionData) -> OwedPrivateData {
    OwedPrivateData {
        ns: data.namespace.clone(),
        collection: data.collection.clone(),
        hash: private_rwset_hash(data),
    }
}

/// The owed item of the first transaction of `block` in `cc`'s `collection`.
fn owed_item(block: u64, collection: &str) -> weft_types::MissingPrivateData {
    weft_types::MissingPrivateData {
        block,
        tx: 0,
        namespace: "cc".into(),
        collection: collection.into(),
    }
}

fn private_data(coll: &str, writes: &[(&str, Option<&str>)]) -> weft_types::CollectionData {
    weft_types::CollectionData {
        namespace: "cc".into(),
        collection: coll.into(),
        writes: writes
            .iter()
            .map(|(k, v)| weft_types::PrivateWriteData {
                key: (*k).into(),
                value: v.map(Bytes::from),
                purge: false,
            })
            .collect(),
    }
}

/// The hash writes every peer commits for `data`.
fn hashes_of(data: &weft_types::CollectionData, expires_at: Option<u64>) -> Vec<PrivateHashWrite> {
    data.writes
        .iter()
        .map(|w| PrivateHashWrite {
            ns: data.namespace.clone(),
            collection: data.collection.clone(),
            key_hash: weft_types::sha3_256(w.key.as_bytes()),
            value_hash: w.value.as_ref().map(|v| weft_types::sha3_256(v)),
            expires_at,
        })
        .collect()
}

/// Commits one valid transaction, a fresh one of `id`'s, with its updates
/// filled by `fill`; its tx id and version.
fn commit_private(
    ledger: &Ledger,
    id: &Identity,
    fill: impl FnOnce(&mut TxUpdates),
) -> (TxId, Version) {
    let (env, tx_id) = envelope(id);
    (tx_id, commit_tx(ledger, (env, tx_id), fill))
}

/// Commits `envelope` as the one valid transaction of the next block, its
/// updates filled by `fill`; its version.
fn commit_tx(
    ledger: &Ledger,
    (env, tx_id): (Envelope, TxId),
    fill: impl FnOnce(&mut TxUpdates),
) -> Version {
    let b = block(ledger, vec![env], vec![ValidationCode::Valid]);
    let mut tx = TxUpdates::new(tx_id, 0, 1);
    fill(&mut tx);
    let updates = BlockUpdates {
        txs: vec![tx],
        modules: Vec::new(),
    };
    ledger.commit(&b, &updates).unwrap();
    Version {
        block: b.number(),
        tx: 0,
    }
}

#[test]
fn members_store_values_every_peer_stores_hashes_and_owed_data_is_reconciled() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    let held = private_data("held", &[("k", Some("secret"))]);
    let owed = private_data("owed", &[("k", Some("other")), ("gone", None)]);
    let (_, version) = commit_private(&ledger, &id, |tx| {
        tx.private_hashes = hashes_of(&held, None);
        tx.private_hashes.extend(hashes_of(&owed, None));
        tx.private_data = vec![held.clone()];
        tx.private_missing = vec![owed_of(&owed)];
    });
    let snapshot = ledger.snapshot();
    assert_eq!(
        snapshot.private_value("cc", "held", "k").unwrap(),
        PrivateValue::Here(b"secret".to_vec(), version)
    );
    assert_eq!(
        snapshot
            .private_hash("cc", "owed", &weft_types::sha3_256(b"k"))
            .unwrap(),
        Some((weft_types::sha3_256(b"other"), version))
    );
    // The hash is committed, the value is not here yet.
    assert_eq!(
        snapshot.private_value("cc", "owed", "k").unwrap(),
        PrivateValue::NotHere(version)
    );
    assert_eq!(
        snapshot.private_value("cc", "owed", "never").unwrap(),
        PrivateValue::Absent
    );
    drop(snapshot);
    assert_eq!(
        ledger
            .private_data_of(version.block, 0, "cc", "held")
            .unwrap(),
        Some(held)
    );
    let missing = ledger.missing_private(10).unwrap();
    let item = owed_item(version.block, "owed");
    assert_eq!(missing, vec![(item.clone(), private_rwset_hash(&owed))]);
    // Data that does not match the committed hash changes nothing.
    let forged = private_data("owed", &[("k", Some("forged")), ("gone", None)]);
    assert!(!ledger.reconcile(&item, &forged).unwrap());
    assert_eq!(ledger.missing_private(10).unwrap().len(), 1);
    assert!(ledger.reconcile(&item, &owed).unwrap());
    assert!(ledger.missing_private(10).unwrap().is_empty());
    assert_eq!(
        ledger.snapshot().private_value("cc", "owed", "k").unwrap(),
        PrivateValue::Here(b"other".to_vec(), version)
    );
    assert_eq!(
        ledger
            .private_data_of(version.block, 0, "cc", "owed")
            .unwrap(),
        Some(owed.clone())
    );
    // Once stored, a second delivery is not owed any more.
    assert!(!ledger.reconcile(&item, &owed).unwrap());
}

#[test]
fn reconciled_data_does_not_overwrite_a_later_write() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    let first = private_data("c", &[("k", Some("v1"))]);
    let (_, v1) = commit_private(&ledger, &id, |tx| {
        tx.private_hashes = hashes_of(&first, None);
        tx.private_missing = vec![owed_of(&first)];
    });
    let second = private_data("c", &[("k", Some("v2"))]);
    let (_, v2) = commit_private(&ledger, &id, |tx| {
        tx.private_hashes = hashes_of(&second, None);
        tx.private_data = vec![second.clone()];
    });
    let item = owed_item(v1.block, "c");
    assert!(ledger.reconcile(&item, &first).unwrap());
    assert_eq!(
        ledger.snapshot().private_value("cc", "c", "k").unwrap(),
        PrivateValue::Here(b"v2".to_vec(), v2)
    );
}

#[test]
fn the_transient_store_keeps_copies_by_hash_and_empties_when_its_transaction_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    let data = private_data("c", &[("k", Some("v"))]);
    let hash = private_rwset_hash(&data);
    let forged = private_data("c", &[("k", Some("forged"))]);
    let (env, tx_id) = envelope(&id);
    ledger.store_transient(&tx_id, [&data]).unwrap();
    // A second, different copy does not replace the first.
    ledger.store_transient(&tx_id, [&forged]).unwrap();
    let (_, other) = envelope(&id);
    ledger.store_transient(&other, [&data]).unwrap();
    let copy = |tx: &TxId, h: &Digest| ledger.transient_copy(tx, "cc", "c", h).unwrap();
    assert_eq!(copy(&tx_id, &hash), Some(data.clone()));
    assert_eq!(
        copy(&tx_id, &private_rwset_hash(&forged)),
        Some(forged.clone())
    );
    assert_eq!(copy(&tx_id, &Digest([9; 32])), None);
    commit_tx(&ledger, (env, tx_id), |tx| {
        tx.private_hashes = hashes_of(&data, None);
        tx.private_data = vec![data.clone()];
    });
    assert_eq!(copy(&tx_id, &hash), None);
    assert_eq!(copy(&tx_id, &private_rwset_hash(&forged)), None);
    assert_eq!(copy(&other, &hash), Some(data));
}

#[test]
fn block_to_live_purges_values_and_hashes_unless_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    // Written at block 1, purged when block 3 commits.
    let a = private_data("c", &[("a", Some("1")), ("b", Some("1"))]);
    commit_private(&ledger, &id, |tx| {
        tx.private_hashes = hashes_of(&a, Some(3));
        tx.private_data = vec![a.clone()];
    });
    // "b" is written again at block 2, to live until block 10.
    let b = private_data("c", &[("b", Some("2"))]);
    let (_, v2) = commit_private(&ledger, &id, |tx| {
        tx.private_hashes = hashes_of(&b, Some(10));
        tx.private_data = vec![b.clone()];
    });
    assert!(matches!(
        ledger.snapshot().private_value("cc", "c", "a").unwrap(),
        PrivateValue::Here(..)
    ));
    assert!(ledger.private_data_of(1, 0, "cc", "c").unwrap().is_some());
    commit_private(&ledger, &id, |_| {});
    // Block 1's own record of its writes is gone, block 2's stays.
    assert_eq!(ledger.private_data_of(1, 0, "cc", "c").unwrap(), None);
    assert_eq!(
        ledger.private_data_of(2, 0, "cc", "c").unwrap(),
        Some(b.clone())
    );
    let snapshot = ledger.snapshot();
    assert_eq!(
        snapshot.private_value("cc", "c", "a").unwrap(),
        PrivateValue::Absent
    );
    assert_eq!(
        snapshot
            .private_hash("cc", "c", &weft_types::sha3_256(b"a"))
            .unwrap(),
        None
    );
    assert_eq!(
        snapshot.private_value("cc", "c", "b").unwrap(),
        PrivateValue::Here(b"2".to_vec(), v2)
    );
}

/// A channel of `orgs` (their keys do not matter here).
fn channel_of(orgs: &[&str]) -> std::sync::Arc<weft_types::ChannelConfig> {
    let infos = orgs
        .iter()
        .map(|name| weft_types::OrgInfo {
            name: (*name).into(),
            root_key: SigningKey::generate().public_key(),
            peers: Vec::new(),
        })
        .collect();
    std::sync::Arc::new(weft_types::ChannelConfig::new("weft", infos, Vec::new()))
}

#[test]
fn a_reader_sees_the_rules_of_the_collection() {
    use weft_types::{ChaincodeDefinition, CollectionConfig};
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    let def = ChaincodeDefinition {
        channel: "weft".into(),
        name: "cc".into(),
        version: "1".into(),
        sequence: 1,
        module_hash: Digest::ZERO,
        endorsement_policy: None,
        collections: vec![CollectionConfig {
            name: "c".into(),
            member_only_write: true,
            ..CollectionConfig::implicit("Bank")
        }],
    };
    let data = private_data("c", &[("k", Some("v"))]);
    let (_, version) = commit_private(&ledger, &id, |tx| {
        tx.writes.push(StateWrite {
            ns: LIFECYCLE_NAMESPACE.into(),
            key: "cc".into(),
            value: Some(serde_json::to_vec(&def).unwrap()),
        });
        tx.private_hashes = hashes_of(&data, None);
        tx.private_data = vec![data];
    });
    let reader = |peer: &str, creator: &str| {
        ledger.snapshot().for_reader(PrivateReader {
            peer_org: peer.into(),
            creator_org: creator.into(),
            channel: channel_of(&["Bank", "CAD"]),
        })
    };
    assert_eq!(
        StateView::private_get(&reader("Bank", "Bank"), "cc", "c", "k").unwrap(),
        Some((b"v".to_vec(), version))
    );
    let not_member = StateView::private_get(&reader("CAD", "CAD"), "cc", "c", "k").unwrap_err();
    assert_eq!(not_member.code, ErrorCode::NotAllowed);
    assert!(
        not_member.message.contains("not members"),
        "{}",
        not_member.message
    );
    let other_client = StateView::private_get(&reader("Bank", "CAD"), "cc", "c", "k").unwrap_err();
    assert!(
        other_client.message.contains("CAD is not a member"),
        "{}",
        other_client.message
    );
    let unknown = StateView::private_get(&reader("Bank", "Bank"), "cc", "nope", "k").unwrap_err();
    assert_eq!(unknown.code, ErrorCode::UnknownCollection);
    // Hashes are for everyone.
    assert!(
        StateView::private_hash(&reader("CAD", "CAD"), "cc", "c", "k")
            .unwrap()
            .is_some()
    );
    // An org's implicit collection needs no definition; other orgs' peers
    // and clients are refused, and an org off the channel has none.
    let implicit = StateView::private_get(&reader("CAD", "CAD"), "cc", "_implicit_org_CAD", "k");
    assert_eq!(implicit.unwrap(), None);
    let refused = StateView::private_get(&reader("Bank", "Bank"), "cc", "_implicit_org_CAD", "k");
    assert_eq!(refused.unwrap_err().code, ErrorCode::NotAllowed);
    let off = StateView::private_get(&reader("Bank", "Bank"), "cc", "_implicit_org_FD", "k");
    assert_eq!(off.unwrap_err().code, ErrorCode::UnknownCollection);
}

#[test]
fn a_member_that_missed_a_delete_loses_the_stale_value_on_reconciling_and_on_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    // Block 1: the value, held; expires when block 4 commits.
    let put = private_data("c", &[("k", Some("v1"))]);
    let (_, v1) = commit_private(&ledger, &id, |tx| {
        tx.private_hashes = hashes_of(&put, Some(4));
        tx.private_data = vec![put.clone()];
    });
    // Block 2: deleted, and this peer missed it.
    let delete = private_data("c", &[("k", None)]);
    let (_, v2) = commit_private(&ledger, &id, |tx| {
        tx.private_hashes = hashes_of(&delete, None);
        tx.private_missing = vec![owed_of(&delete)];
    });
    // The stale value is not served: the key is gone.
    assert_eq!(
        ledger.snapshot().private_value("cc", "c", "k").unwrap(),
        PrivateValue::Absent
    );
    // Block-to-live purges it by its own version though the hash moved on.
    commit_private(&ledger, &id, |_| {});
    commit_private(&ledger, &id, |_| {});
    let held = |l: &Ledger| {
        private::value_version(&l.tree, "cc", "c", &weft_types::sha3_256(b"k")).unwrap()
    };
    assert_eq!(held(&ledger), None, "purged at its expiry");
    // And reconciling the delete removes a stale value too.
    let dir2 = tempfile::tempdir().unwrap();
    let (other, id2) = ledger_with_genesis(&dir2);
    commit_private(&other, &id2, |tx| {
        tx.private_hashes = hashes_of(&put, None);
        tx.private_data = vec![put.clone()];
    });
    commit_private(&other, &id2, |tx| {
        tx.private_hashes = hashes_of(&delete, None);
        tx.private_missing = vec![owed_of(&delete)];
    });
    assert_eq!(held(&other), Some(v1));
    let item = owed_item(v2.block, "c");
    assert!(other.reconcile(&item, &delete).unwrap());
    assert_eq!(held(&other), None);
}

#[test]
fn owed_items_are_listed_from_a_cursor_and_can_be_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, id) = ledger_with_genesis(&dir);
    for coll in ["a", "b", "c"] {
        let data = private_data(coll, &[("k", Some("v"))]);
        commit_private(&ledger, &id, |tx| {
            tx.private_hashes = hashes_of(&data, None);
            tx.private_missing = vec![owed_of(&data)];
        });
    }
    let names = |items: Vec<(weft_types::MissingPrivateData, Digest)>| -> Vec<String> {
        items.into_iter().map(|(i, _)| i.collection).collect()
    };
    let first = ledger.missing_private(2).unwrap();
    assert_eq!(names(first.clone()), ["a", "b"]);
    let rest = ledger.missing_private_after(Some(&first[1].0), 2).unwrap();
    assert_eq!(names(rest), ["c"]);
    ledger.forget_owed(&first[0].0).unwrap();
    assert_eq!(names(ledger.missing_private(10).unwrap()), ["b", "c"]);
    // Whether the value is owed is what a reader is told.
    assert!(private::owes(&ledger.tree, Version { block: 2, tx: 0 }, "cc", "b").unwrap());
    assert!(!private::owes(&ledger.tree, Version { block: 1, tx: 0 }, "cc", "a").unwrap());
}
