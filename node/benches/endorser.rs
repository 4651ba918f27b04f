//! Benchmarks of the endorser on the asset-transfer workload: `update`
//! proposals of 1,000 distinct pre-created assets, pre-signed by the
//! clients of two orgs, endorsed against a real sled ledger by the real
//! Wasm module — one proposal at a time, a batch of 1,000 on one thread,
//! and the same batch across 2 threads (rayon). Then the split of one
//! endorsement: authenticating the proposal (certificate cached, and the
//! full certificate check the cache saves), simulating the call against a
//! snapshot, and building + signing the response.
//!
//! `main` is written by hand: criterion's macros generate an undocumented
//! function that trips `missing_docs`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use criterion::{Criterion, Throughput};
use rayon::prelude::*;
use weft_abi::{Creator, Outcome, TxInfo, TxKind};
use weft_chaincode::sim::TxSimulator;
use weft_node::channel::ConfigHandle;
use weft_node::endorser::Endorser;
use weft_node::ledger::{BlockUpdates, LIFECYCLE_NAMESPACE, Ledger, StateWrite, TxUpdates};
use weft_node::runtime::{Runtime, RuntimeConfig};
use weft_tests::network::{GENESIS_MS, TestNetwork};
use weft_types::{
    Block, Bytes, ChaincodeId, Digest, ProposalResponse, ProposalResponsePayload, Response,
    SignedProposal, TrustStore, ValidationCode,
};

const CC: &str = "asset-transfer";
const ASSETS: usize = 1_000;
const THREADS: usize = 2;

struct Setup {
    net: TestNetwork,
    ledger: Arc<Ledger>,
    runtime: Arc<Runtime>,
    endorser: Endorser,
    proposals: Vec<SignedProposal>,
    _dir: tempfile::TempDir,
}

fn id(i: usize) -> String {
    format!("asset{i:04}")
}

/// Commits `block` as all valid with `writes` as the changes of its first
/// transaction.
fn commit(ledger: &Ledger, mut block: Block, writes: Vec<StateWrite>, modules: Vec<Vec<u8>>) {
    block.metadata.validation_flags = vec![ValidationCode::Valid; block.data.len()];
    let tx_id = block.data[0].decode().unwrap().header.tx_id;
    let updates = BlockUpdates {
        txs: vec![TxUpdates {
            writes,
            ..TxUpdates::new(tx_id, 0, GENESIS_MS)
        }],
        modules,
    };
    ledger.commit(&block, &updates).unwrap();
}

/// A ledger with asset-transfer defined and `ASSETS` assets committed, and
/// an `update` proposal for each, alternately by each org's client.
fn setup() -> Setup {
    let net = TestNetwork::new(&["Org1", "Org2"]);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(dir.path()).unwrap());
    let genesis = net.genesis();
    commit(&ledger, genesis.clone(), vec![], vec![]);

    let module = std::fs::read(weft_tests::build_wasm(CC)).unwrap();
    let def = net.definition(CC, 1, &module, None);
    let block = net.next_block(&genesis.header, vec![net.lifecycle(&def, &module)]);
    let header = block.header.clone();
    let definition = StateWrite {
        ns: LIFECYCLE_NAMESPACE.into(),
        key: CC.into(),
        value: Some(serde_json::to_vec(&def).unwrap()),
    };
    commit(&ledger, block, vec![definition], vec![module]);

    let assets = (0..ASSETS)
        .map(|i| StateWrite {
            ns: CC.into(),
            key: id(i),
            value: Some(
                format!(r#"{{"id":"{}","owner":"alice","value":100}}"#, id(i)).into_bytes(),
            ),
        })
        .collect();
    // The ledger only indexes the carrier envelope; the assets are its writes.
    let seeding = net.lifecycle(&def, &[]);
    commit(
        &ledger,
        net.next_block(&header, vec![seeding]),
        assets,
        vec![],
    );

    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let endorser = Endorser::new(
        Arc::clone(&ledger),
        Arc::clone(&runtime),
        net.peers[0].clone(),
        ConfigHandle::new(net.config.clone()),
    );
    let proposals = (0..ASSETS)
        .map(|i| {
            let client = &net.clients[i % 2];
            net.proposal(client, CC, "update", &[&id(i), "250"], &BTreeMap::new())
        })
        .collect();
    Setup {
        net,
        ledger,
        runtime,
        endorser,
        proposals,
        _dir: dir,
    }
}

fn endorse_all(s: &Setup, proposals: &[SignedProposal]) {
    let none = BTreeMap::new();
    for p in proposals {
        s.endorser.endorse(p, &none).unwrap();
    }
}

