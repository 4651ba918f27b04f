//! The orderer's HTTP API (axum): broadcast and deliver.
//!
//! - `POST /v1/broadcast` with an envelope (JSON of
//!   [`Envelope`](weft_types::Envelope)): checked for size
//!   (`AbsoluteMaxBytes`, 413), shape (400), the creator's certificate (a
//!   channel org's member valid now that may submit, 403), channel and tx
//!   id (400) and signature (401), then handed to [`Consensus::submit`].
//!   The answer comes once the envelope is ordered (in a block committed by
//!   the cluster): `200 {"status":"accepted","tx_id":…}`; or `503` when
//!   there is no leader to take it, `429` when the leader's queue is full,
//!   `504` when it was accepted but not ordered in time.
//! - `POST /v1/broadcast/batch` with up to [`MAX_BATCH`] envelopes, one
//!   JSON per line (`application/x-ndjson`) — what a busy client or
//!   gateway sends, as Fabric clients stream envelopes on one broadcast
//!   stream. Each envelope is checked and answered on its own, exactly as
//!   above, the signatures verified as one ed25519 batch: the response is
//!   one JSON line per envelope, in order, `{"status":200,"tx_id":…}` or
//!   `{"status":401,"code":…,"message":…}` (the status the single
//!   endpoint would have answered). One bad envelope never sinks the rest.
//! - `GET /v1/deliver?from=N`: newline-delimited JSON blocks from `N` on —
//!   stored ones at once, then each new one as it is applied; a `from`
//!   beyond the tip waits. A `from` that is not a number is a 400.
//! - `GET /v1/healthz`: height and known leader.
//!
//! Every error is `{"code": …, "message": …}` with its status.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use weft_types::batch_verify::{self, SignatureCheck};
use weft_types::{
    Certificate, CertificateBody, ChannelConfig, Digest, Domain, Envelope, Role, TrustStore, TxId,
};

use crate::blockstore::BlockStore;
use crate::cutter::TooLarge;

/// Envelopes one broadcast request may carry on `/v1/broadcast/batch`.
pub const MAX_BATCH: usize = 2048;

/// The body limit of `/v1/broadcast/batch`.
pub const MAX_BATCH_BODY: usize = 32 * 1024 * 1024;

/// An envelope on its way to be ordered, with its digest. The digest is
/// computed here, never taken from a caller: the leader builds block data
/// hashes from it without hashing again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    envelope: Envelope,
    digest: Digest,
    size: u64,
}

impl Submission {
    /// `envelope`, received as `size` bytes.
    pub fn new(envelope: Envelope, size: u64) -> Self {
        Submission {
            digest: envelope.digest(),
            envelope,
            size,
        }
    }

    /// The envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// Its [`Envelope::digest`].
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Its size in bytes as received, counted against the batch limits.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The envelope and its digest.
    pub fn into_parts(self) -> (Envelope, Digest) {
        (self.envelope, self.digest)
    }
}

/// The ordering engine behind the API: Raft today, a BFT engine later.
pub trait Consensus: Send + Sync + 'static {
    /// Orders `batch`. Resolves once every submission was ordered (in a
    /// block committed by the cluster) or refused: one result per
    /// submission, in order. `forwarded`: it came from another orderer, so
    /// it must not be forwarded again.
    fn submit(
        &self,
        batch: Vec<Submission>,
        forwarded: bool,
    ) -> impl Future<Output = Vec<Result<(), SubmitError>>> + Send;

    /// A consensus message from another orderer.
    fn handle_message(&self, message: raft::eraftpb::Message);

    /// The blocks this orderer has applied, for deliver.
    fn blocks(&self) -> &BlockStore;

    /// The leader this orderer knows of.
    fn leader(&self) -> Option<u64>;
}

