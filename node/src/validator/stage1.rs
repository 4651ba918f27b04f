//! Stage 1: the checks of one transaction that need no other transaction of
//! the block, run in parallel across the block (rayon): parsing, channel,
//! creator, tx id, signatures, then what the body needs ([`super::invoke`],
//! [`super::lifecycle`]).

use rayon::prelude::*;
use weft_types::{
    Block, CertificateBody, Digest, Domain, Envelope, Role, TxBody, TxHeader, TxId, ValidationCode,
};

use super::committed::CommittedState;
use super::context::BlockContext;
use super::invoke::Pending;
use super::memory::ValidationMemory;
use super::modules::ModuleCheck;
use super::outcome::TxCheck;
use super::signatures::{self, SignatureCheck};
use super::{invoke, lifecycle};

/// Who made a signature that is checked in a transaction's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signer {
    /// The creator, over the envelope.
    Creator,
    /// The endorsement at this index.
    Endorser(usize),
    /// The lifecycle or configuration approval at this index.
    Approver(usize),
}

/// Runs stage 1 over every envelope of `block`, in parallel. Certificates are
/// checked at the block's time, never the local clock. Endorsements found in
/// `memory` (made by this peer), and certificates it verified before, are
/// not verified again. Errors only
/// when `state` cannot be read.
pub fn check_transactions<S: CommittedState + ?Sized>(
    config: &weft_types::ChannelConfig,
    state: &S,
    modules: &dyn ModuleCheck,
    memory: Option<&ValidationMemory>,
    block: &Block,
) -> Result<Vec<TxCheck>, S::Error> {
    let digests: Vec<Digest> = block
        .data
        .par_iter()
        .map(Envelope::payload_digest)
        .collect();
    check_transactions_with_digests(config, state, modules, memory, block, &digests)
}

/// [`check_transactions`] given each envelope's
/// [`payload_digest`](weft_types::Signed::payload_digest) (the committer
/// computes them once for the data hash and for the signatures).
///
/// # Panics
/// If `payload_digests` does not have one digest per envelope.
pub fn check_transactions_with_digests<S: CommittedState + ?Sized>(
    config: &weft_types::ChannelConfig,
    state: &S,
    modules: &dyn ModuleCheck,
    memory: Option<&ValidationMemory>,
    block: &Block,
    payload_digests: &[Digest],
) -> Result<Vec<TxCheck>, S::Error> {
    assert_eq!(
        payload_digests.len(),
        block.data.len(),
        "one payload digest per envelope"
    );
    let ctx = BlockContext::new(
        config,
        state,
        modules,
        memory,
        block.number(),
        block.header.time_secs(),
    );
    let results = block
        .data
        .par_iter()
        .zip(payload_digests)
        .map(|(envelope, digest)| check_envelope(&ctx, envelope, *digest))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(verify_pending(results))
}

/// A transaction whose creator and tx id have been checked, with its
/// envelope signature still to verify (in the body's batch).
pub(crate) struct Creator<'e> {
    pub(crate) envelope: &'e Envelope,
    /// sha3-256 of the envelope's payload, what the creator signed.
    pub(crate) payload_digest: Digest,
    pub(crate) header: TxHeader,
    pub(crate) body: CertificateBody,
}

impl Creator<'_> {
    /// The check of the creator's envelope signature, to batch.
    pub(crate) fn envelope_signature(&self) -> SignatureCheck<Signer> {
        SignatureCheck::new(
            Signer::Creator,
            &self.body.public_key,
            Domain::Transaction,
            &self.payload_digest,
            &self.envelope.signature,
        )
    }

    /// A failure found before the signatures were verified. The envelope
    /// signature is checked alone, so the failure is reported as
    /// BAD_SIGNATURE if the envelope is not authentic, and otherwise carries
    /// the authenticated tx id (so a replay of it is still a duplicate).
    pub(crate) fn fail(&self, code: ValidationCode, detail: impl Into<String>) -> TxCheck {
        match signatures::verify(vec![self.envelope_signature()]) {
            Ok(()) => self.fail_authentic(code, detail),
            Err(_) => bad_signature(self),
        }
    }

    /// A failure of a transaction whose envelope signature verified.
    pub(crate) fn fail_authentic(
        &self,
        code: ValidationCode,
        detail: impl Into<String>,
    ) -> TxCheck {
        let mut check = TxCheck::fail(code, detail);
        check.tx_id = Some(self.tx_id());
        check
    }

    pub(crate) fn tx_id(&self) -> TxId {
        self.header.tx_id
    }

    pub(crate) fn who(&self) -> String {
        format!("{}@{}", self.body.name, self.body.org)
    }
}

