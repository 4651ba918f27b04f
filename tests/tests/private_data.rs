#![allow(clippy::unwrap_used)]
//! Private data collections end to end: three orgs as real processes on
//! 127.0.0.1, `private-positions` deployed with two collections of which
//! Org1 and Org2 are members and Org3 is not.
//!
//! What a user of collections relies on, each checked here: the member
//! peers hold the private value and serve it; the non-member's peer
//! refuses it ("not members") yet has its hash; no block holds it, however
//! deeply the payloads nest; a non-member's client cannot write a
//! member-only collection; an endorsement is refused when fewer member
//! peers than required took the data; a member peer that was down when a
//! value was written fetches it from another member (reconciliation); all
//! peers end with the same commit hash.

#[allow(dead_code)] // each test binary uses part of the shared support
mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{CHANNEL, Network, PATIENCE, committed_on};
use weft_client::{ClientError, Gateway, Submitted, TransientMap};
use weft_tests::strings_within;
use weft_types::{
    Bytes, ChaincodeDefinition, CollectionConfig, Domain, Endorsement, Envelope,
    LifecycleTransaction, Policy, Transaction, TxBody, TxHeader, TxId, ValidationCode, sha3_256,
};

const CC: &str = "private-positions";
const ORGS: [&str; 3] = ["Org1", "Org2", "Org3"];
/// Org1 and Org2; an endorsement needs the other member peer to hold the data.
const EAGER: &str = "FundClient";
/// Org1 and Org2; no member peer needs the data before the endorsement.
const LAZY: &str = "FundClientLazy";
/// All three orgs; one other member peer must hold the data, and one is
/// sent it at first.
const FANOUT: &str = "FundAll";
/// Any org's peer may endorse.
const POLICY: &str = "OR('Org1.peer', 'Org2.peer', 'Org3.peer')";

#[test]
fn collections_keep_values_with_their_members_and_hashes_everywhere() {
    let wasm = std::fs::read(weft_tests::build_wasm(CC)).unwrap();
    let mut net = Network::start_with(&ORGS);
    support::runtime().block_on(async {
        net.wait_ready().await;
        deploy(&net, &wasm).await;
        let recorded = members_read_others_are_refused(&net).await;
        no_block_holds_the_value(&net, recorded).await;
        a_non_member_client_cannot_write(&net).await;
        an_org_keeps_what_it_is_handed_in_its_implicit_collection(&net).await;
        the_command_line_sends_private_inputs(&net).await;
        let org2_peer = net
            .process_names()
            .into_iter()
            .find(|n| n.contains("Org2") && !n.contains("orderer"))
            .expect("Org2's peer");
        net.kill(&org2_peer);
        required_members_must_take_the_data(&net).await;
        let tx = record(&net, "client@Org1", LAZY, "p-lazy", "XS-LAZY-0042").await;
        net.restart(&org2_peer);
        a_member_that_was_down_reconciles(&net, tx).await;
        peers_converge(&net).await;
        only_members_store_the_values(&net);
    });
    net.assert_running();
}

fn collection(name: &str, required: u32) -> CollectionConfig {
    CollectionConfig {
        name: name.into(),
        member_orgs_policy: Policy::parse("OR('Org1.member', 'Org2.member')").unwrap(),
        required_peer_count: required,
        maximum_peer_count: 2,
        block_to_live: 0,
        member_only_read: true,
        member_only_write: true,
        endorsement_policy: None,
    }
}

