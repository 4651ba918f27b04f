//! Who reads what, and locks and calls the chaincode refuses.

use loc::{
    Account, Loan, LockRecord, Operation, OracleKey, Role, Signature, SignedEvent, THIRTY_DAYS_MS,
};
use serde_json::Value;

use super::Kind::{Query, Tx};
use super::Runner;
use super::world::*;

pub(crate) fn loan_permissions(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    let r = lock_and_unlock(net, &ALICE, &loan_lock(loan_event(&ALICE, GOOD, "1")));
    for who in [&ALICE, &BANK, &REG] {
        let loan: Loan = net.query(who, "query_loan", &[&ALICE.id()]);
        assert_eq!(loan.id, r.lock_id, "{} reads alice's loan", who.name);
    }
    for who in [&CAROL, &CAD, &FD, &EVE] {
        net.fails(
            who,
            Query,
            "query_loan",
            &[&ALICE.id()],
            "permission denied",
        );
    }
    net.fails(&CAROL, Query, "query_loan", &[&CAROL.id()], "no loan");

    for who in [&ALICE, &BANK, &CAD, &FD, &REG] {
        let rec: LockRecord = net.query(who, "get_lock", &[&r.lock_id]);
        assert_eq!(rec.lock_id, r.lock_id);
    }
    for who in [&CAROL, &EVE] {
        net.fails(who, Query, "get_lock", &[&r.lock_id], "permission denied");
    }
    // The CAD judges loans, not refunds: a refund lock is none of its business.
    net.now_ms += 12 * THIRTY_DAYS_MS;
    let refund = lock(
        net,
        &ALICE,
        &refund_lock(refund_event(&ALICE, &r.lock_id, 100, "r")),
    );
    net.fails(
        &CAD,
        Query,
        "get_lock",
        &[&refund.lock_id],
        "permission denied",
    );
    net.query::<LockRecord>(&FD, "get_lock", &[&refund.lock_id]);
    net.query::<LockRecord>(&BANK, "get_lock", &[&refund.lock_id]);
    net.fails(
        &BANK,
        Query,
        "get_lock",
        &["nope"],
        "lock nope does not exist",
    );
}

pub(crate) fn inspect_permissions(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    let r = lock_and_unlock(net, &ALICE, &loan_lock(loan_event(&ALICE, GOOD, "1")));
    for who in [&ALICE, &BANK, &CAD, &FD, &EVE] {
        net.fails(
            who,
            Query,
            "inspect",
            &["account", &ALICE.id()],
            "permission denied",
        );
        net.fails(who, Query, "inspect_all", &["loan"], "permission denied");
    }
    let account: Account = net.query(&REG, "inspect", &["account", &ALICE.id()]);
    assert_eq!(account.balance(&BANK.id()), GOOD.amount);
    let carol: Account = net.query(&REG, "account", &[&CAROL.id()]);
    assert_eq!(carol.name, "carol");
    let rec: LockRecord = net.query(&REG, "inspect", &["lock", &r.lock_id]);
    assert_eq!(rec.lock_id, r.lock_id);
    // The private event: by lock id or event id, the regulator only.
    let event: SignedEvent = net.query(&REG, "inspect", &["event", &r.lock_id]);
    assert_eq!(event, loan_event(&ALICE, GOOD, "1"));
    let same: SignedEvent = net.query(&REG, "inspect", &["event", &rec.event_id]);
    assert_eq!(same, event);
    for who in [&ALICE, &BANK, &CAD, &FD, &EVE] {
        net.fails(
            who,
            Query,
            "inspect",
            &["event", &r.lock_id],
            "permission denied",
        );
    }
    net.fails(
        &REG,
        Query,
        "inspect",
        &["event", "nope"],
        "no event nope in loc_events",
    );
    net.fails(&REG, Query, "inspect_all", &["event"], "events are private");
    let by_id: Loan = net.query(&REG, "inspect", &["loan", &r.lock_id]);
    let by_customer: Loan = net.query(&REG, "inspect", &["loan", &ALICE.id()]);
    assert_eq!(by_id, by_customer);
    for (kind, count) in [
        ("account", 6),
        ("lock", 1),
        ("loan", 1),
        ("issuance", 2),
        ("payout", 0),
    ] {
        let all: Vec<Value> = net.query(&REG, "inspect_all", &[kind]);
        assert_eq!(all.len(), count, "inspect_all {kind}");
    }
    let accounts: Vec<Account> = net.query(&REG, "inspect_all", &["account"]);
    assert!(
        accounts
            .iter()
            .any(|a| a.id == BANK.id() && a.role == Role::Bank)
    );
    net.fails(
        &REG,
        Query,
        "inspect",
        &["oracle_key", "x"],
        "unknown kind \"oracle_key\"",
    );
    net.fails(
        &REG,
        Query,
        "inspect_all",
        &["config"],
        "inspect one of account, lock, loan, payout, issuance",
    );
    net.fails(
        &REG,
        Query,
        "inspect",
        &["account", &MALLORY.id()],
        &format!("no account {}", MALLORY.id()),
    );
}

