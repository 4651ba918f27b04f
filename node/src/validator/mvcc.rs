//! Stage 2: the checks that depend on earlier transactions, run in block
//! order over committed state and the writes of earlier valid transactions of
//! the same block: duplicate tx ids, read conflicts, phantom reads, key-level
//! policy changes, and definition/configuration changes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use weft_types::{Digest, NsRwSet, RangeQueryInfo, RwSet, TxId, ValidationCode, Version};

use super::committed::CommittedState;
use super::outcome::{
    BlockValidation, KeyPolicyUpdate, PrivateHashWrite, PrivateSet, StateWrite, TxAction, TxCheck,
    TxWrites,
};

type NsKey = (String, String);

/// What earlier valid transactions of the block changed.
#[derive(Default)]
struct BlockUpdates {
    /// Key → `(writer's index, Some(new version) | None when deleted)`.
    values: BTreeMap<NsKey, (u32, Option<Version>)>,
    /// Private key `(ns, collection, key hash)` → `(writer's index, Some(new
    /// version) | None when deleted)`.
    private: HashMap<(String, String, Digest), (u32, Option<Version>)>,
    /// Keys whose key-level policy changed → the changer's index.
    policies: HashMap<NsKey, u32>,
    /// Chaincodes (re)defined → the lifecycle transaction's index.
    definitions: HashMap<String, u32>,
    /// The index of a configuration transaction.
    config: Option<u32>,
    /// Authenticated tx ids seen so far.
    tx_ids: HashSet<TxId>,
}

/// A stage-2 failure: the code and why.
type Conflict = (ValidationCode, String);

/// Runs stage 2 over the stage-1 results of block `block_number`, in order,
/// and returns the verdict for the block.
///
/// A transaction that failed stage 1 keeps its code. Every other one is
/// checked against committed state (`state`, as of the previous block) merged
/// with the writes of the transactions before it that are valid; only a valid
/// transaction's writes are seen by later ones. Pure: the same inputs always
/// give the same verdict. Errors only when `state` cannot be read.
pub fn check_mvcc<S: CommittedState + ?Sized>(
    state: &S,
    block_number: u64,
    checks: Vec<TxCheck>,
) -> Result<BlockValidation, S::Error> {
    let mut updates = BlockUpdates::default();
    let mut out = BlockValidation::default();
    for (index, check) in checks.into_iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let TxCheck {
            mut code,
            mut detail,
            mut tx_id,
            action,
            timestamp_ms,
        } = check;
        if let Some(id) = tx_id {
            // DUPLICATE_TXID: an authenticated transaction with this id is on
            // the ledger or earlier in this block. A duplicate's id is not
            // reported for indexing, so it cannot shadow the original.
            let duplicate = if !updates.tx_ids.insert(id) {
                Some("earlier in this block")
            } else if state.tx_exists(&id)? {
                Some("already on the ledger")
            } else {
                None
            };
            if let Some(where_) = duplicate {
                tx_id = None;
                if code.is_valid() {
                    code = ValidationCode::DuplicateTxid;
                    detail = Some(format!("transaction {id} is {where_}"));
                }
            }
        }
        if code.is_valid() {
            let result = match &action {
                Some(action) => check_action(state, block_number, index, action, &updates)?,
                None => Err((
                    ValidationCode::InvalidOtherReason,
                    "nothing to validate".to_string(),
                )),
            };
            match result {
                Ok(mut writes) => {
                    writes.timestamp_ms = timestamp_ms;
                    record(&mut updates, block_number, &writes);
                    out.valid_writes.push(writes);
                }
                Err((c, d)) => {
                    code = c;
                    detail = Some(d);
                }
            }
        }
        out.codes.push(code);
        out.details.push(detail);
        out.tx_ids.push(tx_id);
    }
    Ok(out)
}

