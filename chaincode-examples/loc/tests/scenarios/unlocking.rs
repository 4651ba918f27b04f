//! Algorithm 3 through `unlock`: codes 1–3 write nothing, code 0 runs the
//! operations once, and an operation that cannot run is an error.

use loc::{
    EventBody, Item, Lock, LockReceipt, LockRecord, LockStatus, OracleStatement, Role,
    UnlockingCode, Verdict,
};
use serde_json::{Value, json};

use super::Kind::{Query, Tx};
use super::Runner;
use super::world::*;

/// Alice's locked application for [`GOOD`] and the oracles' pass signatures.
fn locked(net: &mut Net<'_, '_>) -> (Lock, LockReceipt, Vec<OracleSig>) {
    setup(net);
    let l = loan_lock(loan_event(&ALICE, GOOD, "1"));
    let r = lock(net, &ALICE, &l);
    let sigs = grant_sigs(net, &l, &r);
    (l, r, sigs)
}

/// Sends `code`, expects it refused with `expected` and a meaning containing
/// `detail`, and checks nothing moved.
fn refused(
    net: &mut Net<'_, '_>,
    r: &LockReceipt,
    code: &UnlockingCode,
    expected: u8,
    detail: &str,
) {
    let res = unlock(net, &ALICE, &r.lock_id, code);
    let meaning = match expected {
        1 => "oracle check failed",
        2 => "event check failed",
        _ => "type error",
    };
    assert_eq!(res.code, expected, "{}", res.meaning);
    assert!(res.meaning.starts_with(meaning), "{}", res.meaning);
    assert!(
        res.meaning.contains(detail),
        "{:?} does not contain {detail:?}",
        res.meaning
    );
    assert_eq!(res.lock_id, r.lock_id);
    assert_eq!(balance(net, &ALICE), 0, "code {expected} moved funds");
    assert_eq!(
        balance(net, &BANK),
        BANK_FUNDS,
        "code {expected} moved funds"
    );
    let rec: LockRecord = net.query(&ALICE, "get_lock", &[&r.lock_id]);
    assert_eq!(
        rec.status,
        LockStatus::Locked,
        "code {expected} closed the lock"
    );
    net.fails(&ALICE, Query, "query_loan", &[&ALICE.id()], "no loan");
}

/// After the refusals, the right code still opens the lock.
fn finally_unlocks(net: &mut Net<'_, '_>, l: &Lock, r: &LockReceipt, sigs: &[OracleSig]) {
    let res = unlock(net, &ALICE, &r.lock_id, &UnlockingCode::new(&l.event, sigs));
    assert_eq!(res.code, 0, "{}", res.meaning);
    assert_eq!(balance(net, &ALICE), GOOD.amount);
}

fn pass_statement(lock: &str, event: &str, role: Role, at_ms: u64) -> OracleStatement {
    OracleStatement {
        lock: lock.into(),
        event: event.into(),
        role,
        verdict: Verdict::Pass,
        at_ms,
    }
}

pub(crate) fn forged_oracle_signature(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    let (l, r, sigs) = locked(net);
    let bank_pass = pass_statement(&r.lock_id, &r.event_id, Role::Bank, sigs[0].1.at_ms);
    // Carol signs the bank's statement and passes it off as the bank's.
    let mut forged = sigs.clone();
    forged[0].2 = CAROL.sign(&loc::statement_signing_bytes(&bank_pass));
    let forged_code = UnlockingCode::new(&l.event, &forged);
    refused(
        net,
        &r,
        &forged_code,
        1,
        "the bank oracle's signature does not verify",
    );
    // A real bank signature, but for another lock.
    let mut elsewhere = sigs.clone();
    let other = pass_statement(&"00".repeat(32), &r.event_id, Role::Bank, sigs[0].1.at_ms);
    elsewhere[0].2 = sign_statement(Role::Bank, &other);
    refused(
        net,
        &r,
        &UnlockingCode::new(&l.event, &elsewhere),
        1,
        "does not verify",
    );
    // The CAD's valid signature where the bank's belongs.
    let mut swapped = sigs.clone();
    swapped[0] = sigs[1].clone();
    refused(
        net,
        &r,
        &UnlockingCode::new(&l.event, &swapped),
        1,
        "expected a signature by the bank oracle key",
    );
    // The bank's key, claiming another role.
    let mut role = sigs.clone();
    role[0].0.role = Role::Fd;
    refused(
        net,
        &r,
        &UnlockingCode::new(&l.event, &role),
        1,
        "found one by the fd key",
    );
    // Signatures in the wrong order.
    let reversed: Vec<OracleSig> = sigs.iter().rev().cloned().collect();
    refused(
        net,
        &r,
        &UnlockingCode::new(&l.event, &reversed),
        1,
        "expected a signature by the fd oracle key",
    );
    // Junk hex.
    let mut junk = sigs.clone();
    junk[2].2 = "zz".into();
    refused(
        net,
        &r,
        &UnlockingCode::new(&l.event, &junk),
        1,
        "the fd oracle's signature does not verify",
    );
    finally_unlocks(net, &l, &r, &sigs);
}

