//! The LoC roles as clients of a network: who signs as whom, through which
//! gateway, and how the reference chaincode gets deployed and set up.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use loc::{Deployment, Issuance, Role, RoleOrgs, Terms};
use weft_client::{
    ClientError, CommitStatus, Contract, Gateway, GatewayConfig, Profile, Signer, Stage, Wallet,
};
use weft_types::{
    CollectionConfig, Domain, Identity, OrgAuthority, Policy, SigningKey, TxId, sha3_256,
};

use super::{CHAINCODE, ROLES};
use crate::deploy::{self, DeployRequest};
use crate::up;

/// One member playing a role: its identity and its connection to its own
/// org's gateway.
#[derive(Clone)]
pub struct Party {
    /// The role it plays.
    pub role: Role,
    /// Its certificate and key.
    pub identity: Arc<Identity>,
    /// The `loc` chaincode through its org's gateway, signing as it.
    pub contract: Contract,
}

impl std::fmt::Debug for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.identity.name(), self.identity.org())
    }
}

impl Party {
    /// Its LoC account id: the hex of its public key.
    pub fn account(&self) -> String {
        account_of(&self.identity)
    }

    /// `name@org`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.identity.name(), self.identity.org())
    }

    /// Waits until the peer it works through has committed `tx_id` (a transaction
    /// another party submitted through another peer), at most `within`.
    pub async fn wait_for(&self, tx_id: TxId, within: Duration) -> Result<(), ClientError> {
        let reached = self
            .contract
            .gateway()
            .transaction_status(tx_id, within)
            .await?;
        match reached {
            Some(_) => Ok(()),
            None => Err(ClientError::Timeout {
                stage: Stage::CommitWait,
                message: format!(
                    "transaction {tx_id} has not reached the peer of {} within {} s",
                    self.label(),
                    within.as_secs()
                ),
            }),
        }
    }

    /// Its signature (hex) over LoC signing bytes, as the chaincode checks it.
    pub fn sign(&self, bytes: &[u8]) -> String {
        sign_hex(&self.identity, bytes)
    }
}

/// The LoC account id of an identity: the hex of its public key.
pub fn account_of(identity: &Identity) -> String {
    hex::encode(identity.body().public_key.to_bytes())
}

/// An identity's signature (hex) over LoC signing bytes:
/// `ed25519(tag || sha3_256(bytes))` with the chaincode domain's tag.
pub fn sign_hex(identity: &Identity, bytes: &[u8]) -> String {
    hex::encode(
        identity
            .signing_key()
            .sign(Domain::Chaincode, &sha3_256(bytes))
            .0,
    )
}

