#![allow(clippy::unwrap_used)]
//! The gateway in process, over real ledgers, committers, endorsers and the
//! real asset-transfer Wasm: auth, evaluate, endorsement across two orgs
//! (the second org's peer served on 127.0.0.1 through its p2p router),
//! submit and commit waits against a fake orderer, ledger reads, event
//! streams, bad input, metrics and the OpenAPI document.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::mpsc;
use tower::ServiceExt;
use weft_node::committer::Committer;
use weft_node::endorser::Endorser;
use weft_node::gateway::{self, Gateway};
use weft_node::ledger::Ledger;
use weft_node::runtime::{Runtime, RuntimeConfig};
use weft_tests::network::{CHANNEL, GENESIS_MS, TestNetwork};
use weft_types::{
    Block, Bytes as WBytes, ChannelConfig, ConfigTransaction, Digest, Domain, Envelope, Identity,
    OrgAuthority, Role, SignedProposal, SigningKey, Transaction, TxBody, TxHeader, TxId,
    ValidationCode, from_base64, sha3_256, to_base64,
};

const CC: &str = "asset-transfer";
const FUEL: u64 = 20_000_000;
/// How long a test waits for anything before failing.
const PATIENCE: Duration = Duration::from_secs(20);

fn asset_transfer() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| std::fs::read(weft_tests::build_wasm(CC)).unwrap())
}

fn runtime() -> Arc<Runtime> {
    Arc::new(
        Runtime::new(RuntimeConfig {
            fuel_per_call: FUEL,
            max_instances: 16,
            ..RuntimeConfig::default()
        })
        .unwrap(),
    )
}

/// Block 0 carrying `config` (TestNetwork's own genesis carries its
/// config with fixed addresses; these tests need real ones).
fn genesis(net: &TestNetwork, config: &ChannelConfig) -> Block {
    config.validate().unwrap();
    let admin = &net.admins[0];
    let tx = Transaction {
        header: TxHeader::new(CHANNEL, admin.certificate(), GENESIS_MS),
        body: TxBody::Config(ConfigTransaction::new(config)),
    };
    let mut block = Block::new(
        0,
        Digest::ZERO,
        GENESIS_MS,
        vec![Envelope::sign(&tx, admin)],
    );
    block.sign(net.orderer());
    block
}

/// A listener on a free port of 127.0.0.1, and its address.
fn listener() -> (std::net::TcpListener, SocketAddr) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

fn serve(listener: std::net::TcpListener, app: Router) {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

/// One org's peer: committer, endorser, gateway.
struct Peer {
    committer: Arc<Committer>,
    gw: Arc<Gateway>,
    app: Router,
    _dir: TempDir,
}

/// A two-org channel: Org1's peer is the gateway under test, Org2's peer
/// answers endorsements on its p2p address (served when `serve_org2`);
/// the fake orderer orders each envelope into a block of its own that
/// every peer commits.
struct Fixture {
    net: Arc<TestNetwork>,
    peers: Vec<Peer>,
    /// The gateway's clock is the system clock plus this, in ms.
    clock_offset_ms: Arc<AtomicU64>,
    /// Envelopes the fake orderer received.
    ordered: Arc<parking_lot::Mutex<Vec<TxId>>>,
}

impl Fixture {
    async fn new(serve_org2: bool) -> Fixture {
        let net = TestNetwork::new(&["Org1", "Org2"]);
        let (org2_listener, org2_p2p) = listener();
        let (orderer_listener, orderer_api) = listener();
        let mut config = net.config.clone();
        config.orgs[1].peers[0].p2p = org2_p2p.to_string();
        config.orderers[0].api = orderer_api.to_string();
        // Without serve_org2, nothing listens there once the listener is gone.
        let org2_listener = serve_org2.then_some(org2_listener);
        let genesis = genesis(&net, &config);
        let runtime = runtime();
        let clock_offset_ms = Arc::new(AtomicU64::new(0));
        let peers: Vec<Peer> = (0..2)
            .map(|i| {
                let dir = tempfile::tempdir().unwrap();
                let ledger = Arc::new(Ledger::open(dir.path()).unwrap());
                let identity = net.peers[i].clone();
                let committer = Arc::new(
                    Committer::open(ledger.clone(), runtime.clone(), &genesis, identity.org())
                        .unwrap(),
                );
                let endorser = Arc::new(Endorser::new(
                    ledger,
                    runtime.clone(),
                    identity.clone(),
                    committer.config().clone(),
                ));
                let offset = clock_offset_ms.clone();
                let gw = Gateway::with_clock(identity, committer.clone(), endorser, move || {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis() as u64;
                    now + offset.load(Ordering::SeqCst)
                })
                .unwrap();
                Peer {
                    app: gateway::router(gw.clone()),
                    committer,
                    gw,
                    _dir: dir,
                }
            })
            .collect();
        if let Some(l) = org2_listener {
            serve(l, gateway::p2p_router(peers[1].gw.clone()));
        }
        let net = Arc::new(net);
        let ordered = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let committers: Vec<_> = peers.iter().map(|p| p.committer.clone()).collect();
        serve(
            orderer_listener,
            fake_orderer(net.clone(), committers, ordered.clone()),
        );
        Fixture {
            net,
            peers,
            clock_offset_ms,
            ordered,
        }
    }

    /// Org1's gateway.
    fn app(&self) -> &Router {
        &self.peers[0].app
    }

    fn committers(&self) -> Vec<Arc<Committer>> {
        self.peers.iter().map(|p| p.committer.clone()).collect()
    }

    /// Commits a block of `envelopes` on every peer; the codes.
    async fn commit(&self, envelopes: Vec<Envelope>) -> Vec<ValidationCode> {
        let (net, committers) = (self.net.clone(), self.committers());
        tokio::task::spawn_blocking(move || commit_block(&net, &committers, envelopes))
            .await
            .unwrap()
    }

    /// Defines `name` (the asset-transfer module) with `policy`.
    async fn deploy(&self, name: &str, policy: Option<&str>) {
        let def = self.net.definition(name, 1, asset_transfer(), policy);
        let codes = self
            .commit(vec![self.net.lifecycle(&def, asset_transfer())])
            .await;
        assert_eq!(codes, [ValidationCode::Valid]);
    }

    fn client(&self) -> &Identity {
        &self.net.clients[0]
    }

    fn proposal(&self, cc: &str, function: &str, args: &[&str]) -> SignedProposal {
        self.net
            .proposal(self.client(), cc, function, args, &BTreeMap::new())
    }

    /// A token for Org1's client on Org1's gateway.
    async fn token(&self) -> String {
        login(self.app(), self.client()).await
    }
}

/// Commits a block of `envelopes` after the tip on every committer, the
/// first (the gateway under test) last: once it has committed, the others
/// have too, so their endorsements agree. The first one's codes.
fn commit_block(
    net: &TestNetwork,
    committers: &[Arc<Committer>],
    envelopes: Vec<Envelope>,
) -> Vec<ValidationCode> {
    let ledger = committers[0].ledger();
    let tip = ledger.block(ledger.height() - 1).unwrap().unwrap().header;
    let block = net.next_block(&tip, envelopes);
    let mut codes = Vec::new();
    for c in committers.iter().rev() {
        let event = c.commit(block.clone()).unwrap();
        codes = event.txs.iter().map(|t| t.code).collect();
    }
    codes
}

/// An orderer that answers 200 to every envelope (one per request, or a
/// batch of them) and then, a moment later, has every peer commit it in a
/// block of its own.
fn fake_orderer(
    net: Arc<TestNetwork>,
    committers: Vec<Arc<Committer>>,
    ordered: Arc<parking_lot::Mutex<Vec<TxId>>>,
) -> Router {
    let (tx, mut rx) = mpsc::unbounded_channel::<Envelope>();
    tokio::spawn(async move {
        while let Some(envelope) = rx.recv().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let (net, committers) = (net.clone(), committers.clone());
            tokio::task::spawn_blocking(move || commit_block(&net, &committers, vec![envelope]))
                .await
                .unwrap();
        }
    });
    // The envelope's tx id, once it is on its way to the peers.
    let accept = move |body: &[u8]| {
        let envelope: Envelope = serde_json::from_slice(body).unwrap();
        let tx_id = envelope.decode().unwrap().header.tx_id;
        ordered.lock().push(tx_id);
        tx.send(envelope).unwrap();
        tx_id
    };
    let batch_accept = accept.clone();
    Router::new()
        .route(
            "/v1/broadcast",
            axum::routing::post(move |body: Bytes| async move {
                let tx_id = accept(&body);
                axum::Json(json!({"status": "accepted", "tx_id": tx_id}))
            }),
        )
        .route(
            "/v1/broadcast/batch",
            axum::routing::post(move |body: Bytes| async move {
                let mut answer = String::new();
                for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let tx_id = batch_accept(line);
                    answer.push_str(&json!({"status": 200, "tx_id": tx_id}).to_string());
                    answer.push('\n');
                }
                answer
            }),
        )
}

