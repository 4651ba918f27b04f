//! Sessions: a member signs a random challenge with its key and gets a
//! JWT (EdDSA, signed with the peer's key) that names it for an hour.
//!
//! Challenges are 32 random bytes, single use, valid
//! [`CHALLENGE_TTL_MS`]; at most [`MAX_CHALLENGES`] are outstanding (the
//! oldest is dropped for a new one). Tokens are checked with the peer's
//! public key: algorithm, signature, `aud`, `iss`, and `exp` against the
//! gateway's clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use weft_types::{
    CertificateError, Domain, Identity, TrustStore, from_base64, random_bytes, sha3_256, to_base64,
};

use super::api::{ChallengeResponse, TokenRequest, TokenResponse};
use super::error::{ErrorBody, ErrorCode, GatewayError, JsonBody, Stage};
use super::{Gateway, SetupError};

/// How long a challenge is accepted, milliseconds.
pub const CHALLENGE_TTL_MS: u64 = 60_000;

/// Challenges outstanding at most; a new one beyond this drops the oldest.
pub const MAX_CHALLENGES: usize = 10_000;

/// How long a token is valid, milliseconds.
pub const TOKEN_TTL_MS: u64 = 3_600_000;

/// The `aud` claim of every token.
pub const AUDIENCE: &str = "weft-gateway";

const CHALLENGE_BYTES: usize = 32;

/// Who a valid token names; handlers behind the token check find it in the
/// request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The member's org.
    pub org: String,
    /// The member's name.
    pub name: String,
    /// The member's role.
    pub role: String,
}

/// The claims of a gateway token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    sub: String,
    org: String,
    name: String,
    role: String,
    iat: u64,
    exp: u64,
    aud: String,
    iss: String,
}

/// The keys and rules tokens are made and checked with.
pub(crate) struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    /// Tokens whose signature and claims were checked, with their claims:
    /// a client sends the same token with every request, and checking its
    /// signature each time cost a signature verification per request.
    /// Expiry is still checked on every use. Emptied when full.
    verified: Mutex<HashMap<String, Claims>>,
}

/// Tokens the gateway remembers as verified (see `TokenKeys`).
pub const MAX_VERIFIED_TOKENS: usize = 8192;

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from the peer's identity: its ed25519 key as PKCS#8 DER signs,
    /// its public key verifies.
    pub(crate) fn new(identity: &Identity, issuer: String) -> Result<Self, SetupError> {
        use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
        let pem = identity
            .signing_key()
            .to_pkcs8_pem()
            .map_err(|e| SetupError::Key(e.to_string()))?;
        let der = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .and_then(|k| k.to_pkcs8_der())
            .map_err(|e| SetupError::Key(e.to_string()))?;
        let encoding = EncodingKey::from_ed_der(der.as_bytes());
        let decoding = DecodingKey::from_ed_der(&identity.body().public_key.to_bytes());
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        // Expiry is checked against the gateway's clock, below.
        validation.validate_exp = false;
        validation.leeway = 0;
        Ok(TokenKeys {
            encoding,
            decoding,
            validation,
            issuer,
            verified: Mutex::new(HashMap::new()),
        })
    }

    fn issue(&self, claims: &Claims) -> Result<String, GatewayError> {
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &self.encoding).map_err(|e| {
            GatewayError::internal(Stage::Auth, format!("the token could not be signed: {e}"))
        })
    }

    fn check(&self, token: &str, now_ms: u64) -> Result<Session, GatewayError> {
        let known = self.verified.lock().get(token).cloned();
        let claims = match known {
            Some(claims) => claims,
            None => {
                let claims =
                    jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
                        .map_err(|e| {
                            GatewayError::unauthorized(format!("the token is not valid: {e}"))
                        })?
                        .claims;
                let mut verified = self.verified.lock();
                if verified.len() >= MAX_VERIFIED_TOKENS {
                    verified.clear();
                }
                verified.insert(token.to_string(), claims.clone());
                claims
            }
        };
        if claims.exp.saturating_mul(1000) <= now_ms {
            return Err(GatewayError::unauthorized(
                "the token has expired; get a new one from /v1/auth/challenge and /v1/auth/token",
            ));
        }
        Ok(Session {
            org: claims.org,
            name: claims.name,
            role: claims.role,
        })
    }
}

/// Outstanding challenges: bytes → expiry (unix ms), and the order they
/// were issued in, to drop the oldest.
#[derive(Debug, Default)]
pub(crate) struct Challenges(Mutex<ChallengeSet>);

