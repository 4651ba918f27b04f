#![allow(clippy::unwrap_used)]
//! A whole network end to end, as users run it: `weft network init` for
//! two orgs and three orderers, real `weft-orderer` and `weft-peer`
//! processes on 127.0.0.1, asset-transfer deployed by a lifecycle
//! transaction whose endorsement policy needs both orgs, and clients that
//! talk to the gateways through the SDK or raw HTTP.
//!
//! One network serves every scenario, run in order by one test (the
//! upgrade changes the chaincode every other scenario uses, and two
//! networks at once would overload a small machine). Each scenario uses its
//! own asset ids.

#[allow(dead_code)] // each test binary uses part of the shared support
mod support;

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{CHANNEL, Network, PATIENCE, RawGateway, committed_on};
use weft_client::{ClientError, Committed, Gateway, Submitted};
use weft_types::{
    Bytes, ChaincodeDefinition, ChaincodeId, Digest, Domain, Endorsement, Envelope, Identity,
    LifecycleTransaction, Policy, Proposal, ProposalResponsePayload, SignedProposal, Transaction,
    TxBody, TxHeader, ValidationCode, from_base64, sha3_256, to_base64,
};

const CC: &str = "asset-transfer";
/// Needs a peer of each org, so both peers must endorse every invocation.
const POLICY: &str = "AND('Org1.peer', 'Org2.peer')";

#[test]
fn a_two_org_network_deploys_invokes_streams_conflicts_and_upgrades() {
    let wasm = std::fs::read(weft_tests::build_wasm(CC)).unwrap();
    let mut net = Network::start();
    support::runtime().block_on(async {
        net.wait_ready().await;
        let started = Instant::now();
        timed("1 SDK", deploy_invoke_and_read_on_both_peers(&net, &wasm)).await;
        timed("2 raw HTTP", raw_http_flow(&net)).await;
        timed("3 events", events_follow_an_invoke(&net)).await;
        timed("4 conflict", two_transfers_of_one_asset_conflict(&net)).await;
        timed("5 upgrade", an_upgrade_takes_effect(&net, &wasm)).await;
        timed("peers converge", peers_converge(&net)).await;
        eprintln!("every scenario took {:?}", started.elapsed());
    });
    net.assert_running();
}

/// Runs one scenario, saying which and how long it took (with `--nocapture`).
async fn timed(scenario: &str, run: impl std::future::Future<Output = ()>) {
    eprintln!("scenario {scenario}");
    let started = Instant::now();
    run.await;
    eprintln!("scenario {scenario}: passed in {:?}", started.elapsed());
}

// ---------------------------------------------------------------- helpers

/// The definition of asset-transfer at `sequence` needing both orgs.
fn definition(sequence: u64, module: &[u8]) -> ChaincodeDefinition {
    ChaincodeDefinition {
        channel: CHANNEL.into(),
        name: CC.into(),
        version: format!("{sequence}.0"),
        sequence,
        module_hash: sha3_256(module),
        endorsement_policy: Some(Policy::parse(POLICY).unwrap()),
        collections: vec![],
    }
}

/// A lifecycle transaction committing `def` with `module`, approved by
/// every admin (the default `LifecycleEndorsement` is a majority of the
/// admins: both of two orgs) and created by the first.
fn lifecycle(admins: &[Identity], def: &ChaincodeDefinition, module: &[u8]) -> Envelope {
    let definition = weft_types::to_json_bytes(def);
    let approvals = admins
        .iter()
        .map(|a| Endorsement::sign(Domain::LifecycleApproval, &definition, a))
        .collect();
    let creator = &admins[0];
    let tx = Transaction {
        header: TxHeader::new(CHANNEL, creator.certificate(), support::now_ms()),
        body: TxBody::Lifecycle(LifecycleTransaction {
            definition: Bytes(definition),
            module: Bytes(module.to_vec()),
            approvals,
        }),
    };
    Envelope::sign(&tx, creator)
}

