//! The `Forwarder`: gathers the proposals this gateway forwards to the same
//! peer of another org into `POST /v1/endorse/batch` requests, and the
//! handler of that route.
//!
//! `Forwarder::call` queues one proposal (the client's request bytes) for
//! one peer and waits for its own answer. A task per queue takes
//! everything queued — up to [`MAX_BATCH_PROPOSALS`] proposals and
//! [`MAX_BATCH_BODY_BYTES`] — and sends it as one NDJSON request, with up
//! to [`MAX_BATCHES_IN_FLIGHT`] requests at once. Nothing waits on a
//! timer: a lone proposal leaves at once as a batch of one, and what
//! arrives while the requests in flight are answered makes the next
//! batch. An HTTP exchange costs both peers about the same whatever it
//! carries, so under load a forwarded proposal costs a fraction of one.
//!
//! Each peer has two queues, one per `gateway_pushes` value (the batch's,
//! for all its proposals). The batch's `min_height` is the highest its
//! proposals asked for: each asked for the gateway's height when it was
//! queued, so a proposal may wait for a block or two it did not ask for.
//! The answer streams one line per proposal as the peer settles it, in
//! any order: `{"index":i,"status":200,"response":…}` or
//! `{"index":i,"status":4xx/5xx,"error":…}`, `i` the proposal's place in
//! the request, each what `POST /v1/endorse` would have answered it. The
//! lines refused before any work (no simulation turn, malformed) come
//! first, before the catch-up wait; each line goes to its caller as it
//! arrives, so a slow proposal (a long simulation, a slow private-data
//! push) holds back no other's answer. A proposal whose line never comes
//! fails when the answer ends; reading stops once every proposal has its
//! line, or at a line over [`MAX_ANSWER_LINE_BYTES`]. The peer
//! endorses in a task of its own, so a gateway that stops reading holds
//! back none of its simulation turns; one that hangs up cancels them.
//!
//! A peer without the batch route (404: an older version) gets each
//! proposal as its own `POST /v1/endorse` for [`SINGLES_FOR`], then
//! batches are tried again.
//!
//! A queue holds at most [`MAX_QUEUED_PROPOSALS`]; past it a call is
//! answered as the peer's 429 would be, at once (and the org's next peer
//! is tried).
//!
//! **Invariant: a call never waits longer than the endorsement timeout
//! ([`REMOTE_ENDORSE_TIMEOUT_MS`]), its time in the queue included.** Its
//! answer is a oneshot awaited until its deadline; a batch request's own
//! timeout is its earliest deadline, and proposals past theirs are not
//! sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::future::join_all;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use weft_types::ProposalResponse;

use weft_client::batching::{self, Limits, Pause};
use weft_types::ndjson;

use super::Gateway;
use super::api::ProposalRequest;
use super::batch::stream_answer;
use super::endorse::{
    MAX_REMOTE_MESSAGE_BYTES, P2pQuery, REMOTE_ENDORSE_TIMEOUT_MS, catch_up, describe_reqwest,
    endorse_forwarded, truncate,
};
use super::error::{ErrorBody, ErrorCode, GatewayError, RawJson, Stage};

/// Proposals one batch request carries at most; a peer refuses a larger
/// batch whole (413). With two queues per peer and
/// [`MAX_BATCHES_IN_FLIGHT`] each, one gateway's batches in flight take at
/// most half of a peer's [`exec::MAX_QUEUED`](super::exec::MAX_QUEUED)
/// simulation turns.
pub const MAX_BATCH_PROPOSALS: usize = 64;

/// Bytes one batch request carries at most; a single larger proposal (up
/// to the gateway's body limit) goes alone.
pub const MAX_BATCH_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Batch requests of one queue waiting for their answer at once. Few: the
/// fewer, the more each carries (with two, ~2.4 proposals per batch at
/// 1,200 tx/s on the 2-org bench), and the peer runs a batch's proposals
/// side by side anyway.
pub const MAX_BATCHES_IN_FLIGHT: usize = 2;

/// The longest line of a batch answer a gateway reads (one endorsement,
/// with its read/write set).
pub const MAX_ANSWER_LINE_BYTES: usize = super::MAX_BODY_BYTES;

