//! `loc-mix`: the LoC paper's evaluation as a workload — 40 % applications
//! of loan (C → B → CAD → FD), 40 % applications of refund (C → B → FD) and
//! 20 % queries of a loan (C → B), each operation a whole event played by
//! its roles (`crate::loc::flows`).
//!
//! Each client owns its customers (four) and a funding lane: a bank teller
//! that lends from its account and an FD payer that repays subsidies from
//! its own, both registered oracles that judge the lane's events (the
//! chaincode moves money only on its owner's verdict), so that concurrent
//! clients never write the same balance. A client's operations
//! follow the pattern loan, refund, loan, refund, query; a loan goes to one
//! of its customers without a loan, a refund to one whose loan is issued
//! (when none is ready, the other kind is sent). A customer whose event
//! failed is put back where the ledger says it stands: the client computes
//! the event's lock id itself (signatures are deterministic), reads the
//! lock, cancels it if it is still open, and counts an unlock that
//! committed after all. A lock that is not on the ledger although its
//! submit's outcome is unknown (a timeout) may still commit later and would
//! then block the customer's next application: it stays *unsettled*, looked
//! up again before each of the customer's next events and cancelled if it
//! turns up, for a minute or four call timeouts, whichever is longer.
//! Closed loop only, as in the paper.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use loc::{LockRecord, LockStatus, Role, Terms};
use weft_client::ClientError;

use super::driver::{Driver, outcome};
use super::report::Outcome;
use crate::loc::flows::{self, Application, Funding, Oracles};
use crate::loc::parties::{LocNetwork, Party, ensure_account, evaluate_json, issue};

/// The workload's name.
pub(crate) const NAME: &str = "loc-mix";

/// Customers per client.
const CUSTOMERS_PER_CLIENT: usize = 4;

/// Setup calls in flight at once.
const SETUP_CONCURRENCY: usize = 32;

/// How long a client with no customer ready waits before it says so.
const IDLE_PAUSE: Duration = Duration::from_millis(100);

/// How long a lock whose submit's outcome is unknown is looked for again
/// before it is taken never to commit: at least this, and at least four
/// call timeouts.
const UNSETTLED_FOR: Duration = Duration::from_secs(60);

/// Money each teller issues to itself, and to its FD partner.
const LANE_FUNDS: u64 = 1 << 50;

/// One client's customers.
#[derive(Default)]
struct Lane {
    /// Customers without an issued loan (index into `customers`).
    free: VecDeque<usize>,
    /// Customers with an issued loan: (customer, loan id, amount).
    loaned: VecDeque<(usize, String, u64)>,
    /// The customer whose loan was touched last (for queries).
    last: Option<usize>,
    /// Operations sent by this client.
    sent: u64,
}

/// What one client does next.
enum Next {
    Loan(usize),
    Refund(usize, String, u64),
    Query(usize),
    Nothing,
}

/// The driver.
pub(crate) struct LocMix {
    customers: Vec<Party>,
    /// Per lane: its oracles (the lane's teller and payer, the shared CAD
    /// oracle) and the asset it lends in (the teller's).
    funding: Vec<(Oracles, Funding)>,
    lanes: Vec<Mutex<Lane>>,
    application: Application,
    subsidy_rate_bp: u64,
    /// Per customer: locks not on the ledger when their event failed,
    /// whose submit's outcome was unknown, and since when.
    unsettled: Mutex<HashMap<usize, Vec<(String, Instant)>>>,
    /// How long an unsettled lock is looked for.
    unsettled_for: Duration,
}

/// Where a lock stands once [`close_if_open`] is done with it.
enum Closed {
    /// It was unlocked: its operations ran.
    Unlocked,
    /// It is cancelled (now, or before).
    Cancelled,
    /// It is not on the ledger (of the customer's gateway).
    Missing,
    /// It could not be read or cancelled.
    Unknown,
}

