//! The loan and refund flows, and the oracles' terms through the `oracle` query.

use loc::{Loan, LoanStatus, LockRecord, LockStatus, Role, THIRTY_DAYS_MS, Term, Verdict};
use serde_json::Value;

use super::Kind::{Query, Tx};
use super::Runner;
use super::world::*;

pub(crate) fn loan_refund_new_loan(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    let l = loan_lock(loan_event(&ALICE, GOOD, "1"));
    let r = lock(net, &ALICE, &l);
    let rec: LockRecord = net.query(&ALICE, "get_lock", &[&r.lock_id]);
    assert_eq!(
        (rec.status, rec.closed_tx.as_deref()),
        (LockStatus::Locked, None)
    );
    // Public state keeps the operations, the keys and the event's id, not
    // the event.
    assert_eq!(
        rec,
        LockRecord::locked(
            &l,
            r.lock_id.clone(),
            r.event_id.clone(),
            rec.locked_tx.clone()
        )
    );
    assert_eq!(balance(net, &ALICE), 0, "locked, not paid");
    let code = grant(net, &l, &r);
    let issued_at = net.now_ms;
    let res = unlock(net, &ALICE, &r.lock_id, &code);
    assert_eq!((res.code, res.lock_id.as_str()), (0, r.lock_id.as_str()));
    assert!(res.meaning.starts_with("unlocked"), "{}", res.meaning);
    assert_eq!(balance(net, &ALICE), 10_000);
    assert_eq!(balance(net, &BANK), BANK_FUNDS - 10_000);
    let loan: Loan = net.query(&ALICE, "query_loan", &[&ALICE.id()]);
    assert_eq!(
        loan,
        Loan {
            id: r.lock_id.clone(),
            customer: ALICE.id(),
            amount: 10_000,
            months: 12,
            bank_account: BANK.id(),
            issuer: BANK.id(),
            issued_at_ms: issued_at,
            status: LoanStatus::Issued,
            refund_lock: None,
        }
    );
    let rec: LockRecord = net.query(&ALICE, "get_lock", &[&r.lock_id]);
    assert_eq!(rec.status, LockStatus::Unlocked);
    assert!(rec.closed_tx.is_some());

    // Twelve months later: the interest subsidy, 5 % of 10 000.
    net.now_ms += 12 * THIRTY_DAYS_MS;
    let rl = refund_lock(refund_event(&ALICE, &loan.id, 500, "r1"));
    let rr = lock_and_unlock(net, &ALICE, &rl);
    assert_eq!(balance(net, &FD), FD_FUNDS - 500);
    assert_eq!(balance(net, &BANK), BANK_FUNDS - 10_000 + 500);
    assert_eq!(balance(net, &ALICE), 10_000);
    let refunded: Loan = net.query(&BANK, "query_loan", &[&ALICE.id()]);
    assert_eq!(refunded.status, LoanStatus::Refunded);
    assert_eq!(refunded.refund_lock.as_deref(), Some(rr.lock_id.as_str()));
    let again = refund_lock(refund_event(&ALICE, &loan.id, 500, "r2"));
    net.lock_fails(&ALICE, &json(&again), "is already refunded");

    // And a new loan.
    let l2 = loan_lock(loan_event(
        &ALICE,
        Application {
            amount: 20_000,
            ..GOOD
        },
        "2",
    ));
    let r2 = lock_and_unlock(net, &ALICE, &l2);
    let current: Loan = net.query(&ALICE, "query_loan", &[&ALICE.id()]);
    assert_eq!(
        (current.id.as_str(), current.amount),
        (r2.lock_id.as_str(), 20_000)
    );
    assert_eq!(current.status, LoanStatus::Issued);
    assert_eq!(balance(net, &ALICE), 30_000);
    let loans: Vec<Value> = net.query(&REG, "inspect_all", &["loan"]);
    assert_eq!(loans.len(), 2, "the regulator sees both loans");
}

