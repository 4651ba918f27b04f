//! Unit tests of the simulator, and a model-based test of reads, writes and
//! ranges against a `BTreeMap`.

use std::collections::BTreeMap;

use ed25519_dalek::Signer;
use proptest::prelude::*;
use weft_abi::{Creator, ErrorCode, Host, HostError, TxInfo, TxKind};
use weft_types::{KvRead, Version};

use super::*;
use crate::mock::MemoryLedger;

const NS: &str = "cc";

fn info(kind: TxKind) -> TxInfo {
    TxInfo {
        tx_id: "t1".into(),
        channel: "weft".into(),
        timestamp_ms: 5,
        creator: Creator {
            org: "Bank".into(),
            name: "alice".into(),
            role: "client".into(),
            public_key: [0; 32],
        },
        kind,
    }
}

fn ledger(entries: &[(&str, &str)]) -> MemoryLedger {
    let mut l = MemoryLedger::new();
    for (k, v) in entries {
        l.seed(NS, &[(k, Some(v.as_bytes()))]);
    }
    l
}

fn sim(l: &MemoryLedger, kind: TxKind) -> TxSimulator<&MemoryLedger> {
    TxSimulator::new(l, NS, info(kind))
}

fn v(block: u64) -> Option<Version> {
    Some(Version { block, tx: 0 })
}

fn code<T: core::fmt::Debug>(r: Result<T, HostError>) -> ErrorCode {
    r.expect_err("expected an error").code
}

/// Reads a whole range, closing the iterator.
fn collect<S: StateView>(s: &mut TxSimulator<S>, start: &str, end: &str) -> Vec<(String, String)> {
    let h = s.range_open(start, end).unwrap();
    let mut out = Vec::new();
    loop {
        let batch = s.range_next(h).unwrap();
        if batch.is_empty() {
            break;
        }
        out.extend(
            batch
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8(v).unwrap())),
        );
    }
    s.range_close(h).unwrap();
    out
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn reads_see_own_writes_and_record_committed_versions_once() {
    let l = ledger(&[("a", "1"), ("b", "2")]);
    let mut s = sim(&l, TxKind::Transaction);
    assert_eq!(s.state_get("a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.state_get("a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.state_get("zz").unwrap(), None);
    s.state_put("a", b"new").unwrap();
    assert_eq!(s.state_get("a").unwrap(), Some(b"new".to_vec()));
    s.state_delete("b").unwrap();
    assert_eq!(
        s.state_get("b").unwrap(),
        None,
        "own delete hides the committed value"
    );
    s.state_put("c", b"3").unwrap();
    assert_eq!(s.state_get("c").unwrap(), Some(b"3".to_vec()));
    s.state_put("c", b"33").unwrap();
    let r = s.finish();
    let ns = r.rwset.namespace(NS).unwrap();
    assert_eq!(
        ns.reads,
        vec![
            KvRead {
                key: "a".into(),
                version: v(1)
            },
            KvRead {
                key: "zz".into(),
                version: None
            },
        ],
        "b and c were served from own writes; a is recorded once"
    );
    let writes: Vec<(&str, Option<&[u8]>)> = ns
        .writes
        .iter()
        .map(|w| (w.key.as_str(), w.value.as_deref()))
        .collect();
    assert_eq!(
        writes,
        vec![
            ("a", Some(&b"new"[..])),
            ("b", None),
            ("c", Some(&b"33"[..]))
        ]
    );
}

#[test]
fn ranges_merge_own_writes_and_record_every_committed_key_passed() {
    let l = ledger(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]);
    let mut s = sim(&l, TxKind::Transaction);
    s.state_put("b", b"B").unwrap();
    s.state_delete("c").unwrap();
    s.state_put("bb", b"new").unwrap();
    s.state_put("e", b"5").unwrap();
    assert_eq!(
        collect(&mut s, "", ""),
        pairs(&[
            ("a", "1"),
            ("b", "B"),
            ("bb", "new"),
            ("d", "4"),
            ("e", "5")
        ])
    );
    assert_eq!(
        collect(&mut s, "b", "d"),
        pairs(&[("b", "B"), ("bb", "new")])
    );
    let r = s.finish();
    let ns = r.rwset.namespace(NS).unwrap();
    assert!(ns.reads.is_empty(), "range results are not point reads");
    let q = &ns.range_queries;
    assert_eq!(q.len(), 2);
    assert_eq!(
        (q[0].start_key.as_str(), q[0].end_key.as_str()),
        ("\u{1}", "")
    );
    assert!(q[0].exhausted && q[1].exhausted);
    let keys = |i: usize| -> Vec<(&str, Option<Version>)> {
        q[i].reads
            .iter()
            .map(|r| (r.key.as_str(), r.version))
            .collect()
    };
    // c (deleted by us) and b (overwritten) are recorded: the validator's
    // re-run over committed state sees them; bb and e (ours) are not.
    assert_eq!(
        keys(0),
        vec![("a", v(1)), ("b", v(2)), ("c", v(3)), ("d", v(4))]
    );
    assert_eq!(keys(1), vec![("b", v(2)), ("c", v(3))]);
}

