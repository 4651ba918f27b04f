//! Algorithm 1: checking and storing a lock, and the reads of locks and
//! loans (`get_lock`, `query_loan`, `cancel_lock`).

use weft_chaincode::{Context, Error, Result};

use crate::model::{
    Deployment, EventBody, EventKind, Loan, LoanStatus, Lock, LockReceipt, LockRecord, LockStatus,
    Operation, Role,
};
use crate::signing::{Crypto, hex_encode};
use crate::store::{
    self, HostCrypto, LOCK_TRANSIENT_KEY, caller_id, caller_is, caller_role, require,
};

/// The `open_lock` attribute of a loan application's lock (per customer).
pub(crate) const OPEN_LOAN: &str = "loan";
/// The `open_lock` attribute of a refund application's lock (per loan).
pub(crate) const OPEN_REFUND: &str = "refund";

/// The `open_lock` index entry `record` occupies: its customer's for a
/// loan, its loan's for a refund (the loan its repay names, which `lock`
/// checked is the event's).
pub(crate) fn record_slot(record: &LockRecord) -> Result<(&str, &'static str)> {
    let repaid = record.ops.iter().find_map(|op| match op {
        Operation::Repay { loan, .. } => Some(loan.as_str()),
        Operation::Transfer { .. } => None,
    });
    match (record.kind, repaid) {
        (EventKind::LoanApplication, _) => Ok((&record.customer, OPEN_LOAN)),
        (EventKind::RefundApplication, Some(loan)) => Ok((loan, OPEN_REFUND)),
        (EventKind::RefundApplication, None) => Err(Error::new(format!(
            "lock {} is a refund application without a repay",
            record.lock_id
        ))),
    }
}

/// The fewest characters of an event's nonce: 32 (128 bits in hex). The
/// event id is public and its body mostly guessable (customer, amount and
/// duration show elsewhere); an unpredictable nonce is what keeps a guess
/// of the income, assets and debts from being confirmed against it.
pub const MIN_NONCE_CHARS: usize = 32;

/// Algorithm 1. The lock comes in the transient map: its signed event
/// goes to [`EVENTS_COLLECTION`](crate::EVENTS_COLLECTION), the rest to
/// public state as a [`LockRecord`].
pub(crate) fn lock(ctx: &mut Context) -> Result<LockReceipt> {
    let d = store::deployment(ctx)?;
    let lock_json = store::transient(ctx, LOCK_TRANSIENT_KEY, "the lock")?;
    let lock: Lock = serde_json::from_slice(&lock_json)
        .map_err(|e| Error::new(format!("the lock is not valid JSON: {e}")))?;
    let body = &lock.event.body;
    let customer = body.customer();
    require(
        caller_is(ctx, &d, Role::Customer) && caller_id(ctx) == customer,
        || format!("only customer {customer}, a member of the customer org, locks its event"),
    )?;
    let crypto = HostCrypto(ctx);
    let event_digest = crypto.event_digest(body);
    crypto
        .check_event_digest(&lock.event, &event_digest)
        .map_err(Error::new)?;
    check_keys(ctx, &lock)?;
    if body.amount() == 0 {
        return Err(Error::new("the amount applied for must be positive"));
    }
    if body.nonce().chars().count() < MIN_NONCE_CHARS {
        return Err(Error::new(format!(
            "the event's nonce must be at least {MIN_NONCE_CHARS} characters of randomness (say \
             128 random bits in hex): the event's id is public, and a guessable nonce would let \
             anyone confirm a guess of the application behind it"
        )));
    }
    if let EventBody::LoanApplication { months: 0, .. } = body {
        return Err(Error::new("a loan must last at least one month"));
    }
    match body {
        EventBody::LoanApplication { .. } => check_loan_lock(ctx, &lock)?,
        EventBody::RefundApplication { .. } => check_refund_lock(ctx, &lock)?,
    }
    let crypto = HostCrypto(ctx);
    let receipt = LockReceipt {
        lock_id: crypto.lock_id(&lock),
        event_id: hex_encode(&event_digest),
    };
    if store::exists(ctx, "lock", &[&receipt.lock_id])? {
        return Err(Error::new(format!(
            "lock {} already exists",
            receipt.lock_id
        )));
    }
    let record = LockRecord::locked(
        &lock,
        receipt.lock_id.clone(),
        receipt.event_id.clone(),
        ctx.tx_id().to_string(),
    );
    let (subject, kind) = record_slot(&record)?;
    store::put(ctx, "open_lock", &[subject, kind], &receipt.lock_id)?;
    store::put_lock(ctx, &record)?;
    store::put_event(ctx, &receipt.event_id, &lock.event)?;
    ctx.set_event_json("Locked", &receipt)?;
    Ok(receipt)
}