/// A customer chooses its transactions' timestamps: an unlock dated years
/// back must not issue a loan that has expired already (its refund would
/// free the customer to borrow again at once).
pub(crate) fn backdated_unlock(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    let l = loan_lock(loan_event(&ALICE, GOOD, "1"));
    let r = lock(net, &ALICE, &l);
    let judged_at = net.now_ms;
    let code = grant(net, &l, &r);
    // Claiming the bank judged earlier breaks its signature: code 1.
    let mut earlier = code.clone();
    earlier.items[1]["at_ms"] = Value::from(judged_at - 24 * THIRTY_DAYS_MS);
    let res = unlock(net, &ALICE, &r.lock_id, &earlier);
    assert_eq!(res.code, 1, "{}", res.meaning);
    assert!(
        res.meaning
            .contains("the bank oracle's signature does not verify"),
        "{}",
        res.meaning
    );
    // The unlock itself dated two years back.
    net.now_ms = judged_at - 24 * THIRTY_DAYS_MS;
    let res = unlock(net, &ALICE, &r.lock_id, &code);
    assert_eq!(res.code, 0, "{}", res.meaning);
    let loan: Loan = net.query(&ALICE, "query_loan", &[&ALICE.id()]);
    assert_eq!(loan.issued_at_ms, judged_at, "issued when the bank judged");
    // So the bank refuses the refund until the loan has run its months.
    net.now_ms = judged_at + 1_000;
    let rl = refund_lock(refund_event(&ALICE, &loan.id, 500, "r1"));
    let rr = lock(net, &ALICE, &rl);
    let bank = report(net, &rr.lock_id, Role::Bank);
    assert_eq!(bank.statement.verdict, Verdict::Failed);
    assert_eq!(
        bank.failed_terms,
        vec![
            Term::LoanNotExpired {
                loan: loan.id.clone(),
                expires_at_ms: judged_at + 12 * THIRTY_DAYS_MS,
                now_ms: judged_at + 1_000,
            }
            .to_string()
        ]
    );
    // An unlock dated later than the bank's pass counts from its own time.
    net.tx::<LockRecord>(&ALICE, "cancel_lock", &[&rr.lock_id]);
    let lc = loan_lock(loan_event(&CAROL, GOOD, "c"));
    let rc = lock(net, &CAROL, &lc);
    let code = grant(net, &lc, &rc);
    net.now_ms += 5_000;
    assert_eq!(unlock(net, &CAROL, &rc.lock_id, &code).code, 0);
    let carols: Loan = net.query(&CAROL, "query_loan", &[&CAROL.id()]);
    assert_eq!(carols.issued_at_ms, net.now_ms);
}

pub(crate) fn second_loan_refused(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    let first = lock_and_unlock(net, &ALICE, &loan_lock(loan_event(&ALICE, GOOD, "1")));
    let second = loan_lock(loan_event(
        &ALICE,
        Application {
            amount: 1_000,
            ..GOOD
        },
        "2",
    ));
    net.lock_fails(
        &ALICE,
        &json(&second),
        "a loan is already issued to customer",
    );
    net.lock_fails(&ALICE, &json(&second), &first.lock_id);
    assert_eq!(balance(net, &ALICE), 10_000);
    // A loan of no months would expire as it is issued: refused at the lock.
    let no_months = loan_lock(loan_event(&CAROL, Application { months: 0, ..GOOD }, "0"));
    net.lock_fails(
        &CAROL,
        &json(&no_months),
        "a loan must last at least one month",
    );
    lock_and_unlock(net, &CAROL, &loan_lock(loan_event(&CAROL, GOOD, "1")));
    assert_eq!(
        balance(net, &CAROL),
        10_000,
        "another customer is not affected"
    );
}

