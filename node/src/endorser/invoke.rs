//! Chaincode-to-chaincode calls during a simulation: [`NodeInvoker`], the
//! [`Invoker`] the endorser gives every simulator, and the [`CallTree`]
//! state all invokers of one proposal share.
//!
//! Every callee runs in its own `TxSimulator` over the **same snapshot** as
//! the top-level call (so the whole transaction reads one height), with the
//! caller's `TxInfo`, transient map and the callee's own collections. Its
//! rw-set joins the caller's (the simulator does that, and refuses a callee
//! that touches a namespace already touched).
//!
//! Limits: at most [`MAX_INVOKE_DEPTH`] chaincodes on the call stack; a
//! chaincode already on the stack may not be called again (re-entry would
//! run a second simulator that does not see the first one's writes); and
//! every callee's fuel comes out of one budget for the whole tree (see
//! [`CallTree`]), so a proposal never burns more than twice the runtime's
//! `fuel_per_call`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use weft_abi::{ErrorCode, HostError, InvokeResponse, Outcome, TxInfo};
use weft_chaincode::sim::{Invoked, Invoker, TxSimulator};

use crate::ledger::Snapshot;
use crate::runtime::{Runtime, RuntimeError};

use super::error::EndorseError;
use super::modules::ensure_prepared;

/// Most chaincodes on one call stack, the proposal's own included. Each
/// level may use the runtime's whole `max_stack_bytes` of native stack, so
/// a thread running [`super::Endorser::endorse`] needs this many times that,
/// plus room for the host (see [`super::Endorser::required_stack_bytes`]).
pub const MAX_INVOKE_DEPTH: usize = 8;

/// What the invokers of one proposal share: the snapshot, the call stack,
/// the fuel budget, and the first failure of the peer (not of a chaincode)
/// seen in a nested call.
///
/// **Fuel.** The top-level call has the runtime's `fuel_per_call` in its
/// own store. Callees draw from `budget_fuel` (also `fuel_per_call` to
/// start with): each callee is granted half of what is left, which is
/// reserved while it runs (so its own callees share the other half), and
/// what it did not use is given back when it returns. The total a
/// proposal can burn is therefore at most twice `fuel_per_call`, however
/// the calls nest, and the grants depend only on the calls made, so every
/// endorser computes the same ones.
pub(crate) struct CallTree {
    runtime: Arc<Runtime>,
    snapshot: Arc<Snapshot>,
    transient: BTreeMap<String, Vec<u8>>,
    stack: RefCell<Vec<String>>,
    budget_fuel: Cell<u64>,
    /// A failure that makes the whole proposal fail whatever the caller
    /// does with the error it got (it may swallow it): a ledger read that
    /// failed, a module that cannot be loaded, no instance slot free.
    /// These depend on the peer, not on the transaction, so no response
    /// built after them may be signed.
    failure: RefCell<Option<EndorseError>>,
}

impl CallTree {
    /// The state for a proposal invoking `chaincode`.
    pub(crate) fn new(
        runtime: Arc<Runtime>,
        snapshot: Arc<Snapshot>,
        transient: BTreeMap<String, Vec<u8>>,
        chaincode: &str,
    ) -> Rc<Self> {
        let budget_fuel = runtime.config().fuel_per_call;
        Rc::new(CallTree {
            runtime,
            snapshot,
            transient,
            stack: RefCell::new(vec![chaincode.to_string()]),
            budget_fuel: Cell::new(budget_fuel),
            failure: RefCell::new(None),
        })
    }

    /// The first peer failure a nested call saw, if any.
    pub(crate) fn take_failure(&self) -> Option<EndorseError> {
        self.failure.borrow_mut().take()
    }

    fn fail(&self, error: EndorseError) -> HostError {
        let err = HostError::new(ErrorCode::Internal, error.to_string());
        self.failure.borrow_mut().get_or_insert(error);
        err
    }
}

