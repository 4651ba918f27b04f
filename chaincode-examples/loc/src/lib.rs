//! LoC, the loan-management reference chaincode (after "LoC — A New
//! Financial Loan Management System based on Smart Contracts", Wang, Guo,
//! Cheng, FGCS 2019): poverty-alleviation loans whose payout and interest
//! subsidy are *locked* operations, released only when the customer's
//! signed application and the signed verdicts of the bank, the civil
//! affairs department and the finance department line up.
//!
//! The main types: [`Loc`] (the contract), [`Lock`] (operations, the
//! customer's [`SignedEvent`] and the [`OracleKey`]s that must grant it),
//! [`OracleStatement`] (what an oracle signs) and [`UnlockingCode`] (the
//! event and the oracles' signatures that open a lock).
//!
//! # Roles
//!
//! One org per [`Role`], fixed by `configure` in a [`Deployment`]:
//! **C**ustomer, **B**ank, **CAD** (civil affairs), **FD** (finance) and
//! **R**egulator. Every member opens a digital [`Account`] whose id is the
//! lowercase hex of its ed25519 public key, linked to a traditional bank
//! account number. Bank members issue digital assets into accounts with a
//! signed [`Issuance`] (traditional → digital); `connector_out` pays them
//! back out as a [`Payout`] (digital → traditional). Balances are kept per
//! issuing bank member, so assets of different banks never mix. The
//! admins of the bank, CAD and FD orgs register (and revoke) the keys
//! their oracles sign with (`register_oracle`, `revoke_oracle`).
//!
//! # Flows
//!
//! - **Loan (C → B → CAD → FD).** The customer signs a
//!   [`EventBody::LoanApplication`] and `lock`s it with one
//!   [`Operation::Transfer`] of the amount from the bank oracle's account
//!   to its own and the bank, CAD and FD oracle keys (Algorithm 1). Each oracle's org
//!   runs the `oracle` query, which evaluates [`oracle_terms`] over the
//!   ledger's [`Facts`] (Algorithm 2), and signs the returned
//!   [`OracleStatement`] if it passes. The customer (or anyone) sends
//!   `unlock` with `[event, oracle_sig…]`; Algorithm 3 ([`evaluate`]) pops
//!   it against the lock's stack and, on code 0, moves the funds and
//!   records the [`Loan`].
//! - **Refund (C → B → FD).** Once the loan has run its months, the
//!   customer applies ([`EventBody::RefundApplication`]) for the interest
//!   subsidy with one [`Operation::Repay`] from the FD oracle's account to
//!   the bank account that funded the loan, granted by the bank and FD
//!   oracles. On unlock the loan becomes refunded and the customer may
//!   borrow again.
//! - **Query (C → B).** `query_loan`: the customer or the bank (and the
//!   regulator) read a customer's current loan.
//! - **Inspect (R).** `inspect` / `inspect_all`: the regulator reads any
//!   account, lock, loan, payout or issuance, and (through its own peer)
//!   any lock's private application event.
//!
//! # Calls
//!
//! Every argument is a string. Plain strings are taken as they are; `u64`
//! and `bool` arguments are JSON numbers and booleans; `…_json` arguments
//! are the JSON of the named type. Ids and keys are lowercase hex, compared
//! exactly: uppercase hex names no account.
//!
//! | function | kind | arguments | returns |
//! |---|---|---|---|
//! | `configure` | tx | [`Deployment`] JSON | [`Deployment`] |
//! | `deployment` | query | — | [`Deployment`] |
//! | `open_account` | tx | bank account number | [`Account`] |
//! | `issue` | tx | to (account id), amount, [`Issuance`] JSON | [`Issuance`] |
//! | `connector_out` | tx | issuer (account id), amount | [`Payout`] |
//! | `account` | query | account id | [`Account`] |
//! | `register_oracle` | tx | role (`bank`, `cad`, `fd`), public key hex | [`OracleKey`] |
//! | `revoke_oracle` | tx | role, public key hex | [`OracleKey`] |
//! | `oracle_keys` | query | role | `[public key hex]` |
//! | `lock` | tx | — (transient `lock`: [`Lock`] JSON) | [`LockReceipt`], event `Locked` |
//! | `get_lock` | query | lock id | [`LockRecord`] |
//! | `oracle` | query | lock id, role, exception (`true`/`false`) | [`OracleReport`] |
//! | `unlock` | tx | lock id (transient `unlocking_code`: [`UnlockingCode`] JSON) | [`UnlockResult`], event `Unlocked` on code 0 |
//! | `cancel_lock` | tx | lock id | [`LockRecord`], event `LockCancelled` |
//! | `query_loan` | query | customer account id | [`Loan`] |
//! | `inspect` | query | kind (`account`, `lock`, `loan`, `payout`, `issuance`, `event`), id | the record's JSON |
//! | `inspect_all` | query | kind | up to 1 000 records, in key order |
//!
//! # Privacy
//!
//! The customer's application — declared income, assets and debts, its
//! nonce and the customer's signature — is the business of the customer,
//! the granting roles and the regulator, not of every peer of the channel
//! (the customer org's peers serve all customers). So the event never
//! enters a block: `lock` takes the [`Lock`] and `unlock` the
//! [`UnlockingCode`] from the transient map, and the signed event is kept
//! in the private data collection [`EVENTS_COLLECTION`] (`loc_events`),
//! whose members are the orgs of the bank, CAD, FD and regulator. LoC is
//! deployed with it (`weft loc` does this, with a `required_peer_count` of
//! 1 and a `maximum_peer_count` of 3: with one peer per org, every member
//! peer holds an event before its lock's endorsement returns). Every other
//! peer keeps only its hash, and public state keeps the [`LockRecord`]:
//! the operations, the oracle keys and the event's id, a sha3-256
//! commitment. The rest of an event shows elsewhere (the customer and the
//! amount in the locked transfer, the months in the loan once granted), so
//! the id could confirm a guess of the income, assets and debts but for
//! the nonce: `lock` refuses one shorter than [`MIN_NONCE_CHARS`], and it
//! must be random (the `weft loc` flows use 128 random bits). `oracle`
//! reads the event in the collection, so it runs on a member's peer;
//! `unlock` checks the code's event against the id and its signature,
//! reading nothing private. Both `lock` and `unlock` carry the event in
//! their transient input to the gateway and every endorser, so send them
//! through a member's gateway and endorse them on member peers only (LoC's
//! policy `AND(Bank.peer, Regulator.peer)` and the customers' use of the
//! bank's gateway do). The regulator reads events with `inspect("event",
//! lock or event id)` through its own peer.
//!
//! What stays public, by design: accounts and balances, every locked and
//! executed transfer, loans (amount, months), locks' status, and each
//! unlock's answer — whose code 1 names the role whose oracle failed, so
//! with the public terms it tells that one of that role's terms failed
//! (the outcome of an application shows in the balances anyway).
//!
//! A client builds a lock with [`Lock`] and the types in it, signs the
//! event body with [`event_signing_bytes`], reads the ids from the
//! [`LockReceipt`] (or computes them: [`lock_id_with`], [`event_id_with`]),
//! signs each [`OracleReport::statement`] that passes with
//! [`statement_signing_bytes`], and sends [`UnlockingCode::new`]`(&event,
//! &[(key, verdict, signature)…])` in the lock's key order, in the
//! transient map.
//!
//! # Unlock codes
//!
//! `unlock` answers with an [`UnlockResult`]: **0** unlocked (operations
//! executed), **1** oracle check failed (a signature missing, forged, by
//! another key, or not a pass), **2** event check failed (the event differs
//! from the locked one or its signature fails), **3** type error (items that
//! do not line up: wrong, unknown, missing or extra). Codes 1–3 write
//! nothing, so a corrected code may be sent again. An unlocking code that
//! was already used, or an operation that cannot run (insufficient funds),
//! is an error and writes nothing either.
//!
//! # Signing and ids
//!
//! Every signature is ed25519 over [`signed_message`]`(sha3_256(bytes))`
//! (`CHAINCODE_SIGNING_TAG || digest`, exactly
//! `weft_types::Domain::Chaincode.message`), where `bytes` is
//! [`event_signing_bytes`], [`statement_signing_bytes`] or
//! [`issuance_signing_bytes`]. The event id and the lock id are hex
//! sha3-256 of [`event_id_preimage`] and [`lock_id_preimage`]. This crate
//! links no hash function: the chaincode hashes with its host's
//! `sha3_256`, and a client passes its own sha3-256 (say
//! `weft_types::sha3_256`) to [`event_id_with`], [`lock_id_with`] and
//! [`message_to_sign_with`], or implements [`Crypto`].
//!
//! ```
//! use loc::{EventBody, Lock, OracleKey, Role, SignedEvent, Operation};
//!
//! let sha3 = |b: &[u8]| weft_types::sha3_256(b).0;
//! let body = EventBody::LoanApplication {
//!     customer: "c0ffee".into(), amount: 10_000, months: 12,
//!     income: 8_000, asset: 20_000, debt: 0,
//!     nonce: "9f2c41d07be85a3316c0e4d29a7b5f18".into(), // 128 random bits, hex
//! };
//! // What the customer's key signs, and the event's id:
//! let message = loc::message_to_sign_with(&loc::event_signing_bytes(&body), sha3);
//! assert!(message.starts_with(loc::CHAINCODE_SIGNING_TAG));
//! let event_id = loc::event_id_with(&body, sha3);
//! assert_eq!(event_id.len(), 64);
//! # let lock = Lock { ops: vec![], event: SignedEvent { body, signatures: vec![] }, keys: vec![] };
//! assert_eq!(loc::lock_id_with(&lock, sha3).len(), 64);
//! ```
//!
//! # Choices the design left open
//!
//! - `configure` is called once, by an admin of the org the deployment
//!   names as the bank. It refuses an org given two roles and inconsistent
//!   terms (a minimum above its maximum, a zero month, a subsidy above
//!   100 %).
//! - Only an org's admins register and revoke its oracle keys (a key is
//!   any member's; the admin vouches for it). A lock names registered keys,
//!   and unlocks only while they still are.
//! - A loan's issue time is the later of the unlock transaction's
//!   timestamp and the bank oracle's signed `at_ms`: the customer chooses
//!   the former, so alone it could back-date a loan into expiry.
//! - The locked transfer is in a bank's asset (its issuer a bank account);
//!   a refund's repay pays the loan's funding account in the asset the loan
//!   was lent in.
//! - Money leaves an account only on its owner's signature: a loan's
//!   transfer comes from the account of the lock's bank oracle, a refund's
//!   repay from the FD oracle's. The bank member who lends is the one who
//!   judges the application; a customer cannot name another member's
//!   account as the funder.
//! - The lock's keys may come in any order, one per granting role; the
//!   unlocking code follows that order. Applied and issued amounts must be
//!   positive.
//! - `lock` does not require the customer's account: whether the customer
//!   is known is the oracles' identity term. The locked transfer must come
//!   from an existing bank-role account, the repay from an FD-role account.
//! - A customer may `cancel_lock` an open lock (say after a failed verdict),
//!   which frees the slot for a new application; a cancelled lock cannot be
//!   unlocked, and its id cannot be locked again.
//! - Loans are stored by id, with a pointer to each customer's current
//!   loan; `inspect("loan", id)` takes a loan id or a customer id.
//!   `query_loan` also admits the regulator, who reads everything.
//! - The stored lock is a [`LockRecord`] (status `locked`, `unlocked` or
//!   `cancelled`, with the closing transaction). Events: `Locked`
//!   ([`LockReceipt`]), `Unlocked` ([`UnlockResult`]), `LockCancelled` (the
//!   lock id).
//! - Oracle keys may be registered again (idempotent); `oracle` refuses a
//!   lock that is no longer locked, and a role the lock does not name.
//! - Role arguments are plain names (`bank`); a JSON string (`"bank"`) is
//!   accepted too. `exception` is JSON (`true` / `false`).
//! - The [`Term`] "loan issued before" (and a refund's loan checks) cannot
//!   fail through the `oracle` query, since `lock` already refuses such
//!   events; [`oracle_terms`] still checks them for whoever re-runs it.

