#![allow(clippy::unwrap_used)]
//! The committer over a real sled ledger and runtime: genesis and resume,
//! chaincode lifecycle taking effect at its block, refusal of blocks the
//! ordering service did not make, and commit events.

use std::sync::Arc;

use tempfile::TempDir;
use weft_node::committer::{CommitError, Committer};
use weft_node::ledger::Ledger;
use weft_node::runtime::{Runtime, RuntimeConfig};
use weft_tests::network::TestNetwork;
use weft_types::{
    Block, Bytes, ChaincodeDefinition, ChaincodeEvent, KvRead, KvWrite, NsRwSet, RwSet,
    ValidationCode as Code, Version,
};

#[derive(Debug)]
struct Peer {
    dir: TempDir,
    committer: Committer,
}

fn open(dir: TempDir, genesis: &Block) -> Result<Peer, CommitError> {
    let ledger = Arc::new(Ledger::open(dir.path()).unwrap());
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let committer = Committer::open(ledger, runtime, genesis, "Org1")?;
    Ok(Peer { dir, committer })
}

fn peer(net: &TestNetwork) -> Peer {
    open(tempfile::tempdir().unwrap(), &net.genesis()).unwrap()
}

impl Peer {
    /// The last committed header.
    fn tip(&self) -> weft_types::BlockHeader {
        let ledger = self.committer.ledger();
        ledger.block(ledger.height() - 1).unwrap().unwrap().header
    }

    /// Commits a block of `envelopes` after the tip and returns the codes.
    fn commit(&self, net: &TestNetwork, envelopes: Vec<weft_types::Envelope>) -> Vec<Code> {
        let block = net.next_block(&self.tip(), envelopes);
        let event = self.committer.commit(block).unwrap();
        event.txs.iter().map(|t| t.code).collect()
    }
}

fn module(name: &str) -> Vec<u8> {
    wat::parse_file(format!("tests/fixtures/{name}.wat")).unwrap()
}

fn rwset(ns: &str, reads: &[(&str, Option<Version>)], writes: &[(&str, Option<&str>)]) -> RwSet {
    RwSet {
        namespaces: vec![NsRwSet {
            namespace: ns.into(),
            reads: reads
                .iter()
                .map(|(k, v)| KvRead {
                    key: (*k).into(),
                    version: *v,
                })
                .collect(),
            writes: writes
                .iter()
                .map(|(k, v)| KvWrite {
                    key: (*k).into(),
                    value: v.map(|v| Bytes(v.as_bytes().to_vec())),
                })
                .collect(),
            ..NsRwSet::default()
        }],
    }
}

/// Defines `kv` (the echo module) at sequence 1 in block 1.
fn deployed(net: &TestNetwork) -> (Peer, ChaincodeDefinition) {
    let p = peer(net);
    let echo = module("echo");
    let def = net.definition("kv", 1, &echo, None);
    assert_eq!(
        p.commit(net, vec![net.lifecycle(&def, &echo)]),
        [Code::Valid]
    );
    (p, def)
}

#[test]
fn genesis_is_committed_once_and_the_ledger_resumes() {
    let net = TestNetwork::new(&["Org1", "Org2"]);
    let p = peer(&net);
    assert_eq!(p.committer.height(), 1);
    assert_eq!(*p.committer.config().current(), net.config);
    let ledger = p.committer.ledger();
    assert_eq!(ledger.channel_config().unwrap().as_ref(), Some(&net.config));
    assert_eq!(
        ledger.block(0).unwrap().unwrap().metadata.validation_flags,
        [Code::Valid]
    );
    let hash = p.committer.commit_hash();

    // Reopened with the same genesis: same height and hash, and it goes on.
    let Peer { dir, committer } = p;
    drop(committer);
    let p = open(dir, &net.genesis()).unwrap();
    assert_eq!((p.committer.height(), p.committer.commit_hash()), (1, hash));
    let echo = module("echo");
    let def = net.definition("kv", 1, &echo, None);
    assert_eq!(
        p.commit(&net, vec![net.lifecycle(&def, &echo)]),
        [Code::Valid]
    );

    // Another channel's genesis is refused and changes nothing.
    let Peer { dir, committer } = p;
    drop(committer);
    let other = TestNetwork::new(&["Org1", "Org2"]);
    let err = open(dir, &other.genesis()).unwrap_err();
    assert!(matches!(err, CommitError::GenesisMismatch { .. }), "{err}");
}

#[test]
fn a_genesis_without_a_configuration_is_refused() {
    let net = TestNetwork::new(&["Org1"]);
    let mut not_genesis = net.genesis();
    not_genesis.data.clear();
    let err = open(tempfile::tempdir().unwrap(), &not_genesis).unwrap_err();
    assert!(matches!(err, CommitError::BadGenesis(_)), "{err}");
}

