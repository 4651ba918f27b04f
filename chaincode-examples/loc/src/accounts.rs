//! The deployment, digital accounts and their connectors to traditional
//! bank accounts, and oracle key registration.

use std::collections::BTreeMap;

use weft_chaincode::{Context, Error, Result};

use crate::model::{Account, Deployment, Issuance, OracleKey, Payout, Role};
use crate::signing::{Crypto, hex_array, issuance_signing_bytes};
use crate::store::{self, CONFIG_KEY, HostCrypto, caller_id, caller_is, caller_is_admin, require};

pub(crate) fn configure(ctx: &mut Context, deployment_json: &str) -> Result<Deployment> {
    if ctx.get(CONFIG_KEY)?.is_some() {
        return Err(Error::new("already configured"));
    }
    let d: Deployment = serde_json::from_str(deployment_json)
        .map_err(|e| Error::new(format!("the deployment is not valid JSON: {e}")))?;
    validate(&d)?;
    // Whoever configures picks every role's org and the terms: only the
    // bank the deployment names, through one of its admins.
    require(
        caller_is(ctx, &d, Role::Bank) && caller_is_admin(ctx),
        || {
            format!(
                "only an admin of the bank's org ({}) configures LoC",
                d.orgs.bank
            )
        },
    )?;
    ctx.put_json(CONFIG_KEY, &d)?;
    Ok(d)
}

fn validate(d: &Deployment) -> Result<()> {
    for (i, role) in Role::ALL.iter().enumerate() {
        let org = d.orgs.org(*role);
        if org.is_empty() {
            return Err(Error::new(format!("the {role} org must not be empty")));
        }
        if let Some(other) = Role::ALL[..i].iter().find(|r| d.orgs.org(**r) == org) {
            return Err(Error::new(format!(
                "org {org} is given two roles ({other} and {role}): LoC needs one org per role"
            )));
        }
    }
    let t = &d.terms;
    if t.income_min > t.income_max || t.asset_min > t.asset_max {
        return Err(Error::new(
            "the terms' minimums must not exceed their maximums (income, asset)",
        ));
    }
    if t.month_ms == 0 || t.month_max == 0 {
        return Err(Error::new("month_ms and month_max must be positive"));
    }
    if t.subsidy_rate_bp > 10_000 {
        return Err(Error::new(format!(
            "subsidy_rate_bp {} is above 10000 (100 %)",
            t.subsidy_rate_bp
        )));
    }
    Ok(())
}

pub(crate) fn open_account(ctx: &mut Context, bank_account: String) -> Result<Account> {
    let d = store::deployment(ctx)?;
    if bank_account.trim().is_empty() {
        return Err(Error::new("the bank account must not be empty"));
    }
    let creator = ctx.creator().clone();
    let role = d.orgs.role_of(&creator.org).ok_or_else(|| {
        Error::new(format!(
            "org {} has no role in this LoC deployment",
            creator.org
        ))
    })?;
    let id = caller_id(ctx);
    if store::account(ctx, &id)?.is_some() {
        return Err(Error::new(format!("account {id} already exists")));
    }
    if let Some(owner) = store::get::<String>(ctx, "bank_account", &[&bank_account])? {
        return Err(Error::new(format!(
            "bank account {bank_account} is already linked to account {owner}"
        )));
    }
    let account = Account {
        id,
        org: creator.org,
        name: creator.name,
        role,
        bank_account,
        balances: BTreeMap::new(),
    };
    store::put_account(ctx, &account)?;
    store::put(ctx, "bank_account", &[&account.bank_account], &account.id)?;
    Ok(account)
}

pub(crate) fn issue(
    ctx: &mut Context,
    to: String,
    amount: u64,
    issuance_json: &str,
) -> Result<Issuance> {
    let d = store::deployment(ctx)?;
    require(caller_is(ctx, &d, Role::Bank), || {
        "only a member of the bank org issues digital assets".into()
    })?;
    let issuance: Issuance = serde_json::from_str(issuance_json)
        .map_err(|e| Error::new(format!("the issuance is not valid JSON: {e}")))?;
    if issuance.to != to || issuance.amount != amount {
        return Err(Error::new(format!(
            "the issuance is for {} to {}, but the call asks for {amount} to {to}",
            issuance.amount, issuance.to
        )));
    }
    if amount == 0 || issuance.serial.is_empty() {
        return Err(Error::new(
            "an issuance needs a positive amount and a serial",
        ));
    }
    let signer = caller_id(ctx);
    if issuance.issuer != signer {
        return Err(Error::new(format!(
            "the issuer {} is not the signer {signer}",
            issuance.issuer
        )));
    }
    store::account_or_err(ctx, &signer).map_err(|_| {
        Error::new(format!(
            "the issuer {signer} has no account: open one first"
        ))
    })?;
    let bytes = issuance_signing_bytes(&to, amount, &issuance.serial);
    if !HostCrypto(ctx).verify_hex(&signer, &bytes, &issuance.signature) {
        return Err(Error::new(
            "the issuance's signature does not verify with the signer's key",
        ));
    }
    if store::get::<Issuance>(ctx, "issuance", &[&issuance.serial])?.is_some() {
        return Err(Error::new(format!(
            "issuance serial {} was already used",
            issuance.serial
        )));
    }
    let mut account = store::account_or_err(ctx, &to)?;
    let balance = account.balances.entry(signer.clone()).or_insert(0);
    *balance = balance
        .checked_add(amount)
        .ok_or_else(|| Error::new("the balance would overflow"))?;
    store::put_account(ctx, &account)?;
    let issuance = Issuance {
        issuer: signer,
        ..issuance
    };
    store::put(ctx, "issuance", &[&issuance.serial], &issuance)?;
    Ok(issuance)
}