pub(crate) fn failed_verdict(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    let poor = Application {
        income: 500,
        ..GOOD
    };
    let l = loan_lock(loan_event(&ALICE, poor, "1"));
    let r = lock(net, &ALICE, &l);
    let bank = report(net, &r.lock_id, Role::Bank);
    assert_eq!(bank.statement.verdict, Verdict::Failed);
    let failed_sig = sign_statement(Role::Bank, &bank.statement);
    let mut sigs = vec![(
        BANK.oracle_key(Role::Bank),
        bank.statement.clone(),
        failed_sig.clone(),
    )];
    for role in [Role::Cad, Role::Fd] {
        let rep = report(net, &r.lock_id, role);
        assert_eq!(rep.statement.verdict, Verdict::Pass);
        let signature = sign_statement(role, &rep.statement);
        sigs.push((
            oracle_member(role).oracle_key(role),
            rep.statement,
            signature,
        ));
    }
    refused(
        net,
        &r,
        &UnlockingCode::new(&l.event, &sigs),
        1,
        "the bank oracle's verdict is failed",
    );
    // Claiming a pass with the signature over the failed statement.
    sigs[0].1.verdict = Verdict::Pass;
    refused(
        net,
        &r,
        &UnlockingCode::new(&l.event, &sigs),
        1,
        "the bank oracle's signature does not verify",
    );
}

pub(crate) fn tampered_event(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    let (l, r, sigs) = locked(net);
    let mut bigger = l.event.clone();
    if let EventBody::LoanApplication { amount, .. } = &mut bigger.body {
        *amount = 50_000;
    }
    refused(
        net,
        &r,
        &UnlockingCode::new(&bigger, &sigs),
        2,
        "the event differs from the locked one",
    );
    // Re-signed by the customer: a valid event, but not the locked one.
    let resigned = signed(&ALICE, bigger.body.clone());
    refused(net, &r, &UnlockingCode::new(&resigned, &sigs), 2, "differs");
    // The locked event, but not as its customer alone signed it (the lock
    // keeps the body's id; RO1 is checked on the signatures sent).
    let mut cosigned = l.event.clone();
    cosigned.signatures.push(cosigned.signatures[0].clone());
    refused(
        net,
        &r,
        &UnlockingCode::new(&cosigned, &sigs),
        2,
        "exactly one signature",
    );
    finally_unlocks(net, &l, &r, &sigs);
}

fn code_of(items: Vec<Value>) -> UnlockingCode {
    UnlockingCode { items }
}

pub(crate) fn wrong_item_types(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    let (l, r, sigs) = locked(net);
    let good = UnlockingCode::new(&l.event, &sigs).items;
    let event = good[0].clone();
    let top = good.len() - 1;
    let with = |i: usize, item: Value| {
        let mut items = good.clone();
        items[i] = item;
        code_of(items)
    };
    refused(
        net,
        &r,
        &code_of(good[1..].to_vec()),
        3,
        "expected the event, found nothing",
    );
    let mut extra = vec![event.clone()];
    extra.extend(good.iter().cloned());
    refused(
        net,
        &r,
        &code_of(extra),
        3,
        "1 item(s) left in the unlocking code",
    );
    refused(
        net,
        &r,
        &with(top, json!({"type": "coupon", "value": 1})),
        3,
        "found an item of type \"coupon\"",
    );
    let key = serde_json::to_value(Item::PublicKey {
        role: Role::Fd,
        public_key: FD.id(),
    })
    .unwrap();
    refused(
        net,
        &r,
        &with(top, key),
        3,
        "expected the fd oracle's signature, found an item of type \"public_key\"",
    );
    let op = serde_json::to_value(Item::Op {
        op: l.ops[0].clone(),
    })
    .unwrap();
    refused(
        net,
        &r,
        &with(0, op),
        3,
        "expected the event, found an item of type \"op\"",
    );
    refused(
        net,
        &r,
        &with(top, event),
        3,
        "expected the fd oracle's signature",
    );
    refused(net, &r, &with(top, json!(42)), 3, "an item without a type");
    let mut bad_verdict = good[top].clone();
    bad_verdict["verdict"] = json!("maybe");
    refused(net, &r, &with(top, bad_verdict), 3, "\"oracle_sig\"");
    refused(net, &r, &code_of(Vec::new()), 3, "ran out");
    net.unlock_fails(
        &ALICE,
        Tx,
        &r.lock_id,
        "[]",
        "the unlocking code is not JSON of the form",
    );
    net.unlock_fails(
        &ALICE,
        Tx,
        &r.lock_id,
        "{\"items\": 5}",
        "not JSON of the form",
    );
    net.unlock_without_code_fails(&ALICE, &r.lock_id);
    finally_unlocks(net, &l, &r, &sigs);
}

