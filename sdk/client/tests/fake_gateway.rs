#![allow(clippy::unwrap_used)]
//! The client against a small fake gateway (axum on 127.0.0.1:0) that
//! implements `docs/gateway-api.md` just enough: auth, evaluate, endorse,
//! submit, batches of those (each line through the single route; answers
//! in reverse order), healthz and the two event streams. Each test sets the fake's
//! behaviour (a lying endorser, an invalid commit, a cut stream) and checks
//! what the client does with it.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::json;
use weft_client::{
    BlockEvent, Checkpoint, ClientError, ContractEvent, Gateway, GatewayConfig, Profile,
};
use weft_types::{
    Bytes, Certificate, ChaincodeId, Digest, Domain, EndorsedTransaction, Envelope, Identity,
    OrgAuthority, ProposalResponse, ProposalResponsePayload, Role, RwSet, Signature,
    SignedProposal, SigningKey, Transaction, TxBody, TxHeader, TxId, ValidationCode, sha3_256,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum EndorseMode {
    Honest,
    /// Returns a transaction under another header than the proposal's.
    WrongHeader,
    /// An org's peers failed.
    Org2Down,
    /// 429, asking for no new work for this many milliseconds.
    Overloaded(u64),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SubmitMode {
    Valid,
    MvccConflict,
}

struct Fake {
    root: OrgAuthority,
    peer: Identity,
    token_ttl_ms: AtomicU64,
    challenges: Mutex<HashSet<Vec<u8>>>,
    tokens: Mutex<HashMap<String, u64>>,
    logins: AtomicUsize,
    unauthorized: AtomicUsize,
    endorse_mode: Mutex<EndorseMode>,
    submit_mode: Mutex<SubmitMode>,
    submits: AtomicUsize,
    endorses: AtomicUsize,
    /// What `from` each block-stream connection asked for.
    block_froms: Mutex<Vec<Option<u64>>>,
    chaincode_froms: Mutex<Vec<Option<u64>>>,
    height: AtomicU64,
    evaluated: AtomicBool,
    /// Whether `POST /v1/batch` exists (404 when not).
    batch_route: AtomicBool,
    /// `POST /v1/batch` requests received, the route there or not.
    batches: AtomicUsize,
    /// The single routes a batch's lines go through.
    singles: std::sync::OnceLock<axum::Router>,
    /// Evaluations of `sleep` received (never answered).
    sleeping: AtomicUsize,
}

type Shared = Arc<Fake>;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn error(status: u16, code: &str, message: &str, stage: &str, org: Option<&str>) -> Response {
    error_vc(status, code, message, stage, org, None)
}

fn error_vc(
    status: u16,
    code: &str,
    message: &str,
    stage: &str,
    org: Option<&str>,
    validation_code: Option<&str>,
) -> Response {
    let body = json!({"code": code, "message": message, "stage": stage, "org": org,
                      "validation_code": validation_code});
    (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
}

/// The 401 answer when the request has no valid token.
fn unauthorized(fake: &Fake, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok = token.is_some_and(|t| {
        fake.tokens
            .lock()
            .unwrap()
            .get(t)
            .is_some_and(|exp| *exp > now_ms())
    });
    if ok {
        return None;
    }
    fake.unauthorized.fetch_add(1, Ordering::SeqCst);
    Some(error(
        401,
        "unauthorized",
        "no or expired token",
        "auth",
        None,
    ))
}

async fn challenge(State(fake): State<Shared>) -> Response {
    let challenge = weft_types::random_bytes::<32>().to_vec();
    fake.challenges.lock().unwrap().insert(challenge.clone());
    Json(json!({"challenge": Bytes(challenge), "expires_at_ms": now_ms() + 60_000})).into_response()
}

#[derive(Deserialize)]
struct TokenRequest {
    challenge: Bytes,
    certificate: Certificate,
    signature: Signature,
}

async fn token(State(fake): State<Shared>, Json(req): Json<TokenRequest>) -> Response {
    if !fake
        .challenges
        .lock()
        .unwrap()
        .remove(req.challenge.as_slice())
    {
        return error(401, "unauthorized", "unknown challenge", "auth", None);
    }
    let body = match req
        .certificate
        .verify(&fake.root.root_key(), now_ms() / 1000)
    {
        Ok(b) => b,
        Err(e) => return error(401, "unauthorized", &e.to_string(), "auth", None),
    };
    if body
        .public_key
        .verify(
            Domain::AuthChallenge,
            &sha3_256(&req.challenge),
            &req.signature,
        )
        .is_err()
    {
        return error(401, "unauthorized", "bad challenge signature", "auth", None);
    }
    let token = format!(
        "tok-{}",
        weft_types::to_base64(&weft_types::random_bytes::<9>())
    );
    let expires_at_ms = now_ms() + fake.token_ttl_ms.load(Ordering::SeqCst);
    fake.tokens
        .lock()
        .unwrap()
        .insert(token.clone(), expires_at_ms);
    fake.logins.fetch_add(1, Ordering::SeqCst);
    Json(
        json!({"token": token, "expires_at_ms": expires_at_ms, "org": body.org,
                "name": body.name, "role": "client"}),
    )
    .into_response()
}

#[derive(Deserialize)]
struct ProposalRequest {
    proposal: SignedProposal,
}

async fn evaluate(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<ProposalRequest>,
) -> Response {
    if let Some(r) = unauthorized(&fake, &headers) {
        return r;
    }
    if req.proposal.verify_signature().is_err() {
        return error(400, "bad_signature", "proposal signature", "request", None);
    }
    let p = req.proposal.decode().unwrap();
    if p.function == "sleep" {
        // Never answers: keeps a call of the connection under way.
        fake.sleeping.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
    }
    fake.evaluated.store(true, Ordering::SeqCst);
    let payload = format!("{}({})", p.function, p.args.join(","));
    Json(json!({"status": 200, "message": "", "payload": Bytes::from(payload.as_str())}))
        .into_response()
}

/// An endorsement by the fake's peer; `header` is what the transaction claims.
fn endorsed_transaction(fake: &Fake, proposal: &SignedProposal, header: TxHeader) -> Transaction {
    let p = proposal.decode().unwrap();
    let payload = ProposalResponsePayload {
        proposal_digest: proposal.payload_digest(),
        chaincode: ChaincodeId {
            name: p.chaincode.clone(),
            version: "1".into(),
            sequence: 1,
        },
        response: weft_types::Response {
            status: 200,
            message: String::new(),
            payload: Bytes::from(format!("done:{}", p.function).as_str()),
        },
        rwset_digest: Digest::ZERO,
        event: None,
    };
    let response = ProposalResponse::build(payload, &RwSet::default(), Some(&fake.peer));
    Transaction {
        header,
        body: TxBody::Invoke(
            EndorsedTransaction::assemble(proposal.clone(), vec![response]).unwrap(),
        ),
    }
}

async fn endorse(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<ProposalRequest>,
) -> Response {
    if let Some(r) = unauthorized(&fake, &headers) {
        return r;
    }
    fake.endorses.fetch_add(1, Ordering::SeqCst);
    let proposal = req.proposal.decode().unwrap();
    let mode = *fake.endorse_mode.lock().unwrap();
    let header = match mode {
        EndorseMode::Overloaded(hold_ms) => {
            let mut r = error(429, "overloaded", "too much work", "request", None);
            r.headers_mut()
                .insert(weft_types::RETRY_AFTER_MS_HEADER, hold_ms.into());
            return r;
        }
        EndorseMode::Honest => proposal.header.clone(),
        EndorseMode::WrongHeader => TxHeader::new("weft", fake.peer.certificate(), 5),
        EndorseMode::Org2Down => {
            return error(
                502,
                "endorsement_failed",
                "no peer of Org2 answered",
                "endorsement",
                Some("Org2"),
            );
        }
    };
    let tx = endorsed_transaction(&fake, &req.proposal, header);
    let bytes = weft_types::to_json_bytes(&tx);
    let TxBody::Invoke(invoke) = &tx.body else {
        unreachable!()
    };
    let response: ProposalResponsePayload = serde_json::from_slice(&invoke.response).unwrap();
    Json(json!({"tx_id": tx.header.tx_id, "digest": sha3_256(&bytes),
                "transaction": Bytes(bytes), "endorsed_by": ["Org1"],
                "response": response.response}))
    .into_response()
}

#[derive(Deserialize)]
struct SubmitQuery {
    wait: Option<bool>,
}

async fn submit(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<SubmitQuery>,
    Json(envelope): Json<Envelope>,
) -> Response {
    if let Some(r) = unauthorized(&fake, &headers) {
        return r;
    }
    let signer = envelope.verify_signature().unwrap();
    assert_eq!(signer.name, "client", "the creator signs the envelope");
    let tx = envelope.decode().unwrap();
    fake.submits.fetch_add(1, Ordering::SeqCst);
    if q.wait != Some(true) {
        return (
            StatusCode::ACCEPTED,
            Json(json!({"tx_id": tx.header.tx_id, "status": "ordered"})),
        )
            .into_response();
    }
    match *fake.submit_mode.lock().unwrap() {
        SubmitMode::Valid => Json(json!({"tx_id": tx.header.tx_id, "block": 7, "index": 0,
                                         "code": "VALID"}))
        .into_response(),
        SubmitMode::MvccConflict => error_vc(
            409,
            "invalid_transaction",
            "a key read was changed",
            "validation",
            None,
            Some("MVCC_READ_CONFLICT"),
        ),
    }
}

async fn healthz(State(fake): State<Shared>) -> Response {
    Json(
        json!({"status": "ok", "height": fake.height.load(Ordering::SeqCst),
                "peer": "peer0@Org1", "commit_hash": Digest::ZERO}),
    )
    .into_response()
}

#[derive(Deserialize)]
struct EventsQuery {
    from: Option<u64>,
    chaincode: Option<String>,
}

fn block_frame(n: u64) -> String {
    let event = BlockEvent {
        number: n,
        block_hash: sha3_256(&n.to_be_bytes()),
        timestamp_ms: 1_000 + n,
        commit_hash: Digest::ZERO,
        txs: vec![],
    };
    format!(
        "event: block\nid: {n}\ndata: {}\n\n",
        serde_json::to_string(&event).unwrap()
    )
}

/// Sends `frames` in two chunks each, then either ends the body after half
/// of `cut` (a broken connection) or stays open.
fn sse_body(frames: Vec<String>, cut: Option<String>) -> Response {
    let mut chunks: Vec<String> = Vec::new();
    for f in frames {
        let (a, b) = f.split_at(f.len() / 3);
        chunks.push(a.to_string());
        chunks.push(b.to_string());
    }
    let open = cut.is_none();
    if let Some(f) = cut {
        chunks.push(f[..f.len() / 2].to_string());
    }
    let head = futures::stream::iter(chunks.into_iter().map(Ok::<_, Infallible>));
    let body = if open {
        Body::from_stream(head.chain(futures::stream::pending()))
    } else {
        Body::from_stream(head)
    };
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(body)
        .unwrap()
}

async fn block_events(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    if let Some(r) = unauthorized(&fake, &headers) {
        return r;
    }
    let from = q.from.unwrap_or(fake.height.load(Ordering::SeqCst));
    let first = {
        let mut froms = fake.block_froms.lock().unwrap();
        froms.push(q.from);
        froms.len() == 1
    };
    if first {
        // Three whole blocks, then the connection dies inside the fourth.
        let frames = (from..from + 3).map(block_frame).collect();
        return sse_body(frames, Some(block_frame(from + 3)));
    }
    sse_body((from..from + 3).map(block_frame).collect(), None)
}

fn chaincode_frame(block: u64, tx: &str) -> String {
    let event = ContractEvent {
        block,
        tx_id: TxId(sha3_256(tx.as_bytes())),
        chaincode: "asset-transfer".into(),
        name: "moved".into(),
        payload: Bytes::from(tx),
    };
    format!(
        "event: chaincode\nid: {block}\ndata: {}\n\n",
        serde_json::to_string(&event).unwrap()
    )
}

async fn chaincode_events(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    if let Some(r) = unauthorized(&fake, &headers) {
        return r;
    }
    assert_eq!(q.chaincode.as_deref(), Some("asset-transfer"));
    // Block 3 has events of txs a and b, block 4 of c.
    let all = [(3, "a"), (3, "b"), (4, "c")];
    let from = q.from.unwrap_or(0);
    let frames: Vec<String> = all
        .iter()
        .filter(|(b, _)| *b >= from)
        .map(|(b, t)| chaincode_frame(*b, t))
        .collect();
    let first = {
        let mut froms = fake.chaincode_froms.lock().unwrap();
        froms.push(q.from);
        froms.len() == 1
    };
    if first {
        // Event a, then the connection dies inside event b.
        return sse_body(frames[..1].to_vec(), Some(frames[1].clone()));
    }
    sse_body(frames, None)
}

/// `POST /v1/batch`: each line through the single routes, the answer
/// lines last first (the client must go by their index).
async fn batch(
    State(fake): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use tower::ServiceExt as _;
    fake.batches.fetch_add(1, Ordering::SeqCst);
    if !fake.batch_route.load(Ordering::SeqCst) {
        return error(404, "not_found", "no route", "request", None);
    }
    if let Some(r) = unauthorized(&fake, &headers) {
        return r;
    }
    let singles = fake.singles.get().unwrap().clone();
    let lines = body.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let answers = lines.enumerate().map(|(index, line)| {
        let singles = singles.clone();
        let headers = headers.clone();
        async move {
            let call: serde_json::Value = serde_json::from_slice(line).unwrap();
            let mut request = axum::http::Request::post(call["path"].as_str().unwrap())
                .header("content-type", "application/json")
                .body(Body::from(call["body"].to_string()))
                .unwrap();
            request.headers_mut().insert(
                "authorization",
                headers.get("authorization").unwrap().clone(),
            );
            let response = singles.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let retry: Option<u64> = response
                .headers()
                .get(weft_types::RETRY_AFTER_MS_HEADER)
                .map(|v| v.to_str().unwrap().parse().unwrap());
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            json!({"index": index, "status": status, "retry_after_ms": retry, "body": body})
                .to_string()
        }
    });
    let mut answers = futures::future::join_all(answers).await;
    answers.reverse();
    answers.join("\n").into_response()
}

/// A running fake gateway: its URL and its state.
struct Running {
    url: String,
    fake: Shared,
    client: Identity,
}

async fn start() -> Running {
    let root = OrgAuthority::new("Org1", SigningKey::generate()).unwrap();
    let peer = root.enroll("peer0", Role::Peer, 0, u64::MAX).unwrap();
    let client = root.enroll("client", Role::Client, 0, u64::MAX).unwrap();
    let fake = Arc::new(Fake {
        root,
        peer,
        token_ttl_ms: AtomicU64::new(3_600_000),
        challenges: Mutex::default(),
        tokens: Mutex::default(),
        logins: AtomicUsize::new(0),
        unauthorized: AtomicUsize::new(0),
        endorse_mode: Mutex::new(EndorseMode::Honest),
        submit_mode: Mutex::new(SubmitMode::Valid),
        submits: AtomicUsize::new(0),
        endorses: AtomicUsize::new(0),
        block_froms: Mutex::default(),
        chaincode_froms: Mutex::default(),
        height: AtomicU64::new(3),
        evaluated: AtomicBool::new(false),
        batch_route: AtomicBool::new(true),
        batches: AtomicUsize::new(0),
        singles: std::sync::OnceLock::new(),
        sleeping: AtomicUsize::new(0),
    });
    let singles = axum::Router::new()
        .route("/v1/evaluate", post(evaluate))
        .route("/v1/endorse", post(endorse))
        .route("/v1/submit", post(submit))
        .with_state(Arc::clone(&fake));
    let _ = fake.singles.set(singles);
    let app = axum::Router::new()
        .route("/v1/batch", post(batch))
        .route("/v1/auth/challenge", post(challenge))
        .route("/v1/auth/token", post(token))
        .route("/v1/evaluate", post(evaluate))
        .route("/v1/endorse", post(endorse))
        .route("/v1/submit", post(submit))
        .route("/v1/healthz", get(healthz))
        .route("/v1/events/blocks", get(block_events))
        .route("/v1/events/chaincode", get(chaincode_events))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Running { url, fake, client }
}

async fn connect(r: &Running) -> Gateway {
    connect_with_batches(r, true).await
}

/// A call of `gw` left hanging at the fake, so that the connection's
/// other calls are not alone and go in batches; ends when dropped.
struct KeepBusy(tokio::task::JoinHandle<()>);

impl Drop for KeepBusy {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn keep_busy(r: &Running, gw: &Gateway) -> KeepBusy {
    let before = r.fake.sleeping.load(Ordering::SeqCst);
    let contract = gw.contract("asset-transfer");
    let task = tokio::spawn(async move {
        let _ = contract.evaluate("sleep", &[]).await;
    });
    while r.fake.sleeping.load(Ordering::SeqCst) == before {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    KeepBusy(task)
}

/// Connects with the calls that can go in batches sent in batches or
/// alone.
async fn connect_with_batches(r: &Running, batches: bool) -> Gateway {
    let config = GatewayConfig::new([r.url.clone()], "weft")
        .with_timeout(Duration::from_secs(10))
        .with_batches(batches);
    Gateway::connect(config, r.client.clone()).await.unwrap()
}

#[tokio::test]
async fn logs_in_and_logs_in_again_after_a_401_or_expiry() {
    let r = start().await;
    let gw = connect(&r).await;
    assert_eq!(r.fake.logins.load(Ordering::SeqCst), 1, "connect logs in");
    let contract = gw.contract("asset-transfer");
    let out = contract.evaluate("read", &["asset1"]).await.unwrap();
    assert_eq!(out, b"read(asset1)");
    assert_eq!(
        r.fake.logins.load(Ordering::SeqCst),
        1,
        "the token is reused"
    );

    // The gateway forgets every token (a restart): one 401, one new login.
    r.fake.tokens.lock().unwrap().clear();
    let out = contract.evaluate("read", &["asset2"]).await.unwrap();
    assert_eq!(out, b"read(asset2)");
    assert_eq!(r.fake.unauthorized.load(Ordering::SeqCst), 1);
    assert_eq!(r.fake.logins.load(Ordering::SeqCst), 2);

    // A short-lived token is renewed before it expires, without a 401.
    r.fake.token_ttl_ms.store(1_000, Ordering::SeqCst);
    r.fake.tokens.lock().unwrap().clear();
    contract.evaluate("read", &["a"]).await.unwrap();
    assert_eq!(r.fake.logins.load(Ordering::SeqCst), 3);
    assert_eq!(r.fake.unauthorized.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_millis(700)).await;
    contract.evaluate("read", &["b"]).await.unwrap();
    assert_eq!(
        r.fake.logins.load(Ordering::SeqCst),
        4,
        "renewed ahead of expiry"
    );
    assert_eq!(
        r.fake.unauthorized.load(Ordering::SeqCst),
        2,
        "no 401 needed"
    );
}

#[tokio::test]
async fn a_member_of_no_channel_org_is_refused_at_connect() {
    let r = start().await;
    let stranger = OrgAuthority::new("Org1", SigningKey::generate())
        .unwrap()
        .enroll("client", Role::Client, 0, u64::MAX)
        .unwrap();
    let err = Gateway::connect(r.url.as_str(), stranger)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Auth { .. }), "{err}");
}

#[tokio::test]
async fn submit_commits_and_returns_the_result() {
    let r = start().await;
    let gw = connect(&r).await;
    let committed = gw
        .contract("asset-transfer")
        .submit("create", &["asset1", "blue"])
        .await
        .unwrap();
    assert_eq!(committed.block, 7);
    assert_eq!(committed.code, ValidationCode::Valid);
    assert_eq!(committed.result, b"done:create");
    assert_eq!(r.fake.submits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_endorsement_under_another_header_is_never_signed() {
    let r = start().await;
    *r.fake.endorse_mode.lock().unwrap() = EndorseMode::WrongHeader;
    let gw = connect(&r).await;
    let err = gw
        .contract("asset-transfer")
        .submit("create", &["asset1"])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Protocol { message } if message.contains("header")),
        "{err}"
    );
    assert_eq!(
        r.fake.submits.load(Ordering::SeqCst),
        0,
        "nothing submitted"
    );
}

#[tokio::test]
async fn gateway_errors_become_typed_errors() {
    // Through batches and alone: the same answers.
    for batches in [true, false] {
        let r = start().await;
        let gw = connect_with_batches(&r, batches).await;
        // With batches, another call under way: these go in batches.
        let _busy = if batches {
            Some(keep_busy(&r, &gw).await)
        } else {
            None
        };
        let contract = gw.contract("asset-transfer");

        *r.fake.submit_mode.lock().unwrap() = SubmitMode::MvccConflict;
        let proposal = contract
            .new_proposal("transfer", &["asset1", "bob"])
            .unwrap();
        let tx_id = proposal.tx_id();
        // The offline path: sign the exact bytes, as a remote key would.
        let signature = r.client.sign(Domain::Proposal, &proposal.digest());
        let prepared = proposal
            .with_signature(signature, r.client.certificate().clone())
            .unwrap();
        let endorsed = gw.endorse_signed(&prepared).await.unwrap();
        let envelope = endorsed
            .attach(r.client.sign(Domain::Transaction, &endorsed.digest()))
            .unwrap();
        let err = gw.submit_signed(&envelope, true).await.unwrap_err();
        assert_eq!(
            err,
            ClientError::Validation {
                code: ValidationCode::MvccReadConflict,
                tx_id: Some(tx_id)
            }
        );

        *r.fake.endorse_mode.lock().unwrap() = EndorseMode::Org2Down;
        let err = contract
            .submit("transfer", &["asset1", "bob"])
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ClientError::Endorsement {
                org: Some("Org2".into()),
                message: "no peer of Org2 answered".into()
            }
        );
        let sent_in_batches = r.fake.batches.load(Ordering::SeqCst);
        assert_eq!(sent_in_batches > 0, batches, "{sent_in_batches} batches");
    }
}

/// After a 429 that names a hold, new work (endorse, evaluate) fails at
/// once without being signed or sent until the hold has passed; a submit of
/// a transaction already endorsed still goes.
#[tokio::test]
async fn an_overloaded_gateway_is_sent_no_new_work_for_as_long_as_it_asks() {
    // Through batches and alone: the same answers.
    for batches in [true, false] {
        let r = start().await;
        let gw = connect_with_batches(&r, batches).await;
        // With batches, another call under way: these go in batches.
        let _busy = if batches {
            Some(keep_busy(&r, &gw).await)
        } else {
            None
        };
        let contract = gw.contract("asset-transfer");
        let endorsed = gw
            .endorse_signed(
                &contract
                    .new_proposal("transfer", &["a", "b"])
                    .unwrap()
                    .sign(&r.client)
                    .unwrap(),
            )
            .await
            .unwrap();
        let envelope = endorsed.sign(&r.client).unwrap();
        assert_eq!(gw.hold(), None);

        *r.fake.endorse_mode.lock().unwrap() = EndorseMode::Overloaded(400);
        let overloaded = |err: ClientError| match err {
            ClientError::Overloaded {
                message,
                retry_after,
            } => (message, retry_after),
            other => panic!("{other:?}"),
        };
        let (message, retry_after) =
            overloaded(contract.submit("transfer", &["a", "b"]).await.unwrap_err());
        assert_eq!(message, "too much work");
        assert_eq!(retry_after, Some(Duration::from_millis(400)));
        assert_eq!(r.fake.endorses.load(Ordering::SeqCst), 2);
        let hold = gw.hold().expect("held");
        assert!(hold <= Duration::from_millis(400), "{hold:?}");

        // Held: refused here, nothing reaches the gateway.
        let (message, retry_after) =
            overloaded(contract.submit("transfer", &["a", "b"]).await.unwrap_err());
        assert!(message.contains("not sent"), "{message}");
        assert!(retry_after.is_some_and(|d| d <= Duration::from_millis(400)));
        assert!(matches!(
            contract.evaluate("read", &["a"]).await,
            Err(ClientError::Overloaded { .. })
        ));
        assert!(matches!(
            gw.endorse_signed(
                &contract
                    .new_proposal("transfer", &["a", "b"])
                    .unwrap()
                    .sign(&r.client)
                    .unwrap()
            )
            .await,
            Err(ClientError::Overloaded { .. })
        ));
        assert_eq!(r.fake.endorses.load(Ordering::SeqCst), 2);
        assert!(!r.fake.evaluated.load(Ordering::SeqCst));
        // Work already endorsed is still submitted.
        gw.submit_signed(&envelope, true).await.unwrap();
        assert_eq!(r.fake.submits.load(Ordering::SeqCst), 1);

        // Once the hold has passed, new work goes again.
        *r.fake.endorse_mode.lock().unwrap() = EndorseMode::Honest;
        tokio::time::sleep(gw.hold().unwrap_or_default() + Duration::from_millis(20)).await;
        assert_eq!(gw.hold(), None);
        contract.submit("transfer", &["a", "b"]).await.unwrap();
        assert_eq!(r.fake.endorses.load(Ordering::SeqCst), 3);
        let sent_in_batches = r.fake.batches.load(Ordering::SeqCst);
        assert_eq!(sent_in_batches > 0, batches, "{sent_in_batches} batches");
    }
}

#[tokio::test]
async fn a_cut_block_stream_resumes_at_the_next_block() {
    let r = start().await;
    let gw = connect(&r).await;
    let events: Vec<BlockEvent> = gw
        .block_events(Some(10))
        .take(6)
        .map(|e| e.unwrap())
        .collect()
        .await;
    let numbers: Vec<u64> = events.iter().map(|e| e.number).collect();
    assert_eq!(numbers, [10, 11, 12, 13, 14, 15]);
    assert_eq!(*r.fake.block_froms.lock().unwrap(), [Some(10), Some(13)]);
}

#[tokio::test]
async fn a_checkpoint_resumes_a_restarted_listener() {
    let r = start().await;
    let gw = connect(&r).await;
    let dir = tempfile::tempdir().unwrap();
    let mut checkpoint = Checkpoint::open(dir.path().join("blocks.cp")).unwrap();
    // Fresh: "the next block" is pinned to the gateway's height (3).
    let mut stream = gw.block_events_after(&checkpoint);
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.number, 3);
    checkpoint.record_block(first.number).unwrap();
    drop(stream);

    let checkpoint = Checkpoint::open(dir.path().join("blocks.cp")).unwrap();
    let mut stream = gw.block_events_after(&checkpoint);
    assert_eq!(stream.next().await.unwrap().unwrap().number, 4);
    let froms = r.fake.block_froms.lock().unwrap().clone();
    assert_eq!(froms, [Some(3), Some(4)]);
}

#[tokio::test]
async fn a_cut_chaincode_stream_neither_loses_nor_repeats_events() {
    let r = start().await;
    let gw = connect(&r).await;
    let events: Vec<ContractEvent> = gw
        .chaincode_events("asset-transfer", Some(3))
        .take(3)
        .map(|e| e.unwrap())
        .collect()
        .await;
    let got: Vec<(u64, Vec<u8>)> = events
        .iter()
        .map(|e| (e.block, e.payload.to_vec()))
        .collect();
    assert_eq!(
        got,
        [(3, b"a".to_vec()), (3, b"b".to_vec()), (4, b"c".to_vec())]
    );
    // Reopened at block 3 (event a is dropped as already seen).
    assert_eq!(*r.fake.chaincode_froms.lock().unwrap(), [Some(3), Some(3)]);
}

#[tokio::test]
async fn fails_over_to_the_next_gateway() {
    let r = start().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile.json");
    let text = json!({
        "channel": "weft",
        "gateways": [{"org": "Org1", "gateway": dead}, {"org": "Org1", "gateway": r.url}],
        "identity": {"wallet": "wallet", "label": "client@Org1"},
        "timeout_ms": 10000
    });
    std::fs::write(&path, text.to_string()).unwrap();
    weft_client::Wallet::create(dir.path().join("wallet"))
        .unwrap()
        .put("client@Org1", &r.client)
        .unwrap();
    let profile = Profile::load(&path).unwrap();
    let gw = Gateway::connect_profile(&path).await.unwrap();
    assert_eq!(gw.current_url(), r.url);
    assert_eq!(gw.timeout(), Duration::from_secs(10));
    let out = gw
        .contract("asset-transfer")
        .evaluate("read", &[])
        .await
        .unwrap();
    assert_eq!(out, b"read()");
    assert!(r.fake.evaluated.load(Ordering::SeqCst));
    assert_eq!(profile.gateway_urls()[1], r.url);

    // With every gateway down the error names them.
    let config = GatewayConfig::new([dead.clone()], "weft");
    let err = Gateway::connect(config, r.client.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Transport { message } if message.contains(&dead)),
        "{err}"
    );
}

