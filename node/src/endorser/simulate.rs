//! One authenticated proposal run against one snapshot: definition, module,
//! simulator, runtime, and the outcome turned into a result or an error.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use weft_abi::{Creator, Outcome, TxInfo, TxKind};
use weft_chaincode::sim::{SimulationResult, TxSimulator};
use weft_types::{Bytes, ChaincodeDefinition};

use crate::ledger::Snapshot;
use crate::runtime::{Runtime, RuntimeError, Simulated};

use super::authenticate::Authenticated;
use super::error::EndorseError;
use super::invoke::{CallTree, NodeInvoker};
use super::modules::ensure_prepared;

/// A call that returned `Ok`: what ran and what it produced.
pub(crate) struct Ran {
    /// The definition the call ran under (from the snapshot it read).
    pub(crate) definition: ChaincodeDefinition,
    /// The chaincode's result bytes.
    pub(crate) payload: Vec<u8>,
    /// What the simulator recorded (rw-set, event, private writes, logs).
    pub(crate) result: SimulationResult,
}

/// Runs the proposal's function against `snapshot` as `kind`: the
/// definition and module come from the same snapshot the call reads, so
/// the endorsement names exactly the definition that produced it.
///
/// A chaincode's own error is [`EndorseError::Chaincode`]; a call that did
/// not finish (trap, fuel, memory, ledger) is [`EndorseError::Execution`].
pub(crate) fn run(
    runtime: &Arc<Runtime>,
    snapshot: &Arc<Snapshot>,
    auth: &Authenticated,
    kind: TxKind,
    transient: &BTreeMap<String, Bytes>,
) -> Result<Ran, EndorseError> {
    let chaincode = auth.proposal.chaincode.as_str();
    let definition =
        snapshot
            .definition(chaincode)?
            .ok_or_else(|| EndorseError::UnknownChaincode {
                chaincode: chaincode.to_string(),
            })?;
    let transient: BTreeMap<String, Vec<u8>> = transient
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    let info = tx_info(auth, kind);
    let fuel = runtime.config().fuel_per_call;

    // The module cache may evict the module between preparing and running
    // it (only when more modules are in use than it holds): then prepare
    // once more. Nothing has run when `NotPrepared` comes back.
    let mut attempts = 0;
    let simulated = loop {
        attempts += 1;
        ensure_prepared(runtime, snapshot, &definition)?;
        let tree = CallTree::new(
            Arc::clone(runtime),
            Arc::clone(snapshot),
            transient.clone(),
            chaincode,
        );
        let sim = TxSimulator::new(Arc::clone(snapshot), chaincode, info.clone())
            .with_transient(transient.clone())
            .with_collections(&definition.collections, snapshot.reader_channel())
            .with_invoker(Box::new(NodeInvoker::new(Rc::clone(&tree))));
        let ran = runtime.simulate(
            &definition.module_hash,
            sim,
            &auth.proposal.function,
            &auth.proposal.args,
            fuel,
        );
        // A peer failure in a nested call fails the proposal, whatever the
        // caller made of the error it was given.
        if let Some(failure) = tree.take_failure() {
            return Err(failure);
        }
        match ran {
            Err(RuntimeError::NotPrepared { .. }) if attempts < 2 => continue,
            other => break other,
        }
    };
    let Simulated {
        outcome, result, ..
    } = simulated.map_err(|source| EndorseError::Execution {
        chaincode: chaincode.to_string(),
        source,
    })?;
    for (level, line) in &result.logs {
        tracing::debug!(chaincode, ?level, "{line}");
    }
    match outcome {
        Outcome::Ok(payload) => Ok(Ran {
            definition,
            payload,
            result,
        }),
        Outcome::Err(message) => Err(EndorseError::Chaincode {
            chaincode: chaincode.to_string(),
            message,
        }),
    }
}

/// What the chaincode learns about the call: the creator's certificate as
/// verified, the creator's timestamp and the tx id in hex.
fn tx_info(auth: &Authenticated, kind: TxKind) -> TxInfo {
    let header = &auth.proposal.header;
    TxInfo {
        tx_id: header.tx_id.to_string(),
        channel: header.channel.clone(),
        timestamp_ms: header.timestamp_ms,
        creator: Creator {
            org: auth.creator.org.clone(),
            name: auth.creator.name.clone(),
            role: auth.creator.role.as_str().to_string(),
            public_key: auth.creator.public_key.to_bytes(),
        },
        kind,
    }
}