/// The [`Invoker`] of every simulator in a proposal's call tree.
pub(crate) struct NodeInvoker {
    tree: Rc<CallTree>,
}

impl NodeInvoker {
    pub(crate) fn new(tree: Rc<CallTree>) -> Self {
        NodeInvoker { tree }
    }
}

fn refused(message: String) -> HostError {
    HostError::new(ErrorCode::InvokeFailed, message)
}

impl Invoker for NodeInvoker {
    fn invoke(
        &mut self,
        caller: &TxInfo,
        chaincode: &str,
        function: &str,
        args: &[String],
    ) -> Result<Invoked, HostError> {
        let tree = &self.tree;
        {
            let stack = tree.stack.borrow();
            if stack.iter().any(|c| c == chaincode) {
                return Err(refused(format!(
                    "chaincode {chaincode} is already on the call stack ({} -> {chaincode}); a chaincode cannot be re-entered",
                    stack.join(" -> ")
                )));
            }
            if stack.len() >= MAX_INVOKE_DEPTH {
                return Err(refused(format!(
                    "cannot invoke chaincode {chaincode}: chaincode calls nest at most {MAX_INVOKE_DEPTH} deep ({})",
                    stack.join(" -> ")
                )));
            }
        }
        let def = match tree.snapshot.definition(chaincode) {
            Ok(Some(def)) => def,
            Ok(None) => {
                return Err(refused(format!(
                    "chaincode {chaincode} is not defined on this channel"
                )));
            }
            Err(e) => return Err(tree.fail(e.into())),
        };
        if let Err(e) = ensure_prepared(&tree.runtime, &tree.snapshot, &def) {
            return Err(tree.fail(e));
        }

        let grant = tree.budget_fuel.get() / 2;
        tree.budget_fuel.set(tree.budget_fuel.get() - grant);
        tree.stack.borrow_mut().push(chaincode.to_string());
        let sim = TxSimulator::new(Arc::clone(&tree.snapshot), chaincode, caller.clone())
            .with_transient(tree.transient.clone())
            .with_collections(&def.collections, tree.snapshot.reader_channel())
            .with_invoker(Box::new(NodeInvoker::new(Rc::clone(tree))));
        let ran = tree
            .runtime
            .simulate(&def.module_hash, sim, function, args, grant);
        tree.stack.borrow_mut().pop();

        let used = match &ran {
            Ok(simulated) => simulated.fuel_used.min(grant),
            // How much a failed call used is not reported: count it all.
            Err(_) => grant,
        };
        tree.budget_fuel
            .set(tree.budget_fuel.get() + (grant - used));

        match ran {
            Ok(simulated) => Ok(match simulated.outcome {
                Outcome::Ok(payload) => Invoked {
                    response: InvokeResponse {
                        status: 200,
                        message: String::new(),
                        payload,
                    },
                    result: Some(simulated.result),
                },
                Outcome::Err(message) => Invoked {
                    response: InvokeResponse {
                        status: 400,
                        message,
                        payload: Vec::new(),
                    },
                    result: None,
                },
            }),
            Err(e) if is_deterministic(&e) => Ok(Invoked {
                response: InvokeResponse {
                    status: 500,
                    message: format!("chaincode {chaincode} failed to run: {e}"),
                    payload: Vec::new(),
                },
                result: None,
            }),
            Err(e) => Err(tree.fail(EndorseError::Execution {
                chaincode: chaincode.to_string(),
                source: e,
            })),
        }
    }
}

/// Whether a callee's failure is the callee's own doing, identical on every
/// peer (so its caller may see it and carry on), rather than the peer's.
fn is_deterministic(e: &RuntimeError) -> bool {
    matches!(
        e,
        RuntimeError::OutOfFuel { .. }
            | RuntimeError::MemoryLimit { .. }
            | RuntimeError::StackOverflow
            | RuntimeError::Trap { .. }
            | RuntimeError::BadOutput { .. }
    )
}