/// Calls `app`; the status and the JSON body (`Value::Null` if not JSON).
async fn call(
    app: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
    let response = tokio::time::timeout(PATIENCE, app.clone().oneshot(req))
        .await
        .expect("the gateway answers in time")
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn get(app: &Router, path: &str, token: &str) -> (StatusCode, Value) {
    call(app, Method::GET, path, Some(token), None).await
}

async fn post(app: &Router, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(body).unwrap();
    call(app, Method::POST, path, Some(token), Some(body)).await
}

/// Asserts the documented error shape, status, code and stage.
#[track_caller]
fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str, stage: &str) {
    let (s, body) = got;
    assert_eq!(*s, status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["stage"], stage, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let keys: BTreeSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["code", "message", "stage", "org", "validation_code"]),
        "{body}"
    );
}

async fn challenge(app: &Router) -> Vec<u8> {
    let (status, body) = call(app, Method::POST, "/v1/auth/challenge", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["expires_at_ms"].as_u64().unwrap() > 0);
    let bytes = from_base64(body["challenge"].as_str().unwrap()).unwrap();
    assert_eq!(bytes.len(), 32);
    bytes
}

fn token_request(challenge: &[u8], who: &Identity, signer: &Identity) -> Value {
    let signature = signer.sign(Domain::AuthChallenge, &sha3_256(challenge));
    json!({
        "challenge": to_base64(challenge),
        "certificate": who.certificate(),
        "signature": signature,
    })
}

async fn ask_token(app: &Router, body: &Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(body).unwrap();
    call(app, Method::POST, "/v1/auth/token", None, Some(body)).await
}

