//! The LoC events played end to end (the paper's Table 2 and Table 4):
//! each step done by the role whose step it is (customers through the
//! bank's gateway, every other role through its own org's), and told in
//! plain words to `say`.
//!
//! - Application of loan, C → B → CAD → FD: the customer signs the
//!   application and locks it on chain with the transfer of the loan and
//!   the keys of the three granting roles; each granting role evaluates its
//!   oracle on its own peer and signs the verdict; the unlocking code
//!   (event + the three signed verdicts) is submitted and the chaincode's
//!   dual-stack check answers code 0 (money moved) or 1 / 2 / 3.
//! - Application of refund, C → B → FD: the same with the interest subsidy
//!   the FD repays to the bank for the customer, two granting roles.
//! - Query of the loan, C → B: a read-only evaluation.

use loc::{
    EventBody, Item, Lock, LockReceipt, Operation, OracleKey, OracleReport, Role,
    Signature as EventSignature, SignedEvent, UnlockResult, Verdict,
};
use weft_client::{ClientError, Committed, TransientMap};
use weft_types::Bytes;

use super::parties::{Party, decode, evaluate_json, invalid_input, wait_out_hold};

/// How long a party waits for another's transaction to reach its own peer.
pub const PEER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a customer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Application {
    /// Loan amount.
    pub amount: u64,
    /// Duration, months.
    pub months: u32,
    /// Yearly income.
    pub income: u64,
    /// Assets.
    pub asset: u64,
    /// Debts.
    pub debt: u64,
}

/// The members who sign oracle verdicts, one per granting role.
#[derive(Debug, Clone)]
pub struct Oracles {
    /// The bank's.
    pub bank: Party,
    /// The civil affairs department's.
    pub cad: Party,
    /// The financial department's.
    pub fd: Party,
}

impl Oracles {
    fn of(&self, role: Role) -> &Party {
        match role {
            Role::Cad => &self.cad,
            Role::Fd => &self.fd,
            _ => &self.bank,
        }
    }
}

/// The asset money moves in. Whose money moves follows from the
/// [`Oracles`]: the chaincode takes money from an account only on its
/// owner's verdict, so the bank oracle lends from its own account (and is
/// repaid the subsidy there), and the FD oracle pays subsidies from its own.
#[derive(Debug, Clone)]
pub struct Funding {
    /// The issuing bank (account id) whose asset moves.
    pub issuer: String,
}

/// How an event ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The lock.
    pub lock_id: String,
    /// The chaincode's unlock answer (code 0: the operations ran).
    pub unlock: UnlockResult,
    /// The terms each granting role found failed (empty: all passed).
    pub failed_terms: Vec<(Role, Vec<String>)>,
    /// The unlocking code as sent (JSON), to show that it works once.
    pub unlocking_code: String,
    /// The unlock transaction.
    pub unlock_tx: weft_types::TxId,
}

impl Ended {
    /// Whether the operations ran.
    pub fn unlocked(&self) -> bool {
        self.unlock.code == 0
    }
}

/// A short form of a hex id for messages.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(10)]
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ClientError> {
    serde_json::to_string(value).map_err(|e| invalid_input(e.to_string()))
}

/// A transient map of one entry: `key` = `json`. What LoC keeps off the
/// chain (the lock, the unlocking code) travels this way.
fn transient(key: &str, json: &str) -> TransientMap {
    TransientMap::from([(key.to_string(), Bytes(json.as_bytes().to_vec()))])
}

/// A fresh, unpredictable nonce (128 random bits, hex) for an event: the
/// event's id is public, so a guessable nonce would let anyone confirm a
/// guess of the income, assets and debts behind it.
fn random_nonce() -> String {
    hex::encode(weft_types::random_bytes::<16>())
}

/// Event 1, application of loan (C → B → CAD → FD). `exceptions` are the
/// granting roles that hold evidence against the customer (a blacklist):
/// their exception flag is set to 0.
pub async fn apply_loan(
    customer: &Party,
    oracles: &Oracles,
    funding: &Funding,
    application: Application,
    exceptions: &[Role],
    say: &(dyn Fn(String) + Sync),
) -> Result<Ended, ClientError> {
    say(format!(
        "{} (customer) signs a loan application: {} over {} months, income {}, assets {}, debts {}",
        customer.label(),
        application.amount,
        application.months,
        application.income,
        application.asset,
        application.debt
    ));
    let lock = loan_lock(customer, oracles, funding, application);
    run_lock(customer, oracles, lock, exceptions, say).await
}