/// Checks one transaction that passed stage 1 and is not a duplicate.
fn check_action<S: CommittedState + ?Sized>(
    state: &S,
    block_number: u64,
    index: u32,
    action: &TxAction,
    updates: &BlockUpdates,
) -> Result<Result<TxWrites, Conflict>, S::Error> {
    match action {
        TxAction::Invoke {
            chaincode,
            rwset,
            event,
        } => Ok(
            check_invoke(state, block_number, index, chaincode, rwset, updates)?.map(|mut w| {
                w.chaincode = Some(chaincode.clone());
                w.event = event.clone();
                w
            }),
        ),
        TxAction::Lifecycle {
            definition: def,
            module,
        } => Ok(match updates.definitions.get(&def.name) {
            // INVALID_LIFECYCLE_TRANSACTION: stage 1 checked the sequence
            // against the committed definition, which an earlier
            // transaction of this block has replaced.
            Some(j) => Err((
                ValidationCode::InvalidLifecycleTransaction,
                format!(
                    "chaincode {} was already redefined by transaction {j} of this block",
                    def.name
                ),
            )),
            None => Ok(TxWrites {
                tx: index,
                definition: Some(def.clone()),
                module: Some(module.clone()),
                ..TxWrites::default()
            }),
        }),
        TxAction::Config(config) => Ok(match updates.config {
            // INVALID_CONFIG_TRANSACTION: its sequence was checked against
            // the configuration an earlier transaction of this block replaces.
            Some(j) => Err((
                ValidationCode::InvalidConfigTransaction,
                format!("transaction {j} of this block already changes the configuration"),
            )),
            None => Ok(TxWrites {
                tx: index,
                config: Some(config.clone()),
                ..TxWrites::default()
            }),
        }),
    }
}

fn check_invoke<S: CommittedState + ?Sized>(
    state: &S,
    block_number: u64,
    index: u32,
    chaincode: &str,
    rwset: &RwSet,
    updates: &BlockUpdates,
) -> Result<Result<TxWrites, Conflict>, S::Error> {
    let namespaces =
        std::iter::once(chaincode).chain(rwset.namespaces.iter().map(|n| &*n.namespace));
    for ns in namespaces {
        if let Some(j) = updates.definitions.get(ns) {
            // CHAINCODE_VERSION_CONFLICT: endorsed under a definition that an
            // earlier transaction of this block replaced.
            return Ok(Err((
                ValidationCode::ChaincodeVersionConflict,
                format!("chaincode {ns} was redefined by transaction {j} earlier in this block"),
            )));
        }
    }
    for ns in &rwset.namespaces {
        if let Some(conflict) = check_reads(state, ns, updates)? {
            return Ok(Err((ValidationCode::MvccReadConflict, conflict)));
        }
        if let Some(conflict) = check_private_reads(state, ns, updates)? {
            return Ok(Err((ValidationCode::MvccReadConflict, conflict)));
        }
    }
    for ns in &rwset.namespaces {
        for q in &ns.range_queries {
            if let Some(conflict) = check_range(state, block_number, &ns.namespace, q, updates)? {
                return Ok(Err((ValidationCode::PhantomReadConflict, conflict)));
            }
        }
    }
    // Nearly every block changes no key-level policy.
    let policy_changes = if updates.policies.is_empty() {
        &[][..]
    } else {
        &rwset.namespaces[..]
    };
    for ns in policy_changes {
        let keys = ns
            .writes
            .iter()
            .map(|w| &w.key)
            .chain(ns.key_policy_writes.iter().map(|p| &p.key));
        for key in keys {
            if let Some(j) = updates.policies.get(&(ns.namespace.clone(), key.clone())) {
                // ENDORSEMENT_POLICY_FAILURE: stage 1 checked the write
                // against the key's committed policy, which an earlier valid
                // transaction of this block has changed.
                return Ok(Err((
                    ValidationCode::EndorsementPolicyFailure,
                    format!(
                        "the endorsement policy of {}/{key} was changed by transaction {j} \
                         earlier in this block; the endorsements were checked against the old one",
                        ns.namespace
                    ),
                )));
            }
        }
    }
    Ok(Ok(writes_of(index, rwset)))
}

