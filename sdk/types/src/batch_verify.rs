//! Ed25519 batch verification of many signatures (those of a run of
//! transactions for a peer, those of many envelopes for an orderer), falling
//! back to single checks to name the ones that failed.
//!
//! # The rule: ZIP 215, cofactored
//!
//! What a transaction's validity depends on must not depend on how a peer
//! groups signatures into batches, or peers could disagree on a block. So
//! signatures here are checked by the rule of Zcash's ZIP 215 (with
//! `ed25519-zebra`), whose batch and single checks agree on every input:
//!
//! - `s` must be canonical (below the group order): no scalar malleability;
//! - `A` and `R` must decode to curve points;
//! - the equation is cofactored, `[8]R = [8]([s]B - [k]A)`, for a single
//!   signature and (with random 128-bit weights) for a batch, so a torsion
//!   component of `R` or `A` is ignored the same way in both, and a batch
//!   passes exactly when each of its signatures would pass alone (except
//!   with probability about 2^-125 per failing batch).
//!
//! Weak (small-order) public keys are refused on top of ZIP 215, before
//! batching ([`ed25519_dalek::VerifyingKey::is_weak`]).
//!
//! Because any grouping gives the same verdicts, a peer may batch
//! differently from another and may leave out signatures it made itself
//! (an honest signature passes every check). A cofactored check accepts a
//! signature whose `R` carries a torsion component where the strict check of
//! [`PublicKey::verify`] (cofactorless) refuses it; producing one needs the
//! private key, so it lets a signer make a second valid-looking signature
//! over the same message (malleability), never forge one. Tx ids are
//! `sha3(nonce || creator)` and do not cover the signature, so such a
//! re-signed envelope is still a duplicate, and endorsement policies count
//! certificates, not signature bytes.
//!
//! Batches coalesce the terms of one public key (the endorsing peers' keys
//! recur in every transaction), so a batch of `n` signatures by `m` keys is
//! one multiscalar multiplication of `n + m + 1` points rather than `2n + 1`.

use crate::{Digest, Domain, PublicKey, Signature};
use ed25519_zebra::batch::{Item, Verifier};
use ed25519_zebra::{Signature as ZebraSignature, VerificationKeyBytes};

/// One signature to check and who made it.
#[derive(Clone)]
pub struct SignatureCheck<W> {
    /// Who signed, reported when the signature fails.
    pub who: W,
    /// Whether the key is of small order (refused whatever the signature).
    weak_key: bool,
    /// Key, signature and the hash `k = SHA-512(R || A || message)`.
    item: Item,
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
        let key = key.as_dalek();
        let message = domain.message(payload_digest);
        SignatureCheck {
            who,
            weak_key: key.is_weak(),
            item: Item::from((
                VerificationKeyBytes::from(key.to_bytes()),
                ZebraSignature::from_bytes(&signature.0),
                &message[..],
            )),
        }
    }

    /// The same check, reporting `f(who)` instead.
    pub fn map_who<V>(self, f: impl FnOnce(W) -> V) -> SignatureCheck<V> {
        SignatureCheck {
            who: f(self.who),
            weak_key: self.weak_key,
            item: self.item,
        }
    }

    fn verify_single(&self) -> bool {
        !self.weak_key && self.item.clone().verify_single().is_ok()
    }
}

/// Verifies every signature in one batch. On failure, checks them one by one
/// (in order) and returns the first that fails.
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
    if checks.iter().any(|c| c.weak_key) {
        return false;
    }
    match checks.as_slice() {
        [] => true,
        [one] => one.verify_single(),
        many => {
            let mut batch = Verifier::new();
            for check in many {
                batch.queue(check.item.clone());
            }
            batch.verify(rand::thread_rng()).is_ok()
        }
    }
}

/// The index of the first signature that fails: `None` when the batch
/// passes; else the first weak key, or the first signature that fails on
/// its own, in order.
pub fn first_failure<W>(checks: &[SignatureCheck<W>]) -> Option<usize> {
    if verify_all(checks.iter()) {
        return None;
    }
    failing(checks)
}

