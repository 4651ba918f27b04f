//! Stage 1 for lifecycle transactions (chaincode definitions) and
//! configuration transactions: approvals by admins over the exact bytes,
//! satisfying the channel's `LifecycleEndorsement` or `Admins` policy.

use weft_policy::{Evaluation, Policy, Signers};
use weft_types::{
    ChaincodeDefinition, ChannelConfig, ConfigTransaction, Digest, Domain, Endorsement,
    LifecycleTransaction, Role, ValidationCode, sha3_256,
};

use super::committed::CommittedState;
use super::context::BlockContext;
use super::outcome::{TxAction, TxCheck};
use super::signatures::{self, SignatureCheck};
use super::stage1::{Creator, Signer, bad_signature};

/// Checks a lifecycle transaction. Every failure is
/// INVALID_LIFECYCLE_TRANSACTION (the definition does not parse, is for
/// another channel or does not validate; the module does not match its hash;
/// the sequence is not the current one + 1; the approvals are not admins'
/// valid signatures or do not satisfy `LifecycleEndorsement`; the module is
/// refused by the [`ModuleCheck`](super::ModuleCheck)), except a bad
/// envelope signature (BAD_SIGNATURE).
pub(crate) fn check_lifecycle<S: CommittedState + ?Sized>(
    ctx: &BlockContext<'_, S>,
    creator: &Creator<'_>,
    tx: &LifecycleTransaction,
) -> Result<TxCheck, S::Error> {
    let invalid = |d: String| creator.fail(ValidationCode::InvalidLifecycleTransaction, d);
    let def: ChaincodeDefinition = match serde_json::from_slice(&tx.definition) {
        Ok(def) => def,
        Err(e) => return Ok(invalid(format!("the definition does not parse: {e}"))),
    };
    if def.channel != ctx.config.channel {
        return Ok(invalid(format!(
            "the definition is for channel {:?}",
            def.channel
        )));
    }
    if let Err(e) = def.validate(&ctx.orgs) {
        return Ok(invalid(e.to_string()));
    }
    if sha3_256(&tx.module) != def.module_hash {
        return Ok(invalid(format!(
            "the module's sha3-256 is {}, the definition says {}",
            sha3_256(&tx.module),
            def.module_hash
        )));
    }
    let current = ctx.definition(&def.name)?.map_or(0, |d| d.def.sequence);
    if def.sequence != current + 1 {
        return Ok(invalid(format!(
            "chaincode {} is at sequence {current}; the next definition must be {}, not {}",
            def.name,
            current + 1,
            def.sequence
        )));
    }
    let outcome = approve(
        ctx,
        creator,
        &tx.approvals,
        Domain::LifecycleApproval,
        &sha3_256(&tx.definition),
        &ctx.config.policies.lifecycle_endorsement,
        "LifecycleEndorsement",
    );
    Ok(match outcome {
        // Only now, with the approvals verified, is the module worth
        // compiling: nobody can make peers compile a module admins did not
        // approve.
        Approval::Approved => match ctx.modules.check(&tx.module) {
            Err(reason) => creator.fail_authentic(
                ValidationCode::InvalidLifecycleTransaction,
                format!("the module is rejected: {reason}"),
            ),
            Ok(()) => TxCheck::passed(
                creator.tx_id(),
                TxAction::Lifecycle {
                    definition: def,
                    module: tx.module.clone(),
                },
            ),
        },
        Approval::BadEnvelope => bad_signature(creator),
        Approval::Refused(d) => {
            creator.fail_authentic(ValidationCode::InvalidLifecycleTransaction, d)
        }
    })
}

