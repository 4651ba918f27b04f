#![allow(clippy::unwrap_used)]
//! The broadcast and deliver API as a layer, over a recording consensus:
//! what reaches `submit`, and every bad input refused with its status and
//! code before it does.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use tower::ServiceExt;
use weft_orderer::api::{ApiState, Consensus, Submission, SubmitError, router};
use weft_orderer::blockstore::BlockStore;
use weft_tests::network::TestNetwork;
use weft_types::{Block, Envelope, OrgAuthority, Role, SigningKey, Transaction, TxBody, TxHeader};

struct Recorder {
    submitted: Mutex<Vec<Envelope>>,
    answer: Mutex<Result<(), SubmitError>>,
    store: BlockStore,
    _dir: tempfile::TempDir,
}

impl Consensus for Recorder {
    async fn submit(
        &self,
        batch: Vec<Submission>,
        _forwarded: bool,
    ) -> Vec<Result<(), SubmitError>> {
        let answer = self.answer.lock().clone();
        let mut submitted = self.submitted.lock();
        batch
            .into_iter()
            .map(|s| {
                assert_eq!(*s.digest(), s.envelope().digest());
                submitted.push(s.envelope().clone());
                answer.clone()
            })
            .collect()
    }
    fn handle_message(&self, _message: raft::eraftpb::Message) {}
    fn blocks(&self) -> &BlockStore {
        &self.store
    }
    fn leader(&self) -> Option<u64> {
        Some(1)
    }
}

fn setup() -> (TestNetwork, Arc<Recorder>, axum::Router) {
    let net = TestNetwork::new(&["Org1", "Org2"]);
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder {
        submitted: Mutex::new(Vec::new()),
        answer: Mutex::new(Ok(())),
        store: BlockStore::open(dir.path()).unwrap(),
        _dir: dir,
    });
    let mut config = net.config.clone();
    config.ordering.absolute_max_bytes = 64 * 1024;
    let app = router(ApiState::new(recorder.clone(), Arc::new(config)));
    (net, recorder, app)
}

