//! The one error shape every gateway answer uses (`docs/gateway-api.md`,
//! "Errors"), the JSON and query extractors whose rejections take that
//! shape, and the layer that gives it to the errors axum makes itself
//! (unknown route, wrong method, body over the limit).

use std::fmt;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use weft_types::ValidationCode;

use crate::endorser::EndorseError;

/// What went wrong, as a stable snake_case code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No token, an expired or forged token, or an unknown challenge.
    Unauthorized,
    /// The caller may not do this.
    Forbidden,
    /// The request does not parse or is inconsistent.
    Malformed,
    /// The body is over the limit.
    TooLarge,
    /// No such block, transaction, chaincode or route.
    NotFound,
    /// A signature does not verify.
    BadSignature,
    /// A certificate is not issued by a channel org, or not valid now.
    BadCreator,
    /// The chaincode returned an error.
    ChaincodeError,
    /// An endorsing peer failed, or the endorsements disagree.
    EndorsementFailed,
    /// No set of the channel's peers can satisfy the endorsement policy.
    PolicyUnsatisfiable,
    /// The orderers refused the envelope or could not be reached.
    OrderingFailed,
    /// Too much load: retry later.
    Overloaded,
    /// Waiting timed out.
    Timeout,
    /// The transaction committed, but invalid.
    InvalidTransaction,
    /// The peer failed.
    Internal,
}

/// Where a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Bad input, before anything ran.
    Request,
    /// Authentication (token, challenge, creator).
    Auth,
    /// Endorsement (simulation on this or another peer).
    Endorsement,
    /// Ordering (the orderers).
    Ordering,
    /// Validation (the transaction committed invalid).
    Validation,
    /// Waiting for the commit.
    CommitWait,
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code.
    pub code: ErrorCode,
    /// What went wrong, in words.
    pub message: String,
    /// Where it failed.
    pub stage: Stage,
    /// For an endorsement failure, the org whose peers failed.
    pub org: Option<String>,
    /// For `invalid_transaction`, the code the peers gave the transaction.
    #[schema(value_type = Option<String>, example = "MVCC_READ_CONFLICT")]
    pub validation_code: Option<ValidationCode>,
}

/// An error answer: a status and an [`ErrorBody`].
#[derive(Debug, Clone)]
pub(crate) struct GatewayError {
    pub(crate) status: StatusCode,
    pub(crate) body: ErrorBody,
    /// A 429 about work capacity names a hold ([`OVERLOAD_HOLD_MS`]); one
    /// about another limit (event streams) does not.
    hold: bool,
}

