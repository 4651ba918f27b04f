#![allow(clippy::unwrap_used)]
//! The endorser against a real sled ledger and the real asset-transfer Wasm:
//! endorsements that validate and commit, chaincode errors, every refusal
//! of a bad proposal, runaway chaincode, the certificate cache,
//! chaincode-to-chaincode calls, and simulations racing commits.
//!
//! Blocks reach the ledger through [`Fixture::commit`], which validates them
//! with the real validator over a snapshot and applies the valid writes, as
//! the committer will.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use weft_node::abi::InvokeResponse;
use weft_node::channel::ConfigHandle;
use weft_node::committer::{CommitSite, block_updates};
use weft_node::endorser::{EndorseError, Endorser, MAX_INVOKE_DEPTH};
use weft_node::ledger::{BlockUpdates, LIFECYCLE_NAMESPACE, Ledger, StateWrite, TxUpdates};
use weft_node::runtime::{Runtime, RuntimeConfig, RuntimeError};
use weft_node::validator::{
    BlockValidation, StaticModuleCheck, ValidationMemory, VerifiedHere, check_mvcc,
    check_transactions, validate_block,
};
use weft_tests::network::{CHANNEL, GENESIS_MS, TestNetwork};
use weft_types::{
    Block, BlockHeader, Bytes, CertificateError, ChaincodeId, Domain, Envelope, Identity,
    OrgAuthority, Proposal, ProposalResponse, ProposalResponsePayload, Role, SignedProposal,
    SigningKey, TxBody, TxHeader, TxId, ValidationCode, sha3_256, transient_digest,
};

const CC: &str = "asset-transfer";
/// Fuel per call in these tests: plenty for asset-transfer, and a runaway
/// call stops within a few milliseconds.
const FUEL: u64 = 20_000_000;

type Transient = BTreeMap<String, Bytes>;

fn none() -> Transient {
    Transient::new()
}

fn asset_transfer() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| std::fs::read(weft_tests::build_wasm(CC)).unwrap())
}

fn fixture_wat(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    wat::parse_file(path).unwrap()
}

/// A chaincode that forwards its invocation, unchanged, to `target` and
/// returns `Ok` with the callee's encoded `InvokeResponse`, or `Err` with
/// the message when `invoke_chaincode` itself fails.
fn proxy(target: &str) -> Vec<u8> {
    let wat = format!(
        r#"(module
  (import "weft" "invoke_chaincode" (func $invoke (param i32 i32 i32 i32) (result i64)))
  (import "weft" "take_result" (func $take_result (param i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 1024) "{target}")
  (func $alloc (export "weft_alloc") (param $len i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $len)) (i32.const 7)) (i32.const -8)))
    (block $ok
      (br_if $ok (i32.le_u (global.get $heap) (i32.shl (memory.size) (i32.const 16))))
      (br_if $ok (i32.ne (i32.const -1) (memory.grow (i32.add (i32.const 1)
        (i32.shr_u (i32.sub (global.get $heap) (i32.shl (memory.size) (i32.const 16))) (i32.const 16))))))
      unreachable)
    (local.get $ptr))
  (func (export "weft_invoke") (param $ptr i32) (param $len i32) (result i64)
    (local $ret i64) (local $rlen i32) (local $out i32)
    (local.set $ret (call $invoke (i32.const 1024) (i32.const {len}) (local.get $ptr) (local.get $len)))
    (local.set $rlen (i32.wrap_i64 (local.get $ret)))
    (local.set $out (call $alloc (i32.add (local.get $rlen) (i32.const 5))))
    (i32.store8 (local.get $out) (i64.ne (i64.shr_u (local.get $ret) (i64.const 32)) (i64.const 0)))
    (i32.store (i32.add (local.get $out) (i32.const 1)) (local.get $rlen))
    (call $take_result (i32.add (local.get $out) (i32.const 5)))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.extend_i32_u (i32.add (local.get $rlen) (i32.const 5)))))
  (@custom "weft_abi" "\01\00\00\00"))"#,
        len = target.len()
    );
    wat::parse_str(wat).unwrap()
}