#[derive(Debug, Default)]
struct ChallengeSet {
    expiry: HashMap<[u8; CHALLENGE_BYTES], u64>,
    order: VecDeque<[u8; CHALLENGE_BYTES]>,
}

impl Challenges {
    /// A fresh challenge valid until `now_ms + CHALLENGE_TTL_MS`.
    fn issue(&self, now_ms: u64) -> ([u8; CHALLENGE_BYTES], u64) {
        let bytes = random_bytes::<CHALLENGE_BYTES>();
        let expires = now_ms.saturating_add(CHALLENGE_TTL_MS);
        let mut set = self.0.lock();
        // Drop what expired or was used from the front, then the oldest if full.
        while let Some(front) = set.order.front().copied() {
            let stale = set.expiry.get(&front).is_none_or(|&e| e <= now_ms);
            if !stale && set.order.len() < MAX_CHALLENGES {
                break;
            }
            set.order.pop_front();
            set.expiry.remove(&front);
        }
        set.expiry.insert(bytes, expires);
        set.order.push_back(bytes);
        (bytes, expires)
    }

    /// Takes the challenge: true if it was outstanding and unexpired. It
    /// is gone either way.
    fn take(&self, bytes: &[u8], now_ms: u64) -> bool {
        let Ok(key) = <[u8; CHALLENGE_BYTES]>::try_from(bytes) else {
            return false;
        };
        self.0
            .lock()
            .expiry
            .remove(&key)
            .is_some_and(|expires| expires > now_ms)
    }

    /// Whether the challenge is outstanding now (not taken).
    fn is_outstanding(&self, bytes: &[u8], now_ms: u64) -> bool {
        let Ok(key) = <[u8; CHALLENGE_BYTES]>::try_from(bytes) else {
            return false;
        };
        self.0
            .lock()
            .expiry
            .get(&key)
            .is_some_and(|&expires| expires > now_ms)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().expiry.len()
    }
}

/// A challenge to sign for a token.
#[utoipa::path(
    post,
    path = "/v1/auth/challenge",
    tag = "auth",
    responses((status = 200, description = "A fresh challenge", body = ChallengeResponse))
)]
pub(crate) async fn challenge(State(gw): State<Arc<Gateway>>) -> Json<ChallengeResponse> {
    let (bytes, expires_at_ms) = gw.challenges.issue(gw.now_ms());
    Json(ChallengeResponse {
        challenge: to_base64(&bytes),
        expires_at_ms,
    })
}

/// A session token for a member that signed a challenge.
#[utoipa::path(
    post,
    path = "/v1/auth/token",
    tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "The token", body = TokenResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Unknown or used challenge, bad certificate or signature", body = ErrorBody),
    )
)]
pub(crate) async fn token(
    State(gw): State<Arc<Gateway>>,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<Json<TokenResponse>, GatewayError> {
    let challenge = from_base64(&req.challenge)
        .map_err(|e| GatewayError::malformed(format!("the challenge is not base64: {e}")))?;
    let now_ms = gw.now_ms();
    // Cheap first: a challenge never issued (or used, or expired) costs no
    // signature check.
    if !gw.challenges.is_outstanding(&challenge, now_ms) {
        return Err(unknown_challenge());
    }
    let config = gw.committer.config().current();
    let body = config
        .verify_certificate(&req.certificate, now_ms / 1000)
        .map_err(|e| {
            let message = match &e {
                CertificateError::UnknownOrg { .. } => format!(
                    "{e}; the channel's organisations are {}",
                    config.org_names().join(", ")
                ),
                _ => e.to_string(),
            };
            GatewayError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                ErrorCode::BadCreator,
                Stage::Auth,
                message,
            )
        })?;
    body.public_key
        .verify(Domain::AuthChallenge, &sha3_256(&challenge), &req.signature)
        .map_err(|_| {
            GatewayError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                ErrorCode::BadSignature,
                Stage::Auth,
                format!(
                    "the signature does not verify with the key of {}@{}: sign \
                     Domain::AuthChallenge over sha3_256 of the challenge bytes",
                    body.name, body.org
                ),
            )
        })?;
    // Taken only now, so nobody can burn another member's challenge with a
    // bad signature; taken atomically, so it serves one token at most.
    if !gw.challenges.take(&challenge, now_ms) {
        return Err(unknown_challenge());
    }
    let expires_at_ms = now_ms.saturating_add(TOKEN_TTL_MS);
    let claims = Claims {
        sub: format!("{}@{}", body.name, body.org),
        org: body.org.clone(),
        name: body.name.clone(),
        role: body.role.to_string(),
        iat: now_ms / 1000,
        exp: expires_at_ms / 1000,
        aud: AUDIENCE.to_string(),
        iss: gw.tokens.issuer.clone(),
    };
    let token = gw.tokens.issue(&claims)?;
    Ok(Json(TokenResponse {
        token,
        expires_at_ms: claims.exp.saturating_mul(1000),
        org: claims.org,
        name: claims.name,
        role: claims.role,
    }))
}