/// Commits `def` through Org1's gateway as Org1's admin, waits until both
/// peers committed it VALID, and checks both serve it.
async fn deploy(net: &Network, def: &ChaincodeDefinition, module: &[u8]) {
    let admins = [net.identity("admin@Org1"), net.identity("admin@Org2")];
    let envelope = lifecycle(&admins, def, module);
    let admin = net.connect("admin@Org1").await;
    let status = match admin.submit_signed(&envelope, true).await {
        Ok(Submitted::Committed(status)) => status,
        other => panic!("the lifecycle transaction for {def:?}: {other:?}"),
    };
    assert_eq!(status.code, ValidationCode::Valid);
    let other = net.connect("admin@Org2").await;
    let there = other
        .transaction_status(status.tx_id, PATIENCE)
        .await
        .unwrap()
        .expect("Org2's peer commits the lifecycle transaction");
    assert_eq!(there, status, "both peers commit it at the same place");
    for gateway in [&admin, &other] {
        let served = gateway.chaincode(CC).await.unwrap();
        assert_eq!(
            &served,
            def,
            "{} serves the definition",
            gateway.current_url()
        );
    }
}

/// The asset JSON asset-transfer stores and returns.
fn asset(id: &str, owner: &str, value: u64) -> Value {
    json!({"id": id, "owner": owner, "value": value})
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Which chaincode definition endorsed an invocation.
fn endorsed_under(tx: &Transaction) -> ChaincodeId {
    let TxBody::Invoke(invoke) = &tx.body else {
        panic!("not an invocation: {tx:?}")
    };
    serde_json::from_slice::<ProposalResponsePayload>(&invoke.response)
        .unwrap()
        .chaincode
}

async fn read(gateway: &Gateway, id: &str) -> Value {
    parse(&gateway.contract(CC).evaluate("read", &[id]).await.unwrap())
}

// -------------------------------------------------------------- scenarios

/// 1. Deploy, invoke and query through the SDK at Org1; the other org's
///    gateway reports the same block, index and code for the transaction.
async fn deploy_invoke_and_read_on_both_peers(net: &Network, wasm: &[u8]) {
    let def = definition(1, wasm);
    deploy(net, &def, wasm).await;
    let org1 = net.connect("client@Org1").await;
    let org2 = net.connect("client@Org2").await;
    let contract = org1.contract(CC);
    let committed = contract
        .submit("create", &["e2e-sdk", "client", "100"])
        .await
        .unwrap();
    assert_eq!(committed.code, ValidationCode::Valid);
    assert_eq!(parse(&committed.result), asset("e2e-sdk", "client", 100));
    assert_eq!(
        read(&org1, "e2e-sdk").await,
        asset("e2e-sdk", "client", 100)
    );

    committed_on(&org2, committed.tx_id, ValidationCode::Valid).await;
    // GET /v1/transactions/{id} on Org2's gateway.
    let record = org2.transaction(committed.tx_id).await.unwrap();
    assert_eq!(
        (record.block, record.index, record.code),
        (committed.block, committed.index, ValidationCode::Valid),
        "Org2's peer committed it where Org1's did"
    );
    let tx = record.envelope.decode().unwrap();
    assert_eq!(tx.header.tx_id, committed.tx_id);
    assert_eq!(
        endorsed_under(&tx),
        ChaincodeId {
            name: CC.into(),
            version: "1.0".into(),
            sequence: 1
        }
    );
    let TxBody::Invoke(invoke) = &tx.body else {
        unreachable!("checked by endorsed_under")
    };
    assert_eq!(invoke.endorsements.len(), 2, "a peer of each org endorsed");
    assert_eq!(
        read(&org2, "e2e-sdk").await,
        asset("e2e-sdk", "client", 100)
    );
}

/// A proposal by `creator`, signed in the test.
fn signed_proposal(creator: &Identity, function: &str, args: &[&str]) -> (Proposal, Value) {
    let proposal = Proposal {
        header: TxHeader::new(CHANNEL, creator.certificate(), support::now_ms()),
        chaincode: CC.into(),
        function: function.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        transient_digest: None,
    };
    let signed = SignedProposal::sign(&proposal, creator);
    (proposal, json!({ "proposal": signed }))
}

/// `POST /v1/endorse`, then the checks a client makes before signing; the
/// envelope JSON built by hand.
async fn raw_endorse(gw: &RawGateway, creator: &Identity, function: &str, args: &[&str]) -> Value {
    let (proposal, body) = signed_proposal(creator, function, args);
    let (status, answer) = gw.post("/v1/endorse", &body).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "endorse {function}{args:?}: {answer}"
    );
    assert_eq!(
        answer["tx_id"],
        proposal.header.tx_id.to_string(),
        "{answer}"
    );
    let bytes = from_base64(answer["transaction"].as_str().unwrap()).unwrap();
    let digest: Digest = answer["digest"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        digest,
        sha3_256(&bytes),
        "the digest is sha3-256 of the bytes to sign"
    );
    let tx: Transaction = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        tx.header, proposal.header,
        "the transaction is our proposal's"
    );
    assert_eq!(answer["response"]["status"], 200, "{answer}");
    // Policy AND(Org1, Org2); this gateway's org first.
    assert_eq!(answer["endorsed_by"], json!(["Org2", "Org1"]), "{answer}");
    let signature = creator.sign(Domain::Transaction, &digest);
    json!({
        "payload": to_base64(&bytes),
        "signature": signature,
        "signer": creator.certificate(),
    })
}