/// Proposals waiting in one queue at most: as many as a peer has
/// simulation turns. With 4,096, under overload (6,000 tx/s offered)
/// proposals waited here instead of meeting the peer's 429, clients saw
/// `overloaded` less and ran into their own in-flight cap more.
pub const MAX_QUEUED_PROPOSALS: usize = 512;

/// How long a peer that answered 404 to a batch gets single requests.
pub const SINGLES_FOR: Duration = Duration::from_secs(60);

/// How a call to another peer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Remote {
    /// The chaincode returned an error there: asking another peer of the
    /// same org would give the same answer.
    Chaincode(String),
    /// The peer failed or refused; another peer may do better.
    Failed(String),
    /// The peer is overloaded (429); another peer may have room.
    Overloaded(String),
}

/// One line of a batch answer.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    /// Which proposal: its place among the request's lines, from 0.
    index: usize,
    status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<ProposalResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody>,
}

/// One proposal waiting for its answer.
struct Pending {
    /// The client's request, one line.
    body: Bytes,
    /// The asking gateway's height when it was queued.
    min_height: u64,
    /// When its caller stops waiting (queued time included).
    deadline: Instant,
    answer: oneshot::Sender<Result<ProposalResponse, Remote>>,
}

/// The queues to one peer: one for each `gateway_pushes`.
struct PeerQueues {
    queues: [mpsc::Sender<Pending>; 2],
    /// On for [`SINGLES_FOR`] once the peer answered 404 to a batch (an
    /// older version): it gets single requests meanwhile.
    singles: Arc<Pause>,
}

/// Gathers forwarded proposals into batch requests, one queue per peer.
/// See the module documentation.
pub(crate) struct Forwarder {
    http: reqwest::Client,
    /// How long a call waits for its answer, queued time included.
    timeout: Duration,
    /// Proposals waiting in one queue at most.
    max_queued: usize,
    peers: Mutex<HashMap<String, Arc<PeerQueues>>>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("peers", &self.peers.lock().len())
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    pub(crate) fn new(http: reqwest::Client) -> Self {
        let timeout = Duration::from_millis(REMOTE_ENDORSE_TIMEOUT_MS);
        Forwarder::with_limits(http, timeout, MAX_QUEUED_PROPOSALS)
    }

    /// A forwarder whose calls wait at most `timeout` and whose queues
    /// hold `max_queued` proposals (at least one).
    pub(crate) fn with_limits(http: reqwest::Client, timeout: Duration, max_queued: usize) -> Self {
        Forwarder {
            http,
            timeout,
            max_queued: max_queued.max(1),
            peers: Mutex::default(),
        }
    }

    /// The answer of the peer at `p2p` (`host:port`) to the proposal
    /// `request` (a client's `ProposalRequest` JSON, already parsed once):
    /// its endorsement, or why there is none, within the forwarder's
    /// timeout. `min_height`: the asking gateway's height, which the peer
    /// commits up to first. `gateway_pushes`: this gateway's peer pushes
    /// the private writes.
    pub(crate) async fn call(
        &self,
        p2p: &str,
        request: &Bytes,
        min_height: u64,
        gateway_pushes: bool,
    ) -> Result<ProposalResponse, Remote> {
        // A blank line would be skipped by the peer and shift every later
        // answer onto the wrong proposal.
        if request.trim_ascii().is_empty() {
            return Err(Remote::Failed("the proposal to forward is empty".into()));
        }
        let peer = self.peer(p2p);
        if peer.singles.on() {
            let (http, timeout) = (&self.http, self.timeout);
            return call_peer(http, p2p, request, min_height, gateway_pushes, timeout).await;
        }
        let deadline = Instant::now() + self.timeout;
        let (answer, answered) = oneshot::channel();
        let pending = Pending {
            body: ndjson::one_line(request),
            min_height,
            deadline,
            answer,
        };
        match peer.queues[usize::from(gateway_pushes)].try_send(pending) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(Remote::Overloaded(format!(
                    "the gateway's queue to it is full ({} proposals); retry later",
                    self.max_queued
                )));
            }
            Err(TrySendError::Closed(_)) => return Err(stopped()),
        }
        match tokio::time::timeout_at(deadline, answered).await {
            Ok(answer) => answer.unwrap_or_else(|_| Err(stopped())),
            Err(_) => Err(Remote::Failed(format!(
                "no answer in time ({} ms, queued time included)",
                self.timeout.as_millis()
            ))),
        }
    }

    /// The queues to `p2p`, started on the caller's runtime the first time.
    fn peer(&self, p2p: &str) -> Arc<PeerQueues> {
        let mut peers = self.peers.lock();
        if let Some(peer) = peers.get(p2p) {
            return peer.clone();
        }
        let singles = Arc::new(Pause::new());
        let limits = Limits {
            in_flight: MAX_BATCHES_IN_FLIGHT,
            items: MAX_BATCH_PROPOSALS,
            bytes: MAX_BATCH_BODY_BYTES,
        };
        let queues = [false, true].map(|gateway_pushes| {
            let target = Arc::new(Target {
                http: self.http.clone(),
                p2p: p2p.to_string(),
                gateway_pushes,
                singles: singles.clone(),
            });
            batching::start(
                self.max_queued,
                limits,
                |p: &Pending| p.body.len(),
                move |batch| {
                    let target = target.clone();
                    async move { send(&target, batch).await }
                },
            )
        });
        let peer = Arc::new(PeerQueues { queues, singles });
        peers.insert(p2p.to_string(), peer.clone());
        peer
    }
}