pub(crate) fn pending_application(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    let l1 = loan_lock(loan_event(&ALICE, GOOD, "1"));
    let r1 = lock(net, &ALICE, &l1);
    let l2 = loan_lock(loan_event(&ALICE, GOOD, "2"));
    net.lock_fails(
        &ALICE,
        &json(&l2),
        "a loan application is pending for customer",
    );
    net.fails(
        &CAROL,
        Tx,
        "cancel_lock",
        &[&r1.lock_id],
        "permission denied",
    );
    net.fails(
        &BANK,
        Tx,
        "cancel_lock",
        &[&r1.lock_id],
        "permission denied",
    );
    let cancelled: LockRecord = net.tx(&ALICE, "cancel_lock", &[&r1.lock_id]);
    assert_eq!(cancelled.status, LockStatus::Cancelled);
    net.fails(
        &ALICE,
        Tx,
        "cancel_lock",
        &[&r1.lock_id],
        "is no longer locked (it was cancelled in tx",
    );
    net.unlock_fails(&ALICE, Tx, &r1.lock_id, "{\"items\":[]}", "was cancelled");
    net.fails(
        &BANK,
        Query,
        "oracle",
        &[&r1.lock_id, "bank", "false"],
        "no longer locked",
    );
    net.lock_fails(
        &ALICE,
        &json(&l1),
        &format!("lock {} already exists", r1.lock_id),
    );
    lock_and_unlock(net, &ALICE, &l2);
    assert_eq!(balance(net, &ALICE), 10_000);
}

/// `application`'s failed terms per oracle role (bank, cad, fd).
fn expect_terms(
    net: &mut Net<'_, '_>,
    customer: &Member,
    nonce: &str,
    app: Application,
    expected: [Vec<Term>; 3],
) {
    let l = loan_lock(loan_event(customer, app, nonce));
    let r = lock(net, customer, &l);
    for (role, terms) in Role::ORACLES.into_iter().zip(expected) {
        let report = report(net, &r.lock_id, role);
        let words: Vec<String> = terms.iter().map(ToString::to_string).collect();
        assert_eq!(report.failed_terms, words, "{role} on {app:?}");
        let verdict = if terms.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Failed
        };
        assert_eq!(report.statement.verdict, verdict, "{role} on {app:?}");
        assert_eq!(report.statement.role, role);
    }
    net.tx::<LockRecord>(customer, "cancel_lock", &[&r.lock_id]);
}

pub(crate) fn loan_terms_via_oracle(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    let none = Vec::new;
    let cases = [
        (
            Application {
                amount: 60_000,
                ..GOOD
            },
            Term::AmountAboveLimit {
                amount: 60_000,
                limit: 50_000,
            },
            0,
        ),
        (
            Application { months: 48, ..GOOD },
            Term::MonthsAboveMax {
                months: 48,
                max: 36,
            },
            0,
        ),
        (
            Application {
                income: 500,
                ..GOOD
            },
            Term::IncomeBelowMin {
                income: 500,
                min: 1_000,
            },
            0,
        ),
        (
            Application {
                income: 40_000,
                ..GOOD
            },
            Term::IncomeAboveMax {
                income: 40_000,
                max: 30_000,
            },
            1,
        ),
        (
            Application { asset: 500, ..GOOD },
            Term::AssetBelowMin {
                asset: 500,
                min: 1_000,
            },
            0,
        ),
        (
            Application {
                asset: 600_000,
                ..GOOD
            },
            Term::AssetAboveMax {
                asset: 600_000,
                max: 500_000,
            },
            1,
        ),
        (
            Application {
                debt: 25_000,
                ..GOOD
            },
            Term::DebtAboveMax {
                debt: 25_000,
                max: 20_000,
            },
            0,
        ),
    ];
    for (i, (app, term, role_index)) in cases.into_iter().enumerate() {
        let mut expected = [none(), none(), none()];
        expected[role_index] = vec![term];
        expect_terms(net, &ALICE, &format!("case-{i}"), app, expected);
    }
    expect_terms(net, &ALICE, "good", GOOD, [none(), none(), none()]);
    // The boundaries pass: each limit is inclusive.
    let edge = Application {
        amount: 50_000,
        months: 36,
        income: 1_000,
        asset: 1_000,
        debt: 20_000,
    };
    expect_terms(net, &ALICE, "edge", edge, [none(), none(), none()]);
    // Mallory never opened an account: no oracle recognises the customer.
    let id = || vec![Term::IdentityMismatch];
    expect_terms(net, &MALLORY, "who", GOOD, [id(), id(), id()]);

    // Who may ask which oracle.
    let r = lock(net, &ALICE, &loan_lock(loan_event(&ALICE, GOOD, "perm")));
    let id = r.lock_id.as_str();
    net.fails(
        &ALICE,
        Query,
        "oracle",
        &[id, "bank", "false"],
        "permission denied",
    );
    net.fails(
        &BANK,
        Query,
        "oracle",
        &[id, "cad", "false"],
        "permission denied",
    );
    net.fails(
        &ALICE,
        Query,
        "oracle",
        &[id, "customer", "false"],
        "the customer does not judge lock",
    );
    net.fails(
        &REG,
        Query,
        "oracle",
        &[id, "regulator", "false"],
        "the regulator does not judge lock",
    );
    net.fails(
        &BANK,
        Query,
        "oracle",
        &["nope", "bank", "false"],
        "lock nope does not exist",
    );
}