pub(crate) fn connector_out(ctx: &mut Context, issuer: String, amount: u64) -> Result<Payout> {
    store::deployment(ctx)?;
    if amount == 0 {
        return Err(Error::new("the amount must be positive"));
    }
    let id = caller_id(ctx);
    let mut account = store::account_or_err(ctx, &id)?;
    let held = account.balance(&issuer);
    if held < amount {
        return Err(Error::new(format!(
            "insufficient funds: account {id} holds {held} of issuer {issuer}'s asset, needs {amount}"
        )));
    }
    account.balances.insert(issuer.clone(), held - amount);
    store::put_account(ctx, &account)?;
    let payout = Payout {
        account: id,
        bank_account: account.bank_account,
        issuer,
        amount,
        tx_id: ctx.tx_id().to_string(),
    };
    store::put(ctx, "payout", &[&payout.tx_id], &payout)?;
    Ok(payout)
}

pub(crate) fn read_account(ctx: &Context, id: &str) -> Result<Account> {
    let d = store::deployment(ctx)?;
    let own = caller_id(ctx) == id;
    require(own || caller_is(ctx, &d, Role::Regulator), || {
        "only an account's owner or the regulator reads it".into()
    })?;
    store::account_or_err(ctx, id)
}

pub(crate) fn register_oracle(
    ctx: &mut Context,
    role: &str,
    public_key: &str,
) -> Result<OracleKey> {
    let key = oracle_key_by_admin(ctx, role, public_key, "registers")?;
    if !store::oracle_key_registered(ctx, &key)? {
        store::put(
            ctx,
            "oracle_key",
            &[key.role.as_str(), &key.public_key],
            &key,
        )?;
    }
    Ok(key)
}

pub(crate) fn revoke_oracle(ctx: &mut Context, role: &str, public_key: &str) -> Result<OracleKey> {
    let key = oracle_key_by_admin(ctx, role, public_key, "revokes")?;
    if !store::oracle_key_registered(ctx, &key)? {
        return Err(Error::new(format!(
            "{public_key} is not a registered {} oracle key",
            key.role
        )));
    }
    store::delete(ctx, "oracle_key", &[key.role.as_str(), &key.public_key])?;
    Ok(key)
}

/// The oracle key `public_key` of `role`, when the caller is an admin of
/// the role's org (who alone registers and revokes its keys).
fn oracle_key_by_admin(
    ctx: &Context,
    role: &str,
    public_key: &str,
    verb: &str,
) -> Result<OracleKey> {
    let d = store::deployment(ctx)?;
    let role: Role = role.parse()?;
    if !Role::ORACLES.contains(&role) {
        return Err(Error::new(format!(
            "the {role} runs no oracle: only bank, cad and fd do"
        )));
    }
    require(caller_is(ctx, &d, role) && caller_is_admin(ctx), || {
        format!(
            "only an admin of the {role} org ({}) {verb} a {role} oracle key",
            d.orgs.org(role)
        )
    })?;
    if hex_array::<32>(public_key).is_none() || public_key.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(Error::new(format!(
            "an oracle key is 64 lowercase hex digits (an ed25519 public key), not {public_key:?}"
        )));
    }
    Ok(OracleKey {
        role,
        public_key: public_key.to_string(),
    })
}

pub(crate) fn oracle_keys(ctx: &Context, role: &str) -> Result<Vec<String>> {
    store::deployment(ctx)?;
    let role: Role = role.parse()?;
    let mut keys = Vec::new();
    for entry in ctx.by_partial_composite_key("oracle_key", &[role.as_str()])? {
        let (_, value) = entry?;
        let key: OracleKey = serde_json::from_slice(&value)?;
        keys.push(key.public_key);
    }
    Ok(keys)
}
