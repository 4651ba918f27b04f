//! The checks every proposal passes before any chaincode runs, cheapest
//! first: parse, channel, creator certificate and role, signature, tx id,
//! transient map.

use std::collections::BTreeMap;
use std::sync::Arc;

use weft_types::{
    Bytes, CertificateBody, ChannelConfig, Digest, Domain, Proposal, Role, SignedProposal,
    transient_digest,
};

use super::cert_cache::CertCache;
use super::error::EndorseError;

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

/// Runs the checks in order against `config` at `now` (unix seconds).
pub(crate) fn authenticate(
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
        .verify(&config, &signed.signer, now)
        .map_err(EndorseError::Creator)?;
    if !matches!(creator.role, Role::Client | Role::Admin) {
        return Err(EndorseError::CreatorRole {
            org: creator.org.clone(),
            name: creator.name.clone(),
            role: creator.role,
        });
    }
    // The body comes from the certificate just verified, so its key is the
    // creator's: one strict ed25519 verification, no second parse.
    let proposal_digest = signed.payload_digest();
    creator
        .public_key
        .verify(Domain::Proposal, &proposal_digest, &signed.signature)
        .map_err(|_| EndorseError::BadSignature {
            org: creator.org.clone(),
            name: creator.name.clone(),
        })?;
    if !proposal.header.tx_id_matches(&signed.signer) {
        return Err(EndorseError::TxIdMismatch {
            tx_id: proposal.header.tx_id,
        });
    }
    check_transient(proposal.transient_digest, transient)?;
    Ok(Authenticated {
        proposal,
        creator,
        proposal_digest,
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
