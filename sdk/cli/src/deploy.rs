//! `weft chaincode deploy NAME FILE.wasm`: defines (or upgrades) a chaincode
//! on a running network with one lifecycle transaction.
//!
//! The definition carries the module's hash and the next sequence (the
//! current definition's + 1, read through the gateway; 1 for a new
//! chaincode). Admins of enough orgs to satisfy the channel's
//! `LifecycleEndorsement` policy approve it — their identities come from the
//! wallet (`admin@OrgN`) — and the first of them signs the envelope, which
//! is submitted and waited for. [`deploy`] is what `weft up` uses too.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use weft_client::{
    ClientError, CommitStatus, Gateway, Profile, ProfileIdentity, Submitted, Wallet,
};
use weft_policy::Signers;
use weft_types::{
    Bytes, ChaincodeDefinition, ChannelConfig, CollectionConfig, Domain, Endorsement, Envelope,
    Identity, LifecycleTransaction, Policy, Role, Transaction, TxBody, TxHeader, sha3_256,
};

use crate::client_cmd::{self, DEFAULT_PROFILE};
use crate::health;

/// How long a deploy waits for its transaction to commit: peers validate
/// and compile the module while its block validates.
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a deploy waits for every gateway of the profile to have
/// committed it, so that the next call finds the new definition everywhere.
pub const SPREAD_TIMEOUT: Duration = Duration::from_secs(60);

/// `weft chaincode deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The chaincode's name on the channel.
    pub name: String,
    /// The Wasm module (`weft chaincode build` prints where it is).
    pub file: PathBuf,
    /// Endorsement policy, e.g. "MAJORITY" or "AND('Org1.peer', 'Org2.peer')".
    /// Default: the current definition's for an upgrade, else the
    /// channel's Endorsement policy.
    #[arg(long)]
    pub policy: Option<String>,
    /// Version label. Default: the sequence number.
    #[arg(long)]
    pub version: Option<String>,
    /// Private data collections: a JSON file holding an array of collection
    /// configurations (`name`, `member_orgs_policy`, `required_peer_count`,
    /// `maximum_peer_count`, and optionally `block_to_live`,
    /// `member_only_read`, `member_only_write`, `endorsement_policy`).
    /// Default: the current definition's for an upgrade, else none.
    #[arg(long, value_name = "FILE")]
    pub collections: Option<PathBuf>,
    /// Connection profile.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_PROFILE)]
    pub profile: PathBuf,
    /// Wallet holding the orgs' admins (`admin@Org1`, …). Default: the
    /// wallet of the profile's identity.
    #[arg(long, value_name = "DIR")]
    pub wallet: Option<PathBuf>,
}

/// What to deploy.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    /// The chaincode's name.
    pub name: String,
    /// The Wasm module.
    pub module: Vec<u8>,
    /// Version label; default: the sequence number.
    pub version: Option<String>,
    /// Endorsement policy; default: the current definition's, else the channel's.
    pub policy: Option<Policy>,
    /// Private data collections; default: the current definition's, else none.
    pub collections: Option<Vec<CollectionConfig>>,
}

/// A definition committed.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// The definition as committed.
    pub definition: ChaincodeDefinition,
    /// The orgs whose admins approved it.
    pub approved_by: Vec<String>,
    /// Where the lifecycle transaction was committed.
    pub status: CommitStatus,
}

/// Why a deploy failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The gateway or the network refused or failed (it names the stage).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Something on this side: the definition, the wallet, the channel configuration.
    #[error("{0}")]
    Local(String),
}