#[test]
fn a_partly_read_range_is_not_exhausted() {
    let mut l = MemoryLedger::new();
    let keys: Vec<String> = (0..RANGE_BATCH + 10).map(|i| format!("k{i:04}")).collect();
    let writes: Vec<(&str, Option<&[u8]>)> =
        keys.iter().map(|k| (k.as_str(), Some(&b"v"[..]))).collect();
    l.seed(NS, &writes);
    let mut s = sim(&l, TxKind::Transaction);
    let h = s.range_open("k", "l").unwrap();
    assert_eq!(s.range_next(h).unwrap().len(), RANGE_BATCH);
    s.range_close(h).unwrap();
    assert_eq!(code(s.range_next(h)), ErrorCode::InvalidArgument, "closed");
    let r = s.finish();
    let q = &r.rwset.namespaces[0].range_queries[0];
    assert!(!q.exhausted);
    assert_eq!(q.reads.len(), RANGE_BATCH);
    assert_eq!(
        q.scanned_to.as_deref(),
        Some(keys[RANGE_BATCH - 1].as_str())
    );
    // The whole range, read to its end, spans batches.
    let mut s = sim(&l, TxKind::Transaction);
    assert_eq!(collect(&mut s, "k", "l").len(), RANGE_BATCH + 10);
    assert!(s.finish().rwset.namespaces[0].range_queries[0].exhausted);
}

#[test]
fn plain_ranges_skip_composite_keys() {
    let ck = crate::composite_key("owner~id", &["alice", "a1"]).unwrap();
    let l = ledger(&[("a", "1"), (ck.as_str(), "x")]);
    let mut s = sim(&l, TxKind::Transaction);
    s.state_put(
        &crate::composite_key("owner~id", &["bob", "a2"]).unwrap(),
        b"y",
    )
    .unwrap();
    assert_eq!(collect(&mut s, "", ""), pairs(&[("a", "1")]));
    let (start, end) = crate::composite::partial_key_range("owner~id", &["alice"]).unwrap();
    assert_eq!(
        collect(&mut s, &start, &end),
        vec![(ck.clone(), "x".to_string())]
    );
    let (start, end) = crate::composite::partial_key_range::<&str>("owner~id", &[]).unwrap();
    assert_eq!(collect(&mut s, &start, &end).len(), 2);
    assert!(collect(&mut s, "b", "a").is_empty(), "an empty range");
}

#[test]
fn queries_cannot_write_and_transactions_cannot_read_history() {
    let l = ledger(&[("a", "1"), ("a", "2")]);
    let mut q = sim(&l, TxKind::Query).with_collections(&[collection("secret")], None);
    assert_eq!(code(q.state_put("a", b"x")), ErrorCode::NotAllowed);
    assert_eq!(code(q.state_delete("a")), ErrorCode::NotAllowed);
    assert_eq!(
        code(q.private_put("secret", "a", b"x")),
        ErrorCode::NotAllowed
    );
    assert_eq!(code(q.private_delete("secret", "a")), ErrorCode::NotAllowed);
    assert_eq!(code(q.private_purge("secret", "a")), ErrorCode::NotAllowed);
    assert_eq!(
        code(q.key_policy_set("a", Some("ANY"))),
        ErrorCode::NotAllowed
    );
    let history = q.state_history("a").unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].value.as_deref(), Some(&b"2"[..]));
    let mut t = sim(&l, TxKind::Transaction);
    assert_eq!(code(t.state_history("a")), ErrorCode::NotAllowed);
}

