//! `POST /v1/submit` (to the orderers, and optionally until this peer
//! committed it) and `GET /v1/transactions/{tx_id}/status`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use weft_types::{Envelope, TxId};

use super::Gateway;
use super::api::{StatusQuery, SubmitQuery, SubmitResponse, TxStatus};
use super::commit_wait::Waiter;
use super::endorse::truncate;
use super::error::{ErrorBody, ErrorCode, GatewayError, QueryParams, RawJson, Stage};

/// How long `submit?wait=true` waits when no `timeout_ms` is given.
pub const DEFAULT_WAIT_MS: u64 = 30_000;

/// The longest wait a request may ask for; longer ones are cut to this.
pub const MAX_WAIT_MS: u64 = 300_000;

/// How long the gateway waits for an orderer's answer to one request (it
/// answers once every envelope of the batch is ordered).
pub const ORDERER_TIMEOUT_MS: u64 = 30_000;

/// Sends an envelope to the ordering service; with `wait=true`, answers
/// once this peer committed it.
#[utoipa::path(
    post,
    path = "/v1/submit",
    tag = "transactions",
    params(SubmitQuery),
    request_body(content = Object, description = "A signed Envelope"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Committed VALID (with wait)", body = TxStatus),
        (status = 202, description = "Ordered (without wait)", body = SubmitResponse),
        (status = 400, description = "Malformed envelope, or refused by the orderer", body = ErrorBody),
        (status = 409, description = "Committed invalid", body = ErrorBody),
        (status = 429, description = "The ordering service is overloaded", body = ErrorBody),
        (status = 502, description = "The orderers failed", body = ErrorBody),
        (status = 503, description = "No orderer reachable", body = ErrorBody),
        (status = 504, description = "Not committed within timeout_ms", body = ErrorBody),
    )
)]
pub(crate) async fn submit(
    State(gw): State<Arc<Gateway>>,
    QueryParams(query): QueryParams<SubmitQuery>,
    body: RawJson,
) -> Result<Response, GatewayError> {
    let _pending = gw.pending_submits.enter();
    let envelope: Envelope = body.parse()?;
    let tx = envelope.decode().map_err(|e| {
        GatewayError::malformed(format!("the envelope does not hold a transaction: {e}"))
    })?;
    let tx_id = tx.header.tx_id;
    let wait = query.wait.unwrap_or(false);
    // A transaction already on the ledger is answered from it: ordering it
    // again would only fill a block slot with a DUPLICATE_TXID.
    if let Some(status) = committed(&gw, &tx_id)? {
        return if status.code.is_valid() {
            Ok(Json(status).into_response())
        } else {
            Err(invalid(&status))
        };
    }
    // Registered before the envelope leaves, so the commit cannot be missed.
    let waiter = wait.then(|| gw.commit_waiters.register(&gw.committer, tx_id));
    broadcast_envelope(&gw, &body, &envelope).await?;
    let Some(waiter) = waiter else {
        let ordered = SubmitResponse {
            tx_id,
            status: "ordered".into(),
        };
        return Ok((StatusCode::ACCEPTED, Json(ordered)).into_response());
    };
    let timeout_ms = query.timeout_ms.unwrap_or(DEFAULT_WAIT_MS).min(MAX_WAIT_MS);
    match wait_for_commit(&gw, tx_id, waiter, timeout_ms).await? {
        Some(status) if status.code.is_valid() => Ok(Json(status).into_response()),
        Some(status) => Err(invalid(&status)),
        None => Err(GatewayError::new(
            StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Timeout,
            Stage::CommitWait,
            format!(
                "transaction {tx_id} was ordered but this peer had not committed it after \
                 {timeout_ms} ms; ask /v1/transactions/{tx_id}/status later"
            ),
        )),
    }
}

/// Submissions a gateway may have waiting for the orderers or for their
/// commit before it refuses new endorsements (429): past it the network is
/// taking transactions in faster than it commits them, and endorsing more
/// would only lengthen every wait until clients time out. Submissions
/// themselves are never refused for it (their endorsement is already paid).
pub const MAX_PENDING_SUBMITS: usize = 1024;

/// The count of submissions in progress at a gateway.
#[derive(Debug, Default)]
pub(crate) struct PendingSubmits(Arc<AtomicUsize>);

/// One submission in progress; leaving the count when dropped.
pub(crate) struct PendingSubmit(Arc<AtomicUsize>);

impl Drop for PendingSubmit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl PendingSubmits {
    /// Counts a submission until the returned guard is dropped.
    pub(crate) fn enter(&self) -> PendingSubmit {
        self.0.fetch_add(1, Ordering::Relaxed);
        PendingSubmit(self.0.clone())
    }

