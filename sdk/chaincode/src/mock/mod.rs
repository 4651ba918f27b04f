//! [`MockContext`]: run a contract natively against an in-memory ledger
//! ([`MemoryLedger`]) through the same [`TxSimulator`] the node runs, so the
//! errors and semantics a test sees are the node's.
//!
//! ```
//! use weft_chaincode::mock::MockContext;
//! use weft_chaincode::{Context, Result, contract};
//!
//! /// A one-key store.
//! pub struct Store;
//!
//! #[contract]
//! impl Store {
//!     /// Stores `value`.
//!     #[tx]
//!     pub fn set(ctx: &mut Context, value: String) -> Result<()> {
//!         ctx.put("v", value.as_bytes())
//!     }
//! }
//!
//! let mut mock = MockContext::new("store").creator("Bank", "alice", "client");
//! assert!(mock.invoke::<Store>("set", &["hello"]).is_ok());
//! assert_eq!(mock.state("v").as_deref(), Some(&b"hello"[..]));
//! assert!(mock.query::<Store>("set", &["x"]).error().unwrap().contains("not allowed"));
//! ```

mod ledger;

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use weft_abi::{
    Creator, HistoryEntry, HostError, InvokeResponse, LogLevel, Outcome, TxInfo, TxKind,
};
use weft_types::{ChaincodeEvent, CollectionConfig, Policy, RwSet, Version};

pub use ledger::MemoryLedger;

use crate::contract::Contract;
use crate::sim::{
    CollectionData, DispatchFn, Invoked, Invoker, SimulationResult, StateView, TxSimulator,
    simulate,
};

/// Deepest chain of chaincode-to-chaincode calls the mock runs.
pub const MAX_INVOKE_DEPTH: u32 = 8;

/// What a mock call returned and recorded.
#[derive(Debug, Clone)]
pub struct MockResponse {
    /// The transaction id the call ran with.
    pub tx_id: String,
    /// The chaincode's outcome.
    pub outcome: Outcome,
    /// The rw-set the call produced (committed only for a successful `invoke`).
    pub rwset: RwSet,
    /// The event it set.
    pub event: Option<ChaincodeEvent>,
    /// Its private writes.
    pub private_writes: Vec<CollectionData>,
    /// Its log lines.
    pub logs: Vec<(LogLevel, String)>,
    /// The version its writes were committed at, for a successful `invoke`.
    pub committed: Option<Version>,
}

impl MockResponse {
    /// Whether the chaincode succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }

    /// The result bytes, on success.
    pub fn payload(&self) -> Option<&[u8]> {
        match &self.outcome {
            Outcome::Ok(p) => Some(p),
            Outcome::Err(_) => None,
        }
    }

    /// The result as text, on success.
    pub fn payload_str(&self) -> Option<&str> {
        self.payload().and_then(|p| std::str::from_utf8(p).ok())
    }

    /// The result parsed as JSON; an error if the call failed or it does not parse.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, String> {
        match &self.outcome {
            Outcome::Ok(p) => serde_json::from_slice(p).map_err(|e| e.to_string()),
            Outcome::Err(m) => Err(format!("the call failed: {m}")),
        }
    }

    /// The error message, on failure.
    pub fn error(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Ok(_) => None,
            Outcome::Err(m) => Some(m),
        }
    }
}

/// A chaincode's test harness: an in-memory ledger, the identity and time
/// of the next call, transient input, collections and other chaincodes it
/// may invoke. Each successful [`MockContext::invoke`] commits a block.
pub struct MockContext {
    namespace: String,
    channel: String,
    creator: Creator,
    timestamp_ms: u64,
    transient: BTreeMap<String, Vec<u8>>,
    collections: Vec<CollectionConfig>,
    chaincodes: Rc<BTreeMap<String, DispatchFn>>,
    ledger: Rc<MemoryLedger>,
    calls: u64,
}

impl core::fmt::Debug for MockContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MockContext")
            .field("namespace", &self.namespace)
            .field("creator", &self.creator)
            .field("height", &self.ledger.height())
            .finish_non_exhaustive()
    }
}

impl MockContext {
    /// A harness for chaincode `name` on channel `weft`, called by
    /// `Org1`'s client `user` at 1 700 000 000 000 ms.
    pub fn new(name: &str) -> Self {
        MockContext {
            namespace: name.to_string(),
            channel: "weft".to_string(),
            creator: Creator {
                org: "Org1".into(),
                name: "user".into(),
                role: "client".into(),
                public_key: [0; 32],
            },
            timestamp_ms: 1_700_000_000_000,
            transient: BTreeMap::new(),
            collections: Vec::new(),
            chaincodes: Rc::new(BTreeMap::new()),
            ledger: Rc::new(MemoryLedger::new()),
            calls: 0,
        }
    }