#[test]
fn keys_values_and_iterators_are_limited() {
    let l = MemoryLedger::new();
    let mut s = sim(&l, TxKind::Transaction);
    assert_eq!(code(s.state_put("", b"x")), ErrorCode::InvalidArgument);
    assert_eq!(code(s.state_get("a\u{0}b")), ErrorCode::InvalidArgument);
    assert_eq!(
        code(s.state_put(&"k".repeat(MAX_KEY_BYTES + 1), b"")),
        ErrorCode::LimitExceeded
    );
    s.state_put(&"k".repeat(MAX_KEY_BYTES), b"").unwrap();
    assert_eq!(
        code(s.state_put("v", &vec![0; MAX_VALUE_BYTES + 1])),
        ErrorCode::LimitExceeded
    );
    for _ in 0..MAX_OPEN_ITERATORS {
        s.range_open("", "").unwrap();
    }
    assert_eq!(code(s.range_open("", "")), ErrorCode::LimitExceeded);
    assert_eq!(code(s.range_next(9999)), ErrorCode::InvalidArgument);
    assert_eq!(code(s.set_event("", b"")), ErrorCode::InvalidArgument);

    let mut s = sim(&l, TxKind::Transaction);
    for i in 0..MAX_WRITES {
        s.state_put(&format!("k{i}"), b"").unwrap();
    }
    s.state_put("k0", b"again").unwrap();
    assert_eq!(code(s.state_put("one-more", b"")), ErrorCode::LimitExceeded);
    assert_eq!(
        code(s.key_policy_set("one-more", None)),
        ErrorCode::LimitExceeded
    );
}

#[test]
fn key_policies_are_parsed_and_read_back() {
    let l = MemoryLedger::new();
    let mut s = sim(&l, TxKind::Transaction);
    assert_eq!(
        code(s.key_policy_set("a", Some("AND("))),
        ErrorCode::InvalidArgument
    );
    assert_eq!(s.key_policy_get("a").unwrap(), None);
    s.key_policy_set("a", Some("OR('Bank.peer', 'Fund.peer')"))
        .unwrap();
    assert_eq!(
        s.key_policy_get("a").unwrap().as_deref(),
        Some("OR('Bank.peer', 'Fund.peer')")
    );
    s.key_policy_set("b", None).unwrap();
    let r = s.finish();
    let kp = &r.rwset.namespaces[0].key_policy_writes;
    assert_eq!(kp.len(), 2);
    assert!(kp[0].policy.is_some() && kp[1].policy.is_none());
}

fn collection(name: &str) -> weft_types::CollectionConfig {
    weft_types::CollectionConfig::new(name, weft_types::Policy::parse("ANY").unwrap())
}

