//! [`ValidationMemory`]: what a peer has established before and validation
//! need not establish again — the endorsements it signed itself
//! ([`SignedHere`]) and the certificates whose org signature it verified.
//!
//! Neither changes a verdict. A certificate's signature is a fact about its
//! bytes and its org's root key: a remembered certificate is taken as signed
//! only while the channel names the same root key for its org, and its
//! validity window is still checked against each block's time. Only
//! certificates that passed are remembered, so certificates that fail cost
//! their full check every time and cannot push out good ones.

use std::sync::Arc;

use parking_lot::Mutex;
use weft_types::{
    Certificate, CertificateBody, CertificateError, ChannelConfig, Digest, PublicKey, TrustStore,
};

use super::signed_here::SignedHere;
use crate::generations::Generations;

/// How many certificates one generation remembers; two are kept. An entry
/// is a digest, a root key and a parsed body (a few hundred bytes).
pub const CERTIFICATE_MEMO_GENERATION: usize = 8_192;

/// What validation may take as established; see the module docs.
#[derive(Debug)]
pub struct ValidationMemory {
    signed_here: Arc<SignedHere>,
    certificates: CertificateMemo,
}

impl Default for ValidationMemory {
    fn default() -> Self {
        ValidationMemory::new(Arc::default())
    }
}

impl From<SignedHere> for ValidationMemory {
    fn from(signed_here: SignedHere) -> Self {
        ValidationMemory::new(Arc::new(signed_here))
    }
}

impl ValidationMemory {
    /// A memory whose own endorsements are those recorded in `signed_here`.
    pub fn new(signed_here: Arc<SignedHere>) -> Self {
        ValidationMemory {
            signed_here,
            certificates: CertificateMemo::new(CERTIFICATE_MEMO_GENERATION),
        }
    }

    /// The endorsements this peer signed.
    pub fn signed_here(&self) -> &Arc<SignedHere> {
        &self.signed_here
    }

    /// How many verified certificates are remembered.
    pub fn certificates_remembered(&self) -> usize {
        self.certificates.len()
    }

    /// `cert` checked against `config` at `now` (unix seconds), as
    /// [`TrustStore::verify_certificate`] would, without verifying the org's
    /// signature again when it was verified under the same root key.
    /// `digest` must be `cert`'s [`Certificate::digest`] (the caller has it).
    pub(crate) fn verify_certificate(
        &self,
        config: &ChannelConfig,
        cert: &Certificate,
        digest: &Digest,
        now: u64,
    ) -> Result<CertificateBody, CertificateError> {
        debug_assert_eq!(cert.digest(), *digest, "the digest of another certificate");
        self.certificates.verify(config, cert, digest, now)
    }
}

/// A remembered certificate: the root key that signed it and its body.
type Known = Arc<(PublicKey, CertificateBody)>;

/// Certificates that passed, by [`Certificate::digest`], with the root key
/// that signed them; two generations of `generation` entries.
#[derive(Debug)]
struct CertificateMemo {
    generations: Mutex<Generations<Digest, Known>>,
}

impl CertificateMemo {
    fn new(generation: usize) -> Self {
        CertificateMemo {
            generations: Mutex::new(Generations::new(generation)),
        }
    }

    fn verify<T: TrustStore + ?Sized>(
        &self,
        config: &T,
        cert: &Certificate,
        digest: &Digest,
        now: u64,
    ) -> Result<CertificateBody, CertificateError> {
        if let Some(known) = self.lookup(digest) {
            let (root, body) = &*known;
            if config.org_root(&body.org) == Some(root) {
                body.check_validity(now)?;
                return Ok(body.clone());
            }
        }
        let body = config.verify_certificate(cert, now)?;
        if let Some(root) = config.org_root(&body.org) {
            let known = Arc::new((*root, body.clone()));
            self.generations.lock().insert(*digest, known);
        }
        Ok(body)
    }

    /// A remembered certificate; one in use again is kept for longer.
    fn lookup(&self, digest: &Digest) -> Option<Known> {
        self.generations.lock().get_renewed(digest).cloned()
    }

    fn len(&self) -> usize {
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
    fn a_remembered_certificate_still_needs_its_root_and_its_window() {
        let memo = CertificateMemo::new(8);
        let org1 = org("Org1");
        let trusted = roots(&[&org1]);
        let cert = issued(&org1, "alice", NOW + 100);
        let digest = cert.digest();
        assert_eq!(
            memo.verify(&trusted, &cert, &digest, NOW).unwrap().name,
            "alice"
        );
        assert_eq!(memo.len(), 1);
        // Again: the same answer, from memory.
        assert_eq!(
            memo.verify(&trusted, &cert, &digest, NOW).unwrap().name,
            "alice"
        );
        // Past its window: refused although remembered.
        assert!(matches!(
            memo.verify(&trusted, &cert, &digest, NOW + 101),
            Err(CertificateError::Expired { .. })
        ));
        // The org's root key replaced: the old signature no longer counts.
        let rekeyed = roots(&[&org("Org1")]);
        assert!(matches!(
            memo.verify(&rekeyed, &cert, &digest, NOW),
            Err(CertificateError::BadSignature { .. })
        ));
        // The org gone from the channel.
        assert!(matches!(
            memo.verify(&roots(&[&org("Org2")]), &cert, &digest, NOW),
            Err(CertificateError::UnknownOrg { .. })
        ));
        // And back under the root that signed it.
        assert!(memo.verify(&trusted, &cert, &digest, NOW).is_ok());
    }

    #[test]
    fn only_certificates_that_pass_are_remembered() {
        let memo = CertificateMemo::new(8);
        let org1 = org("Org1");
        let trusted = roots(&[&org1]);
        let mut forged = issued(&org1, "mallory", NOW + 100);
        forged.signature.0[0] ^= 1;
        assert!(matches!(
            memo.verify(&trusted, &forged, &forged.digest(), NOW),
            Err(CertificateError::BadSignature { .. })
        ));
        let expired = issued(&org1, "old", NOW - 1);
        assert!(
            memo.verify(&trusted, &expired, &expired.digest(), NOW)
                .is_err()
        );
        assert_eq!(memo.len(), 0);
    }

    #[test]
    fn keeps_two_generations_and_carries_hits_forward() {
        let memo = CertificateMemo::new(2);
        let org1 = org("Org1");
        let trusted = roots(&[&org1]);
        let certs: Vec<Certificate> = (0..5)
            .map(|i| issued(&org1, &format!("c{i}"), NOW + 100))
            .collect();
        for c in &certs[..4] {
            memo.verify(&trusted, c, &c.digest(), NOW).unwrap();
        }
        // newer {c2, c3}, older {c0, c1}; a hit on c0 carries it forward
        // (newer {c0}, older {c2, c3}), c4 joins it, c1 is gone.
        assert!(memo.lookup(&certs[0].digest()).is_some());
        memo.verify(&trusted, &certs[4], &certs[4].digest(), NOW)
            .unwrap();
        assert!(memo.lookup(&certs[0].digest()).is_some());
        assert!(memo.lookup(&certs[1].digest()).is_none());
        assert_eq!(memo.len(), 4);
    }
}
