//! Hashes (sha3-256), ed25519 keys and signatures, and the domain-separated
//! messages that Weft signs.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha3::Digest as _;
use zeroize::Zeroizing;

use crate::bytes::{decode_base64, to_base64};

/// Errors from keys, signatures and hex/base64 decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Bytes that are not a valid ed25519 public key.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    /// Bytes that are not a 64-byte signature.
    #[error("invalid signature encoding: expected 64 bytes, got {0}")]
    InvalidSignatureLength(usize),
    /// The signature does not verify for this key and message.
    #[error("signature does not verify")]
    BadSignature,
    /// A private key file that could not be read as PKCS#8 PEM.
    #[error("invalid private key file (expected an ed25519 PKCS#8 PEM key): {0}")]
    InvalidPrivateKey(String),
    /// A digest that is not 64 hex characters.
    #[error("invalid digest {0:?}: expected 64 hex characters")]
    InvalidDigest(String),
}

/// A sha3-256 digest. Serialized as 64 lowercase hex characters.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// All zeroes: the previous hash of the genesis block.
    pub const ZERO: Digest = Digest([0; 32]);

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", &self.to_hex()[..16])
    }
}

impl FromStr for Digest {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| CryptoError::InvalidDigest(s.into()))?;
        Ok(Digest(out))
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// sha3-256 of `data`.
pub fn sha3_256(data: &[u8]) -> Digest {
    Digest(sha3::Sha3_256::digest(data).into())
}

/// An incremental sha3-256, for digests over several parts.
#[derive(Clone, Default)]
pub struct Hasher(sha3::Sha3_256);

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        self.0.update(data);
        self
    }

    /// Feeds a byte string prefixed by its length (u64 big-endian), so that
    /// consecutive variable-length parts cannot be confused with each other.
    pub fn update_prefixed(&mut self, data: &[u8]) -> &mut Self {
        self.update(&(data.len() as u64).to_be_bytes()).update(data)
    }

    /// The digest of everything fed so far.
    pub fn finalize(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

/// What a signature is for. The tag is part of every signed message, so a
/// signature made for one purpose can never be replayed as another (a
/// proposal signature is not a transaction signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Domain {
    /// An org root key issuing a member certificate.
    Certificate,
    /// A client signing a proposal.
    Proposal,
    /// A creator signing the transaction envelope it submits.
    Transaction,
    /// A peer endorsing a proposal response.
    Endorsement,
    /// An admin approving a chaincode definition.
    LifecycleApproval,
    /// An admin approving a channel configuration.
    ConfigApproval,
    /// An orderer signing a block header.
    Block,
    /// A member answering the gateway's login challenge.
    AuthChallenge,
    /// An orderer introducing itself on a cluster (Raft) connection.
    ClusterHandshake,
    /// Application data a chaincode checks itself with its host's
    /// `ed25519_verify` (a loan application, an oracle's verdict): the
    /// chaincode rebuilds `tag || sha3_256(bytes)` from the bytes it holds.
    Chaincode,
    /// A peer pushing private data to, or asking it of, another peer.
    PrivateData,
}

impl Domain {
    /// The tag that prefixes the signed message; each ends in a NUL byte so
    /// that no tag is a prefix of another.
    pub fn tag(self) -> &'static [u8] {
        match self {
            Domain::Certificate => b"weft/v1/certificate\0",
            Domain::Proposal => b"weft/v1/proposal\0",
            Domain::Transaction => b"weft/v1/transaction\0",
            Domain::Endorsement => b"weft/v1/endorsement\0",
            Domain::LifecycleApproval => b"weft/v1/lifecycle-approval\0",
            Domain::ConfigApproval => b"weft/v1/config-approval\0",
            Domain::Block => b"weft/v1/block\0",
            Domain::AuthChallenge => b"weft/v1/auth-challenge\0",
            Domain::ClusterHandshake => b"weft/v1/cluster-handshake\0",
            Domain::Chaincode => b"weft/v1/chaincode\0",
            Domain::PrivateData => b"weft/v1/private-data\0",
        }
    }

    /// The exact bytes an ed25519 signature covers: `tag || sha3_256(payload)`.
    /// Signing the digest rather than the payload keeps the message small and
    /// fixed-size, so offline signers and hardware keys only ever see 32 bytes
    /// plus the tag.
    pub fn message(self, payload_digest: &Digest) -> Vec<u8> {
        let tag = self.tag();
        let mut m = Vec::with_capacity(tag.len() + 32);
        m.extend_from_slice(tag);
        m.extend_from_slice(payload_digest.as_bytes());
        m
    }
}

/// Public keys `PublicKey::from_bytes` remembers as decompressed.
const KEY_CACHE_ENTRIES: usize = 4096;

static KEY_CACHE: std::sync::OnceLock<
    std::sync::Mutex<std::collections::HashMap<[u8; 32], ed25519_dalek::VerifyingKey>>,
> = std::sync::OnceLock::new();

