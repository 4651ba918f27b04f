//! The orderer's HTTP API (axum): broadcast and deliver.
//!
//! - `POST /v1/broadcast` with an envelope (JSON of
//!   [`Envelope`](weft_types::Envelope)): checked for size
//!   (`AbsoluteMaxBytes`, 413), shape (400), channel and tx id (400), the
//!   creator's certificate (a channel org's member valid now that may submit,
//!   403) and signature (401), then handed to [`Consensus::submit`]. The
//!   answer comes once the envelope is ordered (in a block committed by the
//!   cluster): `200 {"status":"accepted","tx_id":…}`; or `503` when there is
//!   no leader to take it, `429` when the leader's queue is full, `504` when
//!   it was accepted but not ordered in time.
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
use weft_types::{
    Certificate, CertificateBody, ChannelConfig, Digest, Domain, Envelope, Role, TrustStore, TxId,
};

use crate::blockstore::BlockStore;
use crate::cutter::TooLarge;

/// The ordering engine behind the API: Raft today, a BFT engine later.
pub trait Consensus: Send + Sync + 'static {
    /// Orders `envelope` (`size` bytes as received). Resolves once the
    /// leader accepted it into a batch, or with why not. `forwarded`: it
    /// came from another orderer, so it must not be forwarded again.
    fn submit(
        &self,
        envelope: Envelope,
        size: u64,
        forwarded: bool,
    ) -> impl Future<Output = Result<(), SubmitError>> + Send;

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
        .route("/v1/broadcast", post(broadcast::<C>))
        .route("/v1/deliver", get(deliver::<C>))
        .route("/v1/healthz", get(healthz::<C>))
        .layer(DefaultBodyLimit::max(limit))
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

async fn broadcast<C: Consensus>(
    State(state): State<ApiState<C>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let forwarded = headers.contains_key(crate::service::FORWARDED_HEADER);
    let size = body.len() as u64;
    let max = state.config.ordering.absolute_max_bytes;
    if size > max {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            TooLarge { bytes: size, max }.to_string(),
        );
    }
    let envelope: Envelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "malformed",
                format!("not an envelope: {e}"),
            );
        }
    };
    let tx_id = match check(&state.config, &state.certs, &envelope, now_secs()) {
        Ok(id) => id,
        Err(response) => return response,
    };
    match state.consensus.submit(envelope, size, forwarded).await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(json!({ "status": "accepted", "tx_id": tx_id })),
        )
            .into_response(),
        Err(e @ SubmitError::NoLeader) | Err(e @ SubmitError::Stopped) => {
            error(StatusCode::SERVICE_UNAVAILABLE, "no_leader", e.to_string())
        }
        Err(e @ SubmitError::Overloaded) => {
            error(StatusCode::TOO_MANY_REQUESTS, "overloaded", e.to_string())
        }
        Err(e @ SubmitError::TooLarge(_)) => {
            error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
        }
        Err(e @ SubmitError::NotOrdered) => {
            error(StatusCode::GATEWAY_TIMEOUT, "not_ordered", e.to_string())
        }
    }
}

/// The checks an orderer makes before ordering anything: the transaction
/// parses, is for this channel, its id is its creator's, the creator is a
/// member of a channel org allowed to submit, and the signature verifies.
#[allow(clippy::result_large_err)]
fn check(
    config: &ChannelConfig,
    certs: &CertCache,
    envelope: &Envelope,
    now: u64,
) -> Result<TxId, Response> {
    let body = certs.verify(config, &envelope.signer, now).map_err(|e| {
        error(
            StatusCode::FORBIDDEN,
            "bad_creator",
            format!("the creator is refused: {e}"),
        )
    })?;
    if !matches!(body.role, Role::Client | Role::Admin | Role::Peer) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "bad_creator",
            format!(
                "{}@{} is an {}, which may not submit",
                body.name, body.org, body.role
            ),
        ));
    }
    body.public_key
        .verify(
            Domain::Transaction,
            &envelope.payload_digest(),
            &envelope.signature,
        )
        .map_err(|_| {
            error(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                format!(
                    "the signature of {}@{} does not verify over the envelope",
                    body.name, body.org
                ),
            )
        })?;
    let tx = envelope.decode().map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("not a transaction: {e}"),
        )
    })?;
    if tx.header.channel != config.channel {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "wrong_channel",
            format!(
                "the transaction is for channel {:?}, this orderer serves {:?}",
                tx.header.channel, config.channel
            ),
        ));
    }
    if !tx.header.tx_id_matches(&envelope.signer) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_tx_id",
            "the tx id is not sha3-256 of the nonce and the creator's certificate",
        ));
    }
    Ok(tx.header.tx_id)
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
            let line = match consensus.blocks().get(next) {
                Ok(Some(block)) => {
                    let mut json = weft_types::to_json_bytes(&block);
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
