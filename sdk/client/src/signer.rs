//! [`Signer`]: whatever holds the private key.

use weft_types::{Certificate, Digest, Domain, Identity, Signature};

use crate::error::Result;

/// Signs on behalf of one member. [`Identity`] (key in memory) is the usual
/// signer; implement this for a key held elsewhere (a hardware token, a
/// signing service) to let the gateway connection log in and sign with it.
///
/// A signer signs `domain.message(digest)` (see [`Domain::message`]) with the
/// ed25519 key of [`Signer::certificate`].
pub trait Signer: Send + Sync {
    /// The member's certificate.
    fn certificate(&self) -> &Certificate;

    /// Signs `digest` for `domain`. An error is reported to the caller as is
    /// (use [`crate::ClientError::Signer`]).
    fn sign(&self, domain: Domain, digest: &Digest) -> Result<Signature>;
}

impl Signer for Identity {
    fn certificate(&self) -> &Certificate {
        Identity::certificate(self)
    }

    fn sign(&self, domain: Domain, digest: &Digest) -> Result<Signature> {
        Ok(Identity::sign(self, domain, digest))
    }
}