/// Commits the definition with both collections, approved by every admin.
async fn deploy(net: &Network, module: &[u8]) {
    let def = ChaincodeDefinition {
        channel: CHANNEL.into(),
        name: CC.into(),
        version: "1.0".into(),
        sequence: 1,
        module_hash: sha3_256(module),
        endorsement_policy: Some(Policy::parse(POLICY).unwrap()),
        collections: vec![
            collection(EAGER, 1),
            collection(LAZY, 0),
            CollectionConfig {
                member_orgs_policy: Policy::parse(
                    "OR('Org1.member', 'Org2.member', 'Org3.member')",
                )
                .unwrap(),
                maximum_peer_count: 1,
                ..collection(FANOUT, 1)
            },
        ],
    };
    let admins: Vec<_> = ORGS
        .iter()
        .map(|o| net.identity(&format!("admin@{o}")))
        .collect();
    let definition = weft_types::to_json_bytes(&def);
    let tx = Transaction {
        header: TxHeader::new(CHANNEL, admins[0].certificate(), support::now_ms()),
        body: TxBody::Lifecycle(LifecycleTransaction {
            definition: Bytes(definition.clone()),
            module: Bytes(module.to_vec()),
            approvals: admins
                .iter()
                .map(|a| Endorsement::sign(Domain::LifecycleApproval, &definition, a))
                .collect(),
        }),
    };
    let envelope = Envelope::sign(&tx, &admins[0]);
    let admin = net.connect("admin@Org1").await;
    let status = match admin.submit_signed(&envelope, true).await {
        Ok(Submitted::Committed(status)) => status,
        other => panic!("the lifecycle transaction: {other:?}"),
    };
    assert_eq!(status.code, ValidationCode::Valid);
    for org in &ORGS[1..] {
        let gateway = net.connect(&format!("client@{org}")).await;
        committed_on(&gateway, status.tx_id, ValidationCode::Valid).await;
    }
}

fn position(instrument: &str) -> Value {
    serde_json::json!({"instrument": instrument, "quantity": 1500, "cost_cents": 10250})
}

/// The bytes the chaincode stores for a position: its fields in the
/// order the chaincode declares them.
fn stored(instrument: &str) -> Vec<u8> {
    format!(r#"{{"instrument":"{instrument}","quantity":1500,"cost_cents":10250}}"#).into_bytes()
}

fn transient(instrument: &str) -> TransientMap {
    [("position".to_string(), Bytes(stored(instrument)))].into()
}

/// Records a position as `who` through its org's gateway; returns the tx.
async fn record(net: &Network, who: &str, coll: &str, id: &str, instrument: &str) -> TxId {
    let gateway = net.connect(who).await;
    let committed = gateway
        .contract(CC)
        .submit_with_transient("record", &[coll, id], transient(instrument))
        .await
        .unwrap_or_else(|e| panic!("{who} records {id}: {e}"));
    assert_eq!(committed.code, ValidationCode::Valid);
    let hash: String = serde_json::from_slice(&committed.result).unwrap();
    assert_eq!(
        hash,
        sha3_256(&stored(instrument)).to_string(),
        "the hash of what was stored"
    );
    committed.tx_id
}

async fn read(gateway: &Gateway, coll: &str, id: &str) -> Result<Value, ClientError> {
    let bytes = gateway.contract(CC).evaluate("read", &[coll, id]).await?;
    Ok(serde_json::from_slice(&bytes).unwrap())
}

/// Org1 records; Org2's peer (pushed the data) serves it; Org3's refuses
/// it but reports the committed hash.
async fn members_read_others_are_refused(net: &Network) -> TxId {
    let tx = record(net, "client@Org1", EAGER, "p1", "XS-SECRET-4711").await;
    let org2 = net.connect("client@Org2").await;
    let org3 = net.connect("client@Org3").await;
    committed_on(&org2, tx, ValidationCode::Valid).await;
    committed_on(&org3, tx, ValidationCode::Valid).await;
    let org1 = net.connect("client@Org1").await;
    assert_eq!(
        read(&org1, EAGER, "p1").await.unwrap(),
        position("XS-SECRET-4711")
    );
    assert_eq!(
        read(&org2, EAGER, "p1").await.unwrap(),
        position("XS-SECRET-4711")
    );
    assert_eq!(
        org2.current_url(),
        net.gateways[1],
        "Org2's own peer answered"
    );
    let refused = read(&org3, EAGER, "p1").await.unwrap_err();
    let text = refused.to_string();
    assert!(
        matches!(refused, ClientError::ChaincodeError { .. })
            && text.contains("not members of collection"),
        "{text}"
    );
    let hash = org3
        .contract(CC)
        .evaluate("hash", &[EAGER, "p1"])
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<String>(&hash).unwrap(),
        sha3_256(&stored("XS-SECRET-4711")).to_string()
    );
    tx
}