#[test]
fn lifecycle_takes_effect_at_its_block() {
    let net = TestNetwork::new(&["Org1", "Org2"]);
    let (p, v1) = deployed(&net);
    let ledger = p.committer.ledger();
    assert_eq!(ledger.definition("kv").unwrap().as_ref(), Some(&v1));
    assert_eq!(
        ledger.module(&v1.module_hash).unwrap(),
        Some(module("echo"))
    );

    // Before the upgrade commits, sequence 1 is current.
    let client = &net.clients[0];
    let under_v1 = net.endorsed(client, &v1, &rwset("kv", &[], &[("a", Some("1"))]), None);
    assert_eq!(p.commit(&net, vec![under_v1]), [Code::Valid]);

    let echo = module("echo");
    let v2 = net.definition("kv", 2, &echo, None);
    let gap = net.definition("kv", 4, &echo, None);
    let hostile = module("forbidden_imports");
    let bad_module = net.definition("bad", 1, &hostile, None);
    let stale = net.endorsed(client, &v1, &rwset("kv", &[], &[("b", Some("1"))]), None);
    let codes = p.commit(
        &net,
        vec![
            net.lifecycle(&v2, &echo),
            net.lifecycle(&gap, &echo),
            net.lifecycle(&bad_module, &hostile),
            stale,
        ],
    );
    assert_eq!(
        codes,
        [
            Code::Valid,
            Code::InvalidLifecycleTransaction,
            Code::InvalidLifecycleTransaction,
            Code::ChaincodeVersionConflict,
        ]
    );
    assert_eq!(ledger.definition("kv").unwrap().unwrap().sequence, 2);
    assert_eq!(ledger.definition("bad").unwrap(), None);
    assert_eq!(ledger.module(&bad_module.module_hash).unwrap(), None);
    assert_eq!(ledger.definitions().unwrap(), std::slice::from_ref(&v2));

    // From the next block on, only sequence 2 endorsements count.
    let again_v1 = net.endorsed(client, &v1, &rwset("kv", &[], &[("c", Some("1"))]), None);
    let under_v2 = net.endorsed(client, &v2, &rwset("kv", &[], &[("c", Some("2"))]), None);
    assert_eq!(
        p.commit(&net, vec![again_v1, under_v2]),
        [Code::ChaincodeVersionConflict, Code::Valid]
    );
    assert_eq!(ledger.get("kv", "c").unwrap().unwrap().0, b"2");
    assert_eq!(ledger.get("kv", "b").unwrap(), None);
}

#[test]
fn blocks_the_orderers_did_not_make_are_refused_and_change_nothing() {
    let net = TestNetwork::new(&["Org1", "Org2"]);
    let (p, def) = deployed(&net);
    let tx = net.endorsed(
        &net.clients[0],
        &def,
        &rwset("kv", &[], &[("k", Some("v"))]),
        None,
    );
    let tip = p.tip();
    let good = net.next_block(&tip, vec![tx.clone()]);
    let before = (p.committer.height(), p.committer.commit_hash());

    let mut unsigned = good.clone();
    unsigned.metadata.signatures.clear();
    let mut by_a_client = good.clone();
    by_a_client.metadata.signatures.clear();
    by_a_client.sign(&net.clients[0]);
    let mut tampered = good.clone();
    tampered.data.push(tx.clone());
    let mut wrong_parent = tip.clone();
    wrong_parent.data_hash = weft_types::sha3_256(b"another block");
    let orphan = net.next_block(&wrong_parent, vec![tx.clone()]);
    let mut backwards = Block::new(
        tip.number + 1,
        tip.hash(),
        tip.timestamp_ms - 1,
        vec![tx.clone()],
    );
    backwards.sign(net.orderer());
    let mut skipped = tip.clone();
    skipped.number += 1;
    let ahead = net.next_block(&skipped, vec![tx.clone()]);

    for (what, block) in [
        ("unsigned", unsigned),
        ("signed by a client", by_a_client),
        ("tampered", tampered),
        ("wrong parent", orphan),
        ("earlier timestamp", backwards),
    ] {
        let err = p.committer.commit(block).unwrap_err();
        assert!(matches!(err, CommitError::Block(_)), "{what}: {err}");
        assert_eq!(
            (p.committer.height(), p.committer.commit_hash()),
            before,
            "{what}"
        );
    }
    let err = p.committer.commit(ahead).unwrap_err();
    assert!(matches!(err, CommitError::OutOfOrder { .. }), "{err}");
    // The good block still commits; sending it again is harmless.
    p.committer.commit(good.clone()).unwrap();
    let err = p.committer.commit(good).unwrap_err();
    assert!(matches!(err, CommitError::AlreadyCommitted { .. }), "{err}");
    assert_eq!(
        p.committer.ledger().get("kv", "k").unwrap().unwrap().0,
        b"v"
    );
}

