//! `weft loc demo`: the paper's three events and the regulator's inspection
//! on a network with the five roles as orgs, every step printed in plain
//! words; exits 1 if any step does not end the way LoC says it must.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use clap::{Args, Subcommand};
use loc::{Account, EventBody, Role, SignedEvent, Terms};
use weft_types::Identity;

use super::flows::{self, Application, Funding, Oracles, short};
use super::parties::{LocNetwork, Party, ensure_account, evaluate_json, issue};
use super::role_orgs;
use crate::bench::spawn::Spawned;
use crate::client_cmd::DEFAULT_PROFILE;
use crate::signals::Signals;

/// `weft loc`.
#[derive(Debug, Args)]
pub struct LocArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: LocCommand,
}

/// `weft loc` subcommands.
#[derive(Debug, Subcommand)]
pub enum LocCommand {
    /// Play the LoC events end to end — loan (C → B → CAD → FD), refund
    /// (C → B → FD), query (C → B), inspection (R) — deploying and setting
    /// up `loc` first if needed, and print each step.
    Demo(DemoArgs),
}

/// `weft loc demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The profile of a network whose orgs are Customer, Bank, CAD, FD and
    /// Regulator (`weft up --orgs Customer,Bank,CAD,FD,Regulator` writes
    /// one) [default: .weft/profile.json].
    #[arg(long, value_name = "PROFILE", conflicts_with = "spawn")]
    pub network: Option<PathBuf>,
    /// Start such a network in a temporary directory and stop it after.
    #[arg(long)]
    pub spawn: bool,
    /// Per-request timeout, seconds.
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub timeout: u64,
}

/// Runs `weft loc`.
pub fn run(args: &LocArgs) -> ExitCode {
    let LocCommand::Demo(demo) = &args.command;
    let Some(runtime) = crate::runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(demo_with_network(demo)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn demo_with_network(args: &DemoArgs) -> anyhow::Result<()> {
    let mut signals = Signals::install().context("cannot handle signals")?;
    let spawned = if args.spawn {
        tokio::select! {
            started = Spawned::start("loc", role_orgs(), None) => Some(started?),
            signal = signals.recv() => bail!("stopped by {signal} while the network was starting"),
        }
    } else {
        None
    };
    let profile = match &spawned {
        Some(s) => s.profile(),
        None => args
            .network
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PROFILE)),
    };
    let outcome = tokio::select! {
        outcome = demo(&profile, Duration::from_secs(args.timeout)) => outcome,
        signal = signals.recv() => Err(anyhow::anyhow!("stopped by {signal}")),
    };
    if let Some(s) = spawned {
        s.stop().await;
    }
    outcome
}

fn say(line: String) {
    println!("  {line}");
}

fn section(title: &str) {
    println!("\n== {title}");
}