fn refused_lock(net: &mut Net<'_, '_>, who: &Member, lock: &loc::Lock, expected: &str) {
    net.lock_fails(who, &json(lock), expected);
}

pub(crate) fn bad_locks(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    let good = loan_lock(loan_event(&ALICE, GOOD, "x"));
    for who in [&CAROL, &BANK] {
        refused_lock(net, who, &good, "permission denied: only customer");
    }
    // A guessable nonce would let anyone confirm a guess of the
    // application against its public id.
    let mut short = good.clone();
    if let loc::EventBody::LoanApplication { nonce, .. } = &mut short.event.body {
        *nonce = "x".repeat(loc::MIN_NONCE_CHARS - 1);
    }
    short.event = signed(&ALICE, short.event.body);
    refused_lock(net, &ALICE, &short, "nonce must be at least 32 characters");
    let mut by_carol = good.clone();
    by_carol.event = signed(&CAROL, good.event.body.clone());
    refused_lock(net, &ALICE, &by_carol, "not by its customer");
    let mut forged = good.clone();
    forged.event.signatures[0].signature = signed(&CAROL, good.event.body.clone()).signatures[0]
        .signature
        .clone();
    refused_lock(
        net,
        &ALICE,
        &forged,
        "the customer's signature over the event does not verify",
    );
    let mut twice = good.clone();
    twice.event.signatures.push(Signature {
        public_key: CAROL.id(),
        signature: "00".into(),
    });
    refused_lock(
        net,
        &ALICE,
        &twice,
        "exactly one signature, its customer's; it has 2",
    );
    let keys_error = "exactly one oracle key of each granting role (bank, cad, fd)";
    let mut two_keys = good.clone();
    two_keys.keys.pop();
    refused_lock(net, &ALICE, &two_keys, keys_error);
    let mut double_bank = good.clone();
    double_bank.keys[1] = BANK.oracle_key(Role::Bank);
    refused_lock(net, &ALICE, &double_bank, keys_error);
    let mut unregistered = good.clone();
    unregistered.keys[2] = OracleKey {
        role: Role::Fd,
        public_key: CAROL.id(),
    };
    refused_lock(
        net,
        &ALICE,
        &unregistered,
        &format!("{} is not a registered fd oracle key", CAROL.id()),
    );

    let with_op = |op: Operation| loc::Lock {
        ops: vec![op],
        ..good.clone()
    };
    let transfer = |from: &Member, to: &Member, amount: u64| Operation::Transfer {
        from: from.id(),
        to: to.id(),
        issuer: BANK.id(),
        amount,
    };
    let to_customer = "must move the 10000 applied for to the customer's account";
    refused_lock(
        net,
        &ALICE,
        &with_op(transfer(&BANK, &CAROL, 10_000)),
        to_customer,
    );
    refused_lock(
        net,
        &ALICE,
        &with_op(transfer(&BANK, &ALICE, 9_000)),
        to_customer,
    );
    refused_lock(
        net,
        &ALICE,
        &with_op(transfer(&CAD, &ALICE, 10_000)),
        "must come from a bank account",
    );
    refused_lock(
        net,
        &ALICE,
        &with_op(transfer(&MALLORY, &ALICE, 10_000)),
        "does not exist",
    );
    // Lent in a bank's asset: the FD's (or an unknown) issuer is refused.
    for issuer in [FD.id(), MALLORY.id()] {
        let mut other_asset = transfer(&BANK, &ALICE, 10_000);
        if let Operation::Transfer { issuer: i, .. } = &mut other_asset {
            *i = issuer.clone();
        }
        refused_lock(
            net,
            &ALICE,
            &with_op(other_asset),
            &format!("issuer {issuer} is not a bank account"),
        );
    }
    let repay = Operation::Repay {
        from: FD.id(),
        to: BANK.id(),
        issuer: BANK.id(),
        amount: 10_000,
        loan: "l".into(),
    };
    refused_lock(
        net,
        &ALICE,
        &with_op(repay),
        "a loan application locks a transfer",
    );
    let mut two_ops = good.clone();
    two_ops.ops.push(good.ops[0].clone());
    refused_lock(net, &ALICE, &two_ops, "exactly one operation, it holds 2");
    refused_lock(
        net,
        &ALICE,
        &loan_lock(loan_event(&ALICE, Application { amount: 0, ..GOOD }, "0")),
        "must be positive",
    );

    // The keys may come in any order; the same lock twice is one lock.
    let mut reordered = good.clone();
    reordered.keys.reverse();
    let r = lock(net, &ALICE, &reordered);
    net.tx::<LockRecord>(&ALICE, "cancel_lock", &[&r.lock_id]);
    let r = lock(net, &ALICE, &good);
    net.tx::<LockRecord>(&ALICE, "cancel_lock", &[&r.lock_id]);
    refused_lock(
        net,
        &ALICE,
        &good,
        &format!("lock {} already exists", r.lock_id),
    );

    // Refunds name an issued loan of the customer's, repaid to its funder.
    let carols = lock_and_unlock(net, &CAROL, &loan_lock(loan_event(&CAROL, GOOD, "c"))).lock_id;
    let refund = |loan: &str, amount: u64| refund_lock(refund_event(&ALICE, loan, amount, "r"));
    refused_lock(
        net,
        &ALICE,
        &refund("nope", 100),
        "loan nope does not exist",
    );
    refused_lock(
        net,
        &ALICE,
        &refund(&carols, 100),
        &format!("loan {carols} does not belong to customer"),
    );
    let fresh = loan_lock(loan_event(&ALICE, GOOD, "y"));
    let alices = lock_and_unlock(net, &ALICE, &fresh).lock_id;
    let mut wrong_payee = refund(&alices, 100);
    if let Operation::Repay { to, .. } = &mut wrong_payee.ops[0] {
        *to = CAD.id();
    }
    refused_lock(
        net,
        &ALICE,
        &wrong_payee,
        "to the bank account that funded it",
    );
    let mut not_fd = refund(&alices, 100);
    if let Operation::Repay { from, .. } = &mut not_fd.ops[0] {
        *from = BANK.id();
    }
    refused_lock(net, &ALICE, &not_fd, "must come from an FD account");
    let mut other_asset = refund(&alices, 100);
    if let Operation::Repay { issuer, .. } = &mut other_asset.ops[0] {
        *issuer = FD.id();
    }
    refused_lock(
        net,
        &ALICE,
        &other_asset,
        &format!("in the asset it was lent in (issuer {})", BANK.id()),
    );
    let mut with_cad = refund(&alices, 100);
    with_cad.keys.push(CAD.oracle_key(Role::Cad));
    refused_lock(
        net,
        &ALICE,
        &with_cad,
        "exactly one oracle key of each granting role (bank, fd)",
    );
    lock(net, &ALICE, &refund(&alices, 100));
    let second = refund_lock(refund_event(&ALICE, &alices, 100, "r2"));
    refused_lock(
        net,
        &ALICE,
        &second,
        "a refund application is pending for loan",
    );
}

