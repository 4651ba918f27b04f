//! LoC scenarios written against a bare call function, so the same checks
//! run natively (`native.rs`, through `MockContext`) and against the built
//! `.wasm` on the node's runtime (`node/tests/loc.rs`): a runner only has to
//! provide `call`. Each scenario expects an empty ledger of its own. Another
//! test crate reuses them with `#[path = "scenarios/mod.rs"] mod scenarios;`.
#![allow(dead_code)]

mod access;
mod accounts;
mod loans;
mod unlocking;
pub(crate) mod world;

pub(crate) use world::Member;

/// Whether a call is submitted (and committed on success) or evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Submitted: writes are committed when it succeeds.
    Tx,
    /// Evaluated: writes are refused.
    Query,
}

/// One call of the contract.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// Who calls: org, member name and public key (`caller.public_key()`).
    pub(crate) caller: &'a Member,
    /// Submit or evaluate.
    pub(crate) kind: Kind,
    /// The function.
    pub(crate) function: &'a str,
    /// Its arguments.
    pub(crate) args: &'a [&'a str],
    /// Its transient map: `(key, value)`.
    pub(crate) transient: &'a [(&'a str, &'a str)],
    /// The transaction's timestamp, unix milliseconds.
    pub(crate) now_ms: u64,
}

/// The chaincode's answer: the JSON payload as text, or the error message.
pub(crate) type Reply = Result<String, String>;

/// What a runner provides.
pub(crate) type Runner<'r> = dyn FnMut(&Call<'_>) -> Reply + 'r;

/// A scenario: calls through the runner and asserts on the replies.
pub(crate) type Scenario = fn(&mut Runner<'_>);

/// Every scenario, by name.
pub(crate) const SCENARIOS: &[(&str, Scenario)] = &[
    ("configure_once", accounts::configure_once),
    ("accounts_and_connectors", accounts::accounts_and_connectors),
    ("issuance_replay", accounts::issuance_replay),
    ("oracle_registration", accounts::oracle_registration),
    ("loan_refund_new_loan", loans::loan_refund_new_loan),
    ("backdated_unlock", loans::backdated_unlock),
    ("second_loan_refused", loans::second_loan_refused),
    ("pending_application", loans::pending_application),
    ("loan_terms_via_oracle", loans::loan_terms_via_oracle),
    ("refund_terms_via_oracle", loans::refund_terms_via_oracle),
    ("blacklist_exception", loans::blacklist_exception),
    (
        "forged_oracle_signature",
        unlocking::forged_oracle_signature,
    ),
    ("failed_verdict", unlocking::failed_verdict),
    ("tampered_event", unlocking::tampered_event),
    ("wrong_item_types", unlocking::wrong_item_types),
    (
        "replayed_unlocking_code",
        unlocking::replayed_unlocking_code,
    ),
    ("insufficient_funds", unlocking::insufficient_funds),
    ("revoked_oracle_key", unlocking::revoked_oracle_key),
    ("loan_permissions", access::loan_permissions),
    ("inspect_permissions", access::inspect_permissions),
    ("bad_locks", access::bad_locks),
    (
        "payers_grant_their_payments",
        access::payers_grant_their_payments,
    ),
    ("bad_calls", access::bad_calls),
];
