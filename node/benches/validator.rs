//! Validation of a block of 500 asset-transfer-like transactions (each a
//! read and a write of its own asset, signed by a client and endorsed by the
//! peers of both orgs under the default `MAJORITY` policy), against an
//! in-memory state: the whole of `validate_block`, then stage 1 and stage 2
//! alone. Criterion's macros are not used: they generate an undocumented
//! function, which the workspace lints refuse.

use criterion::{BatchSize, Criterion, Throughput};
use weft_node::validator::{
    MemoryState, StaticModuleCheck, check_mvcc, check_transactions, validate_block,
};
use weft_types::{
    Block, Bytes, ChaincodeDefinition, ChaincodeId, ChannelConfig, Digest, EndorsedTransaction,
    Envelope, Identity, KvRead, KvWrite, NsRwSet, OrgAuthority, OrgInfo, Proposal,
    ProposalResponse, ProposalResponsePayload, Response, Role, RwSet, SignedProposal, SigningKey,
    Transaction, TxBody, TxHeader, Version,
};

const TXS: usize = 500;
const CC: &str = "asset-transfer";
const NOW_MS: u64 = 1_700_000_000_000;

fn setup() -> (ChannelConfig, MemoryState, Block) {
    let orgs: Vec<OrgAuthority> = ["Org1", "Org2"]
        .iter()
        .map(|n| OrgAuthority::new(n, SigningKey::generate()).expect("org name"))
        .collect();
    let enroll = |o: &OrgAuthority, name, role| o.enroll(name, role, 0, u64::MAX).expect("enroll");
    let clients: Vec<Identity> = orgs
        .iter()
        .map(|o| enroll(o, "client", Role::Client))
        .collect();
    let peers: Vec<Identity> = orgs
        .iter()
        .map(|o| enroll(o, "peer0", Role::Peer))
        .collect();
    let infos = orgs
        .iter()
        .map(|o| OrgInfo {
            name: o.org().into(),
            root_key: o.root_key(),
            peers: vec![],
        })
        .collect();
    let config = ChannelConfig::new("weft", infos, vec![]);
    let mut state = MemoryState::new();
    state.definitions.insert(
        CC.into(),
        ChaincodeDefinition {
            channel: "weft".into(),
            name: CC.into(),
            version: "1.0".into(),
            sequence: 1,
            module_hash: Digest::ZERO,
            endorsement_policy: None,
            collections: vec![],
        },
    );
    let mut envelopes = Vec::with_capacity(TXS);
    for i in 0..TXS {
        let key = format!("asset{i:04}");
        let version = Version {
            block: 1,
            tx: i as u32,
        };
        state.put(CC, &key, br#"{"owner":"alice","value":100}"#, version);
        let rwset = RwSet {
            namespaces: vec![NsRwSet {
                namespace: CC.into(),
                reads: vec![KvRead {
                    key: key.clone(),
                    version: Some(version),
                }],
                writes: vec![KvWrite {
                    key,
                    value: Some(Bytes::from(r#"{"owner":"bob","value":100}"#)),
                }],
                ..Default::default()
            }],
        };
        envelopes.push(invoke(&clients[i % 2], &peers, &rwset));
    }
    (
        config,
        state,
        Block::new(2, Digest::ZERO, NOW_MS, envelopes),
    )
}

fn invoke(client: &Identity, peers: &[Identity], rwset: &RwSet) -> Envelope {
    let header = TxHeader::new("weft", client.certificate(), NOW_MS);
    let proposal = SignedProposal::sign(
        &Proposal {
            header: header.clone(),
            chaincode: CC.into(),
            function: "transfer".into(),
            args: vec!["asset".into(), "bob".into()],
            transient_digest: None,
        },
        client,
    );
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
            payload: Bytes::default(),
        },
        rwset_digest: Digest::ZERO,
        event: None,
    };
    let responses = peers
        .iter()
        .map(|p| ProposalResponse::build(payload.clone(), rwset, Some(p)))
        .collect();
    let tx = Transaction {
        header,
        body: TxBody::Invoke(
            EndorsedTransaction::assemble(proposal, responses).expect("endorsers agree"),
        ),
    };
    Envelope::sign(&tx, client)
}

fn bench(c: &mut Criterion) {
    let (config, state, block) = setup();
    let Ok(verdict) = validate_block(&config, &state, &block);
    assert!(
        verdict.codes.iter().all(|c| c.is_valid()),
        "{:?}",
        verdict.details
    );
    let Ok(checks) =
        check_transactions(&config, &state, &StaticModuleCheck::default(), None, &block);

    let mut g = c.benchmark_group("validator");
    g.throughput(Throughput::Elements(TXS as u64));
    g.sample_size(20);
    g.bench_function("validate_block_500", |b| {
        b.iter(|| validate_block(&config, &state, &block))
    });
    g.bench_function("stage1_500", |b| {
        b.iter(|| check_transactions(&config, &state, &StaticModuleCheck::default(), None, &block))
    });
    g.bench_function("mvcc_500", |b| {
        b.iter_batched(
            || checks.clone(),
            |checks| check_mvcc(&state, block.number(), checks),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