/// 2. No SDK: login, endorse, sign, submit and evaluate over HTTP at
///    Org2's gateway; a stale endorsement is a 409 naming the conflict.
async fn raw_http_flow(net: &Network) {
    let client = net.identity("client@Org2");
    let mut gw = RawGateway::new(&net.gateways[1]);
    let (_, body) = signed_proposal(&client, "read", &["e2e-raw"]);
    let (status, answer) = gw.post("/v1/endorse", &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no token: {answer}");
    assert_eq!(answer["code"], "unauthorized", "{answer}");

    let session = gw.login(&client).await;
    assert_eq!(
        (&session["org"], &session["name"], &session["role"]),
        (&json!("Org2"), &json!("client"), &json!("client")),
        "{session}"
    );

    let submit = format!("/v1/submit?wait=true&timeout_ms={}", PATIENCE.as_millis());
    let envelope = raw_endorse(&gw, &client, "create", &["e2e-raw", "client", "7"]).await;
    let (status, answer) = gw.post(&submit, &envelope).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["code"], "VALID", "{answer}");
    assert!(
        answer["block"].as_u64().unwrap() >= 2,
        "after genesis and deploy: {answer}"
    );
    assert!(answer["index"].as_u64().is_some(), "{answer}");
    let tx_id = answer["tx_id"].as_str().unwrap().to_string();
    // Org1's gateway (any channel member may log in anywhere) waits for
    // its peer's commit, then shows the transaction where Org2's put it.
    let mut org1 = RawGateway::new(&net.gateways[0]);
    org1.login(&client).await;
    let wait = format!(
        "/v1/transactions/{tx_id}/status?timeout_ms={}",
        PATIENCE.as_millis()
    );
    let (status, there) = org1.get(&wait).await;
    assert_eq!(status, StatusCode::OK, "{there}");
    let (status, record) = org1.get(&format!("/v1/transactions/{tx_id}")).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    for found in [&there, &record] {
        for field in ["tx_id", "block", "index", "code"] {
            assert_eq!(found[field], answer[field], "{field}: {found} vs {answer}");
        }
    }
    assert_eq!(record["envelope"], envelope, "the envelope as submitted");

    let (_, body) = signed_proposal(&client, "read", &["e2e-raw"]);
    let (status, answer) = gw.post("/v1/evaluate", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], 200, "{answer}");
    let payload = from_base64(answer["payload"].as_str().unwrap()).unwrap();
    assert_eq!(parse(&payload), asset("e2e-raw", "client", 7));

    // Two updates endorsed from the same state, then submitted in turn.
    let first = raw_endorse(&gw, &client, "update", &["e2e-raw", "8"]).await;
    let second = raw_endorse(&gw, &client, "update", &["e2e-raw", "9"]).await;
    let (status, answer) = gw.post(&submit, &first).await;
    assert_eq!(
        (status, &answer["code"]),
        (StatusCode::OK, &json!("VALID")),
        "{answer}"
    );
    let (status, answer) = gw.post(&submit, &second).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["code"], "invalid_transaction", "{answer}");
    assert_eq!(answer["stage"], "validation", "{answer}");
    assert_eq!(answer["validation_code"], "MVCC_READ_CONFLICT", "{answer}");
    let (_, body) = signed_proposal(&client, "read", &["e2e-raw"]);
    let (_, answer) = gw.post("/v1/evaluate", &body).await;
    let payload = from_base64(answer["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        parse(&payload),
        asset("e2e-raw", "client", 8),
        "the first update won"
    );
}

