//! [`ClientError`]: what went wrong, named by the stage the gateway reports.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use weft_types::{TxId, ValidationCode};

/// Where in the transaction flow a request failed, as the gateway's error
/// body names it (`stage`), or as the client knows it for failures the
/// gateway never saw (a local timeout, an unreachable gateway).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Bad input, refused before anything ran.
    Request,
    /// Login (challenge, token) or the session token.
    Auth,
    /// Running the chaincode on the endorsing peers (also evaluate).
    Endorsement,
    /// Handing the transaction to the orderers.
    Ordering,
    /// The peers validating the committed transaction.
    Validation,
    /// Waiting for the transaction to be committed.
    CommitWait,
    /// A stage this client does not know (a newer gateway).
    Other(String),
}

impl Stage {
    /// Reads the gateway's `stage` string.
    pub fn parse(s: &str) -> Stage {
        match s {
            "request" => Stage::Request,
            "auth" => Stage::Auth,
            "endorsement" => Stage::Endorsement,
            "ordering" => Stage::Ordering,
            "validation" => Stage::Validation,
            "commit_wait" => Stage::CommitWait,
            other => Stage::Other(other.to_string()),
        }
    }

    /// The gateway's name for the stage.
    pub fn as_str(&self) -> &str {
        match self {
            Stage::Request => "request",
            Stage::Auth => "auth",
            Stage::Endorsement => "endorsement",
            Stage::Ordering => "ordering",
            Stage::Validation => "validation",
            Stage::CommitWait => "commit_wait",
            Stage::Other(s) => s,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong talking to a gateway, or with the local
/// files (wallet, profile, checkpoint) the client reads and writes.
///
/// Errors the gateway reports are built from its JSON error body by
/// [`ClientError::from_response`]; the variant names the stage that failed,
/// so a caller can tell "retry with a fresh proposal" (`Validation` with
/// `MVCC_READ_CONFLICT`) from "fix the request" (`Rejected`) from "an org is
/// down" (`Endorsement`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Login failed, or the token was refused even after logging in again.
    #[error("authentication failed: {message}")]
    Auth {
        /// The gateway's explanation.
        message: String,
    },
    /// The identity may not do this (HTTP 403).
    #[error("not allowed: {message}")]
    Forbidden {
        /// The gateway's explanation.
        message: String,
    },
    /// The gateway refused the request as malformed, too large or badly
    /// signed (HTTP 400 or 413). Retrying the same request will not help.
    #[error("request rejected ({code}): {message}")]
    Rejected {
        /// The gateway's stable error code (`malformed`, `too_large`, `bad_signature`, …).
        code: String,
        /// The gateway's explanation.
        message: String,
    },
    /// The block, transaction or chaincode does not exist (HTTP 404).
    #[error("not found: {message}")]
    NotFound {
        /// The gateway's explanation.
        message: String,
    },
    /// The chaincode ran and returned an error (HTTP 422).
    #[error("chaincode error{}: {message}", org.as_ref().map(|o| format!(" at {o}")).unwrap_or_default())]
    ChaincodeError {
        /// The org whose peer ran it, when the gateway says.
        org: Option<String>,
        /// The chaincode's error message.
        message: String,
    },
    /// Endorsement failed: an org's peers failed or disagreed, or the
    /// policy cannot be satisfied by the orgs that answered.
    #[error("endorsement failed{}: {message}", org.as_ref().map(|o| format!(" at {o}")).unwrap_or_default())]
    Endorsement {
        /// The org whose peers failed, when the gateway names one.
        org: Option<String>,
        /// The gateway's explanation.
        message: String,
    },
    /// The orderers refused the transaction or none could be reached.
    #[error("ordering failed: {message}")]
    Ordering {
        /// The gateway's explanation.
        message: String,
    },
    /// The transaction was committed in a block but marked invalid, so its
    /// writes were not applied. For `MVCC_READ_CONFLICT` and
    /// `PHANTOM_READ_CONFLICT`, submitting a fresh proposal usually succeeds.
    #[error("transaction {} committed invalid: {code}", tx_id.map(|t| t.to_string()).unwrap_or_else(|| "?".into()))]
    Validation {
        /// The peers' validation code.
        code: ValidationCode,
        /// The transaction, when known.
        tx_id: Option<TxId>,
    },
    /// The gateway is overloaded (HTTP 429); retry later. After a 429 the
    /// connection sends that gateway no new work (endorse, evaluate) for as
    /// long as it asked, and such calls fail at once with this error, not
    /// sent: see [`crate::Gateway::hold`].
    #[error("gateway overloaded: {message}")]
    Overloaded {
        /// The gateway's explanation.
        message: String,
        /// How long the gateway asked to be sent no new work, when it said.
        retry_after: Option<std::time::Duration>,
    },
    /// A wait ran out: the gateway's (HTTP 504) or this client's own.
    #[error("timed out during {stage}: {message}")]
    Timeout {
        /// What was being waited for.
        stage: Stage,
        /// Details.
        message: String,
    },
    /// No gateway could be reached, or the connection broke.
    #[error("transport error: {message}")]
    Transport {
        /// Details, naming the gateways tried.
        message: String,
    },
    /// The gateway answered something that does not parse or does not match
    /// what was asked (another transaction, another header). Never signed.
    #[error("protocol error: {message}")]
    Protocol {
        /// What did not match.
        message: String,
    },
    /// Any other error status from the gateway (e.g. 500 `internal`).
    #[error("gateway error {status} ({code}): {message}")]
    Gateway {
        /// HTTP status.
        status: u16,
        /// The gateway's error code.
        code: String,
        /// The stage it names, if any.
        stage: Option<Stage>,
        /// The gateway's explanation.
        message: String,
    },
    /// The caller passed something unusable (a signature that does not
    /// verify, an envelope that does not parse, a bad URL).
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong.
        message: String,
    },
    /// A signer (see [`crate::Signer`]) could not sign.
    #[error("signing failed: {message}")]
    Signer {
        /// The signer's explanation.
        message: String,
    },
    /// A wallet entry cannot be read or written.
    #[error("wallet: {message}")]
    Wallet {
        /// What is wrong, naming the file.
        message: String,
    },
    /// A connection profile cannot be read or used.
    #[error("profile {}: {message}", path.display())]
    Profile {
        /// The profile file (empty when parsed from text).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint file cannot be read or written.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The gateway's JSON error body (see `docs/gateway-api.md`, "Errors").
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    /// Stable snake_case code.
    #[serde(default)]
    pub code: String,
    /// What went wrong, in words.
    #[serde(default)]
    pub message: String,
    /// Where it failed.
    #[serde(default)]
    pub stage: Option<String>,
    /// For an endorsement failure, the org whose peers failed.
    #[serde(default)]
    pub org: Option<String>,
    /// For `invalid_transaction`, the validation code (`"MVCC_READ_CONFLICT"`).
    #[serde(default)]
    pub validation_code: Option<String>,
}

impl ClientError {
    /// Builds the error for an HTTP error `status` and its `body`, for a
    /// request about transaction `tx_id` (if any). A body that is not the
    /// gateway's JSON error (a proxy's HTML page) is kept as the message.
    pub fn from_response(status: u16, body: &[u8], tx_id: Option<TxId>) -> ClientError {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(parsed) => ClientError::from_body(status, parsed, tx_id),
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let message: String = text.trim().chars().take(500).collect();
                ClientError::from_body(
                    status,
                    ErrorBody {
                        message,
                        ..ErrorBody::default()
                    },
                    tx_id,
                )
            }
        }
    }