impl GatewayError {
    pub(crate) fn new(
        status: StatusCode,
        code: ErrorCode,
        stage: Stage,
        message: impl Into<String>,
    ) -> Self {
        GatewayError {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                stage,
                org: None,
                validation_code: None,
            },
            hold: status == StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// A 429 that is not about work capacity: it names no hold, so clients
    /// keep sending endorsements and evaluations.
    pub(crate) fn without_hold(mut self) -> Self {
        self.hold = false;
        self
    }

    /// Names the org whose peers failed.
    pub(crate) fn with_org(mut self, org: &str) -> Self {
        self.body.org = Some(org.to_string());
        self
    }

    /// 400 `malformed` at stage `request`.
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::Malformed,
            Stage::Request,
            message,
        )
    }

    /// 404 `not_found` at stage `request`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            Stage::Request,
            message,
        )
    }

    /// 401 `unauthorized` at stage `auth`.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            Stage::Auth,
            message,
        )
    }

    /// 500 `internal` at `stage`.
    pub(crate) fn internal(stage: Stage, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            stage,
            message,
        )
    }

    /// 413 `too_large` at stage `request`.
    pub(crate) fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            Stage::Request,
            format!(
                "the request body is over the limit of {} bytes",
                super::MAX_BODY_BYTES
            ),
        )
    }

    /// What the endorser's refusal means for the client; `org` is this
    /// peer's org (the one that ran the chaincode).
    pub(crate) fn from_endorse(e: &EndorseError, org: &str) -> Self {
        let message = e.to_string();
        let (status, code, stage) = match e {
            EndorseError::Malformed { .. }
            | EndorseError::WrongChannel { .. }
            | EndorseError::TxIdMismatch { .. }
            | EndorseError::TransientMismatch { .. } => (
                StatusCode::BAD_REQUEST,
                ErrorCode::Malformed,
                Stage::Request,
            ),
            EndorseError::Creator(_) => {
                (StatusCode::UNAUTHORIZED, ErrorCode::BadCreator, Stage::Auth)
            }
            EndorseError::BadSignature { .. } => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::BadSignature,
                Stage::Auth,
            ),
            EndorseError::CreatorRole { .. } => {
                (StatusCode::FORBIDDEN, ErrorCode::Forbidden, Stage::Auth)
            }
            EndorseError::UnknownChaincode { .. } => {
                (StatusCode::NOT_FOUND, ErrorCode::NotFound, Stage::Request)
            }
            EndorseError::Chaincode { .. } => {
                let err = Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::ChaincodeError,
                    Stage::Endorsement,
                    message,
                );
                return err.with_org(org);
            }
            EndorseError::DuplicateTxId { .. } => {
                // The tx id is on the ledger already: whatever the first
                // transaction got, this one would be a duplicate.
                let mut err = Self::new(
                    StatusCode::CONFLICT,
                    ErrorCode::InvalidTransaction,
                    Stage::Endorsement,
                    message,
                );
                err.body.validation_code = Some(ValidationCode::DuplicateTxid);
                return err;
            }
            EndorseError::Execution { .. }
            | EndorseError::ModuleMissing { .. }
            | EndorseError::ModuleUnusable { .. }
            | EndorseError::Ledger(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                Stage::Endorsement,
            ),
        };
        let err = Self::new(status, code, stage, message);
        if stage == Stage::Endorsement {
            err.with_org(org)
        } else {
            err
        }
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({:?}): {}",
            self.status, self.body.code, self.body.message
        )
    }
}

/// How long an overloaded gateway asks a client to send it no new work
/// (`x-weft-retry-after-ms` on every 429; `Retry-After` in whole seconds).
/// Short against the work already queued (the submits waiting for their
/// commit take about a second to drain at full load), so the pipeline
/// stays full while refused work stops costing both sides a signature and
/// an HTTP exchange.
pub const OVERLOAD_HOLD_MS: u64 = 100;

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.hold {
            let headers = response.headers_mut();
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(OVERLOAD_HOLD_MS.div_ceil(1000)),
            );
            headers.insert(
                weft_types::RETRY_AFTER_MS_HEADER,
                HeaderValue::from(OVERLOAD_HOLD_MS),
            );
        }
        response
    }
}

impl From<crate::ledger::LedgerError> for GatewayError {
    fn from(e: crate::ledger::LedgerError) -> Self {
        GatewayError::internal(Stage::Request, format!("the ledger could not be read: {e}"))
    }
}

/// A JSON request body. Unlike `axum::Json`, every rejection is an
/// [`ErrorBody`]: 413 over the limit, 400 for anything that does not parse.
/// The content type is not checked: the body must be JSON whatever it says.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = GatewayError;

    async fn from_request(req: Request, state: &S) -> Result<Self, GatewayError> {
        let raw = RawJson::from_request(req, state).await?;
        raw.parse().map(JsonBody)
    }
}

/// A JSON request body read but not parsed yet, so that a handler can
/// refuse (429) before paying for the parse, and pass the bytes on as
/// they came. [`RawJson::parse`] rejects as [`JsonBody`] does.
#[derive(Debug, Clone)]
pub(crate) struct RawJson(pub(crate) Bytes);

impl RawJson {
    /// The body as a `T`, or 400.
    pub(crate) fn parse<T: DeserializeOwned>(&self) -> Result<T, GatewayError> {
        serde_json::from_slice(&self.0)
            .map_err(|e| GatewayError::malformed(format!("the request body is not valid: {e}")))
    }

