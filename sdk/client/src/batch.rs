//! The client side of `POST /v1/batch`: a connection's concurrent
//! evaluate, endorse and submit calls to one gateway travel together.
//!
//! Each gateway has a queue. A call that can go in a batch (one of
//! [`BATCHABLE`], with a JSON body of at most [`MAX_BATCH_BODY_BYTES`])
//! while another such call of the connection is under way to the same
//! gateway is queued as one NDJSON line (the only call under way goes
//! alone, as its single request: a batch of one would cost both sides
//! more); a task per queue takes everything queued
//! — up to [`MAX_BATCH_CALLS`] calls — and sends it as one request, with
//! up to [`MAX_BATCHES_IN_FLIGHT`] requests waiting for the gateway to
//! accept them. Nothing waits on a timer: a lone call leaves at once, and
//! what arrives while requests are on their way makes the next batch. Once
//! the gateway accepted a batch (its answer's headers), the batch's lines
//! are read in a task of their own: a submit that waits for its commit
//! holds back neither the calls answered before it nor the next batch.
//!
//! Each answer line is what the single route would have answered the
//! call; the caller treats it exactly as such an answer (errors, holds).
//! What goes wrong with the batch as a whole is a [`Missed`] every call of
//! it gets, which the caller turns into what a single request would have
//! met: the next gateway when nothing reached this one, a login and one
//! more try after a 401, single requests for [`SINGLES_FOR`] after a 404
//! (a gateway without the route).

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::batching::{self, Limits};
use crate::http::{Call, error_chain};

/// The routes a batch may call, as the gateway allows them.
pub(crate) const BATCHABLE: [&str; 3] = ["/v1/evaluate", "/v1/endorse", "/v1/submit"];

/// Calls one batch carries at most (the gateway's limit).
pub const MAX_BATCH_CALLS: usize = 64;

/// Bytes one batch carries at most; a call with a larger body goes alone.
pub const MAX_BATCH_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Batches sent to one gateway and not yet accepted, at most.
pub const MAX_BATCHES_IN_FLIGHT: usize = 2;

/// Calls waiting in one gateway's queue at most; past it a call is
/// answered `Overloaded` at once.
pub const MAX_QUEUED_CALLS: usize = 4096;

/// How long a gateway that answered 404 to a batch gets single requests.
pub const SINGLES_FOR: Duration = Duration::from_secs(60);

/// The longest answer line read. Generous: a single call's answer is
/// read whatever its size, and an evaluation's payload has no limit of
/// its own.
const MAX_ANSWER_LINE_BYTES: usize = 256 * 1024 * 1024;

/// A call's answer in a batch: the single route's status and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    /// The hold the answer named (`x-weft-retry-after-ms`), if any.
    pub(crate) retry_after_ms: Option<u64>,
    pub(crate) body: Bytes,
}

/// Why a batch gave a call no answer line.
#[derive(Debug, Clone)]
pub(crate) enum Missed {
    /// Nothing reached the gateway.
    Unreachable(String),
    /// The gateway has no batch route (404).
    NoRoute,
    /// The gateway refused the batch's token (401).
    Unauthorized {
        /// The token the batch carried.
        token: String,
    },
    /// The gateway refused the batch whole with this status and body.
    Refused { status: StatusCode, body: Bytes },
    /// The batch's time ran out.
    Timeout(String),
    /// The exchange failed after the batch was sent, or the answer has no
    /// line for the call.
    Broken(String),
    /// The queue to the gateway is full.
    Full,
}

/// One call waiting for its line.
struct Pending {
    line: Bytes,
    token: String,
    deadline: Instant,
    answer: oneshot::Sender<Result<Answer, Missed>>,
}

/// The queue of one gateway's batches. Must be made inside a tokio
/// runtime: it starts the task that sends them.
pub(crate) struct Batcher {
    queue: mpsc::Sender<Pending>,
}

impl Batcher {
    pub(crate) fn start(http: reqwest::Client, base: String) -> Batcher {
        let limits = Limits {
            in_flight: MAX_BATCHES_IN_FLIGHT,
            items: MAX_BATCH_CALLS,
            bytes: MAX_BATCH_BODY_BYTES,
        };
        let target = std::sync::Arc::new((http, base));
        let queue = batching::start(
            MAX_QUEUED_CALLS,
            limits,
            |p: &Pending| p.line.len(),
            move |batch| {
                let target = target.clone();
                async move { send(&target.0, &target.1, batch).await }
            },
        );
        Batcher { queue }
    }

