//! Stage 1 for a chaincode invocation: proposal, endorsed response, rw-set
//! shape, endorsements, definition and endorsement policies.

use weft_policy::Signers;
use weft_types::{
    Domain, EndorsedTransaction, ProposalResponsePayload, Role, RwSet, TxId, ValidationCode,
    sha3_256,
};

use super::committed::CommittedState;
use super::context::BlockContext;
use super::endorsement_policy;
use super::outcome::{TxAction, TxCheck};
use super::rwset_check;
use super::signatures::SignatureCheck;
use super::stage1::{Creator, Signer};

/// Checks an invocation whose creator and tx id are known to be right.
///
/// The envelope and endorsement signatures are not verified here
/// but returned as [`Pending`], with the verdict the transaction gets if
/// they verify: stage 1 verifies the signatures of many transactions in one
/// batch ([`super::stage1`]). A failure found before the signatures are
/// collected is final (and the envelope signature checked alone).
pub(crate) fn check<S: CommittedState + ?Sized>(
    ctx: &BlockContext<'_, S>,
    creator: &Creator<'_>,
    tx: &EndorsedTransaction,
) -> Result<(TxCheck, Option<Pending>), S::Error> {
    let parsed = match parse(creator, tx) {
        Ok(parsed) => parsed,
        Err((code, detail)) => return Ok((creator.fail(code, detail), None)),
    };
    // The proposal's own signature is not checked again: the endorsers
    // checked it, the proposal is the creator's (parse), and the creator's
    // envelope signature covers its bytes, signature included.
    let mut checks = vec![creator.envelope_signature()];
    let response_digest = sha3_256(&tx.response);
    let mut signers = Signers::new();
    for (i, e) in tx.endorsements.iter().enumerate() {
        // BAD_ENDORSEMENT: the endorser's certificate is not valid at the
        // block time or is not a peer's.
        let body = match ctx.certificate(&e.endorser) {
            Ok(body) => body,
            Err(err) => {
                return Ok((
                    creator.fail(
                        ValidationCode::BadEndorsement,
                        format!("endorsement {i}: {err}"),
                    ),
                    None,
                ));
            }
        };
        if body.role != Role::Peer {
            return Ok((
                creator.fail(
                    ValidationCode::BadEndorsement,
                    format!(
                        "endorsement {i} is by {}@{}, an {}; only peers endorse",
                        body.name, body.org, body.role
                    ),
                ),
                None,
            ));
        }
        signers.insert(&body.org, body.role);
        // An endorsement this peer signed, or verified at its gateway,
        // passes every check.
        if ctx.memory.is_some_and(|m| {
            m.verified_here()
                .verified(&body.public_key, &response_digest, &e.signature)
        }) {
            continue;
        }
        checks.push(SignatureCheck::new(
            Signer::Endorser(i),
            &body.public_key,
            Domain::Endorsement,
            &response_digest,
            &e.signature,
        ));
    }
    let pending = Pending {
        checks,
        who: creator.who(),
        tx_id: creator.tx_id(),
    };
    Ok((if_signed(ctx, creator, parsed, &signers)?, Some(pending)))
}

/// The verdict on an invocation whose signatures verify.
fn if_signed<S: CommittedState + ?Sized>(
    ctx: &BlockContext<'_, S>,
    creator: &Creator<'_>,
    parsed: Parsed,
    signers: &Signers,
) -> Result<TxCheck, S::Error> {
    // INVALID_CHAINCODE: the invoked chaincode is not defined on the channel.
    let Some(def) = ctx.definition(&parsed.chaincode)? else {
        return Ok(creator.fail_authentic(
            ValidationCode::InvalidChaincode,
            format!(
                "chaincode {} is not defined on this channel",
                parsed.chaincode
            ),
        ));
    };
    // CHAINCODE_VERSION_CONFLICT: endorsed under another definition sequence.
    if parsed.response.chaincode.sequence != def.def.sequence {
        return Ok(creator.fail_authentic(
            ValidationCode::ChaincodeVersionConflict,
            format!(
                "endorsed with chaincode {} sequence {}, but the current definition is sequence {}",
                def.def.name, parsed.response.chaincode.sequence, def.def.sequence
            ),
        ));
    }
    // ILLEGAL_WRITESET, INVALID_PRIVATE_DATA (an unknown collection, or a
    // member-only-write one written for another org's client),
    // ENDORSEMENT_POLICY_FAILURE: see endorsement_policy.
    let org = &creator.body.org;
    if let Err((code, detail)) = endorsement_policy::check(ctx, &def, &parsed.rwset, signers, org)?
    {
        return Ok(creator.fail_authentic(code, detail));
    }
    Ok(TxCheck::passed(
        creator.tx_id(),
        TxAction::Invoke {
            chaincode: parsed.chaincode,
            rwset: parsed.rwset,
            event: parsed.response.event,
        },
    ))
}

