//! The ledger end to end on real sled directories: commit and read back,
//! reopen, range order with composite keys, refused blocks, snapshot
//! isolation, a simulation over a snapshot, and a model-based proptest
//! against a `BTreeMap` with a reference commit hash.
#![allow(clippy::unwrap_used)]

#[path = "ledger/support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use weft_abi::{Creator, Host, TxInfo, TxKind};
use weft_chaincode::sim::{StateView, TxSimulator};
use weft_node::ledger::{BlockUpdates, Ledger, LedgerError, PolicyWrite, StateWrite, TxUpdates};
use weft_types::{Digest, Hasher, TxId, ValidationCode, Version};

use support::{commit_genesis, envelope, identity, next_block, tx_updates, write};

fn v(block: u64, tx: u32) -> Version {
    Version { block, tx }
}

#[test]
fn committed_blocks_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let id = identity();
    commit_genesis(&ledger, &id);

    let (e0, t0) = envelope(&id);
    let (e1, t1) = envelope(&id);
    let b1 = next_block(
        &ledger,
        vec![e0, e1],
        vec![
            ValidationCode::Valid,
            ValidationCode::EndorsementPolicyFailure,
        ],
    );
    let updates = BlockUpdates {
        txs: vec![tx_updates(
            t0,
            0,
            vec![write("cc", "a", Some(b"1")), write("cc", "b", Some(b"2"))],
        )],
        ..Default::default()
    };
    let h1 = ledger.commit(&b1, &updates).unwrap();

    let (e2, t2) = envelope(&id);
    let b2 = next_block(&ledger, vec![e2], vec![ValidationCode::Valid]);
    let updates = BlockUpdates {
        txs: vec![tx_updates(
            t2,
            0,
            vec![write("cc", "a", Some(b"3")), write("cc", "b", None)],
        )],
        ..Default::default()
    };
    let h2 = ledger.commit(&b2, &updates).unwrap();
    assert_ne!(h1, h2);

    assert_eq!(ledger.height(), 3);
    assert_eq!(ledger.commit_hash(), h2);
    assert_eq!(ledger.commit_hash_at(1).unwrap(), Some(h1));
    assert_eq!(
        ledger.get("cc", "a").unwrap(),
        Some((b"3".to_vec(), v(2, 0)))
    );
    assert_eq!(ledger.get("cc", "b").unwrap(), None);
    assert_eq!(ledger.get("other", "a").unwrap(), None);

    let history = ledger.history("cc", "a").unwrap();
    let summary: Vec<_> = history
        .iter()
        .map(|e| (e.block, e.tx, e.tx_id.clone(), e.value.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, 0, t0.to_string(), Some(b"1".to_vec())),
            (2, 0, t2.to_string(), Some(b"3".to_vec())),
        ]
    );
    assert_eq!(history[0].timestamp_ms, 5_000);
    let b_history = ledger.history("cc", "b").unwrap();
    assert_eq!(b_history.len(), 2);
    assert_eq!(b_history[1].value, None);

    assert_eq!(ledger.tx(&t0).unwrap(), Some((1, 0, ValidationCode::Valid)));
    assert_eq!(
        ledger.tx(&t1).unwrap(),
        Some((1, 1, ValidationCode::EndorsementPolicyFailure))
    );
    assert_eq!(ledger.tx(&t2).unwrap(), Some((2, 0, ValidationCode::Valid)));
    assert_eq!(ledger.tx(&TxId(Digest([7; 32]))).unwrap(), None);

    let stored = ledger.block(1).unwrap().unwrap();
    assert_eq!(stored.header, b1.header);
    assert_eq!(
        stored.metadata.validation_flags,
        b1.metadata.validation_flags
    );
    assert_eq!(stored.metadata.commit_hash, Some(h1));
}