/// 3. Block events (Org2's gateway) and chaincode events (Org1's),
///    subscribed before the invoke, both deliver it.
async fn events_follow_an_invoke(net: &Network) {
    let org1 = net.connect("client@Org1").await;
    let org2 = net.connect("client@Org2").await;
    let from_block = org2.health().await.unwrap().height;
    let from_event = org1.health().await.unwrap().height;
    // The tx id is fixed before anything is sent, so the listeners can
    // look for it while the invocation is under way.
    let proposal = org1
        .contract(CC)
        .new_proposal("create", &["e2e-events", "client", "5"])
        .unwrap();
    let tx_id = proposal.tx_id();

    let mut blocks = org2.block_events(Some(from_block));
    let block_listener = tokio::spawn(async move {
        let mut first = None;
        loop {
            let event = blocks.next().await.expect("the stream goes on").unwrap();
            first.get_or_insert(event.number);
            if let Some(tx) = event.txs.iter().find(|t| t.tx_id == Some(tx_id)) {
                return (first, event.number, tx.clone());
            }
        }
    });
    let mut events = org1.chaincode_events(CC, Some(from_event));
    let event_listener = tokio::spawn(async move {
        loop {
            let event = events.next().await.expect("the stream goes on").unwrap();
            if event.tx_id == tx_id {
                return event;
            }
        }
    });

    let prepared = proposal.sign(&net.identity("client@Org1")).unwrap();
    let endorsed = org1.endorse_signed(&prepared).await.unwrap();
    let envelope = endorsed.sign(&net.identity("client@Org1")).unwrap();
    let Submitted::Committed(status) = org1.submit_signed(&envelope, true).await.unwrap() else {
        panic!("submit with wait answers the commit")
    };
    assert_eq!(status.code, ValidationCode::Valid);

    let created = asset("e2e-events", "client", 5);
    let (first, number, tx) = tokio::time::timeout(PATIENCE, block_listener)
        .await
        .expect("the block event arrives")
        .unwrap();
    assert_eq!(
        first,
        Some(from_block),
        "the block stream starts where asked"
    );
    assert_eq!((number, tx.index), (status.block, status.index));
    assert_eq!(tx.code, ValidationCode::Valid);
    assert_eq!(tx.chaincode.as_deref(), Some(CC));
    let event = tx
        .event
        .expect("the block event carries the chaincode event");
    assert_eq!(event.name, "AssetCreated");
    assert_eq!(parse(&event.payload), created);

    let event = tokio::time::timeout(PATIENCE, event_listener)
        .await
        .expect("the chaincode event arrives")
        .unwrap();
    assert_eq!((event.block, event.chaincode.as_str()), (status.block, CC));
    assert_eq!(event.name, "AssetCreated");
    assert_eq!(parse(&event.payload), created);
}

/// 4. Two transfers of one asset, endorsed from the same committed state
///    and then submitted together: one commits, the other is an MVCC
///    read conflict on both peers.
async fn two_transfers_of_one_asset_conflict(net: &Network) {
    let org1 = net.connect("client@Org1").await;
    let org2 = net.connect("client@Org2").await;
    let client = net.identity("client@Org1");
    let contract = org1.contract(CC);
    let created = contract
        .submit("create", &["e2e-mvcc", "client", "1"])
        .await
        .unwrap();
    committed_on(&org2, created.tx_id, ValidationCode::Valid).await;

    let mut envelopes = Vec::new();
    for new_owner in ["alice", "bob"] {
        let prepared = contract
            .new_proposal("transfer", &["e2e-mvcc", new_owner])
            .unwrap()
            .sign(&client)
            .unwrap();
        let endorsed = org1.endorse_signed(&prepared).await.unwrap();
        assert_eq!(endorsed.endorsed_by(), ["Org1", "Org2"]);
        envelopes.push((new_owner, endorsed.tx_id(), endorsed.sign(&client).unwrap()));
    }
    let (a, b) = tokio::join!(
        org1.submit_signed(&envelopes[0].2, true),
        org1.submit_signed(&envelopes[1].2, true)
    );
    let outcomes = [a, b];
    let winners: Vec<usize> = (0..2).filter(|&i| outcomes[i].is_ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one transfer commits: {outcomes:?}"
    );
    let (winner, loser) = (winners[0], 1 - winners[0]);
    match &outcomes[winner] {
        Ok(Submitted::Committed(s)) => assert_eq!(s.code, ValidationCode::Valid),
        other => panic!("submit with wait answers the commit: {other:?}"),
    }
    assert_eq!(
        outcomes[loser].as_ref().unwrap_err(),
        &ClientError::Validation {
            code: ValidationCode::MvccReadConflict,
            tx_id: Some(envelopes[loser].1),
        }
    );
    committed_on(&org2, envelopes[winner].1, ValidationCode::Valid).await;
    committed_on(&org2, envelopes[loser].1, ValidationCode::MvccReadConflict).await;
    let expected = asset("e2e-mvcc", envelopes[winner].0, 1);
    assert_eq!(read(&org1, "e2e-mvcc").await, expected);
    assert_eq!(read(&org2, "e2e-mvcc").await, expected);
}

