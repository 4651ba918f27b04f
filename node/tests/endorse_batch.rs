#![allow(clippy::unwrap_used)]
//! Proposal signatures verified in batches by the gateway's `SigBatcher`:
//! a bad signature is refused with the same 401 `bad_signature` on every
//! endpoint, alone or among good ones; and a signature gets the same
//! verdict alone, in a batch and through the endorser's own check (ZIP
//! 215), as one with a small-order `R` shows.
//!
//! No chaincode is defined: a proposal whose signature passes gets 404
//! `not_found` (its chaincode), one whose signature fails 401.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;
use weft_node::committer::Committer;
use weft_node::endorser::{EndorseError, Endorser, SigBatchError, SigBatcher};
use weft_node::gateway::{self, Gateway};
use weft_node::ledger::Ledger;
use weft_node::runtime::{Runtime, RuntimeConfig};
use weft_tests::network::TestNetwork;
use weft_types::{
    Domain, Identity, Role, Signature, SignedProposal, SigningKey, from_base64, sha3_256, to_base64,
};

/// How long a test waits for an answer before failing.
const PATIENCE: Duration = Duration::from_secs(20);

/// One org's peer with its gateway's client and peer-to-peer routers.
struct Fixture {
    net: TestNetwork,
    endorser: Arc<Endorser>,
    app: Router,
    p2p: Router,
    _dir: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let net = TestNetwork::new(&["Org1", "Org2"]);
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(Ledger::open(dir.path()).unwrap());
        let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
        let committer = Arc::new(
            Committer::open(ledger.clone(), runtime.clone(), &net.genesis(), "Org1").unwrap(),
        );
        let identity = net.peers[0].clone();
        let endorser = Arc::new(Endorser::new(
            ledger,
            runtime,
            identity.clone(),
            committer.config().clone(),
        ));
        let gw = Gateway::new(identity, committer, endorser.clone()).unwrap();
        Fixture {
            app: gateway::router(gw.clone()),
            p2p: gateway::p2p_router(gw),
            net,
            endorser,
            _dir: dir,
        }
    }

    /// A proposal by `creator` for an undefined chaincode, numbered `n`.
    fn proposal(&self, creator: &Identity, n: usize) -> SignedProposal {
        let n = n.to_string();
        self.net
            .proposal(creator, "undefined", "read", &[&n], &BTreeMap::new())
    }

    /// `proposal` signed by Org2's client instead of its creator.
    fn forged(&self, proposal: &SignedProposal) -> SignedProposal {
        let mut forged = proposal.clone();
        forged.signature = self.net.clients[1].sign(Domain::Proposal, &proposal.payload_digest());
        forged
    }

    /// A token for Org1's client.
    async fn token(&self) -> String {
        let (_, body) = call(&self.app, "/v1/auth/challenge", None, json!({})).await;
        let challenge = from_base64(body["challenge"].as_str().unwrap()).unwrap();
        let client = &self.net.clients[0];
        let request = json!({
            "challenge": to_base64(&challenge),
            "certificate": client.certificate(),
            "signature": client.sign(Domain::AuthChallenge, &sha3_256(&challenge)),
        });
        let (status, body) = call(&self.app, "/v1/auth/token", None, request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_string()
    }
}

async fn call(app: &Router, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
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

/// Asserts the status, code, stage and org of an error answer.
#[track_caller]
fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str, stage: &str) {
    let (s, body) = got;
    assert_eq!(*s, status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["stage"], stage, "{body}");
}

/// The refusal of a proposal by `creator` whose signature fails.
#[track_caller]
fn assert_bad_signature(got: &(StatusCode, Value), creator: &str) {
    assert_error(got, StatusCode::UNAUTHORIZED, "bad_signature", "auth");
    let message = got.1["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("the key of {creator}:")),
        "{message}"
    );
}

#[track_caller]
fn assert_passed(got: &(StatusCode, Value)) {
    assert_error(got, StatusCode::NOT_FOUND, "not_found", "request");
}

