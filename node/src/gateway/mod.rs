//! The peer's gateway: the REST API of `docs/gateway-api.md` (axum), and
//! the peer-to-peer endpoint other gateways ask for endorsements.
//!
//! [`Gateway`] holds what the handlers share: the peer's identity (it signs
//! session tokens), its [`Committer`] (ledger, channel configuration,
//! commit events) and its [`Endorser`]. [`router`] is the client API
//! (serve it on the peer's `gateway_listen`), [`p2p_router`] the
//! peer-to-peer one (on `p2p_listen`):
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use weft_node::{committer::Committer, endorser::Endorser, gateway};
//! # async fn serve(identity: weft_types::Identity, committer: Arc<Committer>,
//! #                endorser: Arc<Endorser>) -> Result<(), Box<dyn std::error::Error>> {
//! // Inside a tokio runtime: the gateway starts a task counting commits for /metrics.
//! let gw = gateway::Gateway::new(identity, committer, endorser)?;
//! let api = tokio::net::TcpListener::bind("127.0.0.1:7051").await?;
//! let p2p = tokio::net::TcpListener::bind("127.0.0.1:7052").await?;
//! tokio::try_join!(
//!     axum::serve(api, gateway::router(gw.clone())).into_future(),
//!     axum::serve(p2p, gateway::p2p_router(gw)).into_future(),
//! )?;
//! # Ok(()) }
//! ```
//!
//! Files: `auth.rs` (challenges, tokens, the token check), `batch.rs`
//! (`POST /v1/batch`, and the streamed answer of both batch routes), `endorse.rs`
//! (evaluate, endorse across orgs, the peer-to-peer endorse), `forward.rs`
//! (proposals forwarded to other orgs' peers in batches), `private.rs`
//! (private data pushed to and pulled from member peers), `plan.rs`
//! (which orgs a policy needs; pure), `submit.rs` (orderers, commit
//! waits), `reads.rs` (ledger reads, health), `events.rs` and `replay.rs`
//! (server-sent events), `metrics.rs`, `openapi.rs`, `error.rs` (the error
//! shape, extractors), `exec.rs` (chaincode threads), `api.rs` (bodies).
//!
//! **Invariant: the gateway never changes committed state.** It reads the
//! ledger, asks the endorser (which signs, never writes) and the orderers;
//! only the committer writes blocks. The only ledger writes here are
//! private data: the transient store (writes waiting for their
//! transaction) and reconciled values, each checked against the hash a
//! committed transaction named. **Invariant: no input makes a handler panic**;
//! every failure is an [`ErrorBody`] with its status.
//!
//! Proposal signatures (of evaluate, endorse and the peer-to-peer endorse)
//! are verified in batches across concurrent requests by the gateway's
//! [`SigBatcher`], then simulated on the
//! executor.
//!
//! Limits: request bodies [`MAX_BODY_BYTES`]; calls per batch
//! [`batch::MAX_BATCH_CALLS`]; signatures (proposals', other
//! orgs' endorsements) waiting
//! to be verified [`endorser::MAX_QUEUED_CHECKS`](crate::endorser::MAX_QUEUED_CHECKS);
//! simulations running or waiting [`exec::MAX_QUEUED`]; envelopes waiting for the orderers
//! [`broadcaster::MAX_QUEUED_ENVELOPES`]; event streams [`events::MAX_EVENT_STREAMS`];
//! outstanding challenges [`auth::MAX_CHALLENGES`]; waits
//! [`submit::MAX_WAIT_MS`]; calls to peers and orderers
//! [`endorse::REMOTE_ENDORSE_TIMEOUT_MS`], [`submit::ORDERER_TIMEOUT_MS`].

mod api;
pub mod auth;
pub mod batch;
pub mod broadcaster;
mod commit_wait;
pub mod endorse;
mod error;
pub mod events;
pub mod exec;
pub mod forward;
mod metrics;
mod openapi;
mod plan;
pub mod private;
mod reads;
mod replay;
pub mod submit;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension};
use axum::middleware;
use axum::routing::post;
use tokio::sync::Semaphore;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weft_types::Identity;

use crate::committer::Committer;
use crate::endorser::{Endorser, SigBatcher};

pub use api::{
    BlockEventView, BlocksQuery, ChaincodeEventView, ChaincodeEventsQuery, ChaincodeResponse,
    ChallengeResponse, EndorseResponse, Health, ProposalRequest, StatusQuery, SubmitQuery,
    SubmitResponse, TokenRequest, TokenResponse, TxEventView, TxRecord, TxStatus,
};
pub use auth::Session;
pub use error::{ErrorBody, ErrorCode, OVERLOAD_HOLD_MS, Stage};
pub use openapi::document as openapi_document;

/// The largest request body accepted, in bytes; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How long the gateway waits to connect to a peer or an orderer.
const CONNECT_TIMEOUT_MS: u64 = 2_000;

/// Why a [`Gateway`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The peer's key cannot be used to sign tokens.
    #[error("the peer's key cannot sign session tokens: {0}")]
    Key(String),
    /// The HTTP client for peers and orderers cannot be built.
    #[error("the HTTP client cannot be built: {0}")]
    Http(String),
}