/// RO2: exactly one key per granting role, each registered for it.
fn check_keys(ctx: &Context, lock: &Lock) -> Result<()> {
    let roles = lock.event.body.granting_roles();
    let names = || {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut seen: Vec<Role> = lock.keys.iter().map(|k| k.role).collect();
    seen.sort();
    if seen != roles {
        return Err(Error::new(format!(
            "the lock's keys must be exactly one oracle key of each granting role ({})",
            names()
        )));
    }
    for key in &lock.keys {
        if !store::oracle_key_registered(ctx, key)? {
            return Err(Error::new(format!(
                "{} is not a registered {} oracle key",
                key.public_key, key.role
            )));
        }
    }
    Ok(())
}

/// Money leaves an account only on its owner's signature: the account a
/// lock pays from must be that of the lock's oracle of `role` (the bank's
/// for a loan, the FD's for a refund), whose signed pass releases it.
/// Without this a customer could name any bank's account as the funder
/// and have it paid out on another bank member's verdict.
fn paid_by_its_oracle(lock: &Lock, role: Role, from: &str) -> Result<()> {
    let named = lock
        .keys
        .iter()
        .find(|k| k.role == role)
        .map_or("none", |k| k.public_key.as_str());
    if named == from {
        return Ok(());
    }
    Err(Error::new(format!(
        "the money comes from {role} account {from}, which pays only on its own verdict: \
         the lock's {role} oracle key must be {from}, it names {named}"
    )))
}

fn single_op(lock: &Lock) -> Result<&Operation> {
    match lock.ops.as_slice() {
        [op] => Ok(op),
        ops => Err(Error::new(format!(
            "the lock must hold exactly one operation, it holds {}",
            ops.len()
        ))),
    }
}

fn account_role(ctx: &Context, id: &str) -> Result<Role> {
    Ok(store::account_or_err(ctx, id)?.role)
}

fn check_loan_lock(ctx: &Context, lock: &Lock) -> Result<()> {
    let body = &lock.event.body;
    let customer = body.customer();
    let Operation::Transfer {
        from,
        to,
        issuer,
        amount,
    } = single_op(lock)?
    else {
        return Err(Error::new("a loan application locks a transfer"));
    };
    if to != customer || *amount != body.amount() {
        return Err(Error::new(format!(
            "the transfer must move the {} applied for to the customer's account",
            body.amount()
        )));
    }
    if account_role(ctx, from)? != Role::Bank {
        return Err(Error::new(format!(
            "the transfer must come from a bank account; {from} is not one"
        )));
    }
    paid_by_its_oracle(lock, Role::Bank, from)?;
    if store::account(ctx, issuer)?.is_none_or(|a| a.role != Role::Bank) {
        return Err(Error::new(format!(
            "a loan is lent in a bank's asset; issuer {issuer} is not a bank account"
        )));
    }
    if let Some(loan) = store::current_loan(ctx, customer)?
        && loan.status == LoanStatus::Issued
    {
        return Err(Error::new(format!(
            "a loan is already issued to customer {customer} (loan {}): refund it first",
            loan.id
        )));
    }
    if let Some(pending) = store::open_lock(ctx, customer, OPEN_LOAN)? {
        return Err(Error::new(format!(
            "a loan application is pending for customer {customer} (lock {pending})"
        )));
    }
    Ok(())
}

fn check_refund_lock(ctx: &Context, lock: &Lock) -> Result<()> {
    let EventBody::RefundApplication {
        customer,
        loan: loan_id,
        amount,
        ..
    } = &lock.event.body
    else {
        return Err(Error::new("not a refund application"));
    };
    let loan = issued_loan_of(ctx, customer, loan_id)?;
    let Operation::Repay {
        from,
        to,
        issuer,
        amount: paid,
        loan: repaid,
    } = single_op(lock)?
    else {
        return Err(Error::new("a refund application locks a repay"));
    };
    if repaid != loan_id || paid != amount || *to != loan.bank_account || *issuer != loan.issuer {
        return Err(Error::new(format!(
            "the repay must pay the {amount} applied for on loan {loan_id} to the bank \
             account that funded it ({}), in the asset it was lent in (issuer {})",
            loan.bank_account, loan.issuer
        )));
    }
    if account_role(ctx, from)? != Role::Fd {
        return Err(Error::new(format!(
            "the repay must come from an FD account; {from} is not one"
        )));
    }
    paid_by_its_oracle(lock, Role::Fd, from)?;
    if let Some(pending) = store::open_lock(ctx, loan_id, OPEN_REFUND)? {
        return Err(Error::new(format!(
            "a refund application is pending for loan {loan_id} (lock {pending})"
        )));
    }
    Ok(())
}

/// Loan `loan_id`, which must exist, be `customer`'s, and be issued.
pub(crate) fn issued_loan_of(ctx: &Context, customer: &str, loan_id: &str) -> Result<Loan> {
    let loan = store::loan(ctx, loan_id)?
        .ok_or_else(|| Error::new(format!("loan {loan_id} does not exist")))?;
    if loan.customer != customer {
        return Err(Error::new(format!(
            "loan {loan_id} does not belong to customer {customer}"
        )));
    }
    if loan.status != LoanStatus::Issued {
        return Err(Error::new(format!("loan {loan_id} is already refunded")));
    }
    Ok(loan)
}

/// Whether the caller may read `record`: its customer, a member of a
/// granting role's org, or the regulator.
pub(crate) fn may_read_lock(ctx: &Context, d: &Deployment, record: &LockRecord) -> bool {
    if caller_id(ctx) == record.customer {
        return true;
    }
    match caller_role(ctx, d) {
        Some(Role::Regulator) => true,
        Some(role) => record.keys.iter().any(|k| k.role == role),
        None => false,
    }
}

pub(crate) fn get_lock(ctx: &Context, lock_id: &str) -> Result<LockRecord> {
    let d = store::deployment(ctx)?;
    let record = store::lock(ctx, lock_id)?;
    require(may_read_lock(ctx, &d, &record), || {
        "only the lock's customer, its oracles' orgs or the regulator read it".into()
    })?;
    Ok(record)
}

pub(crate) fn cancel_lock(ctx: &mut Context, lock_id: &str) -> Result<LockRecord> {
    store::deployment(ctx)?;
    let mut record = store::lock(ctx, lock_id)?;
    let customer = record.customer.clone();
    require(caller_id(ctx) == customer, || {
        format!("only the lock's customer {customer} cancels it")
    })?;
    if record.status != LockStatus::Locked {
        return Err(Error::new(format!(
            "lock {lock_id} is no longer locked (it was {} in tx {})",
            record.status.as_str(),
            record.closed_tx.as_deref().unwrap_or("?")
        )));
    }
    let (subject, kind) = record_slot(&record)?;
    store::delete(ctx, "open_lock", &[subject, kind])?;
    record.status = LockStatus::Cancelled;
    record.closed_tx = Some(ctx.tx_id().to_string());
    store::put_lock(ctx, &record)?;
    ctx.set_event_json("LockCancelled", &record.lock_id)?;
    Ok(record)
}

pub(crate) fn query_loan(ctx: &Context, customer: &str) -> Result<Loan> {
    let d = store::deployment(ctx)?;
    let own = caller_id(ctx) == customer;
    require(
        own || caller_is(ctx, &d, Role::Bank) || caller_is(ctx, &d, Role::Regulator),
        || "only the customer, the bank or the regulator reads a customer's loan".into(),
    )?;
    store::current_loan(ctx, customer)?
        .ok_or_else(|| Error::new(format!("no loan: customer {customer} has none")))
}