#[test]
fn reopening_resumes_at_the_savepoint() {
    let dir = tempfile::tempdir().unwrap();
    let id = identity();
    let (hash, t0) = {
        let ledger = Ledger::open(dir.path()).unwrap();
        commit_genesis(&ledger, &id);
        let (e0, t0) = envelope(&id);
        let b1 = next_block(&ledger, vec![e0], vec![ValidationCode::Valid]);
        let mut tx = tx_updates(t0, 0, vec![write("cc", "k", Some(b"v"))]);
        tx.policy_writes.push(PolicyWrite {
            ns: "cc".into(),
            key: "k".into(),
            policy: Some("AND('Bank.peer')".into()),
        });
        (
            ledger
                .commit(
                    &b1,
                    &BlockUpdates {
                        txs: vec![tx],
                        ..Default::default()
                    },
                )
                .unwrap(),
            t0,
        )
    };
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.height(), 2);
    assert_eq!(ledger.commit_hash(), hash);
    assert_eq!(
        ledger.get("cc", "k").unwrap(),
        Some((b"v".to_vec(), v(1, 0)))
    );
    assert_eq!(ledger.history("cc", "k").unwrap().len(), 1);
    assert_eq!(ledger.tx(&t0).unwrap(), Some((1, 0, ValidationCode::Valid)));
    assert_eq!(
        ledger.key_policy("cc", "k").unwrap().as_deref(),
        Some("AND('Bank.peer')")
    );
    assert!(ledger.blocks_above_savepoint().is_empty());

    // And it goes on from there.
    let (e1, t1) = envelope(&id);
    let b2 = next_block(&ledger, vec![e1], vec![ValidationCode::Valid]);
    let updates = BlockUpdates {
        txs: vec![tx_updates(t1, 0, vec![write("cc", "k", Some(b"w"))])],
        ..Default::default()
    };
    ledger.commit(&b2, &updates).unwrap();
    assert_eq!(
        ledger.get("cc", "k").unwrap(),
        Some((b"w".to_vec(), v(2, 0)))
    );
}

#[test]
fn ranges_are_in_key_order_with_composite_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let id = identity();
    commit_genesis(&ledger, &id);
    let keys = [
        "\0owner\0bob\0",
        "b",
        "\0asset\0a2\0",
        "a\0x",
        "\0asset\0a1\0",
        "\0asset\0a10\0",
        "\u{1}",
        "a",
        "é",
        "\0asset\0",
    ];
    let (env, tx_id) = envelope(&id);
    let block = next_block(&ledger, vec![env], vec![ValidationCode::Valid]);
    let mut writes: Vec<StateWrite> = keys.iter().map(|k| write("cc", k, Some(b"x"))).collect();
    // Neighbouring namespaces must not leak into "cc"'s ranges.
    writes.push(write("c", "c\0zz", Some(b"x")));
    writes.push(write("cc\0", "a", Some(b"x")));
    writes.push(write("ccc", "a", Some(b"x")));
    let updates = BlockUpdates {
        txs: vec![tx_updates(tx_id, 0, writes)],
        ..Default::default()
    };
    ledger.commit(&block, &updates).unwrap();

    let range = |start: &str, end: &str, limit: usize| -> Vec<String> {
        ledger
            .range("cc", start, end, limit)
            .unwrap()
            .into_iter()
            .map(|(k, _, version)| {
                assert_eq!(version, v(1, 0));
                k
            })
            .collect()
    };
    let mut sorted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    sorted.sort();
    assert_eq!(range("", "", 100), sorted);
    assert_eq!(
        range("\0asset\0", "\0asset\u{10FFFF}", 100),
        [
            "\0asset\0",
            "\0asset\0a1\0",
            "\0asset\0a10\0",
            "\0asset\0a2\0"
        ]
    );
    assert_eq!(
        range("\0asset\0a1", "\0asset\0a2", 100),
        ["\0asset\0a1\0", "\0asset\0a10\0"]
    );
    // What the simulator asks for an empty start: no composite keys.
    assert_eq!(range("\u{1}", "", 100), ["\u{1}", "a", "a\0x", "b", "é"]);
    assert_eq!(range("a", "b", 100), ["a", "a\0x"]);
    assert_eq!(range("", "", 3), sorted[..3]);
    // Paging as the simulator does it: from just after the last key.
    let first = range("\u{1}", "", 2);
    let next_start = format!("{}\0", first[1]);
    assert_eq!(range(&next_start, "", 2), ["a\0x", "b"]);
}

