//! Member certificates issued by an organisation's root key, and the
//! identities (certificate + private key) that sign with them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::crypto::{
    CryptoError, Digest, Domain, Hasher, PublicKey, Signature, SigningKey, sha3_256,
};
use crate::names::{NameError, check_name};
pub use weft_policy::Role;

/// Why a certificate was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The body bytes are not a certificate.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// The issuing organisation is not part of the channel.
    #[error("certificate of {name}@{org} names an organisation that is not in the channel")]
    UnknownOrg {
        /// The org the certificate claims.
        org: String,
        /// The member name in the certificate.
        name: String,
    },
    /// The org root key did not sign these bytes.
    #[error("certificate of {name}@{org} is not signed by {org}'s root key")]
    BadSignature {
        /// The org the certificate claims.
        org: String,
        /// The member name in the certificate.
        name: String,
    },
    /// `now` is before the certificate's validity starts.
    #[error(
        "certificate of {name}@{org} is not valid until {not_before} (unix seconds; now {now})"
    )]
    NotYetValid {
        /// The org the certificate claims.
        org: String,
        /// The member name in the certificate.
        name: String,
        /// Start of validity, unix seconds.
        not_before: u64,
        /// The time checked, unix seconds.
        now: u64,
    },
    /// `now` is after the certificate's validity ended.
    #[error("certificate of {name}@{org} expired at {not_after} (unix seconds; now {now})")]
    Expired {
        /// The org the certificate claims.
        org: String,
        /// The member name in the certificate.
        name: String,
        /// End of validity, unix seconds.
        not_after: u64,
        /// The time checked, unix seconds.
        now: u64,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
    /// A name breaks the naming rule.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The validity window is empty.
    #[error("certificate validity ends ({not_after}) before it starts ({not_before})")]
    EmptyValidity {
        /// Start of validity, unix seconds.
        not_before: u64,
        /// End of validity, unix seconds.
        not_after: u64,
    },
}

/// What a certificate asserts. Serialized to JSON; the JSON bytes are what the
/// org root key signs, and they travel unchanged inside [`Certificate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateBody {
    /// The issuing organisation.
    pub org: String,
    /// The member's name, unique within its org (`admin`, `peer0`, `client`, …).
    pub name: String,
    /// What the member may do.
    pub role: Role,
    /// The member's signing key.
    pub public_key: PublicKey,
    /// Start of validity, unix seconds, inclusive.
    pub not_before: u64,
    /// End of validity, unix seconds, inclusive.
    pub not_after: u64,
}

impl CertificateBody {
    /// Checks the validity window against `now` (unix seconds).
    pub fn check_validity(&self, now: u64) -> Result<(), CertificateError> {
        if now < self.not_before {
            return Err(CertificateError::NotYetValid {
                org: self.org.clone(),
                name: self.name.clone(),
                not_before: self.not_before,
                now,
            });
        }
        if now > self.not_after {
            return Err(CertificateError::Expired {
                org: self.org.clone(),
                name: self.name.clone(),
                not_after: self.not_after,
                now,
            });
        }
        Ok(())
    }
}

/// A signed certificate: the exact body bytes and the org root key's signature over them.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Certificate {
    /// JSON of a [`CertificateBody`], exactly as signed.
    pub body: Bytes,
    /// The org root key's signature ([`Domain::Certificate`]).
    pub signature: Signature,
}

impl Certificate {
    /// Issues a certificate: serializes `body` and signs it with the org root key.
    pub fn issue(body: &CertificateBody, org_root: &SigningKey) -> Certificate {
        let bytes = crate::to_json_bytes(body);
        let signature = org_root.sign(Domain::Certificate, &sha3_256(&bytes));
        Certificate {
            body: Bytes(bytes),
            signature,
        }
    }

