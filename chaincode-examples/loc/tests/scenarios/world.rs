//! The cast, the deployment and the client-side steps the scenarios share:
//! every signature and id here is computed natively, the way a client
//! does, with `weft_types` and ed25519-dalek.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use loc::{
    Account, Deployment, EventBody, Issuance, Lock, LockReceipt, Operation, OracleKey,
    OracleReport, OracleStatement, Role, RoleOrgs, SignedEvent, Terms, UnlockResult, UnlockingCode,
    Verdict,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use weft_types::Domain;

use super::{Call, Kind, Reply, Runner};

/// A member: org, name and a deterministic key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member {
    /// The member's org.
    pub(crate) org: &'static str,
    /// The member's name.
    pub(crate) name: &'static str,
    /// The role its certificate gives it in its org: `client` or `admin`.
    pub(crate) role: &'static str,
    seed: u8,
}

pub(crate) const CUSTOMER_ORG: &str = "CustomerOrg";
pub(crate) const BANK_ORG: &str = "BankOrg";
pub(crate) const CAD_ORG: &str = "CadOrg";
pub(crate) const FD_ORG: &str = "FdOrg";
pub(crate) const REGULATOR_ORG: &str = "RegulatorOrg";

pub(crate) const ALICE: Member = Member {
    org: CUSTOMER_ORG,
    name: "alice",
    role: "client",
    seed: 1,
};
pub(crate) const CAROL: Member = Member {
    org: CUSTOMER_ORG,
    name: "carol",
    role: "client",
    seed: 2,
};
/// A customer who never opens an account.
pub(crate) const MALLORY: Member = Member {
    org: CUSTOMER_ORG,
    name: "mallory",
    role: "client",
    seed: 3,
};
pub(crate) const BANK: Member = Member {
    org: BANK_ORG,
    name: "bank1",
    role: "client",
    seed: 10,
};
pub(crate) const CAD: Member = Member {
    org: CAD_ORG,
    name: "cad1",
    role: "client",
    seed: 20,
};
pub(crate) const FD: Member = Member {
    org: FD_ORG,
    name: "fd1",
    role: "client",
    seed: 30,
};
pub(crate) const REG: Member = Member {
    org: REGULATOR_ORG,
    name: "reg1",
    role: "client",
    seed: 40,
};
/// The bank org's admin: configures LoC, registers the bank's oracle key.
pub(crate) const BANK_ADMIN: Member = Member {
    org: BANK_ORG,
    name: "bank-admin",
    role: "admin",
    seed: 11,
};
/// The CAD org's admin.
pub(crate) const CAD_ADMIN: Member = Member {
    org: CAD_ORG,
    name: "cad-admin",
    role: "admin",
    seed: 21,
};
/// The FD org's admin.
pub(crate) const FD_ADMIN: Member = Member {
    org: FD_ORG,
    name: "fd-admin",
    role: "admin",
    seed: 31,
};
/// The regulator org's admin.
pub(crate) const REG_ADMIN: Member = Member {
    org: REGULATOR_ORG,
    name: "reg-admin",
    role: "admin",
    seed: 41,
};
/// A second member of the bank org (a branch teller with its own account).
pub(crate) const TELLER: Member = Member {
    org: BANK_ORG,
    name: "teller",
    role: "client",
    seed: 12,
};
/// A second member of the FD org.
pub(crate) const CLERK: Member = Member {
    org: FD_ORG,
    name: "clerk",
    role: "client",
    seed: 32,
};
/// A member of an org that plays no role.
pub(crate) const EVE: Member = Member {
    org: "OtherOrg",
    name: "eve",
    role: "client",
    seed: 50,
};

impl Member {
    fn key(&self) -> SigningKey {
        SigningKey::from_bytes(&[self.seed; 32])
    }

    /// The ed25519 public key.
    pub(crate) fn public_key(&self) -> [u8; 32] {
        self.key().verifying_key().to_bytes()
    }

    /// The account id: hex of the public key.
    pub(crate) fn id(&self) -> String {
        loc::hex_encode(&self.public_key())
    }