async fn demo(profile: &std::path::Path, timeout: Duration) -> anyhow::Result<()> {
    let net = LocNetwork::open(profile, timeout)?;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    section("Setting up: the roles, the chaincode, the accounts");
    let bank = net.member(Role::Bank, "client").await?;
    let cad = net.member(Role::Cad, "client").await?;
    let fd = net.member(Role::Fd, "client").await?;
    let regulator = net.member(Role::Regulator, "client").await?;
    // One "month" lasts a millisecond in this demo, so that a loan has
    // expired by the time its refund is applied for.
    let terms = Terms {
        month_ms: 1,
        ..Terms::default()
    };
    let deployment = net.ensure_deployed(terms, &say).await?;
    let terms = deployment.terms;
    say(format!(
        "terms in force: loans up to {}, at most {} months; the bank wants income >= {}, assets >= {}, \
         debts <= {}; the CAD wants income <= {} and assets <= {} (poverty alleviation)",
        terms.loan_limit,
        terms.month_max,
        terms.income_min,
        terms.asset_min,
        terms.debt_max,
        terms.income_max,
        terms.asset_max
    ));
    let mut registrations = Vec::new();
    for party in [&bank, &cad, &fd] {
        registrations.extend(net.ensure_oracle(party).await?);
        say(format!(
            "{} is an oracle of {} (key {})",
            party.label(),
            party.role.as_str().to_uppercase(),
            short(&party.account())
        ));
    }
    // The bank's and the regulator's peers endorse the locks naming them.
    net.wait_on_every_peer(&registrations).await?;
    ensure_account(&bank, "BANK-VAULT-0001").await?;
    ensure_account(&fd, "FD-TREASURY-0001").await?;
    issue(
        &bank,
        &bank.account(),
        1_000_000,
        &format!("demo-{stamp}-vault"),
    )
    .await?;
    issue(&bank, &fd.account(), 100_000, &format!("demo-{stamp}-fd")).await?;
    say(format!(
        "{} issues 1,000,000 of its asset into its digital account and 100,000 into the FD's \
         (each issuance signed by the bank, linked to a traditional account)",
        bank.label()
    ));
    let funding = Funding {
        issuer: bank.account(),
    };
    let oracles = Oracles {
        bank: bank.clone(),
        cad: cad.clone(),
        fd: fd.clone(),
    };
    let alice = net
        .enroll_connected(Role::Customer, &format!("alice-{stamp}"))
        .await?;
    let bob = net
        .enroll_connected(Role::Customer, &format!("bob-{stamp}"))
        .await?;
    ensure_account(&alice, &format!("6222-{stamp}-1")).await?;
    ensure_account(&bob, &format!("6222-{stamp}-2")).await?;
    say(format!(
        "customers {} and {} enrol with the Customer org and open digital accounts linked to \
         their bank accounts",
        alice.label(),
        bob.label()
    ));

    section("Event 1: application of loan (C -> B -> CAD -> FD)");
    let good = Application {
        amount: terms.loan_limit.min(20_000),
        months: terms.month_max.min(12),
        income: terms
            .income_min
            .max(terms.income_max.saturating_sub(1).min(6_000)),
        asset: terms.asset_min.max(terms.asset_max.min(20_000)),
        debt: terms.debt_max.min(1_000),
    };
    let before = balance(&alice, &bank).await?;
    let loan = flows::apply_loan(&alice, &oracles, &funding, good, &[], &say).await?;
    ensure!(loan.unlocked(), "alice's loan was not granted: {:?}", loan);
    let after = balance(&alice, &bank).await?;
    say(format!(
        "{}'s digital account holds {} of the bank's asset (was {before})",
        alice.label(),
        after
    ));
    ensure!(after == before + good.amount, "the loan was not credited");
    privacy(&net, &regulator, &loan.lock_id, good).await?;

    section("A second loan while one is issued");
    match flows::apply_loan(&alice, &oracles, &funding, good, &[], &say).await {
        Err(e) => say(format!(
            "refused at the lock: {}",
            first_line(&e.to_string())
        )),
        Ok(ended) => bail!("a second loan was not refused: {ended:?}"),
    }

    section("A loan the terms refuse (income below the bank's minimum)");
    let poor = Application {
        income: terms.income_min.saturating_sub(1),
        ..good
    };
    let refused = flows::apply_loan(&bob, &oracles, &funding, poor, &[], &say).await?;
    ensure!(
        refused.unlock.code == 1,
        "expected code 1, got {:?}",
        refused.unlock
    );
    ensure!(
        balance(&bob, &bank).await? == 0,
        "a refused loan moved money"
    );
    say(format!(
        "{} holds nothing: a failed unlock moves no money",
        bob.label()
    ));
    flows::cancel(&bob, &refused.lock_id, &say).await?;

    section("A loan refused on evidence (the CAD's blacklist)");
    let blacklisted = flows::apply_loan(&bob, &oracles, &funding, good, &[Role::Cad], &say).await?;
    ensure!(
        blacklisted.unlock.code == 1,
        "expected code 1, got {:?}",
        blacklisted.unlock
    );
    flows::cancel(&bob, &blacklisted.lock_id, &say).await?;

    section("Event 3: query of the loan (C -> B), and who may read what");
    let mine = flows::query_loan(&alice).await?;
    say(format!(
        "{} reads her loan {}: {} over {} months, {:?}",
        alice.label(),
        short(&mine.id),
        mine.amount,
        mine.months,
        mine.status
    ));
    match evaluate_json::<loc::Loan>(&bob.contract, "query_loan", &[&alice.account()]).await {
        Err(e) => say(format!(
            "{} asks for alice's loan: {}",
            bob.label(),
            first_line(&e.to_string())
        )),
        Ok(_) => bail!("bob could read alice's loan"),
    }
    let all: serde_json::Value =
        evaluate_json(&regulator.contract, "inspect_all", &["loan"]).await?;
    say(format!(
        "{} (regulator) inspects every loan: {} on the ledger",
        regulator.label(),
        all.as_array().map_or(0, Vec::len)
    ));

    section("Event 2: application of refund (C -> B -> FD)");
    let subsidy = good.amount * u64::from(terms.subsidy_rate_bp) / 10_000;
    let fd_before = balance(&fd, &bank).await?;
    let refund = flows::apply_refund(
        &alice,
        &oracles,
        &funding,
        &loan.lock_id,
        subsidy,
        &[],
        &say,
    )
    .await?;
    ensure!(refund.unlocked(), "the refund was not paid: {refund:?}");
    fd.wait_for(refund.unlock_tx, flows::PEER_WAIT).await?;
    let fd_after = balance(&fd, &bank).await?;
    say(format!(
        "the FD's account went from {fd_before} to {fd_after}: {subsidy} repaid to the bank for {}",
        alice.label()
    ));
    ensure!(
        fd_after + subsidy == fd_before,
        "the subsidy was not repaid"
    );

    section("Replaying an unlocking code");
    match flows::submit_unlock(&alice, &refund.lock_id, &refund.unlocking_code).await {
        Err(e) => say(format!("refused: {}", first_line(&e.to_string()))),
        Ok(_) => bail!("a used unlocking code was accepted again"),
    }
    println!("\nLoC demo: every step ended as it must.");
    Ok(())
}