    /// Queues `line` (from [`line`]) and waits for its answer until
    /// `deadline`; `token` is the session's.
    pub(crate) async fn call(
        &self,
        line: Bytes,
        token: String,
        deadline: Instant,
    ) -> Result<Answer, Missed> {
        let (answer, answered) = oneshot::channel();
        let pending = Pending {
            line,
            token,
            deadline,
            answer,
        };
        match self.queue.try_send(pending) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Missed::Full),
            Err(TrySendError::Closed(_)) => {
                return Err(Missed::Broken("the batch queue stopped".into()));
            }
        }
        match tokio::time::timeout_at(deadline, answered).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(Missed::Broken(
                "the batch ended without answering the call".into(),
            )),
            Err(_) => Err(Missed::Timeout("no answer in time".into())),
        }
    }
}

/// `call` as a batch line, if it can go in one: a POST with a JSON body to
/// one of [`BATCHABLE`], not too large.
pub(crate) fn line(call: &Call) -> Option<Bytes> {
    let body = call.body.as_ref()?;
    if call.method != reqwest::Method::POST
        || call.sse
        || !BATCHABLE.contains(&call.path.as_str())
        || body.len() > MAX_BATCH_BODY_BYTES
        || body.contains(&b'\n')
    {
        return None;
    }
    let mut path = call.path.clone();
    if !call.query.is_empty() {
        let query = reqwest::Url::parse_with_params("http://batch", &call.query).ok()?;
        path.push('?');
        path.push_str(query.query().unwrap_or_default());
    }
    let mut line = Vec::with_capacity(body.len() + path.len() + 24);
    line.extend_from_slice(b"{\"path\":");
    line.extend_from_slice(&serde_json::to_vec(&path).ok()?);
    line.extend_from_slice(b",\"body\":");
    line.extend_from_slice(body);
    line.push(b'}');
    Some(Bytes::from(line))
}

/// One line of a batch answer.
#[derive(Deserialize)]
struct AnswerLine {
    index: usize,
    status: u16,
    #[serde(default)]
    retry_after_ms: Option<u64>,
    body: Box<RawValue>,
}

/// Sends `batch` to the gateway at `base` as one request; once it is
/// accepted, its lines are read in a task of their own.
async fn send(http: &reqwest::Client, base: &str, batch: Vec<Pending>) {
    // Nobody waits for the closed ones any more; the late ones are told.
    let now = Instant::now();
    let (late, live): (Vec<Pending>, Vec<Pending>) = batch
        .into_iter()
        .filter(|p| !p.answer.is_closed())
        .partition(|p| p.deadline <= now);
    settle_all(
        late,
        &Missed::Timeout("no answer in time, still queued".into()),
    );
    let batch = live;
    let (Some(deadline), Some(last)) = (batch.iter().map(|p| p.deadline).max(), batch.last())
    else {
        return;
    };
    let token = last.token.clone();
    let mut body = Vec::with_capacity(batch.iter().map(|p| p.line.len() + 1).sum());
    for p in &batch {
        body.extend_from_slice(&p.line);
        body.push(b'\n');
    }
    let sent = http
        .post(format!("{base}/v1/batch"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(CONTENT_TYPE, "application/x-ndjson")
        .timeout(deadline.saturating_duration_since(now))
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) if e.is_connect() => {
            return settle_all(batch, &Missed::Unreachable(error_chain(&e)));
        }
        Err(e) if e.is_timeout() => return settle_all(batch, &Missed::Timeout(error_chain(&e))),
        Err(e) => return settle_all(batch, &Missed::Broken(error_chain(&e))),
    };
    let missed = match answer.status() {
        status if status.is_success() => {
            tokio::spawn(read(answer, batch));
            return;
        }
        StatusCode::NOT_FOUND => Missed::NoRoute,
        StatusCode::UNAUTHORIZED => Missed::Unauthorized { token },
        status => Missed::Refused {
            status,
            body: answer.bytes().await.unwrap_or_default(),
        },
    };
    settle_all(batch, &missed);
}

/// Gives each call of `batch` its line of `answer`.
async fn read(answer: reqwest::Response, batch: Vec<Pending>) {
    batching::answer_calls(
        answer,
        batch,
        MAX_ANSWER_LINE_BYTES,
        |p: Pending, line: Result<AnswerLine, _>| {
            let answer = line
                .map_err(|e| Missed::Broken(format!("the batch answer's line for the call: {e}")))
                .and_then(|line| {
                    let status = StatusCode::from_u16(line.status).map_err(|_| {
                        Missed::Broken(format!("the batch answer has status {}", line.status))
                    })?;
                    Ok(Answer {
                        status,
                        retry_after_ms: line.retry_after_ms,
                        body: Bytes::from(String::from(Box::<str>::from(line.body))),
                    })
                });
            let _ = p.answer.send(answer);
        },
        |p, why| {
            let _ = p.answer.send(Err(Missed::Broken(why.to_string())));
        },
    )
    .await;
}

impl batching::Indexed for AnswerLine {
    fn index(&self) -> usize {
        self.index
    }
}

fn settle_all(batch: Vec<Pending>, why: &Missed) {
    for p in batch {
        let _ = p.answer.send(Err(why.clone()));
    }
}