/// Checks a configuration transaction. Every failure is
/// INVALID_CONFIG_TRANSACTION (the config does not parse, is for another
/// channel, does not validate, its sequence is not the current + 1, or the
/// approvals do not satisfy the current `Admins` policy), except a bad
/// envelope signature (BAD_SIGNATURE). In block 0 the configuration must be
/// the one validation runs with, and needs no approvals.
pub(crate) fn check_config<S: CommittedState + ?Sized>(
    ctx: &BlockContext<'_, S>,
    creator: &Creator<'_>,
    tx: &ConfigTransaction,
) -> TxCheck {
    let invalid = |d: String| creator.fail(ValidationCode::InvalidConfigTransaction, d);
    let config: ChannelConfig = match tx.decode() {
        Ok(c) => c,
        Err(e) => return invalid(e.to_string()),
    };
    if ctx.number == 0 {
        return if config == *ctx.config {
            match signatures::verify(vec![creator.envelope_signature()]) {
                Ok(()) => TxCheck::passed(creator.tx_id(), TxAction::Config(config)),
                Err(_) => bad_signature(creator),
            }
        } else {
            invalid("the genesis configuration differs from the channel's".into())
        };
    }
    if config.channel != ctx.config.channel {
        return invalid(format!(
            "the configuration is for channel {:?}",
            config.channel
        ));
    }
    if config.sequence != ctx.config.sequence + 1 {
        return invalid(format!(
            "the configuration is at sequence {}; the next must be {}, not {}",
            ctx.config.sequence,
            ctx.config.sequence + 1,
            config.sequence
        ));
    }
    if let Err(e) = config.validate() {
        return invalid(e.to_string());
    }
    match approve(
        ctx,
        creator,
        &tx.approvals,
        Domain::ConfigApproval,
        &sha3_256(&tx.config),
        &ctx.config.policies.admins,
        "Admins",
    ) {
        Approval::Approved => TxCheck::passed(creator.tx_id(), TxAction::Config(config)),
        Approval::BadEnvelope => bad_signature(creator),
        Approval::Refused(d) => creator.fail_authentic(ValidationCode::InvalidConfigTransaction, d),
    }
}

enum Approval {
    Approved,
    BadEnvelope,
    Refused(String),
}

/// Checks the approvals (admins' certificates at the block time, their
/// signatures batched with the envelope's) and the policy they must satisfy.
fn approve<S: CommittedState + ?Sized>(
    ctx: &BlockContext<'_, S>,
    creator: &Creator<'_>,
    approvals: &[Endorsement],
    domain: Domain,
    digest: &Digest,
    policy: &Policy,
    policy_name: &str,
) -> Approval {
    let mut checks = vec![creator.envelope_signature()];
    let mut signers = Signers::new();
    for (i, a) in approvals.iter().enumerate() {
        let body = match ctx.certificate(&a.endorser) {
            Ok(b) => b,
            Err(e) => return refuse_if_authentic(creator, format!("approval {i}: {e}")),
        };
        if body.role != Role::Admin {
            return refuse_if_authentic(
                creator,
                format!(
                    "approval {i} is by {}@{}, not an admin",
                    body.name, body.org
                ),
            );
        }
        signers.insert(&body.org, body.role);
        checks.push(SignatureCheck::new(
            Signer::Approver(i),
            &body.public_key,
            domain,
            digest,
            &a.signature,
        ));
    }
    match signatures::verify(checks) {
        Ok(()) => {}
        Err(Signer::Creator) => return Approval::BadEnvelope,
        Err(Signer::Approver(i) | Signer::Endorser(i)) => {
            return Approval::Refused(format!("the signature of approval {i} does not verify"));
        }
    }
    let resolved = match ctx.resolve(policy) {
        Ok(r) => r,
        Err(e) => return Approval::Refused(format!("{policy_name}: {e}")),
    };
    match resolved.evaluate(&signers) {
        Evaluation::Satisfied => Approval::Approved,
        Evaluation::NotSatisfied(missing) => Approval::Refused(format!(
            "the approvals do not satisfy {policy_name} ({resolved}): missing {missing}"
        )),
    }
}

fn refuse_if_authentic(creator: &Creator<'_>, detail: String) -> Approval {
    match signatures::verify(vec![creator.envelope_signature()]) {
        Ok(()) => Approval::Refused(detail),
        Err(_) => Approval::BadEnvelope,
    }
}