/// The application is private: the regulator reads it through its own
/// peer; the Customer org's peer — which serves every customer — holds
/// only its hash and says so, whoever asks.
async fn privacy(
    net: &LocNetwork,
    regulator: &Party,
    lock_id: &str,
    applied: Application,
) -> anyhow::Result<()> {
    section("Who holds the application (private data)");
    let event: SignedEvent = evaluate_json(&regulator.contract, "inspect", &["event", lock_id])
        .await
        .context("the regulator inspecting the application")?;
    let EventBody::LoanApplication {
        income,
        asset,
        debt,
        ..
    } = event.body
    else {
        bail!("lock {lock_id} holds no loan application: {event:?}");
    };
    ensure!(
        (income, asset, debt) == (applied.income, applied.asset, applied.debt),
        "the regulator read another application: {event:?}"
    );
    say(format!(
        "{} (regulator) inspects the application through its own peer: income {income}, \
         assets {asset}, debts {debt}",
        regulator.label()
    ));
    let customer_org = net.org_of(Role::Customer).to_string();
    let identity = Identity::clone(&regulator.identity);
    let at_customer_peer = net
        .connect_through(Role::Regulator, identity, &customer_org)
        .await?;
    match evaluate_json::<SignedEvent>(&at_customer_peer.contract, "inspect", &["event", lock_id])
        .await
    {
        // Refused for the right reason, not for any failure.
        Err(e) if e.to_string().contains("are not members of collection") => say(format!(
            "asked through the {customer_org} peer, which keeps only its hash: {}",
            first_line(&e.to_string())
        )),
        Err(e) => bail!("asking through the {customer_org} peer failed otherwise: {e}"),
        Ok(_) => bail!("the {customer_org} peer served the private application"),
    }
    Ok(())
}

/// `owner`'s balance of the asset issued by `issuer`, read by the owner.
async fn balance(owner: &Party, issuer: &Party) -> anyhow::Result<u64> {
    let account: Account = evaluate_json(&owner.contract, "account", &[&owner.account()]).await?;
    Ok(account
        .balances
        .get(&issuer.account())
        .copied()
        .unwrap_or(0))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