/// Why an envelope was not accepted for ordering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// No leader is known (an election is under way, or this orderer is cut off).
    #[error("no leader is known to take the envelope; retry shortly")]
    NoLeader,
    /// The leader's queue is full.
    #[error("the ordering service is overloaded; retry later")]
    Overloaded,
    /// Over `AbsoluteMaxBytes`.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The orderer is shutting down.
    #[error("the orderer is shutting down")]
    Stopped,
    /// Accepted, but no block held it in time (the leader lost its
    /// leadership); it may still be ordered — look for its tx id before
    /// resubmitting.
    #[error(
        "the envelope was accepted but not ordered in time; look for its tx id before resubmitting"
    )]
    NotOrdered,
}

/// What the handlers share.
#[derive(Debug)]
pub struct ApiState<C> {
    /// The ordering engine.
    pub consensus: Arc<C>,
    /// The channel configuration (creators are checked against it).
    pub config: Arc<ChannelConfig>,
    /// Creator certificates verified against `config`, by digest.
    certs: Arc<CertCache>,
}

impl<C> ApiState<C> {
    /// The state for `consensus` on the channel `config`.
    pub fn new(consensus: Arc<C>, config: Arc<ChannelConfig>) -> Self {
        ApiState {
            consensus,
            config,
            certs: Arc::default(),
        }
    }
}

impl<C> Clone for ApiState<C> {
    fn clone(&self) -> Self {
        ApiState {
            consensus: self.consensus.clone(),
            config: self.config.clone(),
            certs: self.certs.clone(),
        }
    }
}

/// Certificates checked once (issuer, decoding) and kept: a returning
/// client then costs one signature check. The validity window is checked
/// on every use; failures are never kept. Bounded: emptied when full.
#[derive(Debug, Default)]
struct CertCache(parking_lot::RwLock<HashMap<Digest, CertificateBody>>);

const CERT_CACHE_ENTRIES: usize = 4096;

impl CertCache {
    fn verify(
        &self,
        config: &ChannelConfig,
        cert: &Certificate,
        now: u64,
    ) -> Result<CertificateBody, String> {
        let digest = cert.digest();
        if let Some(body) = self.0.read().get(&digest) {
            body.check_validity(now).map_err(|e| e.to_string())?;
            return Ok(body.clone());
        }
        let body = config
            .verify_certificate(cert, now)
            .map_err(|e| e.to_string())?;
        let mut cache = self.0.write();
        if cache.len() >= CERT_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(digest, body.clone());
        Ok(body)
    }
}

/// The API's routes.
pub fn router<C: Consensus>(state: ApiState<C>) -> Router {
    let limit = usize::try_from(state.config.ordering.absolute_max_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    Router::new()
        .route(
            "/v1/broadcast",
            post(broadcast::<C>).layer(DefaultBodyLimit::max(limit)),
        )
        .route(
            "/v1/broadcast/batch",
            post(broadcast_batch::<C>).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route("/v1/deliver", get(deliver::<C>))
        .route("/v1/healthz", get(healthz::<C>))
        .with_state(state)
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({ "code": code, "message": message.into() })),
    )
        .into_response()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why the API refused an envelope: the status, a stable code, and what
/// was wrong.
#[derive(Debug, Clone)]
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    fn response(&self) -> Response {
        error(self.status, self.code, self.message.clone())
    }

    fn line(&self) -> serde_json::Value {
        json!({ "status": self.status.as_u16(), "code": self.code, "message": self.message })
    }
}

impl From<SubmitError> for Refusal {
    fn from(e: SubmitError) -> Self {
        let (status, code) = match &e {
            SubmitError::NoLeader | SubmitError::Stopped => {
                (StatusCode::SERVICE_UNAVAILABLE, "no_leader")
            }
            SubmitError::Overloaded => (StatusCode::TOO_MANY_REQUESTS, "overloaded"),
            SubmitError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            SubmitError::NotOrdered => (StatusCode::GATEWAY_TIMEOUT, "not_ordered"),
        };
        Refusal::new(status, code, e.to_string())
    }
}