/// Reads `customer`'s lock `lock_id` and cancels it if it is still locked.
async fn close_if_open(customer: &Party, lock_id: &str) -> Closed {
    let record: Result<LockRecord, ClientError> =
        evaluate_json(&customer.contract, "get_lock", &[lock_id]).await;
    match record {
        Ok(record) => match record.status {
            LockStatus::Unlocked => Closed::Unlocked,
            LockStatus::Cancelled => Closed::Cancelled,
            LockStatus::Locked => match flows::cancel(customer, lock_id, &|_| {}).await {
                Ok(_) => Closed::Cancelled,
                Err(_) => Closed::Unknown,
            },
        },
        Err(e) if e.to_string().contains("does not exist") => Closed::Missing,
        Err(_) => Closed::Unknown,
    }
}

impl LocMix {
    /// Deploys and configures `loc` if needed (months of 1 ms, so a loan
    /// can be refunded at once), registers the CAD oracle, funds one lane
    /// per client (its teller and payer registered as oracles) and enrols
    /// four customers per client.
    pub(crate) async fn prepare(
        profile: &std::path::Path,
        run_id: &str,
        customers: usize,
        timeout: Duration,
    ) -> anyhow::Result<LocMix> {
        let net = LocNetwork::open(profile, timeout)?;
        let quiet = |_line: String| {};
        let cad = net.member(Role::Cad, "client").await?;
        let terms = Terms {
            month_ms: 1,
            ..Terms::default()
        };
        let deployment = net.ensure_deployed(terms, &quiet).await?;
        let terms = deployment.terms;
        if terms.month_ms > 1_000 {
            eprintln!(
                "warning: loc is configured with months of {} ms: refunds of loans not yet \
                 expired will be refused by the bank's oracle",
                terms.month_ms
            );
        }
        let cad_registered = net.ensure_oracle(&cad).await?;
        let clients = customers.div_ceil(CUSTOMERS_PER_CLIENT).max(1);
        eprintln!(
            "setup: {clients} funding lanes (a bank teller and an FD payer each, both \
             oracles) and {customers} customers"
        );
        let lanes: Vec<anyhow::Result<Lender>> = futures::stream::iter(0..clients)
            .map(|i| fund_lane(&net, &cad, run_id, i))
            .buffer_unordered(SETUP_CONCURRENCY)
            .collect()
            .await;
        let lanes = lanes.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        // Locks name the lanes' oracles: the endorsing peers must know them.
        let registrations: Vec<_> = cad_registered
            .into_iter()
            .chain(lanes.iter().flat_map(|l| l.registrations.iter().cloned()))
            .collect();
        net.wait_on_every_peer(&registrations).await?;
        let funding = lanes.into_iter().map(|l| (l.oracles, l.funding)).collect();
        let enrolled: Vec<anyhow::Result<Party>> = futures::stream::iter(0..customers)
            .map(|i| enrol_customer(&net, run_id, i))
            .buffered(SETUP_CONCURRENCY)
            .collect()
            .await;
        let customers = enrolled.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        let lanes = (0..clients)
            .map(|c| {
                Mutex::new(Lane {
                    free: (c..customers.len()).step_by(clients).collect(),
                    ..Lane::default()
                })
            })
            .collect();
        let application = Application {
            amount: terms.loan_limit.min(10_000),
            months: terms.month_max.min(12),
            income: terms.income_min,
            asset: terms.asset_min,
            debt: 0,
        };
        Ok(LocMix {
            customers,
            funding,
            lanes,
            application,
            subsidy_rate_bp: u64::from(terms.subsidy_rate_bp),
            unsettled: Mutex::default(),
            unsettled_for: UNSETTLED_FOR.max(timeout * 4),
        })
    }

    /// Picks client `client`'s next operation and takes its customer out
    /// of the lane until it is done.
    fn next(&self, client: usize) -> Next {
        let Ok(mut lane) = self.lanes[client % self.lanes.len()].lock() else {
            return Next::Nothing;
        };
        let turn = lane.sent % 5;
        lane.sent += 1;
        let loan_first = matches!(turn, 0 | 2);
        if let (4, Some(c)) = (turn, lane.last) {
            return Next::Query(c);
        }
        let loan = |lane: &mut Lane| lane.free.pop_front().map(Next::Loan);
        let refund = |lane: &mut Lane| {
            lane.loaned
                .pop_front()
                .map(|(c, id, amount)| Next::Refund(c, id, amount))
        };
        let picked = if loan_first {
            loan(&mut lane).or_else(|| refund(&mut lane))
        } else {
            refund(&mut lane).or_else(|| loan(&mut lane))
        };
        picked.unwrap_or(Next::Nothing)
    }