#[test]
fn private_data_is_recorded_as_hashes_and_kept_aside() {
    let l = MemoryLedger::new();
    let mut s = sim(&l, TxKind::Transaction).with_collections(&[collection("secret")], None);
    assert_eq!(
        code(s.private_get("other", "k")),
        ErrorCode::UnknownCollection
    );
    assert_eq!(s.private_get("secret", "k").unwrap(), None);
    assert_eq!(s.private_get_hash("secret", "h").unwrap(), None);
    s.private_put("secret", "k", b"v").unwrap();
    assert_eq!(s.private_get("secret", "k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(
        s.private_get_hash("secret", "k").unwrap(),
        Some(weft_types::sha3_256(b"v").0)
    );
    s.private_purge("secret", "p").unwrap();
    let r = s.finish();
    let c = &r.rwset.namespaces[0].collections[0];
    assert_eq!(c.collection, "secret");
    assert_eq!(c.reads.len(), 2, "k and h, both missing");
    assert!(c.reads.iter().all(|r| r.version.is_none()));
    assert_eq!(c.writes.len(), 2);
    let k = c
        .writes
        .iter()
        .find(|w| w.key_hash == weft_types::sha3_256(b"k"))
        .unwrap();
    assert_eq!(k.value_hash, Some(weft_types::sha3_256(b"v")));
    let aside = &r.private_writes[0];
    assert_eq!(aside.writes.len(), 2);
    assert!(
        aside.writes[1].purge && aside.writes[1].key == "p",
        "in key order"
    );
    assert_eq!(c.private_rwset_hash, super::private_rwset_hash(aside));
    assert!(
        r.rwset.namespaces[0].writes.is_empty(),
        "private values never reach the rw-set"
    );
}

#[test]
fn natives_events_transient_and_invoke() {
    let l = MemoryLedger::new();
    let mut transient = BTreeMap::new();
    transient.insert("price".to_string(), b"7".to_vec());
    let mut s = sim(&l, TxKind::Transaction).with_transient(transient);
    assert_eq!(s.transient_get("price").unwrap(), Some(b"7".to_vec()));
    assert_eq!(s.transient_get("none").unwrap(), None);
    assert_eq!(s.sha3_256(b"abc"), weft_types::sha3_256(b"abc").0);
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let sig = key.sign(b"msg").to_bytes();
    let public = key.verifying_key().to_bytes();
    assert!(s.ed25519_verify(&public, b"msg", &sig));
    assert!(!s.ed25519_verify(&public, b"other", &sig));
    assert!(
        !s.ed25519_verify(&[0xff; 32], b"msg", &sig),
        "malformed key"
    );
    assert_eq!(
        code(s.invoke_chaincode("other", "f", &[])),
        ErrorCode::InvokeFailed
    );
    assert_eq!(
        code(s.invoke_chaincode(NS, "f", &[])),
        ErrorCode::InvokeFailed
    );
    s.set_event("first", b"1").unwrap();
    s.set_event("second", b"2").unwrap();
    s.log(weft_abi::LogLevel::Info, "hello");
    let r = s.finish();
    assert_eq!(r.event.unwrap().name, "second");
    assert_eq!(r.logs.len(), 1);
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    Get(u8),
    Range(u8, u8),
}

fn key(k: u8) -> String {
    format!("k{k:02}")
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..20u8, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        (0..20u8).prop_map(Op::Delete),
        (0..20u8).prop_map(Op::Get),
        (0..21u8, 0..21u8).prop_map(|(a, b)| Op::Range(a, b)),
    ]
}