/// 5. A sequence-2 definition takes effect on both peers: an endorsement
///    made under sequence 1 no longer commits, new invocations do.
async fn an_upgrade_takes_effect(net: &Network, wasm: &[u8]) {
    let org1 = net.connect("client@Org1").await;
    let org2 = net.connect("client@Org2").await;
    let client = net.identity("client@Org1");
    let contract = org1.contract(CC);
    let created = contract
        .submit("create", &["e2e-upgrade", "client", "1"])
        .await
        .unwrap();
    committed_on(&org2, created.tx_id, ValidationCode::Valid).await;

    let prepared = contract
        .new_proposal("update", &["e2e-upgrade", "2"])
        .unwrap()
        .sign(&client)
        .unwrap();
    let stale = org1.endorse_signed(&prepared).await.unwrap();
    assert_eq!(endorsed_under(stale.transaction()).sequence, 1);
    let stale_envelope = stale.sign(&client).unwrap();

    let def = definition(2, wasm);
    deploy(net, &def, wasm).await;
    assert_eq!(org1.chaincodes().await.unwrap(), std::slice::from_ref(&def));
    assert_eq!(org2.chaincodes().await.unwrap(), [def]);

    // The upgrade is committed on Org1's peer before this is submitted,
    // so it lands in a later block: deterministic.
    assert_eq!(
        org1.submit_signed(&stale_envelope, true).await.unwrap_err(),
        ClientError::Validation {
            code: ValidationCode::ChaincodeVersionConflict,
            tx_id: Some(stale.tx_id()),
        }
    );
    committed_on(
        &org2,
        stale.tx_id(),
        ValidationCode::ChaincodeVersionConflict,
    )
    .await;

    let Committed { tx_id, code, .. } = contract
        .submit("update", &["e2e-upgrade", "3"])
        .await
        .unwrap();
    assert_eq!(code, ValidationCode::Valid);
    committed_on(&org2, tx_id, ValidationCode::Valid).await;
    let record = org2.transaction(tx_id).await.unwrap();
    assert_eq!(
        endorsed_under(&record.envelope.decode().unwrap()),
        ChaincodeId {
            name: CC.into(),
            version: "2.0".into(),
            sequence: 2
        }
    );
    assert_eq!(
        read(&org2, "e2e-upgrade").await,
        asset("e2e-upgrade", "client", 3)
    );
}

/// Both peers end at the same height with the same commit hash and block.
async fn peers_converge(net: &Network) {
    let org1 = net.connect("client@Org1").await;
    let org2 = net.connect("client@Org2").await;
    let started = Instant::now();
    loop {
        let (a, b) = (org1.health().await.unwrap(), org2.health().await.unwrap());
        if a.height == b.height {
            assert_eq!(
                a.commit_hash, b.commit_hash,
                "same blocks, same commit hash"
            );
            let last = a.height - 1;
            let (x, y) = (
                org1.block(last).await.unwrap(),
                org2.block(last).await.unwrap(),
            );
            assert_eq!(x.header.hash(), y.header.hash());
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the peers stay at heights {} and {}",
            a.height,
            b.height
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