/// A lock pays only from the account of its own oracle of the paying role:
/// a loan from the bank oracle's account, a refund from the FD oracle's.
/// Another member's account of the same org is refused, even registered
/// as an oracle itself, until the lock names that member's key.
pub(crate) fn payers_grant_their_payments(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    for (m, role) in [(TELLER, Role::Bank), (CLERK, Role::Fd)] {
        net.tx::<Account>(&m, "open_account", &[&format!("bank-account-{}", m.name)]);
        let key: OracleKey = net.tx(
            &admin_of(role),
            "register_oracle",
            &[role.as_str(), &m.id()],
        );
        assert_eq!(key, m.oracle_key(role));
    }
    issue(net, &TELLER, 50_000, "teller");
    issue(net, &CLERK, 5_000, "clerk");

    // The teller's money, the bank oracle's verdict: refused.
    let mut teller_pays = loan_lock(loan_event(&ALICE, GOOD, "t"));
    if let Operation::Transfer { from, .. } = &mut teller_pays.ops[0] {
        *from = TELLER.id();
    }
    let bank_only = format!(
        "the money comes from bank account {}, which pays only on its own verdict: the lock's \
         bank oracle key must be {}, it names {}",
        TELLER.id(),
        TELLER.id(),
        BANK.id()
    );
    refused_lock(net, &ALICE, &teller_pays, &bank_only);
    // Named as the bank oracle, the teller lends from its own account.
    for key in &mut teller_pays.keys {
        if key.role == Role::Bank {
            *key = TELLER.oracle_key(Role::Bank);
        }
    }
    let loan = lock(net, &ALICE, &teller_pays);
    let code = unlock_with(net, &ALICE, &loan.lock_id, &teller_pays, &[TELLER, CAD, FD]);
    assert_eq!(code, 0, "the teller's verdict unlocks the teller's loan");
    assert_eq!(balance(net, &TELLER), 50_000 - GOOD.amount);
    assert_eq!(
        balance(net, &BANK),
        BANK_FUNDS,
        "the bank oracle's account is untouched"
    );

    // The clerk's money, the FD oracle's verdict: refused; the clerk's own: taken.
    net.now_ms += THIRTY_DAYS_MS * u64::from(GOOD.months) + 1;
    let refund = |payer: Member, oracle: Member| {
        let mut l = refund_lock(refund_event(&ALICE, &loan.lock_id, 100, "r"));
        if let Operation::Repay { from, to, .. } = &mut l.ops[0] {
            *from = payer.id();
            *to = TELLER.id();
        }
        l.keys = vec![TELLER.oracle_key(Role::Bank), oracle.oracle_key(Role::Fd)];
        l
    };
    refused_lock(
        net,
        &ALICE,
        &refund(CLERK, FD),
        &format!(
            "the money comes from fd account {}, which pays only on its own verdict: the lock's \
             fd oracle key must be {}, it names {}",
            CLERK.id(),
            CLERK.id(),
            FD.id()
        ),
    );
    refused_lock(
        net,
        &ALICE,
        &refund(FD, CLERK),
        &format!(
            "the lock's fd oracle key must be {}, it names {}",
            FD.id(),
            CLERK.id()
        ),
    );
    let by_clerk = refund(CLERK, CLERK);
    let r = lock(net, &ALICE, &by_clerk);
    assert_eq!(
        unlock_with(net, &ALICE, &r.lock_id, &by_clerk, &[TELLER, CLERK]),
        0
    );
    assert_eq!(balance(net, &CLERK), 5_000 - 100);
    assert_eq!(
        balance(net, &FD),
        FD_FUNDS,
        "the FD oracle's account is untouched"
    );
}