mod accounts;
mod inspect;
mod locking;
mod model;
mod oracle;
mod signing;
mod stacks;
mod store;
mod unlocking;

use serde_json::Value;
use weft_chaincode::{Context, Result, contract};

pub use locking::MIN_NONCE_CHARS;
pub use model::{
    Account, Deployment, EventBody, EventKind, Issuance, Loan, LoanStatus, Lock, LockReceipt,
    LockRecord, LockStatus, Operation, OracleKey, OracleReport, OracleStatement, Payout, Role,
    RoleOrgs, Signature, SignedEvent, THIRTY_DAYS_MS, Terms, Verdict,
};
pub use oracle::{Facts, Term, max_subsidy, oracle_terms, verdict_of};
pub use signing::{
    CHAINCODE_SIGNING_TAG, Crypto, event_id_preimage, event_id_with, event_signing_bytes,
    hex_array, hex_decode, hex_encode, issuance_signing_bytes, lock_id_preimage, lock_id_with,
    message_to_sign_with, signed_message, statement_signing_bytes,
};
pub use stacks::{
    Granted, Item, Rejection, UnlockCode, UnlockResult, UnlockingCode, evaluate, lock_stack,
};
pub use store::{
    CONFIG_KEY, EVENTS_COLLECTION, INSPECT_KINDS, LOCK_TRANSIENT_KEY, MAX_INSPECT_RECORDS,
    NOT_CONFIGURED, PERMISSION_DENIED, UNLOCKING_CODE_TRANSIENT_KEY,
};