    /// 429 when [`MAX_PENDING_SUBMITS`] submissions are in progress.
    pub(crate) fn admit_endorsement(&self) -> Result<(), GatewayError> {
        let pending = self.0.load(Ordering::Relaxed);
        if pending < MAX_PENDING_SUBMITS {
            return Ok(());
        }
        Err(GatewayError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Overloaded,
            Stage::Endorsement,
            format!(
                "{pending} transactions submitted here are still waiting to be ordered or \
                 committed; retry later"
            ),
        ))
    }
}

/// 409: the transaction committed invalid.
fn invalid(status: &TxStatus) -> GatewayError {
    let mut err = GatewayError::new(
        StatusCode::CONFLICT,
        ErrorCode::InvalidTransaction,
        Stage::Validation,
        format!(
            "transaction {} committed in block {} at index {} as invalid: {}",
            status.tx_id,
            status.block,
            status.index,
            status.code.name()
        ),
    );
    err.body.validation_code = Some(status.code);
    err
}

/// Where and how a transaction committed; waits up to `timeout_ms`.
#[utoipa::path(
    get,
    path = "/v1/transactions/{tx_id}/status",
    tag = "transactions",
    params(("tx_id" = String, Path, description = "The transaction id, hex"), StatusQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Committed (valid or not)", body = TxStatus),
        (status = 400, description = "Not a tx id", body = ErrorBody),
        (status = 404, description = "Not committed (without waiting)", body = ErrorBody),
        (status = 504, description = "Still not committed after timeout_ms", body = ErrorBody),
    )
)]
pub(crate) async fn status(
    State(gw): State<Arc<Gateway>>,
    Path(tx_id): Path<String>,
    QueryParams(query): QueryParams<StatusQuery>,
) -> Result<Json<TxStatus>, GatewayError> {
    let tx_id = parse_tx_id(&tx_id)?;
    let timeout_ms = query.timeout_ms.unwrap_or(0).min(MAX_WAIT_MS);
    if timeout_ms == 0 {
        return match committed(&gw, &tx_id)? {
            Some(status) => Ok(Json(status)),
            None => Err(GatewayError::not_found(format!(
                "transaction {tx_id} is not committed on this peer (yet)"
            ))),
        };
    }
    let waiter = gw.commit_waiters.register(&gw.committer, tx_id);
    match wait_for_commit(&gw, tx_id, waiter, timeout_ms).await? {
        Some(status) => Ok(Json(status)),
        None => Err(GatewayError::new(
            StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Timeout,
            Stage::CommitWait,
            format!("transaction {tx_id} was not committed on this peer within {timeout_ms} ms"),
        )),
    }
}

pub(crate) fn parse_tx_id(text: &str) -> Result<TxId, GatewayError> {
    text.parse().map_err(|_| {
        GatewayError::malformed(format!("{text:?} is not a tx id (64 hex characters)"))
    })
}

/// The transaction's place on the ledger, if committed.
pub(crate) fn committed(gw: &Gateway, tx_id: &TxId) -> Result<Option<TxStatus>, GatewayError> {
    Ok(gw
        .committer
        .ledger()
        .tx(tx_id)?
        .map(|(block, index, code)| TxStatus {
            tx_id: *tx_id,
            block,
            index,
            code,
        }))
}

/// Waits until `tx_id` is committed; `waiter` must have been registered
/// before the caller could have missed the commit. The ledger is read
/// first (it may have committed already). `None` after `timeout_ms`.
pub(crate) async fn wait_for_commit(
    gw: &Gateway,
    tx_id: TxId,
    mut waiter: Waiter,
    timeout_ms: u64,
) -> Result<Option<TxStatus>, GatewayError> {
    if let Some(found) = committed(gw, &tx_id)? {
        return Ok(Some(found));
    }
    match tokio::time::timeout(Duration::from_millis(timeout_ms), &mut waiter.status).await {
        Err(_elapsed) => Ok(None),
        Ok(Ok(status)) => Ok(Some(status)),
        Ok(Err(_)) => Err(GatewayError::internal(
            Stage::CommitWait,
            "the committer stopped while waiting for the transaction",
        )),
    }
}

/// An orderer that could not take an envelope (the next one is tried).
#[derive(Debug, Clone)]
pub(super) struct Failure {
    /// The orderer, `name@org (host:port)`.
    pub(super) who: String,
    /// Whether it was unreachable or had no leader (503), rather than failing.
    pub(super) unreachable: bool,
    /// What went wrong, in words.
    pub(super) why: String,
}

/// What an orderer's answer other than success means for one envelope.
#[derive(Debug)]
pub(super) enum Verdict {
    /// Final: the client gets this error, no other orderer is tried.
    Refused(GatewayError),
    /// The orderer failed: the next one is tried.
    Failed(Failure),
}

