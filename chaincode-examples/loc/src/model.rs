//! The LoC data model: the deployment, digital accounts, events, locks,
//! oracle statements and loans, exactly as they travel as JSON between the
//! chaincode and its clients.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A party of the loan system. One org plays each role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// C: applies for loans and refunds, queries its loan.
    Customer,
    /// B: lends, judges loan and refund applications as an oracle.
    Bank,
    /// CAD: the civil affairs department, judges loan applications.
    Cad,
    /// FD: the finance department, judges loan and refund applications and
    /// pays the interest subsidy.
    Fd,
    /// R: inspects everything.
    Regulator,
}

impl Role {
    /// Every role, in the order [`RoleOrgs`] lists them.
    pub const ALL: [Role; 5] = [
        Role::Customer,
        Role::Bank,
        Role::Cad,
        Role::Fd,
        Role::Regulator,
    ];

    /// The roles that run oracles.
    pub const ORACLES: [Role; 3] = [Role::Bank, Role::Cad, Role::Fd];

    /// Its name as in JSON: `customer`, `bank`, `cad`, `fd`, `regulator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Bank => "bank",
            Role::Cad => "cad",
            Role::Fd => "fd",
            Role::Regulator => "regulator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    /// Parses `bank`, and also the JSON string `"bank"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().trim_matches('"');
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| {
                format!("unknown role {s:?}: expected one of customer, bank, cad, fd, regulator")
            })
    }
}

/// The org (by name) that plays each role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleOrgs {
    /// The customers' org.
    pub customer: String,
    /// The bank's org.
    pub bank: String,
    /// The civil affairs department's org.
    pub cad: String,
    /// The finance department's org.
    pub fd: String,
    /// The regulator's org.
    pub regulator: String,
}

impl RoleOrgs {
    /// The org playing `role`.
    pub fn org(&self, role: Role) -> &str {
        match role {
            Role::Customer => &self.customer,
            Role::Bank => &self.bank,
            Role::Cad => &self.cad,
            Role::Fd => &self.fd,
            Role::Regulator => &self.regulator,
        }
    }

    /// The role `org` plays, if any.
    pub fn role_of(&self, org: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| self.org(*r) == org)
    }
}

/// The loan terms (Table 3 of the paper), configurable per deployment.
/// Amounts are in the unit of the digital asset; a missing field in JSON
/// takes its [`Default`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Terms {
    /// The largest loan a bank grants.
    pub loan_limit: u64,
    /// The longest loan, in months.
    pub month_max: u32,
    /// The lowest income a bank lends to.
    pub income_min: u64,
    /// The highest income the CAD supports (a poverty line).
    pub income_max: u64,
    /// The smallest asset a bank lends against.
    pub asset_min: u64,
    /// The largest asset the CAD supports.
    pub asset_max: u64,
    /// The largest debt a bank accepts.
    pub debt_max: u64,
    /// The interest subsidy the FD pays, in basis points of the loan: a
    /// refund amount is at most `loan.amount * subsidy_rate_bp / 10_000`.
    pub subsidy_rate_bp: u32,
    /// The length of a month for a loan's expiry, in milliseconds.
    pub month_ms: u64,
}

/// Thirty days, in milliseconds.
pub const THIRTY_DAYS_MS: u64 = 30 * 24 * 60 * 60 * 1000;

impl Default for Terms {
    /// A small poverty-alleviation loan: at most 50 000 over at most 36
    /// months, for an income between 1 000 and 30 000, assets up to 500 000,
    /// debts up to 20 000; a 5 % interest subsidy; 30-day months.
    fn default() -> Self {
        Terms {
            loan_limit: 50_000,
            month_max: 36,
            income_min: 1_000,
            income_max: 30_000,
            asset_min: 0,
            asset_max: 500_000,
            debt_max: 20_000,
            subsidy_rate_bp: 500,
            month_ms: THIRTY_DAYS_MS,
        }
    }
}

/// What `configure` sets once: who plays which role, and the terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// The org of each role.
    pub orgs: RoleOrgs,
    /// The loan terms; the defaults when missing.
    #[serde(default)]
    pub terms: Terms,
}

