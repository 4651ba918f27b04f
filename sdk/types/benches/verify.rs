//! Costs on the validator's hot path: verifying a signed proposal (certificate,
//! signature, parse), an envelope's digest, a block's data hash.

use std::hint::black_box;

use criterion::Criterion;
use weft_types::*;

fn fixture() -> (ChannelConfig, Identity, Identity) {
    let bank = OrgAuthority::new("Bank", SigningKey::from_seed(&[7; 32])).expect("valid org");
    let client = bank
        .enroll("client", Role::Client, 0, u64::MAX)
        .expect("valid member");
    let orderer = bank
        .enroll("orderer0", Role::Orderer, 0, u64::MAX)
        .expect("valid member");
    let config = ChannelConfig::new(
        "weft",
        vec![OrgInfo {
            name: "Bank".into(),
            root_key: bank.root_key(),
            peers: vec![],
        }],
        vec![OrdererInfo {
            id: 1,
            name: "orderer0".into(),
            org: "Bank".into(),
            api: "127.0.0.1:7050".into(),
            cluster: "127.0.0.1:7051".into(),
            public_key: orderer.body().public_key,
        }],
    );
    (config, client, orderer)
}

fn proposal(id: &Identity) -> SignedProposal {
    SignedProposal::sign(
        &Proposal {
            header: TxHeader::new("weft", id.certificate(), 1),
            chaincode: "asset-transfer".into(),
            function: "create".into(),
            args: vec!["asset1".into(), "alice".into(), "100".into()],
            transient_digest: None,
        },
        id,
    )
}

fn bench(c: &mut Criterion) {
    let (config, client, orderer) = fixture();
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
