//! Ed25519 batch verification of many signatures (those of one transaction
//! for a peer, those of many envelopes for an orderer), falling back to
//! single strict checks to name the ones that failed.
//!
//! # Batch versus strict verification
//!
//! [`PublicKey::verify`] checks single signatures with `verify_strict`, which
//! rejects non-canonical `s`, small-order `R` and weak (small-order) public
//! keys, then checks `R = [s]B - [k]A` exactly. `ed25519_dalek::verify_batch`
//! checks a random linear combination of those equations and is not strict:
//!
//! - non-canonical `s` is still rejected (no scalar malleability);
//! - weak public keys are not rejected by the batch, so [`verify`] rejects
//!   them itself before batching ([`ed25519_dalek::VerifyingKey::is_weak`]);
//! - a small-order `R`, or an `R` with a torsion component, can pass the batch
//!   where the strict check fails. Producing such a signature needs the
//!   private key, so it lets a signer make a second valid-looking signature
//!   over the same message (malleability), never forge one.
//!
//! Why that does not matter here: tx ids are `sha3(nonce || creator)` and do
//! not cover the signature, so a re-signed envelope is still a duplicate;
//! endorsement policies count certificates, not signature bytes. And every
//! peer reaches the same verdict: dalek derives the batch coefficients from a
//! transcript of the batch (messages, keys, signatures) with no outside
//! randomness, and a batch is always the same signatures in the same order
//! — those of a fixed run of consecutive transactions of the block (envelope,
//! proposal, endorsements each), or of one transaction — whatever the thread
//! schedule. (An orderer batches the envelopes of one broadcast request; it
//! only filters what it orders, so its verdicts need not match anyone's.)

use crate::{Digest, Domain, PublicKey, Signature};
use ed25519_dalek::{Signature as DalekSignature, VerifyingKey, verify_batch};

/// One signature to check and who made it.
pub struct SignatureCheck<W> {
    /// Who signed, reported when the signature fails.
    pub who: W,
    key: VerifyingKey,
    message: Vec<u8>,
    signature: DalekSignature,
}

impl<W> SignatureCheck<W> {
    /// The check that `signature` by `key` covers
    /// `domain.message(payload_digest)`, exactly what `weft_types` signs.
    pub fn new(
        who: W,
        key: &PublicKey,
        domain: Domain,
        payload_digest: &Digest,
        signature: &Signature,
    ) -> Self {
        SignatureCheck {
            who,
            key: *key.as_dalek(),
            message: domain.message(payload_digest),
            signature: DalekSignature::from_bytes(&signature.0),
        }
    }

    fn verify_single(&self) -> bool {
        self.key
            .verify_strict(&self.message, &self.signature)
            .is_ok()
    }
}

/// Verifies every signature in one batch. On failure, checks them one by one
/// (strictly, in order) and returns the first that fails.
pub fn verify<W>(checks: Vec<SignatureCheck<W>>) -> Result<(), W> {
    let mut checks = checks;
    match first_failure(&checks) {
        None => Ok(()),
        Some(i) => Err(checks.swap_remove(i).who),
    }
}

/// Whether every signature verifies, in one batch (no weak key allowed).
/// `false` says only that some signature failed; [`first_failure`] says which.
pub fn verify_all<'a, W: 'a>(checks: impl Iterator<Item = &'a SignatureCheck<W>>) -> bool {
    let checks: Vec<&SignatureCheck<W>> = checks.collect();
    if checks.iter().any(|c| c.key.is_weak()) {
        return false;
    }
    match checks.as_slice() {
        [] => true,
        [one] => one.verify_single(),
        _ => {
            let messages: Vec<&[u8]> = checks.iter().map(|c| c.message.as_slice()).collect();
            let signatures: Vec<DalekSignature> = checks.iter().map(|c| c.signature).collect();
            let keys: Vec<VerifyingKey> = checks.iter().map(|c| c.key).collect();
            verify_batch(&messages, &signatures, &keys).is_ok()
        }
    }
}

/// The index of the first signature that fails: `None` when the batch
/// passes; else the first weak key, or the first signature that fails the
/// strict check, in order.
pub fn first_failure<W>(checks: &[SignatureCheck<W>]) -> Option<usize> {
    if let Some(weak) = checks.iter().position(|c| c.key.is_weak()) {
        return Some(weak);
    }
    if verify_all(checks.iter()) {
        return None;
    }
    // Each signature passing the strict check implies the batch equation;
    // a batch failure with none failing can only be a parse difference.
    checks.iter().position(|c| !c.verify_single())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SigningKey, sha3_256};

    fn check(who: u8, key: &SigningKey, signed: &[u8], claimed: &[u8]) -> SignatureCheck<u8> {
        let sig = key.sign(Domain::Endorsement, &sha3_256(signed));
        SignatureCheck::new(
            who,
            &key.public_key(),
            Domain::Endorsement,
            &sha3_256(claimed),
            &sig,
        )
    }

    #[test]
    fn batch_passes_and_names_the_bad_signature() {
        let keys: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate()).collect();
        let good = || {
            keys.iter()
                .enumerate()
                .map(|(i, k)| check(i as u8, k, b"m", b"m"))
        };
        assert_eq!(verify(good().collect()), Ok(()));
        let mut some_bad: Vec<_> = good().collect();
        some_bad[1] = check(1, &keys[1], b"m", b"other");
        assert_eq!(verify(some_bad), Err(1));
        assert_eq!(verify(vec![check(7, &keys[0], b"a", b"b")]), Err(7));
        assert_eq!(verify::<u8>(vec![]), Ok(()));
    }
}