/// Defines `request.name` at the next sequence and waits until the
/// gateway's peer committed it.
pub async fn deploy(
    gateway: &Gateway,
    wallet: &Wallet,
    request: DeployRequest,
) -> Result<Deployed, DeployError> {
    let current = match gateway.chaincode(&request.name).await {
        Ok(definition) => Some(definition),
        Err(ClientError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let config = channel_config(gateway).await?;
    let definition = next_definition(gateway.channel(), &request, current.as_ref());
    definition
        .validate(&config.org_names())
        .map_err(|e| DeployError::Local(e.to_string()))?;
    let orgs: Vec<String> = config.org_names().iter().map(|o| o.to_string()).collect();
    let with_admin: Vec<String> = orgs
        .iter()
        .filter(|org| wallet.contains(&format!("admin@{org}")))
        .cloned()
        .collect();
    let approved_by = choose_approvers(&config.policies.lifecycle_endorsement, &orgs, &with_admin)
        .map_err(|missing| {
            DeployError::Local(format!(
                "the channel's LifecycleEndorsement policy ({}) needs {missing}, but the \
                     wallet {} holds admins of {} only",
                config.policies.lifecycle_endorsement,
                wallet.dir().display(),
                if with_admin.is_empty() {
                    "no org".to_string()
                } else {
                    with_admin.join(", ")
                }
            ))
        })?;
    let mut admins = Vec::new();
    for org in &approved_by {
        admins.push(wallet.get(&format!("admin@{org}"))?);
    }
    let envelope = lifecycle_envelope(&definition, &request.module, &admins, now_ms());
    let submitted = gateway
        .with_timeout(COMMIT_TIMEOUT)
        .submit_signed(&envelope, true)
        .await?;
    let Submitted::Committed(status) = submitted else {
        return Err(DeployError::Local(
            "the gateway did not wait for the commit it was asked to wait for".into(),
        ));
    };
    Ok(Deployed {
        definition,
        approved_by,
        status,
    })
}

/// The definition following `current` (sequence + 1, its policy and
/// collections unless the request gives a policy), or the first one.
pub fn next_definition(
    channel: &str,
    request: &DeployRequest,
    current: Option<&ChaincodeDefinition>,
) -> ChaincodeDefinition {
    let sequence = current.map_or(1, |d| d.sequence + 1);
    ChaincodeDefinition {
        channel: channel.to_string(),
        name: request.name.clone(),
        version: request
            .version
            .clone()
            .unwrap_or_else(|| sequence.to_string()),
        sequence,
        module_hash: sha3_256(&request.module),
        endorsement_policy: request
            .policy
            .clone()
            .or_else(|| current.and_then(|d| d.endorsement_policy.clone())),
        collections: request
            .collections
            .clone()
            .or_else(|| current.map(|d| d.collections.clone()))
            .unwrap_or_default(),
    }
}

/// The orgs, from `available` in order, whose admins together satisfy
/// `policy` over the channel's `orgs`: each is added until the policy is
/// satisfied. Fails with what is still missing when all of them do not.
pub fn choose_approvers(
    policy: &Policy,
    orgs: &[String],
    available: &[String],
) -> Result<Vec<String>, String> {
    let resolved = policy.resolve(orgs).map_err(|e| e.to_string())?;
    let mut signers = Signers::new();
    let mut chosen = Vec::new();
    // At least one: the first approver also signs the envelope.
    for org in available {
        if !chosen.is_empty() && resolved.is_satisfied(&signers) {
            break;
        }
        signers.insert(org, Role::Admin);
        chosen.push(org.clone());
    }
    if chosen.is_empty() {
        return Err("an org admin to sign".into());
    }
    match resolved.evaluate(&signers) {
        weft_policy::Evaluation::Satisfied => Ok(chosen),
        weft_policy::Evaluation::NotSatisfied(missing) => Err(missing.to_string()),
    }
}

/// The lifecycle transaction committing `definition` with `module`,
/// approved by every admin of `admins` and signed by the first.
///
/// # Panics
///
/// If `admins` is empty.
pub fn lifecycle_envelope(
    definition: &ChaincodeDefinition,
    module: &[u8],
    admins: &[Identity],
    now_ms: u64,
) -> Envelope {
    assert!(!admins.is_empty(), "a lifecycle transaction needs an admin");
    let bytes = weft_types::to_json_bytes(definition);
    let approvals = admins
        .iter()
        .map(|admin| Endorsement::sign(Domain::LifecycleApproval, &bytes, admin))
        .collect();
    let creator = &admins[0];
    let tx = Transaction {
        header: TxHeader::new(&definition.channel, creator.certificate(), now_ms),
        body: TxBody::Lifecycle(LifecycleTransaction {
            definition: Bytes(bytes),
            module: Bytes(module.to_vec()),
            approvals,
        }),
    };
    Envelope::sign(&tx, creator)
}

/// The channel configuration, from the genesis block. A configuration
/// transaction committed later is not seen (the gateway serves no
/// configuration); the lifecycle policy it sets would then be the one the
/// validator applies.
async fn channel_config(gateway: &Gateway) -> Result<ChannelConfig, DeployError> {
    let genesis = gateway.block(0).await?;
    genesis
        .genesis_config()
        .map_err(|why| DeployError::Local(format!("the genesis block is unusable: {why}")))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The wallet of `profile`'s identity, or `explicit`.
pub fn wallet_for(profile: &Profile, explicit: Option<&Path>) -> Result<Wallet, DeployError> {
    if let Some(dir) = explicit {
        return Ok(Wallet::open(dir)?);
    }
    match &profile.identity {
        Some(ProfileIdentity::Wallet { wallet, .. }) => Ok(Wallet::open(wallet)?),
        _ => Err(DeployError::Local(
            "the profile's identity is not in a wallet: pass --wallet DIR (a network \
             directory holds the admins as admin@ORG)"
                .into(),
        )),
    }
}

/// Runs `weft chaincode deploy`: exit 0 once committed valid, 1 otherwise.
pub fn run(args: DeployArgs) -> ExitCode {
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    let checked = crate::chaincode::check::check_bytes(&args.file, &bytes);
    if !checked.is_ok() {
        eprintln!("error: {} would not deploy:", args.file.display());
        for reason in checked.rejections() {
            eprintln!("  {reason}");
        }
        return ExitCode::FAILURE;
    }
    let policy = match args.policy.as_deref().map(Policy::parse).transpose() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --policy: {e}");
            return ExitCode::FAILURE;
        }
    };
    let collections = match args
        .collections
        .as_deref()
        .map(read_collections)
        .transpose()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: --collections: {e}");
            return ExitCode::FAILURE;
        }
    };
    let request = DeployRequest {
        name: args.name.clone(),
        module: bytes,
        version: args.version.clone(),
        policy,
        collections,
    };
    client_cmd::block_on(async move {
        match deploy_and_wait(&args, request).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => report(e),
        }
    })
}

