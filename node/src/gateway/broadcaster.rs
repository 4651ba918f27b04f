//! The `Broadcaster`: gathers concurrent submissions into
//! `POST /v1/broadcast/batch` requests to the orderers.
//!
//! `Broadcaster::submit` queues one encoded envelope and waits for its
//! own answer. A task (started by the first submit, on its runtime) takes
//! everything queued — up to [`MAX_BATCH_ENVELOPES`] envelopes and
//! [`MAX_BATCH_BODY_BYTES`] — and sends it as one NDJSON request, with up
//! to [`MAX_BATCHES_IN_FLIGHT`] requests at once. Nothing waits on a timer:
//! a lone envelope leaves at once as a batch of one, and what arrives while
//! the requests in flight are answered makes the next batch.
//!
//! Each envelope gets exactly the answer one `POST /v1/broadcast` would
//! have given it: the orderers are tried in the channel's order; a whole
//! request that fails (no connection, no answer within
//! [`ORDERER_TIMEOUT_MS`], 5xx) goes to the next orderer; a whole request
//! refused (4xx) refuses each envelope; a line's own 5xx sends that
//! envelope on to the next orderer with the others the orderer failed. The
//! meaning of each status is `orderer_verdict`'s, in `submit.rs`.
//!
//! An orderer names the Raft leader it knows of in its answer
//! ([`weft_types::ORDERER_LEADER_HEADER`]); later batches go to that
//! orderer first, so a follower does not check and forward each of them
//! again. If the leader fails to take a batch, the hint is dropped and
//! hints are ignored for [`LEADER_HINT_PAUSE`]: the channel's order
//! applies, so an unreachable leader costs one failed attempt, not one per
//! batch.
//!
//! The queue holds at most [`MAX_QUEUED_ENVELOPES`] and
//! [`MAX_QUEUED_BYTES`]; past either, a submit is answered 429
//! `overloaded` at once instead of waiting.
//!
//! **Invariant: a submit never hangs on the broadcaster.** Its answer is a
//! oneshot; if the task holding it stops (the runtime shut down, a panic),
//! the submit gets a 500 at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use parking_lot::Mutex;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use weft_client::batching::{self, Limits, Pause};
use weft_types::ChannelConfig;

use super::endorse::{describe_reqwest, truncate};
use super::error::{ErrorCode, GatewayError, Stage};
use super::submit::{
    Failure, ORDERER_TIMEOUT_MS, Verdict, all_failed, orderer_error, orderer_verdict,
};
use crate::channel::ConfigHandle;

/// Envelopes one batch request carries at most (the orderer's `MAX_BATCH`).
pub const MAX_BATCH_ENVELOPES: usize = 2048;

/// Bytes of envelopes one batch request carries at most; a single larger
/// envelope (up to the gateway's body limit) goes alone. Well under the
/// orderer's 32 MiB batch body limit.
pub const MAX_BATCH_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Batch requests waiting for their answer at once.
pub const MAX_BATCHES_IN_FLIGHT: usize = 4;

/// Envelopes waiting for a batch at most; past it, submits are answered
/// 429 `overloaded` at once.
pub const MAX_QUEUED_ENVELOPES: usize = 64 * 1024;

/// Bytes of envelopes waiting for a batch at most; past it, submits are
/// answered 429 `overloaded` at once.
pub const MAX_QUEUED_BYTES: usize = 256 * 1024 * 1024;

/// How long leader hints are ignored after the hinted leader failed.
pub const LEADER_HINT_PAUSE: Duration = Duration::from_secs(5);

/// An orderer to send batches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Orderer {
    /// Its Raft id, as the leader hint names it.
    pub(crate) id: u64,
    /// How errors name it: `name@org (host:port)`.
    pub(crate) who: String,
    /// `host:port` of its API.
    pub(crate) api: String,
}

/// The orderers to try, in order; read again for every batch, as the
/// channel configuration may change.
pub(crate) type Orderers = Arc<dyn Fn() -> Vec<Orderer> + Send + Sync>;

/// The channel's orderers, in its configuration's order.
fn channel_orderers(config: &ChannelConfig) -> Vec<Orderer> {
    config
        .orderers
        .iter()
        .map(|o| Orderer {
            id: o.id,
            who: format!("{}@{} ({})", o.name, o.org, o.api),
            api: o.api.clone(),
        })
        .collect()
}

