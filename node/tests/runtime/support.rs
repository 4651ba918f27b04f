//! Test support: an in-memory [`Host`], fixture loading and a small runtime.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use weft_abi::{
    Creator, ErrorCode, HistoryEntry, Host, HostError, Invocation, InvokeResponse, LogLevel,
    TxInfo, TxKind,
};
use weft_node::runtime::{Runtime, RuntimeConfig};

/// World state shared between a [`MapHost`] and the test that made it.
pub(crate) type State = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

/// An open range: what it has left to return, until closed or exhausted.
type OpenRange = Option<Vec<(String, Vec<u8>)>>;

/// A `Host` over a `BTreeMap`: enough of the simulator's semantics
/// (read-your-own-writes, ranges, queries refusing writes) to drive the runtime.
pub(crate) struct MapHost {
    pub(crate) state: State,
    pub(crate) private: BTreeMap<(String, String), Vec<u8>>,
    pub(crate) policies: BTreeMap<String, String>,
    pub(crate) event: Option<(String, Vec<u8>)>,
    pub(crate) logs: Arc<Mutex<Vec<String>>>,
    ranges: Vec<OpenRange>,
    kind: TxKind,
}

impl MapHost {
    /// A host over empty state, and a handle on that state.
    pub(crate) fn new() -> (Box<MapHost>, State) {
        let state = State::default();
        (Self::over(state.clone()), state)
    }

    /// A host over `state`.
    pub(crate) fn over(state: State) -> Box<MapHost> {
        Box::new(MapHost {
            state,
            private: BTreeMap::new(),
            policies: BTreeMap::new(),
            event: None,
            logs: Arc::default(),
            ranges: Vec::new(),
            kind: TxKind::Transaction,
        })
    }

    fn writable(&self) -> Result<(), HostError> {
        match self.kind {
            TxKind::Transaction => Ok(()),
            TxKind::Query => Err(HostError::new(ErrorCode::NotAllowed, "query")),
        }
    }
}

fn check_key(key: &str) -> Result<(), HostError> {
    if key.is_empty() {
        return Err(HostError::new(ErrorCode::InvalidArgument, "empty key"));
    }
    Ok(())
}

impl Host for MapHost {
    fn state_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        check_key(key)?;
        Ok(self.state.lock().unwrap().get(key).cloned())
    }

    fn state_put(&mut self, key: &str, value: &[u8]) -> Result<(), HostError> {
        check_key(key)?;
        self.writable()?;
        self.state
            .lock()
            .unwrap()
            .insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn state_delete(&mut self, key: &str) -> Result<(), HostError> {
        check_key(key)?;
        self.writable()?;
        self.state.lock().unwrap().remove(key);
        Ok(())
    }

    fn range_open(&mut self, start: &str, end: &str) -> Result<u32, HostError> {
        let items = self
            .state
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.as_str() >= start && (end.is_empty() || k.as_str() < end))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.ranges.push(Some(items));
        Ok(u32::try_from(self.ranges.len() - 1).unwrap())
    }

    fn range_next(&mut self, handle: u32) -> Result<Vec<(String, Vec<u8>)>, HostError> {
        self.ranges
            .get_mut(handle as usize)
            .and_then(Option::take)
            .ok_or_else(|| HostError::new(ErrorCode::InvalidArgument, "unknown iterator"))
    }

    fn range_close(&mut self, handle: u32) -> Result<(), HostError> {
        if let Some(slot) = self.ranges.get_mut(handle as usize) {
            *slot = None;
        }
        Ok(())
    }

    fn state_history(&mut self, _key: &str) -> Result<Vec<HistoryEntry>, HostError> {
        Ok(Vec::new())
    }

    fn private_get(&mut self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self
            .private
            .get(&(collection.to_string(), key.to_string()))
            .cloned())
    }

    fn private_put(&mut self, collection: &str, key: &str, value: &[u8]) -> Result<(), HostError> {
        self.writable()?;
        self.private
            .insert((collection.to_string(), key.to_string()), value.to_vec());
        Ok(())
    }

    fn private_delete(&mut self, collection: &str, key: &str) -> Result<(), HostError> {
        self.private
            .remove(&(collection.to_string(), key.to_string()));
        Ok(())
    }

    fn private_get_hash(
        &mut self,
        collection: &str,
        key: &str,
    ) -> Result<Option<[u8; 32]>, HostError> {
        Ok(self
            .private_get(collection, key)?
            .map(|v| weft_types::sha3_256(&v).0))
    }

    fn private_purge(&mut self, collection: &str, key: &str) -> Result<(), HostError> {
        self.private_delete(collection, key)
    }

    fn transient_get(&mut self, _key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(None)
    }

    fn set_event(&mut self, name: &str, payload: &[u8]) -> Result<(), HostError> {
        self.event = Some((name.to_string(), payload.to_vec()));
        Ok(())
    }

    fn tx_info(&mut self) -> Result<TxInfo, HostError> {
        Ok(TxInfo {
            tx_id: "00".repeat(32),
            channel: "weft".into(),
            timestamp_ms: 1,
            creator: Creator {
                org: "Org1".into(),
                name: "alice".into(),
                role: "client".into(),
                public_key: [0; 32],
            },
            kind: self.kind,
        })
    }

    fn invoke_chaincode(
        &mut self,
        chaincode: &str,
        _function: &str,
        _args: &[String],
    ) -> Result<InvokeResponse, HostError> {
        Err(HostError::new(
            ErrorCode::InvokeFailed,
            format!("no chaincode {chaincode}"),
        ))
    }

    fn key_policy_get(&mut self, key: &str) -> Result<Option<String>, HostError> {
        Ok(self.policies.get(key).cloned())
    }

    fn key_policy_set(&mut self, key: &str, policy: Option<&str>) -> Result<(), HostError> {
        match policy {
            Some(p) => self.policies.insert(key.to_string(), p.to_string()),
            None => self.policies.remove(key),
        };
        Ok(())
    }

    fn sha3_256(&mut self, data: &[u8]) -> [u8; 32] {
        weft_types::sha3_256(data).0
    }

    fn ed25519_verify(&mut self, _pk: &[u8; 32], _msg: &[u8], _sig: &[u8; 64]) -> bool {
        false
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        self.logs
            .lock()
            .unwrap()
            .push(format!("{level:?}: {message}"));
    }
}

/// The module compiled from `tests/fixtures/NAME.wat`.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    wat::parse_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The default limits, with a small instance pool (each test makes its own runtime).
pub(crate) fn config() -> RuntimeConfig {
    RuntimeConfig {
        max_instances: 4,
        ..RuntimeConfig::default()
    }
}

/// A runtime with [`config`].
pub(crate) fn runtime() -> Runtime {
    Runtime::new(config()).unwrap()
}

/// An invocation of `function` without arguments.
pub(crate) fn call(function: &str) -> Invocation {
    Invocation {
        function: function.into(),
        args: Vec::new(),
    }
}