/// A two-org channel, its ledgers (one per org's peer, or one shared) with
/// the genesis block committed, and an endorser for each org's peer.
struct Fixture {
    net: TestNetwork,
    config: ConfigHandle,
    ledgers: Vec<Arc<Ledger>>,
    endorsers: Vec<Endorser>,
    runtime: Arc<Runtime>,
    /// The header of the last block committed.
    last: Mutex<BlockHeader>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Fixture {
    /// Both endorsers on one ledger, asset-transfer deployed.
    fn new() -> Fixture {
        let f = Fixture::with_ledgers(1);
        f.deploy(CC, asset_transfer());
        f
    }

    fn with_ledgers(count: usize) -> Fixture {
        let net = TestNetwork::new(&["Org1", "Org2"]);
        let config = ConfigHandle::new(net.config.clone());
        let dirs: Vec<_> = (0..count).map(|_| tempfile::tempdir().unwrap()).collect();
        let ledgers: Vec<_> = dirs
            .iter()
            .map(|d| Arc::new(Ledger::open(d.path()).unwrap()))
            .collect();
        let runtime = Arc::new(
            Runtime::new(RuntimeConfig {
                fuel_per_call: FUEL,
                max_instances: 16,
                ..RuntimeConfig::default()
            })
            .unwrap(),
        );
        let endorsers = net
            .peers
            .iter()
            .enumerate()
            .map(|(i, peer)| {
                let ledger = Arc::clone(&ledgers[i % count]);
                Endorser::new(ledger, Arc::clone(&runtime), peer.clone(), config.clone())
            })
            .collect();
        let genesis = net.genesis();
        let f = Fixture {
            last: Mutex::new(genesis.header.clone()),
            net,
            config,
            ledgers,
            endorsers,
            runtime,
            _dirs: dirs,
        };
        for ledger in &f.ledgers {
            let verdict = commit_validated(&f.net, ledger, genesis.clone());
            assert_eq!(verdict.codes, vec![ValidationCode::Valid]);
        }
        f
    }

    /// Orders `envelopes` into the next block and commits it to every
    /// ledger; returns the verdict (the same on every ledger).
    fn commit(&self, envelopes: Vec<Envelope>) -> BlockValidation {
        let mut last = self.last.lock().unwrap();
        let block = self.net.next_block(&last, envelopes);
        *last = block.header.clone();
        let verdicts: Vec<_> = self
            .ledgers
            .iter()
            .map(|l| commit_validated(&self.net, l, block.clone()))
            .collect();
        for v in &verdicts {
            assert_eq!(v.codes, verdicts[0].codes, "{:?}", v.details);
        }
        let hashes: Vec<_> = self.ledgers.iter().map(|l| l.commit_hash()).collect();
        assert!(hashes.windows(2).all(|w| w[0] == w[1]), "peers diverged");
        verdicts.into_iter().next().unwrap()
    }

    fn deploy(&self, name: &str, module: &[u8]) {
        let def = self.net.definition(name, 1, module, None);
        let verdict = self.commit(vec![self.net.lifecycle(&def, module)]);
        assert_eq!(
            verdict.codes,
            vec![ValidationCode::Valid],
            "{:?}",
            verdict.details
        );
    }

    fn client(&self) -> &Identity {
        &self.net.clients[0]
    }

    fn proposal(&self, cc: &str, function: &str, args: &[&str]) -> SignedProposal {
        self.net
            .proposal(self.client(), cc, function, args, &none())
    }

    /// Endorses `proposal` by both orgs' peers, submits and commits it.
    fn invoke(&self, proposal: SignedProposal) -> ValidationCode {
        let responses = self
            .endorsers
            .iter()
            .map(|e| e.endorse(&proposal, &none()).unwrap())
            .collect();
        let creator = self.net.clients[0].clone();
        let envelope = self.net.submit(&creator, proposal, responses);
        let verdict = self.commit(vec![envelope]);
        assert_eq!(verdict.codes.len(), 1);
        verdict.codes[0]
    }

    fn create(&self, id: &str, owner: &str) {
        let p = self.proposal(CC, "create", &[id, owner, "100"]);
        assert_eq!(self.invoke(p), ValidationCode::Valid);
    }

    /// `evaluate` by the first endorser: the payload.
    fn query(&self, cc: &str, function: &str, args: &[&str]) -> Result<Vec<u8>, EndorseError> {
        let response = self.endorsers[0].evaluate(&self.proposal(cc, function, args), &none())?;
        assert_eq!(response.status, 200);
        Ok(response.payload.0)
    }

    /// Another endorser for the first org's peer on the first ledger.
    fn endorser(&self) -> Endorser {
        Endorser::new(
            Arc::clone(&self.ledgers[0]),
            Arc::clone(&self.runtime),
            self.net.peers[0].clone(),
            self.config.clone(),
        )
    }
}

/// Validates `block` over a snapshot of `ledger`, sets its flags and
/// commits the valid transactions' writes (definitions, modules and the
/// configuration included).
fn commit_validated(net: &TestNetwork, ledger: &Ledger, mut block: Block) -> BlockValidation {
    let verdict = validate_block(&net.config, &ledger.snapshot(), &block).unwrap();
    block.metadata.validation_flags = verdict.codes.clone();
    let site = CommitSite {
        ledger,
        org: "Org1",
        block: block.number(),
    };
    let updates = block_updates(&verdict, site).unwrap();
    ledger.commit(&block, &updates).unwrap();
    verdict
}

fn payload_of(response: &ProposalResponse) -> ProposalResponsePayload {
    serde_json::from_slice(&response.payload).unwrap()
}

#[test]
fn two_orgs_endorsements_commit_as_valid_and_the_asset_reads_back() {
    let f = Fixture::with_ledgers(2);
    f.deploy(CC, asset_transfer());
    let proposal = f.proposal(CC, "create", &["asset1", "alice", "100"]);
    let responses: Vec<_> = f
        .endorsers
        .iter()
        .map(|e| e.endorse(&proposal, &none()).unwrap())
        .collect();

    // Two peers over two ledgers produce byte-identical answers, each signed by its peer.
    assert_eq!(responses[0].payload, responses[1].payload);
    assert_eq!(responses[0].rwset, responses[1].rwset);
    for (response, peer) in responses.iter().zip(&f.net.peers) {
        let e = response.endorsement.as_ref().unwrap();
        assert_eq!(&e.endorser, peer.certificate());
        e.verify_signature(Domain::Endorsement, &sha3_256(&response.payload))
            .unwrap();
    }
    let payload = payload_of(&responses[0]);
    assert_eq!(payload.proposal_digest, proposal.payload_digest());
    let expected = ChaincodeId {
        name: CC.into(),
        version: "1.0".into(),
        sequence: 1,
    };
    assert_eq!(payload.chaincode, expected);
    assert_eq!(payload.response.status, 200);
    assert_eq!(payload.rwset_digest, sha3_256(&responses[0].rwset));
    assert_eq!(payload.event.unwrap().name, "AssetCreated");

    // Nothing is written until the transaction commits.
    let missing = f.query(CC, "read", &["asset1"]).unwrap_err();
    assert!(
        matches!(missing, EndorseError::Chaincode { .. }),
        "{missing}"
    );

    let creator = f.client().clone();
    let envelope = f.net.submit(&creator, proposal, responses);
    let verdict = f.commit(vec![envelope]);
    assert_eq!(
        verdict.codes,
        vec![ValidationCode::Valid],
        "{:?}",
        verdict.details
    );
    for e in &f.endorsers {
        let read = e
            .evaluate(&f.proposal(CC, "read", &["asset1"]), &none())
            .unwrap();
        let asset: serde_json::Value = serde_json::from_slice(&read.payload).unwrap();
        assert_eq!(
            asset,
            serde_json::json!({"id": "asset1", "owner": "alice", "value": 100})
        );
    }
}

#[test]
fn a_chaincode_error_is_returned_with_its_message_and_nothing_is_signed() {
    let f = Fixture::new();
    f.create("asset1", "alice");
    let again = f.proposal(CC, "create", &["asset1", "bob", "5"]);
    let err = f.endorsers[0].endorse(&again, &none()).unwrap_err();
    match &err {
        EndorseError::Chaincode { chaincode, message } => {
            assert_eq!(chaincode, CC);
            assert_eq!(message, "asset ID asset1 already exists");
        }
        other => panic!("expected a chaincode error, got {other}"),
    }
    assert_eq!(err.status(), 400);

    let err = f.query(CC, "read", &["nope"]).unwrap_err();
    assert!(
        matches!(&err, EndorseError::Chaincode { message, .. } if message == "asset ID nope does not exist"),
        "{err}"
    );
}

#[test]
fn evaluate_runs_read_only() {
    let f = Fixture::new();
    let err = f
        .query(CC, "create", &["asset9", "alice", "1"])
        .unwrap_err();
    assert!(matches!(err, EndorseError::Chaincode { .. }), "{err}");
    assert!(err.to_string().contains("not allowed"), "{err}");
}

/// A proposal built by hand: `edit` changes it before `signer` signs it.
fn signed_by(signer: &Identity, edit: impl FnOnce(&mut Proposal)) -> SignedProposal {
    let mut proposal = Proposal {
        header: TxHeader::new(CHANNEL, signer.certificate(), GENESIS_MS),
        chaincode: CC.into(),
        function: "read".into(),
        args: vec!["asset1".into()],
        transient_digest: None,
    };
    edit(&mut proposal);
    SignedProposal::sign(&proposal, signer)
}

/// The variant of an error as `Debug` prints it, up to its first field:
/// `Malformed`, `Creator::Expired`, ….
fn variant(e: &EndorseError) -> String {
    let debug = format!("{e:?}");
    let end = debug
        .find(|c: char| !(c.is_alphanumeric() || c == '('))
        .unwrap_or(debug.len());
    debug[..end].replace('(', "::")
}

/// Checks that both `endorse` and `evaluate` refuse `proposal` with
/// `variant`, HTTP `status` and a message containing `words`.
fn check_refused(f: &Fixture, case: &Refusal) {
    let (what, proposal, transient, status, words, expected) = case;
    let endorser = &f.endorsers[0];
    let errors = [
        endorser.endorse(proposal, transient).map(drop),
        endorser.evaluate(proposal, transient).map(drop),
    ];
    for err in errors {
        let err = err.expect_err(what);
        assert_eq!(&variant(&err), expected, "{what}: {err}");
        assert_eq!(err.status(), *status, "{what}: {err}");
        assert!(err.to_string().contains(words), "{what}: {err}");
    }
}

/// What is wrong, the proposal, the transient map sent, the status, words
/// of the message, the error variant.
type Refusal = (
    &'static str,
    SignedProposal,
    Transient,
    u16,
    String,
    &'static str,
);

#[test]
fn bad_proposals_are_refused_with_their_reason() {
    let f = Fixture::new();
    let client = f.client().clone();
    let good = f.proposal(CC, "read", &["asset1"]);
    let enroll = |org: &OrgAuthority, from, to| {
        let member = org.enroll("member", Role::Client, from, to).unwrap();
        signed_by(&member, |_| {})
    };

    let mut garbage = good.clone();
    garbage.payload.0[0] ^= 0xff;
    let text = String::from_utf8(good.payload.0.clone()).unwrap();
    let mut altered = good.clone();
    altered.payload = Bytes(text.replace("asset1", "asset2").into_bytes());
    let forged = SignedProposal::from_parts(
        good.payload.0.clone(),
        SigningKey::generate().sign(Domain::Proposal, &good.payload_digest()),
        client.certificate().clone(),
    );
    let outsider = OrgAuthority::new("Org3", SigningKey::generate()).unwrap();
    let impostor = OrgAuthority::new("Org1", SigningKey::generate()).unwrap();
    let org1 = &f.net.orgs[0];
    let by_peer = signed_by(&f.net.peers[1], |_| {});
    let by_orderer = signed_by(f.net.orderer(), |_| {});
    let elsewhere = signed_by(&client, |p| p.header.channel = "other".into());
    let stolen = TxId(sha3_256(b"someone else's transaction"));
    let bad_id = signed_by(&client, |p| p.header.tx_id = stolen);
    let secret: Transient = [("price".to_string(), Bytes::from("10"))].into();
    let other: Transient = [("price".to_string(), Bytes::from("11"))].into();
    let digest = Some(transient_digest(&secret));
    let with_digest = signed_by(&client, |p| p.transient_digest = digest);
    let ghost = signed_by(&client, |p| p.chaincode = "ghost".into());
    let s = |words: &str| words.to_string();

    // One refusal per line: a table reads better than rustfmt's columns.
    #[rustfmt::skip]
    let cases: Vec<Refusal> = vec![
        ("garbage", garbage, none(), 400, s("does not parse"), "Malformed"),
        ("altered bytes", altered, none(), 401, s("client@Org1"), "BadSignature"),
        ("another key", forged, none(), 401, s("does not verify"), "BadSignature"),
        ("unknown org", enroll(&outsider, 0, u64::MAX), none(), 401, s("Org3"), "Creator::UnknownOrg"),
        ("not the org's", enroll(&impostor, 0, u64::MAX), none(), 401, s("root key"), "Creator::BadSignature"),
        ("expired", enroll(org1, 0, 1_000), none(), 401, s("expired"), "Creator::Expired"),
        ("not yet valid", enroll(org1, u64::MAX - 1, u64::MAX), none(), 401, s("not valid until"), "Creator::NotYetValid"),
        ("peer", by_peer, none(), 403, s("peer0@Org2 has role peer"), "CreatorRole"),
        ("orderer", by_orderer, none(), 403, s("has role orderer"), "CreatorRole"),
        ("wrong channel", elsewhere, none(), 400, s("\"other\""), "WrongChannel"),
        ("tx id", bad_id, none(), 400, stolen.to_string(), "TxIdMismatch"),
        ("another map", with_digest.clone(), other, 400, s("1 entries"), "TransientMismatch"),
        ("map left out", with_digest.clone(), none(), 400, s("0 entries"), "TransientMismatch"),
        ("map, no digest", good, secret.clone(), 400, s("none"), "TransientMismatch"),
        ("unknown chaincode", ghost, none(), 404, s("chaincode ghost is not defined"), "UnknownChaincode"),
    ];
    for case in &cases {
        check_refused(&f, case);
    }

    // The same proposal with the right map goes through to the chaincode.
    let err = f.endorsers[0].evaluate(&with_digest, &secret).unwrap_err();
    assert_eq!(variant(&err), "Chaincode", "{err}");
}

#[test]
fn a_committed_tx_id_is_a_duplicate() {
    let f = Fixture::new();
    let proposal = f.proposal(CC, "create", &["asset1", "alice", "1"]);
    assert_eq!(f.invoke(proposal.clone()), ValidationCode::Valid);
    let err = f.endorsers[1].endorse(&proposal, &none()).unwrap_err();
    assert!(
        matches!(
            err,
            EndorseError::DuplicateTxId {
                block: 2,
                index: 0,
                code: ValidationCode::Valid,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.status(), 409);
    assert!(err.to_string().contains("already on the ledger"), "{err}");
}

#[test]
fn a_runaway_chaincode_runs_out_of_fuel() {
    let f = Fixture::new();
    f.deploy("looper", &fixture_wat("infinite_loop"));
    let err = f.endorsers[0]
        .endorse(&f.proposal("looper", "spin", &[]), &none())
        .unwrap_err();
    assert!(
        matches!(&err, EndorseError::Execution { chaincode, source: RuntimeError::OutOfFuel { limit: FUEL } } if chaincode == "looper"),
        "{err:?}"
    );
    assert_eq!(err.status(), 500);
    // The endorser is still usable.
    f.create("asset1", "alice");
}

#[test]
fn a_definition_without_its_module_is_an_internal_error() {
    let f = Fixture::new();
    let module = b"not stored anywhere";
    let def = f.net.definition("orphan", 1, module, None);
    let last = f.last.lock().unwrap().clone();
    let mut block = f.net.next_block(&last, vec![f.net.lifecycle(&def, module)]);
    block.metadata.validation_flags = vec![ValidationCode::Valid];
    let tx_id = block.data[0].decode().unwrap().header.tx_id;
    let updates = BlockUpdates {
        txs: vec![TxUpdates {
            writes: vec![StateWrite {
                ns: LIFECYCLE_NAMESPACE.into(),
                key: "orphan".into(),
                value: Some(serde_json::to_vec(&def).unwrap()),
            }],
            ..TxUpdates::new(tx_id, 0, GENESIS_MS)
        }],
        modules: vec![],
    };
    f.ledgers[0].commit(&block, &updates).unwrap();
    let err = f.endorsers[0]
        .endorse(&f.proposal("orphan", "f", &[]), &none())
        .unwrap_err();
    assert!(matches!(err, EndorseError::ModuleMissing { .. }), "{err:?}");
    assert_eq!(err.status(), 500);
    assert!(
        err.to_string().contains(&def.module_hash.to_string()),
        "{err}"
    );
}

#[test]
fn a_cached_certificate_is_still_checked_against_the_clock() {
    let f = Fixture::new();
    let now = Arc::new(AtomicU64::new(1_000));
    let clock = Arc::clone(&now);
    let endorser = f
        .endorser()
        .with_clock(move || clock.load(Ordering::Relaxed));
    let member = f.net.orgs[0]
        .enroll("temp", Role::Client, 500, 2_000)
        .unwrap();
    let proposal = signed_by(&member, |_| {});
    endorser.authenticate(&proposal, &none()).unwrap();
    assert_eq!(endorser.cached_certificates(), 1);
    now.store(2_001, Ordering::Relaxed);
    let err = endorser.authenticate(&proposal, &none()).unwrap_err();
    assert!(
        matches!(err, EndorseError::Creator(CertificateError::Expired { .. })),
        "{err}"
    );
}

#[test]
fn a_configuration_change_applies_to_cached_certificates() {
    let f = Fixture::new();
    let org2 = f.net.clients[1].clone();
    let proposal = signed_by(&org2, |_| {});
    f.endorsers[0].authenticate(&proposal, &none()).unwrap();
    assert_eq!(f.endorsers[0].cached_certificates(), 1);
    // Org2 leaves the channel: its members are strangers from now on.
    let mut config = f.net.config.clone();
    config.sequence += 1;
    config.orgs.retain(|o| o.name != "Org2");
    f.config.replace(config);
    let err = f.endorsers[0].authenticate(&proposal, &none()).unwrap_err();
    assert!(
        matches!(
            err,
            EndorseError::Creator(CertificateError::UnknownOrg { .. })
        ),
        "{err}"
    );
}

#[test]
fn the_certificate_cache_is_bounded() {
    let f = Fixture::new();
    let endorser = f.endorser().with_cert_cache_entries(4);
    for i in 0..20 {
        let member = f.net.orgs[i % 2]
            .enroll(&format!("m{i}"), Role::Client, 0, u64::MAX)
            .unwrap();
        endorser
            .authenticate(&signed_by(&member, |_| {}), &none())
            .unwrap();
        assert!(
            endorser.cached_certificates() <= 4,
            "{} cached",
            endorser.cached_certificates()
        );
    }
    assert!(endorser.cached_certificates() >= 2);
}

/// Decodes what a chain of proxies returned, down to the first response
/// that is not a success of another proxy.
fn innermost(mut payload: Vec<u8>, proxies: usize) -> InvokeResponse {
    let mut response = InvokeResponse::decode(&payload).unwrap();
    for _ in 1..proxies {
        if response.status != 200 {
            break;
        }
        payload = response.payload;
        response = InvokeResponse::decode(&payload).unwrap();
    }
    response
}

#[test]
fn an_invoked_chaincode_writes_through_its_caller_and_the_block_is_valid() {
    let f = Fixture::new();
    f.deploy("front", &proxy(CC));
    let proposal = f.proposal("front", "create", &["asset7", "carol", "7"]);
    let response = f.endorsers[0].endorse(&proposal, &none()).unwrap();
    let inner = innermost(payload_of(&response).response.payload.0, 1);
    assert_eq!(inner.status, 200, "{}", inner.message);
    assert_eq!(f.invoke(proposal), ValidationCode::Valid);
    let asset = String::from_utf8(f.query(CC, "read", &["asset7"]).unwrap()).unwrap();
    assert!(asset.contains("carol"), "{asset}");
}

#[test]
fn invocations_refuse_unknown_chaincode_reentry_and_depth() {
    let f = Fixture::new();
    f.create("asset1", "alice");

    f.deploy("lost", &proxy("ghost"));
    let err = f.query("lost", "read", &["asset1"]).unwrap_err();
    assert!(
        err.to_string().contains("chaincode ghost is not defined"),
        "{err}"
    );

    f.deploy("ping", &proxy("pong"));
    f.deploy("pong", &proxy("ping"));
    let out = f.query("ping", "read", &["asset1"]).unwrap();
    let response = InvokeResponse::decode(&out).unwrap();
    assert_eq!(response.status, 400);
    assert!(
        response.message.contains("ping -> pong -> ping"),
        "{}",
        response.message
    );

    // p1 -> p2 -> … -> p8 -> asset-transfer is one level too deep;
    // p2 -> … -> p8 -> asset-transfer is exactly MAX_INVOKE_DEPTH.
    assert_eq!(MAX_INVOKE_DEPTH, 8);
    f.deploy("p8", &proxy(CC));
    for i in (1..8).rev() {
        f.deploy(&format!("p{i}"), &proxy(&format!("p{}", i + 1)));
    }
    let ok = f.endorsers[0]
        .evaluate(&f.proposal("p2", "read", &["asset1"]), &none())
        .unwrap();
    let asset = innermost(ok.payload.0, 7);
    assert_eq!(asset.status, 200, "{}", asset.message);
    assert!(String::from_utf8(asset.payload).unwrap().contains("alice"));
    let deep = f.endorsers[0]
        .evaluate(&f.proposal("p1", "read", &["asset1"]), &none())
        .unwrap();
    let refused = innermost(deep.payload.0, 8);
    assert_eq!(refused.status, 400);
    assert!(
        refused.message.contains("nest at most 8 deep"),
        "{}",
        refused.message
    );
}

#[test]
fn invoked_chaincodes_share_one_fuel_budget() {
    let f = Fixture::new();
    f.deploy("looper", &fixture_wat("infinite_loop"));
    f.deploy("outer", &proxy("inner"));
    f.deploy("inner", &proxy("looper"));
    // outer's callee gets half the budget and reserves it; inner's callee
    // then gets half of the rest: a quarter of the fuel per call.
    let out = f.query("outer", "spin", &[]).unwrap();
    let looped = innermost(out, 2);
    assert_eq!(looped.status, 500);
    let limit = (FUEL / 4).to_string();
    assert!(looped.message.contains("out of fuel"), "{}", looped.message);
    assert!(looped.message.contains(&limit), "{}", looped.message);
}

#[test]
fn simulations_never_see_a_half_committed_block() {
    const ASSETS: usize = 4;
    const ROUNDS: usize = 8;
    let f = Fixture::new();
    let owners: Vec<Identity> = ["alice", "bob"]
        .iter()
        .map(|n| f.net.orgs[0].enroll(n, Role::Client, 0, u64::MAX).unwrap())
        .collect();
    let ids: Vec<String> = (0..ASSETS).map(|i| format!("asset{i}")).collect();
    let creates = ids
        .iter()
        .map(|id| {
            let p = f.proposal(CC, "create", &[id, "alice", "1"]);
            let r = f
                .endorsers
                .iter()
                .map(|e| e.endorse(&p, &none()).unwrap())
                .collect();
            f.net.submit(f.client(), p, r)
        })
        .collect();
    assert!(f.commit(creates).codes.iter().all(|c| c.is_valid()));

    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                for owner in ["alice", "bob"] {
                    let p =
                        f.net
                            .proposal(&f.net.clients[1], CC, "list_by_owner", &[owner], &none());
                    let list = f.endorsers[1].evaluate(&p, &none()).unwrap();
                    let assets: Vec<serde_json::Value> =
                        serde_json::from_slice(&list.payload).unwrap();
                    // Each block moves every asset: a list has all of them or none.
                    assert!(assets.is_empty() || assets.len() == ASSETS, "{assets:?}");
                    assert!(assets.iter().all(|a| a["owner"] == owner), "{assets:?}");
                    reads += 1;
                }
            }
            reads
        });
        for round in 0..ROUNDS {
            let (from, to) = (&owners[round % 2], &owners[(round + 1) % 2]);
            let transfers = ids
                .iter()
                .map(|id| {
                    let p = f
                        .net
                        .proposal(from, CC, "transfer", &[id, to.name()], &none());
                    let r = f
                        .endorsers
                        .iter()
                        .map(|e| e.endorse(&p, &none()).unwrap())
                        .collect();
                    f.net.submit(from, p, r)
                })
                .collect();
            let verdict = f.commit(transfers);
            assert!(
                verdict.codes.iter().all(|c| c.is_valid()),
                "{:?}",
                verdict.details
            );
        }
        done.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
}

