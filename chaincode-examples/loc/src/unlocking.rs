//! Algorithm 2 on the ledger (the `oracle` query gathers the [`Facts`]) and
//! Algorithm 3's `unlock`, which executes the operations when the stacks
//! match.

use std::collections::BTreeMap;

use weft_chaincode::{Context, Error, Result};

use crate::locking::{issued_loan_of, record_slot};
use crate::model::{
    Account, EventBody, Loan, LoanStatus, LockRecord, LockStatus, Operation, OracleReport,
    OracleStatement, Role, SignedEvent,
};
use crate::oracle::{Facts, oracle_terms, verdict_of};
use crate::signing::Crypto;
use crate::stacks::{UnlockCode, UnlockResult, UnlockingCode, evaluate};
use crate::store::{self, HostCrypto, UNLOCKING_CODE_TRANSIENT_KEY, caller_is, require};

pub(crate) fn oracle(
    ctx: &Context,
    lock_id: &str,
    role: &str,
    exception: bool,
) -> Result<OracleReport> {
    let d = store::deployment(ctx)?;
    let role: Role = role.parse()?;
    require(caller_is(ctx, &d, role), || {
        format!(
            "only a member of the {role} org ({}) runs the {role} oracle",
            d.orgs.org(role)
        )
    })?;
    let record = store::lock(ctx, lock_id)?;
    if !record.keys.iter().any(|k| k.role == role) {
        return Err(Error::new(format!(
            "the {role} does not judge lock {lock_id}: its oracles are {}",
            record
                .keys
                .iter()
                .map(|k| k.role.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if record.status != LockStatus::Locked {
        return Err(Error::new(format!(
            "lock {lock_id} is no longer locked: there is nothing to judge"
        )));
    }
    // The event itself is private: only the granting orgs' and the
    // regulator's peers hold it, and the oracles run there.
    let event = store::event_of(ctx, &record)?;
    let facts = facts(ctx, &d.orgs.customer, &event, exception)?;
    let failed = oracle_terms(role, &d.terms, &event.body, &facts);
    Ok(OracleReport {
        statement: OracleStatement {
            lock: record.lock_id.clone(),
            event: record.event_id.clone(),
            role,
            verdict: verdict_of(&failed),
            at_ms: facts.now_ms,
        },
        failed_terms: failed.iter().map(ToString::to_string).collect(),
    })
}

/// What the ledger says about `event`'s customer now.
fn facts(ctx: &Context, customer_org: &str, event: &SignedEvent, exception: bool) -> Result<Facts> {
    let body = &event.body;
    let customer = body.customer();
    let signed = HostCrypto(ctx).check_event(event).is_ok();
    let account_ok = store::account(ctx, customer)?
        .is_some_and(|a| a.org == customer_org && a.role == Role::Customer);
    let current = store::current_loan(ctx, customer)?;
    let loan_issued_before = current
        .as_ref()
        .is_some_and(|l| l.status == LoanStatus::Issued);
    let loan = match body {
        EventBody::LoanApplication { .. } => current,
        EventBody::RefundApplication { loan, .. } => store::loan(ctx, loan)?,
    };
    Ok(Facts {
        identity_matches: signed && account_ok,
        loan_issued_before,
        exception,
        loan,
        now_ms: ctx.timestamp_ms(),
    })
}

/// Algorithm 3. The unlocking code comes in the transient map (it carries
/// the private event); nothing private is read.
pub(crate) fn unlock(ctx: &mut Context, lock_id: &str) -> Result<UnlockResult> {
    store::deployment(ctx)?;
    // The call's own input first: a missing or malformed code is refused
    // as such, whatever the lock's state.
    let uc_json = store::transient(ctx, UNLOCKING_CODE_TRANSIENT_KEY, "the unlocking code")?;
    let code: UnlockingCode = serde_json::from_slice(&uc_json).map_err(|e| {
        Error::new(format!(
            "the unlocking code is not JSON of the form {{\"items\": [...]}}: {e}"
        ))
    })?;
    let mut record = store::lock(ctx, lock_id)?;
    match record.status {
        LockStatus::Locked => {}
        LockStatus::Unlocked => {
            return Err(Error::new(format!(
                "unlocking code already used: lock {lock_id} was unlocked in tx {}",
                record.closed_tx.as_deref().unwrap_or("?")
            )));
        }
        LockStatus::Cancelled => {
            return Err(Error::new(format!(
                "lock {lock_id} was cancelled in tx {}; it cannot be unlocked",
                record.closed_tx.as_deref().unwrap_or("?")
            )));
        }
    }
    for key in &record.keys {
        if !store::oracle_key_registered(ctx, key)? {
            return Ok(UnlockResult {
                code: UnlockCode::OracleCheckFailed.code(),
                meaning: format!(
                    "{}: the {} oracle key {} was revoked; cancel this lock and apply again",
                    UnlockCode::OracleCheckFailed.meaning(),
                    key.role,
                    key.public_key
                ),
                lock_id: record.lock_id,
            });
        }
    }
    // A granted lock releases all its operations: `record.ops`.
    let (bank_judged_at_ms, event) = match evaluate(&record, &code, &HostCrypto(ctx)) {
        Ok(granted) => (granted.judged_at_ms(Role::Bank).unwrap_or(0), granted.event),
        Err(rejected) => {
            return Ok(UnlockResult {
                code: rejected.code.code(),
                meaning: format!("{}: {}", rejected.code.meaning(), rejected.detail),
                lock_id: record.lock_id,
            });
        }
    };
    // The unlock's own timestamp is the customer's to choose: a loan is
    // never issued before the bank judged it, or a back-dated loan would
    // look expired at once and its refund would free the customer to
    // borrow again.
    let issued_at_ms = ctx.timestamp_ms().max(bank_judged_at_ms);
    execute(ctx, &record, &event.body, issued_at_ms)?;
    let (subject, kind) = record_slot(&record)?;
    store::delete(ctx, "open_lock", &[subject, kind])?;
    record.status = LockStatus::Unlocked;
    record.closed_tx = Some(ctx.tx_id().to_string());
    store::put_lock(ctx, &record)?;
    let result = UnlockResult {
        code: UnlockCode::Unlocked.code(),
        meaning: format!(
            "{}: {} operation(s) executed",
            UnlockCode::Unlocked.meaning(),
            record.ops.len()
        ),
        lock_id: record.lock_id,
    };
    ctx.set_event_json("Unlocked", &result)?;
    Ok(result)
}

/// Executes `record`'s operations (granted for the event `body`) all or
/// nothing: every balance is checked in memory before anything is written,
/// so an error writes nothing.
fn execute(
    ctx: &mut Context,
    record: &LockRecord,
    body: &EventBody,
    issued_at_ms: u64,
) -> Result<()> {
    let mut accounts: BTreeMap<String, Account> = BTreeMap::new();
    let mut loan_update: Option<Loan> = None;
    for op in &record.ops {
        let (from, to, issuer, amount) = op.movement();
        for id in [from, to] {
            if !accounts.contains_key(id) {
                accounts.insert(id.to_string(), store::account_or_err(ctx, id)?);
            }
        }
        debit(&mut accounts, from, issuer, amount)?;
        credit(&mut accounts, to, issuer, amount)?;
        loan_update = Some(match op {
            Operation::Transfer { .. } => new_loan(record, body, op, issued_at_ms)?,
            Operation::Repay { loan, .. } => {
                let mut loan = issued_loan_of(ctx, &record.customer, loan)?;
                loan.status = LoanStatus::Refunded;
                loan.refund_lock = Some(record.lock_id.clone());
                loan
            }
        });
    }
    for account in accounts.values() {
        store::put_account(ctx, account)?;
    }
    if let Some(loan) = loan_update {
        store::put_loan(ctx, &loan)?;
    }
    Ok(())
}

fn debit(
    accounts: &mut BTreeMap<String, Account>,
    id: &str,
    issuer: &str,
    amount: u64,
) -> Result<()> {
    let Some(account) = accounts.get_mut(id) else {
        return Err(Error::new(format!("account {id} does not exist")));
    };
    let held = account.balance(issuer);
    if held < amount {
        return Err(Error::new(format!(
            "insufficient funds: account {id} holds {held} of issuer {issuer}'s asset, needs {amount}"
        )));
    }
    account.balances.insert(issuer.to_string(), held - amount);
    Ok(())
}

fn credit(
    accounts: &mut BTreeMap<String, Account>,
    id: &str,
    issuer: &str,
    amount: u64,
) -> Result<()> {
    let Some(account) = accounts.get_mut(id) else {
        return Err(Error::new(format!("account {id} does not exist")));
    };
    let balance = account.balances.entry(issuer.to_string()).or_insert(0);
    *balance = balance
        .checked_add(amount)
        .ok_or_else(|| Error::new(format!("the balance of account {id} would overflow")))?;
    Ok(())
}

fn new_loan(
    record: &LockRecord,
    body: &EventBody,
    op: &Operation,
    issued_at_ms: u64,
) -> Result<Loan> {
    let EventBody::LoanApplication {
        customer,
        amount,
        months,
        ..
    } = body
    else {
        return Err(Error::new(
            "a transfer is only locked by a loan application",
        ));
    };
    let (from, _, issuer, _) = op.movement();
    Ok(Loan {
        id: record.lock_id.clone(),
        customer: customer.clone(),
        amount: *amount,
        months: *months,
        bank_account: from.to_string(),
        issuer: issuer.to_string(),
        issued_at_ms,
        status: LoanStatus::Issued,
        refund_lock: None,
    })
}
