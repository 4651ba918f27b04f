//! [`SignedHere`]: the endorsements a peer signed itself, which its
//! validator need not verify again.
//!
//! Leaving a signature out of a batch is safe because signatures are checked
//! by ZIP 215's rule ([`weft_types::batch_verify`]): a batch passes exactly
//! when each of its signatures would pass alone, so a batch without the
//! peer's own signatures reaches the same verdicts on the others, and an
//! honest signature passes every check. A transaction's verdict is therefore
//! the same on every peer, whichever signatures each of them left out.

use parking_lot::Mutex;
use weft_types::{Digest, PublicKey, Signature};

use crate::generations::Generations;

/// How many signatures one generation holds; two are kept, so between
/// this many and twice as many of the latest signatures are remembered.
pub const SIGNED_HERE_GENERATION: usize = 32_768;

/// Signatures a peer made (key, signed digest), remembered in two
/// generations: when the newer fills up it becomes the older and the older
/// is forgotten. A signature endorsed long before its block commits is then
/// simply verified, as anyone else's.
#[derive(Debug)]
pub struct SignedHere {
    generations: Mutex<Generations<Signature, (PublicKey, Digest)>>,
}

impl Default for SignedHere {
    fn default() -> Self {
        SignedHere::new(SIGNED_HERE_GENERATION)
    }
}

impl SignedHere {
    /// Remembers up to `2 * generation` signatures.
    pub fn new(generation: usize) -> Self {
        SignedHere {
            generations: Mutex::new(Generations::new(generation)),
        }
    }

    /// Records that this peer signed `digest` with `key`, making `signature`.
    /// Only a signature the peer made itself may be recorded.
    pub fn remember(&self, key: PublicKey, digest: Digest, signature: Signature) {
        self.generations.lock().insert(signature, (key, digest));
    }

    /// Whether this peer made `signature` over `digest` with `key`.
    pub fn signed(&self, key: &PublicKey, digest: &Digest, signature: &Signature) -> bool {
        self.generations
            .lock()
            .get(signature)
            .is_some_and(|(k, d)| k == key && d == digest)
    }

    /// How many signatures are remembered.
    pub fn len(&self) -> usize {
        self.generations.lock().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::{Domain, SigningKey, sha3_256};

    fn signed(key: &SigningKey, i: u32) -> (PublicKey, Digest, Signature) {
        let digest = sha3_256(&i.to_le_bytes());
        (
            key.public_key(),
            digest,
            key.sign(Domain::Endorsement, &digest),
        )
    }

    #[test]
    fn knows_only_what_it_was_told_exactly() {
        let here = SignedHere::new(8);
        let key = SigningKey::generate();
        let other = SigningKey::generate();
        let (k, d, s) = signed(&key, 1);
        assert!(!here.signed(&k, &d, &s));
        here.remember(k, d, s);
        assert!(here.signed(&k, &d, &s));
        // The same signature claimed for another digest or key.
        assert!(!here.signed(&k, &sha3_256(b"other"), &s));
        assert!(!here.signed(&other.public_key(), &d, &s));
        let (k2, d2, s2) = signed(&key, 2);
        assert!(!here.signed(&k2, &d2, &s2));
    }

    #[test]
    fn forgets_the_older_generation() {
        let here = SignedHere::new(2);
        let key = SigningKey::generate();
        let all: Vec<_> = (0..5).map(|i| signed(&key, i)).collect();
        for (k, d, s) in &all {
            here.remember(*k, *d, *s);
        }
        // 0, 1 | 2, 3 | 4: the generation of 0 and 1 is gone.
        let known: Vec<bool> = all.iter().map(|(k, d, s)| here.signed(k, d, s)).collect();
        assert_eq!(known, [false, false, true, true, true]);
        assert_eq!(here.len(), 3);
    }
}
