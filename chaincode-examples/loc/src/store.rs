//! The world-state layout and the reads every flow shares: the deployment,
//! accounts, locks, loans, oracle keys, and who the caller is.
//!
//! Keys: `config` (plain) holds the [`Deployment`]; the rest are composite
//! keys `(object type, attrs…)`:
//!
//! | object type    | attributes         | value                           |
//! |----------------|--------------------|---------------------------------|
//! | `account`      | account id         | [`Account`]                     |
//! | `bank_account` | bank account no.   | the account id (JSON string)    |
//! | `issuance`     | serial             | [`Issuance`](crate::Issuance)   |
//! | `payout`       | tx id              | [`Payout`](crate::Payout)       |
//! | `oracle_key`   | role, public key   | [`OracleKey`]                   |
//! | `lock`         | lock id            | [`LockRecord`]                  |
//! | `open_lock`    | customer, `loan`   | the open loan lock's id         |
//! | `open_lock`    | loan id, `refund`  | the open refund lock's id       |
//! | `loan`         | loan id            | [`Loan`]                        |
//! | `current_loan` | customer           | the customer's current loan id  |
//!
//! In the private collection [`EVENTS_COLLECTION`] (members: the bank, CAD,
//! FD and regulator orgs; every other peer keeps only hashes):
//!
//! | object type    | attributes         | value                           |
//! |----------------|--------------------|---------------------------------|
//! | `event`        | event id           | [`SignedEvent`]                 |

use serde::Serialize;
use serde::de::DeserializeOwned;
use weft_chaincode::{Context, Error, Result};

use crate::model::{Account, Deployment, Loan, LockRecord, OracleKey, Role, SignedEvent};
use crate::signing::{Crypto, hex_encode};

/// The plain key of the deployment.
pub const CONFIG_KEY: &str = "config";

/// The message every function but `configure` fails with before it.
pub const NOT_CONFIGURED: &str = "LoC is not configured: call configure first";

/// What callers without the right are told.
pub const PERMISSION_DENIED: &str = "permission denied";

/// The object types `inspect` and `inspect_all` accept, and their keys.
pub const INSPECT_KINDS: [&str; 5] = ["account", "lock", "loan", "payout", "issuance"];

/// The most records `inspect_all` returns.
pub const MAX_INSPECT_RECORDS: usize = 1_000;

/// The private data collection that holds each lock's signed event (the
/// customer's income, assets and debts): LoC must be deployed with it, its
/// members the orgs of the bank, CAD, FD and regulator. The customer org's
/// peers, which serve every customer, keep only its hashes.
pub const EVENTS_COLLECTION: &str = "loc_events";

/// The transient key `lock` takes its [`Lock`](crate::Lock) JSON from.
pub const LOCK_TRANSIENT_KEY: &str = "lock";

/// The transient key `unlock` takes its
/// [`UnlockingCode`](crate::UnlockingCode) JSON from.
pub const UNLOCKING_CODE_TRANSIENT_KEY: &str = "unlocking_code";

/// The host's natives as [`Crypto`].
pub(crate) struct HostCrypto<'a>(pub(crate) &'a Context);

impl Crypto for HostCrypto<'_> {
    fn sha3_256(&self, data: &[u8]) -> [u8; 32] {
        self.0.sha3_256(data)
    }

    fn ed25519_verify(&self, pk: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> bool {
        self.0.ed25519_verify(pk, message, sig)
    }
}

/// The deployment, or the "not configured" error.
pub(crate) fn deployment(ctx: &Context) -> Result<Deployment> {
    ctx.get_json(CONFIG_KEY)?
        .ok_or_else(|| Error::new(NOT_CONFIGURED))
}

/// The caller's account id: hex of its public key.
pub(crate) fn caller_id(ctx: &Context) -> String {
    hex_encode(&ctx.creator().public_key)
}

/// The role of the caller's org, if it has one.
pub(crate) fn caller_role(ctx: &Context, d: &Deployment) -> Option<Role> {
    d.orgs.role_of(&ctx.creator().org)
}

/// Whether the caller is a member of `role`'s org.
pub(crate) fn caller_is(ctx: &Context, d: &Deployment, role: Role) -> bool {
    ctx.creator().org == d.orgs.org(role)
}

/// Whether the caller's certificate gives it the `admin` role in its org.
pub(crate) fn caller_is_admin(ctx: &Context) -> bool {
    ctx.creator().role == "admin"
}

/// Fails with "permission denied: {why}" unless `allowed`.
pub(crate) fn require(allowed: bool, why: impl FnOnce() -> String) -> Result<()> {
    if allowed {
        Ok(())
    } else {
        Err(Error::new(format!("{PERMISSION_DENIED}: {}", why())))
    }
}

pub(crate) fn key(ctx: &Context, object_type: &str, attrs: &[&str]) -> Result<String> {
    ctx.composite_key(object_type, attrs)
}

