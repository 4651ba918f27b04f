//! [`TxSimulator`]: the state it keeps and its [`Host`] implementation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ed25519_dalek::{Signature, VerifyingKey};
use weft_abi::{
    ErrorCode, HistoryEntry, Host, HostError, InvokeResponse, LogLevel, TxInfo, TxKind,
};
use weft_types::{
    Bytes, ChaincodeEvent, ChannelConfig, CollectionConfig, CollectionHashedRwSet, Digest,
    HashedRead, HashedWrite, KeyPolicyWrite, KvRead, KvWrite, NsRwSet, Policy, RangeQueryInfo,
    RwSet, Version,
};

use super::range::Cursor;
use super::{
    CollectionData, Invoker, MAX_EVENT_NAME_BYTES, MAX_EVENT_PAYLOAD_BYTES, MAX_KEY_BYTES,
    MAX_LOG_LINE_BYTES, MAX_LOG_LINES, MAX_POLICY_BYTES, MAX_VALUE_BYTES, MAX_WRITES,
    PrivateWriteData, SimulationResult, StateView, private_rwset_hash,
};

/// What one collection saw: reads by key (first read only) and writes by key.
#[derive(Debug, Default)]
struct PrivateRecord {
    reads: BTreeMap<String, Option<Version>>,
    writes: BTreeMap<String, PrivateWriteData>,
}

/// Simulates one chaincode call over a [`StateView`] and records its rw-set
/// (see the [module docs](super)). Build it with [`TxSimulator::new`] and
/// the `with_*` methods, run the chaincode against it (it is a [`Host`]),
/// then take the [`SimulationResult`] with [`TxSimulator::finish`].
pub struct TxSimulator<S> {
    pub(super) state: S,
    pub(super) namespace: String,
    info: TxInfo,
    transient: BTreeMap<String, Vec<u8>>,
    collections: BTreeSet<String>,
    channel: Option<Arc<ChannelConfig>>,
    invoker: Option<Box<dyn Invoker>>,
    reads: BTreeMap<String, Option<Version>>,
    pub(super) writes: BTreeMap<String, Option<Vec<u8>>>,
    pub(super) ranges: Vec<RangeQueryInfo>,
    pub(super) iterators: BTreeMap<u32, Cursor>,
    pub(super) next_handle: u32,
    key_policies: BTreeMap<String, Option<Policy>>,
    private: BTreeMap<String, PrivateRecord>,
    private_write_count: usize,
    event: Option<ChaincodeEvent>,
    nested: Vec<SimulationResult>,
    logs: Vec<(LogLevel, String)>,
    /// The first ledger failure the call saw. The guest may swallow the
    /// error it got, so the call is failed afterwards whatever it returned.
    pub(super) failure: Option<HostError>,
}

impl<S> core::fmt::Debug for TxSimulator<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TxSimulator")
            .field("namespace", &self.namespace)
            .field("info", &self.info)
            .field("reads", &self.reads.len())
            .field("writes", &self.writes.len())
            .finish_non_exhaustive()
    }
}

pub(super) fn invalid(message: impl Into<String>) -> HostError {
    HostError::new(ErrorCode::InvalidArgument, message)
}

fn limit(message: impl Into<String>) -> HostError {
    HostError::new(ErrorCode::LimitExceeded, message)
}

/// Checks a key: non-empty, at most [`MAX_KEY_BYTES`], `U+0000` only as the
/// first character of a composite key.
pub(super) fn check_key(key: &str) -> Result<(), HostError> {
    if key.is_empty() {
        return Err(invalid("a key cannot be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(limit(format!(
            "key of {} bytes is longer than {MAX_KEY_BYTES} bytes",
            key.len()
        )));
    }
    if !key.starts_with('\u{0}') && key.contains('\u{0}') {
        return Err(invalid(format!(
            "key {key:?} contains U+0000, which only composite keys may (as their first character)"
        )));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), HostError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(limit(format!(
            "value of {} bytes is larger than {MAX_VALUE_BYTES} bytes",
            value.len()
        )));
    }
    Ok(())
}

fn hash(data: &[u8]) -> [u8; 32] {
    weft_types::sha3_256(data).0
}

impl<S: StateView> TxSimulator<S> {
    /// A simulator of a call to chaincode `namespace` described by `info`.
    pub fn new(state: S, namespace: impl Into<String>, info: TxInfo) -> Self {
        TxSimulator {
            state,
            namespace: namespace.into(),
            info,
            transient: BTreeMap::new(),
            collections: BTreeSet::new(),
            channel: None,
            invoker: None,
            reads: BTreeMap::new(),
            writes: BTreeMap::new(),
            ranges: Vec::new(),
            iterators: BTreeMap::new(),
            next_handle: 1,
            key_policies: BTreeMap::new(),
            private: BTreeMap::new(),
            private_write_count: 0,
            event: None,
            nested: Vec::new(),
            logs: Vec::new(),
            failure: None,
        }
    }