/// The lock of a loan application: signed by `customer`, the transfer of
/// the amount from the bank oracle's account, the bank, CAD and FD oracle
/// keys, with a fresh random nonce (so a new lock id every time).
pub fn loan_lock(
    customer: &Party,
    oracles: &Oracles,
    funding: &Funding,
    application: Application,
) -> Lock {
    let body = EventBody::LoanApplication {
        customer: customer.account(),
        amount: application.amount,
        months: application.months,
        income: application.income,
        asset: application.asset,
        debt: application.debt,
        nonce: random_nonce(),
    };
    let ops = vec![Operation::Transfer {
        from: oracles.bank.account(),
        to: customer.account(),
        issuer: funding.issuer.clone(),
        amount: application.amount,
    }];
    signed_lock(customer, oracles, body, ops)
}

/// Event 2, application of refund (C → B → FD): the FD repays the interest
/// subsidy `amount` of `loan` to the bank that lent it.
pub async fn apply_refund(
    customer: &Party,
    oracles: &Oracles,
    funding: &Funding,
    loan: &str,
    amount: u64,
    exceptions: &[Role],
    say: &(dyn Fn(String) + Sync),
) -> Result<Ended, ClientError> {
    say(format!(
        "{} (customer) signs a refund application: the interest subsidy {amount} of loan {}",
        customer.label(),
        short(loan)
    ));
    let lock = refund_lock(customer, oracles, funding, loan, amount);
    run_lock(customer, oracles, lock, exceptions, say).await
}

/// The lock of a refund application: signed by `customer`, the repay of
/// `amount` from the FD oracle's account to the bank oracle's, which must
/// be the account that funded `loan` (the chaincode refuses another), the
/// bank and FD oracle keys, with a fresh random nonce.
pub fn refund_lock(
    customer: &Party,
    oracles: &Oracles,
    funding: &Funding,
    loan: &str,
    amount: u64,
) -> Lock {
    let body = EventBody::RefundApplication {
        customer: customer.account(),
        loan: loan.to_string(),
        amount,
        nonce: random_nonce(),
    };
    let ops = vec![Operation::Repay {
        from: oracles.fd.account(),
        to: oracles.bank.account(),
        issuer: funding.issuer.clone(),
        amount,
        loan: loan.to_string(),
    }];
    signed_lock(customer, oracles, body, ops)
}

/// The id the chaincode gives `lock`.
pub fn lock_id_of(lock: &Lock) -> String {
    loc::lock_id_with(lock, |bytes| weft_types::sha3_256(bytes).0)
}

/// `body` signed by `customer`, with `ops` and the keys of its granting roles.
fn signed_lock(customer: &Party, oracles: &Oracles, body: EventBody, ops: Vec<Operation>) -> Lock {
    let signature = customer.sign(&loc::event_signing_bytes(&body));
    let keys: Vec<OracleKey> = body
        .granting_roles()
        .iter()
        .map(|&role| OracleKey {
            role,
            public_key: oracles.of(role).account(),
        })
        .collect();
    Lock {
        ops,
        event: SignedEvent {
            body,
            signatures: vec![EventSignature {
                public_key: customer.account(),
                signature,
            }],
        },
        keys,
    }
}

/// The customer withdraws an application that was refused (its lock can
/// then never be unlocked, and a new application may be made).
pub async fn cancel(
    customer: &Party,
    lock_id: &str,
    say: &(dyn Fn(String) + Sync),
) -> Result<(), ClientError> {
    wait_out_hold(&customer.contract).await;
    customer.contract.submit("cancel_lock", &[lock_id]).await?;
    say(format!(
        "{} withdraws the refused application: lock {} is cancelled",
        customer.label(),
        short(lock_id)
    ));
    Ok(())
}