/// A network directory made by `weft up` (or `weft network init`) whose
/// orgs include the five LoC roles.
pub struct LocNetwork {
    /// The network directory (a wallet, and the orgs' root keys).
    pub dir: PathBuf,
    /// Its client profile.
    pub profile: Profile,
    /// The org of each role.
    pub orgs: RoleOrgs,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl LocNetwork {
    /// Opens the network whose profile is `profile_path` (written by `weft
    /// up` into its network directory) and checks that it has an org for
    /// every LoC role.
    pub fn open(profile_path: &Path, timeout: Duration) -> anyhow::Result<LocNetwork> {
        let profile = Profile::load(profile_path)?;
        let dir = profile_path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let orgs = RoleOrgs {
            customer: ROLES[0].to_string(),
            bank: ROLES[1].to_string(),
            cad: ROLES[2].to_string(),
            fd: ROLES[3].to_string(),
            regulator: ROLES[4].to_string(),
        };
        let missing: Vec<&str> = ROLES
            .iter()
            .copied()
            .filter(|org| !profile.gateways.iter().any(|g| g.org == *org))
            .collect();
        if !missing.is_empty() {
            bail!(
                "the network of {} has no gateway of the org(s) {} — LoC needs one org per role \
                 ({}); start one with `weft up --orgs {}`",
                profile_path.display(),
                missing.join(", "),
                ROLES.join(", "),
                ROLES.join(",")
            );
        }
        Ok(LocNetwork {
            dir,
            profile,
            orgs,
            timeout,
        })
    }

    /// The org playing `role`.
    pub fn org_of(&self, role: Role) -> &str {
        self.orgs.org(role)
    }

    /// The gateway URL of `org`'s peer.
    pub fn gateway_of(&self, org: &str) -> anyhow::Result<String> {
        self.profile
            .gateways
            .iter()
            .find(|g| g.org == org)
            .map(|g| g.gateway.clone())
            .with_context(|| format!("the profile lists no gateway of {org}"))
    }

    /// `identity` connected to the gateway it works through: a customer
    /// applies at the bank (C → B), so customers use the bank's gateway —
    /// which also endorses there without a hop; every other role uses its
    /// own org's.
    pub async fn connect(&self, role: Role, identity: Identity) -> anyhow::Result<Party> {
        let through = match role {
            Role::Customer => self.org_of(Role::Bank),
            _ => identity.org(),
        }
        .to_string();
        self.connect_through(role, identity, &through).await
    }

    /// `identity`, playing `role`, connected to the gateway of org
    /// `through` (whose peer then endorses and evaluates its calls).
    pub async fn connect_through(
        &self,
        role: Role,
        identity: Identity,
        through: &str,
    ) -> anyhow::Result<Party> {
        let url = self.gateway_of(through)?;
        let config =
            GatewayConfig::new([url.as_str()], &self.profile.channel).with_timeout(self.timeout);
        let identity = Arc::new(identity);
        let signer: Arc<dyn Signer> = identity.clone();
        let gateway = Gateway::connect_with(config, signer)
            .await
            .with_context(|| format!("cannot connect to {url} as {}", identity.name()))?;
        Ok(Party {
            role,
            identity,
            contract: gateway.contract(CHAINCODE),
        })
    }

    /// The member `name` of `role`'s org, from the wallet, connected.
    pub async fn member(&self, role: Role, name: &str) -> anyhow::Result<Party> {
        let wallet = Wallet::open(&self.dir)?;
        let identity = wallet.get(&format!("{name}@{}", self.org_of(role)))?;
        self.connect(role, identity).await
    }

    /// A new member of `role`'s org with a fresh key, its certificate
    /// issued with the org's root key from the network directory (as an
    /// org's registration desk would); kept in memory only.
    pub fn enroll(&self, role: Role, name: &str) -> anyhow::Result<Identity> {
        let org = self.org_of(role);
        let path = self.dir.join("orgs").join(org).join("root.key.pem");
        let pem = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {org}'s root key {}", path.display()))?;
        let root = SigningKey::from_pkcs8_pem(&pem)?;
        let authority = OrgAuthority::new(org, root)?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        Ok(authority.enroll(
            name,
            weft_types::Role::Client,
            now.saturating_sub(3600),
            now + 365 * 24 * 3600,
        )?)
    }

    /// A new member of `role`'s org (see [`LocNetwork::enroll`]), connected.
    pub async fn enroll_connected(&self, role: Role, name: &str) -> anyhow::Result<Party> {
        let identity = self.enroll(role, name)?;
        self.connect(role, identity).await
    }

    /// The endorsement policy `loc` is deployed with: the bank's peer (its
    /// money moves) and the regulator's (nothing happens it has not seen).
    pub fn policy(&self) -> String {
        format!(
            "AND('{}.peer', '{}.peer')",
            self.orgs.bank, self.orgs.regulator
        )
    }

    /// The private data collection LoC keeps each application in
    /// ([`loc::EVENTS_COLLECTION`]): its members are the bank, CAD, FD and
    /// regulator orgs, whose clients alone read it. A lock's endorsement
    /// needs one member peer besides the bank's to hold the event — the
    /// regulator's, which endorses too — and returns after the bank's peer
    /// has pushed it to the others (with one peer per org, the CAD's and
    /// FD's), so each oracle normally finds it on its own peer; a failed
    /// push is logged, and that peer reconciles the event within seconds.
    pub fn events_collection(&self) -> anyhow::Result<CollectionConfig> {
        let members = [Role::Bank, Role::Cad, Role::Fd, Role::Regulator]
            .map(|role| format!("'{}.member'", self.org_of(role)))
            .join(", ");
        let policy = Policy::parse(&format!("OR({members})"))?;
        Ok(CollectionConfig {
            required_peer_count: 1,
            maximum_peer_count: 3,
            member_only_read: true,
            ..CollectionConfig::new(loc::EVENTS_COLLECTION, policy)
        })
    }

    /// The admin of `role`'s org (`admin@ORG` in the wallet), connected:
    /// who configures LoC (the bank's) and registers oracle keys.
    pub async fn admin(&self, role: Role) -> anyhow::Result<Party> {
        self.member(role, "admin").await
    }

    /// Registers `party`'s key as an oracle key of its role unless it is
    /// one (see [`LocNetwork::register_oracle`]).
    pub async fn ensure_oracle(&self, party: &Party) -> anyhow::Result<Option<CommitStatus>> {
        let role_name = party.role.as_str();
        let keys: Vec<String> = evaluate_json(&party.contract, "oracle_keys", &[role_name]).await?;
        if keys.contains(&party.account()) {
            return Ok(None);
        }
        self.register_oracle(party).await.map(Some)
    }

    /// Has `party`'s org admin register its key as an oracle key of its
    /// role (again, if it is one: that changes nothing). The registration
    /// is committed on the admin's peer; a lock naming the key is endorsed
    /// by other peers, which must have it too
    /// ([`LocNetwork::wait_on_every_peer`]).
    pub async fn register_oracle(&self, party: &Party) -> anyhow::Result<CommitStatus> {
        let role_name = party.role.as_str();
        let admin = self.admin(party.role).await?;
        let registered = admin
            .contract
            .submit("register_oracle", &[role_name, &party.account()])
            .await
            .with_context(|| format!("registering {} as a {role_name} oracle", party.label()))?;
        Ok(registered.status())
    }

    /// Waits until the peer of every role's gateway (customers use the
    /// bank's) has committed all of `committed`: the block of the latest,
    /// since a peer commits blocks in order.
    pub async fn wait_on_every_peer(&self, committed: &[CommitStatus]) -> anyhow::Result<()> {
        let Some(latest) = committed.iter().max_by_key(|l| l.block) else {
            return Ok(());
        };
        for role in [Role::Bank, Role::Cad, Role::Fd, Role::Regulator] {
            self.admin(role)
                .await?
                .wait_for(latest.tx_id, super::flows::PEER_WAIT)
                .await
                .with_context(|| {
                    format!(
                        "waiting for the {role} peer to reach block {}",
                        latest.block
                    )
                })?;
        }
        Ok(())
    }

    /// Deploys `loc` unless it is defined with its events collection (a
    /// definition without it, from an earlier release, is upgraded) and, as
    /// the bank's admin, configures it with `terms` unless it is
    /// configured; returns the deployment in force.
    pub async fn ensure_deployed(
        &self,
        terms: Terms,
        say: &(dyn Fn(String) + Sync),
    ) -> anyhow::Result<Deployment> {
        let admin = self.admin(Role::Bank).await?;
        let gateway = admin.contract.gateway();
        let defined = gateway.chaincodes().await?;
        let with_events = defined.iter().any(|d| {
            d.name == CHAINCODE
                && d.collections
                    .iter()
                    .any(|c| c.name == loc::EVENTS_COLLECTION)
        });
        if !with_events {
            let module = up::build_chaincode(up::example_source(CHAINCODE)).await?;
            let policy = self.policy();
            say(format!(
                "deploying the LoC chaincode `{CHAINCODE}` with endorsement policy {policy} and \
                 the private collection {} of the bank, CAD, FD and regulator",
                loc::EVENTS_COLLECTION
            ));
            let wallet = Wallet::open(&self.dir)?;
            deploy::deploy(
                gateway,
                &wallet,
                DeployRequest {
                    name: CHAINCODE.into(),
                    module,
                    version: None,
                    policy: Some(Policy::parse(&policy)?),
                    collections: Some(vec![self.events_collection()?]),
                },
            )
            .await
            .context("deploying loc failed")?;
        }
        match admin.contract.evaluate("deployment", &[]).await {
            Ok(bytes) => return Ok(serde_json::from_slice(&bytes)?),
            Err(e) if e.to_string().contains("not configured") => {}
            Err(e) => return Err(e.into()),
        }
        let deployment = Deployment {
            orgs: self.orgs.clone(),
            terms,
        };
        say(format!(
            "configuring LoC: roles {} = customer, {} = bank, {} = CAD, {} = FD, {} = regulator; \
             terms {}",
            self.orgs.customer,
            self.orgs.bank,
            self.orgs.cad,
            self.orgs.fd,
            self.orgs.regulator,
            serde_json::to_string(&deployment.terms)?
        ));
        let configured = admin
            .contract
            .submit("configure", &[&serde_json::to_string(&deployment)?])
            .await?;
        // Every role's next call goes to its own peer: each must know LoC
        // is configured first.
        self.wait_on_every_peer(&[configured.status()]).await?;
        Ok(deployment)
    }
}

/// Evaluates and decodes the JSON result.
pub async fn evaluate_json<T: serde::de::DeserializeOwned>(
    contract: &Contract,
    function: &str,
    args: &[&str],
) -> Result<T, ClientError> {
    wait_out_hold(contract).await;
    let bytes = contract.evaluate(function, args).await?;
    decode(&bytes)
}

/// Waits until `contract`'s gateway no longer holds new work off (after a
/// 429, see `Gateway::hold`): what a well-behaved client does before
/// sending it an endorsement or evaluation, rather than fail at once.
pub async fn wait_out_hold(contract: &Contract) {
    if let Some(hold) = contract.gateway().hold() {
        tokio::time::sleep(hold).await;
    }
}

/// Decodes a chaincode's JSON answer.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|e| {
        invalid_input(format!(
            "the chaincode answered {:?}, not the JSON expected: {e}",
            String::from_utf8_lossy(bytes)
        ))
    })
}