#[test]
fn a_block_out_of_order_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let id = identity();
    {
        let ledger = Ledger::open(dir.path()).unwrap();
        commit_genesis(&ledger, &id);
        let hash = ledger.commit_hash();
        let (env, tx_id) = envelope(&id);
        let mut block = next_block(&ledger, vec![env], vec![ValidationCode::Valid]);
        block.header.number = 5;
        let updates = BlockUpdates {
            txs: vec![tx_updates(tx_id, 0, vec![write("cc", "k", Some(b"v"))])],
            ..Default::default()
        };
        let err = ledger.commit(&block, &updates).unwrap_err();
        assert!(matches!(
            err,
            LedgerError::OutOfOrder {
                number: 5,
                height: 1
            }
        ));
        assert_eq!(
            err.to_string(),
            "block 5 refused: the ledger is at height 1 and expects block 1"
        );
        // The genesis block again is refused too.
        let genesis = ledger.block(0).unwrap().unwrap();
        assert!(matches!(
            ledger.commit(&genesis, &BlockUpdates::empty()),
            Err(LedgerError::OutOfOrder {
                number: 0,
                height: 1
            })
        ));
        assert_eq!((ledger.height(), ledger.commit_hash()), (1, hash));
        assert_eq!(ledger.get("cc", "k").unwrap(), None);
        assert_eq!(ledger.tx(&tx_id).unwrap(), None);
    }
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.height(), 1);
    assert_eq!(ledger.block(5).unwrap(), None);
    assert_eq!(ledger.get("cc", "k").unwrap(), None);
}

