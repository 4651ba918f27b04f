//! Configuration, accounts, the connectors and oracle keys.

use loc::{Account, Deployment, Issuance, OracleKey, Payout, Role, Terms};
use serde_json::{Value, json};

use super::Kind::{Query, Tx};
use super::Runner;
use super::world::*;

pub(crate) fn configure_once(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    for (who, kind, function, args) in [
        (&ALICE, Tx, "open_account", vec!["acct"]),
        (&REG, Query, "deployment", vec![]),
        (&ALICE, Tx, "lock", vec![]),
        (&REG, Query, "inspect_all", vec!["account"]),
    ] {
        net.fails(who, kind, function, &args, loc::NOT_CONFIGURED);
    }
    // Only an admin of the org the deployment names as the bank configures.
    for who in [&REG, &REG_ADMIN, &BANK, &CAD_ADMIN, &EVE] {
        net.fails(
            who,
            Tx,
            "configure",
            &[&json(&deployment())],
            "only an admin of the bank's org (BankOrg) configures LoC",
        );
    }
    let mut twice = deployment();
    twice.orgs.fd = BANK_ORG.into();
    net.fails(
        &BANK_ADMIN,
        Tx,
        "configure",
        &[&json(&twice)],
        "org BankOrg is given two roles (bank and fd)",
    );
    let mut bad_terms = deployment();
    bad_terms.terms.income_min = bad_terms.terms.income_max + 1;
    net.fails(
        &BANK_ADMIN,
        Tx,
        "configure",
        &[&json(&bad_terms)],
        "minimums must not exceed",
    );
    net.fails(
        &BANK_ADMIN,
        Tx,
        "configure",
        &["{\"orgs\": 1}"],
        "the deployment is not valid JSON",
    );
    // Terms left out take the defaults.
    let orgs = json(&deployment().orgs);
    let d: Deployment = net.tx(
        &BANK_ADMIN,
        "configure",
        &[&format!("{{\"orgs\": {orgs}}}")],
    );
    assert_eq!(d.terms, Terms::default());
    assert_eq!(d.orgs, deployment().orgs);
    for who in [&BANK_ADMIN, &ALICE] {
        net.fails(
            who,
            Tx,
            "configure",
            &[&json(&deployment())],
            "already configured",
        );
    }
    let stored: Deployment = net.query(&ALICE, "deployment", &[]);
    assert_eq!(stored, d, "the second configure changed nothing");
}

pub(crate) fn accounts_and_connectors(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    configure(net);
    net.fails(
        &ALICE,
        Tx,
        "open_account",
        &[" "],
        "the bank account must not be empty",
    );
    net.fails(
        &EVE,
        Tx,
        "open_account",
        &["eve-1"],
        "org OtherOrg has no role",
    );
    let a: Account = net.tx(&ALICE, "open_account", &["alice-1"]);
    assert_eq!(
        (a.id.as_str(), a.org.as_str(), a.name.as_str(), a.role),
        (ALICE.id().as_str(), CUSTOMER_ORG, "alice", Role::Customer)
    );
    assert_eq!((a.bank_account.as_str(), a.balances.len()), ("alice-1", 0));
    net.fails(&ALICE, Tx, "open_account", &["alice-2"], "already exists");
    net.fails(
        &CAROL,
        Tx,
        "open_account",
        &["alice-1"],
        "bank account alice-1 is already linked to account",
    );
    net.tx::<Account>(&CAROL, "open_account", &["carol-1"]);

    // Issuing: bank members only, with an account, a valid signature.
    let i = issuance(&ALICE, 1_000, "s1");
    let args = |i: &Issuance| vec![ALICE.id(), i.amount.to_string(), json(i)];
    let call = |net: &mut Net<'_, '_>, who: &Member, a: Vec<String>, expected: &str| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        net.fails(who, Tx, "issue", &a, expected);
    };
    call(net, &ALICE, args(&i), "permission denied");
    call(net, &BANK, args(&i), "has no account: open one first");
    net.tx::<Account>(&BANK, "open_account", &["bank-reserve"]);
    let mut forged = i.clone();
    forged.signature = CAROL.sign(&loc::issuance_signing_bytes(&ALICE.id(), 1_000, "s1"));
    call(net, &BANK, args(&forged), "signature does not verify");
    let mut other_amount = issuance(&ALICE, 5_000, "s1");
    other_amount.amount = 1_000;
    call(net, &BANK, args(&other_amount), "signature does not verify");
    let mut not_signer = i.clone();
    not_signer.issuer = CAROL.id();
    call(net, &BANK, args(&not_signer), "is not the signer");
    call(
        net,
        &BANK,
        vec![ALICE.id(), "999".into(), json(&i)],
        "but the call asks for 999",
    );
    call(
        net,
        &BANK,
        vec![
            MALLORY.id(),
            "1000".into(),
            json(&issuance(&MALLORY, 1_000, "m1")),
        ],
        "does not exist",
    );
    assert_eq!(balance(net, &ALICE), 0, "failed issuances credit nothing");
    let done = issue(net, &ALICE, 1_000, "s1");
    assert_eq!(
        (done.issuer.as_str(), done.serial.as_str()),
        (BANK.id().as_str(), "s1")
    );
    assert_eq!(balance(net, &ALICE), 1_000);

    // Out to the bank account.
    net.fails(
        &ALICE,
        Tx,
        "connector_out",
        &[&BANK.id(), "1001"],
        "insufficient funds",
    );
    net.fails(
        &ALICE,
        Tx,
        "connector_out",
        &[&CAROL.id(), "1"],
        "insufficient funds",
    );
    net.fails(
        &ALICE,
        Tx,
        "connector_out",
        &[&BANK.id(), "0"],
        "must be positive",
    );
    assert_eq!(balance(net, &ALICE), 1_000);
    let p: Payout = net.tx(&ALICE, "connector_out", &[&BANK.id(), "300"]);
    assert_eq!(
        (
            p.account.as_str(),
            p.bank_account.as_str(),
            p.issuer.as_str(),
            p.amount
        ),
        (ALICE.id().as_str(), "alice-1", BANK.id().as_str(), 300)
    );
    assert_eq!(p.tx_id.len(), 64);
    assert_eq!(balance(net, &ALICE), 700);
    net.fails(
        &MALLORY,
        Tx,
        "connector_out",
        &[&BANK.id(), "1"],
        "does not exist",
    );

    // Who reads an account.
    net.fails(
        &CAROL,
        Query,
        "account",
        &[&ALICE.id()],
        "permission denied",
    );
    net.fails(&BANK, Query, "account", &[&ALICE.id()], "permission denied");
    let seen: Account = net.query(&REG, "account", &[&ALICE.id()]);
    assert_eq!(seen.balance(&BANK.id()), 700);
    let payout: Payout = net.query(&REG, "inspect", &["payout", &p.tx_id]);
    assert_eq!(payout, p);
    let stored: Issuance = net.query(&REG, "inspect", &["issuance", "s1"]);
    assert_eq!(stored, done);
}