#[tokio::test]
async fn concurrent_calls_share_batches_and_each_gets_its_own_answer() {
    let r = start().await;
    let gw = connect(&r).await;
    let contract = gw.contract("asset-transfer");
    let keys: Vec<String> = (0..200).map(|i| format!("asset{i}")).collect();
    let reads = keys.iter().map(|k| {
        let contract = contract.clone();
        async move { contract.evaluate("read", &[k.as_str()]).await }
    });
    let outs = futures::future::join_all(reads).await;
    for (key, out) in keys.iter().zip(outs) {
        assert_eq!(out.unwrap(), format!("read({key})").as_bytes());
    }
    let batches = r.fake.batches.load(Ordering::SeqCst);
    assert!(
        (1..=20).contains(&batches),
        "200 concurrent calls in {batches} batch requests"
    );

    // A token refused to a batch: one login more, the calls go through.
    let _busy = keep_busy(&r, &gw).await;
    let batches = r.fake.batches.load(Ordering::SeqCst);
    r.fake.tokens.lock().unwrap().clear();
    let out = contract.evaluate("read", &["again"]).await.unwrap();
    assert_eq!(out, b"read(again)");
    assert_eq!(r.fake.unauthorized.load(Ordering::SeqCst), 1);
    assert_eq!(r.fake.logins.load(Ordering::SeqCst), 2);
    assert_eq!(r.fake.batches.load(Ordering::SeqCst), batches + 2);

    // A refusal in a batch is the single route's typed error.
    *r.fake.endorse_mode.lock().unwrap() = EndorseMode::Org2Down;
    let err = contract.submit("create", &["x"]).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Endorsement { org: Some(org), .. } if org == "Org2"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_gateway_without_the_batch_route_gets_single_calls() {
    let r = start().await;
    r.fake.batch_route.store(false, Ordering::SeqCst);
    let gw = connect(&r).await;
    let _busy = keep_busy(&r, &gw).await;
    let contract = gw.contract("asset-transfer");
    for i in 0..3 {
        let key = format!("asset{i}");
        let out = contract.evaluate("read", &[key.as_str()]).await.unwrap();
        assert_eq!(out, format!("read({key})").as_bytes());
    }
    let committed = contract.submit("create", &["asset1"]).await.unwrap();
    assert_eq!(committed.code, ValidationCode::Valid);
    assert_eq!(
        r.fake.batches.load(Ordering::SeqCst),
        1,
        "one 404, then single calls"
    );

    // Batches off: no batch is ever tried.
    let r = start().await;
    let config = GatewayConfig::new([r.url.clone()], "weft").with_batches(false);
    let gw = Gateway::connect(config, r.client.clone()).await.unwrap();
    gw.contract("asset-transfer")
        .evaluate("read", &["a"])
        .await
        .unwrap();
    assert_eq!(r.fake.batches.load(Ordering::SeqCst), 0);
    assert!(r.fake.evaluated.load(Ordering::SeqCst));
}