/// The collection configurations of a `--collections` file.
fn read_collections(path: &Path) -> Result<Vec<CollectionConfig>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a JSON array of collection configurations: {e}",
            path.display()
        )
    })
}

async fn deploy_and_wait(args: &DeployArgs, request: DeployRequest) -> Result<(), DeployError> {
    let profile = Profile::load(&args.profile)?;
    let wallet = wallet_for(&profile, args.wallet.as_deref())?;
    let gateway = Gateway::connect(&profile, profile.identity()?).await?;
    let deployed = deploy(&gateway, &wallet, request).await?;
    print_deployed(&deployed);
    let behind = health::wait_for_height(
        &health::client().map_err(|e| DeployError::Local(e.to_string()))?,
        &profile.gateway_urls(),
        deployed.status.block + 1,
        SPREAD_TIMEOUT,
    )
    .await;
    for url in behind {
        eprintln!(
            "note: the gateway at {url} had not committed block {} after {} s",
            deployed.status.block,
            SPREAD_TIMEOUT.as_secs()
        );
    }
    Ok(())
}

/// Prints a committed definition, one `key value` line each.
pub fn print_deployed(deployed: &Deployed) {
    let d = &deployed.definition;
    println!("chaincode {}", d.name);
    println!("version {}", d.version);
    println!("sequence {}", d.sequence);
    match &d.endorsement_policy {
        Some(p) => println!("policy {p}"),
        None => println!("policy (the channel's Endorsement policy)"),
    }
    println!("approved by {}", deployed.approved_by.join(", "));
    println!("tx {}", deployed.status.tx_id);
    println!("block {}", deployed.status.block);
    println!("code {}", deployed.status.code);
}