    /// Signs `signing_bytes` the way every LoC signature is made:
    /// `Domain::Chaincode.message(sha3_256(bytes))`. Hex.
    pub(crate) fn sign(&self, signing_bytes: &[u8]) -> String {
        let message = Domain::Chaincode.message(&weft_types::sha3_256(signing_bytes));
        loc::hex_encode(&self.key().sign(&message).to_bytes())
    }

    /// This member's oracle key of `role`.
    pub(crate) fn oracle_key(&self, role: Role) -> OracleKey {
        OracleKey {
            role,
            public_key: self.id(),
        }
    }
}

/// The member who runs `role`'s oracle.
pub(crate) fn oracle_member(role: Role) -> Member {
    match role {
        Role::Bank => BANK,
        Role::Cad => CAD,
        Role::Fd => FD,
        Role::Customer => ALICE,
        Role::Regulator => REG,
    }
}

/// The admin of `role`'s org (who registers its oracle key).
pub(crate) fn admin_of(role: Role) -> Member {
    match role {
        Role::Bank => BANK_ADMIN,
        Role::Cad => CAD_ADMIN,
        Role::Fd => FD_ADMIN,
        Role::Customer | Role::Regulator => REG_ADMIN,
    }
}

/// The bank's admin configures [`deployment`].
pub(crate) fn configure(net: &mut Net<'_, '_>) -> Deployment {
    net.tx(&BANK_ADMIN, "configure", &[&json(&deployment())])
}

/// sha3-256 and ed25519 as a client has them.
pub(crate) struct Native;

impl loc::Crypto for Native {
    fn sha3_256(&self, data: &[u8]) -> [u8; 32] {
        weft_types::sha3_256(data).0
    }

    fn ed25519_verify(&self, pk: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> bool {
        VerifyingKey::from_bytes(pk)
            .and_then(|k| k.verify_strict(message, &ed25519_dalek::Signature::from_bytes(sig)))
            .is_ok()
    }
}

pub(crate) fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializes")
}

/// The start of every scenario's clock, unix milliseconds.
pub(crate) const START_MS: u64 = 1_700_000_000_000;

/// A runner with a clock.
pub(crate) struct Net<'a, 'r> {
    run: &'a mut Runner<'r>,
    /// The time of the next calls.
    pub(crate) now_ms: u64,
}

impl<'a, 'r> Net<'a, 'r> {
    pub(crate) fn new(run: &'a mut Runner<'r>) -> Self {
        Net {
            run,
            now_ms: START_MS,
        }
    }

    pub(crate) fn call(
        &mut self,
        who: &Member,
        kind: Kind,
        function: &str,
        args: &[&str],
    ) -> Reply {
        self.call_with(who, kind, function, args, &[])
    }

    /// A call with a transient map.
    pub(crate) fn call_with(
        &mut self,
        who: &Member,
        kind: Kind,
        function: &str,
        args: &[&str],
        transient: &[(&str, &str)],
    ) -> Reply {
        (self.run)(&Call {
            caller: who,
            kind,
            function,
            args,
            transient,
            now_ms: self.now_ms,
        })
    }

    /// `lock` by `who`, the lock JSON in the transient map.
    pub(crate) fn lock_reply(&mut self, who: &Member, lock_json: &str) -> Reply {
        let transient = [(loc::LOCK_TRANSIENT_KEY, lock_json)];
        self.call_with(who, Kind::Tx, "lock", &[], &transient)
    }

    /// `unlock` of `lock_id` by `who`, the unlocking code JSON in the
    /// transient map.
    pub(crate) fn unlock_reply(
        &mut self,
        who: &Member,
        kind: Kind,
        lock_id: &str,
        code_json: &str,
    ) -> Reply {
        let transient = [(loc::UNLOCKING_CODE_TRANSIENT_KEY, code_json)];
        self.call_with(who, kind, "unlock", &[lock_id], &transient)
    }

