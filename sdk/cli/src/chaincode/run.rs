//! `weft chaincode run`: one call of a module, through the node's runtime,
//! against an in-memory ledger seeded from a JSON file.
//!
//! The ledger is `weft_chaincode`'s `MockContext`, and the call runs with
//! `weft_node::runtime::Runtime::simulate` over its `TxSimulator`: the
//! outcome, rw-set and fuel are what an endorsing peer would compute.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use weft_abi::{LogLevel, Outcome, TxKind};
use weft_chaincode::mock::MockContext;
use weft_chaincode::sim::{MAX_KEY_BYTES, MAX_VALUE_BYTES, SimulationResult};
use weft_node::runtime::{Rejection, Runtime, RuntimeConfig, RuntimeError};
use weft_types::{ChaincodeEvent, KvWrite, RwSet, check_name, to_base64};

/// The creator when none is given (`MockContext`'s default).
pub const DEFAULT_CREATOR: &str = "Org1.client";
/// The creator's member name when none is given.
pub const DEFAULT_MEMBER: &str = "user";
/// The largest state file read.
pub const MAX_STATE_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// One call to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The module file.
    pub wasm: PathBuf,
    /// The function.
    pub function: String,
    /// Its arguments, one string each.
    pub args: Vec<String>,
    /// A JSON object file seeding the ledger ([`parse_state`]).
    pub state: Option<PathBuf>,
    /// Who calls, `Org.role` (role: client, peer, admin or orderer).
    pub creator: String,
    /// The caller's member name.
    pub member: String,
    /// The chaincode (namespace) name; the file's stem when `None`.
    pub chaincode: Option<String>,
    /// Fuel for the call; the runtime's `fuel_per_call` when `None`.
    pub fuel: Option<u64>,
    /// Run as a query (writes refused) instead of a transaction.
    pub query: bool,
}

/// Why a call produced no outcome.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The command line or a file it names is wrong (exit 2).
    #[error("{0}")]
    Input(String),
    /// The module would not deploy (exit 1).
    #[error("the module would not deploy")]
    Rejected(Vec<Rejection>),
    /// The call trapped, ran out of fuel or memory (exit 1).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl RunError {
    /// The process exit code: 2 for bad input, 1 when the module did not run.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Input(_) => 2,
            RunError::Rejected(_) | RunError::Runtime(_) => 1,
        }
    }
}

/// What a call returned and recorded.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The chaincode's result or its own error.
    pub outcome: Outcome,
    /// The rw-set it produced.
    pub rwset: RwSet,
    /// The event it set.
    pub event: Option<ChaincodeEvent>,
    /// Its log lines.
    pub logs: Vec<(LogLevel, String)>,
    /// Fuel used, host-call charges included.
    pub fuel_used: u64,
}

impl RunReport {
    /// The process exit code: 0 when the chaincode succeeded, 1 when it returned an error.
    pub fn exit_code(&self) -> u8 {
        match self.outcome {
            Outcome::Ok(_) => 0,
            Outcome::Err(_) => 1,
        }
    }
}

/// Parses a state file: a JSON object whose keys are state keys. A JSON
/// string value is stored as its UTF-8 bytes (`"blue"` → `blue`); any other
/// value as its compact JSON text (`{"id": "a1"}` → `{"id":"a1"}`).
pub fn parse_state(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("not a JSON object ({\"key\": value, …})".into());
    };
    let mut seeds = Vec::with_capacity(map.len());
    for (key, value) in map {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(format!("key {key:?}: keys are 1 to {MAX_KEY_BYTES} bytes"));
        }
        let bytes = match value {
            Value::String(s) => s.into_bytes(),
            other => other.to_string().into_bytes(),
        };
        if bytes.len() > MAX_VALUE_BYTES {
            return Err(format!(
                "key {key}: the value is over {MAX_VALUE_BYTES} bytes"
            ));
        }
        seeds.push((key, bytes));
    }
    Ok(seeds)
}

