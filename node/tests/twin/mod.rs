//! Running a reference chaincode twice — natively through `MockContext` and
//! as its built `.wasm` through the node's runtime — so that a test can
//! require both to give the same replies, rw-sets and events.
#![allow(dead_code)] // each test file uses part of it

use weft_abi::{Outcome, TxKind};
use weft_chaincode::mock::{MockContext, MockResponse};
use weft_node::runtime::{Runtime, RuntimeConfig};
use weft_node::types::{ChaincodeEvent, CollectionData, Digest, RwSet};

/// A chaincode package built for Wasm and prepared by a runtime.
pub(crate) struct Wasm {
    pub(crate) runtime: Runtime,
    pub(crate) hash: Digest,
}

impl Wasm {
    /// Builds `package` for wasm32 and prepares it.
    pub(crate) fn build(package: &str) -> Wasm {
        let bytes = std::fs::read(weft_tests::build_wasm(package)).unwrap();
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let hash = runtime.prepare(&bytes).unwrap().hash;
        Wasm { runtime, hash }
    }

    /// One call of the module over `ctx`'s ledger, with the default fuel.
    pub(crate) fn call(
        &self,
        ctx: &mut MockContext,
        kind: TxKind,
        function: &str,
        args: &[&str],
    ) -> MockResponse {
        ctx.call_with(kind, function, args, |sim, function, args| {
            let fuel = self.runtime.config().fuel_per_call;
            let done = self
                .runtime
                .simulate(&self.hash, sim, function, args, fuel)
                .unwrap();
            (done.outcome, done.result)
        })
    }
}

/// What one call did, as compared between the two runs.
#[derive(Debug, PartialEq)]
pub(crate) struct Step {
    pub(crate) function: String,
    pub(crate) outcome: Outcome,
    pub(crate) rwset: RwSet,
    pub(crate) event: Option<ChaincodeEvent>,
    pub(crate) private_writes: Vec<CollectionData>,
}

impl Step {
    /// The step `response` records, and the reply a scenario sees.
    pub(crate) fn of(function: &str, response: MockResponse) -> (Step, Result<String, String>) {
        let reply = match &response.outcome {
            Outcome::Ok(payload) => Ok(String::from_utf8(payload.clone()).unwrap()),
            Outcome::Err(message) => Err(message.clone()),
        };
        let step = Step {
            function: function.to_string(),
            outcome: response.outcome,
            rwset: response.rwset,
            event: response.event,
            private_writes: response.private_writes,
        };
        (step, reply)
    }
}

/// Requires the native and the Wasm traces of scenario `name` to be equal.
pub(crate) fn assert_same(name: &str, native: &[Step], in_wasm: &[Step]) {
    assert!(!native.is_empty(), "scenario {name} made no call");
    assert_eq!(native.len(), in_wasm.len(), "scenario {name}");
    for (i, (n, w)) in native.iter().zip(in_wasm).enumerate() {
        assert_eq!(n, w, "scenario {name}, call {i} ({})", n.function);
    }
}
