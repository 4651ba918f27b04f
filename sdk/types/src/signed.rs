//! Signed messages that carry the exact bytes that were signed.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::certificate::{Certificate, CertificateBody, CertificateError, Identity, TrustStore};
use crate::crypto::{Digest, Domain, Hasher, Signature, sha3_256};

/// A type that is signed as a whole, and the purpose its signatures are for.
pub trait SignedPayload: Serialize + DeserializeOwned {
    /// The domain tag its signatures carry.
    const DOMAIN: Domain;
}

/// Why a signed message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The signer's certificate is not acceptable.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// The signature does not match the bytes and the signer's key.
    #[error("signature of {signer} does not verify over the {what} it carries")]
    BadSignature {
        /// Who claims to have signed.
        signer: String,
        /// What was signed.
        what: &'static str,
    },
    /// The signed bytes verified but are not the expected type.
    #[error("signed {what} is malformed: {reason}")]
    Malformed {
        /// What was expected.
        what: &'static str,
        /// The parser's complaint.
        reason: String,
    },
}

/// A `T` signed by a member: the exact JSON bytes of `T`, the signature over
/// `domain || sha3_256(bytes)`, and the signer's certificate.
///
/// Verifiers check the bytes they received and parse them afterwards, so no
/// canonical encoding is needed and re-serializing never breaks a signature.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Signed<T> {
    /// JSON of `T`, exactly as signed.
    pub payload: Bytes,
    /// The signer's signature.
    pub signature: Signature,
    /// The signer's certificate.
    pub signer: Certificate,
    #[serde(skip)]
    _type: PhantomData<fn() -> T>,
}

/// A signed message whose signature and certificate have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<T> {
    /// The parsed payload.
    pub value: T,
    /// Who signed it.
    pub signer: CertificateBody,
}

impl<T: SignedPayload> Signed<T> {
    /// Serializes `value` and signs it.
    pub fn sign(value: &T, identity: &Identity) -> Self {
        let payload = crate::to_json_bytes(value);
        let signature = identity.sign(T::DOMAIN, &sha3_256(&payload));
        Self::from_parts(payload, signature, identity.certificate().clone())
    }

    /// Assembles a message from bytes signed elsewhere (offline or hardware signing).
    pub fn from_parts(payload: Vec<u8>, signature: Signature, signer: Certificate) -> Self {
        Signed {
            payload: Bytes(payload),
            signature,
            signer,
            _type: PhantomData,
        }
    }

    /// The bytes an offline signer must sign for `payload`.
    pub fn message_to_sign(payload: &[u8]) -> Vec<u8> {
        T::DOMAIN.message(&sha3_256(payload))
    }

    /// sha3-256 of the payload bytes.
    pub fn payload_digest(&self) -> Digest {
        sha3_256(&self.payload)
    }

    /// Checks only the signature, with the key in the signer's certificate.
    /// The certificate itself is not checked, so neither is the body this
    /// returns: use [`Signed::verify`] unless the certificate was verified
    /// already (e.g. through a cache keyed by [`Certificate::digest`]).
    pub fn verify_signature(&self) -> Result<CertificateBody, VerifyError> {
        let body = self.signer.decode()?;
        body.public_key
            .verify(T::DOMAIN, &self.payload_digest(), &self.signature)
            .map_err(|_| VerifyError::BadSignature {
                signer: format!("{}@{}", body.name, body.org),
                what: domain_name(T::DOMAIN),
            })?;
        Ok(body)
    }

    /// Checks the signer's certificate against `trust` at time `now` (unix
    /// seconds), then the signature, then parses the payload. The signer's
    /// role and the payload's channel are the caller's to check: they depend
    /// on what is being verified.
    pub fn verify(&self, trust: &impl TrustStore, now: u64) -> Result<Verified<T>, VerifyError> {
        let signer = trust.verify_certificate(&self.signer, now)?;
        self.verify_signature()?;
        Ok(Verified {
            value: self.decode()?,
            signer,
        })
    }

    /// Parses the payload without checking the signature.
    pub fn decode(&self) -> Result<T, VerifyError> {
        serde_json::from_slice(&self.payload).map_err(|e| VerifyError::Malformed {
            what: domain_name(T::DOMAIN),
            reason: e.to_string(),
        })
    }

    /// Identifies the whole signed message: payload digest, signature and
    /// signer. Block data hashes are built from these.
    pub fn digest(&self) -> Digest {
        self.digest_from(&self.payload_digest())
    }

    /// [`Signed::digest`] given [`Signed::payload_digest`], computed once
    /// by a caller that needs both.
    pub fn digest_from(&self, payload_digest: &Digest) -> Digest {
        let mut h = Hasher::new();
        h.update(T::DOMAIN.tag())
            .update(payload_digest.as_bytes())
            .update(&self.signature.0)
            .update(self.signer.digest().as_bytes());
        h.finalize()
    }
}

fn domain_name(d: Domain) -> &'static str {
    match d {
        Domain::Certificate => "certificate",
        Domain::Proposal => "proposal",
        Domain::Transaction => "transaction",
        Domain::Endorsement => "endorsement",
        Domain::LifecycleApproval => "lifecycle approval",
        Domain::ConfigApproval => "config approval",
        Domain::Block => "block",
        Domain::AuthChallenge => "auth challenge",
        Domain::ClusterHandshake => "cluster handshake",
        Domain::Chaincode => "chaincode data",
        Domain::PrivateData => "private data message",
    }
}

impl<T> Clone for Signed<T> {
    fn clone(&self) -> Self {
        Signed {
            payload: self.payload.clone(),
            signature: self.signature,
            signer: self.signer.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> PartialEq for Signed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.payload == other.payload
            && self.signature == other.signature
            && self.signer == other.signer
    }
}

impl<T> Eq for Signed<T> {}

impl<T> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("payload", &self.payload)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}