async fn post(app: &axum::Router, body: Vec<u8>) -> (StatusCode, serde_json::Value) {
    let response = app
        .clone()
        .oneshot(
            Request::post("/v1/broadcast")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn envelope(net: &TestNetwork) -> Envelope {
    let echo = wat::parse_str(r#"(module)"#).unwrap();
    let def = net.definition("kv", 1, &echo, None);
    net.lifecycle(&def, &echo)
}

#[tokio::test]
async fn a_good_envelope_reaches_consensus_and_is_acknowledged() {
    let (net, recorder, app) = setup();
    let env = envelope(&net);
    let tx_id = env.decode().unwrap().header.tx_id;
    let (status, body) = post(&app, serde_json::to_vec(&env).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["tx_id"], serde_json::to_value(tx_id).unwrap());
    assert_eq!(
        recorder.submitted.lock().as_slice(),
        std::slice::from_ref(&env)
    );

    *recorder.answer.lock() = Err(SubmitError::NoLeader);
    let (status, body) = post(&app, serde_json::to_vec(&env).unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("no_leader"))
    );
    *recorder.answer.lock() = Err(SubmitError::Overloaded);
    let (status, _) = post(&app, serde_json::to_vec(&env).unwrap()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// Envelopes the API must refuse, each with its status and code.
fn bad_cases(
    net: &TestNetwork,
    good: &Envelope,
) -> Vec<(&'static str, Vec<u8>, StatusCode, &'static str)> {
    let mut bad_sig = good.clone();
    bad_sig.signature.0[0] ^= 1;
    let stranger = OrgAuthority::new("Org9", SigningKey::generate())
        .unwrap()
        .enroll("mallory", Role::Client, 0, u64::MAX)
        .unwrap();
    let tx = |channel: &str, by: &weft_types::Identity| Transaction {
        header: TxHeader::new(channel, by.certificate(), 1),
        body: good.decode().unwrap().body,
    };
    let unknown_org = Envelope::sign(&tx("weft", &stranger), &stranger);
    let other_channel = Envelope::sign(&tx("other", &net.clients[0]), &net.clients[0]);
    let mut stolen_id = tx("weft", &net.clients[0]);
    stolen_id.header.tx_id = good.decode().unwrap().header.tx_id;
    let stolen_id = Envelope::sign(&stolen_id, &net.clients[0]);
    let by_orderer = Envelope::sign(&tx("weft", net.orderer()), net.orderer());
    let mut huge = tx("weft", &net.clients[0]);
    if let TxBody::Lifecycle(l) = &mut huge.body {
        l.module.0 = vec![0; 70 * 1024];
    }
    let huge = Envelope::sign(&huge, &net.clients[0]);

    vec![
        (
            "garbage",
            b"{ not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "a block",
            serde_json::to_vec(&Block::new(0, Default::default(), 0, vec![])).unwrap(),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "bad signature",
            serde_json::to_vec(&bad_sig).unwrap(),
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        ),
        (
            "unknown org",
            serde_json::to_vec(&unknown_org).unwrap(),
            StatusCode::FORBIDDEN,
            "bad_creator",
        ),
        (
            "an orderer as creator",
            serde_json::to_vec(&by_orderer).unwrap(),
            StatusCode::FORBIDDEN,
            "bad_creator",
        ),
        (
            "other channel",
            serde_json::to_vec(&other_channel).unwrap(),
            StatusCode::BAD_REQUEST,
            "wrong_channel",
        ),
        (
            "someone else's tx id",
            serde_json::to_vec(&stolen_id).unwrap(),
            StatusCode::BAD_REQUEST,
            "bad_tx_id",
        ),
        (
            "over AbsoluteMaxBytes",
            serde_json::to_vec(&huge).unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
    ]
}

#[tokio::test]
async fn bad_envelopes_are_refused_before_consensus() {
    let (net, recorder, app) = setup();
    let good = envelope(&net);
    let cases = bad_cases(&net, &good);
    for (what, body, status, code) in cases {
        let (got, reply) = post(&app, body).await;
        assert_eq!(got, status, "{what}: {reply}");
        assert_eq!(reply["code"], code, "{what}: {reply}");
        assert!(
            !reply["message"].as_str().unwrap_or_default().is_empty(),
            "{what}"
        );
    }
    assert!(
        recorder.submitted.lock().is_empty(),
        "nothing bad reached consensus"
    );
}

#[tokio::test]
async fn a_batch_is_answered_line_by_line_and_only_good_envelopes_are_ordered() {
    let (net, recorder, app) = setup();
    let good: Vec<Envelope> = (0..3).map(|_| envelope(&net)).collect();
    let cases = bad_cases(&net, &good[0]);
    // good, bad, good, bad, …, good: each bad line answered with the
    // status the single endpoint gives it, the good ones ordered.
    let mut body = Vec::new();
    let mut expected: Vec<(u16, Option<&str>)> = Vec::new();
    let mut good_iter = good.iter().cycle();
    for (_, bad, status, code) in &cases {
        let g = good_iter.next().unwrap();
        body.extend(serde_json::to_vec(g).unwrap());
        body.push(b'\n');
        expected.push((200, None));
        body.extend(bad.iter().filter(|&&b| b != b'\n'));
        body.extend(b"\r\n\n");
        expected.push((status.as_u16(), Some(code)));
    }
    let response = app
        .clone()
        .oneshot(
            Request::post("/v1/broadcast/batch")
                .header("content-type", "application/x-ndjson")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[weft_types::ORDERER_LEADER_HEADER],
        "1",
        "the answer names the leader this orderer knows"
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let lines: Vec<serde_json::Value> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), expected.len());
    for (i, (line, (status, code))) in lines.iter().zip(&expected).enumerate() {
        assert_eq!(line["status"], *status, "line {i}: {line}");
        match code {
            None => assert!(line["tx_id"].is_string(), "line {i}: {line}"),
            Some(code) => assert_eq!(line["code"], *code, "line {i}: {line}"),
        }
    }
    assert_eq!(recorder.submitted.lock().len(), cases.len());

    // What consensus answers is each line's answer.
    *recorder.answer.lock() = Err(SubmitError::Overloaded);
    let response = app
        .clone()
        .oneshot(
            Request::post("/v1/broadcast/batch")
                .body(Body::from(serde_json::to_vec(&good[1]).unwrap()))
                .unwrap(),
        )
        .await
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let line: serde_json::Value = serde_json::from_slice(bytes.trim_ascii()).unwrap();
    assert_eq!(
        (line["status"].as_u64(), line["code"].as_str()),
        (Some(429), Some("overloaded"))
    );

    // Too many envelopes in one request: refused whole, nothing ordered.
    let before = recorder.submitted.lock().len();
    let one = serde_json::to_vec(&good[2]).unwrap();
    let mut many = Vec::new();
    for _ in 0..=weft_orderer::api::MAX_BATCH {
        many.extend(&one);
        many.push(b'\n');
    }
    let response = app
        .clone()
        .oneshot(
            Request::post("/v1/broadcast/batch")
                .body(Body::from(many))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(recorder.submitted.lock().len(), before);
}

#[tokio::test]
async fn deliver_streams_stored_blocks_then_waits_for_new_ones() {
    let (net, recorder, app) = setup();
    let genesis = net.genesis();
    recorder.store.append(&genesis, 0).unwrap();
    let response = app
        .clone()
        .oneshot(
            Request::get("/v1/deliver?from=0")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let block: Block = serde_json::from_slice(&first).unwrap();
    assert_eq!(block, genesis);
    // Block 1 is not there yet: the stream waits, then gets it.
    let pending = tokio::time::timeout(Duration::from_millis(200), body.frame()).await;
    assert!(pending.is_err(), "deliver should wait beyond the tip");
    let next = net.next_block(&genesis.header, vec![]);
    recorder.store.append(&next, 1).unwrap();
    let second = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(serde_json::from_slice::<Block>(&second).unwrap(), next);

    for bad in ["-1", "abc", "1.5", "99999999999999999999999"] {
        let response = app
            .clone()
            .oneshot(
                Request::get(format!("/v1/deliver?from={bad}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "from={bad}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let reply: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(reply["code"], "bad_height");
    }
}