/// Asks each of `lock`'s oracles — the member of `members` whose key the
/// lock names — for its verdict, and unlocks with their signatures; the
/// unlock's code.
fn unlock_with(
    net: &mut Net<'_, '_>,
    customer: &Member,
    lock_id: &str,
    lock: &loc::Lock,
    members: &[Member],
) -> u8 {
    let mut sigs = Vec::new();
    for key in &lock.keys {
        let Some(m) = members.iter().find(|m| m.id() == key.public_key) else {
            panic!("no member holds the {} key {}", key.role, key.public_key);
        };
        let report: loc::OracleReport =
            net.query(m, "oracle", &[lock_id, key.role.as_str(), "false"]);
        let signature = m.sign(&loc::statement_signing_bytes(&report.statement));
        sigs.push((key.clone(), report.statement, signature));
    }
    let code = loc::UnlockingCode::new(&lock.event, &sigs);
    unlock(net, customer, lock_id, &code).code
}

pub(crate) fn bad_calls(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    net.fails(&ALICE, Tx, "borrow", &[], "unknown function \"borrow\"");
    net.fails(
        &ALICE,
        Tx,
        "unlock",
        &["x", "{\"items\":[]}"],
        "unlock takes 1 argument(s) (lock_id), got 2",
    );
    // The lock and the unlocking code are private: they come in the
    // transient map, never as arguments (which every peer's blocks keep).
    net.fails(&ALICE, Tx, "lock", &["{}"], "lock takes 0 argument(s)");
    net.fails(
        &ALICE,
        Tx,
        "lock",
        &[],
        "the lock goes in the transient map under `lock`",
    );
    net.lock_fails(&ALICE, "not json", "the lock is not valid JSON");
    net.unlock_fails(
        &ALICE,
        Tx,
        "nope",
        "{\"items\":[]}",
        "lock nope does not exist",
    );
    net.fails(
        &BANK,
        Tx,
        "issue",
        &[&ALICE.id(), "-5", "{}"],
        "issue: argument `amount` is not valid",
    );
    net.fails(
        &ALICE,
        Tx,
        "cancel_lock",
        &["nope"],
        "lock nope does not exist",
    );
}