/// MVCC_READ_CONFLICT when some point read of `ns` is stale: written by an
/// earlier valid transaction of the block, or at another committed version.
fn check_reads<S: CommittedState + ?Sized>(
    state: &S,
    ns: &NsRwSet,
    updates: &BlockUpdates,
) -> Result<Option<String>, S::Error> {
    for read in &ns.reads {
        let k = (ns.namespace.clone(), read.key.clone());
        if let Some((j, _)) = updates.values.get(&k) {
            return Ok(Some(format!(
                "{}/{} was read at {} but transaction {j} earlier in this block wrote it",
                ns.namespace,
                read.key,
                show(read.version)
            )));
        }
        let committed = state.version(&ns.namespace, &read.key)?;
        if committed != read.version {
            return Ok(Some(format!(
                "{}/{} was read at {} but is {} now",
                ns.namespace,
                read.key,
                show(read.version),
                show(committed)
            )));
        }
    }
    Ok(None)
}

/// MVCC_READ_CONFLICT when some private read of `ns` is stale, checked on
/// the key's hash (which every peer has, member of the collection or not).
fn check_private_reads<S: CommittedState + ?Sized>(
    state: &S,
    ns: &NsRwSet,
    updates: &BlockUpdates,
) -> Result<Option<String>, S::Error> {
    for c in &ns.collections {
        for read in &c.reads {
            let k = (ns.namespace.clone(), c.collection.clone(), read.key_hash);
            let what = || {
                format!(
                    "the private key with hash {} in {}/{}",
                    read.key_hash, ns.namespace, c.collection
                )
            };
            if let Some((j, _)) = updates.private.get(&k) {
                return Ok(Some(format!(
                    "{} was read at {} but transaction {j} earlier in this block wrote it",
                    what(),
                    show(read.version)
                )));
            }
            let committed = state.private_version(&ns.namespace, &c.collection, &read.key_hash)?;
            if committed != read.version {
                return Ok(Some(format!(
                    "{} was read at {} but is {} now",
                    what(),
                    show(read.version),
                    show(committed)
                )));
            }
        }
    }
    Ok(None)
}

/// PHANTOM_READ_CONFLICT when re-running the range query over committed
/// state merged with earlier valid writes of the block does not give exactly
/// the recorded keys and versions. Only `[start_key, scanned_to]` is re-run
/// when the iterator was not exhausted.
fn check_range<S: CommittedState + ?Sized>(
    state: &S,
    block_number: u64,
    ns: &str,
    q: &RangeQueryInfo,
    updates: &BlockUpdates,
) -> Result<Option<String>, S::Error> {
    let end = if q.exhausted {
        q.end_key.clone()
    } else {
        match &q.scanned_to {
            // A NUL after the last key scanned makes the exclusive end
            // include it and nothing after it.
            Some(last) => format!("{last}\0"),
            None => {
                // The iterator was opened but never advanced: nothing was seen.
                return Ok((!q.reads.is_empty())
                    .then(|| format!("range of {ns} lists reads but scanned nothing")));
            }
        }
    };
    let describe = || {
        let end = match (q.exhausted, &q.scanned_to) {
            (false, Some(last)) => format!("{last:?}] (partly scanned)"),
            _ if q.end_key.is_empty() => "end of namespace)".to_string(),
            _ => format!("{:?})", q.end_key),
        };
        format!("range [{:?}, {end} of {ns}", q.start_key)
    };
    let mut now: BTreeMap<String, Version> = if !end.is_empty() && end <= q.start_key {
        BTreeMap::new()
    } else {
        state.range(ns, &q.start_key, &end)?.into_iter().collect()
    };
    let lower = Bound::Included((ns.to_string(), q.start_key.clone()));
    let upper = if end.is_empty() {
        Bound::Excluded((format!("{ns}\0"), String::new()))
    } else {
        Bound::Excluded((ns.to_string(), end.clone()))
    };
    if end.is_empty() || q.start_key < end {
        for ((n, key), (_, version)) in updates.values.range((lower, upper)) {
            if n != ns {
                continue;
            }
            match version {
                Some(v) => now.insert(key.clone(), *v),
                None => now.remove(key),
            };
        }
    }
    let mut recorded = q.reads.iter();
    let mut current = now.iter();
    loop {
        match (recorded.next(), current.next()) {
            (None, None) => return Ok(None),
            (Some(r), Some((k, v))) if r.key == *k && r.version == Some(*v) => continue,
            (r, c) => {
                let what = match (r, c) {
                    (Some(r), Some((k, v))) if r.key == *k => format!(
                        "{k} was read at {} but is {} now",
                        show(r.version),
                        written_in_block(block_number, *v)
                    ),
                    (Some(r), Some((k, _))) if r.key < *k => {
                        format!("{} was read but is gone", r.key)
                    }
                    (Some(_), Some((k, _))) | (None, Some((k, _))) => {
                        format!("{k} appeared")
                    }
                    (Some(r), None) => format!("{} was read but is gone", r.key),
                    (None, None) => String::new(),
                };
                return Ok(Some(format!("{}: {what}", describe())));
            }
        }
    }
}