fn report(e: DeployError) -> ExitCode {
    match e {
        DeployError::Client(e) => client_cmd::report_error(&e),
        DeployError::Local(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

impl From<std::io::Error> for DeployError {
    fn from(e: std::io::Error) -> Self {
        DeployError::Local(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::{OrgAuthority, SigningKey};

    fn orgs(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn approvers_are_added_until_the_policy_holds() {
        let check = |policy: &str, available: &[&str], expected: Result<&[&str], &str>| {
            let policy = Policy::parse(policy).unwrap();
            let got = choose_approvers(&policy, &orgs(&["A", "B", "C"]), &orgs(available));
            match expected {
                Ok(want) => assert_eq!(got.unwrap(), orgs(want), "{policy}"),
                Err(part) => {
                    let err = got.unwrap_err();
                    assert!(err.contains(part), "{policy}: {err}");
                }
            }
        };
        check("MAJORITY(admin)", &["A", "B", "C"], Ok(&["A", "B"]));
        check("MAJORITY(admin)", &["B", "C"], Ok(&["B", "C"]));
        check("ANY(admin)", &["C"], Ok(&["C"]));
        check("ALL(admin)", &["A", "B", "C"], Ok(&["A", "B", "C"]));
        check("MAJORITY(admin)", &["A"], Err("B"));
        check("'D.admin'", &["A"], Err("D"));
        check("ANY(admin)", &[], Err("admin"));
    }

    #[test]
    fn the_next_definition_keeps_what_the_request_leaves_out() {
        let request = DeployRequest {
            name: "cc".into(),
            module: b"module".to_vec(),
            version: None,
            policy: None,
            collections: None,
        };
        let first = next_definition("weft", &request, None);
        assert_eq!((first.sequence, first.version.as_str()), (1, "1"));
        assert_eq!(first.module_hash, sha3_256(b"module"));
        assert_eq!(first.endorsement_policy, None);

        let mut current = first.clone();
        current.endorsement_policy = Some(Policy::parse("ANY").unwrap());
        let second = next_definition("weft", &request, Some(&current));
        assert_eq!((second.sequence, second.version.as_str()), (2, "2"));
        assert_eq!(second.endorsement_policy, current.endorsement_policy);

        let explicit = DeployRequest {
            version: Some("2.0-beta".into()),
            policy: Some(Policy::parse("MAJORITY").unwrap()),
            ..request
        };
        let third = next_definition("weft", &explicit, Some(&second));
        assert_eq!((third.sequence, third.version.as_str()), (3, "2.0-beta"));
        assert_eq!(third.endorsement_policy, explicit.policy);
        assert!(third.collections.is_empty());

        let collections: Vec<CollectionConfig> = serde_json::from_str(
            r#"[{"name": "c", "member_orgs_policy": "OR('A.member')",
                 "required_peer_count": 0, "maximum_peer_count": 1}]"#,
        )
        .unwrap();
        let with_collections = DeployRequest {
            collections: Some(collections.clone()),
            ..explicit.clone()
        };
        let fourth = next_definition("weft", &with_collections, Some(&third));
        assert_eq!(fourth.collections, collections);
        // An upgrade that names none keeps them.
        let fifth = next_definition("weft", &explicit, Some(&fourth));
        assert_eq!(fifth.collections, collections);
    }

    #[test]
    fn the_envelope_is_signed_by_the_first_admin_and_approved_by_all() {
        let admins: Vec<Identity> = ["A", "B"]
            .iter()
            .map(|org| {
                OrgAuthority::new(org, SigningKey::generate())
                    .unwrap()
                    .enroll("admin", Role::Admin, 0, u64::MAX)
                    .unwrap()
            })
            .collect();
        let request = DeployRequest {
            name: "cc".into(),
            module: b"module".to_vec(),
            version: None,
            policy: None,
            collections: None,
        };
        let definition = next_definition("weft", &request, None);
        let envelope = lifecycle_envelope(&definition, b"module", &admins, 5);
        assert_eq!(&envelope.signer, admins[0].certificate());
        let tx = envelope.decode().unwrap();
        assert_eq!(tx.header.timestamp_ms, 5);
        let TxBody::Lifecycle(lifecycle) = tx.body else {
            panic!("not a lifecycle transaction")
        };
        let signed: ChaincodeDefinition = serde_json::from_slice(&lifecycle.definition).unwrap();
        assert_eq!(signed, definition);
        assert_eq!(lifecycle.approvals.len(), 2);
        for (approval, admin) in lifecycle.approvals.iter().zip(&admins) {
            approval
                .verify_signature(Domain::LifecycleApproval, &sha3_256(&lifecycle.definition))
                .unwrap();
            assert_eq!(&approval.endorser, admin.certificate());
        }
    }
}
