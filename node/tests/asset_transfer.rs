//! asset-transfer run twice — natively through `MockContext` and as the
//! built `.wasm` through the node's runtime — over identical ledgers: every
//! reply, rw-set and event must be the same.
#![allow(clippy::unwrap_used)]

#[path = "../../chaincode-examples/asset-transfer/tests/scenarios/mod.rs"]
mod scenarios;
mod twin;

use std::sync::OnceLock;

use asset_transfer::AssetTransfer;
use scenarios::{Call, Kind, Reply, SCENARIOS, Scenario};
use twin::{Step, Wasm, assert_same};
use weft_abi::TxKind;
use weft_chaincode::mock::MockContext;

fn wasm() -> &'static Wasm {
    static WASM: OnceLock<Wasm> = OnceLock::new();
    WASM.get_or_init(|| Wasm::build("asset-transfer"))
}

fn trace(scenario: Scenario, in_wasm: bool) -> Vec<Step> {
    let mut ctx = MockContext::new("asset-transfer").creator("Bank", "alice", "client");
    let mut steps = Vec::new();
    let mut run = |c: &Call<'_>| -> Reply {
        ctx.set_creator("Bank", c.caller, "client");
        let kind = match c.kind {
            Kind::Tx => TxKind::Transaction,
            Kind::Query => TxKind::Query,
        };
        let r = match (in_wasm, c.kind) {
            (true, _) => wasm().call(&mut ctx, kind, c.function, c.args),
            (false, Kind::Tx) => ctx.invoke::<AssetTransfer>(c.function, c.args),
            (false, Kind::Query) => ctx.query::<AssetTransfer>(c.function, c.args),
        };
        let (step, reply) = Step::of(c.function, r);
        steps.push(step);
        reply
    };
    scenario(&mut run);
    steps
}

#[test]
fn every_scenario_is_identical_natively_and_in_wasm() {
    for (name, scenario) in SCENARIOS {
        assert_same(name, &trace(*scenario, false), &trace(*scenario, true));
    }
}

#[test]
fn fuel_use_is_deterministic() {
    let mut a = MockContext::new("asset-transfer").creator("Bank", "alice", "client");
    let w = wasm();
    let mut used = Vec::new();
    for _ in 0..3 {
        a.call_with(TxKind::Query, "exists", &["a1"], |sim, f, args| {
            let done = w
                .runtime
                .simulate(&w.hash, sim, f, args, 10_000_000)
                .unwrap();
            used.push(done.fuel_used);
            (done.outcome, done.result)
        });
    }
    assert!(used[0] > 0);
    assert!(used.iter().all(|u| *u == used[0]), "{used:?}");
}

#[test]
fn the_module_lists_its_transactions() {
    let info = wasm().runtime.module_info(&wasm().hash).unwrap();
    let names: Vec<&str> = info.transactions.iter().map(|t| t.name.as_str()).collect();
    for f in [
        "create",
        "read",
        "update",
        "delete",
        "transfer",
        "list_by_owner",
        "history",
    ] {
        assert!(names.contains(&f), "{f} missing from {names:?}");
    }
    let read = info.transactions.iter().find(|t| t.name == "read").unwrap();
    assert_eq!(read.kind, TxKind::Query);
}
