//! The checks every proposal passes before any chaincode runs, cheapest
//! first: parse, channel, creator certificate and role, tx id, transient
//! map, and last the creator's signature (the one costly check).
//!
//! The signature can be checked apart from the rest: [`Prepared`] is a
//! proposal that passed everything else, and only a signature check makes
//! a [`Verified`] of it — alone ([`Prepared::verify_alone`]) or in a
//! batch with other signatures ([`super::SigBatcher`]), by the same rule
//! (ZIP 215, [`weft_types::batch_verify`]) as validation. What runs chaincode
//! takes a [`Verified`], so nothing is endorsed unchecked.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use weft_types::batch_verify::{SignatureCheck, verify_all};
use weft_types::{
    Bytes, CertificateBody, ChannelConfig, Digest, Domain, Proposal, Role, SignedProposal,
    transient_digest,
};

use super::error::EndorseError;
use crate::cert_cache::CertCache;

/// A proposal whose creator, signature, tx id and transient map have been
/// checked: what [`super::Endorser::authenticate`] returns, and what the
/// simulation is built from.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The parsed proposal.
    pub proposal: Proposal,
    /// The creator, from its verified certificate.
    pub creator: Arc<CertificateBody>,
    /// sha3-256 of the signed proposal bytes (the endorsement binds to it).
    pub proposal_digest: Digest,
    /// The channel configuration the checks ran against; the rest of the
    /// request uses the same one.
    pub config: Arc<ChannelConfig>,
}

/// A proposal that passed every check but its creator's signature, with
/// the transient map that came with it: what
/// [`super::Endorser::prepare`] returns. Its only use is to have the
/// signature checked, which makes it [`Verified`].
pub struct Prepared {
    check: SignatureCheck<Unverified>,
}

/// What a [`Prepared`] carries until its signature is checked.
pub(super) struct Unverified {
    auth: Authenticated,
    transient: BTreeMap<String, Bytes>,
}

impl Unverified {
    /// [`EndorseError::BadSignature`] naming the creator.
    pub(super) fn refused(&self) -> EndorseError {
        EndorseError::BadSignature {
            org: self.auth.creator.org.clone(),
            name: self.auth.creator.name.clone(),
        }
    }

    /// The proposal, its signature having verified. Only a signature check
    /// calls this: here or in [`super::sig_batch`].
    pub(super) fn verified(self) -> Verified {
        Verified {
            auth: self.auth,
            transient: self.transient,
        }
    }
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("tx_id", &self.check.who.auth.proposal.header.tx_id)
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// Checks the signature alone (ZIP 215, as a batch would):
    /// [`EndorseError::BadSignature`] when it does not verify.
    pub fn verify_alone(self) -> Result<Verified, EndorseError> {
        if verify_all(std::iter::once(&self.check)) {
            Ok(self.check.who.verified())
        } else {
            Err(self.check.who.refused())
        }
    }

    /// The signature check, for [`super::sig_batch`].
    pub(super) fn into_check(self) -> SignatureCheck<Unverified> {
        self.check
    }
}

/// A proposal that passed every check, its creator's signature included,
/// with the transient map whose digest it carries: what the endorser runs
/// ([`super::Endorser::endorse_verified`],
/// [`super::Endorser::evaluate_verified`]). Made only by checking a
/// [`Prepared`]'s signature.
#[derive(Debug, Clone)]
pub struct Verified {
    auth: Authenticated,
    transient: BTreeMap<String, Bytes>,
}

impl Verified {
    /// The authenticated proposal.
    pub fn authenticated(&self) -> &Authenticated {
        &self.auth
    }

    /// The transient map, the one whose digest the proposal carries.
    pub fn transient(&self) -> &BTreeMap<String, Bytes> {
        &self.transient
    }
}

/// Runs the checks in order against `config` at `now` (unix seconds).
pub(crate) fn authenticate(
    certs: &CertCache,
    config: Arc<ChannelConfig>,
    now: u64,
    signed: &SignedProposal,
    transient: &BTreeMap<String, Bytes>,
) -> Result<Authenticated, EndorseError> {
    let auth = authenticate_unsigned(certs, config, now, signed, transient)?;
    // The key comes from the certificate just verified, so it is the
    // creator's: one ed25519 verification (ZIP 215), no second parse.
    let check = SignatureCheck::new(
        (),
        &auth.creator.public_key,
        Domain::Proposal,
        &auth.proposal_digest,
        &signed.signature,
    );
    if !verify_all(std::iter::once(&check)) {
        return Err(EndorseError::BadSignature {
            org: auth.creator.org.clone(),
            name: auth.creator.name.clone(),
        });
    }
    Ok(auth)
}

/// Runs every check but the signature's, and returns the proposal with
/// the check of its signature still to do.
pub(crate) fn prepare(
    certs: &CertCache,
    config: Arc<ChannelConfig>,
    now: u64,
    signed: &SignedProposal,
    transient: BTreeMap<String, Bytes>,
) -> Result<Prepared, EndorseError> {
    let auth = authenticate_unsigned(certs, config, now, signed, &transient)?;
    let creator = auth.creator.clone();
    let digest = auth.proposal_digest;
    let check = SignatureCheck::new(
        Unverified { auth, transient },
        &creator.public_key,
        Domain::Proposal,
        &digest,
        &signed.signature,
    );
    Ok(Prepared { check })
}

/// Every check but the signature's, in order.
fn authenticate_unsigned(
    certs: &CertCache,
    config: Arc<ChannelConfig>,
    now: u64,
    signed: &SignedProposal,
    transient: &BTreeMap<String, Bytes>,
) -> Result<Authenticated, EndorseError> {
    let proposal = signed.decode().map_err(|e| EndorseError::Malformed {
        reason: e.to_string(),
    })?;
    if proposal.header.channel != config.channel {
        return Err(EndorseError::WrongChannel {
            proposal: proposal.header.channel,
            channel: config.channel.clone(),
        });
    }
    let creator = certs
        .verify(&*config, &signed.signer, now)
        .map_err(EndorseError::Creator)?;
    if !matches!(creator.role, Role::Client | Role::Admin) {
        return Err(EndorseError::CreatorRole {
            org: creator.org.clone(),
            name: creator.name.clone(),
            role: creator.role,
        });
    }
    if !proposal.header.tx_id_matches(&signed.signer) {
        return Err(EndorseError::TxIdMismatch {
            tx_id: proposal.header.tx_id,
        });
    }
    check_transient(proposal.transient_digest, transient)?;
    Ok(Authenticated {
        proposal,
        creator,
        proposal_digest: signed.payload_digest(),
        config,
    })
}

/// The map must be the one whose digest was signed; without a signed
/// digest, no map may come (an empty one is the same as none).
fn check_transient(
    signed: Option<Digest>,
    transient: &BTreeMap<String, Bytes>,
) -> Result<(), EndorseError> {
    let matches = match signed {
        None => transient.is_empty(),
        Some(d) => d == transient_digest(transient),
    };
    if matches {
        return Ok(());
    }
    Err(EndorseError::TransientMismatch {
        signed,
        received: transient_digest(transient),
        entries: transient.len(),
    })
}
