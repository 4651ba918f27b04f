//! A chaincode call end to end: the module runs in the Wasm runtime, its host
//! functions served by the transaction simulator — the same
//! [`TxSimulator`] that `MockContext` runs natively, so a chaincode behaves
//! the same in unit tests and on a peer.

use std::any::Any;

use weft_abi::{Invocation, Outcome};
use weft_chaincode::sim::{SimulationResult, StateView, TxSimulator};
use weft_types::Digest;

use super::error::RuntimeError;
use super::runtime::Runtime;

/// What a simulated call produced.
#[derive(Debug)]
pub struct Simulated {
    /// The chaincode's result or its own error.
    pub outcome: Outcome,
    /// What the simulator recorded: rw-set, event, private writes, logs.
    pub result: SimulationResult,
    /// Fuel used, host-call charges included.
    pub fuel_used: u64,
}

impl Runtime {
    /// Runs `function(args)` of the prepared module `module_hash` against
    /// `sim`, with `fuel`, and returns the outcome with the simulator's
    /// record. A trap, running out of fuel or of memory, or a ledger failure
    /// during the call is an error: the call produced nothing that can be
    /// endorsed.
    pub fn simulate<S: StateView + 'static>(
        &self,
        module_hash: &Digest,
        sim: TxSimulator<S>,
        function: &str,
        args: &[String],
        fuel: u64,
    ) -> Result<Simulated, RuntimeError> {
        let invocation = Invocation {
            function: function.to_string(),
            args: args.to_vec(),
        };
        let execution = self.invoke(module_hash, Box::new(sim), &invocation, fuel)?;
        let host: Box<dyn Any> = execution.host;
        let sim = host
            .downcast::<TxSimulator<S>>()
            .map_err(|_| RuntimeError::BadOutput {
                reason: "the host given back is not the simulator that was passed in".into(),
            })?;
        let result = sim.finish();
        if let Some(failure) = &result.failure {
            return Err(RuntimeError::Ledger {
                message: failure.to_string(),
            });
        }
        Ok(Simulated {
            outcome: execution.outcome,
            result,
            fuel_used: execution.fuel_used,
        })
    }
}