/// BAD_SIGNATURE: the creator's signature over the envelope does not verify.
pub(crate) fn bad_signature(creator: &Creator<'_>) -> TxCheck {
    TxCheck::fail(
        ValidationCode::BadSignature,
        format!(
            "the envelope signature of {} does not verify over the transaction",
            creator.who()
        ),
    )
}

/// Stage 1 of one envelope: the verdict, with the invocation signatures
/// still to verify (see [`verify_pending`]).
fn check_envelope<S: CommittedState + ?Sized>(
    ctx: &BlockContext<'_, S>,
    envelope: &Envelope,
    payload_digest: Digest,
) -> Result<(TxCheck, Option<Pending>), S::Error> {
    let mut pending = None;
    let check = check_envelope_inner(ctx, envelope, payload_digest, &mut pending)?;
    Ok((check, pending))
}

fn check_envelope_inner<S: CommittedState + ?Sized>(
    ctx: &BlockContext<'_, S>,
    envelope: &Envelope,
    payload_digest: Digest,
    pending: &mut Option<Pending>,
) -> Result<TxCheck, S::Error> {
    // BAD_PAYLOAD: the envelope's bytes are not a transaction.
    let tx = match envelope.decode() {
        Ok(tx) => tx,
        Err(e) => return Ok(TxCheck::fail(ValidationCode::BadPayload, e.to_string())),
    };
    // BAD_CHANNEL: the transaction is for another channel.
    if tx.header.channel != ctx.config.channel {
        return Ok(TxCheck::fail(
            ValidationCode::BadChannel,
            format!(
                "the transaction is for channel {:?}, this is {:?}",
                tx.header.channel, ctx.config.channel
            ),
        ));
    }
    // BAD_CREATOR: certificate not issued by a channel org, outside its
    // validity at the block time, or a role that may not submit.
    let body = match ctx.certificate(&envelope.signer) {
        Ok(body) => body,
        Err(e) => return Ok(TxCheck::fail(ValidationCode::BadCreator, e)),
    };
    if !matches!(body.role, Role::Client | Role::Admin | Role::Peer) {
        return Ok(TxCheck::fail(
            ValidationCode::BadCreator,
            format!(
                "{}@{} is an {}, which may not submit transactions",
                body.name, body.org, body.role
            ),
        ));
    }
    // BAD_TXID: the id is not sha3(nonce || creator).
    if !tx.header.tx_id_matches(&envelope.signer) {
        return Ok(TxCheck::fail(
            ValidationCode::BadTxid,
            format!(
                "tx id {} is not sha3-256 of the nonce and the creator's certificate",
                tx.header.tx_id
            ),
        ));
    }
    let timestamp_ms = tx.header.timestamp_ms;
    let creator = Creator {
        envelope,
        payload_digest,
        header: tx.header,
        body,
    };
    let mut check = match tx.body {
        TxBody::Invoke(e) => {
            let (check, signatures) = invoke::check(ctx, &creator, &e)?;
            *pending = signatures;
            check
        }
        TxBody::Lifecycle(l) => lifecycle::check_lifecycle(ctx, &creator, &l)?,
        TxBody::Config(c) => lifecycle::check_config(ctx, &creator, &c),
    };
    check.timestamp_ms = timestamp_ms;
    Ok(check)
}

/// Transactions whose signatures are verified in one batch, fixed by
/// position in the block. Verdicts do not depend on the batches (ZIP 215,
/// see `weft_types::batch_verify`): peers' batches differ anyway, each
/// leaving out the endorsements it signed or already verified.
const BATCH_TXS: usize = 32;

/// Verifies the pending signatures of consecutive runs of [`BATCH_TXS`]
/// transactions in one ed25519 batch each, in parallel. When a run's batch
/// fails, each transaction of the run is checked on its own and the ones
/// whose signatures fail get that failure as their verdict.
fn verify_pending(results: Vec<(TxCheck, Option<Pending>)>) -> Vec<TxCheck> {
    let mut results = results;
    results.par_chunks_mut(BATCH_TXS).for_each(|run| {
        let all = run
            .iter()
            .filter_map(|(_, p)| p.as_ref())
            .flat_map(|p| &p.checks);
        if signatures::verify_all(all) {
            return;
        }
        for (check, pending) in run.iter_mut() {
            let Some(p) = pending else { continue };
            if let Some(i) = signatures::first_failure(&p.checks) {
                let timestamp_ms = check.timestamp_ms;
                *check = p.failure(&p.checks[i].who);
                check.timestamp_ms = timestamp_ms;
            }
        }
    });
    results.into_iter().map(|(check, _)| check).collect()
}
