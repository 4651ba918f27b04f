//! `POST /v1/batch`: a client's calls in one request, and the streamed
//! NDJSON answer it shares with the peer-to-peer endorsement batches.
//!
//! An HTTP exchange costs the client and the gateway about the same
//! whatever it carries (the socket's system calls and wake-ups, parsing
//! the request), so an application sending many calls at once — an
//! application server, a load generator — sends them together: the SDK
//! gathers its concurrent evaluate, endorse and submit calls to one
//! gateway into batches, as the gateway gathers envelopes for the
//! orderers.
//!
//! The request is NDJSON, one call per line:
//! `{"path":"/v1/submit?wait=true","body":{…}}`, `path` one of
//! [`BATCHABLE`] (a query allowed) and `body` the JSON that route takes.
//! Each call goes through the single route itself — the token check,
//! admission (429), the limits, the metrics — so it is answered as it
//! would have been alone. The answer streams one line per call as each
//! is settled, in any order: `{"index":i,"status":s,"body":…}`, `i` the
//! call's place among the request's non-blank lines (from 0), `s` and
//! `body` the single route's status and JSON body (its newline bytes, JSON
//! whitespace, made spaces), and `retry_after_ms` when that answer named
//! a hold (a 429's `x-weft-retry-after-ms`). A line that is not such a
//! call is answered 400 at once. The batch itself needs a token (401
//! answers it whole) and carries at most [`MAX_BATCH_CALLS`] calls (413).
//! A submit that waits for its commit holds the answer open until then;
//! the other lines are not held back by it. A client that hangs up
//! cancels the calls still running, as it would its single requests.

use std::borrow::Cow;
use std::future::Future;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Extension;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tower::ServiceExt as _;
use weft_types::ndjson;

use super::error::{ErrorBody, ErrorCode, GatewayError, RawJson, Stage};

/// Calls one batch carries at most; a larger batch is refused whole (413).
pub const MAX_BATCH_CALLS: usize = 64;

/// The routes a batch line may call (`POST`, a JSON body): the calls that
/// do work. Reads and event streams go alone.
pub const BATCHABLE: [&str; 3] = ["/v1/evaluate", "/v1/endorse", "/v1/submit"];

/// The router each call of a batch goes through: the client API.
#[derive(Clone)]
pub(crate) struct Singles(pub(crate) Router);

/// One line of a batch request.
#[derive(Deserialize)]
struct CallLine<'a> {
    #[serde(borrow)]
    path: Cow<'a, str>,
    #[serde(borrow)]
    body: &'a RawValue,
}

/// One line of a batch answer.
#[derive(Serialize)]
struct AnswerLine<'a> {
    index: usize,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
    body: &'a RawValue,
}

/// `POST /v1/batch`: see the module documentation.
#[utoipa::path(
    post,
    path = "/v1/batch",
    tag = "transactions",
    request_body(
        content = String,
        content_type = "application/x-ndjson",
        description = "One call per line: {\"path\": \"/v1/evaluate\" | \"/v1/endorse\" | \
                       \"/v1/submit[?query]\", \"body\": the route's JSON body}; at most 64"
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, content_type = "application/x-ndjson",
         description = "One line per call as each is answered, in any order: {\"index\": its \
                        line's place from 0, \"status\", \"body\": what the route answered, \
                        \"retry_after_ms\" when it named a hold}"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 413, description = "More than 64 calls, or a body over the limit", body = ErrorBody),
    )
)]
pub(crate) async fn batch(
    Extension(singles): Extension<Singles>,
    headers: HeaderMap,
    body: RawJson,
) -> Response {
    let lines: Vec<&[u8]> = ndjson::lines(&body.0).collect();
    if lines.len() > MAX_BATCH_CALLS {
        return GatewayError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            Stage::Request,
            format!(
                "a batch carries at most {MAX_BATCH_CALLS} calls; this one has {}",
                lines.len()
            ),
        )
        .into_response();
    }
    let authorization = headers.get(header::AUTHORIZATION);
    let mut refused = Vec::new();
    let mut calls = Vec::new();
    for (index, line) in lines.into_iter().enumerate() {
        match call_request(line, authorization) {
            Ok(request) => {
                let singles = singles.0.clone();
                calls.push(async move {
                    let Ok(response) = singles.oneshot(request).await;
                    answer_line(index, response).await
                });
            }
            Err(e) => refused.push(error_line(index, e)),
        }
    }
    stream_answer(refused, async {}, calls)
}