/// The clock the gateway reads: unix milliseconds.
type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// What the gateway's handlers share. Cheap to share: hand
/// `Arc<Gateway>` to [`router`] and [`p2p_router`].
pub struct Gateway {
    identity: Identity,
    /// This peer, `name@org`: the tokens' issuer.
    peer: String,
    committer: Arc<Committer>,
    endorser: Arc<Endorser>,
    /// Verifies the signatures of concurrent proposals in batches.
    signatures: SigBatcher,
    tokens: auth::TokenKeys,
    challenges: auth::Challenges,
    http: reqwest::Client,
    broadcaster: broadcaster::Broadcaster,
    /// Gathers the proposals forwarded to other orgs' peers into batches.
    forwarder: forward::Forwarder,
    executor: exec::Executor,
    /// Submissions received and not answered yet (see
    /// [`submit::MAX_PENDING_SUBMITS`]).
    pending_submits: submit::PendingSubmits,
    /// Requests waiting for their transaction's commit.
    commit_waiters: Arc<commit_wait::CommitWaiters>,
    streams: Arc<Semaphore>,
    metrics: Arc<metrics::Metrics>,
    clock: Clock,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

fn system_clock_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Gateway {
    /// A gateway for the peer `identity` (which signs session tokens; the
    /// endorser's identity, normally the same), over its committer and
    /// endorser, reading the system clock.
    ///
    /// Called inside a tokio runtime, it starts a task that counts
    /// committed transactions for `/metrics` (outside one, that counter
    /// stays at zero).
    pub fn new(
        identity: Identity,
        committer: Arc<Committer>,
        endorser: Arc<Endorser>,
    ) -> Result<Arc<Gateway>, SetupError> {
        Gateway::with_clock(identity, committer, endorser, system_clock_ms)
    }

    /// [`Gateway::new`] with another clock (unix milliseconds) for
    /// challenges, tokens and certificate checks: for tests.
    pub fn with_clock(
        identity: Identity,
        committer: Arc<Committer>,
        endorser: Arc<Endorser>,
        clock: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Result<Arc<Gateway>, SetupError> {
        let peer = format!("{}@{}", identity.name(), identity.org());
        let tokens = auth::TokenKeys::new(&identity, peer.clone())?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
            .build()
            .map_err(|e| SetupError::Http(e.to_string()))?;
        let metrics = Arc::new(metrics::Metrics::default());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(metrics::count_commits(
                metrics.clone(),
                Arc::downgrade(&committer),
                committer.subscribe(),
                committer.height(),
            ));
        }
        let gw = Arc::new(Gateway {
            broadcaster: broadcaster::Broadcaster::for_channel(
                http.clone(),
                committer.config().clone(),
            ),
            forwarder: forward::Forwarder::new(http.clone()),
            executor: exec::Executor::new(endorser.required_stack_bytes()),
            pending_submits: submit::PendingSubmits::default(),
            commit_waiters: Arc::default(),
            identity,
            peer,
            committer,
            endorser,
            signatures: SigBatcher::new(),
            tokens,
            challenges: auth::Challenges::default(),
            http,
            streams: Arc::new(Semaphore::new(events::MAX_EVENT_STREAMS)),
            metrics,
            clock: Arc::new(clock),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(private::reconcile(Arc::downgrade(&gw)));
        }
        Ok(gw)
    }

    /// This peer, `name@org`.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    fn now_ms(&self) -> u64 {
        (self.clock)()
    }
}

/// Every client route with its OpenAPI annotation: the routes needing a
/// token behind the token check, the others open.
fn api_routes() -> OpenApiRouter<Arc<Gateway>> {
    let open = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(auth::challenge))
        .routes(routes!(auth::token))
        .routes(routes!(reads::healthz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi::openapi_json));
    let protected = OpenApiRouter::new()
        .routes(routes!(endorse::evaluate))
        .routes(routes!(endorse::endorse))
        .routes(routes!(submit::submit))
        .routes(routes!(batch::batch))
        .routes(routes!(submit::status))
        .routes(routes!(reads::transaction))
        .routes(routes!(reads::block))
        .routes(routes!(reads::chaincodes))
        .routes(routes!(reads::chaincode))
        .routes(routes!(events::blocks))
        .routes(routes!(events::chaincode))
        .route_layer(middleware::from_fn(auth::require_token));
    open.merge(protected)
}

/// The client API (`docs/gateway-api.md`), for the peer's `gateway_listen`.
pub fn router(gw: Arc<Gateway>) -> Router {
    let (routes, _) = api_routes().split_for_parts();
    // A batch's calls go through the same routes and layers; its lines
    // name only single routes, so it never reaches itself.
    let singles = batch::Singles(finish(routes.clone(), gw.clone(), ""));
    finish(routes, gw, "").layer(Extension(singles))
}

/// The peer-to-peer API (`POST /v1/endorse` and `/v1/endorse/batch`,
/// private data pushes and pulls; no token), for the peer's
/// `p2p_listen`.
pub fn p2p_router(gw: Arc<Gateway>) -> Router {
    finish(
        Router::new()
            .route("/v1/endorse", post(endorse::p2p_endorse))
            .route("/v1/endorse/batch", post(forward::p2p_endorse_batch))
            .route("/v1/private/push", post(private::push))
            .route("/v1/private/pull", post(private::pull)),
        gw,
        "p2p ",
    )
}

/// The layers every route gets, innermost first: the gateway for the
/// token check, the body limit, JSON errors, then metrics around it all
/// (route labels prefixed with `metrics_prefix`).
fn finish(routes: Router<Arc<Gateway>>, gw: Arc<Gateway>, metrics_prefix: &'static str) -> Router {
    routes
        .fallback(error::no_route)
        .layer(Extension(gw.clone()))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response(error::json_errors))
        .layer(middleware::from_fn_with_state(
            metrics::Tracker {
                metrics: gw.metrics.clone(),
                prefix: metrics_prefix,
            },
            metrics::track,
        ))
        .with_state(gw)
}
