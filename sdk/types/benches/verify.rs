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
    validation_batch(c);
}

/// A validator's batch: 32 transactions, each with the creator's envelope
/// signature and two peers' endorsements (the same two peers throughout),
/// by 32 clients and by one (the load generator of `weft bench` signs as
/// one identity). Timed from the signed digests, so a check's own hashing
/// counts.
fn validation_batch(c: &mut Criterion) {
    use weft_types::batch_verify::{SignatureCheck, verify_all};
    let peers = [SigningKey::generate(), SigningKey::generate()];
    let one_client = SigningKey::generate();
    for (name, clients) in [("32_clients", 32), ("1_client", 1)] {
        let keys: Vec<SigningKey> = (0..clients).map(|_| SigningKey::generate()).collect();
        let keys = if clients == 1 {
            vec![one_client.clone()]
        } else {
            keys
        };
        let signed: Vec<(PublicKey, Domain, Digest, Signature)> = (0..32u8)
            .flat_map(|i| {
                let client = &keys[usize::from(i) % keys.len()];
                let payload = sha3_256(&[i, 1]);
                let response = sha3_256(&[i, 2]);
                let mut tx = vec![(
                    client.public_key(),
                    Domain::Transaction,
                    payload,
                    client.sign(Domain::Transaction, &payload),
                )];
                for peer in &peers {
                    tx.push((
                        peer.public_key(),
                        Domain::Endorsement,
                        response,
                        peer.sign(Domain::Endorsement, &response),
                    ));
                }
                tx
            })
            .collect();
        c.bench_function(&format!("batch/verify_32_txs_3_sigs_{name}"), |b| {
            b.iter(|| {
                let checks: Vec<SignatureCheck<()>> = black_box(&signed)
                    .iter()
                    .map(|(key, domain, digest, sig)| {
                        SignatureCheck::new((), key, *domain, digest, sig)
                    })
                    .collect();
                assert!(verify_all(checks.iter()))
            })
        });
    }
}

// Written out because `criterion_group!` generates an undocumented public function.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