fn show(v: Option<Version>) -> String {
    match v {
        Some(v) => format!("version ({}, {})", v.block, v.tx),
        None => "absent".to_string(),
    }
}

fn written_in_block(block_number: u64, v: Version) -> String {
    if v.block == block_number {
        format!("written by transaction {} earlier in this block", v.tx)
    } else {
        show(Some(v))
    }
}

/// The changes a valid invocation makes.
fn writes_of(index: u32, rwset: &RwSet) -> TxWrites {
    let mut out = TxWrites {
        tx: index,
        ..TxWrites::default()
    };
    for ns in &rwset.namespaces {
        out.writes.extend(ns.writes.iter().map(|w| StateWrite {
            namespace: ns.namespace.clone(),
            key: w.key.clone(),
            value: w.value.clone(),
        }));
        out.key_policies
            .extend(ns.key_policy_writes.iter().map(|p| KeyPolicyUpdate {
                namespace: ns.namespace.clone(),
                key: p.key.clone(),
                policy: p.policy.clone(),
            }));
        for c in &ns.collections {
            out.private_hashes
                .extend(c.writes.iter().map(|w| PrivateHashWrite {
                    namespace: ns.namespace.clone(),
                    collection: c.collection.clone(),
                    key_hash: w.key_hash,
                    value_hash: w.value_hash,
                }));
            if !c.writes.is_empty() {
                out.private_sets.push(PrivateSet {
                    namespace: ns.namespace.clone(),
                    collection: c.collection.clone(),
                    hash: c.private_rwset_hash,
                });
            }
        }
    }
    out
}

/// Makes a valid transaction's changes visible to the later ones.
fn record(updates: &mut BlockUpdates, block_number: u64, writes: &TxWrites) {
    let version = Version {
        block: block_number,
        tx: writes.tx,
    };
    for w in &writes.writes {
        let present = w.value.as_ref().map(|_| version);
        updates
            .values
            .insert((w.namespace.clone(), w.key.clone()), (writes.tx, present));
    }
    for w in &writes.private_hashes {
        let present = w.value_hash.map(|_| version);
        updates.private.insert(
            (w.namespace.clone(), w.collection.clone(), w.key_hash),
            (writes.tx, present),
        );
    }
    for p in &writes.key_policies {
        updates
            .policies
            .insert((p.namespace.clone(), p.key.clone()), writes.tx);
    }
    if let Some(def) = &writes.definition {
        updates.definitions.insert(def.name.clone(), writes.tx);
    }
    if writes.config.is_some() {
        updates.config = Some(writes.tx);
    }
}