    /// Sets who makes the next calls.
    pub fn creator(mut self, org: &str, name: &str, role: &str) -> Self {
        self.set_creator(org, name, role);
        self
    }

    /// Changes who makes the next calls.
    pub fn set_creator(&mut self, org: &str, name: &str, role: &str) {
        self.creator.org = org.to_string();
        self.creator.name = name.to_string();
        self.creator.role = role.to_string();
    }

    /// Sets the creator's public key.
    pub fn public_key(mut self, key: [u8; 32]) -> Self {
        self.creator.public_key = key;
        self
    }

    /// Changes the creator's public key for the next calls: with
    /// [`MockContext::set_creator`], switches between members whose
    /// signatures a contract checks against `ctx.creator().public_key`.
    pub fn set_public_key(&mut self, key: [u8; 32]) {
        self.creator.public_key = key;
    }

    /// Sets the channel name.
    pub fn channel(mut self, channel: &str) -> Self {
        self.channel = channel.to_string();
        self
    }

    /// Sets the time of the next calls.
    pub fn timestamp_ms(mut self, ms: u64) -> Self {
        self.timestamp_ms = ms;
        self
    }

    /// Changes the time of the next calls.
    pub fn set_timestamp_ms(&mut self, ms: u64) {
        self.timestamp_ms = ms;
    }

    /// Adds a transient input for the next calls.
    pub fn transient(mut self, key: &str, value: &[u8]) -> Self {
        self.transient.insert(key.to_string(), value.to_vec());
        self
    }

    /// Removes every transient input.
    pub fn clear_transient(&mut self) {
        self.transient.clear();
    }

