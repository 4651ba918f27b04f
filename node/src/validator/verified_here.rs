//! [`VerifiedHere`]: the endorsement signatures a peer signed itself or
//! has already verified (its gateway checks each other org's endorsement
//! before assembling a transaction), which its validator need not verify
//! again.
//!
//! Leaving a signature out of a batch is safe because signatures are checked
//! by ZIP 215's rule ([`weft_types::batch_verify`]) everywhere — the
//! gateway's checks too: a batch passes exactly when each of its signatures
//! would pass alone, so a batch without the signatures this peer knows
//! reaches the same verdicts on the others, and a signature that passed once
//! passes every check. A transaction's verdict is therefore the same on
//! every peer, whichever signatures each of them left out.

use parking_lot::Mutex;
use weft_types::{Digest, PublicKey, Signature};

use crate::generations::Generations;

/// How many signatures one generation holds; two are kept, so between
/// this many and twice as many of the latest signatures are remembered.
pub const VERIFIED_HERE_GENERATION: usize = 32_768;

/// Signatures a peer made or verified (key, signed digest), remembered in two
/// generations: when the newer fills up it becomes the older and the older
/// is forgotten. A signature endorsed long before its block commits is then
/// simply verified, as anyone else's.
#[derive(Debug)]
pub struct VerifiedHere {
    generations: Mutex<Generations<Signature, (PublicKey, Digest)>>,
}

impl Default for VerifiedHere {
    fn default() -> Self {
        VerifiedHere::new(VERIFIED_HERE_GENERATION)
    }
}

impl VerifiedHere {
    /// Remembers up to `2 * generation` signatures.
    pub fn new(generation: usize) -> Self {
        VerifiedHere {
            generations: Mutex::new(Generations::new(generation)),
        }
    }

    /// Records that `signature` by `key` over `digest` holds. Only a
    /// signature this peer made, or verified by ZIP 215's rule, may be
    /// recorded.
    pub fn remember(&self, key: PublicKey, digest: Digest, signature: Signature) {
        self.generations.lock().insert(signature, (key, digest));
    }

    /// Whether `signature` by `key` over `digest` was recorded as holding.
    pub fn verified(&self, key: &PublicKey, digest: &Digest, signature: &Signature) -> bool {
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
        let here = VerifiedHere::new(8);
        let key = SigningKey::generate();
        let other = SigningKey::generate();
        let (k, d, s) = signed(&key, 1);
        assert!(!here.verified(&k, &d, &s));
        here.remember(k, d, s);
        assert!(here.verified(&k, &d, &s));
        // The same signature claimed for another digest or key.
        assert!(!here.verified(&k, &sha3_256(b"other"), &s));
        assert!(!here.verified(&other.public_key(), &d, &s));
        let (k2, d2, s2) = signed(&key, 2);
        assert!(!here.verified(&k2, &d2, &s2));
    }

    #[test]
    fn forgets_the_older_generation() {
        let here = VerifiedHere::new(2);
        let key = SigningKey::generate();
        let all: Vec<_> = (0..5).map(|i| signed(&key, i)).collect();
        for (k, d, s) in &all {
            here.remember(*k, *d, *s);
        }
        // 0, 1 | 2, 3 | 4: the generation of 0 and 1 is gone.
        let known: Vec<bool> = all.iter().map(|(k, d, s)| here.verified(k, d, s)).collect();
        assert_eq!(known, [false, false, true, true, true]);
        assert_eq!(here.len(), 3);
    }
}