    /// The transient input of the proposal.
    pub fn with_transient(mut self, transient: BTreeMap<String, Vec<u8>>) -> Self {
        self.transient = transient;
        self
    }

    /// The collections the chaincode may use, as
    /// `ChaincodeDefinition::collection` finds them: its definition's
    /// `collections`, and the implicit collection (`_implicit_org_<Org>`)
    /// of each org of `channel` (`None`: no implicit collections). Any
    /// other is `UnknownCollection`. (Membership is the [`StateView`]'s to
    /// enforce.)
    pub fn with_collections(
        mut self,
        collections: &[CollectionConfig],
        channel: Option<Arc<ChannelConfig>>,
    ) -> Self {
        self.collections = collections.iter().map(|c| c.name.clone()).collect();
        self.channel = channel;
        self
    }

    /// Who runs other chaincodes; without one, `invoke_chaincode` fails with `InvokeFailed`.
    pub fn with_invoker(mut self, invoker: Box<dyn Invoker>) -> Self {
        self.invoker = Some(invoker);
        self
    }

    /// The call being simulated.
    pub fn info(&self) -> &TxInfo {
        &self.info
    }

    /// What the call recorded.
    pub fn finish(mut self) -> SimulationResult {
        self.take_result()
    }

    /// What the call recorded, leaving the simulator empty.
    pub fn take_result(&mut self) -> SimulationResult {
        let namespace = self.namespace.clone();
        let mut private_writes = Vec::new();
        let mut collections = Vec::new();
        for (collection, record) in std::mem::take(&mut self.private) {
            let writes = CollectionData {
                namespace: namespace.clone(),
                collection: collection.clone(),
                writes: record.writes.into_values().collect(),
            };
            let mut reads: Vec<HashedRead> = record
                .reads
                .into_iter()
                .map(|(key, version)| HashedRead {
                    key_hash: Digest(hash(key.as_bytes())),
                    version,
                })
                .collect();
            reads.sort_by_key(|r| r.key_hash);
            let mut hashed: Vec<HashedWrite> = writes
                .writes
                .iter()
                .map(|w| HashedWrite {
                    key_hash: Digest(hash(w.key.as_bytes())),
                    value_hash: w.value.as_ref().map(|v| Digest(hash(v))),
                })
                .collect();
            hashed.sort_by_key(|w| w.key_hash);
            collections.push(CollectionHashedRwSet {
                collection,
                reads,
                writes: hashed,
                private_rwset_hash: private_rwset_hash(&writes),
            });
            if !writes.writes.is_empty() {
                private_writes.push(writes);
            }
        }
        let own = NsRwSet {
            namespace,
            reads: std::mem::take(&mut self.reads)
                .into_iter()
                .map(|(key, version)| KvRead { key, version })
                .collect(),
            range_queries: std::mem::take(&mut self.ranges),
            writes: std::mem::take(&mut self.writes)
                .into_iter()
                .map(|(key, value)| KvWrite {
                    key,
                    value: value.map(Into::into),
                })
                .collect(),
            key_policy_writes: std::mem::take(&mut self.key_policies)
                .into_iter()
                .map(|(key, policy)| KeyPolicyWrite { key, policy })
                .collect(),
            collections,
        };
        self.iterators.clear();
        let mut result = SimulationResult {
            rwset: RwSet {
                namespaces: vec![own],
            },
            event: self.event.take(),
            private_writes,
            logs: std::mem::take(&mut self.logs),
            failure: self.failure.take(),
        };
        for nested in std::mem::take(&mut self.nested) {
            if result.failure.is_none() {
                result.failure = nested.failure;
            }
            result.rwset.namespaces.extend(nested.rwset.namespaces);
            result.private_writes.extend(nested.private_writes);
            result.logs.extend(nested.logs);
        }
        result
            .rwset
            .namespaces
            .sort_by(|a, b| a.namespace.cmp(&b.namespace));
        result
    }

    fn writable(&self, what: &str) -> Result<(), HostError> {
        match self.info.kind {
            TxKind::Transaction => Ok(()),
            TxKind::Query => Err(HostError::new(
                ErrorCode::NotAllowed,
                format!("{what} is not allowed in a query (evaluate); submit a transaction"),
            )),
        }
    }

    fn write_count(&self) -> usize {
        self.writes.len() + self.key_policies.len() + self.private_write_count
    }

    fn check_new_write(&self, already_written: bool) -> Result<(), HostError> {
        if !already_written && self.write_count() >= MAX_WRITES {
            return Err(limit(format!("a call may write at most {MAX_WRITES} keys")));
        }
        Ok(())
    }