    /// A `lock` that must fail with a message containing `expected`.
    pub(crate) fn lock_fails(&mut self, who: &Member, lock_json: &str, expected: &str) {
        let reply = self.lock_reply(who, lock_json);
        must_fail(reply, "lock", who, expected);
    }

    /// An `unlock` that must fail with a message containing `expected`.
    pub(crate) fn unlock_fails(
        &mut self,
        who: &Member,
        kind: Kind,
        lock_id: &str,
        code_json: &str,
        expected: &str,
    ) {
        let reply = self.unlock_reply(who, kind, lock_id, code_json);
        must_fail(reply, "unlock", who, expected);
    }

    /// `unlock` of `lock_id` by `who` with no unlocking code in the
    /// transient map is refused, saying where the code goes.
    pub(crate) fn unlock_without_code_fails(&mut self, who: &Member, lock_id: &str) {
        self.fails(
            who,
            Kind::Tx,
            "unlock",
            &[lock_id],
            "the unlocking code goes in the transient map under `unlocking_code`",
        );
    }

    fn ok<T: DeserializeOwned>(
        &mut self,
        who: &Member,
        kind: Kind,
        function: &str,
        args: &[&str],
    ) -> T {
        let reply = self.call(who, kind, function, args);
        must_succeed(reply, function, who)
    }

    /// A transaction that must succeed.
    pub(crate) fn tx<T: DeserializeOwned>(
        &mut self,
        who: &Member,
        function: &str,
        args: &[&str],
    ) -> T {
        self.ok(who, Kind::Tx, function, args)
    }

    /// A query that must succeed.
    pub(crate) fn query<T: DeserializeOwned>(
        &mut self,
        who: &Member,
        function: &str,
        args: &[&str],
    ) -> T {
        self.ok(who, Kind::Query, function, args)
    }

    /// A call that must fail with a message containing `expected`.
    pub(crate) fn fails(
        &mut self,
        who: &Member,
        kind: Kind,
        function: &str,
        args: &[&str],
        expected: &str,
    ) {
        let reply = self.call(who, kind, function, args);
        must_fail(reply, function, who, expected);
    }
}

/// The JSON `reply` of `function` by `who`, which must have succeeded.
pub(crate) fn must_succeed<T: DeserializeOwned>(reply: Reply, function: &str, who: &Member) -> T {
    let text = reply.unwrap_or_else(|e| panic!("{function} by {} failed: {e}", who.name));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{function} returned {text:?}, not the JSON expected: {e}"))
}

/// Asserts that `reply` of `function` by `who` failed with a message
/// containing `expected`.
pub(crate) fn must_fail(reply: Reply, function: &str, who: &Member, expected: &str) {
    match reply {
        Ok(payload) => panic!(
            "{function} by {} should fail with {expected:?}, returned {payload}",
            who.name
        ),
        Err(message) => assert!(
            message.contains(expected),
            "{function} by {}: error {message:?} does not contain {expected:?}",
            who.name
        ),
    }
}

/// The deployment the scenarios run: the default terms, but an asset
/// minimum of 1 000 so that term can fail.
pub(crate) fn deployment() -> Deployment {
    Deployment {
        orgs: RoleOrgs {
            customer: CUSTOMER_ORG.into(),
            bank: BANK_ORG.into(),
            cad: CAD_ORG.into(),
            fd: FD_ORG.into(),
            regulator: REGULATOR_ORG.into(),
        },
        terms: Terms {
            asset_min: 1_000,
            ..Terms::default()
        },
    }
}

/// What the bank holds after [`setup`].
pub(crate) const BANK_FUNDS: u64 = 100_000;
/// What the FD holds after [`setup`].
pub(crate) const FD_FUNDS: u64 = 10_000;