#[test]
fn a_snapshot_keeps_its_height_while_a_commit_waits() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(dir.path()).unwrap());
    let id = identity();
    commit_genesis(&ledger, &id);
    let (e0, t0) = envelope(&id);
    let b1 = next_block(&ledger, vec![e0], vec![ValidationCode::Valid]);
    let updates = BlockUpdates {
        txs: vec![tx_updates(
            t0,
            0,
            vec![write("cc", "a", Some(b"a1")), write("cc", "b", Some(b"b1"))],
        )],
        ..Default::default()
    };
    ledger.commit(&b1, &updates).unwrap();

    // A simulation reads "a", a block that changes "a" and "b" is committed,
    // then the simulation reads "b": it must see "b" at the same height.
    let snapshot = ledger.snapshot();
    let a = StateView::get(&snapshot, "cc", "a").unwrap();
    let (e1, t1) = envelope(&id);
    let b2 = next_block(&ledger, vec![e1], vec![ValidationCode::Valid]);
    let committer = {
        let ledger = ledger.clone();
        std::thread::spawn(move || {
            let updates = BlockUpdates {
                txs: vec![tx_updates(
                    t1,
                    0,
                    vec![write("cc", "a", Some(b"a2")), write("cc", "b", Some(b"b2"))],
                )],
                ..Default::default()
            };
            ledger.commit(&b2, &updates).unwrap();
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let b = StateView::get(&snapshot, "cc", "b").unwrap();
    assert_eq!(a, Some((b"a1".to_vec(), v(1, 0))));
    assert_eq!(b, Some((b"b1".to_vec(), v(1, 0))));
    assert_eq!(snapshot.height(), 2);
    assert!(
        !committer.is_finished(),
        "the commit waits for the snapshot"
    );
    drop(snapshot);
    committer.join().unwrap();
    assert_eq!(
        ledger.get("cc", "b").unwrap(),
        Some((b"b2".to_vec(), v(2, 0)))
    );
}

#[test]
fn a_simulation_over_a_snapshot_records_committed_versions() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let id = identity();
    commit_genesis(&ledger, &id);
    let (env, tx_id) = envelope(&id);
    let block = next_block(&ledger, vec![env], vec![ValidationCode::Valid]);
    let updates = BlockUpdates {
        txs: vec![tx_updates(tx_id, 0, vec![write("cc", "k", Some(b"v"))])],
        ..Default::default()
    };
    ledger.commit(&block, &updates).unwrap();

    let info = TxInfo {
        tx_id: "00".repeat(32),
        channel: "weft".into(),
        timestamp_ms: 1,
        creator: Creator {
            org: "Bank".into(),
            name: "client".into(),
            role: "client".into(),
            public_key: id.body().public_key.to_bytes(),
        },
        kind: TxKind::Transaction,
    };
    let mut sim = TxSimulator::new(ledger.snapshot(), "cc", info);
    assert_eq!(sim.state_get("k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(sim.state_get("missing").unwrap(), None);
    sim.state_put("k", b"w").unwrap();
    let result = sim.finish();
    assert_eq!(result.failure, None);
    let ns = result.rwset.namespace("cc").unwrap();
    let reads: Vec<_> = ns
        .reads
        .iter()
        .map(|r| (r.key.as_str(), r.version))
        .collect();
    assert_eq!(reads, [("k", Some(v(1, 0))), ("missing", None)]);
}

// ---- Model-based test ----

/// The commit hash as documented in `weft_node::ledger::commit_hash`,
/// written again from the documentation.
fn reference_commit_hash(
    previous: &Digest,
    number: u64,
    flags: &[ValidationCode],
    updates: &BlockUpdates,
) -> Digest {
    let mut h = Hasher::new();
    h.update(b"weft/v1/commit-hash\0");
    h.update(&previous.0);
    h.update(&number.to_be_bytes());
    h.update_prefixed(&flags.iter().map(|f| *f as u8).collect::<Vec<u8>>());
    let changing: Vec<&TxUpdates> = updates
        .txs
        .iter()
        .filter(|t| {
            !t.writes.is_empty() || !t.policy_writes.is_empty() || !t.private_hashes.is_empty()
        })
        .collect();
    h.update(&(changing.len() as u64).to_be_bytes());
    for tx in changing {
        h.update(&tx.index.to_be_bytes());
        let entries = |h: &mut Hasher, items: Vec<(&str, &str, Option<&[u8]>)>| {
            h.update(&(items.len() as u64).to_be_bytes());
            for (ns, key, value) in items {
                h.update_prefixed(ns.as_bytes());
                h.update_prefixed(key.as_bytes());
                match value {
                    None => h.update(&[0]),
                    Some(v) => h.update(&[1]).update_prefixed(v),
                };
            }
        };
        let writes = tx.writes.iter();
        entries(
            &mut h,
            writes
                .map(|w| (w.ns.as_str(), w.key.as_str(), w.value.as_deref()))
                .collect(),
        );
        let policies = tx.policy_writes.iter();
        entries(
            &mut h,
            policies
                .map(|p| {
                    (
                        p.ns.as_str(),
                        p.key.as_str(),
                        p.policy.as_deref().map(str::as_bytes),
                    )
                })
                .collect(),
        );
        h.update(&(tx.private_hashes.len() as u64).to_be_bytes());
        for p in &tx.private_hashes {
            h.update_prefixed(p.ns.as_bytes());
            h.update_prefixed(p.collection.as_bytes());
            h.update(&p.key_hash.0);
            match &p.value_hash {
                None => h.update(&[0]),
                Some(v) => h.update(&[1]).update(&v.0),
            };
        }
    }
    h.finalize()
}

const NAMESPACES: [&str; 2] = ["cc", "cc2"];
const KEYS: [&str; 5] = ["a", "b", "ab", "\0pair\0a\0", "\0pair\0b\0"];

/// One generated transaction: valid or not, its writes and policy writes
/// (indices into `NAMESPACES` and `KEYS`).
#[derive(Debug, Clone)]
struct GenTx {
    valid: bool,
    writes: Vec<(usize, usize, Option<Vec<u8>>)>,
    policies: Vec<(usize, usize, Option<String>)>,
}

fn gen_tx() -> impl Strategy<Value = GenTx> {
    let write = (
        0..NAMESPACES.len(),
        0..KEYS.len(),
        prop::option::weighted(0.75, prop::collection::vec(any::<u8>(), 0..4)),
    );
    let policy = (
        0..NAMESPACES.len(),
        0..KEYS.len(),
        prop::option::of("[A-Z]{1,3}"),
    );
    (
        prop::bool::weighted(0.8),
        prop::collection::vec(write, 0..4),
        prop::collection::vec(policy, 0..2),
    )
        .prop_map(|(valid, writes, policies)| GenTx {
            valid,
            writes,
            policies,
        })
}

#[derive(Default)]
struct Model {
    state: BTreeMap<(String, String), (Vec<u8>, Version)>,
    /// Changes per key; a key written twice by one tx has one entry.
    history: BTreeMap<(String, String), BTreeSet<Version>>,
    policies: BTreeMap<(String, String), String>,
    commit_hash: Digest,
}

/// Commits `txs` as the next block to the ledger and the model.
fn commit_generated(ledger: &Ledger, model: &mut Model, id: &weft_types::Identity, txs: &[GenTx]) {
    let mut envelopes = Vec::new();
    let mut flags = Vec::new();
    let mut updates = BlockUpdates::empty();
    let number = ledger.height();
    for (index, tx) in txs.iter().enumerate() {
        let (env, tx_id) = envelope(id);
        envelopes.push(env);
        flags.push(if tx.valid {
            ValidationCode::Valid
        } else {
            ValidationCode::MvccReadConflict
        });
        if !tx.valid {
            continue;
        }
        let index = index as u32;
        let version = v(number, index);
        let mut u = tx_updates(tx_id, index, Vec::new());
        for (ns, key, value) in &tx.writes {
            let k = (NAMESPACES[*ns].to_string(), KEYS[*key].to_string());
            match value {
                Some(value) => model.state.insert(k.clone(), (value.clone(), version)),
                None => model.state.remove(&k),
            };
            model.history.entry(k).or_default().insert(version);
            u.writes
                .push(write(NAMESPACES[*ns], KEYS[*key], value.as_deref()));
        }
        for (ns, key, policy) in &tx.policies {
            let k = (NAMESPACES[*ns].to_string(), KEYS[*key].to_string());
            match policy {
                Some(p) => model.policies.insert(k, p.clone()),
                None => model.policies.remove(&k),
            };
            u.policy_writes.push(PolicyWrite {
                ns: NAMESPACES[*ns].into(),
                key: KEYS[*key].into(),
                policy: policy.clone(),
            });
        }
        updates.txs.push(u);
    }
    let block = next_block(ledger, envelopes, flags);
    model.commit_hash = reference_commit_hash(
        &model.commit_hash,
        number,
        &block.metadata.validation_flags,
        &updates,
    );
    let hash = ledger.commit(&block, &updates).unwrap();
    assert_eq!(hash, model.commit_hash, "commit hash of block {number}");
}

fn compare(ledger: &Ledger, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(ledger.commit_hash(), model.commit_hash);
    for ns in NAMESPACES {
        let got: Vec<_> = ledger.range(ns, "", "", usize::MAX).unwrap();
        let want: Vec<_> = model
            .state
            .iter()
            .filter(|((n, _), _)| n == ns)
            .map(|((_, k), (value, version))| (k.clone(), value.clone(), *version))
            .collect();
        prop_assert_eq!(got, want);
        for key in KEYS {
            let k = (ns.to_string(), key.to_string());
            prop_assert_eq!(ledger.get(ns, key).unwrap(), model.state.get(&k).cloned());
            prop_assert_eq!(
                ledger.history(ns, key).unwrap().len(),
                model.history.get(&k).map_or(0, BTreeSet::len)
            );
            prop_assert_eq!(
                ledger.key_policy(ns, key).unwrap(),
                model.policies.get(&k).cloned()
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random blocks applied to the ledger and to a `BTreeMap` model agree
    /// after every block, across a reopen at a random height.
    #[test]
    fn the_ledger_matches_a_model(
        blocks in prop::collection::vec(prop::collection::vec(gen_tx(), 0..5), 1..8),
        reopen_at in 0usize..8,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let id = identity();
        let mut model = Model::default();
        let mut ledger = Ledger::open(dir.path()).unwrap();
        commit_generated(&ledger, &mut model, &id, &[]);
        for (i, txs) in blocks.iter().enumerate() {
            if i == reopen_at {
                drop(ledger);
                ledger = Ledger::open(dir.path()).unwrap();
                prop_assert_eq!(ledger.height(), i as u64 + 1);
                compare(&ledger, &model)?;
            }
            commit_generated(&ledger, &mut model, &id, txs);
            compare(&ledger, &model)?;
        }
        prop_assert_eq!(ledger.height(), blocks.len() as u64 + 1);
    }
}
