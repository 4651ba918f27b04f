//! The HTTP shell under [`crate::Gateway`]: gateway endpoints, login
//! sessions (one per gateway: a token is signed by that peer's key),
//! re-login on expiry or 401, and failover to the next gateway.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use weft_types::{Bytes, Certificate, Domain, Signature, TxId, sha3_256};

use crate::batch::{self, Batcher, Missed};
use crate::batching::Pause;
use crate::error::{ClientError, Result, Stage};
use crate::signer::Signer;

/// A token is renewed this long before the gateway says it expires.
const TOKEN_RENEW_MARGIN_MS: u64 = 30_000;
/// The most of an error body kept for the message.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Checks a gateway base URL: `http://host[:port][/]`. This build speaks
/// plain HTTP only (no TLS), so `https://` is refused with that reason.
pub(crate) fn check_base_url(url: &str) -> Result<String> {
    let rest = if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else if url.starts_with("https://") {
        return Err(ClientError::invalid(format!(
            "{url}: https is not supported, this client speaks plain http only"
        )));
    } else {
        return Err(ClientError::invalid(format!(
            "{url}: a gateway URL must start with http://"
        )));
    };
    if rest.trim_end_matches('/').is_empty() || rest.contains(char::is_whitespace) {
        return Err(ClientError::invalid(format!("{url}: no host in the URL")));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One request to send, possibly several times (after a re-login, or to
/// another gateway).
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Vec<(&'static str, String)>,
    /// JSON body, serialized once.
    pub(crate) body: Option<Vec<u8>>,
    /// Limit for the whole exchange; `None` for event streams.
    pub(crate) timeout: Option<Duration>,
    /// What a timeout or failure is reported as.
    pub(crate) stage: Stage,
    /// The transaction the call is about, for [`ClientError::Validation`].
    pub(crate) tx_id: Option<TxId>,
    /// Ask for `text/event-stream`.
    pub(crate) sse: bool,
    /// New work (endorse, evaluate): not sent while the gateway holds new
    /// work off after a 429.
    pub(crate) new_work: bool,
}

impl Call {
    pub(crate) fn get(path: impl Into<String>, stage: Stage) -> Call {
        Call {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            timeout: None,
            stage,
            tx_id: None,
            sse: false,
            new_work: false,
        }
    }

    pub(crate) fn post<T: Serialize>(path: impl Into<String>, stage: Stage, body: &T) -> Call {
        Call {
            method: Method::POST,
            body: Some(weft_types::to_json_bytes(body)),
            ..Call::get(path, stage)
        }
    }

    pub(crate) fn query(mut self, key: &'static str, value: impl ToString) -> Call {
        self.query.push((key, value.to_string()));
        self
    }

    pub(crate) fn timeout(mut self, timeout: Duration) -> Call {
        self.timeout = Some(timeout);
        self
    }

    pub(crate) fn tx(mut self, tx_id: TxId) -> Call {
        self.tx_id = Some(tx_id);
        self
    }

    /// Marks the call as new work (see [`Call::new_work`]).
    pub(crate) fn new_work(mut self) -> Call {
        self.new_work = true;
        self
    }
}

/// Why one gateway did not answer a call.
enum Failure {
    /// Nothing reached it: try the next gateway.
    Unreachable(String),
    /// It answered, or the exchange broke after the request was sent.
    Error(ClientError),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Error(e)
    }
}

struct Session {
    token: String,
    /// Local time after which to log in again; `None` to rely on a 401
    /// (the gateway's clock is so far behind that its expiry means nothing here).
    renew_at_ms: Option<u64>,
}

struct Endpoint {
    base: String,
    session: tokio::sync::Mutex<Option<Session>>,
    /// [`mono_ms`] until which the gateway asked for no new work (its last
    /// 429's `x-weft-retry-after-ms`); 0 when it did not.
    hold_until_ms: AtomicU64,
    /// The queue of its batches, started by the first call that can go in
    /// one.
    batcher: OnceLock<Batcher>,
    /// On for [`batch::SINGLES_FOR`] after it answered 404 to a batch.
    singles: Pause,
    /// Calls that can go in a batch under way to it.
    calls: AtomicUsize,
}

/// Milliseconds on a monotonic clock (from the first call): holds must not
/// stretch when the wall clock steps back.
fn mono_ms() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let epoch = EPOCH.get_or_init(std::time::Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Endpoint {
    /// How much longer the gateway holds new work off.
    fn hold(&self) -> Option<Duration> {
        let left = self
            .hold_until_ms
            .load(Ordering::Relaxed)
            .saturating_sub(mono_ms());
        (left > 0).then(|| Duration::from_millis(left))
    }

    /// The error a call of new work gets while the gateway holds it off.
    fn check_hold(&self) -> Result<()> {
        match self.hold() {
            Some(left) => Err(ClientError::Overloaded {
                message: format!(
                    "{} answered 429 and asked for no new work for a while ({} ms left); not sent",
                    self.base,
                    left.as_millis()
                ),
                retry_after: Some(left),
            }),
            None => Ok(()),
        }
    }
}

/// One call counted under way while it lives.
struct UnderWay<'a> {
    count: &'a AtomicUsize,
    /// No other call was under way when it entered.
    alone: bool,
}

impl<'a> UnderWay<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        let alone = count.fetch_add(1, Ordering::AcqRel) == 0;
        UnderWay { count, alone }
    }
}