/// Configures, opens everyone's account but Mallory's and Eve's, registers
/// the three oracles and funds the bank and the FD with the bank's asset.
pub(crate) fn setup(net: &mut Net<'_, '_>) {
    configure(net);
    for m in [ALICE, CAROL, BANK, CAD, FD, REG] {
        net.tx::<Account>(&m, "open_account", &[&format!("bank-account-{}", m.name)]);
    }
    for role in Role::ORACLES {
        let member = oracle_member(role);
        let key: OracleKey = net.tx(
            &admin_of(role),
            "register_oracle",
            &[role.as_str(), &member.id()],
        );
        assert_eq!(key, oracle_member(role).oracle_key(role));
    }
    issue(net, &BANK, BANK_FUNDS, "setup-bank");
    issue(net, &FD, FD_FUNDS, "setup-fd");
}

/// An issuance by the bank member, signed.
pub(crate) fn issuance(to: &Member, amount: u64, serial: &str) -> Issuance {
    let bytes = loc::issuance_signing_bytes(&to.id(), amount, serial);
    Issuance {
        to: to.id(),
        amount,
        serial: serial.into(),
        issuer: BANK.id(),
        signature: BANK.sign(&bytes),
    }
}

/// The bank member issues `amount` to `to`.
pub(crate) fn issue(net: &mut Net<'_, '_>, to: &Member, amount: u64, serial: &str) -> Issuance {
    let i = issuance(to, amount, serial);
    net.tx(&BANK, "issue", &[&to.id(), &amount.to_string(), &json(&i)])
}

/// `who`'s balance of the bank's asset, read by `who`.
pub(crate) fn balance(net: &mut Net<'_, '_>, who: &Member) -> u64 {
    let account: Account = net.query(who, "account", &[&who.id()]);
    account.balance(&BANK.id())
}

/// A loan application's numbers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Application {
    pub(crate) amount: u64,
    pub(crate) months: u32,
    pub(crate) income: u64,
    pub(crate) asset: u64,
    pub(crate) debt: u64,
}

/// An application every oracle passes under [`deployment`]'s terms.
pub(crate) const GOOD: Application = Application {
    amount: 10_000,
    months: 12,
    income: 8_000,
    asset: 20_000,
    debt: 5_000,
};

/// The nonce of the event the scenarios label `label`: zero-padded to the
/// chaincode's minimum length. (A client's nonces are random; these are
/// deterministic so that the scenarios can rebuild an event.)
pub(crate) fn nonce(label: &str) -> String {
    format!("{label:0>width$}", width = loc::MIN_NONCE_CHARS)
}

/// `customer`'s signed loan application.
pub(crate) fn loan_event(customer: &Member, app: Application, label: &str) -> SignedEvent {
    let body = EventBody::LoanApplication {
        customer: customer.id(),
        amount: app.amount,
        months: app.months,
        income: app.income,
        asset: app.asset,
        debt: app.debt,
        nonce: nonce(label),
    };
    signed(customer, body)
}

/// `customer`'s signed refund application.
pub(crate) fn refund_event(customer: &Member, loan: &str, amount: u64, label: &str) -> SignedEvent {
    let body = EventBody::RefundApplication {
        customer: customer.id(),
        loan: loan.into(),
        amount,
        nonce: nonce(label),
    };
    signed(customer, body)
}

/// `body` signed by `signer`.
pub(crate) fn signed(signer: &Member, body: EventBody) -> SignedEvent {
    let signature = signer.sign(&loc::event_signing_bytes(&body));
    SignedEvent {
        body,
        signatures: vec![loc::Signature {
            public_key: signer.id(),
            signature,
        }],
    }
}

/// A loan lock: the amount from the bank to the customer, granted by
/// bank, CAD and FD.
pub(crate) fn loan_lock(event: SignedEvent) -> Lock {
    Lock {
        ops: vec![Operation::Transfer {
            from: BANK.id(),
            to: event.body.customer().into(),
            issuer: BANK.id(),
            amount: event.body.amount(),
        }],
        keys: Role::ORACLES
            .iter()
            .map(|r| oracle_member(*r).oracle_key(*r))
            .collect(),
        event,
    }
}