// Each call allocates a few small buffers: a bump allocator serves them with
// no bookkeeping and no memory growth in the common case.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: weft_chaincode::BumpAllocator = weft_chaincode::BumpAllocator::new();

/// The contract. Arguments are strings: `String`/`&str` parameters take
/// them as they are, numbers and booleans are JSON.
#[derive(Debug)]
pub struct Loc;

#[contract]
impl Loc {
    /// Sets the [`Deployment`] (JSON) once; a second call fails with
    /// "already configured".
    #[tx]
    pub fn configure(ctx: &mut Context, deployment_json: &str) -> Result<Deployment> {
        accounts::configure(ctx, deployment_json)
    }

    /// The deployment.
    #[query]
    pub fn deployment(ctx: &mut Context) -> Result<Deployment> {
        store::deployment(ctx)
    }

    /// Opens the caller's [`Account`], linked to `bank_account`.
    #[tx]
    pub fn open_account(ctx: &mut Context, bank_account: String) -> Result<Account> {
        accounts::open_account(ctx, bank_account)
    }

    /// Credits `amount` of the calling bank member's asset to account `to`,
    /// with the member's signed [`Issuance`] (JSON).
    #[tx]
    pub fn issue(
        ctx: &mut Context,
        to: String,
        amount: u64,
        issuance_json: &str,
    ) -> Result<Issuance> {
        accounts::issue(ctx, to, amount, issuance_json)
    }

