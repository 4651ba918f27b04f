//! Validate + commit through the [`Committer`] on a real sled ledger:
//! blocks of 500 asset-transfer `update` transactions (the chaincode's own
//! rw-sets and events: each reads its asset at the version the previous
//! block wrote and writes it back; signed by a client, endorsed by the
//! peers of both orgs under MAJORITY), orderer-signed and chained. Then the split: stage 1 (signatures,
//! certificates, policies), stage 2 (MVCC), and the ledger's batch + flush.
//! Criterion's macros are not used: they generate an undocumented
//! function, which the workspace lints refuse.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asset_transfer::AssetTransfer;
use criterion::{BatchSize, Criterion, Throughput};
use weft_abi::{self as abi, Outcome, TxInfo, TxKind};
use weft_chaincode::Contract;
use weft_chaincode::sim::{self, TxSimulator};
use weft_node::committer::{CommitSite, Committer, block_updates};
use weft_node::ledger::Ledger;
use weft_node::runtime::{Runtime, RuntimeConfig};
use weft_node::validator::{StaticModuleCheck, check_mvcc, check_transactions, validate_block};
use weft_tests::network::TestNetwork;
use weft_types::{Block, ChaincodeDefinition, ChaincodeEvent, Identity, RwSet};

const TXS: usize = 500;
/// Blocks of transfers timed per sample.
const TIMED: usize = 6;
const CC: &str = "asset-transfer";

struct Chain {
    net: TestNetwork,
    /// Block 1 deploys the chaincode, block 2 creates the assets, blocks 3..
    /// update them.
    blocks: Vec<Block>,
}

/// Runs `function(args)` of asset-transfer natively on a simulator over
/// `ledger`'s committed state: the rw-set and event the Wasm module would
/// produce (node/tests/asset_transfer.rs checks they are identical).
fn simulate(
    ledger: &Ledger,
    creator: &Identity,
    function: &str,
    args: &[String],
) -> (RwSet, Option<ChaincodeEvent>) {
    let body = creator.body();
    let info = TxInfo {
        tx_id: "bench".into(),
        channel: "weft".into(),
        timestamp_ms: 0,
        creator: abi::Creator {
            org: body.org.clone(),
            name: body.name.clone(),
            role: body.role.to_string(),
            public_key: body.public_key.to_bytes(),
        },
        kind: TxKind::Transaction,
    };
    let sim = TxSimulator::new(ledger.snapshot(), CC, info);
    let (outcome, result) = sim::simulate(sim, AssetTransfer::dispatch, function, args);
    assert!(matches!(outcome, Outcome::Ok(_)), "{function}: {outcome:?}");
    (result.rwset, result.event)
}

/// Blocks of real asset-transfer transactions: each simulated against the
/// state the blocks before it leave, committed by a reference peer.
fn chain() -> Chain {
    let net = TestNetwork::new(&["Org1", "Org2"]);
    let module = wat::parse_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/echo.wat"
    ))
    .expect("fixture");
    let def: ChaincodeDefinition = net.definition(CC, 1, &module, None);
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(Ledger::open(dir.path()).expect("ledger"));
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"));
    let reference =
        Committer::open(ledger.clone(), runtime, &net.genesis(), "Org1").expect("genesis");
    let mut blocks =
        vec![net.next_block(&net.genesis().header, vec![net.lifecycle(&def, &module)])];
    reference.commit(blocks[0].clone()).expect("deploy");
    for n in 2..(3 + TIMED) as u64 {
        let envelopes = (0..TXS)
            .map(|i| {
                let client = &net.clients[i % 2];
                let id = format!("asset{i:04}");
                let args = if n == 2 {
                    ("create", vec![id, client.name().to_string(), "100".into()])
                } else {
                    ("update", vec![id, (100 + n).to_string()])
                };
                let (rwset, event) = simulate(&ledger, client, args.0, &args.1);
                net.endorsed(client, &def, &rwset, event)
            })
            .collect();
        let previous = blocks.last().expect("block 1").header.clone();
        let block = net.next_block(&previous, envelopes);
        let event = reference.commit(block.clone()).expect("reference commit");
        assert_eq!(event.valid().count(), TXS);
        blocks.push(block);
    }
    Chain { net, blocks }
}

/// A fresh peer with blocks 1 and 2 committed (chaincode and assets).
fn fresh(chain: &Chain) -> (tempfile::TempDir, Committer) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(Ledger::open(dir.path()).expect("ledger"));
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"));
    let committer =
        Committer::open(ledger, runtime, &chain.net.genesis(), "Org1").expect("genesis");
    for block in &chain.blocks[..2] {
        committer.commit(block.clone()).expect("setup block");
    }
    (dir, committer)
}

fn committer(c: &mut Criterion, chain: &Chain) {
    let mut group = c.benchmark_group("committer");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(TXS as u64));
    group.bench_function("validate+commit 500 updates, pipelined", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (_dir, committer) = fresh(chain);
                let start = Instant::now();
                let (events, error) = committer.commit_all(chain.blocks[2..].iter().cloned());
                assert!(error.is_none() && events.len() == TIMED);
                total += start.elapsed() / TIMED as u32;
                assert!(events.iter().all(|e| e.valid().count() == TXS));
            }
            total
        })
    });
    group.bench_function("validate+commit 500 updates, one by one", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (_dir, committer) = fresh(chain);
                let start = Instant::now();
                for block in &chain.blocks[2..] {
                    let event = committer.commit(block.clone()).expect("commit");
                    assert_eq!(event.valid().count(), TXS);
                }
                total += start.elapsed() / TIMED as u32;
            }
            total
        })
    });
    group.finish();
}

fn split(c: &mut Criterion, chain: &Chain) {
    let (_dir, committer) = fresh(chain);
    let config = committer.config().current();
    let block = &chain.blocks[2];
    let mut group = c.benchmark_group("committer split");
    group.sample_size(20);
    group.throughput(Throughput::Elements(TXS as u64));
    group.bench_function("stage 1 (signatures, policies)", |b| {
        b.iter(|| {
            let snapshot = committer.ledger().snapshot();
            check_transactions(
                &config,
                &snapshot,
                &StaticModuleCheck::default(),
                None,
                block,
            )
            .expect("stage 1")
        })
    });
    group.bench_function("stage 2 (MVCC over sled)", |b| {
        let snapshot = committer.ledger().snapshot();
        let checks = check_transactions(
            &config,
            &snapshot,
            &StaticModuleCheck::default(),
            None,
            block,
        )
        .expect("stage 1");
        b.iter_batched(
            || checks.clone(),
            |checks| check_mvcc(&snapshot, block.number(), checks).expect("stage 2"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("ledger commit (batch + flush)", |b| {
        b.iter_batched(
            || {
                let (dir, committer) = fresh(chain);
                let validation = {
                    let snapshot = committer.ledger().snapshot();
                    validate_block(&config, &snapshot, block).expect("validate")
                };
                let site = CommitSite {
                    ledger: committer.ledger(),
                    org: "Org1",
                    block: block.number(),
                };
                let updates = block_updates(&validation, site).expect("updates");
                let mut flagged = block.clone();
                flagged.metadata.validation_flags = validation.codes;
                (dir, committer, flagged, updates)
            },
            |(_dir, committer, flagged, updates)| {
                committer
                    .ledger()
                    .commit(&flagged, &updates)
                    .expect("commit")
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn main() {
    let chain = chain();
    let mut c = Criterion::default().configure_from_args();
    committer(&mut c, &chain);
    split(&mut c, &chain);
    c.final_summary();
}