/// A digital account, owned by one member key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Lowercase hex of the owner's ed25519 public key.
    pub id: String,
    /// The owner's org.
    pub org: String,
    /// The owner's member name.
    pub name: String,
    /// The role of the owner's org.
    pub role: Role,
    /// The linked traditional bank account number.
    pub bank_account: String,
    /// Holdings by issuer: the account id of the bank member that issued
    /// the asset, so assets of different banks stay apart.
    pub balances: BTreeMap<String, u64>,
}

impl Account {
    /// The balance of `issuer`'s asset.
    pub fn balance(&self, issuer: &str) -> u64 {
        self.balances.get(issuer).copied().unwrap_or(0)
    }
}

/// A bank's signed issuance of digital asset (traditional → digital).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issuance {
    /// The credited account id.
    pub to: String,
    /// The amount.
    pub amount: u64,
    /// A serial number, unique across the deployment.
    pub serial: String,
    /// The account id of the signing bank member.
    pub issuer: String,
    /// Hex ed25519 signature over
    /// [`issuance_signing_bytes`](crate::issuance_signing_bytes) (see
    /// [`signed_message`](crate::signed_message)).
    pub signature: String,
}

/// A withdrawal from a digital account to its linked bank account
/// (digital → traditional).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    /// The debited account id.
    pub account: String,
    /// Its linked bank account number, to be credited off chain.
    pub bank_account: String,
    /// Whose asset was paid out.
    pub issuer: String,
    /// The amount.
    pub amount: u64,
    /// The transaction that recorded it (also its key).
    pub tx_id: String,
}

/// An oracle's public key, registered by a member of its role's org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OracleKey {
    /// The role it speaks for: bank, cad or fd.
    pub role: Role,
    /// Lowercase hex ed25519 public key.
    pub public_key: String,
}

/// What a customer applies for (the paper's event `e`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// Apply for a loan.
    LoanApplication {
        /// The customer's account id.
        customer: String,
        /// The amount `l`.
        amount: u64,
        /// The duration `d`, in months.
        months: u32,
        /// The declared income.
        income: u64,
        /// The declared asset.
        asset: u64,
        /// The declared debt.
        debt: u64,
        /// Makes each application unique.
        nonce: String,
    },
    /// Apply for the interest subsidy of a finished loan.
    RefundApplication {
        /// The customer's account id.
        customer: String,
        /// The loan id.
        loan: String,
        /// The interest subsidy asked for.
        amount: u64,
        /// Makes each application unique.
        nonce: String,
    },
}

impl EventBody {
    /// The applying customer's account id.
    pub fn customer(&self) -> &str {
        match self {
            EventBody::LoanApplication { customer, .. }
            | EventBody::RefundApplication { customer, .. } => customer,
        }
    }

    /// The amount applied for.
    pub fn amount(&self) -> u64 {
        match self {
            EventBody::LoanApplication { amount, .. }
            | EventBody::RefundApplication { amount, .. } => *amount,
        }
    }

    /// The nonce that makes it unique (and its id unguessable).
    pub fn nonce(&self) -> &str {
        match self {
            EventBody::LoanApplication { nonce, .. }
            | EventBody::RefundApplication { nonce, .. } => nonce,
        }
    }

    /// What it applies for.
    pub fn kind(&self) -> EventKind {
        match self {
            EventBody::LoanApplication { .. } => EventKind::LoanApplication,
            EventBody::RefundApplication { .. } => EventKind::RefundApplication,
        }
    }

    /// The roles whose oracles must grant it (RO2): bank, cad and fd for a
    /// loan; bank and fd for a refund.
    pub fn granting_roles(&self) -> &'static [Role] {
        self.kind().granting_roles()
    }
}

/// What an event applies for, as its body's `kind` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A loan.
    LoanApplication,
    /// A loan's interest subsidy.
    RefundApplication,
}

impl EventKind {
    /// The roles whose oracles must grant it (RO2).
    pub fn granting_roles(self) -> &'static [Role] {
        match self {
            EventKind::LoanApplication => &[Role::Bank, Role::Cad, Role::Fd],
            EventKind::RefundApplication => &[Role::Bank, Role::Fd],
        }
    }
}

