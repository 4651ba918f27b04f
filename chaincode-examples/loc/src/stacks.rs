//! Algorithm 3, the dual-stack unlocking, as a pure function over a
//! [`Crypto`]: [`evaluate`] pops the lock stack ([`lock_stack`]) and the
//! unlocking code together and either releases the lock's operations or
//! says why not, as an [`UnlockCode`]. [`Item`], [`UnlockingCode`] and
//! [`UnlockResult`] are its wire types.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{LockRecord, Operation, OracleKey, OracleStatement, Role, SignedEvent, Verdict};
use crate::signing::{Crypto, hex_encode};

/// One item of Algorithm 3's stacks. An unlocking code's items that do not
/// parse as an `Item` are unknown items (a type error when popped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    /// The signed event (unlocking code side).
    Event {
        /// The event.
        event: SignedEvent,
    },
    /// The locked event's id (lock side): the lock keeps the event's
    /// commitment, not the event, so an unlocking code's event equals the
    /// locked one when it hashes to this id.
    EventId {
        /// The event id, hex.
        event_id: String,
    },
    /// An oracle's signed verdict.
    OracleSig {
        /// The oracle's role.
        role: Role,
        /// Its public key, hex.
        public_key: String,
        /// Its verdict.
        verdict: Verdict,
        /// When it judged ([`OracleStatement::at_ms`]).
        at_ms: u64,
        /// Its signature over the [`OracleStatement`], hex.
        signature: String,
    },
    /// An oracle key (lock side).
    PublicKey {
        /// The role.
        role: Role,
        /// The key, hex.
        public_key: String,
    },
    /// A locked operation (lock side).
    Op {
        /// The operation.
        op: Operation,
    },
}

/// The unlocking code a client sends: bottom → top,
/// `[event, oracle_sig(key_1) … oracle_sig(key_n)]` in the lock's key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnlockingCode {
    /// The items as sent, each parsed as an [`Item`] when popped.
    pub items: Vec<serde_json::Value>,
}

impl UnlockingCode {
    /// The code for `event` and the oracles' `(key, statement, signature
    /// hex)` — each statement as its oracle signed it — which must be in the
    /// lock's key order.
    pub fn new(event: &SignedEvent, oracle_sigs: &[(OracleKey, OracleStatement, String)]) -> Self {
        let mut items = vec![Item::Event {
            event: event.clone(),
        }];
        items.extend(
            oracle_sigs
                .iter()
                .map(|(key, statement, signature)| Item::OracleSig {
                    role: key.role,
                    public_key: key.public_key.clone(),
                    verdict: statement.verdict,
                    at_ms: statement.at_ms,
                    signature: signature.clone(),
                }),
        );
        UnlockingCode::from_items(&items)
    }

    /// A code of these items.
    pub fn from_items(items: &[Item]) -> Self {
        UnlockingCode {
            items: items
                .iter()
                .map(|i| serde_json::to_value(i).unwrap_or(serde_json::Value::Null))
                .collect(),
        }
    }
}

/// What `unlock` returns for a well-formed call (and the `Unlocked`
/// event's payload on success).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlockResult {
    /// 0 unlocked, 1 oracle check failed, 2 event check failed, 3 type error.
    pub code: u8,
    /// The code in words, with what failed.
    pub meaning: String,
    /// The lock.
    pub lock_id: String,
}

/// The outcome of an unlocking attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlockCode {
    /// 0: every check passed; the operations run.
    Unlocked,
    /// 1: an oracle signature is missing, forged, by the wrong key, or not a pass.
    OracleCheckFailed,
    /// 2: the event differs from the locked one, or its signature fails.
    EventCheckFailed,
    /// 3: the code's items do not line up with the lock's (wrong, unknown,
    /// missing or extra items).
    TypeError,
}

impl UnlockCode {
    /// The number `unlock` returns.
    pub fn code(self) -> u8 {
        match self {
            UnlockCode::Unlocked => 0,
            UnlockCode::OracleCheckFailed => 1,
            UnlockCode::EventCheckFailed => 2,
            UnlockCode::TypeError => 3,
        }
    }

    /// The code in words; `UnlockResult::meaning` starts with it.
    pub fn meaning(self) -> &'static str {
        match self {
            UnlockCode::Unlocked => "unlocked",
            UnlockCode::OracleCheckFailed => "oracle check failed",
            UnlockCode::EventCheckFailed => "event check failed",
            UnlockCode::TypeError => "type error",
        }
    }
}

impl fmt::Display for UnlockCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.meaning())
    }
}

/// Why an unlocking code was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 1, 2 or 3.
    pub code: UnlockCode,
    /// What failed, in plain words.
    pub detail: String,
}

impl Rejection {
    fn new(code: UnlockCode, detail: impl Into<String>) -> Self {
        Rejection {
            code,
            detail: detail.into(),
        }
    }
}

/// The lock's stack, bottom → top: `[op_1 … op_m, event id, public_key_1 … public_key_n]`.
pub fn lock_stack(lock: &LockRecord) -> Vec<Item> {
    let ops = lock.ops.iter().map(|op| Item::Op { op: op.clone() });
    let event = Item::EventId {
        event_id: lock.event_id.clone(),
    };
    let keys = lock.keys.iter().map(|k| Item::PublicKey {
        role: k.role,
        public_key: k.public_key.clone(),
    });
    ops.chain(std::iter::once(event)).chain(keys).collect()
}