/// An invocation's signatures, still to verify, and how to report the first
/// that fails.
pub(crate) struct Pending {
    /// Envelope, then each endorsement not signed here, in that order.
    pub(crate) checks: Vec<SignatureCheck<Signer>>,
    who: String,
    tx_id: TxId,
}

impl Pending {
    /// The verdict when the signature of `signer` does not verify.
    pub(crate) fn failure(&self, signer: &Signer) -> TxCheck {
        match signer {
            // BAD_SIGNATURE: the creator's signature over the envelope does
            // not verify.
            Signer::Creator => TxCheck::fail(
                ValidationCode::BadSignature,
                format!(
                    "the envelope signature of {} does not verify over the transaction",
                    self.who
                ),
            ),
            // BAD_ENDORSEMENT: an endorser's signature over the response
            // does not verify.
            Signer::Endorser(i) | Signer::Approver(i) => {
                let mut check = TxCheck::fail(
                    ValidationCode::BadEndorsement,
                    format!("the signature of endorsement {i} does not verify over the response"),
                );
                check.tx_id = Some(self.tx_id);
                check
            }
        }
    }
}

struct Parsed {
    chaincode: String,
    response: ProposalResponsePayload,
    rwset: RwSet,
}

/// Parses and cross-checks proposal, response and rw-set; the error is the
/// code and why.
fn parse(
    creator: &Creator<'_>,
    tx: &EndorsedTransaction,
) -> Result<Parsed, (ValidationCode, String)> {
    // BAD_PAYLOAD: the proposal is not the creator's, does not parse, or its
    // header differs from the transaction's.
    let bad_payload = |d: String| (ValidationCode::BadPayload, d);
    if tx.proposal.signer != creator.envelope.signer {
        return Err(bad_payload(
            "the proposal is signed by someone other than the transaction's creator".into(),
        ));
    }
    let proposal = tx
        .proposal
        .decode()
        .map_err(|e| bad_payload(e.to_string()))?;
    if proposal.header != creator.header {
        return Err(bad_payload(
            "the proposal's header differs from the transaction's".into(),
        ));
    }
    // BAD_RESPONSE_PAYLOAD: the response does not parse, is for another
    // proposal or chaincode, or reports a chaincode failure.
    let bad_response = |d: String| (ValidationCode::BadResponsePayload, d);
    let response: ProposalResponsePayload = serde_json::from_slice(&tx.response)
        .map_err(|e| bad_response(format!("the proposal response does not parse: {e}")))?;
    if response.proposal_digest != tx.proposal.payload_digest() {
        return Err(bad_response(
            "the endorsed response is for another proposal".into(),
        ));
    }
    if response.chaincode.name != proposal.chaincode {
        return Err(bad_response(format!(
            "the response is from chaincode {}, the proposal invokes {}",
            response.chaincode.name, proposal.chaincode
        )));
    }
    if !response.response.is_ok() {
        return Err(bad_response(format!(
            "the endorsed response is a failure (status {}: {})",
            response.response.status, response.response.message
        )));
    }
    // BAD_RWSET: the rw-set does not match its digest, does not parse, or
    // has the wrong shape.
    let bad_rwset = |d: String| (ValidationCode::BadRwset, d);
    if sha3_256(&tx.rwset) != response.rwset_digest {
        return Err(bad_rwset(
            "the rw-set does not match the digest the endorsers signed".into(),
        ));
    }
    let rwset: RwSet = serde_json::from_slice(&tx.rwset)
        .map_err(|e| bad_rwset(format!("the rw-set does not parse: {e}")))?;
    rwset_check::check_shape(&rwset).map_err(bad_rwset)?;
    Ok(Parsed {
        chaincode: proposal.chaincode,
        response,
        rwset,
    })
}