fn stopped() -> Remote {
    Remote::Failed("the gateway's forwarder stopped before the peer answered".into())
}

/// Where one queue's batches go.
struct Target {
    http: reqwest::Client,
    p2p: String,
    gateway_pushes: bool,
    singles: Arc<Pause>,
}

/// Sends `batch` to its peer as one request and gives each proposal its
/// line of the answer (or the request's failure).
async fn send(target: &Target, mut batch: Vec<Pending>) {
    // Nobody waits for these any more: their client hung up, or their
    // time is up (the caller answered itself).
    let now = Instant::now();
    batch.retain(|p| !p.answer.is_closed() && p.deadline > now);
    let Some(deadline) = batch.iter().map(|p| p.deadline).min() else {
        return;
    };
    if target.singles.on() {
        return send_singly(target, batch).await;
    }
    let min_height = batch.iter().map(|p| p.min_height).max().unwrap_or(0);
    let mut body = Vec::with_capacity(batch.iter().map(|p| p.body.len() + 1).sum());
    for (i, p) in batch.iter().enumerate() {
        if i > 0 {
            body.push(b'\n');
        }
        body.extend_from_slice(&p.body);
    }
    let sent = target
        .http
        .post(format!(
            "http://{}/v1/endorse/batch?min_height={min_height}&gateway_pushes={}",
            target.p2p, target.gateway_pushes
        ))
        .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
        .timeout(deadline.saturating_duration_since(Instant::now()))
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => return settle_all(batch, &Remote::Failed(describe_reqwest(&e))),
    };
    let status = answer.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        // No batch route there: one request per proposal for a while.
        target.singles.start(SINGLES_FOR);
        return send_singly(target, batch).await;
    }
    if !status.is_success() {
        let text = answer.bytes().await.unwrap_or_default();
        return settle_all(batch, &remote_error(status, &text));
    }
    // Lines arrive as the peer settles each proposal, in any order: each
    // goes to its caller at once.
    batching::answer_calls(
        answer,
        batch,
        MAX_ANSWER_LINE_BYTES,
        |p: Pending, line: Result<Line, _>| {
            let result = line.map_err(|e| {
                Remote::Failed(format!(
                    "its batch answer line for the proposal does not parse: {e}"
                ))
            });
            let _ = p.answer.send(result.and_then(line_answer));
        },
        |p, why| {
            let _ = p.answer.send(Err(Remote::Failed(why.to_string())));
        },
    )
    .await;
}

impl batching::Indexed for Line {
    fn index(&self) -> usize {
        self.index
    }
}

/// Each of `batch` as its own `POST /v1/endorse`, side by side.
async fn send_singly(target: &Target, batch: Vec<Pending>) {
    join_all(batch.into_iter().map(|p| async move {
        let timeout = p.deadline.saturating_duration_since(Instant::now());
        let result = call_peer(
            &target.http,
            &target.p2p,
            &p.body,
            p.min_height,
            target.gateway_pushes,
            timeout,
        )
        .await;
        let _ = p.answer.send(result);
    }))
    .await;
}