    /// Parses the body without checking anything. Use [`Certificate::verify`]
    /// or a [`TrustStore`] before trusting what it says.
    pub fn decode(&self) -> Result<CertificateBody, CertificateError> {
        serde_json::from_slice(&self.body).map_err(|e| CertificateError::Malformed(e.to_string()))
    }

    /// Checks the root key's signature over the body bytes, then parses them and
    /// checks the validity window.
    pub fn verify(
        &self,
        org_root: &PublicKey,
        now: u64,
    ) -> Result<CertificateBody, CertificateError> {
        // Parse first only to name the certificate in errors; nothing parsed is
        // trusted until the signature over the exact bytes has been checked.
        let body = self.decode()?;
        org_root
            .verify(Domain::Certificate, &sha3_256(&self.body), &self.signature)
            .map_err(|_| CertificateError::BadSignature {
                org: body.org.clone(),
                name: body.name.clone(),
            })?;
        body.check_validity(now)?;
        Ok(body)
    }

    /// Identifies the certificate: sha3-256 over its body and signature.
    pub fn digest(&self) -> Digest {
        let mut h = Hasher::new();
        h.update(Domain::Certificate.tag())
            .update_prefixed(&self.body)
            .update(&self.signature.0);
        h.finalize()
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decode() {
            Ok(b) => write!(f, "Certificate({}@{} {})", b.name, b.org, b.role),
            Err(_) => write!(f, "Certificate(<malformed, {} bytes>)", self.body.len()),
        }
    }
}

/// Where verifiers find each organisation's root key. The channel config is one.
pub trait TrustStore {
    /// The root key of `org`, if the org is trusted.
    fn org_root(&self, org: &str) -> Option<&PublicKey>;

    /// Verifies a certificate against the root key of the org it names.
    fn verify_certificate(
        &self,
        cert: &Certificate,
        now: u64,
    ) -> Result<CertificateBody, CertificateError> {
        let body = cert.decode()?;
        let root = self
            .org_root(&body.org)
            .ok_or_else(|| CertificateError::UnknownOrg {
                org: body.org.clone(),
                name: body.name.clone(),
            })?;
        cert.verify(root, now)
    }
}

impl TrustStore for std::collections::BTreeMap<String, PublicKey> {
    fn org_root(&self, org: &str) -> Option<&PublicKey> {
        self.get(org)
    }
}

/// An organisation's certificate authority: its name and root key.
#[derive(Debug, Clone)]
pub struct OrgAuthority {
    org: String,
    root: SigningKey,
}

impl OrgAuthority {
    /// Wraps an org's root key. The org name must be a valid name.
    pub fn new(org: &str, root: SigningKey) -> Result<Self, NameError> {
        check_name("organisation", org)?;
        Ok(OrgAuthority {
            org: org.to_string(),
            root,
        })
    }

    /// The org's name.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// The org's root private key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.root
    }

    /// The org's root public key, as published in the channel config.
    pub fn root_key(&self) -> PublicKey {
        self.root.public_key()
    }

    /// Issues a certificate for `public_key`, valid over `[not_before, not_after]`.
    pub fn issue(
        &self,
        name: &str,
        role: Role,
        public_key: PublicKey,
        not_before: u64,
        not_after: u64,
    ) -> Result<Certificate, CertificateError> {
        check_name("member", name)?;
        if not_after < not_before {
            return Err(CertificateError::EmptyValidity {
                not_before,
                not_after,
            });
        }
        let body = CertificateBody {
            org: self.org.clone(),
            name: name.to_string(),
            role,
            public_key,
            not_before,
            not_after,
        };
        Ok(Certificate::issue(&body, &self.root))
    }

    /// Generates a key pair and issues its certificate in one step.
    pub fn enroll(
        &self,
        name: &str,
        role: Role,
        not_before: u64,
        not_after: u64,
    ) -> Result<Identity, CertificateError> {
        let key = SigningKey::generate();
        let cert = self.issue(name, role, key.public_key(), not_before, not_after)?;
        Ok(Identity::from_parts(cert, key).expect("a freshly issued certificate matches its key"))
    }
}