fn describe(item: Option<&Value>) -> String {
    match item {
        None => "nothing (the unlocking code ran out)".into(),
        Some(v) => match v.get("type").and_then(Value::as_str) {
            Some(t) => format!("an item of type {t:?}"),
            None => "an item without a type".into(),
        },
    }
}

/// What a matching unlocking code releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted<'l> {
    /// The operations to execute, bottom first.
    pub ops: Vec<&'l Operation>,
    /// The oracles' verified pass statements, in the lock's key order.
    pub passes: Vec<OracleStatement>,
    /// The unlocking code's event, checked to be the locked one and
    /// signed by its customer.
    pub event: SignedEvent,
}

impl Granted<'_> {
    /// When `role`'s oracle judged, if it is among the passes.
    pub fn judged_at_ms(&self, role: Role) -> Option<u64> {
        self.passes.iter().find(|s| s.role == role).map(|s| s.at_ms)
    }
}

/// Runs Algorithm 3 for the public record `lock` against `code`. On
/// success returns the operations to execute, the verified statements and
/// the verified event. Every oracle signature must cover `OracleStatement {
/// lock: lock_id, event: event_id, role, verdict: pass, at_ms }`, with the
/// `at_ms` its item carries; the code's event must hash to the lock's event
/// id and carry its customer's signature.
pub fn evaluate<'l>(
    lock: &'l LockRecord,
    code: &UnlockingCode,
    crypto: &impl Crypto,
) -> Result<Granted<'l>, Rejection> {
    let mut uc: Vec<&Value> = code.items.iter().collect();
    let mut stack = lock_stack(lock);
    let mut passes = Vec::with_capacity(lock.keys.len());
    let mut verified = None;
    while let Some(top) = stack.last() {
        match top {
            Item::PublicKey { role, public_key } => {
                let item = uc.pop();
                passes.push(check_oracle(
                    item,
                    *role,
                    public_key,
                    &lock.lock_id,
                    &lock.event_id,
                    crypto,
                )?);
            }
            Item::EventId { event_id } => {
                let item = uc.pop();
                let Some(Item::Event { event: sent }) = parse(item) else {
                    return Err(Rejection::new(
                        UnlockCode::TypeError,
                        format!("expected the event, found {}", describe(item)),
                    ));
                };
                let digest = crypto.event_digest(&sent.body);
                let sent_id = hex_encode(&digest);
                if &sent_id != event_id {
                    return Err(Rejection::new(
                        UnlockCode::EventCheckFailed,
                        format!(
                            "the event differs from the locked one (its id is {sent_id}, the \
                             lock's event is {event_id})"
                        ),
                    ));
                }
                crypto
                    .check_event_digest(&sent, &digest)
                    .map_err(|e| Rejection::new(UnlockCode::EventCheckFailed, e))?;
                verified = Some(sent);
            }
            Item::Op { .. } => break,
            Item::Event { .. } | Item::OracleSig { .. } => {
                return Err(Rejection::new(
                    UnlockCode::TypeError,
                    "the lock holds an unlocking code's item",
                ));
            }
        }
        stack.pop();
    }
    if !uc.is_empty() {
        return Err(Rejection::new(
            UnlockCode::TypeError,
            format!(
                "{} item(s) left in the unlocking code after the event",
                uc.len()
            ),
        ));
    }
    // Popped top first: the last key's statement came first.
    passes.reverse();
    let Some(event) = verified else {
        return Err(Rejection::new(
            UnlockCode::TypeError,
            "the lock holds no event",
        ));
    };
    Ok(Granted {
        ops: lock.ops.iter().collect(),
        passes,
        event,
    })
}

fn parse(item: Option<&Value>) -> Option<Item> {
    serde_json::from_value(item?.clone()).ok()
}

fn check_oracle(
    item: Option<&Value>,
    role: Role,
    public_key: &str,
    lock_id: &str,
    event_id: &str,
    crypto: &impl Crypto,
) -> Result<OracleStatement, Rejection> {
    let Some(Item::OracleSig {
        role: sent_role,
        public_key: sent_key,
        verdict,
        at_ms,
        signature,
    }) = parse(item)
    else {
        return Err(Rejection::new(
            UnlockCode::TypeError,
            format!(
                "expected the {role} oracle's signature, found {}",
                describe(item)
            ),
        ));
    };
    let failed = |detail: String| Err(Rejection::new(UnlockCode::OracleCheckFailed, detail));
    if sent_role != role || sent_key != public_key {
        return failed(format!(
            "expected a signature by the {role} oracle key {public_key}, found one by the \
             {sent_role} key {sent_key}"
        ));
    }
    if verdict != Verdict::Pass {
        return failed(format!("the {role} oracle's verdict is failed"));
    }
    let statement = OracleStatement {
        lock: lock_id.to_string(),
        event: event_id.to_string(),
        role,
        verdict: Verdict::Pass,
        at_ms,
    };
    if !crypto.verify_statement(public_key, &statement, &signature) {
        return failed(format!(
            "the {role} oracle's signature does not verify for a pass of this lock \
             judged at {at_ms} ms"
        ));
    }
    Ok(statement)
}