/// Sends `envelope` to the channel's orderers in turn until one orders it,
/// gathered with concurrent submissions into batches by the gateway's
/// [`Broadcaster`](super::broadcaster::Broadcaster). A refusal (4xx) is
/// final; an orderer that cannot be reached or fails (5xx) makes the next
/// one be tried.
/// Sends `envelope` (which `body` holds, as the client sent it) to the
/// orderers: the client's bytes when they are one line, as the orderer
/// parses them exactly as this gateway did.
async fn broadcast_envelope(
    gw: &Gateway,
    body: &RawJson,
    envelope: &Envelope,
) -> Result<(), GatewayError> {
    let line = match body.as_line() {
        // Shared, not copied.
        Some(line) => line.clone(),
        None => serde_json::to_vec(envelope)
            .map_err(|e| {
                GatewayError::internal(Stage::Ordering, format!("cannot encode the envelope: {e}"))
            })?
            .into(),
    };
    gw.broadcaster.submit(line).await
}

/// What the orderer `who` answering `status` with the error `code` and
/// `message` means for an envelope: the answer to the whole request, or
/// one line of a batch answer (the same status the single endpoint gives).
pub(super) fn orderer_verdict(
    status: StatusCode,
    code: Option<&str>,
    message: &str,
    who: &str,
) -> Verdict {
    match status.as_u16() {
        429 => Verdict::Refused(GatewayError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Overloaded,
            Stage::Ordering,
            format!("{who}: {message}"),
        )),
        504 => Verdict::Refused(GatewayError::new(
            StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Timeout,
            Stage::Ordering,
            format!("{who}: {message}"),
        )),
        400..=499 => Verdict::Refused(GatewayError::new(
            status,
            refusal_code(status, code),
            Stage::Ordering,
            format!("the orderer {who} refused the envelope: {message}"),
        )),
        _ => Verdict::Failed(Failure {
            who: who.to_string(),
            unreachable: status == StatusCode::SERVICE_UNAVAILABLE,
            why: format!("{status}: {message}"),
        }),
    }
}

/// The error for an envelope no orderer took, listing why each failed:
/// 503 when none could be reached (or had a leader), else 502.
pub(super) fn all_failed(failures: &[Failure], no_orderers: bool) -> GatewayError {
    let all_unreachable = failures.iter().all(|f| f.unreachable);
    let list = failures
        .iter()
        .map(|f| format!("{}: {}", f.who, f.why))
        .collect::<Vec<_>>()
        .join("; ");
    let (status, message) = if all_unreachable {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no orderer could take the envelope: {list}"),
        )
    } else {
        (
            StatusCode::BAD_GATEWAY,
            format!("the orderers failed: {list}"),
        )
    };
    GatewayError::new(
        status,
        ErrorCode::OrderingFailed,
        Stage::Ordering,
        if no_orderers {
            "the channel configuration lists no orderers".to_string()
        } else {
            message
        },
    )
}

/// The orderer's `{"code", "message"}`, or its text.
pub(super) fn orderer_error(body: &[u8]) -> (Option<String>, String) {
    #[derive(serde::Deserialize)]
    struct OrdererError {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<OrdererError>(body) {
        Ok(OrdererError {
            code,
            message: Some(message),
        }) => (code, truncate(&message, 1024)),
        _ => (None, truncate(&String::from_utf8_lossy(body), 1024)),
    }
}

/// The gateway's code for an orderer's refusal.
fn refusal_code(status: StatusCode, code: Option<&str>) -> ErrorCode {
    match (code, status) {
        (Some("bad_signature"), _) => ErrorCode::BadSignature,
        (Some("bad_creator"), _) => ErrorCode::BadCreator,
        (Some("too_large"), _) | (_, StatusCode::PAYLOAD_TOO_LARGE) => ErrorCode::TooLarge,
        (_, StatusCode::UNAUTHORIZED) => ErrorCode::BadSignature,
        (_, StatusCode::FORBIDDEN) => ErrorCode::BadCreator,
        _ => ErrorCode::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endorsements_are_refused_while_too_many_submissions_wait() {
        let pending = PendingSubmits::default();
        let mut held: Vec<PendingSubmit> = Vec::new();
        for _ in 0..MAX_PENDING_SUBMITS - 1 {
            held.push(pending.enter());
        }
        assert!(pending.admit_endorsement().is_ok());
        held.push(pending.enter());
        let refused = pending.admit_endorsement().unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.body.code, ErrorCode::Overloaded);
        // A submission answered leaves the count.
        held.pop();
        assert!(pending.admit_endorsement().is_ok());
    }
}