/// An envelope that passed every check but its signature, which is
/// verified with others in one batch.
struct Checked {
    envelope: Envelope,
    tx_id: TxId,
    size: u64,
    payload_digest: Digest,
    signature: SignatureCheck<String>,
}

impl Checked {
    fn into_submission(self) -> Submission {
        let digest = self.envelope.digest_from(&self.payload_digest);
        Submission {
            envelope: self.envelope,
            digest,
            size: self.size,
        }
    }
}

fn bad_signature(who: &str) -> Refusal {
    Refusal::new(
        StatusCode::UNAUTHORIZED,
        "bad_signature",
        format!("the signature of {who} does not verify over the envelope"),
    )
}

/// Checks the envelopes in `bodies` (JSON each), the signatures in one
/// batch. Every refusal is independent of the other envelopes.
fn check_all<C>(state: &ApiState<C>, bodies: &[&[u8]]) -> Vec<Result<Checked, Refusal>> {
    let now = now_secs();
    let mut results: Vec<Result<Checked, Refusal>> = bodies
        .iter()
        .map(|body| check(&state.config, &state.certs, body, now))
        .collect();
    let (indices, checks): (Vec<usize>, Vec<&SignatureCheck<String>>) = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().ok().map(|c| (i, &c.signature)))
        .unzip();
    if batch_verify::verify_all(checks.into_iter()) {
        return results;
    }
    for i in indices {
        let failed = match &results[i] {
            Ok(c) => batch_verify::first_failure(std::slice::from_ref(&c.signature))
                .map(|_| bad_signature(&c.signature.who)),
            Err(_) => None,
        };
        if let Some(refusal) = failed {
            results[i] = Err(refusal);
        }
    }
    results
}

async fn broadcast<C: Consensus>(
    State(state): State<ApiState<C>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let forwarded = headers.contains_key(crate::service::FORWARDED_HEADER);
    let checked = match check_all(&state, &[&body]).pop() {
        Some(Ok(c)) => c,
        Some(Err(refusal)) => return refusal.response(),
        None => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no verdict"),
    };
    let tx_id = checked.tx_id;
    let result = state
        .consensus
        .submit(vec![checked.into_submission()], forwarded)
        .await
        .pop()
        .unwrap_or(Err(SubmitError::Stopped));
    match result {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(json!({ "status": "accepted", "tx_id": tx_id })),
        )
            .into_response(),
        Err(e) => Refusal::from(e).response(),
    }
}

async fn broadcast_batch<C: Consensus>(
    State(state): State<ApiState<C>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let forwarded = headers.contains_key(crate::service::FORWARDED_HEADER);
    let count = body
        .split(|&b| b == b'\n')
        .filter(|line| !line.trim_ascii().is_empty())
        .count();
    if count > MAX_BATCH {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many",
            format!("{count} envelopes in one request; at most {MAX_BATCH} are accepted"),
        );
    }
    // Parsing and verifying a batch takes milliseconds: off the I/O threads.
    let checked = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            let lines: Vec<&[u8]> = body
                .split(|&b| b == b'\n')
                .map(<[u8]>::trim_ascii)
                .filter(|line| !line.is_empty())
                .collect();
            check_all(&state, &lines)
        })
        .await
    };
    let Ok(checked) = checked else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the checks failed",
        );
    };
    let mut lines: Vec<Result<TxId, Refusal>> = Vec::with_capacity(checked.len());
    let mut batch = Vec::new();
    let mut slots = Vec::new();
    for c in checked {
        match c {
            Ok(c) => {
                slots.push(lines.len());
                lines.push(Ok(c.tx_id));
                batch.push(c.into_submission());
            }
            Err(refusal) => lines.push(Err(refusal)),
        }
    }
    if !batch.is_empty() {
        let mut results = state.consensus.submit(batch, forwarded).await.into_iter();
        for slot in slots {
            if let Err(e) = results.next().unwrap_or(Err(SubmitError::Stopped)) {
                lines[slot] = Err(Refusal::from(e));
            }
        }
    }
    let mut out = Vec::with_capacity(lines.len() * 96);
    for line in lines {
        let value = match line {
            Ok(tx_id) => json!({ "status": 200, "tx_id": tx_id }),
            Err(refusal) => refusal.line(),
        };
        out.extend(weft_types::to_json_bytes(&value));
        out.push(b'\n');
    }
    let mut response = Response::builder().header(header::CONTENT_TYPE, "application/x-ndjson");
    // Who to send to next time: the leader, without this orderer's hop.
    if let Some(leader) = state.consensus.leader() {
        response = response.header(weft_types::ORDERER_LEADER_HEADER, leader);
    }
    response
        .body(Body::from(out))
        .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