/// A refund lock: the subsidy from the FD to the bank, granted by bank and FD.
pub(crate) fn refund_lock(event: SignedEvent) -> Lock {
    let EventBody::RefundApplication { loan, amount, .. } = &event.body else {
        panic!("not a refund application");
    };
    Lock {
        ops: vec![Operation::Repay {
            from: FD.id(),
            to: BANK.id(),
            issuer: BANK.id(),
            amount: *amount,
            loan: loan.clone(),
        }],
        keys: vec![BANK.oracle_key(Role::Bank), FD.oracle_key(Role::Fd)],
        event,
    }
}

/// Locks `lock` as its customer and checks the ids a client computes.
pub(crate) fn lock(net: &mut Net<'_, '_>, customer: &Member, lock: &Lock) -> LockReceipt {
    let reply = net.lock_reply(customer, &json(lock));
    let receipt: LockReceipt = must_succeed(reply, "lock", customer);
    use loc::Crypto;
    assert_eq!(
        receipt.lock_id,
        Native.lock_id(lock),
        "the lock id a client computes"
    );
    assert_eq!(receipt.event_id, Native.event_id(&lock.event.body));
    receipt
}

/// `role`'s oracle report on `lock_id` (no exception).
pub(crate) fn report(net: &mut Net<'_, '_>, lock_id: &str, role: Role) -> OracleReport {
    report_with(net, lock_id, role, false)
}

/// `role`'s oracle report on `lock_id`.
pub(crate) fn report_with(
    net: &mut Net<'_, '_>,
    lock_id: &str,
    role: Role,
    exception: bool,
) -> OracleReport {
    net.query(
        &oracle_member(role),
        "oracle",
        &[lock_id, role.as_str(), &exception.to_string()],
    )
}

/// `role`'s oracle signs `statement`.
pub(crate) fn sign_statement(role: Role, statement: &OracleStatement) -> String {
    oracle_member(role).sign(&loc::statement_signing_bytes(statement))
}

/// An oracle's part of an unlocking code: its key, the statement it
/// signed and the signature.
pub(crate) type OracleSig = (OracleKey, OracleStatement, String);

/// Asks every oracle of `lock`, asserts each passes, and builds the
/// unlocking code from their signed statements.
pub(crate) fn grant(net: &mut Net<'_, '_>, lock: &Lock, receipt: &LockReceipt) -> UnlockingCode {
    UnlockingCode::new(&lock.event, &grant_sigs(net, lock, receipt))
}

/// Asks every oracle of `lock`, asserts each passes, and returns their
/// signatures in the lock's key order.
pub(crate) fn grant_sigs(
    net: &mut Net<'_, '_>,
    lock: &Lock,
    receipt: &LockReceipt,
) -> Vec<OracleSig> {
    let mut sigs = Vec::new();
    for key in &lock.keys {
        let r = report(net, &receipt.lock_id, key.role);
        assert_eq!(
            r.statement.verdict,
            Verdict::Pass,
            "{}: {:?}",
            key.role,
            r.failed_terms
        );
        assert!(r.failed_terms.is_empty());
        assert_eq!(r.statement.lock, receipt.lock_id);
        assert_eq!(r.statement.event, receipt.event_id);
        let signature = sign_statement(key.role, &r.statement);
        sigs.push((key.clone(), r.statement, signature));
    }
    sigs
}

/// Sends `code` for `lock_id` as `who`.
pub(crate) fn unlock(
    net: &mut Net<'_, '_>,
    who: &Member,
    lock_id: &str,
    code: &UnlockingCode,
) -> UnlockResult {
    let reply = net.unlock_reply(who, Kind::Tx, lock_id, &json(code));
    must_succeed(reply, "unlock", who)
}

/// Locks, asks the oracles and unlocks `lock` as `customer`; asserts code 0.
pub(crate) fn lock_and_unlock(net: &mut Net<'_, '_>, customer: &Member, l: &Lock) -> LockReceipt {
    let receipt = lock(net, customer, l);
    let code = grant(net, l, &receipt);
    let result = unlock(net, customer, &receipt.lock_id, &code);
    assert_eq!(result.code, 0, "{}", result.meaning);
    receipt
}