    fn collection(&mut self, collection: &str) -> Result<&mut PrivateRecord, HostError> {
        let implicit = CollectionConfig::implicit_org(collection)
            .is_some_and(|org| self.channel.as_ref().is_some_and(|c| c.org(org).is_some()));
        if !implicit && !self.collections.contains(collection) {
            return Err(HostError::new(
                ErrorCode::UnknownCollection,
                format!(
                    "chaincode {} has no private data collection {collection:?}",
                    self.namespace
                ),
            ));
        }
        Ok(self.private.entry(collection.to_string()).or_default())
    }

    fn private_write(
        &mut self,
        collection: &str,
        write: PrivateWriteData,
    ) -> Result<(), HostError> {
        self.writable("writing private data")?;
        check_key(&write.key)?;
        if let Some(v) = &write.value {
            check_value(v)?;
        }
        let count = self.write_count();
        let record = self.collection(collection)?;
        if !record.writes.contains_key(&write.key) {
            if count >= MAX_WRITES {
                return Err(limit(format!("a call may write at most {MAX_WRITES} keys")));
            }
            self.private_write_count += 1;
        }
        // `collection` was checked above, so the record exists.
        if let Some(record) = self.private.get_mut(collection) {
            record.writes.insert(write.key.clone(), write);
        }
        Ok(())
    }

    /// Namespaces this call has touched: its own and its callees'.
    fn touched(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.namespace.as_str()).chain(
            self.nested
                .iter()
                .flat_map(|r| r.rwset.namespaces.iter().map(|ns| ns.namespace.as_str())),
        )
    }
}