/// The block holding the record, as Org3's peer serves it, does not hold
/// the position anywhere in its nested payloads.
async fn no_block_holds_the_value(net: &Network, tx: TxId) {
    let org3 = net.connect("client@Org3").await;
    let record = org3.transaction(tx).await.unwrap();
    let block = org3.block(record.block).await.unwrap();
    let json = serde_json::to_value(&block).unwrap();
    let mut strings = Vec::new();
    strings_within(&json, &mut strings);
    assert!(
        strings.iter().any(|s| s.contains("p1")),
        "the search reaches the arguments"
    );
    assert!(
        !strings.iter().any(|s| s.contains("XS-SECRET-4711")),
        "the block carries the private value"
    );
}

/// Org3's client writes a member-only-write collection through its own
/// peer: the transaction is ordered but invalid, and nothing changes.
async fn a_non_member_client_cannot_write(net: &Network) {
    let org3 = net.connect("client@Org3").await;
    let outcome = org3
        .contract(CC)
        .submit_with_transient("record", &[EAGER, "p-org3"], transient("XS-ORG3"))
        .await;
    match outcome {
        Err(ClientError::Validation { code, .. }) => {
            assert_eq!(code, ValidationCode::InvalidPrivateData)
        }
        other => panic!("a non-member's write: {other:?}"),
    }
    let org1 = net.connect("client@Org1").await;
    let absent = read(&org1, EAGER, "p-org3").await.unwrap_err();
    assert!(absent.to_string().contains("no position"), "{absent}");
}

/// Org3's client hands Org1 a position in Org1's implicit collection
/// (defined by no one), through Org3's own peer: Org1's peer keeps it and
/// serves it to Org1's client; Org2's peer refuses it.
async fn an_org_keeps_what_it_is_handed_in_its_implicit_collection(net: &Network) {
    const ORG1: &str = "_implicit_org_Org1";
    let tx = record(net, "client@Org3", ORG1, "p-handed", "XS-HANDED-7").await;
    let org1 = net.connect("client@Org1").await;
    let org2 = net.connect("client@Org2").await;
    committed_on(&org1, tx, ValidationCode::Valid).await;
    committed_on(&org2, tx, ValidationCode::Valid).await;
    assert_eq!(
        read(&org1, ORG1, "p-handed").await.unwrap(),
        position("XS-HANDED-7")
    );
    let refused = read(&org2, ORG1, "p-handed").await.unwrap_err();
    assert!(
        refused.to_string().contains("not members of collection"),
        "{refused}"
    );
}

/// `weft invoke … --transient` records a position as Org1's client;
/// `weft query` reads it back through Org2's peer once that committed it.
async fn the_command_line_sends_private_inputs(net: &Network) {
    let weft = weft_tests::process::binary("weft", "weft");
    let run = |label: &str, args: &[&str]| {
        let out = std::process::Command::new(&weft)
            .args(args)
            .arg("--profile")
            .arg(net.profile(label))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), stdout, stderr)
    };
    let entry = format!(
        "position={}",
        String::from_utf8(stored("XS-CLI-1")).unwrap()
    );
    let (ok, invoked, err) = run(
        "client@Org1",
        &[
            "invoke",
            CC,
            "record",
            EAGER,
            "p-cli",
            "--transient",
            &entry,
        ],
    );
    assert!(ok && invoked.contains("code VALID"), "{invoked}{err}");
    let tx: TxId = invoked
        .lines()
        .find_map(|l| l.strip_prefix("tx "))
        .expect("weft invoke prints the tx id")
        .parse()
        .unwrap();
    committed_on(&net.connect("client@Org2").await, tx, ValidationCode::Valid).await;
    let (ok, read, err) = run("client@Org2", &["query", CC, "read", EAGER, "p-cli"]);
    assert!(ok, "{read}{err}");
    let read: Value = serde_json::from_str(read.trim()).unwrap();
    assert_eq!(read, position("XS-CLI-1"));
}