impl Drop for UnderWay<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The most a gateway's hold is honoured for, whatever it asks.
const MAX_HOLD: Duration = Duration::from_secs(5);

#[derive(Serialize)]
struct TokenRequest<'a> {
    challenge: Bytes,
    certificate: &'a Certificate,
    signature: Signature,
}

#[derive(Deserialize)]
struct ChallengeResponse {
    challenge: Bytes,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: String,
    expires_at_ms: u64,
}

/// The gateways of one connection, their sessions, and the signer that logs in.
pub(crate) struct Transport {
    http: reqwest::Client,
    endpoints: Vec<Endpoint>,
    /// The gateway that answered last: calls start there.
    current: AtomicUsize,
    signer: Arc<dyn Signer>,
    login_timeout: Duration,
    /// Concurrent calls that can go in a batch do (`POST /v1/batch`).
    batches: bool,
}

impl Transport {
    pub(crate) fn new(
        urls: &[String],
        signer: Arc<dyn Signer>,
        connect_timeout: Duration,
        login_timeout: Duration,
        batches: bool,
    ) -> Result<Transport> {
        if urls.is_empty() {
            return Err(ClientError::invalid("no gateway URL given"));
        }
        let endpoints = urls
            .iter()
            .map(|u| {
                Ok(Endpoint {
                    base: check_base_url(u)?,
                    session: tokio::sync::Mutex::new(None),
                    hold_until_ms: AtomicU64::new(0),
                    batcher: OnceLock::new(),
                    singles: Pause::new(),
                    calls: AtomicUsize::new(0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .build()
            .map_err(|e| ClientError::Transport {
                message: format!("cannot set up the HTTP client: {e}"),
            })?;
        Ok(Transport {
            http,
            endpoints,
            current: AtomicUsize::new(0),
            signer,
            login_timeout,
            batches,
        })
    }

    pub(crate) fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    /// The gateway calls go to first.
    fn current(&self) -> &Endpoint {
        &self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()]
    }

    /// The base URL calls go to first.
    pub(crate) fn current_url(&self) -> &str {
        &self.current().base
    }

    /// How much longer the gateway calls go to first holds new work off
    /// (after a 429 that said for how long).
    pub(crate) fn hold(&self) -> Option<Duration> {
        self.current().hold()
    }

    /// [`Transport::hold`] as the error a call of new work gets.
    pub(crate) fn check_hold(&self) -> Result<()> {
        self.current().check_hold()
    }

    /// Logs in to the first gateway that can be reached.
    pub(crate) async fn login(&self) -> Result<()> {
        self.with_failover(|idx| async move { self.token(idx, None).await.map(|_| ()) })
            .await
    }

    /// Sends `call` and returns a successful response; an error status is
    /// turned into its [`ClientError`]. Logs in first if needed, once more
    /// after a 401, and moves to the next gateway when one is unreachable.
    pub(crate) async fn send(&self, call: &Call) -> Result<reqwest::Response> {
        self.with_failover(|idx| self.send_to(idx, call)).await
    }

    /// Sends `call` and parses the JSON answer. A call that can go in a
    /// batch does, with the other calls of the moment ([`crate::batch`]).
    pub(crate) async fn json<T: serde::de::DeserializeOwned>(&self, call: &Call) -> Result<T> {
        if let Some(line) = batch::line(call).filter(|_| self.batches) {
            return self
                .with_failover(|idx| self.json_batched(idx, call, &line))
                .await;
        }
        let resp = self.send(call).await?;
        read_json(resp, call).await
    }

    /// [`Transport::json`] through gateway `idx`'s batches: `line` is
    /// `call` as a batch line. What befalls the batch as a whole is met
    /// as a single request would meet it (see [`crate::batch`]).
    async fn json_batched<T: serde::de::DeserializeOwned>(
        &self,
        idx: usize,
        call: &Call,
        line: &bytes::Bytes,
    ) -> std::result::Result<T, Failure> {
        let endpoint = &self.endpoints[idx];
        if call.new_work {
            endpoint.check_hold()?;
        }
        let timeout = call.timeout.unwrap_or(crate::gateway::DEFAULT_TIMEOUT);
        let deadline = tokio::time::Instant::now() + timeout;
        // The connection's only call to this gateway goes alone: a batch
        // of one costs both sides more than a single request.
        let call_under_way = UnderWay::enter(&endpoint.calls);
        let alone = call_under_way.alone;
        let mut stale = None;
        loop {
            if alone || endpoint.singles.on() {
                // Alone, within what is left of the call's time.
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let single = call.clone().timeout(left);
                let resp = self.send_to(idx, &single).await?;
                return Ok(read_json(resp, &single).await?);
            }
            let token = self.token(idx, stale.as_deref()).await?;
            let batcher = endpoint
                .batcher
                .get_or_init(|| Batcher::start(self.http.clone(), endpoint.base.clone()));
            let error = match batcher.call(line.clone(), token.clone(), deadline).await {
                // The token expired between the batch's check and the
                // call's: log in once more, as for a single call.
                Ok(answer) if answer.status == StatusCode::UNAUTHORIZED && stale.is_none() => {
                    stale = Some(token);
                    continue;
                }
                Ok(answer) => {
                    let hold = self.note_hold(idx, answer.status, answer.retry_after_ms);
                    let parsed = if answer.status.is_success() {
                        parse_json(&answer.body, call)
                    } else {
                        Err(ClientError::from_response(
                            answer.status.as_u16(),
                            &answer.body,
                            call.tx_id,
                        ))
                    };
                    return Ok(with_hold(parsed, hold)?);
                }
                Err(Missed::Unreachable(why)) => return Err(Failure::Unreachable(why)),
                Err(Missed::NoRoute) => {
                    tracing::debug!(gateway = %endpoint.base, "no batch route, single calls for a while");
                    endpoint.singles.start(batch::SINGLES_FOR);
                    continue;
                }
                Err(Missed::Unauthorized { token }) if stale.is_none() => {
                    tracing::debug!(gateway = %endpoint.base, "401 to a batch, logging in again");
                    stale = Some(token);
                    continue;
                }
                Err(Missed::Unauthorized { .. }) => ClientError::Auth {
                    message: format!(
                        "{} refused the token of a fresh login for a batch",
                        endpoint.base
                    ),
                },
                Err(Missed::Refused { status, body }) => {
                    ClientError::from_response(status.as_u16(), &body, call.tx_id)
                }
                Err(Missed::Timeout(why)) => ClientError::Timeout {
                    stage: call.stage.clone(),
                    message: format!("{} ms: {why}", timeout.as_millis()),
                },
                Err(Missed::Broken(why)) => ClientError::Transport { message: why },
                Err(Missed::Full) => ClientError::Overloaded {
                    message: format!(
                        "this client's queue to {} is full ({} calls); not sent",
                        endpoint.base,
                        batch::MAX_QUEUED_CALLS
                    ),
                    retry_after: None,
                },
            };
            return Err(Failure::Error(error));
        }
    }

    async fn with_failover<'a, T, F, Fut>(&'a self, attempt: F) -> Result<T>
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, Failure>> + 'a,
    {
        let n = self.endpoints.len();
        let start = self.current.load(Ordering::Relaxed) % n;
        let mut tried = Vec::new();
        for k in 0..n {
            let idx = (start + k) % n;
            match attempt(idx).await {
                Ok(v) => {
                    if idx != start {
                        self.current.store(idx, Ordering::Relaxed);
                    }
                    return Ok(v);
                }
                Err(Failure::Unreachable(why)) => {
                    tracing::warn!(gateway = %self.endpoints[idx].base, %why, "gateway unreachable");
                    tried.push(format!("{}: {why}", self.endpoints[idx].base));
                }
                Err(Failure::Error(e)) => return Err(e),
            }
        }
        Err(ClientError::Transport {
            message: format!("no gateway reachable ({})", tried.join("; ")),
        })
    }

    async fn send_to(
        &self,
        idx: usize,
        call: &Call,
    ) -> std::result::Result<reqwest::Response, Failure> {
        let endpoint = &self.endpoints[idx];
        if call.new_work {
            endpoint.check_hold().map_err(Failure::Error)?;
        }
        let token = self.token(idx, None).await?;
        let resp = self.request(idx, call, &token).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(self.check_status(idx, resp, call).await?);
        }
        // Expired early, or the gateway restarted with a new key: log in once more.
        tracing::debug!(gateway = %endpoint.base, "401, logging in again");
        let token = self.token(idx, Some(&token)).await?;
        let resp = self.request(idx, call, &token).await?;
        Ok(self.check_status(idx, resp, call).await?)
    }

    /// [`check_status`], and a 429 that says for how long to send no new
    /// work starts a hold of gateway `idx` (at most [`MAX_HOLD`]).
    async fn check_status(
        &self,
        idx: usize,
        resp: reqwest::Response,
        call: &Call,
    ) -> Result<reqwest::Response> {
        let retry_after_ms = resp
            .headers()
            .get(weft_types::RETRY_AFTER_MS_HEADER)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let hold = self.note_hold(idx, resp.status(), retry_after_ms);
        with_hold(check_status(resp, call).await, hold)
    }

    /// A 429 that names a hold starts one of gateway `idx` (at most
    /// [`MAX_HOLD`]); the hold, if so.
    fn note_hold(
        &self,
        idx: usize,
        status: StatusCode,
        retry_after_ms: Option<u64>,
    ) -> Option<Duration> {
        if status != StatusCode::TOO_MANY_REQUESTS {
            return None;
        }
        let hold = Duration::from_millis(retry_after_ms?).min(MAX_HOLD);
        let until = mono_ms().saturating_add(u64::try_from(hold.as_millis()).unwrap_or(u64::MAX));
        self.endpoints[idx]
            .hold_until_ms
            .fetch_max(until, Ordering::Relaxed);
        Some(hold)
    }

    async fn request(
        &self,
        idx: usize,
        call: &Call,
        token: &str,
    ) -> std::result::Result<reqwest::Response, Failure> {
        let url = format!("{}{}", self.endpoints[idx].base, call.path);
        let mut req = self
            .http
            .request(call.method.clone(), url)
            .header(AUTHORIZATION, format!("Bearer {token}"));
        if !call.query.is_empty() {
            req = req.query(&call.query);
        }
        if let Some(body) = &call.body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        if let Some(t) = call.timeout {
            req = req.timeout(t);
        }
        if call.sse {
            req = req.header(ACCEPT, "text/event-stream");
        }
        req.send().await.map_err(|e| classify(e, &call.stage))
    }

    /// A valid token for gateway `idx`; logs in when there is none, when it
    /// is about to expire, or when it is `stale` (the gateway refused it).
    async fn token(&self, idx: usize, stale: Option<&str>) -> std::result::Result<String, Failure> {
        let mut session = self.endpoints[idx].session.lock().await;
        if let Some(s) = session.as_ref() {
            let fresh = s.renew_at_ms.is_none_or(|at| now_ms() < at);
            if fresh && Some(s.token.as_str()) != stale {
                return Ok(s.token.clone());
            }
        }
        let new = self.log_in(idx).await?;
        let token = new.token.clone();
        *session = Some(new);
        Ok(token)
    }

    /// The challenge/token exchange with gateway `idx`.
    async fn log_in(&self, idx: usize) -> std::result::Result<Session, Failure> {
        let base = &self.endpoints[idx].base;
        let challenge: ChallengeResponse = self
            .post_unauthenticated(&format!("{base}/v1/auth/challenge"), &serde_json::json!({}))
            .await?;
        let signature = self
            .signer
            .sign(Domain::AuthChallenge, &sha3_256(&challenge.challenge))?;
        let request = TokenRequest {
            challenge: challenge.challenge,
            certificate: self.signer.certificate(),
            signature,
        };
        let token: TokenResponse = self
            .post_unauthenticated(&format!("{base}/v1/auth/token"), &request)
            .await?;
        let now = now_ms();
        let renew_at_ms = (token.expires_at_ms > now).then(|| {
            let margin = TOKEN_RENEW_MARGIN_MS.min((token.expires_at_ms - now) / 2);
            token.expires_at_ms - margin
        });
        tracing::debug!(gateway = %base, "logged in");
        Ok(Session {
            token: token.token,
            renew_at_ms,
        })
    }

    async fn post_unauthenticated<B: Serialize, T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        body: &B,
    ) -> std::result::Result<T, Failure> {
        // The path is the full URL here: it only names the request in errors.
        let call = Call::post(url.to_string(), Stage::Auth, body);
        let resp = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(call.body.clone().unwrap_or_default())
            .timeout(self.login_timeout)
            .send()
            .await
            .map_err(|e| classify(e, &Stage::Auth))?;
        let resp = check_status(resp, &call).await?;
        Ok(read_json(resp, &call).await?)
    }
}

/// `result`, its `Overloaded` naming `hold` when there is one.
fn with_hold<T>(result: Result<T>, hold: Option<Duration>) -> Result<T> {
    match (result, hold) {
        (Err(ClientError::Overloaded { message, .. }), Some(hold)) => {
            Err(ClientError::Overloaded {
                message,
                retry_after: Some(hold),
            })
        }
        (other, _) => other,
    }
}

/// A send error: unreachable (connection refused, DNS, connect timeout) or a
/// failure after the request may have reached the gateway.
fn classify(e: reqwest::Error, stage: &Stage) -> Failure {
    if e.is_connect() {
        return Failure::Unreachable(error_chain(&e));
    }
    Failure::Error(transport_error(e, stage))
}

pub(crate) fn transport_error(e: reqwest::Error, stage: &Stage) -> ClientError {
    if e.is_timeout() {
        ClientError::Timeout {
            stage: stage.clone(),
            message: error_chain(&e),
        }
    } else {
        ClientError::Transport {
            message: error_chain(&e),
        }
    }
}

/// The error and its sources: reqwest's own message is often just "error
/// sending request".
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn check_status(resp: reqwest::Response, call: &Call) -> Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = read_limited(resp, MAX_ERROR_BODY_BYTES)
        .await
        .unwrap_or_default();
    Err(ClientError::from_response(
        status.as_u16(),
        &body,
        call.tx_id,
    ))
}

async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| transport_error(e, &Stage::Request))?
    {
        let room = limit.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
    call: &Call,
) -> Result<T> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| transport_error(e, &call.stage))?;
    parse_json(&bytes, call)
}

/// The JSON answer to `call`.
fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], call: &Call) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        ClientError::protocol(format!(
            "the answer to {} {} does not parse: {e}",
            call.method, call.path
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            check_base_url("http://127.0.0.1:7051/").unwrap(),
            "http://127.0.0.1:7051"
        );
        assert_eq!(check_base_url("http://h:1/gw").unwrap(), "http://h:1/gw");
        for bad in ["https://h:1", "h:1", "http://", "http:///", "http://a b"] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
    }
}
