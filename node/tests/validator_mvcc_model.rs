#![allow(clippy::unwrap_used)]
//! Model-based test of stage 2 (`check_mvcc`): random blocks of transactions
//! with reads (some stale), writes, deletes and range queries over a small
//! key space are validated and applied to a `MemoryState`; a plain reference
//! model of Fabric's MVCC rules computes the codes and the state it expects.
//! Both are compared after every block. Proptest prints the failing blocks
//! (shrunk) and its seed.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use weft_node::validator::{MemoryState, TxAction, TxCheck, check_mvcc};
use weft_types::{
    Bytes, Digest, KvRead, KvWrite, NsRwSet, RangeQueryInfo, RwSet, TxId, ValidationCode, Version,
};

const NS: &str = "cc";
const KEYS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

/// A transaction as generated, before it is simulated against the state of
/// the moment: what it reads and writes, and which reads it gets wrong.
#[derive(Debug, Clone)]
struct Plan {
    /// Key index and whether the recorded version is stale.
    reads: Vec<(usize, bool)>,
    /// Key index and the value (`None` deletes).
    writes: Vec<(usize, Option<u8>)>,
    ranges: Vec<RangePlan>,
    /// Reuse the id of an earlier transaction (index into all ids so far).
    reuse_id: Option<usize>,
}

#[derive(Debug, Clone)]
struct RangePlan {
    start: usize,
    /// `None`: unbounded.
    end: Option<usize>,
    /// `Some(i)`: not exhausted, the scan stopped at key `i`.
    scanned_to: Option<usize>,
    /// Perturb the recorded result (drop the first key, or change a version).
    stale: Option<bool>,
}

fn range_plan() -> impl Strategy<Value = RangePlan> {
    (
        0..KEYS.len(),
        proptest::option::of(0..=KEYS.len()),
        proptest::option::of(0..KEYS.len()),
        proptest::option::weighted(0.15, any::<bool>()),
    )
        .prop_map(|(start, end, scanned_to, stale)| RangePlan {
            start,
            end,
            scanned_to,
            stale,
        })
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        proptest::collection::btree_map(0..KEYS.len(), proptest::bool::weighted(0.2), 0..3),
        proptest::collection::btree_map(0..KEYS.len(), proptest::option::of(any::<u8>()), 0..3),
        proptest::collection::vec(range_plan(), 0..2),
        proptest::option::weighted(0.05, 0usize..1000),
    )
        .prop_map(|(reads, writes, ranges, reuse_id)| Plan {
            reads: reads.into_iter().collect(),
            writes: writes.into_iter().collect(),
            ranges,
            reuse_id,
        })
}

fn blocks() -> impl Strategy<Value = (BTreeMap<usize, u8>, Vec<Vec<Plan>>)> {
    (
        proptest::collection::btree_map(0..KEYS.len(), any::<u8>(), 0..KEYS.len()),
        proptest::collection::vec(proptest::collection::vec(plan(), 1..6), 1..6),
    )
}

/// The reference model: committed values with versions, and known tx ids.
#[derive(Debug, Default, Clone, PartialEq)]
struct Model {
    values: BTreeMap<String, (Vec<u8>, Version)>,
    tx_ids: BTreeSet<TxId>,
}

/// Whether `key` lies in what a range query covers: `[start, end)`, and up
/// to `scanned_to` inclusive when the scan stopped early.
fn covers(q: &RangeQueryInfo, key: &str) -> bool {
    let in_range =
        key >= q.start_key.as_str() && (q.end_key.is_empty() || key < q.end_key.as_str());
    let scanned = q.exhausted || q.scanned_to.as_deref().is_some_and(|last| key <= last);
    in_range && scanned
}

impl Model {
    /// Simulates `plan` against the committed state: the rw-set an endorser
    /// would record, with the planned mistakes.
    fn simulate(&self, plan: &Plan) -> RwSet {
        let version = |k: &str| self.values.get(k).map(|(_, v)| *v);
        let reads = plan
            .reads
            .iter()
            .map(|&(i, stale)| {
                let actual = version(KEYS[i]);
                let recorded = match (stale, actual) {
                    (false, v) => v,
                    (true, Some(_)) => None,
                    (true, None) => Some(Version { block: 0, tx: 99 }),
                };
                KvRead {
                    key: KEYS[i].into(),
                    version: recorded,
                }
            })
            .collect();
        let range_queries = plan
            .ranges
            .iter()
            .map(|r| {
                let end_key = r.end.map_or(String::new(), |e| {
                    KEYS.get(e).map_or("z".to_string(), |k| k.to_string())
                });
                let mut q = RangeQueryInfo {
                    start_key: KEYS[r.start].into(),
                    end_key,
                    exhausted: r.scanned_to.is_none(),
                    scanned_to: r.scanned_to.map(|i| KEYS[i].to_string()),
                    reads: vec![],
                };
                if q.scanned_to.as_ref().is_some_and(|s| !covers_bounds(&q, s)) {
                    // A scan cannot stop outside its own range.
                    q.scanned_to = None;
                    q.exhausted = true;
                }
                q.reads = self
                    .values
                    .iter()
                    .filter(|(k, _)| covers(&q, k))
                    .map(|(k, (_, v))| KvRead {
                        key: k.clone(),
                        version: Some(*v),
                    })
                    .collect();
                match r.stale {
                    Some(true) if !q.reads.is_empty() => {
                        q.reads.remove(0);
                    }
                    Some(false) if !q.reads.is_empty() => {
                        q.reads[0].version = Some(Version { block: 0, tx: 77 });
                    }
                    _ => {}
                }
                q
            })
            .collect();
        let writes = plan
            .writes
            .iter()
            .map(|&(i, value)| KvWrite {
                key: KEYS[i].into(),
                value: value.map(|b| Bytes(vec![b])),
            })
            .collect();
        RwSet {
            namespaces: vec![NsRwSet {
                namespace: NS.into(),
                reads,
                range_queries,
                writes,
                ..Default::default()
            }],
        }
    }