/// With Org2's peer down, a write to the collection that needs one other
/// member peer is refused at endorsement: nothing is ordered. A collection
/// with another member up is written all the same.
async fn required_members_must_take_the_data(net: &Network) {
    let org1 = net.connect("client@Org1").await;
    let refused = org1
        .contract(CC)
        .submit_with_transient("record", &[EAGER, "p-down"], transient("XS-DOWN"))
        .await
        .unwrap_err();
    let text = refused.to_string();
    assert!(text.contains("must reach 1"), "{text}");
    let absent = read(&org1, EAGER, "p-down").await.unwrap_err();
    assert!(absent.to_string().contains("no position"), "{absent}");
    // Where another member peer is up, the push moves on to it when the
    // first one tried (Org2's, for about half of the tx ids) is down.
    for i in 0..4 {
        record(net, "client@Org1", FANOUT, &format!("p-fan-{i}"), "XS-FAN").await;
    }
}

/// Org2's peer comes back, commits the blocks it missed, and fetches the
/// lazy collection's value from Org1's peer.
async fn a_member_that_was_down_reconciles(net: &Network, tx: TxId) {
    let started = Instant::now();
    let org2 = loop {
        if let Ok(gateway) = Gateway::connect_profile(net.profile("client@Org2")).await
            && gateway.current_url() == net.gateways[1]
        {
            break gateway;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "Org2's peer does not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    committed_on(&org2, tx, ValidationCode::Valid).await;
    loop {
        match read(&org2, LAZY, "p-lazy").await {
            Ok(value) => {
                assert_eq!(value, position("XS-LAZY-0042"));
                assert_eq!(
                    org2.current_url(),
                    net.gateways[1],
                    "Org2's own peer answered"
                );
                return;
            }
            Err(e) => {
                assert!(
                    started.elapsed() < PATIENCE,
                    "Org2's peer never reconciled the value: {e}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// Every peer ends at the same height with the same commit hash.
async fn peers_converge(net: &Network) {
    let mut gateways = Vec::new();
    for org in ORGS {
        gateways.push(net.connect(&format!("client@{org}")).await);
    }
    let started = Instant::now();
    loop {
        let mut healths = Vec::new();
        for g in &gateways {
            healths.push(g.health().await.unwrap());
        }
        if healths.iter().all(|h| h.height == healths[0].height) {
            for h in &healths {
                assert_eq!(
                    h.commit_hash, healths[0].commit_hash,
                    "same blocks, same hash"
                );
            }
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the peers stay at different heights"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether some file under `dir` holds `needle`.
fn dir_holds(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            dir_holds(&path, needle)
        } else {
            let bytes = std::fs::read(&path).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle)
        }
    })
}

/// The member peers' data directories hold the position; the
/// non-member's (blocks, state, transient store) holds it nowhere.
fn only_members_store_the_values(net: &Network) {
    let data = |org: &str| net.dir.join("data").join(format!("peer0.{org}"));
    for org in ["Org1", "Org2"] {
        assert!(
            dir_holds(&data(org), b"XS-SECRET-4711"),
            "{org}'s peer stores the value it is a member for"
        );
    }
    assert!(
        !dir_holds(&data("Org3"), b"XS-SECRET-4711"),
        "the non-member's peer stores the private value"
    );
}
