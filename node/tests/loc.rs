//! The LoC chaincode run twice — natively through `MockContext` and as the
//! built `.wasm` through the node's runtime — over identical ledgers: every
//! reply, rw-set and event must be the same, so every path the scenarios
//! cover (oracle terms, unlock codes 1–3, replays, permissions) holds in Wasm.
#![allow(clippy::unwrap_used)]

#[path = "../../chaincode-examples/loc/tests/scenarios/mod.rs"]
mod scenarios;
mod twin;

use std::sync::OnceLock;

use loc::Loc;
use scenarios::{Call, Kind, Reply, SCENARIOS, Scenario};
use twin::{Step, Wasm, assert_same};
use weft_abi::TxKind;
use weft_chaincode::mock::MockContext;

fn wasm() -> &'static Wasm {
    static WASM: OnceLock<Wasm> = OnceLock::new();
    WASM.get_or_init(|| Wasm::build("loc"))
}

fn trace(scenario: Scenario, in_wasm: bool) -> Vec<Step> {
    let mut ctx = MockContext::new("loc").collection(loc::EVENTS_COLLECTION);
    let mut steps = Vec::new();
    let mut run = |c: &Call<'_>| -> Reply {
        ctx.set_creator(c.caller.org, c.caller.name, c.caller.role);
        ctx.set_public_key(c.caller.public_key());
        ctx.set_timestamp_ms(c.now_ms);
        ctx.replace_transient(c.transient.iter().map(|(k, v)| (*k, v.as_bytes())));
        let kind = match c.kind {
            Kind::Tx => TxKind::Transaction,
            Kind::Query => TxKind::Query,
        };
        let r = match (in_wasm, c.kind) {
            (true, _) => wasm().call(&mut ctx, kind, c.function, c.args),
            (false, Kind::Tx) => ctx.invoke::<Loc>(c.function, c.args),
            (false, Kind::Query) => ctx.query::<Loc>(c.function, c.args),
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
fn the_module_lists_its_transactions() {
    let info = wasm().runtime.module_info(&wasm().hash).unwrap();
    let listed: Vec<(&str, TxKind)> = info
        .transactions
        .iter()
        .map(|t| (t.name.as_str(), t.kind))
        .collect();
    let native: Vec<(&str, TxKind)> = <Loc as weft_chaincode::Contract>::transactions()
        .iter()
        .map(|t| (t.name, t.kind))
        .collect();
    assert_eq!(listed, native);
    assert!(listed.contains(&("unlock", TxKind::Transaction)));
    assert!(listed.contains(&("oracle", TxKind::Query)));
}