/// One ed25519 signature, hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The signer's public key, hex.
    pub public_key: String,
    /// The signature, hex.
    pub signature: String,
}

/// An event with its signatures (RO1: exactly the customer's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEvent {
    /// What is applied for.
    pub body: EventBody,
    /// Signatures over [`event_signing_bytes`](crate::event_signing_bytes).
    pub signatures: Vec<Signature>,
}

/// An operation a lock holds until it is unlocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Move `amount` of `issuer`'s asset (a loan: bank → customer).
    Transfer {
        /// The debited account id.
        from: String,
        /// The credited account id.
        to: String,
        /// Whose asset.
        issuer: String,
        /// How much.
        amount: u64,
    },
    /// Pay a loan's interest subsidy (FD → the funding bank account); the
    /// loan becomes refunded.
    Repay {
        /// The debited account id (the FD's).
        from: String,
        /// The credited account id (the bank account that funded the loan).
        to: String,
        /// Whose asset.
        issuer: String,
        /// How much.
        amount: u64,
        /// The loan id.
        loan: String,
    },
}

impl Operation {
    /// `(from, to, issuer, amount)` of either kind.
    pub fn movement(&self) -> (&str, &str, &str, u64) {
        match self {
            Operation::Transfer {
                from,
                to,
                issuer,
                amount,
            }
            | Operation::Repay {
                from,
                to,
                issuer,
                amount,
                ..
            } => (from, to, issuer, *amount),
        }
    }
}

/// Algorithm 1's lock: operations held until the event's oracles grant it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// The operations, executed together on unlock.
    pub ops: Vec<Operation>,
    /// The customer's signed event.
    pub event: SignedEvent,
    /// The oracle keys that must grant it, one per granting role.
    pub keys: Vec<OracleKey>,
}

/// Where a lock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockStatus {
    /// Waiting for its unlocking code.
    Locked,
    /// Its operations were executed.
    Unlocked,
    /// Withdrawn by its customer; it can no longer be unlocked.
    Cancelled,
}

impl LockStatus {
    /// Its name as in JSON: `locked`, `unlocked`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            LockStatus::Locked => "locked",
            LockStatus::Unlocked => "unlocked",
            LockStatus::Cancelled => "cancelled",
        }
    }
}

/// A lock as stored in public state and as returned by `get_lock`: the
/// operations, the oracle keys and the event's id, never the event itself.
/// The signed event (income, assets, debts…) is kept in the private
/// collection [`EVENTS_COLLECTION`](crate::EVENTS_COLLECTION), which only
/// the peers of the bank, CAD, FD and regulator orgs hold.
///
/// A record written before events were private held the whole [`Lock`];
/// it still reads (its event kept aside, never written back), so a
/// deployment upgraded with open locks can judge, unlock or cancel them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredLockRecord")]
pub struct LockRecord {
    /// Its id (hex sha3-256 of [`lock_id_preimage`](crate::lock_id_preimage)).
    pub lock_id: String,
    /// The event's id (hex sha3-256 of
    /// [`event_id_preimage`](crate::event_id_preimage)): the commitment an
    /// unlocking code's event must match.
    pub event_id: String,
    /// The applying customer's account id.
    pub customer: String,
    /// What the event applies for.
    pub kind: EventKind,
    /// The operations, executed together on unlock.
    pub ops: Vec<Operation>,
    /// The oracle keys that must grant it, one per granting role.
    pub keys: Vec<OracleKey>,
    /// Where it stands.
    pub status: LockStatus,
    /// The transaction that locked it.
    pub locked_tx: String,
    /// The transaction that unlocked or cancelled it.
    pub closed_tx: Option<String>,
    /// The event of a record written before events were private; `None`
    /// for every lock since. Not serialized: a record rewritten drops it.
    #[serde(skip_serializing)]
    pub(crate) legacy_event: Option<SignedEvent>,
}

