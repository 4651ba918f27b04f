//! [`ValidationMemory`]: what a peer has established before and validation
//! need not establish again — the endorsements it signed itself
//! ([`SignedHere`]) and the certificates whose org signature it verified
//! (a cache it shares with its endorser).
//!
//! Neither changes a verdict. A certificate's signature is a fact about its
//! bytes and its org's root key: a remembered certificate is taken as signed
//! only while the channel names the same root key for its org, and its
//! validity window is still checked against each block's time. Only
//! certificates that passed are remembered, so certificates that fail cost
//! their full check every time and cannot push out good ones.

use std::sync::Arc;

use super::signed_here::SignedHere;
use crate::cert_cache::{CERT_CACHE_ENTRIES, CertCache};

/// What validation may take as established; see the module docs.
#[derive(Debug)]
pub struct ValidationMemory {
    signed_here: Arc<SignedHere>,
    certificates: Arc<CertCache>,
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
            certificates: Arc::new(CertCache::new(CERT_CACHE_ENTRIES)),
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

    /// The verified certificates.
    pub(crate) fn certificates(&self) -> &Arc<CertCache> {
        &self.certificates
    }
}