    /// Fabric's rules, applied in block order: duplicates; a read conflicts
    /// if an earlier valid tx of the block wrote the key or the committed
    /// version differs; a range conflicts unless committed state with the
    /// block's earlier valid writes applied shows exactly the recorded keys
    /// and versions in what it covers. Applies the valid writes.
    fn validate(&mut self, block: u64, txs: &[(TxId, RwSet)]) -> Vec<ValidationCode> {
        let mut updates: BTreeMap<String, Option<(Vec<u8>, Version)>> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        let mut codes = vec![];
        for (i, (id, rwset)) in txs.iter().enumerate() {
            let version = Version {
                block,
                tx: i as u32,
            };
            let ns = &rwset.namespaces[0];
            let code = if !seen.insert(*id) || self.tx_ids.contains(id) {
                ValidationCode::DuplicateTxid
            } else if ns.reads.iter().any(|r| {
                updates.contains_key(&r.key)
                    || self.values.get(&r.key).map(|(_, v)| *v) != r.version
            }) {
                ValidationCode::MvccReadConflict
            } else if ns.range_queries.iter().any(|q| {
                let mut merged: BTreeMap<String, Version> = self
                    .values
                    .iter()
                    .map(|(k, (_, v))| (k.clone(), *v))
                    .collect();
                for (k, u) in &updates {
                    match u {
                        Some((_, v)) => merged.insert(k.clone(), *v),
                        None => merged.remove(k),
                    };
                }
                let now: Vec<(String, Option<Version>)> = merged
                    .into_iter()
                    .filter(|(k, _)| covers(q, k))
                    .map(|(k, v)| (k, Some(v)))
                    .collect();
                let recorded: Vec<(String, Option<Version>)> =
                    q.reads.iter().map(|r| (r.key.clone(), r.version)).collect();
                now != recorded
            }) {
                ValidationCode::PhantomReadConflict
            } else {
                for w in &ns.writes {
                    updates.insert(w.key.clone(), w.value.clone().map(|b| (b.0, version)));
                }
                ValidationCode::Valid
            };
            codes.push(code);
        }
        for (k, u) in updates {
            match u {
                Some(entry) => self.values.insert(k, entry),
                None => self.values.remove(&k),
            };
        }
        self.tx_ids.extend(seen);
        codes
    }
}

/// Whether `key` is inside `[start, end)` of `q`.
fn covers_bounds(q: &RangeQueryInfo, key: &str) -> bool {
    key >= q.start_key.as_str() && (q.end_key.is_empty() || key < q.end_key.as_str())
}

fn same_state(state: &MemoryState, model: &Model) -> bool {
    let actual: BTreeMap<String, (Vec<u8>, Version)> = state
        .values
        .iter()
        .map(|((_, k), (v, ver))| (k.clone(), (v.0.clone(), *ver)))
        .collect();
    actual == model.values && state.tx_ids.iter().copied().collect::<BTreeSet<_>>() == model.tx_ids
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mvcc_matches_the_reference_model((initial, blocks) in blocks()) {
        let mut state = MemoryState::new();
        let mut model = Model::default();
        for (i, value) in &initial {
            let version = Version { block: 0, tx: *i as u32 };
            state.put(NS, KEYS[*i], &[*value], version);
            model.values.insert(KEYS[*i].to_string(), (vec![*value], version));
        }
        let mut ids: Vec<TxId> = vec![];
        for (b, plans) in blocks.iter().enumerate() {
            let number = b as u64 + 1;
            let txs: Vec<(TxId, RwSet)> = plans
                .iter()
                .map(|p| {
                    let id = match p.reuse_id {
                        Some(j) if !ids.is_empty() => ids[j % ids.len()],
                        _ => TxId(weft_types::sha3_256(&(ids.len() as u64).to_be_bytes())),
                    };
                    ids.push(id);
                    (id, model.simulate(p))
                })
                .collect();
            let checks = txs
                .iter()
                .map(|(id, rwset)| {
                    TxCheck::passed(*id, TxAction::Invoke { chaincode: NS.into(), rwset: rwset.clone(), event: None })
                })
                .collect();
            let Ok(out) = check_mvcc(&state, number, checks);
            let expected = model.validate(number, &txs);
            prop_assert_eq!(&out.codes, &expected, "block {}: {:?}\ndetails {:?}", number, txs, out.details);
            state.apply(number, &out);
            prop_assert!(same_state(&state, &model), "block {}: state {:?}\nmodel {:?}", number, state.values, model.values);
        }
    }
}

#[test]
fn digest_ids_are_distinct() {
    // The generator's fresh ids must never collide by accident.
    let a = TxId(weft_types::sha3_256(&0u64.to_be_bytes()));
    let b = TxId(weft_types::sha3_256(&1u64.to_be_bytes()));
    assert_ne!(a, b);
    assert_ne!(a.0, Digest::ZERO);
}