impl<S: StateView> Host for TxSimulator<S> {
    fn state_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        check_key(key)?;
        if let Some(own) = self.writes.get(key) {
            return Ok(own.clone());
        }
        let committed = latch(&mut self.failure, self.state.get(&self.namespace, key))?;
        self.reads
            .entry(key.to_string())
            .or_insert_with(|| committed.as_ref().map(|(_, v)| *v));
        Ok(committed.map(|(value, _)| value))
    }

    fn state_put(&mut self, key: &str, value: &[u8]) -> Result<(), HostError> {
        self.writable("writing state")?;
        check_key(key)?;
        check_value(value)?;
        self.check_new_write(self.writes.contains_key(key))?;
        self.writes.insert(key.to_string(), Some(value.to_vec()));
        Ok(())
    }

    fn state_delete(&mut self, key: &str) -> Result<(), HostError> {
        self.writable("deleting state")?;
        check_key(key)?;
        self.check_new_write(self.writes.contains_key(key))?;
        self.writes.insert(key.to_string(), None);
        Ok(())
    }

    fn range_open(&mut self, start: &str, end: &str) -> Result<u32, HostError> {
        self.open_range(start, end)
    }

    fn range_next(&mut self, handle: u32) -> Result<Vec<(String, Vec<u8>)>, HostError> {
        self.next_batch(handle)
    }

    fn range_close(&mut self, handle: u32) -> Result<(), HostError> {
        self.iterators
            .remove(&handle)
            .map(drop)
            .ok_or_else(|| invalid(format!("no open range iterator {handle}")))
    }

    fn state_history(&mut self, key: &str) -> Result<Vec<HistoryEntry>, HostError> {
        if self.info.kind == TxKind::Transaction {
            return Err(HostError::new(
                ErrorCode::NotAllowed,
                "key history is only available in queries: it cannot be validated at commit",
            ));
        }
        check_key(key)?;
        latch(&mut self.failure, self.state.history(&self.namespace, key))
    }

    fn private_get(&mut self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        check_key(key)?;
        if let Some(own) = self.collection(collection)?.writes.get(key) {
            return Ok(own.value.clone().map(|v| v.0));
        }
        let committed = latch(
            &mut self.failure,
            self.state.private_get(&self.namespace, collection, key),
        )?;
        self.collection(collection)?
            .reads
            .entry(key.to_string())
            .or_insert_with(|| committed.as_ref().map(|(_, v)| *v));
        Ok(committed.map(|(value, _)| value))
    }

    fn private_put(&mut self, collection: &str, key: &str, value: &[u8]) -> Result<(), HostError> {
        let write = PrivateWriteData {
            key: key.to_string(),
            value: Some(Bytes(value.to_vec())),
            purge: false,
        };
        self.private_write(collection, write)
    }

    fn private_delete(&mut self, collection: &str, key: &str) -> Result<(), HostError> {
        let write = PrivateWriteData {
            key: key.to_string(),
            value: None,
            purge: false,
        };
        self.private_write(collection, write)
    }

    fn private_get_hash(
        &mut self,
        collection: &str,
        key: &str,
    ) -> Result<Option<[u8; 32]>, HostError> {
        check_key(key)?;
        if let Some(own) = self.collection(collection)?.writes.get(key) {
            return Ok(own.value.as_ref().map(|v| hash(v)));
        }
        let committed = latch(
            &mut self.failure,
            self.state.private_hash(&self.namespace, collection, key),
        )?;
        self.collection(collection)?
            .reads
            .entry(key.to_string())
            .or_insert_with(|| committed.as_ref().map(|(_, v)| *v));
        Ok(committed.map(|(h, _)| h))
    }

    fn private_purge(&mut self, collection: &str, key: &str) -> Result<(), HostError> {
        let write = PrivateWriteData {
            key: key.to_string(),
            value: None,
            purge: true,
        };
        self.private_write(collection, write)
    }

    fn transient_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.transient.get(key).cloned())
    }

    fn set_event(&mut self, name: &str, payload: &[u8]) -> Result<(), HostError> {
        if name.is_empty() || name.len() > MAX_EVENT_NAME_BYTES {
            return Err(invalid(format!(
                "an event name has 1 to {MAX_EVENT_NAME_BYTES} bytes, not {}",
                name.len()
            )));
        }
        if payload.len() > MAX_EVENT_PAYLOAD_BYTES {
            return Err(limit(format!(
                "event payload of {} bytes is larger than {MAX_EVENT_PAYLOAD_BYTES} bytes",
                payload.len()
            )));
        }
        self.event = Some(ChaincodeEvent {
            name: name.to_string(),
            payload: payload.into(),
        });
        Ok(())
    }

    fn tx_info(&mut self) -> Result<TxInfo, HostError> {
        Ok(self.info.clone())
    }

    fn invoke_chaincode(
        &mut self,
        chaincode: &str,
        function: &str,
        args: &[String],
    ) -> Result<InvokeResponse, HostError> {
        let failed = |m: String| HostError::new(ErrorCode::InvokeFailed, m);
        if self.touched().any(|ns| ns == chaincode) {
            return Err(failed(format!(
                "chaincode {chaincode} already runs in this transaction; a chaincode is simulated once per transaction"
            )));
        }
        let info = self.info.clone();
        let Some(invoker) = self.invoker.as_mut() else {
            return Err(failed(format!(
                "cannot invoke chaincode {chaincode}: no other chaincode can be invoked here"
            )));
        };
        let invoked = invoker.invoke(&info, chaincode, function, args)?;
        if let Some(result) = invoked.result.filter(|_| invoked.response.status == 200) {
            let touched: BTreeSet<&str> = self.touched().collect();
            if let Some(ns) = result
                .rwset
                .namespaces
                .iter()
                .find(|ns| touched.contains(ns.namespace.as_str()))
            {
                return Err(failed(format!(
                    "chaincode {chaincode} touched {}, which already runs in this transaction",
                    ns.namespace
                )));
            }
            self.nested.push(result);
        }
        Ok(invoked.response)
    }

    fn key_policy_get(&mut self, key: &str) -> Result<Option<String>, HostError> {
        check_key(key)?;
        if let Some(own) = self.key_policies.get(key) {
            return Ok(own.as_ref().map(ToString::to_string));
        }
        latch(
            &mut self.failure,
            self.state.key_policy(&self.namespace, key),
        )
    }

    fn key_policy_set(&mut self, key: &str, policy: Option<&str>) -> Result<(), HostError> {
        self.writable("setting a key's endorsement policy")?;
        check_key(key)?;
        let parsed = match policy {
            None | Some("") => None,
            Some(text) if text.len() > MAX_POLICY_BYTES => {
                return Err(limit(format!(
                    "a policy may have at most {MAX_POLICY_BYTES} bytes"
                )));
            }
            Some(text) => Some(
                Policy::parse(text)
                    .map_err(|e| invalid(format!("invalid endorsement policy {text:?}: {e}")))?,
            ),
        };
        self.check_new_write(self.key_policies.contains_key(key))?;
        self.key_policies.insert(key.to_string(), parsed);
        Ok(())
    }

    fn sha3_256(&mut self, data: &[u8]) -> [u8; 32] {
        hash(data)
    }

    fn ed25519_verify(
        &mut self,
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(public_key) else {
            return false;
        };
        key.verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        if self.logs.len() >= MAX_LOG_LINES {
            return;
        }
        let mut end = message.len().min(MAX_LOG_LINE_BYTES);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        self.logs.push((level, message[..end].to_string()));
    }
}

/// Remembers the first `Internal` error of the ledger in `failure` and passes
/// the result on.
pub(super) fn latch<T>(
    failure: &mut Option<HostError>,
    r: Result<T, HostError>,
) -> Result<T, HostError> {
    if let Err(e) = &r
        && e.code == ErrorCode::Internal
        && failure.is_none()
    {
        *failure = Some(e.clone());
    }
    r
}