pub(crate) fn replayed_unlocking_code(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    let (l, r, sigs) = locked(net);
    let code = json(&UnlockingCode::new(&l.event, &sigs));
    // As a query nothing is committed.
    net.unlock_fails(&ALICE, Query, &r.lock_id, &code, "not allowed");
    assert_eq!(balance(net, &ALICE), 0);
    finally_unlocks(net, &l, &r, &sigs);
    let rec: LockRecord = net.query(&ALICE, "get_lock", &[&r.lock_id]);
    let tx = rec.closed_tx.expect("the unlocking tx is recorded");
    for who in [&ALICE, &CAROL] {
        net.unlock_fails(
            who,
            Tx,
            &r.lock_id,
            &code,
            &format!(
                "unlocking code already used: lock {} was unlocked in tx {tx}",
                r.lock_id
            ),
        );
    }
    assert_eq!(balance(net, &ALICE), GOOD.amount, "paid once");
    assert_eq!(balance(net, &BANK), BANK_FUNDS - GOOD.amount);
    net.fails(
        &BANK,
        Query,
        "oracle",
        &[&r.lock_id, "bank", "false"],
        "no longer locked",
    );
}

pub(crate) fn insufficient_funds(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    let (l, r, sigs) = locked(net);
    net.tx::<loc::Payout>(&BANK, "connector_out", &[&BANK.id(), "95000"]);
    let code = json(&UnlockingCode::new(&l.event, &sigs));
    let short = format!(
        "insufficient funds: account {} holds 5000 of issuer",
        BANK.id()
    );
    net.unlock_fails(&ALICE, Tx, &r.lock_id, &code, &short);
    assert_eq!(balance(net, &ALICE), 0);
    assert_eq!(balance(net, &BANK), 5_000);
    let rec: LockRecord = net.query(&ALICE, "get_lock", &[&r.lock_id]);
    assert_eq!(rec.status, LockStatus::Locked);
    net.fails(&ALICE, Query, "query_loan", &[&ALICE.id()], "no loan");
    issue(net, &BANK, 10_000, "top-up");
    let res = unlock(
        net,
        &ALICE,
        &r.lock_id,
        &UnlockingCode::new(&l.event, &sigs),
    );
    assert_eq!(res.code, 0);
    assert_eq!(balance(net, &ALICE), 10_000);
    assert_eq!(balance(net, &BANK), 5_000);
}

/// A revoked oracle key opens no lock that names it, and no new lock may
/// name it.
pub(crate) fn revoked_oracle_key(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    let (l, r, sigs) = locked(net);
    net.tx::<loc::OracleKey>(&CAD_ADMIN, "revoke_oracle", &["cad", &CAD.id()]);
    refused(
        net,
        &r,
        &UnlockingCode::new(&l.event, &sigs),
        1,
        &format!("the cad oracle key {} was revoked", CAD.id()),
    );
    // Whatever the lock's state, a missing or malformed code is refused as
    // such, not answered with the lock's verdict.
    net.unlock_without_code_fails(&ALICE, &r.lock_id);
    net.unlock_fails(&ALICE, Tx, &r.lock_id, "[]", "not JSON of the form");
    net.tx::<LockRecord>(&ALICE, "cancel_lock", &[&r.lock_id]);
    let again = loan_lock(loan_event(&ALICE, GOOD, "again"));
    net.lock_fails(
        &ALICE,
        &json(&again),
        &format!("{} is not a registered cad oracle key", CAD.id()),
    );
    // A new key registered by the CAD's admin takes its place.
    net.tx::<loc::OracleKey>(&CAD_ADMIN, "register_oracle", &["cad", &CAROL.id()]);
    let mut with_new = again.clone();
    for key in &mut with_new.keys {
        if key.role == Role::Cad {
            key.public_key = CAROL.id();
        }
    }
    let r2 = lock(net, &ALICE, &with_new);
    let mut items = vec![Item::Event {
        event: with_new.event.clone(),
    }];
    for key in &with_new.keys {
        let member = oracle_member(key.role);
        let report = report(net, &r2.lock_id, key.role);
        let signer = if key.role == Role::Cad { CAROL } else { member };
        items.push(Item::OracleSig {
            role: key.role,
            public_key: key.public_key.clone(),
            verdict: report.statement.verdict,
            at_ms: report.statement.at_ms,
            signature: signer.sign(&loc::statement_signing_bytes(&report.statement)),
        });
    }
    let res = unlock(net, &ALICE, &r2.lock_id, &UnlockingCode::from_items(&items));
    assert_eq!(res.code, 0, "{}", res.meaning);
    assert_eq!(balance(net, &ALICE), GOOD.amount);
}