/// An ed25519 public key. Serialized as base64 of its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Parses 32 bytes; rejects bytes that are not a curve point.
    ///
    /// Decompressing a point costs about as much as signing, and the same
    /// few keys (the members' certificates) are parsed with every
    /// transaction, so keys already decompressed are remembered
    /// (4,096 at most, forgotten all at once when full). Only valid points are.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            CryptoError::InvalidPublicKey(format!("expected 32 bytes, got {}", bytes.len()))
        })?;
        let cache = KEY_CACHE.get_or_init(Default::default);
        if let Some(key) = cache.lock().ok().and_then(|keys| keys.get(&arr).copied()) {
            return Ok(PublicKey(key));
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&arr)
            .map_err(|e| CryptoError::InvalidPublicKey(e.to_string()))?;
        if let Ok(mut keys) = cache.lock() {
            if keys.len() >= KEY_CACHE_ENTRIES {
                keys.clear();
            }
            keys.insert(arr, key);
        }
        Ok(PublicKey(key))
    }

    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Verifies `signature` over the domain-tagged digest of a payload.
    /// Uses strict verification: non-canonical signatures and weak keys are rejected,
    /// so a signature cannot be altered into another valid one (no malleability).
    pub fn verify(
        &self,
        domain: Domain,
        payload_digest: &Digest,
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0
            .verify_strict(&domain.message(payload_digest), &sig)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// The dalek key, for batch verification.
    pub fn as_dalek(&self) -> &ed25519_dalek::VerifyingKey {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", to_base64(&self.to_bytes()))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_base64(&self.to_bytes()))
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = decode_base64(d)?;
        PublicKey::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

/// An ed25519 signature. Serialized as base64 of its 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// Parses 64 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        bytes
            .try_into()
            .map(Signature)
            .map_err(|_| CryptoError::InvalidSignatureLength(bytes.len()))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", &to_base64(&self.0)[..12])
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_base64(&self.0))
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = decode_base64(d)?;
        Signature::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

/// An ed25519 private key. Never serialized to JSON; stored on disk as PKCS#8 PEM
/// (the format `openssl pkey` reads). The key material is zeroed on drop.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        SigningKey(ed25519_dalek::SigningKey::generate(&mut OsRng))
    }

    /// A key from a 32-byte seed (deterministic; for tests and key derivation).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs the domain-tagged digest of a payload.
    pub fn sign(&self, domain: Domain, payload_digest: &Digest) -> Signature {
        use ed25519_dalek::Signer as _;
        Signature(self.0.sign(&domain.message(payload_digest)).to_bytes())
    }

    /// PKCS#8 PEM text of the key.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, CryptoError> {
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| CryptoError::InvalidPrivateKey(e.to_string()))
    }

    /// Reads a key from PKCS#8 PEM text.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, CryptoError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(SigningKey)
            .map_err(|e| CryptoError::InvalidPrivateKey(e.to_string()))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public: {:?})", self.public_key())
    }
}

/// `n` bytes from the operating system's random source (nonces, challenges).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng.fill_bytes(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha3_matches_known_vector() {
        // sha3-256("abc") from FIPS 202 examples.
        assert_eq!(
            sha3_256(b"abc").to_hex(),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
    }

    #[test]
    fn prefixed_updates_separate_parts() {
        let mut a = Hasher::new();
        a.update_prefixed(b"ab").update_prefixed(b"c");
        let mut b = Hasher::new();
        b.update_prefixed(b"a").update_prefixed(b"bc");
        assert_ne!(a.finalize(), b.finalize());
    }

    #[test]
    fn signature_verifies_only_in_its_domain() {
        let key = SigningKey::generate();
        let d = sha3_256(b"payload");
        let sig = key.sign(Domain::Proposal, &d);
        key.public_key().verify(Domain::Proposal, &d, &sig).unwrap();
        assert_eq!(
            key.public_key().verify(Domain::Transaction, &d, &sig),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            key.public_key()
                .verify(Domain::Proposal, &sha3_256(b"other"), &sig),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn pem_round_trip() {
        let key = SigningKey::generate();
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert!(SigningKey::from_pkcs8_pem("garbage").is_err());
    }

    #[test]
    fn digest_and_key_json() {
        let d = sha3_256(b"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"abcd\"").is_err());
        let pk = SigningKey::generate().public_key();
        let json = serde_json::to_string(&pk).unwrap();
        assert_eq!(serde_json::from_str::<PublicKey>(&json).unwrap(), pk);
        assert!(serde_json::from_str::<PublicKey>("\"AAAA\"").is_err());
    }

    #[test]
    fn remembered_keys_parse_the_same_and_invalid_points_stay_invalid() {
        let key = SigningKey::generate();
        let pk = key.public_key();
        let bytes = pk.to_bytes();
        let first = PublicKey::from_bytes(&bytes).unwrap();
        let again = PublicKey::from_bytes(&bytes).unwrap();
        assert_eq!((first, again), (pk, pk));
        let digest = sha3_256(b"m");
        let sig = key.sign(Domain::Proposal, &digest);
        again.verify(Domain::Proposal, &digest, &sig).unwrap();
        // y = 2 is not on the curve: refused every time, never remembered.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        for _ in 0..2 {
            assert!(PublicKey::from_bytes(&not_a_point).is_err());
        }
    }
}