/// A member that can sign: its certificate, the parsed body, and its private key.
#[derive(Clone)]
pub struct Identity {
    certificate: Certificate,
    body: CertificateBody,
    key: SigningKey,
}

impl Identity {
    /// Pairs a certificate with its private key; fails if they do not belong together.
    pub fn from_parts(certificate: Certificate, key: SigningKey) -> Result<Self, CertificateError> {
        let body = certificate.decode()?;
        if body.public_key != key.public_key() {
            return Err(CertificateError::KeyMismatch);
        }
        Ok(Identity {
            certificate,
            body,
            key,
        })
    }

    /// The certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// What the certificate says.
    pub fn body(&self) -> &CertificateBody {
        &self.body
    }

    /// The member's org.
    pub fn org(&self) -> &str {
        &self.body.org
    }

    /// The member's name.
    pub fn name(&self) -> &str {
        &self.body.name
    }

    /// The member's role.
    pub fn role(&self) -> Role {
        self.body.role
    }

    /// The private key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Signs the digest of a payload for `domain`.
    pub fn sign(&self, domain: Domain, payload_digest: &Digest) -> Signature {
        self.key.sign(domain, payload_digest)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Identity({}@{} {})",
            self.body.name, self.body.org, self.body.role
        )
    }
}

impl From<CryptoError> for CertificateError {
    fn from(e: CryptoError) -> Self {
        CertificateError::Malformed(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrgAuthority {
        OrgAuthority::new("Bank", SigningKey::generate()).unwrap()
    }

    #[test]
    fn issued_certificate_verifies_within_validity() {
        let ca = org();
        let id = ca.enroll("peer0", Role::Peer, 100, 200).unwrap();
        let body = id.certificate().verify(&ca.root_key(), 150).unwrap();
        assert_eq!(
            (body.org.as_str(), body.name.as_str(), body.role),
            ("Bank", "peer0", Role::Peer)
        );
        assert!(matches!(
            id.certificate().verify(&ca.root_key(), 99),
            Err(CertificateError::NotYetValid { .. })
        ));
        assert!(matches!(
            id.certificate().verify(&ca.root_key(), 201),
            Err(CertificateError::Expired { .. })
        ));
    }

    #[test]
    fn certificate_from_another_root_is_rejected() {
        let ca = org();
        let other = org();
        let id = ca.enroll("client", Role::Client, 0, u64::MAX).unwrap();
        assert!(matches!(
            id.certificate().verify(&other.root_key(), 1),
            Err(CertificateError::BadSignature { .. })
        ));
    }

    #[test]
    fn flipping_any_byte_breaks_the_certificate() {
        let ca = org();
        let id = ca.enroll("admin", Role::Admin, 0, u64::MAX).unwrap();
        let cert = id.certificate().clone();
        for i in 0..cert.body.len() {
            let mut bad = cert.clone();
            bad.body.0[i] ^= 0x01;
            assert!(bad.verify(&ca.root_key(), 1).is_err(), "body byte {i}");
        }
        for i in 0..64 {
            let mut bad = cert.clone();
            bad.signature.0[i] ^= 0x01;
            assert!(bad.verify(&ca.root_key(), 1).is_err(), "signature byte {i}");
        }
    }

    #[test]
    fn key_must_match_certificate() {
        let ca = org();
        let id = ca.enroll("admin", Role::Admin, 0, u64::MAX).unwrap();
        assert_eq!(
            Identity::from_parts(id.certificate().clone(), SigningKey::generate()).unwrap_err(),
            CertificateError::KeyMismatch
        );
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(OrgAuthority::new("", SigningKey::generate()).is_err());
        assert!(OrgAuthority::new("Bad.Org", SigningKey::generate()).is_err());
        assert!(org().enroll("a b", Role::Peer, 0, 1).is_err());
    }
}