    /// How customer `c`'s event of lock `lock_id` ended, and whether its
    /// lock ended unlocked (`None`: that cannot be told; see
    /// [`LocMix::recover`]).
    async fn conclude(
        &self,
        c: usize,
        lock_id: &str,
        result: Result<flows::Ended, ClientError>,
    ) -> (Option<bool>, Outcome) {
        let unknown = matches!(&result, Err(e) if outcome_unknown(e));
        let (done, outcome) = ended(result);
        let unlocked = if done {
            Some(true)
        } else {
            self.recover(c, lock_id, unknown).await
        };
        (unlocked, outcome)
    }

    /// Looks up customer `c`'s unsettled locks: one that committed after
    /// all is cancelled (nobody unlocks it: its event ended when the lock's
    /// submit failed), so it does not block the customer's next event; one
    /// still missing is kept until `unsettled_for` has passed, one that
    /// cannot be read is kept.
    async fn settle(&self, c: usize) {
        let Some(locks) = self.unsettled.lock().ok().and_then(|mut u| u.remove(&c)) else {
            return;
        };
        let customer = &self.customers[c];
        let mut kept = Vec::new();
        for (lock_id, since) in locks {
            let settled = match close_if_open(customer, &lock_id).await {
                Closed::Unlocked | Closed::Cancelled => true,
                Closed::Missing => since.elapsed() >= self.unsettled_for,
                Closed::Unknown => false,
            };
            if !settled {
                kept.push((lock_id, since));
            }
        }
        if !kept.is_empty()
            && let Ok(mut unsettled) = self.unsettled.lock()
        {
            unsettled.entry(c).or_default().extend(kept);
        }
    }

    /// Where customer `c` stands after its event of lock `lock_id`
    /// failed: `Some(true)` if the lock was unlocked after all (the event
    /// committed), `Some(false)` if it never committed or is now
    /// cancelled, `None` if that cannot be told (the customer is set
    /// aside). A lock not found although the outcome of its submit is
    /// `unknown` is kept unsettled.
    async fn recover(&self, c: usize, lock_id: &str, unknown: bool) -> Option<bool> {
        match close_if_open(&self.customers[c], lock_id).await {
            Closed::Unlocked => Some(true),
            Closed::Cancelled => Some(false),
            Closed::Missing => {
                if unknown && let Ok(mut unsettled) = self.unsettled.lock() {
                    let locks = unsettled.entry(c).or_default();
                    locks.push((lock_id.to_string(), Instant::now()));
                }
                Some(false)
            }
            Closed::Unknown => None,
        }
    }

    async fn send_one(&self, client: usize) -> (&'static str, Outcome) {
        let lane_index = client % self.lanes.len();
        let (oracles, funding) = &self.funding[lane_index % self.funding.len()];
        let quiet = |_line: String| {};
        // Each call of a flow waits out its gateway's hold (after a 429)
        // first (`parties::wait_out_hold`): none fails only for being held.
        match self.next(client) {
            Next::Loan(c) => {
                self.settle(c).await;
                let customer = &self.customers[c];
                let lock = flows::loan_lock(customer, oracles, funding, self.application);
                let lock_id = flows::lock_id_of(&lock);
                let result = flows::run_lock(customer, oracles, lock, &[], &quiet).await;
                let amount = self.application.amount;
                let (unlocked, outcome) = self.conclude(c, &lock_id, result).await;
                if let (Some(unlocked), Ok(mut lane)) = (unlocked, self.lanes[lane_index].lock()) {
                    if unlocked {
                        lane.loaned.push_back((c, lock_id, amount));
                    } else {
                        lane.free.push_back(c);
                    }
                    lane.last = Some(c);
                }
                ("loan", outcome)
            }
            Next::Refund(c, loan, amount) => {
                self.settle(c).await;
                let customer = &self.customers[c];
                let subsidy = (amount * self.subsidy_rate_bp / 10_000).max(1);
                let lock = flows::refund_lock(customer, oracles, funding, &loan, subsidy);
                let lock_id = flows::lock_id_of(&lock);
                let result = flows::run_lock(customer, oracles, lock, &[], &quiet).await;
                let (refunded, outcome) = self.conclude(c, &lock_id, result).await;
                if let (Some(refunded), Ok(mut lane)) = (refunded, self.lanes[lane_index].lock()) {
                    if refunded {
                        lane.free.push_back(c);
                    } else {
                        lane.loaned.push_back((c, loan, amount));
                    }
                    lane.last = Some(c);
                }
                ("refund", outcome)
            }
            Next::Query(c) => (
                "query",
                outcome(flows::query_loan(&self.customers[c]).await.map(drop)),
            ),
            // Every customer of this client was set aside (its ledger
            // state could not be read after a failed event): nothing to
            // send; do not spin.
            Next::Nothing => {
                tokio::time::sleep(IDLE_PAUSE).await;
                (
                    "idle",
                    Outcome::Failed {
                        stage: "client".into(),
                        code: "no_customer_ready".into(),
                    },
                )
            }
        }
    }
}