    /// The body as one NDJSON line (no newline byte: JSON needs none
    /// outside strings, where it is escaped), if it is one.
    pub(crate) fn as_line(&self) -> Option<&Bytes> {
        (!self.0.contains(&b'\n')).then_some(&self.0)
    }
}

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = GatewayError;

    async fn from_request(req: Request, state: &S) -> Result<Self, GatewayError> {
        Bytes::from_request(req, state)
            .await
            .map(RawJson)
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    GatewayError::too_large()
                } else {
                    GatewayError::malformed(format!("the request body could not be read: {e}"))
                }
            })
    }
}

/// Query parameters whose rejection is a 400 [`ErrorBody`].
#[derive(Debug)]
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, GatewayError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| QueryParams(q))
            .map_err(|e| {
                GatewayError::malformed(format!("bad query parameters: {}", e.body_text()))
            })
    }
}

/// The answer to a route that does not exist.
pub(crate) async fn no_route() -> GatewayError {
    GatewayError::not_found("no such route; the API is described at /v1/openapi.json")
}

/// Error answers that axum or a layer made in plain text (an unmatched
/// method, a body over the limit read by something else) get the JSON
/// shape; JSON answers and successes pass unchanged.
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // An error text is short; anything longer is cut, never buffered whole.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let (code, stage) = match status {
        StatusCode::UNAUTHORIZED => (ErrorCode::Unauthorized, Stage::Auth),
        StatusCode::FORBIDDEN => (ErrorCode::Forbidden, Stage::Auth),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, Stage::Request),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::TooLarge, Stage::Request),
        StatusCode::TOO_MANY_REQUESTS => (ErrorCode::Overloaded, Stage::Request),
        StatusCode::GATEWAY_TIMEOUT => (ErrorCode::Timeout, Stage::Request),
        s if s.is_server_error() => (ErrorCode::Internal, Stage::Request),
        _ => (ErrorCode::Malformed, Stage::Request),
    };
    let message = match (text.is_empty(), status) {
        (false, _) => text,
        (true, StatusCode::METHOD_NOT_ALLOWED) => {
            "this method is not allowed on this path; the API is described at /v1/openapi.json"
                .to_string()
        }
        (true, s) => s
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_string(),
    };
    let mut fixed = GatewayError::new(status, code, stage, message).into_response();
    // Keep what axum said beyond the body (an `Allow` header on a 405).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fixed
}

/// A response from `bytes` with a JSON content type (for documents kept serialized).
pub(crate) fn json_bytes(bytes: impl Into<Body>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes.into(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overloaded_answers_say_how_long_to_hold_new_work() {
        let overloaded = GatewayError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Overloaded,
            Stage::Endorsement,
            "full",
        )
        .into_response();
        let headers = overloaded.headers();
        assert_eq!(headers[weft_types::RETRY_AFTER_MS_HEADER], "100");
        assert_eq!(headers[header::RETRY_AFTER], "1");
        let other = GatewayError::malformed("no").into_response();
        assert!(
            other
                .headers()
                .get(weft_types::RETRY_AFTER_MS_HEADER)
                .is_none()
        );
        assert!(other.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn a_raw_body_parses_like_json_body_and_is_a_line_without_newlines() {
        let raw = RawJson(Bytes::from_static(br#"{"a": 1}"#));
        let v: serde_json::Value = raw.parse().unwrap();
        assert_eq!(v["a"], 1);
        assert_eq!(raw.as_line(), Some(&raw.0));
        let pretty = RawJson(Bytes::from_static(b"{\n  \"a\": 1\n}"));
        assert!(pretty.as_line().is_none(), "re-encoded, not sent as it is");
        let bad = RawJson(Bytes::from_static(b"{\"a\":"));
        let err = bad.parse::<serde_json::Value>().unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(
            err.body.message.contains("not valid"),
            "{}",
            err.body.message
        );
    }
}