    /// Builds the error for an HTTP error `status` and a parsed error body.
    pub fn from_body(status: u16, body: ErrorBody, tx_id: Option<TxId>) -> ClientError {
        let stage = body.stage.as_deref().map(Stage::parse);
        let code = body.code.as_str();
        let message = body.message;
        if status == 401 || code == "unauthorized" || stage == Some(Stage::Auth) {
            return ClientError::Auth { message };
        }
        if let Some(vc) = body.validation_code.as_deref() {
            return match parse_validation_code(vc) {
                Some(code) => ClientError::Validation { code, tx_id },
                None => ClientError::Protocol {
                    message: format!("the gateway reported an unknown validation code {vc:?}"),
                },
            };
        }
        if status == 422 || code == "chaincode_error" {
            return ClientError::ChaincodeError {
                org: body.org.clone(),
                message,
            };
        }
        // Back-pressure at any stage (a full endorsement queue, the
        // orderers' queue): the same request may succeed later.
        if status == 429 || code == "overloaded" {
            return ClientError::Overloaded {
                message,
                retry_after: None,
            };
        }
        if status == 504 || code == "timeout" {
            return ClientError::Timeout {
                stage: stage.unwrap_or(Stage::CommitWait),
                message,
            };
        }
        if stage == Some(Stage::Endorsement)
            || matches!(code, "endorsement_failed" | "policy_unsatisfiable")
        {
            return ClientError::Endorsement {
                org: body.org,
                message,
            };
        }
        if stage == Some(Stage::Ordering) || code == "ordering_failed" || status == 503 {
            return ClientError::Ordering { message };
        }
        let code = if code.is_empty() {
            format!("http_{status}")
        } else {
            code.to_string()
        };
        match status {
            403 => ClientError::Forbidden { message },
            404 => ClientError::NotFound { message },
            429 => ClientError::Overloaded {
                message,
                retry_after: None,
            },
            400 | 413 => ClientError::Rejected { code, message },
            _ => ClientError::Gateway {
                status,
                code,
                stage,
                message,
            },
        }
    }