/// What an endorser records with `remembering` is exactly what validation
/// looks up: the peer's key, sha3 of the response bytes the transaction
/// carries, and the signature in it.
#[test]
fn an_endorser_records_its_endorsements_as_validation_looks_them_up() {
    let f = Fixture::new();
    let here = Arc::new(VerifiedHere::default());
    let memory = ValidationMemory::new(Arc::clone(&here));
    let peer0 = &f.net.peers[0];
    let remembering = Endorser::new(
        Arc::clone(&f.ledgers[0]),
        Arc::clone(&f.runtime),
        peer0.clone(),
        f.config.clone(),
    )
    .remembering(&memory);
    let proposal = f.proposal(CC, "create", &["asset9", "alice", "7"]);
    let responses = vec![
        remembering.endorse(&proposal, &none()).unwrap(),
        f.endorsers[1].endorse(&proposal, &none()).unwrap(),
    ];
    assert_eq!(here.len(), 1, "the one endorsement signed here");
    // The creator's certificate, verified at endorsement, is in the cache
    // validation reads.
    assert_eq!(memory.certificates_remembered(), 1);
    let envelope = f.net.submit(&f.client().clone(), proposal, responses);
    let TxBody::Invoke(tx) = envelope.decode().unwrap().body else {
        unreachable!()
    };
    let digest = sha3_256(&tx.response);
    for e in &tx.endorsements {
        let key = e.endorser.decode().unwrap().public_key;
        let mine = &e.endorser == peer0.certificate();
        assert_eq!(here.verified(&key, &digest, &e.signature), mine);
    }
    let block = f.net.next_block(&f.last.lock().unwrap(), vec![envelope]);
    let codes = |memory: Option<&ValidationMemory>| {
        let state = f.ledgers[0].snapshot();
        let checks = check_transactions(
            &f.net.config,
            &state,
            &StaticModuleCheck::default(),
            memory,
            &block,
        )
        .unwrap();
        check_mvcc(&state, block.number(), checks).unwrap().codes
    };
    assert_eq!(codes(Some(&memory)), vec![ValidationCode::Valid]);
    assert_eq!(codes(None), vec![ValidationCode::Valid]);
}
