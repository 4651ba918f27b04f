//! `oracle_terms` case by case: each term failing on its own, for exactly
//! the roles Table 3 gives it. Every case goes through `check`.
#![allow(clippy::unwrap_used)]

use loc::{EventBody, Facts, Loan, LoanStatus, Role, Term, Terms, Verdict, oracle_terms};

const CUSTOMER: &str = "c0";
const LOAN: &str = "l0";
const ISSUED_AT_MS: u64 = 1_000;

fn terms() -> Terms {
    Terms {
        asset_min: 1_000,
        month_ms: 10,
        ..Terms::default()
    }
}

/// Edits an application's `[amount, months, income, asset, debt]`.
type Change = fn(&mut [u64; 5]);

fn loan_event(change: impl FnOnce(&mut [u64; 5])) -> EventBody {
    // amount, months, income, asset, debt: all within the terms.
    let mut n = [10_000, 12, 8_000, 20_000, 5_000];
    change(&mut n);
    EventBody::LoanApplication {
        customer: CUSTOMER.into(),
        amount: n[0],
        months: u32::try_from(n[1]).unwrap(),
        income: n[2],
        asset: n[3],
        debt: n[4],
        nonce: "n".into(),
    }
}

fn refund_event(amount: u64) -> EventBody {
    EventBody::RefundApplication {
        customer: CUSTOMER.into(),
        loan: LOAN.into(),
        amount,
        nonce: "n".into(),
    }
}

fn loan() -> Loan {
    Loan {
        id: LOAN.into(),
        customer: CUSTOMER.into(),
        amount: 10_000,
        months: 12,
        bank_account: "b".into(),
        issuer: "b".into(),
        issued_at_ms: ISSUED_AT_MS,
        status: LoanStatus::Issued,
        refund_lock: None,
    }
}

/// Facts under which every term holds; the refund's loan has expired.
fn facts() -> Facts {
    Facts {
        identity_matches: true,
        loan_issued_before: false,
        exception: false,
        loan: Some(loan()),
        now_ms: ISSUED_AT_MS + 12 * 10,
    }
}

/// Asserts that `event` under `facts` fails exactly `failed` for each role
/// in `roles` and nothing for the other oracle roles.
fn check(event: &EventBody, facts: &Facts, roles: &[Role], failed: &[Term]) {
    for role in Role::ORACLES {
        let got = oracle_terms(role, &terms(), event, facts);
        let expected: &[Term] = if roles.contains(&role) { failed } else { &[] };
        assert_eq!(got, expected, "{role} on {event:?} with {facts:?}");
        let verdict = loc::verdict_of(&got);
        assert_eq!(verdict == Verdict::Pass, expected.is_empty());
    }
}

use Role::{Bank, Cad, Fd};

#[test]
fn a_good_application_passes_everywhere() {
    check(&loan_event(|_| {}), &facts(), &[], &[]);
    check(&refund_event(500), &facts(), &[], &[]);
}

#[test]
fn each_loan_term_fails_on_its_own() {
    let cases: [(Change, Role, Term); 7] = [
        (
            |n| n[0] = 50_001,
            Bank,
            Term::AmountAboveLimit {
                amount: 50_001,
                limit: 50_000,
            },
        ),
        (
            |n| n[1] = 37,
            Bank,
            Term::MonthsAboveMax {
                months: 37,
                max: 36,
            },
        ),
        (
            |n| n[2] = 999,
            Bank,
            Term::IncomeBelowMin {
                income: 999,
                min: 1_000,
            },
        ),
        (
            |n| n[2] = 30_001,
            Cad,
            Term::IncomeAboveMax {
                income: 30_001,
                max: 30_000,
            },
        ),
        (
            |n| n[3] = 999,
            Bank,
            Term::AssetBelowMin {
                asset: 999,
                min: 1_000,
            },
        ),
        (
            |n| n[3] = 500_001,
            Cad,
            Term::AssetAboveMax {
                asset: 500_001,
                max: 500_000,
            },
        ),
        (
            |n| n[4] = 20_001,
            Bank,
            Term::DebtAboveMax {
                debt: 20_001,
                max: 20_000,
            },
        ),
    ];
    for (change, role, term) in cases {
        check(&loan_event(change), &facts(), &[role], &[term]);
    }
}

#[test]
fn the_limits_are_inclusive() {
    let edge = loan_event(|n| *n = [50_000, 36, 1_000, 1_000, 20_000]);
    check(&edge, &facts(), &[], &[]);
    let edge = loan_event(|n| *n = [1, 1, 30_000, 500_000, 0]);
    check(&edge, &facts(), &[], &[]);
}

