//! The LoC scenarios run natively through `MockContext`, plus checks of what
//! only a native run can see (events, rw-sets, the signing bytes).
#![allow(clippy::unwrap_used)]

mod scenarios;

use loc::{Loc, LockReceipt, UnlockResult, UnlockingCode};
use scenarios::world::*;
use scenarios::{Call, Kind, Reply, SCENARIOS};
use weft_chaincode::Outcome;
use weft_chaincode::mock::{MockContext, MockResponse};

fn call(ctx: &mut MockContext, c: &Call<'_>) -> MockResponse {
    ctx.set_creator(c.caller.org, c.caller.name, c.caller.role);
    ctx.set_public_key(c.caller.public_key());
    ctx.set_timestamp_ms(c.now_ms);
    ctx.replace_transient(c.transient.iter().map(|(k, v)| (*k, v.as_bytes())));
    match c.kind {
        Kind::Tx => ctx.invoke::<Loc>(c.function, c.args),
        Kind::Query => ctx.query::<Loc>(c.function, c.args),
    }
}

fn reply(r: &MockResponse) -> Reply {
    match &r.outcome {
        Outcome::Ok(payload) => Ok(String::from_utf8(payload.clone()).unwrap()),
        Outcome::Err(message) => Err(message.clone()),
    }
}

#[test]
fn every_scenario_passes_natively() {
    for (name, scenario) in SCENARIOS {
        let mut ctx = MockContext::new("loc").collection(loc::EVENTS_COLLECTION);
        let mut run = |c: &Call<'_>| reply(&call(&mut ctx, c));
        eprintln!("scenario {name}");
        scenario(&mut run);
    }
}

/// Runs `steps` against a fresh ledger, keeping every response.
fn recorded(steps: impl FnOnce(&mut Net<'_, '_>)) -> Vec<(String, MockResponse)> {
    let mut ctx = MockContext::new("loc").collection(loc::EVENTS_COLLECTION);
    let mut responses = Vec::new();
    let mut run = |c: &Call<'_>| {
        let r = call(&mut ctx, c);
        let out = reply(&r);
        responses.push((c.function.to_string(), r));
        out
    };
    steps(&mut Net::new(&mut run));
    responses
}

#[test]
fn lock_and_unlock_emit_their_events() {
    let responses = recorded(|net| {
        setup(net);
        lock_and_unlock(net, &ALICE, &loan_lock(loan_event(&ALICE, GOOD, "1")));
    });
    let event = |function: &str| {
        let (_, r) = responses.iter().rev().find(|(f, _)| f == function).unwrap();
        r.event.clone().unwrap()
    };
    let locked = event("lock");
    assert_eq!(locked.name, "Locked");
    let receipt: LockReceipt = serde_json::from_slice(&locked.payload).unwrap();
    let unlocked = event("unlock");
    assert_eq!(unlocked.name, "Unlocked");
    let result: UnlockResult = serde_json::from_slice(&unlocked.payload).unwrap();
    assert_eq!((result.code, result.lock_id), (0, receipt.lock_id));
}

#[test]
fn the_event_goes_to_the_collection_and_never_into_public_writes() {
    let l = loan_lock(loan_event(&ALICE, GOOD, "1"));
    let responses = recorded(|net| {
        setup(net);
        lock_and_unlock(net, &ALICE, &l);
    });
    let response = |function: &str| {
        let (_, r) = responses.iter().find(|(f, _)| f == function).unwrap();
        r
    };
    let locked = response("lock");
    let receipt: LockReceipt = locked.json().unwrap();
    // One private write: the signed event, under its id, in loc_events.
    let [collection] = locked.private_writes.as_slice() else {
        panic!("{:?}", locked.private_writes);
    };
    assert_eq!(collection.collection, loc::EVENTS_COLLECTION);
    let [write] = collection.writes.as_slice() else {
        panic!("{:?}", collection.writes);
    };
    assert!(write.key.contains(&receipt.event_id), "{}", write.key);
    let stored: loc::SignedEvent = serde_json::from_slice(write.value.as_deref().unwrap()).unwrap();
    assert_eq!(stored, l.event);
    // Neither the lock's nor the unlock's public writes or events hold
    // anything of the event's body or its signature (values decoded: they
    // travel as base64).
    let secret = format!("\"income\":{}", GOOD.income);
    assert!(
        String::from_utf8_lossy(write.value.as_deref().unwrap()).contains(&secret),
        "the needle is in the event"
    );
    let signature = &l.event.signatures[0].signature;
    for function in ["lock", "unlock"] {
        let r = response(function);
        let mut public = String::new();
        for w in r
            .rwset
            .namespace("loc")
            .map_or(&[][..], |ns| &ns.writes[..])
        {
            public.push_str(&w.key);
            public.push_str(&String::from_utf8_lossy(w.value.as_deref().unwrap_or(b"")));
        }
        public.push_str(&String::from_utf8_lossy(&r.event.as_ref().unwrap().payload));
        assert!(
            public.contains("\"locked_tx\":"),
            "the search reaches the lock record"
        );
        assert!(!public.contains("\"income\":"), "{function} wrote {public}");
        assert!(
            !public.contains(signature.as_str()),
            "{function} wrote {public}"
        );
    }
    assert!(response("unlock").private_writes.is_empty());
}