/// The three endpoints that verify a proposal's signature: the path, the
/// router and whether it needs a token.
const ENDPOINTS: [(&str, bool, bool); 3] = [
    ("/v1/evaluate", false, true),
    ("/v1/endorse", false, true),
    ("/v1/endorse", true, false),
];

impl Fixture {
    async fn ask(
        &self,
        endpoint: (&str, bool, bool),
        token: &str,
        p: &SignedProposal,
    ) -> (StatusCode, Value) {
        let (path, p2p, needs_token) = endpoint;
        let app = if p2p { &self.p2p } else { &self.app };
        call(
            app,
            path,
            needs_token.then_some(token),
            json!({ "proposal": p }),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_badly_signed_proposal_is_refused_by_every_endpoint() {
    let f = Fixture::new();
    let token = f.token().await;
    let good = f.proposal(&f.net.clients[0], 0);
    let forged = f.forged(&good);
    let mut altered = good.clone();
    altered.signature.0[40] ^= 1;
    for endpoint in ENDPOINTS {
        assert_passed(&f.ask(endpoint, &token, &good).await);
        assert_bad_signature(&f.ask(endpoint, &token, &forged).await, "client@Org1");
        assert_bad_signature(&f.ask(endpoint, &token, &altered).await, "client@Org1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn among_concurrent_proposals_only_the_badly_signed_are_refused() {
    let f = Arc::new(Fixture::new());
    let token = f.token().await;
    let forged_at = [3, 17, 18];
    for endpoint in ENDPOINTS {
        let calls: Vec<_> = (0..40)
            .map(|i| {
                let (f, token) = (f.clone(), token.clone());
                let mut p = f.proposal(&f.net.clients[0], i);
                if forged_at.contains(&i) {
                    p = f.forged(&p);
                }
                tokio::spawn(async move { f.ask(endpoint, &token, &p).await })
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            let got = call.await.unwrap();
            if forged_at.contains(&i) {
                assert_bad_signature(&got, "client@Org1");
            } else {
                assert_passed(&got);
            }
        }
    }
}

/// The peer-to-peer batch route answers each line as `/v1/endorse` would
/// have answered it alone, once, naming it by its index: its badly signed
/// lines are refused, the others pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refuses_only_its_badly_signed_lines() {
    let f = Fixture::new();
    let forged_at = [0, 3, 17, 18];
    let mut body = Vec::new();
    for i in 0..20 {
        let mut p = f.proposal(&f.net.clients[0], i);
        if forged_at.contains(&i) {
            p = f.forged(&p);
        }
        serde_json::to_writer(&mut body, &json!({ "proposal": p })).unwrap();
        body.push(b'\n');
    }
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/endorse/batch")
        .header("content-type", "application/x-ndjson")
        .body(Body::from(body))
        .unwrap();
    let response = tokio::time::timeout(PATIENCE, f.p2p.clone().oneshot(req))
        .await
        .expect("the peer answers in time")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let mut lines: Vec<Value> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    // Lines come as proposals are settled, each naming its proposal.
    lines.sort_by_key(|l| l["index"].as_u64().unwrap());
    let indices: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    assert_eq!(indices, (0..20).collect::<Vec<u64>>());
    for (i, line) in lines.into_iter().enumerate() {
        let status = StatusCode::from_u16(line["status"].as_u64().unwrap() as u16).unwrap();
        let got = (status, line["error"].clone());
        if forged_at.contains(&i) {
            assert_bad_signature(&got, "client@Org1");
        } else {
            assert_passed(&got);
        }
    }
}

/// A proposal signature with a small-order `R` (the identity), which the
/// cofactorless strict check refuses, gets the same verdict wherever and
/// however it is checked.
#[tokio::test(flavor = "current_thread")]
async fn a_small_order_r_gets_one_verdict_everywhere() {
    let f = Fixture::new();
    let token = f.token().await;
    let seed = [7u8; 32];
    let key = SigningKey::from_seed(&seed);
    let cert = f.net.orgs[0]
        .issue("client2", Role::Client, key.public_key(), 0, u64::MAX)
        .unwrap();
    let creator = Identity::from_parts(cert, key).unwrap();
    let good = f.proposal(&creator, 0);
    let mut cofactored = good.clone();
    cofactored.signature =
        non_strict_signature(&seed, &Domain::Proposal.message(&good.payload_digest()));
    assert!(
        creator
            .body()
            .public_key
            .verify(
                Domain::Proposal,
                &good.payload_digest(),
                &cofactored.signature
            )
            .is_err(),
        "the strict check refuses it"
    );

    // ZIP 215's rule everywhere: accepted alone through every endpoint,
    // by the endorser's own check, and in a batch with another proposal, as
    // validation would accept it. Only the key's holder can make it.
    for endpoint in ENDPOINTS {
        assert_passed(&f.ask(endpoint, &token, &good).await);
        assert_passed(&f.ask(endpoint, &token, &cofactored).await);
    }
    f.endorser
        .authenticate(&cofactored, &BTreeMap::new())
        .unwrap();
    let prepared = f.endorser.prepare(&cofactored, BTreeMap::new()).unwrap();
    prepared.verify_alone().unwrap();
    let b = SigBatcher::new();
    b.verify(f.endorser.prepare(&cofactored, BTreeMap::new()).unwrap())
        .await
        .unwrap();
    let (first, second) = tokio::join!(
        b.verify(f.endorser.prepare(&good, BTreeMap::new()).unwrap()),
        b.verify(f.endorser.prepare(&cofactored, BTreeMap::new()).unwrap()),
    );
    first.unwrap();
    second.unwrap();
    let stats = b.stats();
    assert_eq!((stats.batches, stats.checks), (2, 3), "{stats:?}");

    // The same `R` with `s` for another message fails everywhere.
    let mut forged = cofactored.clone();
    forged.signature = non_strict_signature(&seed, b"another message");
    for endpoint in ENDPOINTS {
        assert_bad_signature(&f.ask(endpoint, &token, &forged).await, "client2@Org1");
    }
    let err = f.endorser.authenticate(&forged, &BTreeMap::new());
    assert!(
        matches!(err, Err(EndorseError::BadSignature { .. })),
        "{err:?}"
    );
    let (first, second) = tokio::join!(
        b.verify(f.endorser.prepare(&good, BTreeMap::new()).unwrap()),
        b.verify(f.endorser.prepare(&forged, BTreeMap::new()).unwrap()),
    );
    first.unwrap();
    assert!(
        matches!(second, Err(SigBatchError::Refused(_))),
        "{second:?}"
    );
}

/// A signature by the key of `seed` over `message` that ZIP 215's
/// cofactored equation accepts but `verify_strict` refuses: `R` is the identity (a
/// small-order point) and `s = H(R || A || M) · a mod ℓ`, so that
/// `[s]B = R + [H]A`.
fn non_strict_signature(seed: &[u8; 32], message: &[u8]) -> Signature {
    let expanded = sha512(seed);
    let mut a = [0u8; 32];
    a.copy_from_slice(&expanded[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    let public = SigningKey::from_seed(seed).public_key().to_bytes();
    let mut r = [0u8; 32];
    r[0] = 1;
    let h = sha512(&[&r[..], &public, message].concat());
    let h = mul_mod([1, 0, 0, 0], &h);
    let s = mul_mod(h, &a);
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&r);
    for (chunk, limb) in bytes[32..].chunks_mut(8).zip(s) {
        chunk.copy_from_slice(&limb.to_le_bytes());
    }
    Signature(bytes)
}

/// ℓ, the order of the ed25519 base point, in little-endian limbs.
const L: [u64; 4] = [
    0x5812_631a_5cf5_d3ed,
    0x14de_f9de_a2f7_9cd6,
    0,
    0x1000_0000_0000_0000,
];

/// `(a + b) mod ℓ` for `a, b < ℓ` (no carry out: `2ℓ < 2^256`).
fn add_mod(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
    let mut sum = [0; 4];
    let mut carry = false;
    for i in 0..4 {
        let (s, c1) = a[i].overflowing_add(b[i]);
        let (s, c2) = s.overflowing_add(u64::from(carry));
        sum[i] = s;
        carry = c1 || c2;
    }
    if sum.iter().rev().lt(L.iter().rev()) {
        return sum;
    }
    let mut out = [0; 4];
    let mut borrow = false;
    for i in 0..4 {
        let (d, b1) = sum[i].overflowing_sub(L[i]);
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        out[i] = d;
        borrow = b1 || b2;
    }
    out
}

/// `x · n mod ℓ` for `x < ℓ` and `n` in little-endian bytes: double and
/// add from the top bit of `n`.
fn mul_mod(x: [u64; 4], n: &[u8]) -> [u64; 4] {
    let mut r = [0; 4];
    for byte in n.iter().rev() {
        for bit in (0..8).rev() {
            r = add_mod(r, r);
            if (byte >> bit) & 1 == 1 {
                r = add_mod(r, x);
            }
        }
    }
    r
}

/// SHA-512 (FIPS 180-4), which ed25519 hashes with: no crate here
/// exposes it.
fn sha512(data: &[u8]) -> [u8; 64] {
    #[rustfmt::skip]
    const K: [u64; 80] = [
        0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc,
        0x3956c25bf348b538, 0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118,
        0xd807aa98a3030242, 0x12835b0145706fbe, 0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2,
        0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235, 0xc19bf174cf692694,
        0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
        0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5,
        0x983e5152ee66dfab, 0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4,
        0xc6e00bf33da88fc2, 0xd5a79147930aa725, 0x06ca6351e003826f, 0x142929670a0e6e70,
        0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed, 0x53380d139d95b3df,
        0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
        0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30,
        0xd192e819d6ef5218, 0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8,
        0x19a4c116b8d2d0c8, 0x1e376c085141ab53, 0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8,
        0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373, 0x682e6ff3d6b2b8a3,
        0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
        0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b,
        0xca273eceea26619c, 0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178,
        0x06f067aa72176fba, 0x0a637dc5a2c898a6, 0x113f9804bef90dae, 0x1b710b35131c471b,
        0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc, 0x431d67c49c100d4c,
        0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
    ];
    let mut state: [u64; 8] = [
        0x6a09e667f3bcc908,
        0xbb67ae8584caa73b,
        0x3c6ef372fe94f82b,
        0xa54ff53a5f1d36f1,
        0x510e527fade682d1,
        0x9b05688c2b3e6c1f,
        0x1f83d9abfb41bd6b,
        0x5be0cd19137e2179,
    ];
    let mut padded = data.to_vec();
    padded.push(0x80);
    while padded.len() % 128 != 112 {
        padded.push(0);
    }
    padded.extend_from_slice(&(data.len() as u128 * 8).to_be_bytes());
    for block in padded.chunks(128) {
        let mut w = [0u64; 80];
        for (word, bytes) in w.iter_mut().zip(block.chunks(8)) {
            *word = u64::from_be_bytes(bytes.try_into().unwrap());
        }
        for i in 16..80 {
            let s0 = w[i - 15].rotate_right(1) ^ w[i - 15].rotate_right(8) ^ (w[i - 15] >> 7);
            let s1 = w[i - 2].rotate_right(19) ^ w[i - 2].rotate_right(61) ^ (w[i - 2] >> 6);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = state;
        for i in 0..80 {
            let [a, b, c, d, e, f, g, h] = v;
            let s1 = e.rotate_right(14) ^ e.rotate_right(18) ^ e.rotate_right(41);
            let ch = (e & f) ^ (!e & g);
            let t1 = h
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(28) ^ a.rotate_right(34) ^ a.rotate_right(39);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
        }
        for (s, x) in state.iter_mut().zip(v) {
            *s = s.wrapping_add(x);
        }
    }
    let mut out = [0u8; 64];
    for (chunk, word) in out.chunks_mut(8).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[test]
fn the_test_sha512_is_sha512() {
    let digest = |data: &[u8]| hex(&sha512(data));
    assert_eq!(
        digest(b"abc"),
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
         2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    );
    // 112 bytes: the length spills into a second block.
    assert_eq!(
        digest(
            b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno\
              ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
        ),
        "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018\
         501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"
    );
    assert_eq!(
        digest(b""),
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
         47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
