//! Benchmarks of the Wasm runtime: what every call pays before the guest
//! runs (a fresh store and instance), a trivial call end to end, and what
//! deploying a module costs once (validate, compile, link) — for a tiny
//! hand-written module and for the real asset-transfer chaincode, whose
//! `update` (one get, one put, JSON arguments) is the reference invocation.
//!
//! `main` is written by hand: criterion's macros generate an undocumented
//! function that trips `missing_docs`.
#![allow(clippy::unwrap_used)]

#[path = "../tests/runtime/support.rs"]
mod support;

use std::rc::Rc;

use criterion::Criterion;
use weft_abi::{Creator, TxInfo, TxKind};
use weft_chaincode::mock::MemoryLedger;
use weft_chaincode::sim::TxSimulator;
use weft_node::runtime::validate_module;

use support::{MapHost, call, config, fixture, runtime};

fn instantiate(c: &mut Criterion) {
    let rt = runtime();
    let hash = rt.prepare(&fixture("echo")).unwrap().hash;
    c.bench_function("instantiate echo (fresh store + instance)", |b| {
        b.iter(|| {
            let (host, _) = MapHost::new();
            rt.instantiate_only(&hash, host).unwrap();
        });
    });
}

fn invoke(c: &mut Criterion) {
    let rt = runtime();
    let hash = rt.prepare(&fixture("echo")).unwrap().hash;
    let invocation = call("echo");
    c.bench_function("invoke echo (put, get, return)", |b| {
        b.iter(|| {
            let (host, _) = MapHost::new();
            rt.invoke(&hash, host, &invocation, rt.config().fuel_per_call)
                .unwrap()
        });
    });
}

fn compile(c: &mut Criterion) {
    let rt = runtime();
    let bytes = fixture("echo");
    c.bench_function("validate echo", |b| {
        b.iter(|| validate_module(&bytes, &config()).unwrap());
    });
    c.bench_function("prepare echo (validate + compile + link)", |b| {
        b.iter(|| {
            let prepared = rt.prepare(&bytes).unwrap();
            rt.evict(&prepared.hash);
        });
    });
}

fn tx_info() -> TxInfo {
    TxInfo {
        tx_id: "00".repeat(32),
        channel: "weft".into(),
        timestamp_ms: 1_700_000_000_000,
        creator: Creator {
            org: "Bank".into(),
            name: "alice".into(),
            role: "client".into(),
            public_key: [7; 32],
        },
        kind: TxKind::Transaction,
    }
}

fn asset_transfer(c: &mut Criterion) {
    let rt = runtime();
    let bytes = std::fs::read(weft_tests::build_wasm("asset-transfer")).unwrap();
    let hash = rt.prepare(&bytes).unwrap().hash;
    let mut ledger = MemoryLedger::new();
    let asset = br#"{"id":"a1","owner":"alice","value":100}"#;
    ledger.seed("asset-transfer", &[("a1", Some(&asset[..]))]);
    let ledger = Rc::new(ledger);
    let args = vec!["a1".to_string(), "250".to_string()];
    let info = tx_info();

    c.bench_function(
        "asset-transfer update (get + put, JSON args) via runtime",
        |b| {
            b.iter(|| {
                let sim = TxSimulator::new(Rc::clone(&ledger), "asset-transfer", info.clone());
                let done = rt
                    .simulate(&hash, sim, "update", &args, rt.config().fuel_per_call)
                    .unwrap();
                assert!(matches!(done.outcome, weft_abi::Outcome::Ok(_)));
                done
            });
        },
    );
    c.bench_function(
        "asset-transfer update natively (same simulator, no Wasm)",
        |b| {
            b.iter(|| {
                let sim = TxSimulator::new(Rc::clone(&ledger), "asset-transfer", info.clone());
                let dispatch =
                    <asset_transfer::AssetTransfer as weft_chaincode::Contract>::dispatch;
                weft_chaincode::sim::simulate(sim, dispatch, "update", &args)
            });
        },
    );
    c.bench_function("asset-transfer instantiate only", |b| {
        b.iter(|| {
            let (host, _) = MapHost::new();
            rt.instantiate_only(&hash, host).unwrap();
        });
    });
    let mut group = c.benchmark_group("asset-transfer compile");
    group.sample_size(10);
    group.bench_function("prepare (validate + compile + link)", |b| {
        b.iter(|| {
            let prepared = rt.prepare(&bytes).unwrap();
            rt.evict(&prepared.hash);
        });
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    instantiate(&mut c);
    invoke(&mut c);
    compile(&mut c);
    asset_transfer(&mut c);
    c.final_summary();
}
