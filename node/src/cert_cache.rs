//! [`CertCache`]: certificates whose org signature this peer verified, so
//! that checking a returning client costs a hash and a validity-window
//! comparison instead of an ed25519 verify and a JSON parse. The endorser
//! and the validator of a peer share one (the endorser checks against its
//! clock, the validator against each block's time; the cache holds neither).
//!
//! What is cached is a fact about bytes and a key: *this root key signed
//! this certificate*. A cached certificate counts as signed under a channel
//! configuration only while that configuration names the same root key for
//! the certificate's org; its validity window is checked on every use.
//! Failures are never cached (a not-yet-valid certificate may become valid,
//! and certificates that fail cannot push out good ones).

use std::sync::Arc;

use parking_lot::Mutex;
use weft_types::{Certificate, CertificateBody, CertificateError, Digest, PublicKey, TrustStore};

use crate::generations::Generations;

/// Certificates a peer keeps verified, at most. Each entry is a digest, a
/// root key and a parsed body (a few hundred bytes): a few MiB in all.
pub const CERT_CACHE_ENTRIES: usize = 16_384;

/// A verified certificate: the root key that signed it, and its body.
type Known = Arc<(PublicKey, Arc<CertificateBody>)>;

/// Verified certificates by [`Certificate::digest`]; see the module docs.
///
/// Bounded by two generations of `capacity / 2` entries: when the newer
/// one fills up it becomes the older one (the previous older is dropped),
/// and a hit in the older generation moves the entry back. So certificates
/// in use stay cached, and flooding the cache with new certificates only
/// costs their owners a re-verification.
#[derive(Debug)]
pub(crate) struct CertCache {
    generations: Mutex<Generations<Digest, Known>>,
}

impl CertCache {
    /// An empty cache holding at most `capacity` certificates (at least 2).
    pub(crate) fn new(capacity: usize) -> Self {
        CertCache {
            generations: Mutex::new(Generations::new(capacity / 2)),
        }
    }

    /// `cert` checked against the root keys of `trust` at `now` (unix
    /// seconds), as [`TrustStore::verify_certificate`] would, without
    /// verifying the org's signature again when it was verified under the
    /// same root key.
    pub(crate) fn verify<T: TrustStore + ?Sized>(
        &self,
        trust: &T,
        cert: &Certificate,
        now: u64,
    ) -> Result<Arc<CertificateBody>, CertificateError> {
        self.verify_digested(trust, cert, &cert.digest(), now)
    }

    /// [`CertCache::verify`] for a caller that has `cert`'s digest already.
    pub(crate) fn verify_digested<T: TrustStore + ?Sized>(
        &self,
        trust: &T,
        cert: &Certificate,
        digest: &Digest,
        now: u64,
    ) -> Result<Arc<CertificateBody>, CertificateError> {
        debug_assert_eq!(cert.digest(), *digest, "the digest of another certificate");
        let known = self.generations.lock().get_renewed(digest).cloned();
        if let Some(known) = known {
            let (root, body) = &*known;
            if trust.org_root(&body.org) == Some(root) {
                body.check_validity(now)?;
                return Ok(Arc::clone(body));
            }
        }
        let body = Arc::new(trust.verify_certificate(cert, now)?);
        if let Some(root) = trust.org_root(&body.org) {
            let known = Arc::new((*root, Arc::clone(&body)));
            self.generations.lock().insert(*digest, known);
        }
        Ok(body)
    }

    /// How many certificates are cached.
    pub(crate) fn len(&self) -> usize {
        self.generations.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use weft_types::{OrgAuthority, Role, SigningKey};

    const NOW: u64 = 1_800_000_000;

    type Roots = BTreeMap<String, PublicKey>;

    fn roots(authorities: &[&OrgAuthority]) -> Roots {
        authorities
            .iter()
            .map(|a| (a.org().to_string(), a.root_key()))
            .collect()
    }

    fn issued(ca: &OrgAuthority, name: &str, not_after: u64) -> Certificate {
        ca.issue(
            name,
            Role::Client,
            SigningKey::generate().public_key(),
            NOW - 10,
            not_after,
        )
        .unwrap()
    }

    fn org(name: &str) -> OrgAuthority {
        OrgAuthority::new(name, SigningKey::generate()).unwrap()
    }

    #[test]
    fn a_cached_certificate_still_needs_its_root_and_its_window() {
        let cache = CertCache::new(16);
        let org1 = org("Org1");
        let trusted = roots(&[&org1]);
        let cert = issued(&org1, "alice", NOW + 100);
        assert_eq!(cache.verify(&trusted, &cert, NOW).unwrap().name, "alice");
        assert_eq!(cache.len(), 1);
        // Again: the same answer, from the cache.
        assert_eq!(cache.verify(&trusted, &cert, NOW).unwrap().name, "alice");
        // Past its window: refused although cached.
        assert!(matches!(
            cache.verify(&trusted, &cert, NOW + 101),
            Err(CertificateError::Expired { .. })
        ));
        // The org's root key replaced: the old signature no longer counts.
        assert!(matches!(
            cache.verify(&roots(&[&org("Org1")]), &cert, NOW),
            Err(CertificateError::BadSignature { .. })
        ));
        // The org gone from the channel.
        assert!(matches!(
            cache.verify(&roots(&[&org("Org2")]), &cert, NOW),
            Err(CertificateError::UnknownOrg { .. })
        ));
        // And back under the root that signed it.
        assert!(cache.verify(&trusted, &cert, NOW).is_ok());
    }

    #[test]
    fn only_certificates_that_pass_are_cached() {
        let cache = CertCache::new(16);
        let org1 = org("Org1");
        let trusted = roots(&[&org1]);
        let mut forged = issued(&org1, "mallory", NOW + 100);
        forged.signature.0[0] ^= 1;
        assert!(matches!(
            cache.verify(&trusted, &forged, NOW),
            Err(CertificateError::BadSignature { .. })
        ));
        let expired = issued(&org1, "old", NOW - 1);
        assert!(cache.verify(&trusted, &expired, NOW).is_err());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn keeps_two_generations_and_carries_hits_forward() {
        let cache = CertCache::new(4);
        let org1 = org("Org1");
        let trusted = roots(&[&org1]);
        let certs: Vec<Certificate> = (0..5)
            .map(|i| issued(&org1, &format!("c{i}"), NOW + 100))
            .collect();
        for c in &certs[..4] {
            cache.verify(&trusted, c, NOW).unwrap();
        }
        let cached = |c: &Certificate| cache.generations.lock().get(&c.digest()).is_some();
        // newer {c2, c3}, older {c0, c1}; a hit on c0 carries it forward
        // (newer {c0}, older {c2, c3}), c4 joins it, c1 is gone.
        cache.verify(&trusted, &certs[0], NOW).unwrap();
        cache.verify(&trusted, &certs[4], NOW).unwrap();
        assert!(cached(&certs[0]));
        assert!(!cached(&certs[1]));
        assert_eq!(cache.len(), 4);
    }
}