proptest! {
    /// Random puts, deletes, gets and ranges agree with a `BTreeMap` of
    /// committed state overlaid with the writes so far, and each range
    /// records exactly the committed keys of its span.
    #[test]
    fn simulator_matches_a_btreemap(
        committed in proptest::collection::btree_map(0..20u8, any::<u8>(), 0..15),
        ops in proptest::collection::vec(op(), 0..40),
    ) {
        let mut l = MemoryLedger::new();
        for (k, v) in &committed {
            l.seed(NS, &[(key(*k).as_str(), Some(&[*v][..]))]);
        }
        let committed: BTreeMap<String, Vec<u8>> =
            committed.iter().map(|(k, v)| (key(*k), vec![*v])).collect();
        let mut model = committed.clone();
        let mut s = sim(&l, TxKind::Transaction);
        let mut expected_ranges = Vec::new();
        for op in &ops {
            match op {
                Op::Put(k, v) => {
                    s.state_put(&key(*k), &[*v]).unwrap();
                    model.insert(key(*k), vec![*v]);
                }
                Op::Delete(k) => {
                    s.state_delete(&key(*k)).unwrap();
                    model.remove(&key(*k));
                }
                Op::Get(k) => prop_assert_eq!(s.state_get(&key(*k)).unwrap(), model.get(&key(*k)).cloned()),
                Op::Range(a, b) => {
                    let (start, end) = (key(*a), if *b == 20 { String::new() } else { key(*b) });
                    let in_span = |k: &String| *k >= start && (end.is_empty() || *k < end);
                    let got: Vec<(String, Vec<u8>)> = {
                        let h = s.range_open(&start, &end).unwrap();
                        let mut out = Vec::new();
                        loop {
                            let batch = s.range_next(h).unwrap();
                            if batch.is_empty() { break; }
                            out.extend(batch);
                        }
                        out
                    };
                    let want: Vec<(String, Vec<u8>)> =
                        model.iter().filter(|(k, _)| in_span(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
                    prop_assert_eq!(got, want);
                    expected_ranges.push(committed.keys().filter(|k| in_span(k)).cloned().collect::<Vec<_>>());
                }
            }
        }
        let r = s.finish();
        let ns = r.rwset.namespace(NS).unwrap();
        let recorded: Vec<Vec<String>> = ns
            .range_queries
            .iter()
            .map(|q| q.reads.iter().map(|r| r.key.clone()).collect())
            .collect();
        prop_assert_eq!(recorded, expected_ranges);
        prop_assert!(ns.range_queries.iter().all(|q| q.exhausted));
        prop_assert!(ns.reads.iter().all(|r| r.version.is_some() == committed.contains_key(&r.key)));
        let written: BTreeMap<String, Option<Vec<u8>>> =
            ns.writes.iter().map(|w| (w.key.clone(), w.value.as_ref().map(|v| v.to_vec()))).collect();
        for (k, v) in &written {
            prop_assert_eq!(v.as_ref(), model.get(k));
        }
    }
}

/// Regression: a partly read range over the transaction's own writes recorded
/// no position, so a phantom committed among them went undetected.
#[test]
fn a_partly_read_range_over_own_writes_records_where_it_stopped() {
    let l = MemoryLedger::new();
    let mut s = sim(&l, TxKind::Transaction);
    for i in 0..RANGE_BATCH + 50 {
        s.state_put(&format!("b{i:04}"), b"v").unwrap();
    }
    let h = s.range_open("b", "c").unwrap();
    assert_eq!(s.range_next(h).unwrap().len(), RANGE_BATCH);
    s.range_close(h).unwrap();
    let r = s.finish();
    let q = &r.rwset.namespaces[0].range_queries[0];
    assert!(!q.exhausted);
    assert!(q.reads.is_empty(), "own writes are not committed reads");
    assert_eq!(
        q.scanned_to.as_deref(),
        Some(format!("b{:04}", RANGE_BATCH - 1).as_str())
    );
}

/// A ledger that fails every read.
struct Failing;

impl StateView for Failing {
    fn get(&self, _: &str, _: &str) -> Result<Option<(Vec<u8>, Version)>, HostError> {
        Err(HostError::new(ErrorCode::Internal, "disk on fire"))
    }
    fn range(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: usize,
    ) -> Result<Vec<(String, Vec<u8>, Version)>, HostError> {
        Err(HostError::new(ErrorCode::Internal, "disk on fire"))
    }
    fn history(&self, _: &str, _: &str) -> Result<Vec<weft_abi::HistoryEntry>, HostError> {
        Err(HostError::new(ErrorCode::Internal, "disk on fire"))
    }
    fn private_get(
        &self,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<Option<(Vec<u8>, Version)>, HostError> {
        Err(HostError::new(ErrorCode::Internal, "disk on fire"))
    }
    fn private_hash(
        &self,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<Option<([u8; 32], Version)>, HostError> {
        Err(HostError::new(ErrorCode::Internal, "disk on fire"))
    }
    fn key_policy(&self, _: &str, _: &str) -> Result<Option<String>, HostError> {
        Err(HostError::new(ErrorCode::Internal, "disk on fire"))
    }
}

/// Regression: a chaincode that swallowed a ledger error went on to write
/// without the read the validator needs; the failure now sticks to the call.
#[test]
fn a_swallowed_ledger_failure_still_fails_the_call() {
    let mut s = TxSimulator::new(Failing, NS, info(TxKind::Transaction));
    assert_eq!(code(s.state_get("bal")), ErrorCode::Internal);
    s.state_put("bal", b"100").unwrap();
    let h = s.range_open("a", "z").unwrap();
    assert_eq!(code(s.range_next(h)), ErrorCode::Internal);
    assert_eq!(
        code(s.range_next(h)),
        ErrorCode::Internal,
        "the cursor did not move on"
    );
    let r = s.finish();
    assert_eq!(r.failure.map(|f| f.code), Some(ErrorCode::Internal));
    assert!(!r.rwset.namespaces[0].range_queries[0].exhausted);
}
