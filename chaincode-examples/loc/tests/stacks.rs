//! Algorithm 3 as the pure `evaluate`, with a client's crypto: the cases a
//! chaincode call cannot reach (a locked event whose signature fails).
#![allow(clippy::unwrap_used)]

mod scenarios;

use loc::{
    Crypto, Item, Lock, LockRecord, OracleStatement, Role, UnlockCode, UnlockingCode, Verdict,
    evaluate,
};
use scenarios::world::*;

fn lock() -> Lock {
    loan_lock(loan_event(&ALICE, GOOD, "1"))
}

/// The public record of `l` under lock id `lock_id`.
fn record(l: &Lock, lock_id: &str) -> LockRecord {
    let event_id = Native.event_id(&l.event.body);
    LockRecord::locked(l, lock_id.into(), event_id, "tx".into())
}

fn sigs(l: &Lock, lock_id: &str) -> Vec<OracleSig> {
    let event_id = Native.event_id(&l.event.body);
    l.keys
        .iter()
        .map(|k| {
            let st = OracleStatement {
                lock: lock_id.into(),
                event: event_id.clone(),
                role: k.role,
                verdict: Verdict::Pass,
                at_ms: 0,
            };
            let signature = sign_statement(k.role, &st);
            (k.clone(), st, signature)
        })
        .collect()
}

fn code_of(l: &Lock, lock_id: &str, code: &UnlockingCode) -> Result<usize, (UnlockCode, String)> {
    evaluate(&record(l, lock_id), code, &Native)
        .map(|granted| {
            assert_eq!(granted.event, l.event, "the event checked is the one sent");
            granted.ops.len()
        })
        .map_err(|r| (r.code, r.detail))
}

#[test]
fn the_lock_stack_is_ops_event_id_keys() {
    let l = lock();
    let stack = loc::lock_stack(&record(&l, "L"));
    assert_eq!(stack.len(), 1 + 1 + 3);
    assert!(matches!(stack[0], Item::Op { .. }));
    let Item::EventId { event_id } = &stack[1] else {
        panic!("{:?}", stack[1]);
    };
    assert_eq!(event_id, &Native.event_id(&l.event.body));
    assert!(matches!(&stack[4], Item::PublicKey { role: Role::Fd, .. }));
}

#[test]
fn a_matching_code_releases_the_operations() {
    let l = lock();
    let code = UnlockingCode::new(&l.event, &sigs(&l, "L"));
    assert_eq!(code_of(&l, "L", &code), Ok(1));
    // The statements name the lock: the same signatures do not open another.
    let err = code_of(&l, "M", &code).unwrap_err();
    assert_eq!(err.0, UnlockCode::OracleCheckFailed);
}

#[test]
fn an_event_that_does_not_hash_to_the_locked_id_is_code_2() {
    let l = lock();
    let mut other = l.clone();
    other.event = loan_event(&ALICE, GOOD, "2");
    let code = UnlockingCode::new(&other.event, &sigs(&l, "L"));
    let (c, detail) = code_of(&l, "L", &code).unwrap_err();
    assert_eq!(c, UnlockCode::EventCheckFailed);
    assert!(detail.contains("differs from the locked one"), "{detail}");
    assert!(
        detail.contains(&Native.event_id(&other.event.body)),
        "{detail}"
    );
}

#[test]
fn a_locked_event_whose_signature_fails_is_code_2() {
    let mut l = lock();
    l.event.signatures[0].signature = "00".repeat(64);
    let code = UnlockingCode::new(&l.event, &sigs(&l, "L"));
    let (c, detail) = code_of(&l, "L", &code).unwrap_err();
    assert_eq!(c, UnlockCode::EventCheckFailed);
    assert!(detail.contains("does not verify"), "{detail}");
    l.event.signatures.clear();
    let code = UnlockingCode::new(&l.event, &sigs(&l, "L"));
    let (c, detail) = code_of(&l, "L", &code).unwrap_err();
    assert_eq!(c, UnlockCode::EventCheckFailed);
    assert!(detail.contains("exactly one signature"), "{detail}");
}

#[test]
fn codes_and_meanings() {
    let all = [
        UnlockCode::Unlocked,
        UnlockCode::OracleCheckFailed,
        UnlockCode::EventCheckFailed,
        UnlockCode::TypeError,
    ];
    let listed: Vec<(u8, &str)> = all.iter().map(|c| (c.code(), c.meaning())).collect();
    assert_eq!(
        listed,
        vec![
            (0, "unlocked"),
            (1, "oracle check failed"),
            (2, "event check failed"),
            (3, "type error")
        ]
    );
}

#[test]
fn items_travel_as_tagged_json() {
    let item = Item::PublicKey {
        role: Role::Cad,
        public_key: "ab".into(),
    };
    assert_eq!(
        serde_json::to_value(&item).unwrap(),
        serde_json::json!({"type": "public_key", "role": "cad", "public_key": "ab"})
    );
    let op = serde_json::to_value(&lock().ops[0]).unwrap();
    assert_eq!(op["op"], "transfer");
    let body = serde_json::to_value(&lock().event.body).unwrap();
    assert_eq!(body["kind"], "loan_application");
}