fn unknown_challenge() -> GatewayError {
    GatewayError::unauthorized(
        "the challenge is unknown, expired or already used; get a new one from /v1/auth/challenge",
    )
}

/// Checks `Authorization: Bearer <token>`.
fn bearer(gw: &Gateway, headers: &HeaderMap) -> Result<Session, GatewayError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(GatewayError::unauthorized(
            "no token: send Authorization: Bearer <token> (from /v1/auth/token)",
        ));
    };
    // The scheme is case-insensitive (RFC 9110).
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            GatewayError::unauthorized("the Authorization header is not `Bearer <token>`")
        })?;
    gw.tokens.check(token, gw.now_ms())
}

/// The layer in front of every route that needs a token: refuses the
/// request with 401, or passes it on with its [`Session`].
pub(crate) async fn require_token(
    Extension(gw): Extension<Arc<Gateway>>,
    mut req: Request,
    next: Next,
) -> Response {
    match bearer(&gw, req.headers()) {
        Ok(session) => {
            req.extensions_mut().insert(session);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use weft_types::{OrgAuthority, Role, SigningKey};

    use super::*;

    fn new_keys() -> TokenKeys {
        let ca = OrgAuthority::new("Org1", SigningKey::generate()).unwrap();
        let peer = ca.enroll("peer0", Role::Peer, 0, u64::MAX).unwrap();
        TokenKeys::new(&peer, "peer0@Org1".into()).unwrap()
    }

    fn claims(keys: &TokenKeys, exp: u64) -> Claims {
        Claims {
            sub: "client@Org1".into(),
            org: "Org1".into(),
            name: "client".into(),
            role: "client".into(),
            iat: 0,
            exp,
            aud: AUDIENCE.into(),
            iss: keys.issuer.clone(),
        }
    }

    #[test]
    fn a_remembered_token_is_still_checked_for_expiry_and_others_for_their_signature() {
        let keys = new_keys();
        let token = keys.issue(&claims(&keys, 100)).unwrap();
        assert_eq!(keys.check(&token, 1_000).unwrap().name, "client");
        assert_eq!(keys.verified.lock().len(), 1);
        // Remembered, and still refused once expired.
        assert!(keys.check(&token, 100_000).is_err());
        // A token differing in one signature character is verified, and refused.
        let mut forged = token.clone().into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(keys.check(&forged, 1_000).is_err());
        // Another gateway's token is refused, remembered ones or not.
        let other = new_keys();
        let foreign = other.issue(&claims(&other, 100)).unwrap();
        assert!(keys.check(&foreign, 1_000).is_err());
        assert_eq!(
            keys.verified.lock().len(),
            1,
            "only valid tokens are remembered"
        );
    }

    #[test]
    fn challenges_are_single_use_and_expire() {
        let c = Challenges::default();
        let (a, exp) = c.issue(1_000);
        assert_eq!(exp, 1_000 + CHALLENGE_TTL_MS);
        assert!(c.is_outstanding(&a, 1_000));
        assert!(c.take(&a, 1_001));
        assert!(!c.take(&a, 1_002), "single use");
        let (b, exp) = c.issue(2_000);
        assert!(!c.take(&b, exp), "expired at its expiry");
        assert!(!c.take(&[0u8; 5], 0), "wrong length");
    }

    #[test]
    fn outstanding_challenges_are_bounded() {
        let c = Challenges::default();
        let (first, _) = c.issue(0);
        for _ in 0..MAX_CHALLENGES {
            c.issue(0);
        }
        assert_eq!(c.len(), MAX_CHALLENGES);
        assert!(!c.is_outstanding(&first, 0), "the oldest was dropped");
        // Expired ones go first.
        let (fresh, _) = c.issue(CHALLENGE_TTL_MS + 1);
        assert!(c.len() <= MAX_CHALLENGES);
        assert!(c.is_outstanding(&fresh, CHALLENGE_TTL_MS + 1));
    }
}