/// One envelope waiting for its answer.
struct Pending {
    /// The envelope's JSON: one line, not empty.
    body: Bytes,
    answer: oneshot::Sender<Result<(), GatewayError>>,
    /// The orderers that failed to take it so far, and why.
    failures: Vec<Failure>,
}

impl Pending {
    fn settle(self, result: Result<(), GatewayError>) {
        // A submitter that went away (its client hung up) needs no answer.
        let _ = self.answer.send(result);
    }
}

/// What the queue and the batches share.
struct Shared {
    http: reqwest::Client,
    orderers: Orderers,
    /// Bytes of envelopes in the queue (counted against [`MAX_QUEUED_BYTES`]).
    queued_bytes: AtomicUsize,
    /// The leader the last answer named (0: none known).
    leader: AtomicU64,
    /// On while hints are ignored.
    hints_paused: Pause,
}

impl Shared {
    /// Takes `leader` as where to send first, unless hints are paused.
    fn hint(&self, leader: u64) {
        if !self.hints_paused.on() {
            self.leader.store(leader, Ordering::Relaxed);
        }
    }

    /// `orderer` failed to take a batch: if it was the hinted leader, drop
    /// the hint and pause hints.
    fn failed(&self, orderer: u64) {
        if self
            .leader
            .compare_exchange(orderer, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.hints_paused.start(LEADER_HINT_PAUSE);
        }
    }
}