/// Event 3, query of the loan (C → B): the customer's current loan as JSON.
pub async fn query_loan(customer: &Party) -> Result<loc::Loan, ClientError> {
    evaluate_json(&customer.contract, "query_loan", &[&customer.account()]).await
}

/// Submits `unlock` of `lock_id` with `unlocking_code` (JSON) in the
/// transient map: it carries the private event.
pub async fn submit_unlock(
    customer: &Party,
    lock_id: &str,
    unlocking_code: &str,
) -> Result<Committed, ClientError> {
    customer
        .contract
        .submit_with_transient(
            "unlock",
            &[lock_id],
            transient(loc::UNLOCKING_CODE_TRANSIENT_KEY, unlocking_code),
        )
        .await
}

/// Lock (Algorithm 1), oracles (Algorithm 2), unlock (Algorithm 3) of
/// `lock` (from [`loan_lock`] or [`refund_lock`]).
pub async fn run_lock(
    customer: &Party,
    oracles: &Oracles,
    lock: Lock,
    exceptions: &[Role],
    say: &(dyn Fn(String) + Sync),
) -> Result<Ended, ClientError> {
    let granting: Vec<Role> = lock.keys.iter().map(|k| k.role).collect();
    let event = lock.event.clone();
    let expected_id = lock_id_of(&lock);
    wait_out_hold(&customer.contract).await;
    // The lock (its event above all) goes in the transient map: the
    // chaincode keeps the event in the private `loc_events` collection.
    let locked = customer
        .contract
        .submit_with_transient(
            "lock",
            &[],
            transient(loc::LOCK_TRANSIENT_KEY, &to_json(&lock)?),
        )
        .await?;
    let receipt: LockReceipt = decode(&locked.result)?;
    // Callers find a lock again by the id they compute (`lock_id_of`).
    if receipt.lock_id != expected_id {
        return Err(invalid_input(format!(
            "the chaincode named the lock {}, not {expected_id} as computed here",
            receipt.lock_id
        )));
    }
    let lock_id = receipt.lock_id;
    say(format!(
        "{} locks it on chain: lock {} holds the operation, the keys of {} and the event's \
         hash; the event itself only reaches the peers of the bank, CAD, FD and regulator",
        customer.label(),
        short(&lock_id),
        granting
            .iter()
            .map(|r| r.as_str().to_uppercase())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut items = vec![Item::Event { event }];
    let mut failed_terms = Vec::new();
    for &role in &granting {
        let oracle = oracles.of(role);
        let exception = exceptions.contains(&role);
        // The role checks the lock on its own peer, once that peer has it.
        oracle.wait_for(locked.tx_id, PEER_WAIT).await?;
        let report: OracleReport = evaluate_json(
            &oracle.contract,
            "oracle",
            &[
                &lock_id,
                role.as_str(),
                if exception { "true" } else { "false" },
            ],
        )
        .await?;
        let verdict = report.statement.verdict;
        let signature = oracle.sign(&loc::statement_signing_bytes(&report.statement));
        if verdict == Verdict::Pass {
            say(format!(
                "{} ({}) checks the application against its terms: pass; signs the verdict",
                oracle.label(),
                role.as_str().to_uppercase()
            ));
        } else {
            say(format!(
                "{} ({}) checks the application against its terms: FAILED ({}); signs the verdict",
                oracle.label(),
                role.as_str().to_uppercase(),
                report.failed_terms.join("; ")
            ));
            failed_terms.push((role, report.failed_terms.clone()));
        }
        items.push(Item::OracleSig {
            role,
            public_key: oracle.account(),
            verdict,
            at_ms: report.statement.at_ms,
            signature,
        });
    }
    let unlocking_code = to_json(&loc::UnlockingCode::from_items(&items))?;
    wait_out_hold(&customer.contract).await;
    let unlocked = submit_unlock(customer, &lock_id, &unlocking_code).await?;
    let unlock: UnlockResult = decode(&unlocked.result)?;
    say(format!(
        "{} submits the unlocking code (the event and {} signed verdicts): code {} — {}",
        customer.label(),
        granting.len(),
        unlock.code,
        unlock.meaning
    ));
    Ok(Ended {
        lock_id,
        unlock,
        failed_terms,
        unlocking_code,
        unlock_tx: unlocked.tx_id,
    })
}