#[test]
fn identity_and_earlier_loans_fail_for_every_loan_oracle() {
    let event = loan_event(|_| {});
    let stranger = Facts {
        identity_matches: false,
        ..facts()
    };
    check(
        &event,
        &stranger,
        &[Bank, Cad, Fd],
        &[Term::IdentityMismatch],
    );
    let borrower = Facts {
        loan_issued_before: true,
        ..facts()
    };
    check(
        &event,
        &borrower,
        &[Bank, Cad, Fd],
        &[Term::LoanIssuedBefore],
    );
}

#[test]
fn the_exception_flag_fails_every_role() {
    let listed = Facts {
        exception: true,
        ..facts()
    };
    for event in [loan_event(|_| {}), refund_event(500)] {
        for role in Role::ALL {
            assert_eq!(
                oracle_terms(role, &terms(), &event, &listed),
                vec![Term::Blacklisted { role }],
                "{role}"
            );
        }
    }
}

#[test]
fn each_refund_term_fails_on_its_own() {
    let refund = refund_event(500);
    let stranger = Facts {
        identity_matches: false,
        ..facts()
    };
    check(&refund, &stranger, &[Bank, Fd], &[Term::IdentityMismatch]);
    let missing = Facts {
        loan: None,
        ..facts()
    };
    check(
        &refund,
        &missing,
        &[Bank, Fd],
        &[Term::NoSuchLoan { loan: LOAN.into() }],
    );
    let other_id = Facts {
        loan: Some(Loan {
            id: "l9".into(),
            ..loan()
        }),
        ..facts()
    };
    check(
        &refund,
        &other_id,
        &[Bank, Fd],
        &[Term::NoSuchLoan { loan: LOAN.into() }],
    );
    let theirs = Facts {
        loan: Some(Loan {
            customer: "c9".into(),
            ..loan()
        }),
        ..facts()
    };
    let not_yours = Term::NotTheCustomersLoan {
        loan: LOAN.into(),
        owner: "c9".into(),
    };
    check(&refund, &theirs, &[Bank, Fd], &[not_yours]);
    let refunded = Facts {
        loan: Some(Loan {
            status: LoanStatus::Refunded,
            ..loan()
        }),
        ..facts()
    };
    check(
        &refund,
        &refunded,
        &[Bank, Fd],
        &[Term::LoanAlreadyRefunded { loan: LOAN.into() }],
    );
    check(
        &refund_event(501),
        &facts(),
        &[Fd],
        &[Term::SubsidyAboveMax {
            amount: 501,
            max: 500,
        }],
    );
    let early = Facts {
        now_ms: ISSUED_AT_MS + 12 * 10 - 1,
        ..facts()
    };
    let not_expired = Term::LoanNotExpired {
        loan: LOAN.into(),
        expires_at_ms: ISSUED_AT_MS + 120,
        now_ms: ISSUED_AT_MS + 119,
    };
    check(&refund, &early, &[Bank], &[not_expired]);
}

#[test]
fn the_subsidy_never_overflows() {
    let t = Terms {
        subsidy_rate_bp: 10_000,
        ..terms()
    };
    assert_eq!(loc::max_subsidy(&t, u64::MAX), u64::MAX);
    assert_eq!(loc::max_subsidy(&terms(), 10_000), 500);
    assert_eq!(loc::max_subsidy(&terms(), 19), 0, "rounded down");
}

#[test]
fn terms_read_as_plain_words() {
    assert_eq!(
        Term::IncomeBelowMin {
            income: 500,
            min: 1000
        }
        .to_string(),
        "income 500 is below the minimum 1000"
    );
    assert_eq!(
        Term::Blacklisted { role: Fd }.to_string(),
        "the customer is blacklisted by the fd (exception flag 0)"
    );
}

#[test]
fn deployment_json_takes_default_terms() {
    let d: loc::Deployment = serde_json::from_str(
        r#"{"orgs":{"customer":"C","bank":"B","cad":"A","fd":"F","regulator":"R"},
            "terms":{"loan_limit":7}}"#,
    )
    .unwrap();
    assert_eq!(
        d.terms,
        Terms {
            loan_limit: 7,
            ..Terms::default()
        }
    );
    assert_eq!(d.orgs.role_of("A"), Some(Cad));
    assert_eq!(Terms::default().month_ms, 30 * 24 * 3600 * 1000);
}
