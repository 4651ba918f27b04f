//! The asset-transfer scenarios run natively through `MockContext`, plus
//! checks of what only a native run can see (events, rw-sets, state).
#![allow(clippy::unwrap_used)]

mod scenarios;

use asset_transfer::{Asset, AssetTransfer};
use scenarios::{Call, Kind, Reply, SCENARIOS};
use weft_chaincode::mock::MockContext;
use weft_chaincode::{Outcome, composite_key};

fn mock() -> MockContext {
    MockContext::new("asset-transfer").creator("Bank", "alice", "client")
}

#[test]
fn every_scenario_passes_natively() {
    for (name, scenario) in SCENARIOS {
        let mut ctx = mock();
        let mut run = |c: &Call<'_>| -> Reply {
            ctx.set_creator("Bank", c.caller, "client");
            let response = match c.kind {
                Kind::Tx => ctx.invoke::<AssetTransfer>(c.function, c.args),
                Kind::Query => ctx.query::<AssetTransfer>(c.function, c.args),
            };
            match response.outcome {
                Outcome::Ok(payload) => Ok(String::from_utf8(payload).unwrap()),
                Outcome::Err(message) => Err(message),
            }
        };
        eprintln!("scenario {name}");
        scenario(&mut run);
    }
}

#[test]
fn create_writes_the_asset_and_its_index_and_emits_an_event() {
    let mut ctx = mock();
    let r = ctx.invoke::<AssetTransfer>("create", &["a1", "alice", "100"]);
    assert!(r.is_ok(), "{:?}", r.error());
    let ns = r.rwset.namespace("asset-transfer").unwrap();
    let index = composite_key("owner~id", &["alice", "a1"]).unwrap();
    let written: Vec<&str> = ns.writes.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(written, vec![index.as_str(), "a1"], "in key order");
    assert_eq!(ns.reads.len(), 1, "the existence check");
    assert_eq!(ns.reads[0].version, None);
    let event = r.event.unwrap();
    assert_eq!(event.name, "AssetCreated");
    let asset: Asset = serde_json::from_slice(&event.payload).unwrap();
    assert_eq!(asset.owner, "alice");
    assert_eq!(ctx.state_json::<Asset>("a1").unwrap().value, 100);
    assert_eq!(ctx.state(&index), Some(vec![0]));
}

#[test]
fn transfer_moves_the_index_and_reads_the_committed_version() {
    let mut ctx = mock();
    ctx.invoke::<AssetTransfer>("create", &["a1", "alice", "100"]);
    let created = ctx.version("a1").unwrap();
    let r = ctx.invoke::<AssetTransfer>("transfer", &["a1", "bob"]);
    assert_eq!(r.json::<Asset>().unwrap().owner, "bob");
    let ns = r.rwset.namespace("asset-transfer").unwrap();
    assert_eq!(ns.reads[0].version, Some(created));
    assert_eq!(r.event.unwrap().name, "AssetTransferred");
    assert_eq!(
        ctx.state(&composite_key("owner~id", &["alice", "a1"]).unwrap()),
        None
    );
    assert!(
        ctx.state(&composite_key("owner~id", &["bob", "a1"]).unwrap())
            .is_some()
    );
    assert!(ctx.version("a1").unwrap() > created);
}

#[test]
fn failed_and_query_calls_commit_nothing() {
    let mut ctx = mock();
    let height = ctx.ledger().height();
    let r = ctx.invoke::<AssetTransfer>("update", &["missing", "1"]);
    assert_eq!(r.error(), Some("asset ID missing does not exist"));
    assert!(r.committed.is_none());
    ctx.invoke::<AssetTransfer>("create", &["a1", "alice", "1"]);
    let r = ctx.query::<AssetTransfer>("read", &["a1"]);
    assert!(r.is_ok() && r.committed.is_none());
    assert_eq!(ctx.ledger().height(), height + 1);
}

#[test]
fn the_contract_lists_its_functions() {
    use weft_chaincode::{Contract, TxKind};
    let listed: Vec<(&str, TxKind)> = AssetTransfer::transactions()
        .iter()
        .map(|t| (t.name, t.kind))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("create", TxKind::Transaction),
            ("read", TxKind::Query),
            ("exists", TxKind::Query),
            ("update", TxKind::Transaction),
            ("delete", TxKind::Transaction),
            ("transfer", TxKind::Transaction),
            ("list_by_owner", TxKind::Query),
            ("history", TxKind::Query),
        ]
    );
}