fn read_state(path: &Path) -> Result<Vec<(String, Vec<u8>)>, RunError> {
    let input = |m: String| RunError::Input(format!("state file {}: {m}", path.display()));
    let size = std::fs::metadata(path)
        .map_err(|e| input(format!("cannot read it: {e}")))?
        .len();
    if size > MAX_STATE_FILE_BYTES {
        return Err(input(format!(
            "{size} bytes, over the limit of {MAX_STATE_FILE_BYTES} bytes"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| input(format!("cannot read it: {e}")))?;
    parse_state(&text).map_err(input)
}

/// Parses `--creator Org.role` and `--name`.
fn parse_creator(creator: &str, member: &str) -> Result<(String, String), RunError> {
    let (org, role) = weft_policy::parse_signer(creator)
        .map_err(|e| RunError::Input(format!("invalid --creator {creator:?}: {e}")))?;
    check_name("member", member).map_err(|e| RunError::Input(format!("--name: {e}")))?;
    Ok((org, role.to_string()))
}

/// The runtime for one call: the node's limits (fuel, memory, stack decide
/// outcomes, so they stay the defaults), with one instance slot and one cached module.
fn runtime_config() -> RuntimeConfig {
    RuntimeConfig {
        max_instances: 1,
        max_cached_modules: 1,
        ..RuntimeConfig::default()
    }
}

/// Runs `req`: validates and compiles the module, seeds the ledger, makes the call.
pub fn run(req: &RunRequest) -> Result<RunReport, RunError> {
    let (org, role) = parse_creator(&req.creator, &req.member)?;
    let chaincode = match &req.chaincode {
        Some(name) => name.clone(),
        None => req
            .wasm
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    check_name("chaincode", &chaincode)
        .map_err(|e| RunError::Input(format!("{e} (give a valid one with --chaincode NAME)")))?;
    let seeds = match &req.state {
        Some(path) => read_state(path)?,
        None => Vec::new(),
    };
    let bytes = std::fs::read(&req.wasm)
        .map_err(|e| RunError::Input(format!("cannot read {}: {e}", req.wasm.display())))?;

    let runtime = Runtime::new(runtime_config())?;
    let hash = match runtime.prepare(&bytes) {
        Ok(prepared) => prepared.hash,
        Err(RuntimeError::BadModule(rejections)) => return Err(RunError::Rejected(rejections)),
        Err(e) => return Err(e.into()),
    };
    let fuel = req.fuel.unwrap_or(runtime.config().fuel_per_call);

    let mut ctx = MockContext::new(&chaincode).creator(&org, &req.member, &role);
    for (key, value) in &seeds {
        ctx.seed(key, Some(value));
    }
    let kind = if req.query {
        TxKind::Query
    } else {
        TxKind::Transaction
    };
    let args: Vec<&str> = req.args.iter().map(String::as_str).collect();
    // What the runtime said, beside the outcome `call_with` records.
    let mut fuel_used: Result<u64, RuntimeError> = Ok(0);
    let response = ctx.call_with(kind, &req.function, &args, |sim, function, args| {
        match runtime.simulate(&hash, sim, function, args, fuel) {
            Ok(done) => {
                fuel_used = Ok(done.fuel_used);
                (done.outcome, done.result)
            }
            Err(e) => {
                // An error outcome: nothing is committed.
                let outcome = Outcome::Err(e.to_string());
                fuel_used = Err(e);
                (outcome, SimulationResult::default())
            }
        }
    });
    let fuel_used = fuel_used?;
    Ok(RunReport {
        outcome: response.outcome,
        rwset: response.rwset,
        event: response.event,
        logs: response.logs,
        fuel_used,
    })
}

/// Bytes as text when they are UTF-8, else described and in base64.
fn as_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => format!(
            "({} bytes, not UTF-8; base64: {})",
            bytes.len(),
            to_base64(bytes)
        ),
    }
}

/// The rw-set as the protocol's JSON, made readable: a written value shows
/// as text (`value`) when it is UTF-8, else as `value_base64`; a delete as
/// `"delete": true`; empty lists are left out.
pub fn readable_rwset(rwset: &RwSet) -> Value {
    let namespaces: Vec<Value> = rwset
        .namespaces
        .iter()
        .map(|ns| {
            let mut map = match serde_json::to_value(ns) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            };
            let writes = ns.writes.iter().map(readable_write).collect();
            map.insert("writes".into(), Value::Array(writes));
            map.retain(|_, v| !matches!(v, Value::Array(a) if a.is_empty()));
            Value::Object(map)
        })
        .collect();
    json!({ "namespaces": namespaces })
}

fn readable_write(write: &KvWrite) -> Value {
    match &write.value {
        None => json!({ "key": write.key, "delete": true }),
        Some(value) => match std::str::from_utf8(value) {
            Ok(text) => json!({ "key": write.key, "value": text }),
            Err(_) => json!({ "key": write.key, "value_base64": to_base64(value) }),
        },
    }
}

impl fmt::Display for RunReport {
    /// `ok: <payload>` or `error: <message>`, then the rw-set as pretty JSON,
    /// the event, the log lines and the fuel used.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Ok(payload) => writeln!(f, "ok: {}", as_text(payload))?,
            Outcome::Err(message) => writeln!(f, "error: {message}")?,
        }
        let rwset =
            serde_json::to_string_pretty(&readable_rwset(&self.rwset)).map_err(|_| fmt::Error)?;
        writeln!(f, "rw-set:\n{rwset}")?;
        if let Some(event) = &self.event {
            writeln!(f, "event: {} {}", event.name, as_text(&event.payload))?;
        }
        for (level, line) in &self.logs {
            writeln!(f, "log {}: {line}", format!("{level:?}").to_lowercase())?;
        }
        writeln!(f, "fuel used: {}", self.fuel_used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::{KvRead, NsRwSet};

    #[test]
    fn state_strings_are_raw_and_other_values_are_json() {
        let seeds = parse_state(r#"{"b": "blue", "a": {"id": "a1", "value": 1}, "n": 7}"#).unwrap();
        assert_eq!(
            seeds,
            vec![
                ("a".to_string(), br#"{"id":"a1","value":1}"#.to_vec()),
                ("b".to_string(), b"blue".to_vec()),
                ("n".to_string(), b"7".to_vec()),
            ]
        );
        assert!(
            parse_state("[1]")
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(parse_state("{").unwrap_err().contains("not JSON"));
        assert!(parse_state(r#"{"": 1}"#).is_err());
    }

    #[test]
    fn bad_creators_are_input_errors() {
        assert!(parse_creator("Bank.client", "alice").is_ok());
        for (creator, member) in [
            ("Bank", "alice"),
            ("Bank.boss", "alice"),
            ("Bank.peer", "a b"),
        ] {
            let err = parse_creator(creator, member).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{creator} {member}: {err}");
        }
    }

    #[test]
    fn rwset_values_show_as_text() {
        let rwset = RwSet {
            namespaces: vec![NsRwSet {
                namespace: "cc".into(),
                reads: vec![KvRead {
                    key: "a".into(),
                    version: None,
                }],
                writes: vec![
                    KvWrite {
                        key: "a".into(),
                        value: Some("blue".into()),
                    },
                    KvWrite {
                        key: "b".into(),
                        value: Some(vec![0xff].into()),
                    },
                    KvWrite {
                        key: "c".into(),
                        value: None,
                    },
                ],
                ..NsRwSet::default()
            }],
        };
        let view = readable_rwset(&rwset);
        let ns = &view["namespaces"][0];
        assert_eq!(ns["namespace"], "cc");
        assert_eq!(ns["reads"][0]["key"], "a");
        assert_eq!(ns["writes"][0], json!({"key": "a", "value": "blue"}));
        assert_eq!(ns["writes"][1], json!({"key": "b", "value_base64": "/w=="}));
        assert_eq!(ns["writes"][2], json!({"key": "c", "delete": true}));
        assert!(
            ns.get("range_queries").is_none(),
            "empty lists are left out"
        );
    }
}