fn throughput(c: &mut Criterion, s: &Setup) {
    let none = BTreeMap::new();
    let mut g = c.benchmark_group("endorser");
    g.throughput(Throughput::Elements(1));
    let mut next = 0;
    g.bench_function("endorse update (1 thread, one proposal)", |b| {
        b.iter(|| {
            next = (next + 1) % ASSETS;
            s.endorser.endorse(&s.proposals[next], &none).unwrap()
        })
    });
    g.throughput(Throughput::Elements(ASSETS as u64));
    g.sample_size(20);
    g.bench_function("endorse 1000 updates (1 thread)", |b| {
        b.iter(|| endorse_all(s, &s.proposals))
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .stack_size(s.endorser.required_stack_bytes())
        .build()
        .unwrap();
    g.bench_function("endorse 1000 updates (2 threads)", |b| {
        b.iter(|| {
            pool.install(|| {
                s.proposals
                    .par_chunks(ASSETS / (THREADS * 8))
                    .for_each(|chunk| endorse_all(s, chunk))
            })
        })
    });
    g.finish();
}

fn tx_info(p: &SignedProposal) -> TxInfo {
    let proposal = p.decode().unwrap();
    let body = p.signer.decode().unwrap();
    TxInfo {
        tx_id: proposal.header.tx_id.to_string(),
        channel: proposal.header.channel,
        timestamp_ms: proposal.header.timestamp_ms,
        creator: Creator {
            org: body.org,
            name: body.name,
            role: body.role.as_str().into(),
            public_key: body.public_key.to_bytes(),
        },
        kind: TxKind::Transaction,
    }
}

/// One endorsement taken apart: the same steps the endorser runs, each alone.
fn split(c: &mut Criterion, s: &Setup) {
    let none = BTreeMap::new();
    let proposal = &s.proposals[0];
    let mut g = c.benchmark_group("endorser split");
    g.bench_function("verify: authenticate (certificate cached)", |b| {
        b.iter(|| s.endorser.authenticate(proposal, &none).unwrap())
    });
    g.bench_function(
        "verify: full certificate check (what the cache saves)",
        |b| {
            b.iter(|| {
                s.net
                    .config
                    .verify_certificate(&proposal.signer, 1)
                    .unwrap()
            })
        },
    );

    let hash = s.ledger.definition(CC).unwrap().unwrap().module_hash;
    s.runtime
        .prepare(&s.ledger.module(&hash).unwrap().unwrap())
        .unwrap();
    let info = tx_info(proposal);
    let args = proposal.decode().unwrap().args;
    let fuel = s.runtime.config().fuel_per_call;
    g.bench_function("simulate: snapshot + definition + Wasm update", |b| {
        b.iter(|| {
            let snapshot = Arc::new(s.ledger.snapshot());
            let def = snapshot.definition(CC).unwrap().unwrap();
            let sim = TxSimulator::new(Arc::clone(&snapshot), CC, info.clone());
            let done = s
                .runtime
                .simulate(&def.module_hash, sim, "update", &args, fuel)
                .unwrap();
            assert!(matches!(done.outcome, Outcome::Ok(_)));
            done
        })
    });

    let snapshot = Arc::new(s.ledger.snapshot());
    let sim = TxSimulator::new(Arc::clone(&snapshot), CC, info.clone());
    let done = s
        .runtime
        .simulate(&hash, sim, "update", &args, fuel)
        .unwrap();
    drop(snapshot);
    let Outcome::Ok(result) = done.outcome else {
        panic!("update failed")
    };
    let payload = ProposalResponsePayload {
        proposal_digest: proposal.payload_digest(),
        chaincode: ChaincodeId {
            name: CC.into(),
            version: "1.0".into(),
            sequence: 1,
        },
        response: Response {
            status: 200,
            message: String::new(),
            payload: Bytes(result),
        },
        rwset_digest: Digest::ZERO,
        event: done.result.event.clone(),
    };
    g.bench_function("sign: build response (JSON + sha3 + ed25519 sign)", |b| {
        b.iter(|| {
            ProposalResponse::build(payload.clone(), &done.result.rwset, Some(&s.net.peers[0]))
        })
    });
    g.finish();
}

fn main() {
    let s = setup();
    // Every proposal endorses before anything is measured.
    endorse_all(&s, &s.proposals);
    let mut c = Criterion::default().configure_from_args();
    throughput(&mut c, &s);
    split(&mut c, &s);
    c.final_summary();
}