    /// Replaces the transient inputs of the next calls with `entries`.
    pub fn replace_transient<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) {
        self.transient = entries
            .into_iter()
            .map(|(key, value)| (key.to_string(), value.to_vec()))
            .collect();
    }

    /// Adds a private data collection (any org may use it; membership is not
    /// checked by the mock). The mock has no channel, so no implicit
    /// collections: name one here (`_implicit_org_Org1`) to use it.
    pub fn collection(mut self, name: &str) -> Self {
        if let Ok(any) = Policy::parse("ANY") {
            self.collections.push(CollectionConfig::new(name, any));
        }
        self
    }

    /// Installs contract `C` as chaincode `name`, for `invoke_chaincode`.
    pub fn with_chaincode<C: Contract>(mut self, name: &str) -> Self {
        Rc::make_mut(&mut self.chaincodes).insert(name.to_string(), C::dispatch as DispatchFn);
        self
    }

    /// Submits `function(args)` of `C` as a transaction; on success its
    /// writes are committed as a new block.
    pub fn invoke<C: Contract>(&mut self, function: &str, args: &[&str]) -> MockResponse {
        self.call(C::dispatch, TxKind::Transaction, function, args)
    }

    /// Evaluates `function(args)` of `C` as a query; nothing is committed.
    pub fn query<C: Contract>(&mut self, function: &str, args: &[&str]) -> MockResponse {
        self.call(C::dispatch, TxKind::Query, function, args)
    }

    fn call(
        &mut self,
        dispatch: DispatchFn,
        kind: TxKind,
        function: &str,
        args: &[&str],
    ) -> MockResponse {
        self.call_with(kind, function, args, |sim, function, args| {
            simulate(sim, dispatch, function, args)
        })
    }

    /// Runs one call through `run`, which receives the prepared simulator, the
    /// function and the arguments and returns the outcome and the simulator's record —
    /// for instance the node's Wasm runtime running the built module. Commits
    /// like [`MockContext::invoke`] when `kind` is a transaction and the
    /// outcome is `Ok`. This is how the same scenarios run natively and in Wasm
    /// against identical ledgers.
    pub fn call_with(
        &mut self,
        kind: TxKind,
        function: &str,
        args: &[&str],
        run: impl FnOnce(TxSimulator<Rc<MemoryLedger>>, &str, &[String]) -> (Outcome, SimulationResult),
    ) -> MockResponse {
        self.calls += 1;
        let info = TxInfo {
            tx_id: format!("{:064x}", self.calls),
            channel: self.channel.clone(),
            timestamp_ms: self.timestamp_ms,
            creator: self.creator.clone(),
            kind,
        };
        let invoker = MockInvoker {
            ledger: Rc::clone(&self.ledger),
            chaincodes: Rc::clone(&self.chaincodes),
            depth: 1,
        };
        let sim = TxSimulator::new(
            Rc::clone(&self.ledger),
            self.namespace.clone(),
            info.clone(),
        )
        .with_transient(self.transient.clone())
        .with_collections(&self.collections, None)
        .with_invoker(Box::new(invoker));
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (mut outcome, result) = run(sim, function, &args);
        if let Some(failure) = &result.failure {
            outcome = Outcome::Err(format!("the ledger failed during the call: {failure}"));
        }
        let committed =
            (kind == TxKind::Transaction && matches!(outcome, Outcome::Ok(_))).then(|| {
                Rc::make_mut(&mut self.ledger).commit(&info.tx_id, info.timestamp_ms, &result)
            });
        MockResponse {
            tx_id: info.tx_id,
            outcome,
            rwset: result.rwset,
            event: result.event,
            private_writes: result.private_writes,
            logs: result.logs,
            committed,
        }
    }

    /// Commits `key = value` (`None` deletes) in this chaincode as a block of
    /// its own, to set up a test.
    pub fn seed(&mut self, key: &str, value: Option<&[u8]>) -> Version {
        Rc::make_mut(&mut self.ledger).seed(&self.namespace, &[(key, value)])
    }

    /// The committed ledger.
    pub fn ledger(&self) -> &MemoryLedger {
        &self.ledger
    }

    /// The committed value of `key` in this chaincode.
    pub fn state(&self, key: &str) -> Option<Vec<u8>> {
        self.ledger
            .value(&self.namespace, key)
            .map(|(v, _)| v.clone())
    }

    /// The committed value of `key` parsed as JSON (`None` if missing or not that JSON).
    pub fn state_json<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        serde_json::from_slice(&self.state(key)?).ok()
    }

    /// The committed version of `key`.
    pub fn version(&self, key: &str) -> Option<Version> {
        self.ledger.value(&self.namespace, key).map(|(_, v)| *v)
    }

    /// Every committed change of `key`, oldest first.
    pub fn history(&self, key: &str) -> Vec<HistoryEntry> {
        self.ledger
            .history(&self.namespace, key)
            .unwrap_or_default()
    }

    /// The committed private value of `key` in `collection`.
    pub fn private_state(&self, collection: &str, key: &str) -> Option<Vec<u8>> {
        self.ledger
            .private_value(&self.namespace, collection, key)
            .map(<[u8]>::to_vec)
    }

    /// The committed key-level policy of `key`, as text.
    pub fn key_policy(&self, key: &str) -> Option<String> {
        self.ledger.key_policy(&self.namespace, key).ok().flatten()
    }
}

/// Runs installed contracts for `invoke_chaincode`, each in its own simulator.
struct MockInvoker {
    ledger: Rc<MemoryLedger>,
    chaincodes: Rc<BTreeMap<String, DispatchFn>>,
    depth: u32,
}

impl Invoker for MockInvoker {
    fn invoke(
        &mut self,
        caller: &TxInfo,
        chaincode: &str,
        function: &str,
        args: &[String],
    ) -> Result<Invoked, HostError> {
        let failed = |m: String| HostError::new(weft_abi::ErrorCode::InvokeFailed, m);
        let dispatch = *self.chaincodes.get(chaincode).ok_or_else(|| {
            failed(format!(
                "chaincode {chaincode} is not installed in this mock"
            ))
        })?;
        if self.depth >= MAX_INVOKE_DEPTH {
            return Err(failed(format!(
                "chaincode calls nest deeper than {MAX_INVOKE_DEPTH}"
            )));
        }
        let nested = MockInvoker {
            ledger: Rc::clone(&self.ledger),
            chaincodes: Rc::clone(&self.chaincodes),
            depth: self.depth + 1,
        };
        let sim = TxSimulator::new(Rc::clone(&self.ledger), chaincode, caller.clone())
            .with_invoker(Box::new(nested));
        let (outcome, result): (Outcome, SimulationResult) =
            simulate(sim, dispatch, function, args);
        Ok(match outcome {
            Outcome::Ok(payload) => Invoked {
                response: InvokeResponse {
                    status: 200,
                    message: String::new(),
                    payload,
                },
                result: Some(result),
            },
            Outcome::Err(message) => Invoked {
                response: InvokeResponse {
                    status: 400,
                    message,
                    payload: Vec::new(),
                },
                result: None,
            },
        })
    }
}