/// Gathers submissions into batch requests to the orderers. See the
/// module documentation.
pub(crate) struct Broadcaster {
    queue: mpsc::Sender<Pending>,
    /// The queue's other end, until the task draining it starts.
    idle: Mutex<Option<mpsc::Receiver<Pending>>>,
    started: AtomicBool,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Broadcaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcaster")
            .field("started", &self.started.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Broadcaster {
    /// A broadcaster to the orderers of the channel configuration in force.
    pub(crate) fn for_channel(http: reqwest::Client, config: ConfigHandle) -> Self {
        let orderers: Orderers = Arc::new(move || channel_orderers(&config.current()));
        Broadcaster::new(http, orderers, MAX_QUEUED_ENVELOPES)
    }

    /// A broadcaster to `orderers` through `http`, queueing up to
    /// `max_queued_envelopes` (at least one).
    pub(crate) fn new(
        http: reqwest::Client,
        orderers: Orderers,
        max_queued_envelopes: usize,
    ) -> Self {
        let (queue, idle) = mpsc::channel(max_queued_envelopes.max(1));
        Broadcaster {
            queue,
            idle: Mutex::new(Some(idle)),
            started: AtomicBool::new(false),
            shared: Arc::new(Shared {
                http,
                orderers,
                queued_bytes: AtomicUsize::new(0),
                leader: AtomicU64::new(0),
                hints_paused: Pause::new(),
            }),
        }
    }

    /// Gets the envelope `body` (its JSON, one line) ordered: resolves
    /// once an orderer ordered it, or with the error the client gets: the
    /// orderer's refusal, 429 when the queue is full, 502/503 when no
    /// orderer took it, 500 when the broadcaster stopped.
    pub(crate) async fn submit(&self, body: impl Into<Bytes>) -> Result<(), GatewayError> {
        let body = body.into();
        // The orderer splits the batch at newlines and skips blank lines:
        // either would misalign its answers with the envelopes.
        if body.trim_ascii().is_empty() || body.contains(&b'\n') {
            return Err(GatewayError::internal(
                Stage::Ordering,
                "the encoded envelope is empty or spans several lines",
            ));
        }
        self.start()?;
        let size = body.len();
        let queued = self.shared.queued_bytes.fetch_add(size, Ordering::AcqRel);
        if queued.saturating_add(size) > MAX_QUEUED_BYTES {
            self.shared.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            return Err(queue_full(format!("{MAX_QUEUED_BYTES} bytes")));
        }
        let (answer, answered) = oneshot::channel();
        let pending = Pending {
            body,
            answer,
            failures: Vec::new(),
        };
        if let Err(e) = self.queue.try_send(pending) {
            self.shared.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            return Err(match e {
                TrySendError::Full(_) => {
                    queue_full(format!("{} envelopes", self.queue.max_capacity()))
                }
                TrySendError::Closed(_) => stopped(),
            });
        }
        answered.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Starts the task draining the queue, on the caller's runtime, once.
    fn start(&self) -> Result<(), GatewayError> {
        if self.started.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut idle = self.idle.lock();
        if let Some(queue) = idle.take() {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                *idle = Some(queue);
                return Err(GatewayError::internal(
                    Stage::Ordering,
                    "the broadcaster needs a tokio runtime",
                ));
            };
            let shared = self.shared.clone();
            let counted = self.shared.clone();
            runtime.spawn(batching::drain(
                queue,
                Limits {
                    in_flight: MAX_BATCHES_IN_FLIGHT,
                    items: MAX_BATCH_ENVELOPES,
                    bytes: MAX_BATCH_BODY_BYTES,
                },
                |p: &Pending| p.body.len(),
                // No longer counted in the queue.
                move |p: &Pending| {
                    counted
                        .queued_bytes
                        .fetch_sub(p.body.len(), Ordering::AcqRel);
                },
                move |batch| {
                    let shared = shared.clone();
                    async move { send(&shared, batch).await }
                },
            ));
        }
        self.started.store(true, Ordering::Release);
        Ok(())
    }
}

/// 429 `overloaded`: the queue to the orderers holds `limit` already.
fn queue_full(limit: String) -> GatewayError {
    GatewayError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Overloaded,
        Stage::Ordering,
        format!("the gateway's queue to the orderers is full ({limit}); retry later"),
    )
}

/// 500: the broadcaster's task is gone.
fn stopped() -> GatewayError {
    GatewayError::internal(
        Stage::Ordering,
        "the gateway's broadcaster stopped before the envelope was ordered",
    )
}

/// Sends `batch` to the orderers in turn until each envelope is settled;
/// those no orderer took get the error listing why each failed.
async fn send(shared: &Shared, mut batch: Vec<Pending>) {
    // Nobody waits for these any more; a single request would not have
    // been sent either once its client hung up.
    batch.retain(|p| !p.answer.is_closed());
    let mut orderers = (shared.orderers)();
    let leader = shared.leader.load(Ordering::Relaxed);
    if let Some(at) = orderers.iter().position(|o| o.id == leader) {
        orderers[..=at].rotate_right(1);
    }
    for orderer in &orderers {
        if batch.is_empty() {
            return;
        }
        batch = send_to(shared, orderer, batch).await;
        if !batch.is_empty() {
            shared.failed(orderer.id);
        }
    }
    for p in batch {
        let error = all_failed(&p.failures, orderers.is_empty());
        p.settle(Err(error));
    }
}

/// Sends `batch` to `orderer` as one request and settles the envelopes it
/// ordered or refused; returns those it failed, each with why.
async fn send_to(shared: &Shared, orderer: &Orderer, batch: Vec<Pending>) -> Vec<Pending> {
    let mut body = Vec::with_capacity(batch.iter().map(|p| p.body.len() + 1).sum());
    for p in &batch {
        body.extend_from_slice(&p.body);
        body.push(b'\n');
    }
    let sent = shared
        .http
        .post(format!("http://{}/v1/broadcast/batch", orderer.api))
        .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
        .timeout(Duration::from_millis(ORDERER_TIMEOUT_MS))
        .body(body)
        .send()
        .await;
    let unreachable = |why: String| Failure {
        who: orderer.who.clone(),
        unreachable: true,
        why,
    };
    let answer = match sent {
        Ok(a) => a,
        Err(e) => return failed(batch, &unreachable(describe_reqwest(&e))),
    };
    let status = answer.status();
    if let Some(leader) = answer
        .headers()
        .get(weft_types::ORDERER_LEADER_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        shared.hint(leader);
    }
    if !status.is_success() {
        let text = answer.bytes().await.unwrap_or_default();
        let (code, message) = orderer_error(&text);
        return match orderer_verdict(status, code.as_deref(), &message, &orderer.who) {
            Verdict::Refused(error) => {
                for p in batch {
                    p.settle(Err(error.clone()));
                }
                Vec::new()
            }
            Verdict::Failed(failure) => failed(batch, &failure),
        };
    }
    let text = match answer.bytes().await {
        Ok(t) => t,
        Err(e) => {
            let why = format!("its answer could not be read: {}", describe_reqwest(&e));
            return failed(batch, &unreachable(why));
        }
    };
    let mut lines = weft_types::ndjson::lines(&text);
    let mut next = Vec::new();
    for mut p in batch {
        match line_verdict(lines.next(), &orderer.who) {
            None => p.settle(Ok(())),
            Some(Verdict::Refused(error)) => p.settle(Err(error)),
            Some(Verdict::Failed(failure)) => {
                p.failures.push(failure);
                next.push(p);
            }
        }
    }
    next
}

/// `batch`, each envelope having failed at one orderer for the same reason.
fn failed(mut batch: Vec<Pending>, failure: &Failure) -> Vec<Pending> {
    for p in &mut batch {
        p.failures.push(failure.clone());
    }
    batch
}

/// What one line of `who`'s batch answer means: `None` when the envelope
/// was ordered. A missing or unreadable line counts as the orderer failing
/// for that envelope.
fn line_verdict(line: Option<&[u8]>, who: &str) -> Option<Verdict> {
    #[derive(serde::Deserialize)]
    struct Line {
        status: u16,
    }
    let Some(line) = line else {
        return Some(bad_answer(who, "it has no line for the envelope"));
    };
    let status = serde_json::from_slice::<Line>(line)
        .ok()
        .and_then(|l| StatusCode::from_u16(l.status).ok());
    let Some(status) = status else {
        let text = truncate(&String::from_utf8_lossy(line), 256);
        return Some(bad_answer(who, &format!("its line {text:?} has no status")));
    };
    if status.is_success() {
        return None;
    }
    let (code, message) = orderer_error(line);
    Some(orderer_verdict(status, code.as_deref(), &message, who))
}

/// `who` answered 200 but not one line per envelope.
fn bad_answer(who: &str, why: &str) -> Verdict {
    Verdict::Failed(Failure {
        who: who.to_string(),
        unreachable: false,
        why: format!("a batch answer that does not follow the protocol: {why}"),
    })
}

#[cfg(test)]
mod tests {
    //! What the gateway tests (`tests/gateway_broadcast.rs`) cannot reach
    //! through HTTP: the batch limits, the queue bound and a stopped task.