#[test]
fn subscribers_see_codes_and_the_events_of_valid_transactions_only() {
    let net = TestNetwork::new(&["Org1", "Org2"]);
    let (p, def) = deployed(&net);
    let mut events = p.committer.subscribe();
    let client = &net.clients[0];
    let event = |name: &str| {
        Some(ChaincodeEvent {
            name: name.into(),
            payload: Bytes(b"{}".to_vec()),
        })
    };
    // Both read `k` as absent; the second conflicts with the first's write.
    let first = net.endorsed(
        client,
        &def,
        &rwset("kv", &[("k", None)], &[("k", Some("1"))]),
        event("first"),
    );
    let second = net.endorsed(
        client,
        &def,
        &rwset("kv", &[("k", None)], &[("k", Some("2"))]),
        event("second"),
    );
    let first_id = first.decode().unwrap().header.tx_id;
    let codes = p.commit(&net, vec![first, second]);
    assert_eq!(codes, [Code::Valid, Code::MvccReadConflict]);

    let got = events.try_recv().unwrap();
    assert_eq!(got.number, 2);
    assert_eq!(got.commit_hash, p.committer.commit_hash());
    assert_eq!(got.txs[0].tx_id, Some(first_id));
    assert_eq!(got.txs[0].chaincode.as_deref(), Some("kv"));
    assert_eq!(got.txs[0].event.as_ref().unwrap().name, "first");
    assert_eq!(got.txs[1].code, Code::MvccReadConflict);
    assert!(got.txs[1].detail.as_deref().unwrap().contains("k"));
    assert_eq!(got.txs[1].event, None);
    assert_eq!(got.valid().count(), 1);
    assert!(events.try_recv().is_err(), "one event per block");
    // The ledger indexes both, with their codes.
    let (block, index, code) = p.committer.ledger().tx(&first_id).unwrap().unwrap();
    assert_eq!((block, index, code), (2, 0, Code::Valid));
}

#[test]
fn a_block_stored_but_not_applied_before_a_crash_is_replayed_at_open() {
    let net = TestNetwork::new(&["Org1", "Org2"]);
    let (p, def) = deployed(&net);
    let tx = net.endorsed(
        &net.clients[0],
        &def,
        &rwset("kv", &[], &[("k", Some("v"))]),
        None,
    );
    let block = net.next_block(&p.tip(), vec![tx]);
    let Peer { dir, committer } = p;
    drop(committer);
    // What the ledger writes first: the block record at the end of the
    // block file (`len u32 BE || JSON`); the state batch never happened.
    let json = serde_json::to_vec(&block).unwrap();
    let mut record = (json.len() as u32).to_be_bytes().to_vec();
    record.extend_from_slice(&json);
    let path = dir.path().join("blocks.dat");
    let mut file = std::fs::read(&path).unwrap();
    file.extend_from_slice(&record);
    std::fs::write(&path, file).unwrap();

    let p = open(dir, &net.genesis()).unwrap();
    assert_eq!(p.committer.height(), 3);
    let ledger = p.committer.ledger();
    assert_eq!(ledger.get("kv", "k").unwrap().unwrap().0, b"v");
    assert_eq!(
        ledger.block(2).unwrap().unwrap().metadata.validation_flags,
        [Code::Valid]
    );
}

#[test]
fn a_precheck_made_before_an_upgrade_committed_is_redone() {
    let net = TestNetwork::new(&["Org1", "Org2"]);
    let (p, v1) = deployed(&net);
    let echo = module("echo");
    let v2 = net.definition("kv", 2, &echo, None);
    let client = &net.clients[0];
    let upgrade = net.next_block(&p.tip(), vec![net.lifecycle(&v2, &echo)]);
    let under = |def: &ChaincodeDefinition, key: &str| {
        net.endorsed(client, def, &rwset("kv", &[], &[(key, Some("x"))]), None)
    };
    let after = net.next_block(&upgrade.header, vec![under(&v2, "a"), under(&v1, "b")]);

    // Stage 1 of `after` runs while sequence 1 is still current...
    let early = p.committer.precheck(after.clone()).unwrap();
    p.committer.commit(upgrade.clone()).unwrap();
    // ...and is redone once the upgrade has committed.
    let event = p.committer.commit_prechecked(early).unwrap();
    let codes: Vec<Code> = event.txs.iter().map(|t| t.code).collect();
    assert_eq!(codes, [Code::Valid, Code::ChaincodeVersionConflict]);

    // The pipelined path gives the same verdicts, whatever the timing.
    let (q, _) = deployed(&net);
    let upgrade = net.next_block(&q.tip(), vec![net.lifecycle(&v2, &echo)]);
    let after = net.next_block(&upgrade.header, vec![under(&v2, "a"), under(&v1, "b")]);
    let (events, error) = q.committer.commit_all(vec![upgrade, after]);
    assert!(error.is_none(), "{error:?}");
    let codes: Vec<Code> = events[1].txs.iter().map(|t| t.code).collect();
    assert_eq!(codes, [Code::Valid, Code::ChaincodeVersionConflict]);
}