pub(crate) fn issuance_replay(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    setup(net);
    let i = issuance(&ALICE, 2_000, "once");
    let args = [ALICE.id(), "2000".to_string(), json(&i)];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    net.tx::<Issuance>(&BANK, "issue", &args);
    assert_eq!(balance(net, &ALICE), 2_000);
    net.fails(
        &BANK,
        Tx,
        "issue",
        &args,
        "issuance serial once was already used",
    );
    let again = issuance(&CAROL, 50, "once");
    let args = [CAROL.id(), "50".to_string(), json(&again)];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    net.fails(
        &BANK,
        Tx,
        "issue",
        &args,
        "issuance serial once was already used",
    );
    assert_eq!(balance(net, &ALICE), 2_000, "the replay credited nothing");
    assert_eq!(balance(net, &CAROL), 0);
}

pub(crate) fn oracle_registration(run: &mut Runner<'_>) {
    let mut net = Net::new(run);
    let net = &mut net;
    configure(net);
    let bank_key = BANK.id();
    net.fails(
        &ALICE,
        Tx,
        "register_oracle",
        &["customer", &bank_key],
        "the customer runs no oracle",
    );
    net.fails(
        &REG_ADMIN,
        Tx,
        "register_oracle",
        &["regulator", &bank_key],
        "the regulator runs no oracle",
    );
    // Not the role's org, or not its admin: a teller cannot make itself
    // an oracle.
    for (who, role) in [
        (&ALICE, "bank"),
        (&BANK, "bank"),
        (&CAD_ADMIN, "fd"),
        (&CAD, "cad"),
    ] {
        net.fails(
            who,
            Tx,
            "register_oracle",
            &[role, &bank_key],
            &format!("only an admin of the {role} org"),
        );
    }
    net.fails(
        &BANK_ADMIN,
        Tx,
        "register_oracle",
        &["teller", &bank_key],
        "unknown role \"teller\"",
    );
    for bad in ["", "zz", &bank_key[..62], &bank_key.to_uppercase()] {
        net.fails(
            &BANK_ADMIN,
            Tx,
            "register_oracle",
            &["bank", bad],
            "an oracle key is 64 lowercase hex digits",
        );
    }
    let k: OracleKey = net.tx(&BANK_ADMIN, "register_oracle", &["bank", &bank_key]);
    assert_eq!(k, BANK.oracle_key(Role::Bank));
    let again: OracleKey = net.tx(&BANK_ADMIN, "register_oracle", &["bank", &bank_key]);
    assert_eq!(again, k, "registering again changes nothing");
    net.tx::<OracleKey>(&FD_ADMIN, "register_oracle", &["\"fd\"", &FD.id()]);
    let bank_keys: Vec<String> = net.query(&ALICE, "oracle_keys", &["bank"]);
    assert_eq!(bank_keys, vec![BANK.id()]);
    let fd_keys: Vec<String> = net.query(&ALICE, "oracle_keys", &["fd"]);
    assert_eq!(fd_keys, vec![FD.id()]);
    let cad_keys: Value = net.query(&ALICE, "oracle_keys", &["cad"]);
    assert_eq!(cad_keys, json!([]));
    // Revoking: the admin only, a registered key only.
    net.fails(
        &BANK,
        Tx,
        "revoke_oracle",
        &["bank", &bank_key],
        "only an admin of the bank org (BankOrg) revokes",
    );
    net.fails(
        &FD_ADMIN,
        Tx,
        "revoke_oracle",
        &["fd", &bank_key],
        "is not a registered fd oracle key",
    );
    let revoked: OracleKey = net.tx(&BANK_ADMIN, "revoke_oracle", &["bank", &bank_key]);
    assert_eq!(revoked, k);
    let bank_keys: Value = net.query(&ALICE, "oracle_keys", &["bank"]);
    assert_eq!(bank_keys, json!([]));
    net.fails(
        &BANK_ADMIN,
        Tx,
        "revoke_oracle",
        &["bank", &bank_key],
        "is not a registered bank oracle key",
    );
}