async fn login(app: &Router, who: &Identity) -> String {
    let c = challenge(app).await;
    let (status, body) = ask_token(app, &token_request(&c, who, who)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_string()
}

fn proposal_body(proposal: &SignedProposal) -> Value {
    json!({ "proposal": proposal })
}

/// The envelope a client makes from an endorse answer: it signs the digest.
fn sign_envelope(endorsed: &Value, client: &Identity) -> Envelope {
    let bytes = from_base64(endorsed["transaction"].as_str().unwrap()).unwrap();
    let digest: Digest = endorsed["digest"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        sha3_256(&bytes),
        digest,
        "the digest is of the bytes to sign"
    );
    let signature = client.sign(Domain::Transaction, &digest);
    Envelope::from_parts(bytes, signature, client.certificate().clone())
}

async fn endorse(f: &Fixture, token: &str, function: &str, args: &[&str]) -> Value {
    let proposal = f.proposal(CC, function, args);
    let (status, body) = post(f.app(), "/v1/endorse", token, &proposal_body(&proposal)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn submit(f: &Fixture, token: &str, envelope: &Envelope, query: &str) -> (StatusCode, Value) {
    let body = serde_json::to_value(envelope).unwrap();
    post(f.app(), &format!("/v1/submit{query}"), token, &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_issued_for_signed_challenges_and_checked_on_every_call() {
    let f = Fixture::new(false).await;
    let app = f.app();

    // No token, a garbage token, a token of another key.
    assert_error(
        &call(app, Method::GET, "/v1/chaincodes", None, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "auth",
    );
    assert_error(
        &get(app, "/v1/chaincodes", "not.a.jwt").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "auth",
    );
    let org2_token = login(&f.peers[1].app, &f.net.clients[1]).await;
    assert_error(
        &get(app, "/v1/chaincodes", &org2_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "auth",
    );

    // A good token: its claims are the member's, the gateway accepts it.
    let c = challenge(app).await;
    let (status, body) = ask_token(app, &token_request(&c, f.client(), f.client())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["org"], &body["name"], &body["role"]),
        (&json!("Org1"), &json!("client"), &json!("client"))
    );
    let token = body["token"].as_str().unwrap().to_string();
    let (status, list) = get(app, "/v1/chaincodes", &token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list, json!([]));
    let claims: Value = {
        let part = token.split('.').nth(1).unwrap();
        let padded = match part.len() % 4 {
            2 => format!("{part}=="),
            3 => format!("{part}="),
            _ => part.to_string(),
        };
        let standard = padded.replace('-', "+").replace('_', "/");
        serde_json::from_slice(&from_base64(&standard).unwrap()).unwrap()
    };
    assert_eq!(claims["sub"], "client@Org1");
    assert_eq!(claims["aud"], "weft-gateway");
    assert_eq!(claims["iss"], "peer0@Org1");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );

    // The same challenge again: single use.
    assert_error(
        &ask_token(app, &token_request(&c, f.client(), f.client())).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "auth",
    );

    // Signed by another key than the certificate's.
    let c = challenge(app).await;
    assert_error(
        &ask_token(app, &token_request(&c, f.client(), &f.net.clients[1])).await,
        StatusCode::UNAUTHORIZED,
        "bad_signature",
        "auth",
    );
    // ... which did not burn the challenge: signed properly, it works.
    let (status, _) = ask_token(app, &token_request(&c, f.client(), f.client())).await;
    assert_eq!(status, StatusCode::OK);

    // A member of an org that is not on the channel.
    let stranger = OrgAuthority::new("Org9", SigningKey::generate())
        .unwrap()
        .enroll("client", Role::Client, 0, u64::MAX)
        .unwrap();
    let c = challenge(app).await;
    assert_error(
        &ask_token(app, &token_request(&c, &stranger, &stranger)).await,
        StatusCode::UNAUTHORIZED,
        "bad_creator",
        "auth",
    );

    // A challenge the gateway never issued; one that is not base64.
    assert_error(
        &ask_token(app, &token_request(&[7u8; 32], f.client(), f.client())).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "auth",
    );
    let mut bad = token_request(&[7u8; 32], f.client(), f.client());
    bad["challenge"] = json!("not base64!");
    assert_error(
        &ask_token(app, &bad).await,
        StatusCode::BAD_REQUEST,
        "malformed",
        "request",
    );

    // An hour and a second later the token has expired, and so has a
    // challenge taken before.
    let c = challenge(app).await;
    f.clock_offset_ms.store(3_601_000, Ordering::SeqCst);
    assert_error(
        &get(app, "/v1/chaincodes", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "auth",
    );
    assert_error(
        &ask_token(app, &token_request(&c, f.client(), f.client())).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "auth",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_runs_here_and_chaincode_errors_are_422() {
    let f = Fixture::new(false).await;
    f.deploy(CC, None).await;
    let token = f.token().await;
    let exists = f.proposal(CC, "exists", &["asset1"]);
    let (status, body) = post(f.app(), "/v1/evaluate", &token, &proposal_body(&exists)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], 200);
    assert_eq!(body["message"], "");
    assert_eq!(
        from_base64(body["payload"].as_str().unwrap()).unwrap(),
        b"false"
    );

    let read = f.proposal(CC, "read", &["asset1"]);
    let got = post(f.app(), "/v1/evaluate", &token, &proposal_body(&read)).await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "chaincode_error",
        "endorsement",
    );
    assert_eq!(got.1["org"], "Org1");

    // A proposal signed by someone else than its creator.
    let mut forged = f.proposal(CC, "exists", &["asset1"]);
    forged.signature = f.net.clients[1].sign(Domain::Proposal, &forged.payload_digest());
    assert_error(
        &post(f.app(), "/v1/evaluate", &token, &proposal_body(&forged)).await,
        StatusCode::UNAUTHORIZED,
        "bad_signature",
        "auth",
    );
    // An unknown chaincode.
    let unknown = f.proposal("nope", "exists", &["asset1"]);
    assert_error(
        &post(f.app(), "/v1/evaluate", &token, &proposal_body(&unknown)).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "request",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_orgs_endorse_submit_waits_for_the_commit_and_reads_follow() {
    let f = Fixture::new(true).await;
    f.deploy(CC, Some("AND('Org1.peer', 'Org2.peer')")).await;
    let token = f.token().await;

    // Endorsed by this peer and, through its p2p endpoint, Org2's.
    // Owned by the client, which may transfer it below.
    let endorsed = endorse(&f, &token, "create", &["asset1", "client", "100"]).await;
    assert_eq!(endorsed["endorsed_by"], json!(["Org1", "Org2"]));
    assert_eq!(endorsed["response"]["status"], 200);
    let envelope = sign_envelope(&endorsed, f.client());
    let tx: Transaction = envelope.decode().unwrap();
    let TxBody::Invoke(invoke) = &tx.body else {
        panic!("not an invocation")
    };
    let endorsers: Vec<String> = invoke
        .endorsements
        .iter()
        .map(|e| e.endorser.decode().unwrap().org)
        .collect();
    assert_eq!(endorsers, ["Org1", "Org2"]);
    let tx_id = tx.header.tx_id;
    assert_eq!(endorsed["tx_id"], json!(tx_id));

    // Not committed yet.
    assert_error(
        &get(f.app(), &format!("/v1/transactions/{tx_id}/status"), &token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "request",
    );

    // Submit and wait: the fake orderer takes it, both peers commit it.
    let (status, body) = submit(&f, &token, &envelope, "?wait=true&timeout_ms=20000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let height = f.peers[0].committer.height();
    assert_eq!(
        body,
        json!({"tx_id": tx_id, "block": height - 1, "index": 0, "code": "VALID"})
    );
    assert_eq!(*f.ordered.lock(), [tx_id]);
    // Submitted again, with or without waiting: answered from the ledger,
    // not ordered a second time.
    for query in ["", "?wait=true"] {
        let (again, again_body) = submit(&f, &token, &envelope, query).await;
        assert_eq!(again, StatusCode::OK, "{again_body}");
        assert_eq!(again_body, body);
    }
    assert_eq!(*f.ordered.lock(), [tx_id]);

    // The asset reads back through evaluate.
    let read = f.proposal(CC, "read", &["asset1"]);
    let (status, body) = post(f.app(), "/v1/evaluate", &token, &proposal_body(&read)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let asset: Value =
        serde_json::from_slice(&from_base64(body["payload"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(
        asset,
        json!({"id": "asset1", "owner": "client", "value": 100})
    );

    // Status, the transaction, its block.
    let (status, st) = get(f.app(), &format!("/v1/transactions/{tx_id}/status"), &token).await;
    assert_eq!(status, StatusCode::OK, "{st}");
    assert_eq!(st["block"], height - 1);
    let (status, record) = get(f.app(), &format!("/v1/transactions/{tx_id}"), &token).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["code"], "VALID");
    assert_eq!(record["envelope"], serde_json::to_value(&envelope).unwrap());
    let (status, block) = get(f.app(), &format!("/v1/blocks/{}", height - 1), &token).await;
    assert_eq!(status, StatusCode::OK, "{block}");
    let block: Block = serde_json::from_value(block).unwrap();
    assert_eq!(block.metadata.validation_flags, [ValidationCode::Valid]);
    assert_eq!(
        block.metadata.commit_hash,
        Some(f.peers[0].committer.commit_hash())
    );
    assert_eq!(block.data, std::slice::from_ref(&envelope));

    // Definitions.
    let (status, list) = get(f.app(), "/v1/chaincodes", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], CC);
    let (status, def) = get(f.app(), &format!("/v1/chaincodes/{CC}"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(def["sequence"], 1);

    // 404s and 400s.
    let unknown = TxId(sha3_256(b"unknown"));
    assert_error(
        &get(f.app(), &format!("/v1/transactions/{unknown}"), &token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "request",
    );
    assert_error(
        &get(f.app(), "/v1/transactions/xyz", &token).await,
        StatusCode::BAD_REQUEST,
        "malformed",
        "request",
    );
    assert_error(
        &get(f.app(), "/v1/blocks/999", &token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "request",
    );
    assert_error(
        &get(f.app(), "/v1/blocks/-1", &token).await,
        StatusCode::BAD_REQUEST,
        "malformed",
        "request",
    );
    assert_error(
        &get(f.app(), "/v1/chaincodes/nope", &token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "request",
    );
    // Waiting for a transaction that never comes: 504.
    assert_error(
        &get(
            f.app(),
            &format!("/v1/transactions/{unknown}/status?timeout_ms=200"),
            &token,
        )
        .await,
        StatusCode::GATEWAY_TIMEOUT,
        "timeout",
        "commit_wait",
    );

    // The same proposal again: its tx id is on the ledger.
    let again = post(
        f.app(),
        "/v1/endorse",
        &token,
        &json!({ "proposal": invoke.proposal }),
    )
    .await;
    assert_error(
        &again,
        StatusCode::CONFLICT,
        "invalid_transaction",
        "endorsement",
    );
    assert_eq!(again.1["validation_code"], "DUPLICATE_TXID");

    // Two transfers endorsed against the same state: the second commits
    // with an MVCC read conflict, and the waiting submit says so.
    let to_bob = sign_envelope(
        &endorse(&f, &token, "transfer", &["asset1", "bob"]).await,
        f.client(),
    );
    let to_carol = sign_envelope(
        &endorse(&f, &token, "transfer", &["asset1", "carol"]).await,
        f.client(),
    );
    let (status, body) = submit(&f, &token, &to_bob, "?wait=true").await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::OK, &json!("VALID")),
        "{body}"
    );
    let got = submit(&f, &token, &to_carol, "?wait=true&timeout_ms=20000").await;
    assert_error(
        &got,
        StatusCode::CONFLICT,
        "invalid_transaction",
        "validation",
    );
    assert_eq!(got.1["validation_code"], "MVCC_READ_CONFLICT");

    // Without wait: 202 once ordered; the status endpoint waits for the commit.
    let update = sign_envelope(
        &endorse(&f, &token, "update", &["asset1", "7"]).await,
        f.client(),
    );
    let update_id = update.decode().unwrap().header.tx_id;
    let (status, body) = submit(&f, &token, &update, "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, json!({"tx_id": update_id, "status": "ordered"}));
    let (status, body) = get(
        f.app(),
        &format!("/v1/transactions/{update_id}/status?timeout_ms=20000"),
        &token,
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::OK, &json!("VALID")),
        "{body}"
    );

    // A chaincode error while endorsing: 422, naming the org that ran it.
    let proposal = f.proposal(CC, "create", &["asset2", "", "1"]);
    let got = post(f.app(), "/v1/endorse", &token, &proposal_body(&proposal)).await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "chaincode_error",
        "endorsement",
    );
    assert!(
        got.1["message"]
            .as_str()
            .unwrap()
            .contains("must not be empty")
    );

    // Org2's ledger moves ahead of this peer's (a block this peer has not
    // committed yet): the simulations differ and the gateway names Org2.
    let ahead = sign_envelope(
        &endorse(&f, &token, "update", &["asset1", "8"]).await,
        f.client(),
    );
    let (net, org2) = (f.net.clone(), vec![f.peers[1].committer.clone()]);
    let codes = tokio::task::spawn_blocking(move || commit_block(&net, &org2, vec![ahead]))
        .await
        .unwrap();
    assert_eq!(codes, [ValidationCode::Valid]);
    let proposal = f.proposal(CC, "update", &["asset1", "9"]);
    let got = post(f.app(), "/v1/endorse", &token, &proposal_body(&proposal)).await;
    assert_error(
        &got,
        StatusCode::BAD_GATEWAY,
        "endorsement_failed",
        "endorsement",
    );
    assert_eq!(got.1["org"], "Org2", "{}", got.1);

    // An envelope the client did not sign properly reaches no orderer.
    let mut garbage = serde_json::to_value(&update).unwrap();
    garbage["payload"] = json!(to_base64(b"not a transaction"));
    assert_error(
        &post(f.app(), "/v1/submit", &token, &garbage).await,
        StatusCode::BAD_REQUEST,
        "malformed",
        "request",
    );
}

/// A client that committed through Org1's gateway and at once asks for an
/// endorsement that needs Org2 is not endorsed against Org2's older state:
/// Org2's peer first commits up to the asking gateway's height.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_peer_catches_up_to_the_asking_gateway_before_endorsing() {
    let f = Fixture::new(true).await;
    f.deploy(CC, Some("AND('Org1.peer', 'Org2.peer')")).await;
    let token = f.token().await;
    let created = create_envelope(&f, CC, "late").await;
    // Org1 commits the create; Org2 only 500 ms later.
    let ledger = f.peers[0].committer.ledger();
    let tip = ledger.block(ledger.height() - 1).unwrap().unwrap().header;
    let block = f.net.next_block(&tip, vec![created]);
    f.peers[0].committer.commit(block.clone()).unwrap();
    assert_eq!(
        f.peers[1].committer.height() + 1,
        f.peers[0].committer.height()
    );
    let org2 = f.peers[1].committer.clone();
    let late = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        tokio::task::spawn_blocking(move || org2.commit(block).unwrap())
            .await
            .unwrap()
    });
    let proposal = f.proposal(CC, "update", &["late", "9"]);
    let (status, body) = post(f.app(), "/v1/endorse", &token, &proposal_body(&proposal)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["endorsed_by"], json!(["Org1", "Org2"]));
    // Org2's peer had committed the block by then (its commit task may
    // still be returning, so ask its ledger, not the task).
    assert_eq!(
        f.peers[1].committer.height(),
        f.peers[0].committer.height(),
        "Org2 endorsed before it had the asset"
    );
    late.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_org_or_an_unsatisfiable_policy_is_reported() {
    let f = Fixture::new(false).await;
    f.deploy(CC, Some("AND('Org1.peer', 'Org2.peer')")).await;
    f.deploy("admins-only", Some("'Org2.admin'")).await;
    f.deploy("org1-only", Some("'Org1.peer'")).await;
    let token = f.token().await;

    let proposal = f.proposal(CC, "create", &["asset1", "alice", "100"]);
    let got = post(f.app(), "/v1/endorse", &token, &proposal_body(&proposal)).await;
    assert_error(
        &got,
        StatusCode::BAD_GATEWAY,
        "endorsement_failed",
        "endorsement",
    );
    assert_eq!(got.1["org"], "Org2");
    let message = got.1["message"].as_str().unwrap();
    assert!(message.contains("peer0@Org2"), "{message}");

    let proposal = f.proposal("admins-only", "create", &["asset1", "alice", "100"]);
    let got = post(f.app(), "/v1/endorse", &token, &proposal_body(&proposal)).await;
    assert_error(
        &got,
        StatusCode::BAD_REQUEST,
        "policy_unsatisfiable",
        "endorsement",
    );

    // A policy this org alone satisfies needs no other peer.
    let proposal = f.proposal("org1-only", "create", &["asset1", "alice", "100"]);
    let (status, body) = post(f.app(), "/v1/endorse", &token, &proposal_body(&proposal)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["endorsed_by"], json!(["Org1"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_reports_an_unreachable_ordering_service() {
    let net = TestNetwork::new(&["Org1"]);
    let mut config = net.config.clone();
    let (dead, addr) = listener();
    drop(dead);
    config.orderers[0].api = addr.to_string();
    let genesis = genesis(&net, &config);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(dir.path()).unwrap());
    let runtime = runtime();
    let committer =
        Arc::new(Committer::open(ledger.clone(), runtime.clone(), &genesis, "Org1").unwrap());
    let endorser = Arc::new(Endorser::new(
        ledger,
        runtime,
        net.peers[0].clone(),
        committer.config().clone(),
    ));
    let gw = Gateway::new(net.peers[0].clone(), committer, endorser).unwrap();
    let app = gateway::router(gw);
    let token = login(&app, &net.clients[0]).await;
    let def = net.definition("kv", 1, b"irrelevant", None);
    let envelope = net.lifecycle(&def, b"irrelevant");
    let body = serde_json::to_value(&envelope).unwrap();
    assert_error(
        &post(&app, "/v1/submit?wait=true", &token, &body).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "ordering_failed",
        "ordering",
    );
}

/// Reads server-sent events from a response body.
struct SseReader {
    body: Body,
    buffer: String,
}

#[derive(Debug)]
struct SseEvent {
    event: String,
    id: String,
    data: Value,
}

impl SseReader {
    async fn open(app: &Router, path: &str, token: &str) -> SseReader {
        let req = Request::get(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        SseReader {
            body: response.into_body(),
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: String::new(),
                    id: String::new(),
                    data: Value::Null,
                };
                for line in raw.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event.event = v.to_string();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        event.id = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        event.data = serde_json::from_str(v).unwrap();
                    }
                }
                if event.event.is_empty() {
                    continue; // a keep-alive comment
                }
                return event;
            }
            let frame = tokio::time::timeout(PATIENCE, self.body.frame())
                .await
                .expect("an event in time")
                .expect("the stream goes on")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    }
}

/// A create of `id` endorsed by both orgs' peers directly (no gateway).
async fn create_envelope(f: &Fixture, cc: &str, id: &str) -> Envelope {
    let token = f.token().await;
    let proposal = f.proposal(cc, "create", &[id, "alice", "5"]);
    let (status, body) = post(f.app(), "/v1/endorse", &token, &proposal_body(&proposal)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sign_envelope(&body, f.client())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_events_replay_then_follow_without_gap_or_duplicate() {
    let f = Fixture::new(false).await;
    f.deploy(CC, Some("'Org1.peer'")).await;
    let token = f.token().await;
    let created = create_envelope(&f, CC, "asset1").await;
    let created_id = created.decode().unwrap().header.tx_id;
    assert_eq!(f.commit(vec![created]).await, [ValidationCode::Valid]);
    let height = f.peers[0].committer.height();
    assert_eq!(height, 3);

    // Replayed: blocks 0..3 from the ledger.
    let mut stream = SseReader::open(f.app(), "/v1/events/blocks?from=0", &token).await;
    for n in 0..height {
        let ev = stream.next().await;
        assert_eq!(
            (ev.event.as_str(), ev.id.as_str()),
            ("block", n.to_string().as_str())
        );
        assert_eq!(ev.data["number"], n);
    }
    // The replayed block carries what the live event carried.
    let live = f.peers[0]
        .committer
        .ledger()
        .block(2)
        .unwrap()
        .unwrap()
        .metadata
        .commit_hash;
    let mut again = SseReader::open(f.app(), "/v1/events/blocks?from=2", &token).await;
    let ev = again.next().await;
    assert_eq!(ev.data["commit_hash"], json!(live.unwrap()));
    assert_eq!(ev.data["txs"][0]["tx_id"], json!(created_id));
    assert_eq!(ev.data["txs"][0]["code"], "VALID");
    assert_eq!(ev.data["txs"][0]["chaincode"], CC);
    assert_eq!(ev.data["txs"][0]["event"]["name"], "AssetCreated");

    // Live: blocks committed while the stream is open, while it is still
    // replaying (from 0) and while it is idle, arrive once each, in order.
    let mut from_zero = SseReader::open(f.app(), "/v1/events/blocks?from=0", &token).await;
    let (net, committers) = (f.net.clone(), f.committers());
    let committing = tokio::task::spawn_blocking(move || {
        for _ in 0..5 {
            commit_block(&net, &committers, vec![]);
        }
    });
    for n in height..height + 5 {
        assert_eq!(stream.next().await.data["number"], n);
    }
    for n in 0..height + 5 {
        assert_eq!(from_zero.next().await.data["number"], n);
    }
    committing.await.unwrap();

    // Resuming with Last-Event-ID.
    let req = Request::get("/v1/events/blocks")
        .header("authorization", format!("Bearer {token}"))
        .header("last-event-id", "4")
        .body(Body::empty())
        .unwrap();
    let response = f.app().clone().oneshot(req).await.unwrap();
    let mut resumed = SseReader {
        body: response.into_body(),
        buffer: String::new(),
    };
    assert_eq!(resumed.next().await.data["number"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_stream_replays_what_it_missed() {
    let f = Fixture::new(false).await;
    let token = f.token().await;
    let start = f.peers[0].committer.height();
    // Opened, then not read while more blocks commit than the committer buffers.
    let mut stream =
        SseReader::open(f.app(), &format!("/v1/events/blocks?from={start}"), &token).await;
    let (net, committers) = (f.net.clone(), vec![f.peers[0].committer.clone()]);
    const BLOCKS: u64 = 300;
    tokio::task::spawn_blocking(move || {
        for _ in 0..BLOCKS {
            commit_block(&net, &committers, vec![]);
        }
    })
    .await
    .unwrap();
    for n in start..start + BLOCKS {
        assert_eq!(stream.next().await.data["number"], n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaincode_events_are_filtered_by_chaincode() {
    let f = Fixture::new(false).await;
    f.deploy(CC, Some("'Org1.peer'")).await;
    f.deploy("other", Some("'Org1.peer'")).await;
    let token = f.token().await;
    let a = create_envelope(&f, CC, "a").await;
    let b = create_envelope(&f, "other", "b").await;
    let c = create_envelope(&f, CC, "c").await;
    let ids: Vec<TxId> = [&a, &c]
        .iter()
        .map(|e| e.decode().unwrap().header.tx_id)
        .collect();
    assert_eq!(f.commit(vec![a, b]).await, [ValidationCode::Valid; 2]);

    assert_error(
        &get(f.app(), "/v1/events/chaincode?from=0", &token).await,
        StatusCode::BAD_REQUEST,
        "malformed",
        "request",
    );
    let mut stream = SseReader::open(
        f.app(),
        &format!("/v1/events/chaincode?chaincode={CC}&from=0"),
        &token,
    )
    .await;
    let first = stream.next().await;
    assert_eq!(first.event, "chaincode");
    assert_eq!(first.data["tx_id"], json!(ids[0]));
    assert_eq!(first.data["chaincode"], CC);
    assert_eq!(first.data["name"], "AssetCreated");
    let payload: Value =
        serde_json::from_slice(&from_base64(first.data["payload"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(payload["id"], "a");
    assert_eq!(first.id, first.data["block"].to_string());

    // Live, after "other"'s event in the same block was skipped.
    assert_eq!(f.commit(vec![c]).await, [ValidationCode::Valid]);
    let second = stream.next().await;
    assert_eq!(second.data["tx_id"], json!(ids[1]));
    assert_eq!(second.data["block"], f.peers[0].committer.height() - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_json_errors() {
    let f = Fixture::new(false).await;
    let app = f.app();
    let token = f.token().await;

    // Malformed JSON, and JSON of the wrong shape.
    let got = call(
        app,
        Method::POST,
        "/v1/evaluate",
        Some(&token),
        Some(b"{\"proposal\": ".to_vec()),
    )
    .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "malformed", "request");
    let got = post(app, "/v1/endorse", &token, &json!({"proposal": 5})).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "malformed", "request");
    let got = call(
        app,
        Method::POST,
        "/v1/auth/token",
        None,
        Some(b"[]".to_vec()),
    )
    .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "malformed", "request");
    let got = get(app, "/v1/events/blocks?from=soon", &token).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "malformed", "request");

    // Over 16 MiB: 413, as JSON, with and without a token.
    let big = vec![b' '; gateway::MAX_BODY_BYTES + 1];
    let got = call(
        app,
        Method::POST,
        "/v1/submit",
        Some(&token),
        Some(big.clone()),
    )
    .await;
    assert_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "too_large", "request");
    let got = call(app, Method::POST, "/v1/auth/token", None, Some(big.clone())).await;
    assert_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "too_large", "request");
    let got = call(
        &gateway::p2p_router(f.peers[0].gw.clone()),
        Method::POST,
        "/v1/endorse",
        None,
        Some(big),
    )
    .await;
    assert_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "too_large", "request");

    // Unknown routes and methods.
    let got = call(app, Method::GET, "/v2/nothing", None, None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found", "request");
    let got = call(app, Method::DELETE, "/v1/healthz", None, None).await;
    assert_error(&got, StatusCode::METHOD_NOT_ALLOWED, "malformed", "request");

    // Healthz needs no token.
    let (status, health) = call(app, Method::GET, "/v1/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["peer"], "peer0@Org1");
    assert_eq!(health["height"], 1);
    assert_eq!(
        health["commit_hash"],
        json!(f.peers[0].committer.commit_hash())
    );
}

/// Sends `lines` as one `POST /v1/batch`; its answer, not read yet.
async fn batch_response(
    app: &Router,
    token: Option<&str>,
    lines: &[String],
) -> axum::response::Response {
    let mut req = Request::post("/v1/batch").header("content-type", "application/x-ndjson");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req.body(Body::from(lines.join("\n"))).unwrap();
    tokio::time::timeout(PATIENCE, app.clone().oneshot(req))
        .await
        .expect("the gateway answers in time")
        .unwrap()
}

/// Sends `lines` as one `POST /v1/batch`; the status, and the answer's
/// lines by index (each index once).
async fn batch(app: &Router, token: Option<&str>, lines: &[String]) -> (StatusCode, Vec<Value>) {
    let response = batch_response(app, token, lines).await;
    let status = response.status();
    let bytes = tokio::time::timeout(PATIENCE, response.into_body().collect())
        .await
        .expect("the answer ends in time")
        .unwrap()
        .to_bytes();
    if status != StatusCode::OK {
        return (status, vec![serde_json::from_slice(&bytes).unwrap()]);
    }
    let mut answers = vec![Value::Null; lines.len()];
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let line: Value = serde_json::from_slice(line).unwrap();
        let index = line["index"].as_u64().unwrap() as usize;
        assert!(answers[index].is_null(), "line {index} answered twice");
        answers[index] = line;
    }
    assert!(answers.iter().all(|a| !a.is_null()), "every line answered");
    (status, answers)
}

fn batch_line(path: &str, body: &Value) -> String {
    json!({ "path": path, "body": body }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_each_call_as_its_single_route_would() {
    let f = Fixture::new(true).await;
    f.deploy(CC, Some("AND('Org1.peer', 'Org2.peer')")).await;
    let token = f.token().await;

    let create = f.proposal(CC, "create", &["asset1", "client", "100"]);
    let missing = f.proposal(CC, "read", &["nobody"]);
    let mut forged = serde_json::to_value(f.proposal(CC, "create", &["x", "y", "1"])).unwrap();
    forged["signature"] =
        serde_json::to_value(f.client().sign(Domain::Proposal, &sha3_256(b"other"))).unwrap();
    let lines = [
        batch_line("/v1/endorse", &proposal_body(&create)),
        batch_line("/v1/evaluate", &proposal_body(&missing)),
        batch_line("/v1/endorse", &json!({ "proposal": forged })),
        batch_line("/v1/blocks/0", &json!({})),
        "{not json".to_string(),
        batch_line("/v1/auth/token", &json!({})),
        batch_line("/v1/batch", &json!({})),
    ];
    let (status, answers) = batch(f.app(), Some(&token), &lines).await;
    assert_eq!(status, StatusCode::OK);
    let endorsed = &answers[0]["body"];
    assert_eq!(answers[0]["status"], 200, "{endorsed}");
    assert_eq!(endorsed["endorsed_by"], json!(["Org1", "Org2"]));
    // The refusals are the single routes' own, status and body.
    for (i, path, body) in [
        (1, "/v1/evaluate", proposal_body(&missing)),
        (2, "/v1/endorse", json!({ "proposal": forged })),
    ] {
        let (single_status, single) = post(f.app(), path, &token, &body).await;
        assert!(!single_status.is_success(), "{single}");
        assert_eq!(
            answers[i]["status"],
            single_status.as_u16(),
            "{}",
            answers[i]
        );
        assert_eq!(answers[i]["body"]["code"], single["code"], "{}", answers[i]);
        assert_eq!(
            answers[i]["body"]["stage"], single["stage"],
            "{}",
            answers[i]
        );
    }
    for i in [3, 4, 5, 6] {
        assert_eq!(answers[i]["status"], 400, "{}", answers[i]);
        assert_eq!(answers[i]["body"]["code"], "malformed", "{}", answers[i]);
    }
    assert!(
        answers[3]["body"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/blocks/0"),
        "{}",
        answers[3]
    );

    // A submit that waits answers when its transaction committed; a
    // broken envelope beside it is refused without waiting for it: its
    // line streams first (the submit cannot settle before the orderer
    // and the commit are done).
    let envelope = sign_envelope(endorsed, f.client());
    let tx_id = envelope.decode().unwrap().header.tx_id;
    let lines = [
        batch_line(
            "/v1/submit?wait=true&timeout_ms=20000",
            &serde_json::to_value(&envelope).unwrap(),
        ),
        batch_line("/v1/submit", &json!({ "payload": "AA==" })),
    ];
    let response = batch_response(f.app(), Some(&token), &lines).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = tokio::time::timeout(PATIENCE, body.frame()).await.unwrap() {
        let frame = frame.unwrap().into_data().unwrap();
        frames.push(serde_json::from_slice::<Value>(&frame).unwrap());
    }
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[0]["index"], 1, "the refusal first: {frames:?}");
    assert_eq!(frames[0]["status"], 400, "{}", frames[0]);
    let height = f.peers[0].committer.height();
    assert_eq!(frames[1]["index"], 0);
    assert_eq!(
        frames[1]["body"],
        json!({"tx_id": tx_id, "block": height - 1, "index": 0, "code": "VALID"})
    );
    assert_eq!(*f.ordered.lock(), [tx_id]);

    // The batch itself needs a token, and has a size limit.
    let (status, answer) = batch(f.app(), None, &lines).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer:?}");
    let many = vec![lines[1].clone(); gateway::batch::MAX_BATCH_CALLS + 1];
    let (status, answer) = batch(f.app(), Some(&token), &many).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer:?}");
    assert_eq!(answer[0]["code"], "too_large");
    assert_eq!(*f.ordered.lock(), [tx_id], "nothing more was ordered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_p2p_endpoint_endorses_without_a_token() {
    let f = Fixture::new(false).await;
    f.deploy(CC, None).await;
    let p2p = gateway::p2p_router(f.peers[1].gw.clone());
    let proposal = f.proposal(CC, "create", &["asset1", "alice", "100"]);
    let body = serde_json::to_vec(&proposal_body(&proposal)).unwrap();
    let (status, response) = call(&p2p, Method::POST, "/v1/endorse", None, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let response: weft_types::ProposalResponse = serde_json::from_value(response).unwrap();
    let endorser = response.endorsement.unwrap().endorser.decode().unwrap();
    assert_eq!((endorser.org.as_str(), endorser.role), ("Org2", Role::Peer));

    let mut transient = BTreeMap::new();
    transient.insert("k".to_string(), WBytes::from("v"));
    let body = serde_json::to_vec(&json!({"proposal": proposal, "transient": transient})).unwrap();
    let got = call(&p2p, Method::POST, "/v1/endorse", None, Some(body)).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "malformed", "request");

    // Counted apart from the client API's /v1/endorse.
    let (_, _) = call(&f.peers[1].app, Method::GET, "/v1/healthz", None, None).await;
    let response = f.peers[1]
        .app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    for line in [
        "weft_gateway_requests_total{route=\"p2p /v1/endorse\",status=\"200\"} 1\n",
        "weft_gateway_requests_total{route=\"p2p /v1/endorse\",status=\"400\"} 1\n",
        "weft_gateway_requests_total{route=\"/v1/healthz\",status=\"200\"} 1\n",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_and_commits() {
    let f = Fixture::new(false).await;
    f.deploy(CC, Some("'Org1.peer'")).await;
    let token = f.token().await;
    let envelope = create_envelope(&f, CC, "m").await;
    let (status, body) = submit(&f, &token, &envelope, "?wait=true").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let _ = get(f.app(), "/v1/chaincodes/nope", &token).await;

    // The commit counter runs beside the waits: give it a moment.
    let mut text = String::new();
    for _ in 0..100 {
        let response = f
            .app()
            .clone()
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        text = String::from_utf8(bytes.to_vec()).unwrap();
        if text.contains("weft_transactions_committed_total{code=\"VALID\"} 2\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let height = f.peers[0].committer.height();
    assert!(
        text.contains(&format!("weft_ledger_height {height}\n")),
        "{text}"
    );
    assert!(
        text.contains("weft_gateway_requests_total{route=\"/v1/submit\",status=\"200\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "weft_gateway_requests_total{route=\"/v1/chaincodes/{name}\",status=\"404\"} 1\n"
        ),
        "{text}"
    );
    // The lifecycle block and the create (committed after the gateway started).
    assert!(
        text.contains("weft_transactions_committed_total{code=\"VALID\"} 2\n"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route() {
    let f = Fixture::new(false).await;
    let app = f.app();
    let (status, doc) = call(app, Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        doc,
        serde_json::to_value(gateway::openapi_document()).unwrap()
    );

    let open = [
        ("post", "/v1/auth/challenge"),
        ("post", "/v1/auth/token"),
        ("get", "/v1/healthz"),
        ("get", "/metrics"),
        ("get", "/v1/openapi.json"),
    ];
    let protected = [
        ("post", "/v1/evaluate"),
        ("post", "/v1/endorse"),
        ("post", "/v1/submit"),
        ("post", "/v1/batch"),
        ("get", "/v1/transactions/{tx_id}/status"),
        ("get", "/v1/transactions/{tx_id}"),
        ("get", "/v1/blocks/{number}"),
        ("get", "/v1/chaincodes"),
        ("get", "/v1/chaincodes/{name}"),
        ("get", "/v1/events/blocks"),
        ("get", "/v1/events/chaincode"),
    ];
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = open
        .iter()
        .chain(&protected)
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);

    // Every documented route is served: protected ones refuse without a
    // token (401, not 404/405), and document it.
    for (method, path) in &documented {
        let concrete = path
            .replace("{tx_id}", &TxId(sha3_256(b"x")).to_string())
            .replace("{number}", "0")
            .replace("{name}", "x");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, body) = call(app, method.clone(), &concrete, None, None).await;
        let is_protected = protected.iter().any(|(_, p)| p == path);
        if is_protected {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            let op = &doc["paths"][path][method.as_str().to_lowercase()];
            assert_eq!(op["security"], json!([{"bearer": []}]), "{method} {path}");
        } else {
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {status} {body}"
            );
        }
    }
}
