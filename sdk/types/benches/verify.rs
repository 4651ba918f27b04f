//! Costs on the validator's hot path: verifying a signed proposal (certificate,
//! signature, parse), an envelope's digest, a block's data hash.

use std::hint::black_box;

use criterion::Criterion;
use weft_types::*;

#[path = "../tests/support/mod.rs"]
mod support;
use support::{net, proposal};

fn bench(c: &mut Criterion) {
    let support::Net {
        config,
        client,
        orderer,
        ..
    } = net();
    let signed = proposal(&client);
    let json = serde_json::to_vec(&signed).expect("serializes");

    c.bench_function("proposal/sign", |b| b.iter(|| proposal(black_box(&client))));
    c.bench_function("proposal/decode_json", |b| {
        b.iter(|| serde_json::from_slice::<SignedProposal>(black_box(&json)).expect("decodes"))
    });
    c.bench_function("proposal/verify", |b| {
        b.iter(|| black_box(&signed).verify(&config, 1).expect("verifies"))
    });

    let envelopes: Vec<Envelope> = (0..100)
        .map(|i| {
            let tx = Transaction {
                header: TxHeader::new("weft", client.certificate(), i),
                body: TxBody::Config(ConfigTransaction::new(&config)),
            };
            Envelope::sign(&tx, &client)
        })
        .collect();
    c.bench_function("block/data_hash_100_envelopes", |b| {
        b.iter(|| data_hash(black_box(&envelopes)))
    });
    let mut block = Block::new(1, Digest::ZERO, 1_000, envelopes);
    block.sign(&orderer);
    c.bench_function("block/verify_100_envelopes", |b| {
        b.iter(|| black_box(&block).verify(&config).expect("verifies"))
    });
}

// Written out because `criterion_group!` generates an undocumented public function.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