pub(crate) fn get<T: DeserializeOwned>(
    ctx: &Context,
    object_type: &str,
    attrs: &[&str],
) -> Result<Option<T>> {
    ctx.get_json(&key(ctx, object_type, attrs)?)
}

/// Whether a record is stored under `object_type` and `attrs`.
pub(crate) fn exists(ctx: &Context, object_type: &str, attrs: &[&str]) -> Result<bool> {
    Ok(ctx.get(&key(ctx, object_type, attrs)?)?.is_some())
}

pub(crate) fn put<T: Serialize>(
    ctx: &mut Context,
    object_type: &str,
    attrs: &[&str],
    value: &T,
) -> Result<()> {
    let k = key(ctx, object_type, attrs)?;
    ctx.put_json(&k, value)
}

pub(crate) fn delete(ctx: &mut Context, object_type: &str, attrs: &[&str]) -> Result<()> {
    let k = key(ctx, object_type, attrs)?;
    ctx.delete(&k)
}

pub(crate) fn account(ctx: &Context, id: &str) -> Result<Option<Account>> {
    get(ctx, "account", &[id])
}

pub(crate) fn account_or_err(ctx: &Context, id: &str) -> Result<Account> {
    account(ctx, id)?.ok_or_else(|| Error::new(format!("account {id} does not exist")))
}

pub(crate) fn put_account(ctx: &mut Context, a: &Account) -> Result<()> {
    put(ctx, "account", &[&a.id], a)
}

pub(crate) fn lock(ctx: &Context, lock_id: &str) -> Result<LockRecord> {
    get(ctx, "lock", &[lock_id])?
        .ok_or_else(|| Error::new(format!("lock {lock_id} does not exist")))
}

pub(crate) fn put_lock(ctx: &mut Context, record: &LockRecord) -> Result<()> {
    put(ctx, "lock", &[&record.lock_id], record)
}

/// The open lock of `subject` (a customer for `loan`, a loan for `refund`).
pub(crate) fn open_lock(ctx: &Context, subject: &str, kind: &str) -> Result<Option<String>> {
    get(ctx, "open_lock", &[subject, kind])
}

/// The transient input `key`: `what` (say "the lock") is required there,
/// so that it never enters a block.
pub(crate) fn transient(ctx: &Context, key: &str, what: &str) -> Result<Vec<u8>> {
    ctx.transient(key)?.ok_or_else(|| {
        Error::new(format!(
            "{what} goes in the transient map under `{key}` (it is private and stays off the \
             chain); this call has none"
        ))
    })
}

/// Keeps `event` (whose id is `event_id`) in [`EVENTS_COLLECTION`].
pub(crate) fn put_event(ctx: &mut Context, event_id: &str, event: &SignedEvent) -> Result<()> {
    let k = key(ctx, "event", &[event_id])?;
    let bytes = serde_json::to_vec(event)?;
    ctx.private_put(EVENTS_COLLECTION, &k, &bytes)
}

/// The signed event of `record`: from [`EVENTS_COLLECTION`], or for a
/// record written before events were private, the one it held.
pub(crate) fn event_of(ctx: &Context, record: &LockRecord) -> Result<SignedEvent> {
    match &record.legacy_event {
        Some(event) => Ok(event.clone()),
        None => event(ctx, &record.event_id),
    }
}

/// Event `event_id` from [`EVENTS_COLLECTION`]. On a peer of an org that is
/// not a member, the host's refusal says so.
pub(crate) fn event(ctx: &Context, event_id: &str) -> Result<SignedEvent> {
    let k = key(ctx, "event", &[event_id])?;
    let bytes = ctx
        .private_get(EVENTS_COLLECTION, &k)?
        .ok_or_else(|| Error::new(format!("no event {event_id} in {EVENTS_COLLECTION}")))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(format!(
            "event {event_id} in {EVENTS_COLLECTION} is not a signed event: {e}"
        ))
    })
}

pub(crate) fn loan(ctx: &Context, loan_id: &str) -> Result<Option<Loan>> {
    get(ctx, "loan", &[loan_id])
}

pub(crate) fn current_loan(ctx: &Context, customer: &str) -> Result<Option<Loan>> {
    match get::<String>(ctx, "current_loan", &[customer])? {
        Some(id) => loan(ctx, &id),
        None => Ok(None),
    }
}

pub(crate) fn put_loan(ctx: &mut Context, l: &Loan) -> Result<()> {
    put(ctx, "loan", &[&l.id], l)?;
    put(ctx, "current_loan", &[&l.customer], &l.id)
}

pub(crate) fn oracle_key_registered(ctx: &Context, key: &OracleKey) -> Result<bool> {
    Ok(get::<OracleKey>(ctx, "oracle_key", &[key.role.as_str(), &key.public_key])?.is_some())
}