/// A [`ClientError`] for input the client itself got wrong.
pub fn invalid_input(message: impl Into<String>) -> ClientError {
    ClientError::InvalidInput {
        message: message.into(),
    }
}

/// Opens `party`'s account linked to `bank_account` unless it has one.
///
/// The account is looked up first: an error of `open_account` (the bank
/// account number linked to someone else, say) is never mistaken for
/// "already open".
pub async fn ensure_account(party: &Party, bank_account: &str) -> Result<(), ClientError> {
    let own = party.account();
    if party.contract.evaluate("account", &[&own]).await.is_ok() {
        return Ok(());
    }
    party
        .contract
        .submit("open_account", &[bank_account])
        .await
        .map(drop)
}

/// The bank member `bank` issues `amount` of its asset to `to` (the
/// connector from a traditional account into a digital one).
pub async fn issue(bank: &Party, to: &str, amount: u64, serial: &str) -> Result<(), ClientError> {
    let issuance = Issuance {
        to: to.to_string(),
        amount,
        serial: serial.to_string(),
        issuer: bank.account(),
        signature: bank.sign(&loc::issuance_signing_bytes(to, amount, serial)),
    };
    let json = serde_json::to_string(&issuance).map_err(|e| invalid_input(e.to_string()))?;
    bank.contract
        .submit("issue", &[to, &amount.to_string(), &json])
        .await
        .map(drop)
}