/// The verdicts of several callers' checks verified together (the
/// batchers of the peer and of the client SDK): one batch for all, and
/// when it fails, each caller's checks on their own, so a bad signature
/// fails only its own caller. One entry per group, as [`first_failure`].
pub fn first_failures<W>(groups: &[&[SignatureCheck<W>]]) -> Vec<Option<usize>> {
    if verify_all(groups.iter().flat_map(|g| g.iter())) {
        return vec![None; groups.len()];
    }
    match groups {
        // It has just failed as a batch of its own (a lone signature: alone).
        [[_]] => vec![Some(0)],
        [one] => vec![failing(one)],
        _ => groups.iter().map(|g| first_failure(g)).collect(),
    }
}

/// The first weak key, or else the first signature that fails alone.
fn failing<W>(checks: &[SignatureCheck<W>]) -> Option<usize> {
    checks
        .iter()
        .position(|c| c.weak_key)
        .or_else(|| checks.iter().position(|c| !c.verify_single()))
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

    /// A valid signature whose `R` carries a point of order 8: its signer
    /// made it (it needs the secret scalar), the strict cofactorless check
    /// refuses it, the cofactored one accepts it.
    fn torsion_signature(seed: u8, message: &[u8]) -> (PublicKey, Signature) {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
        use curve25519_dalek::scalar::Scalar;
        use sha2::{Digest as _, Sha512};
        let scalar = |tag: &[u8]| {
            Scalar::from_bytes_mod_order_wide(
                &Sha512::new()
                    .chain_update([seed])
                    .chain_update(tag)
                    .finalize()
                    .into(),
            )
        };
        let (a, r) = (scalar(b"secret"), scalar(b"nonce"));
        let public = (a * B).compress();
        let big_r = (r * B + EIGHT_TORSION[1]).compress();
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(big_r.as_bytes())
                .chain_update(public.as_bytes())
                .chain_update(message),
        );
        let s = r + k * a;
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(big_r.as_bytes());
        bytes[32..].copy_from_slice(s.as_bytes());
        (
            PublicKey::from_bytes(public.as_bytes()).unwrap(),
            Signature(bytes),
        )
    }

    /// Whatever signatures share its batch, and whichever are left out, a
    /// signature gets the verdict it gets alone (ZIP 215) — what lets peers
    /// batch differently and skip their own signatures.
    #[test]
    fn verdicts_do_not_depend_on_the_batch() {
        let digest = sha3_256(b"payload");
        let message = Domain::Endorsement.message(&digest);
        let (torsion_key, torsion_sig) = torsion_signature(1, &message);
        assert!(
            torsion_key
                .verify(Domain::Endorsement, &digest, &torsion_sig)
                .is_err(),
            "the strict check refuses a torsion component"
        );
        let torsion =
            || SignatureCheck::new(9, &torsion_key, Domain::Endorsement, &digest, &torsion_sig);
        let keys: Vec<SigningKey> = (0..4).map(|_| SigningKey::generate()).collect();
        let honest = |i: usize| check(i as u8, &keys[i], b"m", b"m");
        let forged = check(7, &keys[0], b"m", b"other");

        assert_eq!(verify(vec![torsion()]), Ok(()));
        for n in 0..keys.len() {
            let mut with: Vec<_> = (0..n).map(honest).collect();
            with.insert(n / 2, torsion());
            assert!(verify_all(with.iter()), "torsion among {n} honest");
            with.push(check(7, &keys[0], b"m", b"other"));
            assert_eq!(first_failure(&with), Some(n + 1), "forged among {n} honest");
        }
        assert_eq!(verify(vec![honest(0), forged, torsion()]), Err(7));
        // Callers' groups: a forgery fails its own group only.
        let good: Vec<_> = (0..3).map(honest).collect();
        let bad = [honest(1), check(7, &keys[0], b"m", b"other")];
        let one = [torsion()];
        assert_eq!(
            first_failures(&[&good[..], &bad[..], &one[..]]),
            [None, Some(1), None]
        );
        assert_eq!(first_failures(&[&bad[..]]), [Some(1)]);
        assert_eq!(first_failures(&[&good[..], &one[..]]), [None, None]);
        // Another torsion signature over a message it does not cover fails
        // alone and in every batch.
        let (key2, sig2) = torsion_signature(2, &message);
        let wrong = || SignatureCheck::new(8, &key2, Domain::Endorsement, &sha3_256(b"x"), &sig2);
        assert_eq!(verify(vec![wrong()]), Err(8));
        assert_eq!(verify(vec![honest(1), wrong(), torsion()]), Err(8));
    }
}