impl Driver for LocMix {
    fn send(&self, client: usize, _seq: u64) -> BoxFuture<'_, (&'static str, Outcome)> {
        Box::pin(self.send_one(client))
    }
}

/// Whether a failed call may have taken effect all the same: its answer
/// was lost (a timeout, a broken connection, a gateway failing inside). An
/// overloaded gateway (429) refused the call before doing it.
fn outcome_unknown(e: &ClientError) -> bool {
    (e.is_transient() && !matches!(e, ClientError::Overloaded { .. }))
        || matches!(e, ClientError::Protocol { .. })
}

/// Whether an event's operations ran, and how it ended: an unlock refused
/// with code 1–3 fails at stage `unlock` with code `code_N`.
fn ended(result: Result<flows::Ended, ClientError>) -> (bool, Outcome) {
    match result {
        Ok(ended) if ended.unlocked() => (true, Outcome::Ok),
        Ok(ended) => (
            false,
            Outcome::Failed {
                stage: "unlock".into(),
                code: format!("code_{}", ended.unlock.code),
            },
        ),
        Err(e) => (false, outcome(Err(e))),
    }
}

/// A funding lane as set up.
struct Lender {
    /// The lane's teller and payer, and the shared CAD oracle.
    oracles: Oracles,
    /// The teller's asset.
    funding: Funding,
    /// Where the registrations of the teller and the payer committed.
    registrations: Vec<weft_client::CommitStatus>,
}

/// A teller of the bank and an FD payer, each with an account and
/// registered as its role's oracle; the teller issues funds to both.
async fn fund_lane(
    net: &LocNetwork,
    cad: &Party,
    run_id: &str,
    i: usize,
) -> anyhow::Result<Lender> {
    let teller = net
        .enroll_connected(Role::Bank, &format!("teller-{run_id}-{i}"))
        .await?;
    let payer = net
        .enroll_connected(Role::Fd, &format!("payer-{run_id}-{i}"))
        .await?;
    ensure_account(&teller, &format!("BANK-{run_id}-{i}"))
        .await
        .context("opening a teller's account")?;
    ensure_account(&payer, &format!("FD-{run_id}-{i}"))
        .await
        .context("opening an FD account")?;
    issue(
        &teller,
        &teller.account(),
        LANE_FUNDS,
        &format!("{run_id}-t{i}"),
    )
    .await
    .context("funding a teller")?;
    issue(
        &teller,
        &payer.account(),
        LANE_FUNDS,
        &format!("{run_id}-f{i}"),
    )
    .await
    .context("funding an FD account")?;
    // Both were enrolled just now: their keys are not registered yet.
    let mut registrations = Vec::new();
    for party in [&teller, &payer] {
        registrations.push(net.register_oracle(party).await?);
    }
    Ok(Lender {
        funding: Funding {
            issuer: teller.account(),
        },
        oracles: Oracles {
            bank: teller,
            cad: cad.clone(),
            fd: payer,
        },
        registrations,
    })
}

/// A customer with an account.
async fn enrol_customer(net: &LocNetwork, run_id: &str, i: usize) -> anyhow::Result<Party> {
    let customer = net
        .enroll_connected(Role::Customer, &format!("c-{run_id}-{i}"))
        .await?;
    ensure_account(&customer, &format!("6222-{run_id}-{i}"))
        .await
        .context("opening a customer's account")?;
    Ok(customer)
}
