//! The oracles' terms (Algorithm 2 and Table 3 of the paper) as a pure
//! function: [`oracle_terms`] takes a role, the deployment's [`Terms`], the
//! event and the [`Facts`] read from the ledger, and returns the terms that
//! fail. The `oracle` query gathers the facts; anyone can re-run the
//! evaluation from them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{EventBody, Loan, LoanStatus, Role, Terms, Verdict};

/// What the ledger says about an event's customer when an oracle judges it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// The event's signature verifies and the customer's account exists
    /// and belongs to the customer org.
    pub identity_matches: bool,
    /// The customer has a loan issued and not refunded.
    pub loan_issued_before: bool,
    /// The role's exception flag is 0: the customer is blacklisted.
    pub exception: bool,
    /// For a refund, the loan it names (`None` if there is none); for a loan
    /// application, the customer's current loan.
    pub loan: Option<Loan>,
    /// The time of the evaluation, unix milliseconds.
    pub now_ms: u64,
}

/// A term that failed, with the numbers that made it fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "term", rename_all = "snake_case")]
pub enum Term {
    /// The event's signature, or the customer's account, does not check out.
    IdentityMismatch,
    /// `l > loan_limit`.
    AmountAboveLimit {
        /// Applied for.
        amount: u64,
        /// The limit.
        limit: u64,
    },
    /// `d > month_max`.
    MonthsAboveMax {
        /// Applied for.
        months: u32,
        /// The maximum.
        max: u32,
    },
    /// `income < income_min`.
    IncomeBelowMin {
        /// Declared.
        income: u64,
        /// The minimum.
        min: u64,
    },
    /// `income > income_max`.
    IncomeAboveMax {
        /// Declared.
        income: u64,
        /// The maximum.
        max: u64,
    },
    /// `asset < asset_min`.
    AssetBelowMin {
        /// Declared.
        asset: u64,
        /// The minimum.
        min: u64,
    },
    /// `asset > asset_max`.
    AssetAboveMax {
        /// Declared.
        asset: u64,
        /// The maximum.
        max: u64,
    },
    /// `debt > debt_max`.
    DebtAboveMax {
        /// Declared.
        debt: u64,
        /// The maximum.
        max: u64,
    },
    /// The customer already has a loan issued and not refunded.
    LoanIssuedBefore,
    /// The role's exception flag is 0 (the customer is blacklisted).
    Blacklisted {
        /// Whose flag.
        role: Role,
    },
    /// The refund names a loan that does not exist.
    NoSuchLoan {
        /// The loan id.
        loan: String,
    },
    /// The refund names another customer's loan.
    NotTheCustomersLoan {
        /// The loan id.
        loan: String,
        /// Its customer.
        owner: String,
    },
    /// The loan was refunded already.
    LoanAlreadyRefunded {
        /// The loan id.
        loan: String,
    },
    /// The refund asks for more than the subsidy rate allows.
    SubsidyAboveMax {
        /// Asked for.
        amount: u64,
        /// `loan.amount * subsidy_rate_bp / 10_000`.
        max: u64,
    },
    /// The loan has not run its term yet.
    LoanNotExpired {
        /// The loan id.
        loan: String,
        /// When it expires.
        expires_at_ms: u64,
        /// Now.
        now_ms: u64,
    },
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::IdentityMismatch => write!(
                f,
                "the customer's identity does not match (bad event signature, or no customer account)"
            ),
            Term::AmountAboveLimit { amount, limit } => {
                write!(f, "amount {amount} is above the loan limit {limit}")
            }
            Term::MonthsAboveMax { months, max } => {
                write!(f, "duration {months} months is above the maximum {max}")
            }
            Term::IncomeBelowMin { income, min } => {
                write!(f, "income {income} is below the minimum {min}")
            }
            Term::IncomeAboveMax { income, max } => {
                write!(f, "income {income} is above the maximum {max}")
            }
            Term::AssetBelowMin { asset, min } => {
                write!(f, "asset {asset} is below the minimum {min}")
            }
            Term::AssetAboveMax { asset, max } => {
                write!(f, "asset {asset} is above the maximum {max}")
            }
            Term::DebtAboveMax { debt, max } => {
                write!(f, "debt {debt} is above the maximum {max}")
            }
            Term::LoanIssuedBefore => {
                write!(f, "the customer already has a loan issued and not refunded")
            }
            Term::Blacklisted { role } => {
                write!(
                    f,
                    "the customer is blacklisted by the {role} (exception flag 0)"
                )
            }
            Term::NoSuchLoan { loan } => write!(f, "loan {loan} does not exist"),
            Term::NotTheCustomersLoan { loan, owner } => {
                write!(f, "loan {loan} belongs to another customer ({owner})")
            }
            Term::LoanAlreadyRefunded { loan } => write!(f, "loan {loan} is already refunded"),
            Term::SubsidyAboveMax { amount, max } => {
                write!(f, "refund {amount} is above the maximum subsidy {max}")
            }
            Term::LoanNotExpired {
                loan,
                expires_at_ms,
                now_ms,
            } => write!(
                f,
                "loan {loan} has not expired: it runs until {expires_at_ms} ms, now is {now_ms} ms"
            ),
        }
    }
}