pub(crate) fn refund_terms_via_oracle(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    let issued_at = net.now_ms;
    let loan = lock_and_unlock(net, &ALICE, &loan_lock(loan_event(&ALICE, GOOD, "1"))).lock_id;
    let expires_at_ms = issued_at + 12 * THIRTY_DAYS_MS;
    net.now_ms = expires_at_ms - 1;
    let early = refund_lock(refund_event(&ALICE, &loan, 600, "r1"));
    let r = lock(net, &ALICE, &early);
    let bank = report(net, &r.lock_id, Role::Bank);
    let not_expired = Term::LoanNotExpired {
        loan: loan.clone(),
        expires_at_ms,
        now_ms: expires_at_ms - 1,
    };
    assert_eq!(bank.failed_terms, vec![not_expired.to_string()]);
    assert_eq!(bank.statement.verdict, Verdict::Failed);
    let fd = report(net, &r.lock_id, Role::Fd);
    assert_eq!(
        fd.failed_terms,
        vec![
            Term::SubsidyAboveMax {
                amount: 600,
                max: 500
            }
            .to_string()
        ]
    );
    net.fails(
        &CAD,
        Query,
        "oracle",
        &[&r.lock_id, "cad", "false"],
        "the cad does not judge lock",
    );
    let blacklisted = report_with(net, &r.lock_id, Role::Fd, true);
    assert_eq!(blacklisted.failed_terms.len(), 2);
    assert_eq!(
        blacklisted.failed_terms[1],
        Term::Blacklisted { role: Role::Fd }.to_string()
    );
    net.tx::<LockRecord>(&ALICE, "cancel_lock", &[&r.lock_id]);

    // Expired exactly now, and at most the subsidy: both pass.
    net.now_ms = expires_at_ms;
    lock_and_unlock(
        net,
        &ALICE,
        &refund_lock(refund_event(&ALICE, &loan, 500, "r2")),
    );
    let refunded: Loan = net.query(&ALICE, "query_loan", &[&ALICE.id()]);
    assert_eq!(refunded.status, LoanStatus::Refunded);
}

pub(crate) fn blacklist_exception(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    let l = loan_lock(loan_event(&ALICE, GOOD, "1"));
    let r = lock(net, &ALICE, &l);
    for role in Role::ORACLES {
        let listed = report_with(net, &r.lock_id, role, true);
        assert_eq!(
            listed.failed_terms,
            vec![Term::Blacklisted { role }.to_string()]
        );
        assert!(listed.failed_terms[0].contains("blacklisted"));
        assert_eq!(listed.statement.verdict, Verdict::Failed);
        let clear = report_with(net, &r.lock_id, role, false);
        assert_eq!(clear.statement.verdict, Verdict::Pass);
    }
    net.fails(
        &BANK,
        Query,
        "oracle",
        &[&r.lock_id, "bank", "maybe"],
        "oracle: argument `exception` is not valid",
    );
}