/// The checks an orderer makes before ordering anything: the envelope's
/// size and shape, the creator is a member of a channel org allowed to
/// submit, the transaction parses, is for this channel and its id is its
/// creator's. The signature check is returned for batching.
fn check(
    config: &ChannelConfig,
    certs: &CertCache,
    body: &[u8],
    now: u64,
) -> Result<Checked, Refusal> {
    let size = body.len() as u64;
    let max = config.ordering.absolute_max_bytes;
    if size > max {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            TooLarge { bytes: size, max }.to_string(),
        ));
    }
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("not an envelope: {e}"),
        )
    })?;
    let creator = certs.verify(config, &envelope.signer, now).map_err(|e| {
        Refusal::new(
            StatusCode::FORBIDDEN,
            "bad_creator",
            format!("the creator is refused: {e}"),
        )
    })?;
    if !matches!(creator.role, Role::Client | Role::Admin | Role::Peer) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "bad_creator",
            format!(
                "{}@{} is an {}, which may not submit",
                creator.name, creator.org, creator.role
            ),
        ));
    }
    let tx = envelope.decode().map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("not a transaction: {e}"),
        )
    })?;
    if tx.header.channel != config.channel {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "wrong_channel",
            format!(
                "the transaction is for channel {:?}, this orderer serves {:?}",
                tx.header.channel, config.channel
            ),
        ));
    }
    if !tx.header.tx_id_matches(&envelope.signer) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_tx_id",
            "the tx id is not sha3-256 of the nonce and the creator's certificate",
        ));
    }
    let payload_digest = envelope.payload_digest();
    let signature = SignatureCheck::new(
        format!("{}@{}", creator.name, creator.org),
        &creator.public_key,
        Domain::Transaction,
        &payload_digest,
        &envelope.signature,
    );
    Ok(Checked {
        envelope,
        tx_id: tx.header.tx_id,
        size,
        payload_digest,
        signature,
    })
}

#[derive(Debug, Deserialize)]
struct DeliverQuery {
    from: Option<String>,
}

async fn deliver<C: Consensus>(
    State(state): State<ApiState<C>>,
    Query(query): Query<DeliverQuery>,
) -> Response {
    let from = match query.from.as_deref().map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_height",
                format!(
                    "from must be a block number (0 or more), not {:?}",
                    query.from.unwrap_or_default()
                ),
            );
        }
    };
    let consensus = state.consensus.clone();
    let stream = futures::stream::unfold(from, move |next| {
        let consensus = consensus.clone();
        async move {
            consensus.blocks().wait_for(next).await;
            // The stored JSON is the block's compact encoding: sent as
            // stored, not parsed and encoded again for every subscriber.
            let line = match consensus.blocks().get_json(next) {
                Ok(Some(mut json)) => {
                    json.push(b'\n');
                    Ok(Bytes::from(json))
                }
                Ok(None) => Err(std::io::Error::other(format!("block {next} vanished"))),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            Some((line, next + 1))
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

async fn healthz<C: Consensus>(State(state): State<ApiState<C>>) -> Response {
    axum::Json(json!({
        "status": "ok",
        "height": state.consensus.blocks().height(),
        "leader": state.consensus.leader(),
    }))
    .into_response()
}