/// The verdict of a list of failed terms: pass when it is empty.
pub fn verdict_of(failed: &[Term]) -> Verdict {
    if failed.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Failed
    }
}

/// The largest refund `terms` allow for a loan of `loan_amount`.
pub fn max_subsidy(terms: &Terms, loan_amount: u64) -> u64 {
    let max = u128::from(loan_amount) * u128::from(terms.subsidy_rate_bp) / 10_000;
    u64::try_from(max).unwrap_or(u64::MAX)
}

/// The terms `role` checks for `event` that fail, in Table 3's order; empty
/// means the role's verdict is pass. Roles that judge nothing for this kind
/// of event (the customer, the regulator; the CAD for a refund) check only
/// the exception flag.
pub fn oracle_terms(role: Role, terms: &Terms, event: &EventBody, facts: &Facts) -> Vec<Term> {
    let mut failed = match event {
        EventBody::LoanApplication {
            amount,
            months,
            income,
            asset,
            debt,
            ..
        } => loan_terms(role, terms, facts, *amount, *months, *income, *asset, *debt),
        EventBody::RefundApplication {
            customer,
            loan,
            amount,
            ..
        } => refund_terms(role, terms, facts, customer, loan, *amount),
    };
    if facts.exception {
        failed.push(Term::Blacklisted { role });
    }
    failed
}

#[allow(clippy::too_many_arguments)]
fn loan_terms(
    role: Role,
    terms: &Terms,
    facts: &Facts,
    amount: u64,
    months: u32,
    income: u64,
    asset: u64,
    debt: u64,
) -> Vec<Term> {
    let bank = role == Role::Bank;
    let cad = role == Role::Cad;
    let judges = matches!(role, Role::Bank | Role::Cad | Role::Fd);
    let mut failed = Vec::new();
    if judges && !facts.identity_matches {
        failed.push(Term::IdentityMismatch);
    }
    if bank && amount > terms.loan_limit {
        failed.push(Term::AmountAboveLimit {
            amount,
            limit: terms.loan_limit,
        });
    }
    if bank && months > terms.month_max {
        failed.push(Term::MonthsAboveMax {
            months,
            max: terms.month_max,
        });
    }
    if bank && income < terms.income_min {
        failed.push(Term::IncomeBelowMin {
            income,
            min: terms.income_min,
        });
    }
    if cad && income > terms.income_max {
        failed.push(Term::IncomeAboveMax {
            income,
            max: terms.income_max,
        });
    }
    if bank && asset < terms.asset_min {
        failed.push(Term::AssetBelowMin {
            asset,
            min: terms.asset_min,
        });
    }
    if cad && asset > terms.asset_max {
        failed.push(Term::AssetAboveMax {
            asset,
            max: terms.asset_max,
        });
    }
    if bank && debt > terms.debt_max {
        failed.push(Term::DebtAboveMax {
            debt,
            max: terms.debt_max,
        });
    }
    if judges && facts.loan_issued_before {
        failed.push(Term::LoanIssuedBefore);
    }
    failed
}

fn refund_terms(
    role: Role,
    terms: &Terms,
    facts: &Facts,
    customer: &str,
    loan_id: &str,
    amount: u64,
) -> Vec<Term> {
    let bank = role == Role::Bank;
    let fd = role == Role::Fd;
    if !(bank || fd) {
        return Vec::new();
    }
    let mut failed = Vec::new();
    if !facts.identity_matches {
        failed.push(Term::IdentityMismatch);
    }
    let loan = match &facts.loan {
        Some(loan) if loan.id == loan_id => loan,
        _ => {
            failed.push(Term::NoSuchLoan {
                loan: loan_id.to_string(),
            });
            return failed;
        }
    };
    if loan.customer != customer {
        failed.push(Term::NotTheCustomersLoan {
            loan: loan.id.clone(),
            owner: loan.customer.clone(),
        });
    }
    if loan.status != LoanStatus::Issued {
        failed.push(Term::LoanAlreadyRefunded {
            loan: loan.id.clone(),
        });
    }
    let max = max_subsidy(terms, loan.amount);
    if fd && amount > max {
        failed.push(Term::SubsidyAboveMax { amount, max });
    }
    let expires_at_ms = loan.expires_at_ms(terms.month_ms);
    if bank && facts.now_ms < expires_at_ms {
        failed.push(Term::LoanNotExpired {
            loan: loan.id.clone(),
            expires_at_ms,
            now_ms: facts.now_ms,
        });
    }
    failed
}