fn settle_all(batch: Vec<Pending>, why: &Remote) {
    for p in batch {
        let _ = p.answer.send(Err(why.clone()));
    }
}

/// What one line of a batch answer says.
fn line_answer(line: Line) -> Result<ProposalResponse, Remote> {
    let status = StatusCode::from_u16(line.status).unwrap_or(StatusCode::BAD_GATEWAY);
    match (line.response, line.error) {
        (Some(response), None) if status.is_success() => Ok(response),
        (None, Some(error)) if !status.is_success() => Err(refusal(status, error)),
        _ => Err(Remote::Failed(format!(
            "its batch answer has a line with status {status} and no matching body"
        ))),
    }
}

/// The peer's answer to one proposal sent alone (`POST /v1/endorse`).
pub(crate) async fn call_peer(
    http: &reqwest::Client,
    p2p: &str,
    request: &Bytes,
    min_height: u64,
    gateway_pushes: bool,
    timeout: Duration,
) -> Result<ProposalResponse, Remote> {
    let answer = http
        .post(format!(
            "http://{p2p}/v1/endorse?min_height={min_height}&gateway_pushes={gateway_pushes}"
        ))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .timeout(timeout)
        .body(request.clone())
        .send()
        .await
        .map_err(|e| Remote::Failed(describe_reqwest(&e)))?;
    let status = answer.status();
    let body = answer
        .bytes()
        .await
        .map_err(|e| Remote::Failed(format!("its answer could not be read: {e}")))?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|e| Remote::Failed(format!("its answer is not a proposal response: {e}")));
    }
    Err(remote_error(status, &body))
}

/// A refusal answered with `status` and `body` (an [`ErrorBody`], if the
/// peer follows the protocol).
fn remote_error(status: StatusCode, body: &[u8]) -> Remote {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => refusal(status, error),
        Err(_) => Remote::Failed(format!(
            "{status}: {}",
            truncate(&String::from_utf8_lossy(body), MAX_REMOTE_MESSAGE_BYTES)
        )),
    }
}

fn refusal(status: StatusCode, error: ErrorBody) -> Remote {
    if error.code == ErrorCode::ChaincodeError {
        Remote::Chaincode(error.message)
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        Remote::Overloaded(error.message)
    } else {
        Remote::Failed(format!(
            "{status}: {}",
            truncate(&error.message, MAX_REMOTE_MESSAGE_BYTES)
        ))
    }
}

/// `POST /v1/endorse/batch` (peer to peer, no token): NDJSON, one
/// `ProposalRequest` per line; the answer streams one line per proposal
/// as each is settled — the refused first, at once — naming it by its
/// `index`, each what `POST /v1/endorse` would have answered it (see the
/// module documentation). More than [`MAX_BATCH_PROPOSALS`] lines: 413,
/// nothing done. Each proposal takes its own simulation turn: an
/// overloaded peer answers 429 on the lines it has no turn for, before
/// parsing them.
pub(crate) async fn p2p_endorse_batch(
    State(gw): State<Arc<Gateway>>,
    query: Result<axum::extract::Query<P2pQuery>, axum::extract::rejection::QueryRejection>,
    body: RawJson,
) -> Response {
    let lines: Vec<&[u8]> = ndjson::lines(&body.0).collect();
    if lines.len() > MAX_BATCH_PROPOSALS {
        return GatewayError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            Stage::Request,
            format!(
                "a batch carries at most {MAX_BATCH_PROPOSALS} proposals; this one has {}",
                lines.len()
            ),
        )
        .into_response();
    }
    // Each line's turn, then its JSON: what is refused is answered first,
    // without waiting for anything.
    let mut refused = Vec::new();
    let mut admitted = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let checked = gw.executor.admit().and_then(|admission| {
            serde_json::from_slice::<ProposalRequest>(line)
                .map(|request| (admission, request))
                .map_err(|e| GatewayError::malformed(format!("the request body is not valid: {e}")))
        });
        match checked {
            Ok(admitted_line) => admitted.push((index, admitted_line)),
            Err(e) => refused.push(answer_line(index, Err(e))),
        }
    }
    // A garbled query only costs the wait (and the pushes).
    let query = query.map(|q| q.0).unwrap_or_default();
    let gateway_pushes = query.gateway_pushes.unwrap_or(false);
    let endorsements = admitted
        .into_iter()
        .map(|(index, (admission, request))| {
            let gw = gw.clone();
            async move {
                let result = endorse_forwarded(&gw, admission, request, gateway_pushes).await;
                answer_line(index, result)
            }
        })
        .collect();
    let before = async move {
        if let Some(min_height) = query.min_height {
            catch_up(&gw, min_height).await;
        }
    };
    stream_answer(refused, before, endorsements)
}