impl LockRecord {
    /// The public record of `lock`, locked by transaction `locked_tx`.
    pub fn locked(lock: &Lock, lock_id: String, event_id: String, locked_tx: String) -> Self {
        LockRecord {
            lock_id,
            event_id,
            customer: lock.event.body.customer().to_string(),
            kind: lock.event.body.kind(),
            ops: lock.ops.clone(),
            keys: lock.keys.clone(),
            status: LockStatus::Locked,
            locked_tx,
            closed_tx: None,
            legacy_event: None,
        }
    }
}

/// A [`LockRecord`] as stored: the current form, or the earlier one that
/// held the whole lock.
#[derive(Deserialize)]
struct StoredLockRecord {
    lock_id: String,
    event_id: String,
    customer: Option<String>,
    kind: Option<EventKind>,
    ops: Option<Vec<Operation>>,
    keys: Option<Vec<OracleKey>>,
    lock: Option<Lock>,
    status: LockStatus,
    locked_tx: String,
    closed_tx: Option<String>,
}

impl TryFrom<StoredLockRecord> for LockRecord {
    type Error = String;

    fn try_from(s: StoredLockRecord) -> Result<Self, String> {
        match (s.customer, s.kind, s.ops, s.keys, s.lock) {
            (Some(customer), Some(kind), Some(ops), Some(keys), None) => Ok(LockRecord {
                lock_id: s.lock_id,
                event_id: s.event_id,
                customer,
                kind,
                ops,
                keys,
                status: s.status,
                locked_tx: s.locked_tx,
                closed_tx: s.closed_tx,
                legacy_event: None,
            }),
            (None, None, None, None, Some(lock)) => {
                let record = LockRecord::locked(&lock, s.lock_id, s.event_id, s.locked_tx);
                Ok(LockRecord {
                    status: s.status,
                    closed_tx: s.closed_tx,
                    legacy_event: Some(lock.event),
                    ..record
                })
            }
            _ => Err(
                "a lock record holds either its customer, kind, ops and keys or (written before \
                 events were private) its whole lock"
                    .into(),
            ),
        }
    }
}

/// What `lock` returns (and the `Locked` event's payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockReceipt {
    /// The lock's id.
    pub lock_id: String,
    /// The event's id.
    pub event_id: String,
}

/// An oracle's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every term holds.
    Pass,
    /// Some term fails.
    Failed,
}

/// What an oracle signs (with
/// [`statement_signing_bytes`](crate::statement_signing_bytes)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OracleStatement {
    /// The lock id.
    pub lock: String,
    /// The event id.
    pub event: String,
    /// The oracle's role.
    pub role: Role,
    /// Its verdict.
    pub verdict: Verdict,
    /// When the oracle judged, unix milliseconds (its query's timestamp,
    /// vouched for by its signature). A loan is issued no earlier than the
    /// bank's `at_ms`, so a customer cannot back-date it.
    pub at_ms: u64,
}

/// What the `oracle` query returns: the statement to sign and why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OracleReport {
    /// The statement the role's client signs.
    pub statement: OracleStatement,
    /// The failing terms, in plain words; empty when the verdict is pass.
    pub failed_terms: Vec<String>,
}

/// Where a loan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoanStatus {
    /// Paid out to the customer.
    Issued,
    /// Its interest subsidy was paid: the customer may borrow again.
    Refunded,
}

/// A loan, created when a loan lock is unlocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loan {
    /// The loan lock's id.
    pub id: String,
    /// The customer's account id.
    pub customer: String,
    /// The amount lent.
    pub amount: u64,
    /// Its duration in months.
    pub months: u32,
    /// The account id of the bank account that funded it.
    pub bank_account: String,
    /// Whose asset was lent.
    pub issuer: String,
    /// When it was issued: the later of the unlock transaction's timestamp
    /// (the customer's) and the time the bank's oracle signed its pass
    /// ([`OracleStatement::at_ms`]) — never earlier than the bank judged.
    pub issued_at_ms: u64,
    /// Where it stands.
    pub status: LoanStatus,
    /// The refund lock that refunded it.
    pub refund_lock: Option<String>,
}

impl Loan {
    /// When it expires: `issued_at_ms + months * month_ms` (saturating).
    pub fn expires_at_ms(&self, month_ms: u64) -> u64 {
        self.issued_at_ms
            .saturating_add(u64::from(self.months).saturating_mul(month_ms))
    }
}
