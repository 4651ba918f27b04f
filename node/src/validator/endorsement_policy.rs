//! Which endorsement policies a transaction's writes need, and whether its
//! endorsers satisfy them.
//!
//! The most specific policy wins: a key with a committed key-level policy
//! needs that policy; a collection with its own policy needs it for private
//! writes; every other write needs its chaincode's policy (the definition's,
//! or the channel's `Endorsement` default). A transaction that writes nothing
//! still needs the invoked chaincode's policy, as in Fabric.

use std::collections::BTreeSet;
use std::sync::Arc;

use weft_policy::{Evaluation, ResolvedPolicy, Signers};
use weft_types::{NsRwSet, RwSet, ValidationCode};

use super::committed::CommittedState;
use super::context::{BlockContext, Definition};

/// A failed check: the code and why.
pub(crate) type Failure = (ValidationCode, String);

/// Checks that the namespaces written are defined, that a client of
/// `creator_org` may write the collections written, and that `signers`
/// satisfy every policy the writes need.
pub(crate) fn check<S: CommittedState + ?Sized>(
    ctx: &BlockContext<'_, S>,
    invoked: &Arc<Definition>,
    rwset: &RwSet,
    signers: &Signers,
    creator_org: &str,
) -> Result<Result<(), Failure>, S::Error> {
    let mut invoked_policy_checked = false;
    for ns in &rwset.namespaces {
        let writes_private = ns.collections.iter().any(|c| !c.writes.is_empty());
        if ns.writes.is_empty() && ns.key_policy_writes.is_empty() && !writes_private {
            if !ns.collections.is_empty() {
                // Private reads only: the collections must still exist.
                let Some(def) = ctx.definition(&ns.namespace)? else {
                    return Ok(Err(undefined(&ns.namespace)));
                };
                if let Err(f) = check_collections(ctx, &def, ns, signers, creator_org) {
                    return Ok(Err(f));
                }
            }
            continue;
        }
        let Some(def) = ctx.definition(&ns.namespace)? else {
            return Ok(Err(undefined(&ns.namespace)));
        };
        let needs_chaincode_policy = match check_keys(ctx, ns, signers)? {
            Ok(needs) => needs,
            Err(f) => return Ok(Err(f)),
        };
        let needs_chaincode_policy = match check_collections(ctx, &def, ns, signers, creator_org) {
            Ok(needs) => needs_chaincode_policy || needs,
            Err(f) => return Ok(Err(f)),
        };
        if needs_chaincode_policy {
            if let Err(f) = check_chaincode(&def, signers) {
                return Ok(Err(f));
            }
            invoked_policy_checked |= ns.namespace == invoked.def.name;
        }
    }
    if rwset.is_read_only()
        && !invoked_policy_checked
        && let Err(f) = check_chaincode(invoked, signers)
    {
        return Ok(Err(f));
    }
    Ok(Ok(()))
}

/// ILLEGAL_WRITESET: the transaction writes a namespace no chaincode owns.
fn undefined(ns: &str) -> Failure {
    (
        ValidationCode::IllegalWriteset,
        format!("writes to namespace {ns}, which no chaincode definition owns"),
    )
}

/// Checks the key-level policies of the keys `ns` writes (values or
/// policies). `Ok(true)` when some key has none, so the chaincode's policy
/// is needed too.
fn check_keys<S: CommittedState + ?Sized>(
    ctx: &BlockContext<'_, S>,
    ns: &NsRwSet,
    signers: &Signers,
) -> Result<Result<bool, Failure>, S::Error> {
    let keys: BTreeSet<&str> = ns
        .writes
        .iter()
        .map(|w| w.key.as_str())
        .chain(ns.key_policy_writes.iter().map(|p| p.key.as_str()))
        .collect();
    let mut needs_chaincode_policy = false;
    for key in keys {
        let Some(policy) = ctx.state.key_policy(&ns.namespace, key)? else {
            needs_chaincode_policy = true;
            continue;
        };
        let what = || format!("the key-level policy of {}/{key}", ns.namespace);
        let result = ctx
            .resolve(&policy)
            .map_err(|e| {
                (
                    ValidationCode::EndorsementPolicyFailure,
                    format!("{}: {e}", what()),
                )
            })
            .and_then(|resolved| evaluate(&resolved, signers, &what()));
        if let Err(f) = result {
            return Ok(Err(f));
        }
    }
    Ok(Ok(needs_chaincode_policy))
}

/// INVALID_PRIVATE_DATA for an unknown collection, or a member-only-write
/// collection written for a client of `creator_org`, not a member; the
/// collection's own policy for private writes. `Ok(true)` when some
/// private write has no collection policy, so the chaincode's policy is
/// needed.
fn check_collections<S: CommittedState + ?Sized>(
    ctx: &BlockContext<'_, S>,
    def: &Definition,
    ns: &NsRwSet,
    signers: &Signers,
    creator_org: &str,
) -> Result<bool, Failure> {
    let mut needs_chaincode_policy = false;
    for c in &ns.collections {
        let Some(config) = def.def.collection(&c.collection, &ctx.config.org_names()) else {
            return Err((
                ValidationCode::InvalidPrivateData,
                format!(
                    "chaincode {} has no collection {}",
                    def.def.name, c.collection
                ),
            ));
        };
        if c.writes.is_empty() {
            continue;
        }
        if config.member_only_write && !config.has_member(creator_org) {
            return Err((
                ValidationCode::InvalidPrivateData,
                format!(
                    "collection {}/{} is written only by its members' clients, and \
                     {creator_org} is not a member",
                    def.def.name, c.collection
                ),
            ));
        }
        match &config.endorsement_policy {
            None => needs_chaincode_policy = true,
            Some(p) => {
                let what = format!("the policy of collection {}/{}", def.def.name, c.collection);
                let resolved = ctx.resolve(p).map_err(|e| {
                    (
                        ValidationCode::EndorsementPolicyFailure,
                        format!("{what}: {e}"),
                    )
                })?;
                evaluate(&resolved, signers, &what)?;
            }
        }
    }
    Ok(needs_chaincode_policy)
}

fn check_chaincode(def: &Definition, signers: &Signers) -> Result<(), Failure> {
    let what = format!("the endorsement policy of chaincode {}", def.def.name);
    match &def.policy {
        Ok(policy) => evaluate(policy, signers, &what),
        Err(e) => Err((
            ValidationCode::EndorsementPolicyFailure,
            format!("{what}: {e}"),
        )),
    }
}

/// ENDORSEMENT_POLICY_FAILURE naming what is missing, in the policy crate's words.
fn evaluate(policy: &ResolvedPolicy, signers: &Signers, what: &str) -> Result<(), Failure> {
    match policy.evaluate(signers) {
        Evaluation::Satisfied => Ok(()),
        Evaluation::NotSatisfied(missing) => Err((
            ValidationCode::EndorsementPolicyFailure,
            format!(
                "{what} ({policy}) is not satisfied by the endorsers ({}): missing {missing}",
                describe(signers)
            ),
        )),
    }
}

fn describe(signers: &Signers) -> String {
    let all: Vec<String> = signers
        .iter()
        .map(|(org, role)| format!("{org}.{role}"))
        .collect();
    if all.is_empty() {
        "none".to_string()
    } else {
        all.join(", ")
    }
}