/// The single request a batch line stands for.
fn call_request(
    line: &[u8],
    authorization: Option<&HeaderValue>,
) -> Result<Request<Body>, GatewayError> {
    let call: CallLine<'_> = serde_json::from_slice(line)
        .map_err(|e| GatewayError::malformed(format!("the batch line is not a call: {e}")))?;
    let route = call
        .path
        .split_once('?')
        .map_or(&*call.path, |(route, _)| route);
    if !BATCHABLE.contains(&route) {
        return Err(GatewayError::malformed(format!(
            "a batch line may call {}; not {:?}",
            BATCHABLE.join(", "),
            call.path
        )));
    }
    let mut request = Request::post(&*call.path)
        .header(header::CONTENT_TYPE, "application/json")
        // A copy, not a slice: a long call (a submit waiting for its
        // commit) does not hold the whole batch's buffer.
        .body(Body::from(call.body.get().to_owned()))
        .map_err(|e| GatewayError::malformed(format!("the batch line's path: {e}")))?;
    if let Some(authorization) = authorization {
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, authorization.clone());
    }
    Ok(request)
}

/// The answer line of call `index`: the single route's `response`.
async fn answer_line(index: usize, response: Response) -> Bytes {
    let status = response.status();
    let retry_after_ms = response
        .headers()
        .get(weft_types::RETRY_AFTER_MS_HEADER)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    // No limit: the route made the whole answer already.
    let body = match axum::body::to_bytes(response.into_body(), usize::MAX).await {
        Ok(body) => ndjson::one_line(&body),
        Err(e) => {
            let why = format!("the call's answer could not be read: {e}");
            return error_line(index, GatewayError::internal(Stage::Request, why));
        }
    };
    let line = serde_json::from_slice::<&RawValue>(&body).and_then(|body| {
        serde_json::to_vec(&AnswerLine {
            index,
            status: status.as_u16(),
            retry_after_ms,
            body,
        })
    });
    match line {
        Ok(mut line) => {
            line.push(b'\n');
            Bytes::from(line)
        }
        Err(e) => {
            let why = format!("the call's answer ({status}) is not JSON: {e}");
            error_line(index, GatewayError::internal(Stage::Request, why))
        }
    }
}

/// The answer line of call `index` refused with `error`.
fn error_line(index: usize, error: GatewayError) -> Bytes {
    let line = serde_json::json!({
        "index": index,
        "status": error.status.as_u16(),
        "body": error.body,
    });
    let mut line = line.to_string().into_bytes();
    line.push(b'\n');
    Bytes::from(line)
}

/// An NDJSON answer: the lines of `first` at once, then each line of
/// `later` as it completes, in any order. `later` runs after `before` in a
/// task of its own, its lines waiting in a channel that holds them all: a
/// client that stops reading holds none of it back. A client that hangs
/// up cancels what is still running, as it would cancel its single
/// requests.
pub(crate) fn stream_answer<F>(
    first: Vec<Bytes>,
    before: impl Future<Output = ()> + Send + 'static,
    later: Vec<F>,
) -> Response
where
    F: Future<Output = Bytes> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel::<Bytes>(later.len().max(1));
    if !later.is_empty() {
        tokio::spawn(async move {
            let run = async {
                before.await;
                let mut running: FuturesUnordered<F> = later.into_iter().collect();
                while let Some(line) = running.next().await {
                    // Never full: one slot per line.
                    let _ = sender.try_send(line);
                }
            };
            tokio::select! {
                () = run => {}
                () = sender.closed() => {}
            }
        });
    }
    let later = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|line| (line, receiver))
    });
    let lines = futures::stream::iter(first)
        .chain(later)
        .map(Ok::<_, std::convert::Infallible>);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )],
        Body::from_stream(lines),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use futures::FutureExt as _;
    use http_body_util::BodyExt as _;

    use super::*;

    /// Sets its flag when dropped.
    struct Dropped(Arc<AtomicBool>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn lines_stream_as_they_settle_and_hanging_up_cancels_the_rest() {
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = Dropped(dropped.clone());
        let endless = async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Bytes::new()
        };
        let quick = async { Bytes::from_static(b"quick\n") };
        let response = stream_answer(
            vec![Bytes::from_static(b"refused\n")],
            async {},
            vec![endless.boxed(), quick.boxed()],
        );
        let mut body = response.into_body();
        for expected in ["refused\n", "quick\n"] {
            let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
            assert_eq!(frame, expected.as_bytes());
        }
        assert!(!dropped.load(Ordering::SeqCst), "still running");
        drop(body);
        tokio::time::timeout(Duration::from_secs(10), async {
            while !dropped.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the running call is cancelled once the client is gone");
    }
}
