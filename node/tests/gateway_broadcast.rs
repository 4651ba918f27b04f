#![allow(clippy::unwrap_used)]
//! The gateway's submissions to the orderers, through its HTTP API, against
//! fake orderers serving `POST /v1/broadcast/batch`: concurrent submits
//! share batch requests, each envelope gets the answer the single endpoint
//! would have given it, and failing orderers hand envelopes on to the next.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::watch;
use tower::ServiceExt;
use weft_node::committer::Committer;
use weft_node::endorser::Endorser;
use weft_node::gateway::broadcaster::MAX_BATCHES_IN_FLIGHT;
use weft_node::gateway::{self, Gateway};
use weft_node::ledger::Ledger;
use weft_node::runtime::{Runtime, RuntimeConfig};
use weft_tests::network::{CHANNEL, GENESIS_MS, TestNetwork};
use weft_types::{
    Block, ChannelConfig, ConfigTransaction, Digest, Domain, Envelope, Identity, OrdererInfo, Role,
    Transaction, TxBody, TxHeader, TxId, from_base64, sha3_256, to_base64,
};

/// How long a test waits for anything before failing.
const PATIENCE: Duration = Duration::from_secs(20);

/// A fake orderer's answer other than 200: status and code.
type Refusal = (u16, &'static str);

/// What a fake orderer received and how it answers.
#[derive(Debug)]
struct OrdererState {
    /// The tx ids of each batch request, in the order received.
    requests: Mutex<Vec<Vec<TxId>>>,
    /// The answer to every whole request, instead of one line each.
    whole: Mutex<Option<Refusal>>,
    /// Lines answered other than 200, by tx id.
    lines: Mutex<HashMap<TxId, Refusal>>,
    /// While true, requests are held before being answered.
    held: watch::Sender<bool>,
    /// How long each request takes to answer, like ordering does.
    delay: Duration,
}

/// A fake orderer on 127.0.0.1.
struct FakeOrderer {
    api: SocketAddr,
    state: Arc<OrdererState>,
}

impl FakeOrderer {
    async fn start(delay: Duration) -> FakeOrderer {
        let state = Arc::new(OrdererState {
            requests: Mutex::default(),
            whole: Mutex::default(),
            lines: Mutex::default(),
            held: watch::Sender::new(false),
            delay,
        });
        let app = Router::new()
            .route("/v1/broadcast/batch", axum::routing::post(broadcast_batch))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeOrderer { api, state }
    }

    fn requests(&self) -> Vec<Vec<TxId>> {
        self.state.requests.lock().clone()
    }

    /// Every tx id received, over all requests.
    fn received(&self) -> Vec<TxId> {
        self.requests().concat()
    }

    fn answer_whole(&self, refusal: Option<Refusal>) {
        *self.state.whole.lock() = refusal;
    }

    fn answer_line(&self, tx_id: TxId, refusal: Refusal) {
        self.state.lines.lock().insert(tx_id, refusal);
    }

    fn hold(&self, held: bool) {
        self.state.held.send_replace(held);
    }

    /// Waits until `count` requests were received.
    async fn until_requests(&self, count: usize) {
        let started = tokio::time::Instant::now();
        while self.state.requests.lock().len() < count {
            assert!(started.elapsed() < PATIENCE, "{count} requests never came");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The orderer's batch endpoint: one JSON line per envelope, in order, as
/// `orderer/src/api.rs` answers.
async fn broadcast_batch(
    axum::extract::State(state): axum::extract::State<Arc<OrdererState>>,
    body: Bytes,
) -> Response {
    let tx_ids: Vec<TxId> = body
        .split(|&b| b == b'\n')
        .filter(|line| !line.trim_ascii().is_empty())
        .map(|line| {
            let envelope: Envelope = serde_json::from_slice(line).unwrap();
            envelope.decode().unwrap().header.tx_id
        })
        .collect();
    state.requests.lock().push(tx_ids.clone());
    state.held.subscribe().wait_for(|held| !held).await.unwrap();
    tokio::time::sleep(state.delay).await;
    if let Some((status, code)) = *state.whole.lock() {
        let body = json!({"code": code, "message": format!("the whole request: {code}")});
        return (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    }
    let lines = state.lines.lock();
    let mut answer = String::new();
    for tx_id in tx_ids {
        let line = match lines.get(&tx_id) {
            None => json!({"status": 200, "tx_id": tx_id}),
            Some((status, code)) => {
                json!({"status": status, "code": code, "message": format!("line {code}")})
            }
        };
        answer.push_str(&line.to_string());
        answer.push('\n');
    }
    answer.into_response()
}

/// A one-org gateway whose channel lists orderers at `apis`, in order.
struct Fixture {
    net: TestNetwork,
    app: Router,
    token: String,
    _dir: TempDir,
}

impl Fixture {
    async fn new(apis: &[String]) -> Fixture {
        let net = TestNetwork::new(&["Org1"]);
        let config = with_orderers(&net, apis);
        let genesis = genesis(&net, &config);
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(Ledger::open(dir.path()).unwrap());
        let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
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
        Fixture {
            net,
            app,
            token,
            _dir: dir,
        }
    }

    /// A new envelope (a chaincode definition; the fakes never look).
    fn envelope(&self) -> (Envelope, TxId) {
        let def = self.net.definition("kv", 1, b"irrelevant", None);
        let envelope = self.net.lifecycle(&def, b"irrelevant");
        let tx_id = envelope.decode().unwrap().header.tx_id;
        (envelope, tx_id)
    }

    fn envelopes(&self, count: usize) -> Vec<(Envelope, TxId)> {
        (0..count).map(|_| self.envelope()).collect()
    }

    /// Submits `envelope` without waiting for the commit.
    fn submit(&self, envelope: &Envelope) -> impl Future<Output = (StatusCode, Value)> + use<> {
        let body = serde_json::to_vec(envelope).unwrap();
        let (app, token) = (self.app.clone(), self.token.clone());
        async move { call(&app, Method::POST, "/v1/submit", Some(&token), Some(body)).await }
    }

    /// Submits every envelope at once; the answers, in order.
    async fn submit_all(&self, envelopes: &[(Envelope, TxId)]) -> Vec<(StatusCode, Value)> {
        let tasks: Vec<_> = envelopes
            .iter()
            .map(|(e, _)| tokio::spawn(self.submit(e)))
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        answers
    }
}

/// The network's configuration with orderers at `apis`: its own orderer
/// first (it signs the genesis block), then new ones. (Not
/// `TestNetwork::with_orderers`: the free ports it picks one by one may
/// repeat.)
fn with_orderers(net: &TestNetwork, apis: &[String]) -> ChannelConfig {
    let mut config = net.config.clone();
    let first = config.orderers[0].clone();
    config.orderers = apis
        .iter()
        .enumerate()
        .map(|(i, api)| {
            let name = format!("orderer{i}");
            let public_key = if i == 0 {
                first.public_key
            } else {
                let identity = net.orgs[0].enroll(&name, Role::Orderer, 0, u64::MAX);
                identity.unwrap().body().public_key
            };
            OrdererInfo {
                id: i as u64 + 1,
                name,
                api: api.clone(),
                // Never dialled by a gateway.
                cluster: format!("127.0.0.1:{}", 19_000 + i),
                public_key,
                ..first.clone()
            }
        })
        .collect();
    config
}

/// Block 0 carrying `config`.
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

async fn login(app: &Router, who: &Identity) -> String {
    let (status, body) = call(app, Method::POST, "/v1/auth/challenge", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let challenge = from_base64(body["challenge"].as_str().unwrap()).unwrap();
    let signature = who.sign(Domain::AuthChallenge, &sha3_256(&challenge));
    let request = json!({
        "challenge": to_base64(&challenge),
        "certificate": who.certificate(),
        "signature": signature,
    });
    let body = serde_json::to_vec(&request).unwrap();
    let (status, body) = call(app, Method::POST, "/v1/auth/token", None, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// Asserts an error answer's status, code and stage `ordering`, and that
/// its message holds every one of `mentions`.
#[track_caller]
fn assert_error(got: &(StatusCode, Value), status: u16, code: &str, mentions: &[&str]) {
    let (s, body) = got;
    assert_eq!(s.as_u16(), status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["stage"], "ordering", "{body}");
    let message = body["message"].as_str().unwrap();
    for m in mentions {
        assert!(message.contains(m), "{m:?} is not in {body}");
    }
}

#[track_caller]
fn assert_ordered(got: &(StatusCode, Value)) {
    assert_eq!(got.0, StatusCode::ACCEPTED, "{}", got.1);
    assert_eq!(got.1["status"], "ordered", "{}", got.1);
}

/// `N` distinct dead `host:port`s: bound together, then released.
fn dead_apis<const N: usize>() -> [String; N] {
    let listeners: [std::net::TcpListener; N] =
        std::array::from_fn(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    listeners.map(|l| l.local_addr().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submits_share_batch_requests() {
    let orderer = FakeOrderer::start(Duration::from_millis(20)).await;
    let f = Fixture::new(&[orderer.api.to_string()]).await;
    let envelopes = f.envelopes(200);
    for answer in f.submit_all(&envelopes).await {
        assert_ordered(&answer);
    }
    let requests = orderer.requests();
    assert!(
        requests.len() < 50,
        "200 submits took {} requests",
        requests.len()
    );
    let mut received = orderer.received();
    assert_eq!(received.len(), 200, "each envelope was sent once");
    received.sort();
    let mut sent: Vec<TxId> = envelopes.iter().map(|(_, id)| *id).collect();
    sent.sort();
    assert_eq!(received, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_line_of_a_batch_is_answered_as_the_single_endpoint_would() {
    let orderer = FakeOrderer::start(Duration::ZERO).await;
    let f = Fixture::new(&[orderer.api.to_string()]).await;
    // The orderer's line → the client's status and code.
    let cases: [(Refusal, u16, &str); 6] = [
        ((401, "bad_signature"), 401, "bad_signature"),
        ((403, "bad_creator"), 403, "bad_creator"),
        ((413, "too_large"), 413, "too_large"),
        ((400, "wrong_channel"), 400, "malformed"),
        ((429, "overloaded"), 429, "overloaded"),
        ((504, "not_ordered"), 504, "timeout"),
    ];
    // Every batch slot held by a batch of one, so the envelopes below
    // queue up and leave together once the orderer answers.
    orderer.hold(true);
    let mut plugs = Vec::new();
    for i in 0..MAX_BATCHES_IN_FLIGHT {
        plugs.push(tokio::spawn(f.submit(&f.envelope().0)));
        orderer.until_requests(i + 1).await;
    }
    let envelopes = f.envelopes(cases.len() + 4);
    for ((refusal, _, _), (_, tx_id)) in cases.iter().zip(&envelopes) {
        orderer.answer_line(*tx_id, *refusal);
    }
    let submits: Vec<_> = envelopes
        .iter()
        .map(|(e, _)| tokio::spawn(f.submit(e)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    orderer.hold(false);
    let mut answers = Vec::new();
    for s in submits {
        answers.push(s.await.unwrap());
    }
    for ((_, status, code), answer) in cases.iter().zip(&answers) {
        assert_error(answer, *status, code, &["orderer0@Org1", "line"]);
    }
    for answer in &answers[cases.len()..] {
        assert_ordered(answer);
    }
    for plug in plugs {
        assert_ordered(&plug.await.unwrap());
    }
    // The refused envelopes shared their request with ordered ones.
    let shared = orderer
        .requests()
        .into_iter()
        .find(|r| r.contains(&envelopes[0].1))
        .unwrap();
    assert!(
        envelopes[cases.len()..]
            .iter()
            .any(|(_, id)| shared.contains(id)),
        "{shared:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_orderer_hands_its_envelopes_to_the_next() {
    let first = FakeOrderer::start(Duration::ZERO).await;
    let second = FakeOrderer::start(Duration::ZERO).await;
    let f = Fixture::new(&[first.api.to_string(), second.api.to_string()]).await;

    // The whole request failed (no leader, or a 500): the next orderer
    // takes the same envelopes.
    for status in [503, 500] {
        first.answer_whole(Some((status, "no_leader")));
        let envelopes = f.envelopes(5);
        let before = second.received().len();
        for answer in f.submit_all(&envelopes).await {
            assert_ordered(&answer);
        }
        let moved: BTreeSet<TxId> = second.received()[before..].iter().copied().collect();
        let sent: BTreeSet<TxId> = envelopes.iter().map(|(_, id)| *id).collect();
        assert_eq!(moved, sent, "after a whole {status}");
    }

    // One line failed: only that envelope goes on to the next orderer.
    first.answer_whole(None);
    let envelopes = f.envelopes(5);
    first.answer_line(envelopes[2].1, (503, "no_leader"));
    let before = second.received().len();
    for answer in f.submit_all(&envelopes).await {
        assert_ordered(&answer);
    }
    assert_eq!(second.received()[before..], [envelopes[2].1]);

    // A refusal of the whole request is final, for each envelope in it.
    for (refusal, status, code) in [
        ((429, "overloaded"), 429, "overloaded"),
        ((403, "bad_creator"), 403, "bad_creator"),
        ((413, "too_many"), 413, "too_large"),
    ] {
        first.answer_whole(Some(refusal));
        let before = second.received().len();
        for answer in f.submit_all(&f.envelopes(3)).await {
            assert_error(&answer, status, code, &["orderer0@Org1"]);
        }
        assert_eq!(second.received().len(), before, "after a whole {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_no_orderer_takes_gets_the_list_of_failures() {
    let first = FakeOrderer::start(Duration::ZERO).await;
    let second = FakeOrderer::start(Duration::ZERO).await;
    let [dead] = dead_apis();
    let apis = [first.api.to_string(), second.api.to_string(), dead.clone()];
    let f = Fixture::new(&apis).await;

    // No leader on the first two, nobody on the third: 503.
    let envelopes = f.envelopes(3);
    first.answer_whole(Some((503, "no_leader")));
    second.answer_line(envelopes[1].1, (503, "no_leader"));
    let answers = f.submit_all(&envelopes).await;
    assert_ordered(&answers[0]);
    assert_error(
        &answers[1],
        503,
        "ordering_failed",
        &apis.each_ref().map(String::as_str),
    );
    assert_ordered(&answers[2]);

    // One of them failed otherwise: 502.
    let (envelope, tx_id) = f.envelope();
    second.answer_line(tx_id, (500, "internal"));
    let answer = f.submit(&envelope).await;
    assert_error(
        &answer,
        502,
        "ordering_failed",
        &["the orderers failed", &dead],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_orderers_give_503_naming_each() {
    let apis: [String; 3] = dead_apis();
    let f = Fixture::new(&apis).await;
    let answers = f.submit_all(&f.envelopes(3)).await;
    let mut mentions: Vec<&str> = apis.iter().map(String::as_str).collect();
    mentions.push("no orderer could take the envelope");
    for answer in answers {
        assert_error(&answer, 503, "ordering_failed", &mentions);
    }
}
