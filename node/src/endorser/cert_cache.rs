//! [`CertCache`]: creator certificates already verified against the channel
//! configuration in force, so that checking a returning client costs one
//! hash and one validity-window comparison instead of an ed25519 verify and
//! a JSON parse.

use std::sync::Arc;

use parking_lot::Mutex;
use weft_types::{Certificate, CertificateBody, CertificateError, ChannelConfig, Digest};

use crate::generations::Generations;

/// Certificates the endorser keeps verified, at most. Each entry is a
/// digest and a parsed body (a few hundred bytes), so the cache stays well
/// under 2 MiB.
pub const CERT_CACHE_ENTRIES: usize = 4096;

/// Verified certificate bodies by [`Certificate::digest`], valid for one
/// channel configuration.
///
/// Only the parts of a verdict that cannot change while the configuration
/// stands are cached: the org is in the channel and its root key signed the
/// body. The validity window is checked against the clock on every use.
/// Failures are never cached (an expired certificate fails on its window,
/// which a later renewal does not change, but a not-yet-valid one may
/// become valid).
///
/// Bounded by two generations of `capacity / 2` entries: when the current
/// one fills up it becomes the previous one (the older previous is
/// dropped), and a hit in the previous generation moves the entry back. So
/// certificates in use stay cached, and flooding the cache with new
/// certificates only costs their owners a re-verification.
pub(crate) struct CertCache {
    inner: Mutex<Inner>,
}

struct Inner {
    /// The configuration the entries were verified against: the entries
    /// are valid for this very `Arc` only, so replacing the configuration
    /// (which always makes a new `Arc`) drops them. Holding it keeps its
    /// address from being reused.
    config: Option<Arc<ChannelConfig>>,
    bodies: Generations<Digest, Arc<CertificateBody>>,
}

impl CertCache {
    /// An empty cache holding at most `capacity` certificates (at least 2).
    pub(crate) fn new(capacity: usize) -> Self {
        CertCache {
            inner: Mutex::new(Inner {
                config: None,
                bodies: Generations::new(capacity / 2),
            }),
        }
    }

    /// Verifies `cert` against `config` at `now` (unix seconds): from the
    /// cache when this configuration verified it before, else by the
    /// configuration's root keys (and then cached).
    pub(crate) fn verify(
        &self,
        config: &Arc<ChannelConfig>,
        cert: &Certificate,
        now: u64,
    ) -> Result<Arc<CertificateBody>, CertificateError> {
        use weft_types::TrustStore;

        let digest = cert.digest();
        if let Some(body) = self.lookup(config, &digest) {
            body.check_validity(now)?;
            return Ok(body);
        }
        let body = Arc::new(config.verify_certificate(cert, now)?);
        self.insert(config, digest, Arc::clone(&body));
        Ok(body)
    }

    fn lookup(&self, config: &Arc<ChannelConfig>, digest: &Digest) -> Option<Arc<CertificateBody>> {
        let mut inner = self.inner.lock();
        if !inner.is_for(config) {
            return None;
        }
        // A hit in the old generation is kept for the next one.
        inner.bodies.get_renewed(digest).cloned()
    }

    fn insert(&self, config: &Arc<ChannelConfig>, digest: Digest, body: Arc<CertificateBody>) {
        let mut inner = self.inner.lock();
        if !inner.is_for(config) {
            // Another configuration: nothing cached is known to hold under it.
            inner.config = Some(Arc::clone(config));
            inner.bodies.clear();
        }
        inner.bodies.insert(digest, body);
    }

    /// How many certificates are cached.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().bodies.len()
    }
}

impl Inner {
    fn is_for(&self, config: &Arc<ChannelConfig>) -> bool {
        self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config))
    }
}