    /// Pays `amount` of `issuer`'s asset out of the caller's account to its
    /// linked bank account.
    #[tx]
    pub fn connector_out(ctx: &mut Context, issuer: String, amount: u64) -> Result<Payout> {
        accounts::connector_out(ctx, issuer, amount)
    }

    /// Account `id`: its owner or the regulator.
    #[query]
    pub fn account(ctx: &mut Context, id: &str) -> Result<Account> {
        accounts::read_account(ctx, id)
    }

    /// Registers `public_key` (hex) as an oracle key of `role` (bank, cad,
    /// fd); the caller must be an admin of that role's org.
    #[tx]
    pub fn register_oracle(ctx: &mut Context, role: &str, public_key: &str) -> Result<OracleKey> {
        accounts::register_oracle(ctx, role, public_key)
    }

    /// Revokes oracle key `public_key` of `role`: no new lock may name it,
    /// and no open lock that names it unlocks. Admins of the role's org
    /// only.
    #[tx]
    pub fn revoke_oracle(ctx: &mut Context, role: &str, public_key: &str) -> Result<OracleKey> {
        accounts::revoke_oracle(ctx, role, public_key)
    }

    /// The registered oracle keys of `role`, hex.
    #[query]
    pub fn oracle_keys(ctx: &mut Context, role: &str) -> Result<Vec<String>> {
        accounts::oracle_keys(ctx, role)
    }

    /// Algorithm 1: checks and stores the [`Lock`] of the caller's event,
    /// taken as JSON from the transient map (`lock`): the event goes to the
    /// private [`EVENTS_COLLECTION`], the rest to public state.
    #[tx]
    pub fn lock(ctx: &mut Context) -> Result<LockReceipt> {
        locking::lock(ctx)
    }

    /// Lock `lock_id`: its customer, its oracles' orgs or the regulator.
    #[query]
    pub fn get_lock(ctx: &mut Context, lock_id: &str) -> Result<LockRecord> {
        locking::get_lock(ctx, lock_id)
    }

    /// Algorithm 2: `role`'s verdict on lock `lock_id`, for a member of
    /// that role's org; `exception` is the role's blacklist flag (`true`:
    /// the customer is blacklisted).
    #[query]
    pub fn oracle(
        ctx: &mut Context,
        lock_id: &str,
        role: &str,
        exception: bool,
    ) -> Result<OracleReport> {
        unlocking::oracle(ctx, lock_id, role, exception)
    }

    /// Algorithm 3: opens lock `lock_id` with the [`UnlockingCode`], taken
    /// as JSON from the transient map (`unlocking_code`).
    #[tx]
    pub fn unlock(ctx: &mut Context, lock_id: &str) -> Result<UnlockResult> {
        unlocking::unlock(ctx, lock_id)
    }

    /// Withdraws the caller's open lock `lock_id`.
    #[tx]
    pub fn cancel_lock(ctx: &mut Context, lock_id: &str) -> Result<LockRecord> {
        locking::cancel_lock(ctx, lock_id)
    }

    /// The current loan of `customer`: the customer, the bank or the regulator.
    #[query]
    pub fn query_loan(ctx: &mut Context, customer: &str) -> Result<Loan> {
        locking::query_loan(ctx, customer)
    }

    /// Record `id` of `kind` (account, lock, loan, payout, issuance, or
    /// `event`: the private event of a lock, by lock or event id): the
    /// regulator only.
    #[query]
    pub fn inspect(ctx: &mut Context, kind: &str, id: &str) -> Result<Value> {
        inspect::inspect(ctx, kind, id)
    }

    /// The first 1 000 records of `kind`, in key order: the regulator only.
    #[query]
    pub fn inspect_all(ctx: &mut Context, kind: &str) -> Result<Vec<Value>> {
        inspect::inspect_all(ctx, kind)
    }
}