    use std::sync::atomic::AtomicU64;

    use super::*;

    const LINE: &[u8] = br#"{"envelope":1}"#;
    const PATIENCE: Duration = Duration::from_secs(10);

    /// An orderer that counts the requests it receives and never answers.
    async fn silent_orderer() -> (Orderers, Arc<AtomicU64>) {
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let app = axum::Router::new().route(
            "/v1/broadcast/batch",
            axum::routing::post(move || async move {
                counter.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let orderer = Orderer {
            id: 1,
            who: format!("silent ({api})"),
            api,
        };
        (Arc::new(move || vec![orderer.clone()]), received)
    }

    /// An orderer (Raft id `id`) that takes every envelope and names
    /// `leader` as the leader; counts the requests it receives.
    async fn answering_orderer(id: u64, leader: u64) -> (Orderer, Arc<AtomicU64>) {
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let app = axum::Router::new().route(
            "/v1/broadcast/batch",
            axum::routing::post(move |body: axum::body::Bytes| async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let lines = body.split(|&b| b == b'\n').filter(|l| !l.is_empty());
                let answer: String = lines.map(|_| "{\"status\":200}\n").collect();
                (
                    [(weft_types::ORDERER_LEADER_HEADER, leader.to_string())],
                    answer,
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let orderer = Orderer {
            id,
            who: format!("orderer{id} ({api})"),
            api,
        };
        (orderer, received)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_follow_the_leader_an_orderer_names() {
        // Orderer 1 comes first in the channel but names 2 as the leader;
        // orderer 3 is named by nobody and never reached.
        let (first, to_first) = answering_orderer(1, 2).await;
        let (leader, to_leader) = answering_orderer(2, 2).await;
        let (third, to_third) = answering_orderer(3, 2).await;
        let list = vec![first, leader, third];
        let b = Broadcaster::new(reqwest::Client::new(), Arc::new(move || list.clone()), 64);
        b.submit(LINE.to_vec()).await.unwrap();
        assert_eq!(
            to_first.load(Ordering::SeqCst),
            1,
            "the channel's order first"
        );
        for _ in 0..3 {
            b.submit(LINE.to_vec()).await.unwrap();
        }
        assert_eq!(to_first.load(Ordering::SeqCst), 1, "then the named leader");
        assert_eq!(to_leader.load(Ordering::SeqCst), 3);
        assert_eq!(to_third.load(Ordering::SeqCst), 0);
        // Sent envelopes no longer count against the queue's byte budget.
        assert_eq!(b.shared.queued_bytes.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_leader_is_tried_once_then_hints_pause() {
        let (first, to_first) = answering_orderer(1, 2).await;
        // Orderer 2's port is closed.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone = Orderer {
            id: 2,
            who: "orderer2 (gone)".into(),
            api: closed.local_addr().unwrap().to_string(),
        };
        drop(closed);
        let list = vec![first, gone];
        let b = Broadcaster::new(reqwest::Client::new(), Arc::new(move || list.clone()), 64);
        for _ in 0..4 {
            b.submit(LINE.to_vec()).await.unwrap();
        }
        assert_eq!(to_first.load(Ordering::SeqCst), 4, "every envelope ordered");
        assert_eq!(
            b.shared.leader.load(Ordering::SeqCst),
            0,
            "the hint naming the unreachable leader was dropped and not taken again"
        );
    }

    async fn until_received(received: &AtomicU64, count: u64) {
        let started = tokio::time::Instant::now();
        while received.load(Ordering::SeqCst) < count {
            assert!(started.elapsed() < PATIENCE, "the orderer got no request");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_answers_overloaded_at_once() {
        let (orderers, received) = silent_orderer().await;
        let queue_envelopes = 8;
        let b = Arc::new(Broadcaster::new(
            reqwest::Client::new(),
            orderers,
            queue_envelopes,
        ));
        // Every batch slot taken by a batch of one the orderer holds...
        let mut waiting = Vec::new();
        for i in 0..MAX_BATCHES_IN_FLIGHT as u64 {
            let b = b.clone();
            waiting.push(tokio::spawn(async move { b.submit(LINE.to_vec()).await }));
            until_received(&received, i + 1).await;
        }
        // ...the queue fills...
        let mut queued = Vec::new();
        for _ in 0..queue_envelopes {
            let mut submit = Box::pin(b.submit(LINE.to_vec()));
            assert!(futures::poll!(&mut submit).is_pending());
            queued.push(submit);
        }
        // ...and the next submit is refused without waiting.
        let refused = tokio::time::timeout(PATIENCE, b.submit(LINE.to_vec()))
            .await
            .expect("a full queue answers at once")
            .unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.body.code, ErrorCode::Overloaded);
        assert_eq!(refused.body.stage, Stage::Ordering);
        assert!(refused.body.message.contains("8 envelopes"), "{refused:?}");
        assert_eq!(
            received.load(Ordering::SeqCst),
            MAX_BATCHES_IN_FLIGHT as u64,
            "nothing more was sent"
        );
        assert!(waiting.iter().all(|w| !w.is_finished()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn submits_fail_instead_of_hanging_when_the_task_stops() {
        let (orderers, received) = silent_orderer().await;
        let b = Arc::new(Broadcaster::new(
            reqwest::Client::new(),
            orderers,
            MAX_QUEUED_ENVELOPES,
        ));
        // The first submit starts the task on a runtime of its own.
        let other = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let first = {
            let b = b.clone();
            other.spawn(async move { b.submit(LINE.to_vec()).await })
        };
        until_received(&received, 1).await;
        let second = {
            let b = b.clone();
            tokio::spawn(async move { b.submit(LINE.to_vec()).await })
        };
        until_received(&received, 2).await;
        other.shutdown_background();

        let answer = tokio::time::timeout(PATIENCE, second)
            .await
            .expect("a pending submit is answered once the task stops")
            .unwrap()
            .unwrap_err();
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.body.code, ErrorCode::Internal);
        assert!(first.await.is_err(), "its runtime is gone");
        let later = tokio::time::timeout(PATIENCE, b.submit(LINE.to_vec()))
            .await
            .expect("a submit after the task stopped is answered at once")
            .unwrap_err();
        assert_eq!(later.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn an_envelope_that_is_not_one_line_is_never_sent() {
        let (orderers, received) = silent_orderer().await;
        let b = Broadcaster::new(reqwest::Client::new(), orderers, 8);
        for body in [&b""[..], b"  ", b"{\n}"] {
            let e = b.submit(body.to_vec()).await.unwrap_err();
            assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR, "{body:?}");
        }
        assert_eq!(received.load(Ordering::SeqCst), 0);
    }
}