/// The answer line of proposal `index`, newline included.
fn answer_line(index: usize, result: Result<ProposalResponse, GatewayError>) -> Bytes {
    let line = match result {
        Ok(response) => Line {
            index,
            status: StatusCode::OK.as_u16(),
            response: Some(response),
            error: None,
        },
        Err(e) => Line {
            index,
            status: e.status.as_u16(),
            response: None,
            error: Some(e.body),
        },
    };
    let mut out = serde_json::to_vec(&line).unwrap_or_else(|e| {
        // Not reachable with these types; the line still answers.
        let error =
            GatewayError::internal(Stage::Endorsement, format!("cannot encode the answer: {e}"));
        serde_json::json!({ "index": index, "status": 500, "error": error.body })
            .to_string()
            .into_bytes()
    });
    out.push(b'\n');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    //! The batching and the answers' mapping, against stand-in peers; the
    //! route itself is exercised by every multi-org end-to-end test (each
    //! forwarded proposal goes through it) and by `endorse`'s tests.

    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::routing::post;
    use weft_types::Bytes as Blob;

    use super::*;

    /// What a stand-in peer answers `line`, the batch's `index`th: a
    /// refusal by the chaincode if it mentions "refuse", 429 if "busy",
    /// else a response whose payload is the line.
    fn stand_in_answer(index: usize, line: &[u8]) -> Line {
        let text = String::from_utf8_lossy(line).into_owned();
        let refused = |status: StatusCode, code| Line {
            index,
            status: status.as_u16(),
            response: None,
            error: Some(ErrorBody {
                code,
                message: text.clone(),
                stage: Stage::Endorsement,
                org: None,
                validation_code: None,
            }),
        };
        if text.contains("refuse") {
            refused(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ChaincodeError)
        } else if text.contains("busy") {
            refused(StatusCode::TOO_MANY_REQUESTS, ErrorCode::Overloaded)
        } else {
            Line {
                index,
                status: 200,
                response: Some(ProposalResponse {
                    payload: Blob(line.to_vec()),
                    rwset: Blob::default(),
                    endorsement: None,
                }),
                error: None,
            }
        }
    }

    /// Requests a stand-in peer received: batches, proposals in them, and
    /// single requests; and each batch's query with its proposals' `n`.
    #[derive(Default)]
    struct Seen {
        batches: AtomicUsize,
        proposals: AtomicUsize,
        singles: AtomicUsize,
        queries: Mutex<Vec<(P2pQuery, Vec<u64>)>>,
    }

    /// A stand-in peer answering after `delay`, with the batch route or
    /// without (an older version); its batch answers come last line first,
    /// and `drop_last` leaves the last proposal's line out.
    async fn peer(batch_route: bool, drop_last: bool, delay: Duration) -> (String, Arc<Seen>) {
        let seen = Arc::new(Seen::default());
        let (on_batch, on_single) = (seen.clone(), seen.clone());
        let mut app = axum::Router::new().route(
            "/v1/endorse",
            post(move |body: Bytes| async move {
                on_single.singles.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let line = stand_in_answer(0, &body);
                let status = StatusCode::from_u16(line.status).unwrap();
                match (line.response, line.error) {
                    (Some(r), _) => (status, axum::Json(serde_json::to_value(r).unwrap())),
                    (_, Some(e)) => (status, axum::Json(serde_json::to_value(e).unwrap())),
                    _ => unreachable!(),
                }
            }),
        );
        if batch_route {
            app = app.route(
                "/v1/endorse/batch",
                post(
                    move |query: axum::extract::Query<P2pQuery>, body: Bytes| async move {
                        on_batch.batches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(delay).await;
                        let mut lines: Vec<&[u8]> = ndjson::lines(&body).collect();
                        on_batch.proposals.fetch_add(lines.len(), Ordering::SeqCst);
                        let ns = lines
                            .iter()
                            .map(|l| {
                                serde_json::from_slice::<serde_json::Value>(l).unwrap()["n"]
                                    .as_u64()
                                    .unwrap()
                            })
                            .collect();
                        on_batch.queries.lock().push((query.0, ns));
                        if drop_last {
                            lines.pop();
                        }
                        // Last first: answers are matched by index, not order.
                        let mut out = Vec::new();
                        for (index, line) in lines.into_iter().enumerate().rev() {
                            serde_json::to_writer(&mut out, &stand_in_answer(index, line)).unwrap();
                            out.push(b'\n');
                        }
                        out
                    },
                ),
            );
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (addr, seen)
    }

    /// `n` concurrent calls to `p2p`; call `i` sends `{"n":i}` plus
    /// `extra(i)`, with `min_height` `i` and `gateway_pushes` unless `i` is
    /// a multiple of 3.
    async fn calls(
        forwarder: &Forwarder,
        p2p: &str,
        n: usize,
        extra: impl Fn(usize) -> &'static str,
    ) -> Vec<(Bytes, Result<ProposalResponse, Remote>)> {
        let requests: Vec<Bytes> = (0..n)
            .map(|i| Bytes::from(format!("{{\"n\":{i}{}}}", extra(i))))
            .collect();
        let answers = join_all(
            requests
                .iter()
                .enumerate()
                .map(|(i, r)| forwarder.call(p2p, r, i as u64, i % 3 != 0)),
        )
        .await;
        requests.into_iter().zip(answers).collect()
    }

    fn expect_own_answers(answers: &[(Bytes, Result<ProposalResponse, Remote>)]) {
        for (request, answer) in answers {
            let text = String::from_utf8_lossy(request).into_owned();
            match answer {
                Ok(r) => assert_eq!(r.payload.0, request.to_vec(), "{text}"),
                Err(Remote::Chaincode(m)) => {
                    assert!(text.contains("refuse") && *m == text, "{text}: {m}")
                }
                Err(Remote::Overloaded(m)) => {
                    assert!(text.contains("busy") && *m == text, "{text}: {m}")
                }
                Err(e) => panic!("{text}: {e:?}"),
            }
        }
    }

    fn mixed(i: usize) -> &'static str {
        match i % 5 {
            0 => r#","what":"refuse""#,
            1 => r#","what":"busy""#,
            _ => "",
        }
    }

    #[tokio::test]
    async fn concurrent_proposals_share_requests_and_each_gets_its_own_answer() {
        let (p2p, seen) = peer(true, false, Duration::from_millis(50)).await;
        let forwarder = Forwarder::new(reqwest::Client::new());
        let answers = calls(&forwarder, &p2p, 200, mixed).await;
        expect_own_answers(&answers);
        let batches = seen.batches.load(Ordering::SeqCst);
        assert_eq!(seen.proposals.load(Ordering::SeqCst), 200);
        // At most MAX_BATCH_PROPOSALS each: two at the fewest.
        assert!((4..=20).contains(&batches), "{batches} batches");
        assert_eq!(seen.singles.load(Ordering::SeqCst), 0);
        // Each batch: the highest height its proposals asked for, and one
        // gateway_pushes value, theirs.
        for (query, ns) in seen.queries.lock().iter() {
            assert!(ns.len() <= MAX_BATCH_PROPOSALS);
            assert_eq!(query.min_height, ns.iter().copied().max());
            let pushes = query.gateway_pushes.unwrap();
            assert!(ns.iter().all(|n| (n % 3 != 0) == pushes), "{ns:?}");
        }
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_a_silent_peer_costs_only_the_timeout() {
        // A peer that takes requests and never answers.
        let app = axum::Router::new().route("/v1/endorse/batch", post(std::future::pending::<()>));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let p2p = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let timeout = Duration::from_millis(300);
        let forwarder = Forwarder::with_limits(reqwest::Client::new(), timeout, 4);
        let started = Instant::now();
        // All queued before the queue's task runs: 4 fit (gateway_pushes
        // true: i not a multiple of 3), the rest are refused at once.
        let answers = calls(&forwarder, &p2p, 9, |_| "").await;
        let overloaded = answers
            .iter()
            .filter(|(_, a)| matches!(a, Err(Remote::Overloaded(m)) if m.contains("full (4 proposals)")))
            .count();
        let timed_out = answers
            .iter()
            .filter(|(_, a)| matches!(a, Err(Remote::Failed(m)) if m.contains("no answer in time")))
            .count();
        assert_eq!((overloaded, timed_out), (2, 7), "{answers:?}");
        let waited = started.elapsed();
        assert!(waited >= timeout && waited < timeout * 10, "{waited:?}");
    }

    #[tokio::test]
    async fn a_peer_without_the_batch_route_gets_single_requests() {
        let (p2p, seen) = peer(false, false, Duration::ZERO).await;
        let forwarder = Forwarder::new(reqwest::Client::new());
        let answers = calls(&forwarder, &p2p, 20, mixed).await;
        expect_own_answers(&answers);
        assert_eq!(seen.singles.load(Ordering::SeqCst), 20);
        // From then on, straight to single requests.
        let answers = calls(&forwarder, &p2p, 3, mixed).await;
        expect_own_answers(&answers);
        assert_eq!(seen.singles.load(Ordering::SeqCst), 23);
    }

    #[tokio::test]
    async fn a_missing_line_or_an_unreachable_peer_fails_only_the_proposals_concerned() {
        let (p2p, _) = peer(true, true, Duration::ZERO).await;
        let forwarder = Forwarder::new(reqwest::Client::new());
        let answers = calls(&forwarder, &p2p, 30, |_| "").await;
        let missing = answers
            .iter()
            .filter(
                |(_, a)| matches!(a, Err(Remote::Failed(m)) if m.contains("has no line for it")),
            )
            .count();
        let batches = answers.len() - answers.iter().filter(|(_, a)| a.is_ok()).count();
        assert!(missing >= 1 && missing == batches, "{answers:?}");
        expect_own_answers(
            &answers
                .into_iter()
                .filter(|(_, a)| a.is_ok())
                .collect::<Vec<_>>(),
        );

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gone = listener.local_addr().unwrap().to_string();
        drop(listener);
        for (_, answer) in calls(&forwarder, &gone, 3, |_| "").await {
            assert!(
                matches!(&answer, Err(Remote::Failed(m)) if m.contains("cannot connect")),
                "{answer:?}"
            );
        }
    }

    #[tokio::test]
    async fn answer_lines_split_anywhere_a_stray_index_and_a_line_that_does_not_parse() {
        // One byte per chunk, for three proposals: an index out of range, a
        // line for proposal 0 that does not parse, proposal 1's answer
        // without its newline; none for proposal 2.
        let good = serde_json::to_string(&stand_in_answer(1, br#"{"n":1}"#)).unwrap();
        let body =
            format!("{{\"index\":9,\"status\":200}}\n{{\"index\":0,\"status\":\"no\"}}\n{good}");
        let app = axum::Router::new().route(
            "/v1/endorse/batch",
            post(move || {
                let bytes: Vec<Result<Bytes, std::convert::Infallible>> = body
                    .clone()
                    .into_bytes()
                    .into_iter()
                    .map(|b| Ok(Bytes::from(vec![b])))
                    .collect();
                async move { axum::body::Body::from_stream(futures::stream::iter(bytes)) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let p2p = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let forwarder = Forwarder::new(reqwest::Client::new());
        let requests = [0, 1, 2].map(|n| Bytes::from(format!("{{\"n\":{n}}}")));
        let (a, b, c) = tokio::join!(
            forwarder.call(&p2p, &requests[0], 0, true),
            forwarder.call(&p2p, &requests[1], 0, true),
            forwarder.call(&p2p, &requests[2], 0, true)
        );
        assert!(
            matches!(&a, Err(Remote::Failed(m)) if m.contains("does not parse")),
            "{a:?}"
        );
        assert_eq!(b.unwrap().payload.0, requests[1].to_vec());
        assert!(
            matches!(&c, Err(Remote::Failed(m)) if m.contains("no line for it")),
            "{c:?}"
        );
    }
}
