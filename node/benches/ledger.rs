//! Benchmarks of the ledger: committing a block of 500 transactions that
//! write 2 keys each (one atomic batch and one durable flush), and a point
//! read of a random key from 20,000.
//!
//! `main` is written by hand: criterion's macros generate an undocumented
//! function that trips `missing_docs`.
#![allow(clippy::unwrap_used)]

#[path = "../tests/ledger/support.rs"]
mod support;

use std::time::Duration;

use criterion::{BatchSize, Criterion};
use weft_node::ledger::{BlockUpdates, Ledger};
use weft_types::{Block, Digest, Envelope, TxId, ValidationCode};

use support::{commit_genesis, envelope, identity, tx_updates, write};

const TXS: usize = 500;
const KEY_SPACE: u64 = 100_000;

/// A tiny deterministic generator, so runs are comparable.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// The next block of `envelopes` (all valid) and its updates: fresh tx ids,
/// two 100-byte writes per transaction.
fn next(ledger: &Ledger, envelopes: &[Envelope], rng: &mut Lcg) -> (Block, BlockUpdates) {
    let number = ledger.height();
    let previous = ledger.block(number - 1).unwrap().unwrap().hash();
    let mut block = Block::new(number, previous, number, envelopes.to_vec());
    block.metadata.validation_flags = vec![ValidationCode::Valid; envelopes.len()];
    let value = [7u8; 100];
    let txs = (0..envelopes.len())
        .map(|i| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&number.to_be_bytes());
            id[8..16].copy_from_slice(&(i as u64).to_be_bytes());
            let writes = (0..2)
                .map(|_| {
                    let key = format!("key{:06}", rng.next() % KEY_SPACE);
                    write("bench", &key, Some(&value))
                })
                .collect();
            tx_updates(TxId(Digest(id)), i as u32, writes)
        })
        .collect();
    (
        block,
        BlockUpdates {
            txs,
            ..Default::default()
        },
    )
}

fn commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let id = identity();
    commit_genesis(&ledger, &id);
    let envelopes: Vec<Envelope> = (0..TXS).map(|_| envelope(&id).0).collect();
    let mut rng = Lcg(1);
    c.bench_function("commit 500 txs x 2 writes (batch + flush)", |b| {
        b.iter_batched(
            || next(&ledger, &envelopes, &mut rng),
            |(block, updates)| ledger.commit(&block, &updates).unwrap(),
            BatchSize::PerIteration,
        );
    });
}

fn get(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let id = identity();
    commit_genesis(&ledger, &id);
    let envelopes: Vec<Envelope> = (0..TXS).map(|_| envelope(&id).0).collect();
    let mut rng = Lcg(2);
    for _ in 0..20 {
        let (block, updates) = next(&ledger, &envelopes, &mut rng);
        ledger.commit(&block, &updates).unwrap();
    }
    let keys: Vec<String> = ledger
        .range("bench", "", "", usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(k, _, _)| k)
        .collect();
    let mut rng = Lcg(3);
    c.bench_function(&format!("get a random key of {}", keys.len()), |b| {
        b.iter(|| {
            let key = &keys[(rng.next() % keys.len() as u64) as usize];
            ledger.get("bench", key).unwrap().unwrap()
        });
    });
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    commit(&mut c);
    get(&mut c);
    c.final_summary();
}
