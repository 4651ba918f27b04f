//! [`ValidationMemory`]: what a peer has established before and validation
//! need not establish again — the endorsements it signed itself or
//! verified at its gateway ([`VerifiedHere`]) and the certificates whose org signature it verified
//! (a cache it shares with its endorser).
//!
//! Neither changes a verdict. A certificate's signature is a fact about its
//! bytes and its org's root key: a remembered certificate is taken as signed
//! only while the channel names the same root key for its org, and its
//! validity window is still checked against each block's time. Only
//! certificates that passed are remembered, so certificates that fail cost
//! their full check every time and cannot push out good ones.

use std::sync::Arc;

use super::verified_here::VerifiedHere;
use crate::cert_cache::{CERT_CACHE_ENTRIES, CertCache};

/// What validation may take as established; see the module docs.
#[derive(Debug)]
pub struct ValidationMemory {
    verified_here: Arc<VerifiedHere>,
    certificates: Arc<CertCache>,
}

impl Default for ValidationMemory {
    fn default() -> Self {
        ValidationMemory::new(Arc::default())
    }
}

impl From<VerifiedHere> for ValidationMemory {
    fn from(verified_here: VerifiedHere) -> Self {
        ValidationMemory::new(Arc::new(verified_here))
    }
}

impl ValidationMemory {
    /// A memory whose known endorsements are those recorded in `verified_here`.
    pub fn new(verified_here: Arc<VerifiedHere>) -> Self {
        ValidationMemory {
            verified_here,
            certificates: Arc::new(CertCache::new(CERT_CACHE_ENTRIES)),
        }
    }

    /// The endorsements this peer signed or verified.
    pub fn verified_here(&self) -> &Arc<VerifiedHere> {
        &self.verified_here
    }

    /// How many verified certificates are remembered.
    pub fn certificates_remembered(&self) -> usize {
        self.certificates.len()
    }

    /// The verified certificates.
    pub(crate) fn certificates(&self) -> &Arc<CertCache> {
        &self.certificates
    }
}