    /// Whether retrying the same request later may succeed: the gateway was
    /// unreachable, overloaded or failed inside (5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport { .. }
            | ClientError::Overloaded { .. }
            | ClientError::Timeout { .. }
            | ClientError::Ordering { .. } => true,
            ClientError::Gateway { status, .. } => *status >= 500,
            _ => false,
        }
    }

    pub(crate) fn protocol(message: impl Into<String>) -> ClientError {
        ClientError::Protocol {
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> ClientError {
        ClientError::InvalidInput {
            message: message.into(),
        }
    }
}

/// Parses a validation code with its serde form (`"MVCC_READ_CONFLICT"`).
pub(crate) fn parse_validation_code(name: &str) -> Option<ValidationCode> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

/// Result with [`ClientError`].
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// One helper for every mapping case: status and JSON body in, error out.
    fn check(status: u16, body: &str, expected: ClientError) {
        let got = ClientError::from_response(status, body.as_bytes(), None);
        assert_eq!(got, expected, "status {status}, body {body}");
    }

    #[test]
    fn gateway_errors_map_to_their_stage() {
        check(
            502,
            r#"{"code":"endorsement_failed","message":"peer0 down","stage":"endorsement","org":"Org2","validation_code":null}"#,
            ClientError::Endorsement {
                org: Some("Org2".into()),
                message: "peer0 down".into(),
            },
        );
        check(
            409,
            r#"{"code":"invalid_transaction","message":"read conflict","stage":"validation","org":null,"validation_code":"MVCC_READ_CONFLICT"}"#,
            ClientError::Validation {
                code: ValidationCode::MvccReadConflict,
                tx_id: None,
            },
        );
        check(
            422,
            r#"{"code":"chaincode_error","message":"asset1 does not exist","stage":"endorsement","org":"Org2"}"#,
            ClientError::ChaincodeError {
                org: Some("Org2".into()),
                message: "asset1 does not exist".into(),
            },
        );
        check(
            401,
            r#"{"code":"unauthorized","message":"token expired","stage":"auth"}"#,
            ClientError::Auth {
                message: "token expired".into(),
            },
        );
        check(
            502,
            r#"{"code":"ordering_failed","message":"orderer said no","stage":"ordering"}"#,
            ClientError::Ordering {
                message: "orderer said no".into(),
            },
        );
        check(
            503,
            r#"{"code":"ordering_failed","message":"no orderer reachable"}"#,
            ClientError::Ordering {
                message: "no orderer reachable".into(),
            },
        );
        check(
            504,
            r#"{"code":"timeout","message":"not committed after 30000 ms","stage":"commit_wait"}"#,
            ClientError::Timeout {
                stage: Stage::CommitWait,
                message: "not committed after 30000 ms".into(),
            },
        );
        check(
            400,
            r#"{"code":"bad_signature","message":"proposal signature","stage":"request"}"#,
            ClientError::Rejected {
                code: "bad_signature".into(),
                message: "proposal signature".into(),
            },
        );
        check(
            413,
            r#"{"code":"too_large","message":"over 16 MiB"}"#,
            ClientError::Rejected {
                code: "too_large".into(),
                message: "over 16 MiB".into(),
            },
        );
        check(
            404,
            r#"{"code":"not_found","message":"no block 9","stage":"request"}"#,
            ClientError::NotFound {
                message: "no block 9".into(),
            },
        );
        check(
            403,
            r#"{"code":"forbidden","message":"admins only"}"#,
            ClientError::Forbidden {
                message: "admins only".into(),
            },
        );
        check(
            429,
            r#"{"code":"overloaded","message":"slow down"}"#,
            ClientError::Overloaded {
                message: "slow down".into(),
                retry_after: None,
            },
        );
        // Back-pressure is Overloaded whatever stage refused.
        check(
            429,
            r#"{"code":"overloaded","stage":"endorsement","org":"Org2","message":"full"}"#,
            ClientError::Overloaded {
                message: "full".into(),
                retry_after: None,
            },
        );
        check(
            500,
            r#"{"code":"internal","message":"oops"}"#,
            ClientError::Gateway {
                status: 500,
                code: "internal".into(),
                stage: None,
                message: "oops".into(),
            },
        );
        check(
            502,
            r#"{"code":"policy_unsatisfiable","message":"Org3 has no peer","stage":"endorsement"}"#,
            ClientError::Endorsement {
                org: None,
                message: "Org3 has no peer".into(),
            },
        );
    }

    #[test]
    fn odd_bodies_still_map() {
        check(
            502,
            "<html>Bad Gateway</html>",
            ClientError::Gateway {
                status: 502,
                code: "http_502".into(),
                stage: None,
                message: "<html>Bad Gateway</html>".into(),
            },
        );
        check(
            409,
            r#"{"code":"invalid_transaction","message":"?","validation_code":"NO_SUCH_CODE"}"#,
            ClientError::Protocol {
                message: "the gateway reported an unknown validation code \"NO_SUCH_CODE\"".into(),
            },
        );
        check(
            401,
            "",
            ClientError::Auth {
                message: String::new(),
            },
        );
    }

    #[test]
    fn validation_error_carries_the_tx_id() {
        let tx = TxId(weft_types::sha3_256(b"tx"));
        let err = ClientError::from_response(
            409,
            br#"{"code":"invalid_transaction","message":"","validation_code":"PHANTOM_READ_CONFLICT"}"#,
            Some(tx),
        );
        assert_eq!(
            err,
            ClientError::Validation {
                code: ValidationCode::PhantomReadConflict,
                tx_id: Some(tx)
            }
        );
        assert!(err.to_string().contains("PHANTOM_READ_CONFLICT"), "{err}");
    }

    #[test]
    fn every_validation_code_parses_by_name() {
        for code in ValidationCode::ALL {
            assert_eq!(parse_validation_code(code.name()), Some(code));
        }
        assert_eq!(parse_validation_code("mvcc_read_conflict"), None);
    }
}