/// A lock recorded before events were private (its record held the whole
/// lock, event included) still reads on an upgraded deployment: its
/// oracles judge the event it holds, it unlocks, and the record written
/// back no longer holds the event.
#[test]
fn a_lock_recorded_before_events_were_private_still_unlocks() {
    use loc::Crypto;
    use weft_chaincode::composite_key;
    let l = loan_lock(loan_event(&ALICE, GOOD, "1"));
    let receipt = LockReceipt {
        lock_id: Native.lock_id(&l),
        event_id: Native.event_id(&l.event.body),
    };
    let mut ctx = MockContext::new("loc").collection(loc::EVENTS_COLLECTION);
    setup(&mut Net::new(&mut |c: &Call<'_>| reply(&call(&mut ctx, c))));
    let record_key = composite_key("lock", &[&receipt.lock_id]).unwrap();
    let legacy = serde_json::json!({
        "lock_id": receipt.lock_id, "event_id": receipt.event_id, "lock": l,
        "status": "locked", "locked_tx": "0".repeat(64), "closed_tx": null,
    });
    ctx.seed(&record_key, Some(legacy.to_string().as_bytes()));
    let slot = composite_key("open_lock", &[ALICE.id().as_str(), "loan"]).unwrap();
    ctx.seed(&slot, Some(json(&receipt.lock_id).as_bytes()));

    let mut run = |c: &Call<'_>| reply(&call(&mut ctx, c));
    let mut net = Net::new(&mut run);
    let code = grant(&mut net, &l, &receipt);
    let result = unlock(&mut net, &ALICE, &receipt.lock_id, &code);
    assert_eq!(result.code, 0, "{}", result.meaning);
    let record: loc::LockRecord = net.query(&ALICE, "get_lock", &[&receipt.lock_id]);
    assert_eq!(record.status, loc::LockStatus::Unlocked);
    assert_eq!((record.customer, record.ops), (ALICE.id(), l.ops.clone()));
    let stored = String::from_utf8(ctx.state(&record_key).unwrap()).unwrap();
    assert!(stored.contains("\"customer\":"), "{stored}");
    assert!(!stored.contains("\"income\":"), "{stored}");
}

#[test]
fn refused_unlocking_codes_write_nothing() {
    let responses = recorded(|net| {
        setup(net);
        let l = loan_lock(loan_event(&ALICE, GOOD, "1"));
        let r = lock(net, &ALICE, &l);
        let mut sigs = grant_sigs(net, &l, &r);
        sigs[0].2 = sigs[1].2.clone();
        let mut other = l.event.clone();
        other.signatures.clear();
        for code in [
            UnlockingCode::new(&l.event, &sigs),
            UnlockingCode::new(&other, &grant_sigs(net, &l, &r)),
            UnlockingCode { items: vec![] },
        ] {
            unlock(net, &ALICE, &r.lock_id, &code);
        }
    });
    let unlocks: Vec<&MockResponse> = responses
        .iter()
        .filter(|(f, _)| f == "unlock")
        .map(|(_, r)| r)
        .collect();
    let codes: Vec<u8> = unlocks
        .iter()
        .map(|r| r.json::<UnlockResult>().unwrap().code)
        .collect();
    assert_eq!(codes, vec![1, 2, 3]);
    for r in unlocks {
        let writes = r.rwset.namespace("loc").map_or(0, |ns| ns.writes.len());
        assert_eq!(writes, 0, "a refused code wrote");
        assert!(r.event.is_none(), "a refused code set an event");
    }
}

#[test]
fn a_failed_unlock_writes_nothing_and_commits_nothing() {
    let responses = recorded(|net| {
        setup(net);
        let l = loan_lock(loan_event(&ALICE, GOOD, "1"));
        let r = lock(net, &ALICE, &l);
        let code = grant(net, &l, &r);
        net.tx::<loc::Payout>(&BANK, "connector_out", &[&BANK.id(), "99999"]);
        net.unlock_fails(
            &ALICE,
            Kind::Tx,
            &r.lock_id,
            &json(&code),
            "insufficient funds",
        );
    });
    let (_, r) = responses.last().unwrap();
    assert!(r.committed.is_none());
    assert!(r.event.is_none());
}

#[test]
fn the_signed_message_is_weft_types_chaincode_domain() {
    let digest = weft_types::sha3_256(b"anything");
    assert_eq!(
        loc::signed_message(&digest.0),
        weft_types::Domain::Chaincode.message(&digest)
    );
    assert_eq!(
        loc::CHAINCODE_SIGNING_TAG,
        weft_types::Domain::Chaincode.tag()
    );
}

#[test]
fn the_contract_lists_its_functions() {
    use weft_chaincode::{Contract, TxKind};
    let listed: Vec<(&str, TxKind)> = Loc::transactions()
        .iter()
        .map(|t| (t.name, t.kind))
        .collect();
    let (tx, q) = (TxKind::Transaction, TxKind::Query);
    assert_eq!(
        listed,
        vec![
            ("configure", tx),
            ("deployment", q),
            ("open_account", tx),
            ("issue", tx),
            ("connector_out", tx),
            ("account", q),
            ("register_oracle", tx),
            ("revoke_oracle", tx),
            ("oracle_keys", q),
            ("lock", tx),
            ("get_lock", q),
            ("oracle", q),
            ("unlock", tx),
            ("cancel_lock", tx),
            ("query_loan", q),
            ("inspect", q),
            ("inspect_all", q),
        ]
    );
}
