#![allow(clippy::unwrap_used)]
//! The whole peer pipeline against a reference model of Fabric's rules.
//!
//! Random blocks of signed, endorsed transactions — reads, writes, deletes
//! and range queries over a few keys, each simulated against the state of
//! the last block or a few blocks back, so many conflict — go through the
//! real committer (signature and policy checks, MVCC, phantom checks, sled
//! commit). After every block, the codes and the whole world state must
//! equal what a few lines of reference model say:
//!
//! a transaction is valid iff no earlier valid transaction of the block
//! wrote (or deleted) a key it read, every key it read still has the
//! committed version it read, and every range it scanned still holds the
//! same keys at the same versions in committed state updated by the earlier
//! valid transactions of the block; a valid transaction's writes then take
//! version (block, index). (Fabric's rules: a key written earlier in the
//! block conflicts even when its value or absence looks unchanged.)

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use weft_node::committer::Committer;
use weft_node::ledger::Ledger;
use weft_node::runtime::{Runtime, RuntimeConfig};
use weft_tests::Rng;
use weft_tests::network::TestNetwork;
use weft_types::{
    Bytes, ChaincodeDefinition, KvRead, KvWrite, NsRwSet, RangeQueryInfo, RwSet,
    ValidationCode as Code, Version,
};

const NS: &str = "kv";
const KEYS: u64 = 8;

/// World state of the model: key → (value, version).
type State = BTreeMap<String, (Vec<u8>, Version)>;

fn key(i: u64) -> String {
    format!("k{i}")
}

/// What a transaction did when simulated against `seen`.
fn simulate(seen: &State, rng: &mut Rng) -> NsRwSet {
    let mut ns = NsRwSet {
        namespace: NS.into(),
        ..NsRwSet::default()
    };
    let mut reads: Vec<String> = (0..rng.below(3)).map(|_| key(rng.below(KEYS))).collect();
    reads.sort();
    reads.dedup();
    ns.reads = reads
        .into_iter()
        .map(|k| KvRead {
            version: seen.get(&k).map(|(_, v)| *v),
            key: k,
        })
        .collect();
    if rng.below(3) == 0 {
        let a = rng.below(KEYS);
        let b = a + 1 + rng.below(KEYS - a);
        let (start, end) = (key(a), if b >= KEYS { String::new() } else { key(b) });
        let reads = seen
            .iter()
            .filter(|(k, _)| **k >= start && (end.is_empty() || **k < end))
            .map(|(k, (_, v))| KvRead {
                key: k.clone(),
                version: Some(*v),
            })
            .collect();
        ns.range_queries.push(RangeQueryInfo {
            start_key: start,
            end_key: end,
            exhausted: true,
            scanned_to: None,
            reads,
        });
    }
    let mut writes: Vec<String> = (0..1 + rng.below(2))
        .map(|_| key(rng.below(KEYS)))
        .collect();
    writes.sort();
    writes.dedup();
    ns.writes = writes
        .into_iter()
        .map(|k| KvWrite {
            key: k,
            value: (rng.below(4) != 0).then(|| Bytes(rng.next_u64().to_be_bytes().to_vec())),
        })
        .collect();
    ns
}

/// The reference model: validates a block's rw-sets in order and applies
/// the valid ones to `state`; returns the codes.
fn model_block(state: &mut State, block: u64, txs: &[NsRwSet]) -> Vec<Code> {
    let mut codes = Vec::new();
    let mut written = std::collections::BTreeSet::new();
    for (i, tx) in txs.iter().enumerate() {
        let reads_ok = tx
            .reads
            .iter()
            .all(|r| !written.contains(&r.key) && state.get(&r.key).map(|(_, v)| *v) == r.version);
        let ranges_ok = tx.range_queries.iter().all(|q| {
            let now: Vec<(String, Version)> = state
                .iter()
                .filter(|(k, _)| **k >= q.start_key && (q.end_key.is_empty() || **k < q.end_key))
                .map(|(k, (_, v))| (k.clone(), *v))
                .collect();
            let then: Vec<(String, Version)> = q
                .reads
                .iter()
                .map(|r| (r.key.clone(), r.version.unwrap()))
                .collect();
            now == then
        });
        let code = if !reads_ok {
            Code::MvccReadConflict
        } else if !ranges_ok {
            Code::PhantomReadConflict
        } else {
            Code::Valid
        };
        if code == Code::Valid {
            let version = Version {
                block,
                tx: i as u32,
            };
            for w in &tx.writes {
                written.insert(w.key.clone());
                match &w.value {
                    Some(v) => {
                        state.insert(w.key.clone(), (v.0.clone(), version));
                    }
                    None => {
                        state.remove(&w.key);
                    }
                }
            }
        }
        codes.push(code);
    }
    codes
}

fn run(seed: u64, blocks: usize, txs_per_block: u64) {
    let mut rng = Rng::new(seed);
    let net = TestNetwork::new(&["Org1", "Org2"]);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(dir.path()).unwrap());
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let committer = Committer::open(ledger.clone(), runtime, &net.genesis(), "Org1").unwrap();
    let echo = wat::parse_file("tests/fixtures/echo.wat").unwrap();
    let def: ChaincodeDefinition = net.definition(NS, 1, &echo, None);
    let mut tip = net.genesis().header;
    let block = net.next_block(&tip, vec![net.lifecycle(&def, &echo)]);
    tip = block.header.clone();
    committer.commit(block).unwrap();

    // The model's state after each block, so transactions can be simulated
    // against a stale one.
    let mut history: Vec<State> = vec![State::new()];
    for n in 2..2 + blocks as u64 {
        let current = history.last().unwrap().clone();
        let rwsets: Vec<NsRwSet> = (0..1 + rng.below(txs_per_block))
            .map(|_| {
                let lag = [0, 0, 0, 1, 2][rng.below(5) as usize].min(history.len() - 1);
                simulate(&history[history.len() - 1 - lag], &mut rng)
            })
            .collect();
        let envelopes = rwsets
            .iter()
            .map(|ns| {
                let rwset = RwSet {
                    namespaces: vec![ns.clone()],
                };
                net.endorsed(&net.clients[0], &def, &rwset, None)
            })
            .collect();
        let block = net.next_block(&tip, envelopes);
        tip = block.header.clone();
        let event = committer.commit(block).unwrap();

        let mut expected_state = current;
        let expected = model_block(&mut expected_state, n, &rwsets);
        let got: Vec<Code> = event.txs.iter().map(|t| t.code).collect();
        assert_eq!(got, expected, "seed {seed}, block {n}");
        let state: State = ledger
            .range(NS, "", "", usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(k, v, ver)| (k, (v, ver)))
            .collect();
        assert_eq!(state, expected_state, "seed {seed}, state after block {n}");
        history.push(expected_state);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn committed_blocks_match_the_reference_model(seed in any::<u64>()) {
        run(seed, 8, 10);
    }
}
