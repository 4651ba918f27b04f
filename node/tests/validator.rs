#![allow(clippy::unwrap_used)]
//! One test per validation code, each a small block checked through
//! [`check`]. The builders make a two-org channel and properly endorsed
//! invocations from a read/write set; tests break one thing at a time.

use weft_node::validator::{
    BlockValidation, MemoryState, StaticModuleCheck, ValidationMemory, VerifiedHere, check_mvcc,
    check_transactions, validate_block,
};
use weft_types::{
    Block, Bytes, ChaincodeDefinition, ChaincodeId, ChannelConfig, Digest, Domain,
    EndorsedTransaction, Endorsement, Envelope, Identity, KeyPolicyWrite, KvRead, KvWrite,
    LifecycleTransaction, NsRwSet, OrgAuthority, OrgInfo, Policy, Proposal, ProposalResponse,
    ProposalResponsePayload, RangeQueryInfo, Response, Role, RwSet, Signature, SignedProposal,
    SigningKey, Transaction, TxBody, TxHeader, TxId, ValidationCode as Code, Version, sha3_256,
};

const CHANNEL: &str = "weft";
const CC: &str = "asset-transfer";
/// A chaincode any one org's peer may endorse.
const OPEN: &str = "open";
/// The time blocks are cut at, unix milliseconds.
const NOW_MS: u64 = 1_700_000_000_000;
const BLOCK: u64 = 5;

/// Two orgs with a client, a peer and an admin each, and a ledger where
/// `asset-transfer` (channel default policy: both orgs) and `open`
/// (`OR('Org1.peer', 'Org2.peer')`) are defined at sequence 1.
struct Net {
    orgs: Vec<OrgAuthority>,
    config: ChannelConfig,
    clients: Vec<Identity>,
    peers: Vec<Identity>,
    admins: Vec<Identity>,
    state: MemoryState,
}

fn v(block: u64, tx: u32) -> Version {
    Version { block, tx }
}

fn net() -> Net {
    let orgs: Vec<OrgAuthority> = ["Org1", "Org2"]
        .iter()
        .map(|n| OrgAuthority::new(n, SigningKey::generate()).unwrap())
        .collect();
    let enroll = |role: Role, name: &str| -> Vec<Identity> {
        orgs.iter()
            .map(|o| o.enroll(name, role, 0, u64::MAX).unwrap())
            .collect()
    };
    let clients = enroll(Role::Client, "client");
    let peers = enroll(Role::Peer, "peer0");
    let admins = enroll(Role::Admin, "admin");
    let infos = orgs
        .iter()
        .map(|o| OrgInfo {
            name: o.org().to_string(),
            root_key: o.root_key(),
            peers: vec![],
        })
        .collect();
    let config = ChannelConfig::new(CHANNEL, infos, vec![]);
    let mut state = MemoryState::new();
    state.definitions.insert(CC.into(), definition(CC, 1, None));
    state.definitions.insert(
        OPEN.into(),
        definition(OPEN, 1, Some("OR('Org1.peer', 'Org2.peer')")),
    );
    Net {
        orgs,
        config,
        clients,
        peers,
        admins,
        state,
    }
}

fn definition(name: &str, sequence: u64, policy: Option<&str>) -> ChaincodeDefinition {
    ChaincodeDefinition {
        channel: CHANNEL.into(),
        name: name.into(),
        version: "1.0".into(),
        sequence,
        module_hash: sha3_256(name.as_bytes()),
        endorsement_policy: policy.map(|p| Policy::parse(p).unwrap()),
        collections: vec![],
    }
}

/// An invocation to build: by default client 0 invokes `asset-transfer`,
/// endorsed by both orgs' peers at the current sequence.
#[derive(Clone)]
struct Invoke {
    creator: Identity,
    endorsers: Vec<Identity>,
    chaincode: String,
    sequence: u64,
    channel: String,
    rwset: RwSet,
    tx_id: Option<TxId>,
}

impl Net {
    fn invoke(&self, rwset: RwSet) -> Invoke {
        Invoke {
            creator: self.clients[0].clone(),
            endorsers: self.peers.clone(),
            chaincode: CC.into(),
            sequence: 1,
            channel: CHANNEL.into(),
            rwset,
            tx_id: None,
        }
    }
}

impl Invoke {
    fn on(mut self, chaincode: &str) -> Self {
        self.chaincode = chaincode.into();
        self
    }

    fn endorsed_by(mut self, endorsers: &[&Identity]) -> Self {
        self.endorsers = endorsers.iter().map(|&e| e.clone()).collect();
        self
    }

    fn build(&self) -> Envelope {
        let mut header = TxHeader::new(&self.channel, self.creator.certificate(), NOW_MS);
        if let Some(id) = self.tx_id {
            header.tx_id = id;
        }
        let proposal = SignedProposal::sign(
            &Proposal {
                header: header.clone(),
                chaincode: self.chaincode.clone(),
                function: "f".into(),
                args: vec![],
                transient_digest: None,
            },
            &self.creator,
        );
        let payload = ProposalResponsePayload {
            proposal_digest: proposal.payload_digest(),
            chaincode: ChaincodeId {
                name: self.chaincode.clone(),
                version: "1.0".into(),
                sequence: self.sequence,
            },
            response: Response {
                status: 200,
                message: String::new(),
                payload: Bytes::default(),
            },
            rwset_digest: Digest::ZERO,
            event: None,
        };
        let responses = self
            .endorsers
            .iter()
            .map(|p| ProposalResponse::build(payload.clone(), &self.rwset, Some(p)))
            .collect();
        let tx = Transaction {
            header,
            body: TxBody::Invoke(EndorsedTransaction::assemble(proposal, responses).unwrap()),
        };
        Envelope::sign(&tx, &self.creator)
    }
}

/// Changes a built transaction and re-signs its envelope.
fn resign(env: &Envelope, by: &Identity, change: impl FnOnce(&mut Transaction)) -> Envelope {
    let mut tx = env.decode().unwrap();
    change(&mut tx);
    Envelope::sign(&tx, by)
}

/// A read/write set in namespace `ns` from reads, writes (`None` deletes)
/// and range queries.
fn rw(
    ns: &str,
    reads: &[(&str, Option<Version>)],
    writes: &[(&str, Option<&str>)],
    ranges: Vec<RangeQueryInfo>,
) -> RwSet {
    RwSet {
        namespaces: vec![NsRwSet {
            namespace: ns.into(),
            reads: reads
                .iter()
                .map(|(k, v)| KvRead {
                    key: (*k).into(),
                    version: *v,
                })
                .collect(),
            writes: writes
                .iter()
                .map(|(k, val)| KvWrite {
                    key: (*k).into(),
                    value: val.map(Bytes::from),
                })
                .collect(),
            range_queries: ranges,
            ..Default::default()
        }],
    }
}

fn range(
    start: &str,
    end: &str,
    scanned_to: Option<&str>,
    reads: &[(&str, Version)],
) -> RangeQueryInfo {
    RangeQueryInfo {
        start_key: start.into(),
        end_key: end.into(),
        exhausted: scanned_to.is_none(),
        scanned_to: scanned_to.map(Into::into),
        reads: reads
            .iter()
            .map(|(k, v)| KvRead {
                key: (*k).into(),
                version: Some(*v),
            })
            .collect(),
    }
}

/// Validates `envelopes` as block [`BLOCK`] and checks the codes; each
/// expected detail must appear in the detail of its transaction.
fn check(net: &Net, envelopes: Vec<Envelope>, expected: &[(Code, &str)]) -> BlockValidation {
    let block = Block::new(BLOCK, Digest::ZERO, NOW_MS, envelopes);
    let out = validate_block(&net.config, &net.state, &block).unwrap();
    let codes: Vec<Code> = expected.iter().map(|(c, _)| *c).collect();
    assert_eq!(out.codes, codes, "details: {:#?}", out.details);
    for (i, (code, needle)) in expected.iter().enumerate() {
        let detail = out.details[i].clone().unwrap_or_default();
        assert_eq!(code.is_valid(), out.details[i].is_none(), "{detail}");
        assert!(
            detail.contains(needle),
            "tx {i}: {detail:?} lacks {needle:?}"
        );
    }
    out
}

/// A state with keys k1..k3 of `asset-transfer` at version (1, i).
fn seeded() -> Net {
    let mut n = net();
    for (i, k) in ["k1", "k2", "k3"].iter().enumerate() {
        n.state.put(CC, k, b"v", v(1, i as u32));
    }
    n
}

#[test]
fn valid_transaction_yields_its_writes() {
    let n = seeded();
    let tx = n.invoke(rw(
        CC,
        &[("k1", Some(v(1, 0))), ("new", None)],
        &[("k1", Some("x")), ("k2", None)],
        vec![range(
            "k",
            "l",
            None,
            &[("k1", v(1, 0)), ("k2", v(1, 1)), ("k3", v(1, 2))],
        )],
    ));
    let out = check(&n, vec![tx.build()], &[(Code::Valid, "")]);
    assert_eq!(out.valid_writes.len(), 1);
    let writes = &out.valid_writes[0].writes;
    assert_eq!(writes.len(), 2);
    assert_eq!(writes[0].value, Some(Bytes::from("x")));
    assert_eq!(writes[1].value, None);
    assert!(out.tx_ids[0].is_some());
    let mut state = n.state.clone();
    state.apply(BLOCK, &out);
    assert_eq!(state.value(CC, "k1"), Some(&Bytes::from("x")));
    assert_eq!(state.value(CC, "k2"), None);
}

#[test]
fn mvcc_read_conflict() {
    let n = seeded();
    // A read of an older version than the committed one.
    let stale = n.invoke(rw(CC, &[("k1", Some(v(0, 0)))], &[], vec![]));
    // A read of a key that should not exist, but does.
    let absent = n.invoke(rw(CC, &[("k2", None)], &[], vec![]));
    check(
        &n,
        vec![stale.build(), absent.build()],
        &[
            (
                Code::MvccReadConflict,
                "asset-transfer/k1 was read at version (0, 0) but is version (1, 0)",
            ),
            (Code::MvccReadConflict, "read at absent"),
        ],
    );
    // A read of a key written earlier in the same block.
    let writer = n.invoke(rw(CC, &[], &[("k1", Some("x"))], vec![]));
    let reader = n.invoke(rw(
        CC,
        &[("k1", Some(v(1, 0)))],
        &[("k9", Some("y"))],
        vec![],
    ));
    let out = check(
        &n,
        vec![writer.build(), reader.build()],
        &[
            (Code::Valid, ""),
            (
                Code::MvccReadConflict,
                "transaction 0 earlier in this block wrote it",
            ),
        ],
    );
    assert_eq!(
        out.valid_writes.len(),
        1,
        "an invalid tx's writes are not applied"
    );
}

#[test]
fn phantom_read_conflict() {
    let n = seeded();
    let all = [("k1", v(1, 0)), ("k2", v(1, 1)), ("k3", v(1, 2))];
    // A key committed into the range since simulation.
    let missed = n.invoke(rw(CC, &[], &[], vec![range("k1", "k9", None, &all[..2])]));
    // A key gone from the range.
    let extra = [all[0], all[1], all[2], ("k4", v(1, 3))];
    let gone = n.invoke(rw(CC, &[], &[], vec![range("k1", "", None, &extra)]));
    check(
        &n,
        vec![missed.build(), gone.build()],
        &[
            (Code::PhantomReadConflict, "k3 appeared"),
            (Code::PhantomReadConflict, "k4 was read but is gone"),
        ],
    );
    // An insert by an earlier transaction of the block.
    let insert = n.invoke(rw(CC, &[], &[("k25", Some("x"))], vec![]));
    let scan = n.invoke(rw(CC, &[], &[], vec![range("k1", "k9", None, &all)]));
    check(
        &n,
        vec![insert.build(), scan.build()],
        &[
            (Code::Valid, ""),
            (Code::PhantomReadConflict, "k25 appeared"),
        ],
    );
    // An update by an earlier transaction: same keys, new version.
    let update = n.invoke(rw(CC, &[], &[("k2", Some("x"))], vec![]));
    check(
        &n,
        vec![update.build(), scan.build()],
        &[
            (Code::Valid, ""),
            (
                Code::PhantomReadConflict,
                "written by transaction 0 earlier in this block",
            ),
        ],
    );
    // A partial scan is re-checked only up to where it stopped.
    let partial = n.invoke(rw(
        CC,
        &[],
        &[],
        vec![range("k1", "", Some("k2"), &all[..2])],
    ));
    let beyond = n.invoke(rw(CC, &[], &[("k5", Some("x"))], vec![]));
    let within = n.invoke(rw(CC, &[], &[("k15", Some("x"))], vec![]));
    check(
        &n,
        vec![beyond.build(), partial.build()],
        &[(Code::Valid, ""), (Code::Valid, "")],
    );
    check(
        &n,
        vec![within.build(), partial.build()],
        &[
            (Code::Valid, ""),
            (Code::PhantomReadConflict, "k15 appeared"),
        ],
    );
}

#[test]
fn endorsement_policy_failure() {
    let mut n = net();
    // A missing org: the default policy needs both.
    let one_org = n
        .invoke(rw(CC, &[], &[("k", Some("v"))], vec![]))
        .endorsed_by(&[&n.peers[0]]);
    // A read-only transaction still needs the chaincode's policy.
    let read_only = n
        .invoke(rw(CC, &[("k", None)], &[], vec![]))
        .endorsed_by(&[&n.peers[1]]);
    check(
        &n,
        vec![one_org.build(), read_only.build()],
        &[
            (Code::EndorsementPolicyFailure, "missing a member of Org2"),
            (Code::EndorsementPolicyFailure, "missing a member of Org1"),
        ],
    );
    // The wrong role: a peer where the policy asks for an admin.
    n.state.definitions.insert(
        CC.into(),
        definition(CC, 1, Some("AND('Org1.peer', 'Org2.admin')")),
    );
    let peers = n.invoke(rw(CC, &[], &[("k", Some("v"))], vec![]));
    check(
        &n,
        vec![peers.build()],
        &[(Code::EndorsementPolicyFailure, "missing an admin of Org2")],
    );
    // A key-level policy replaces the chaincode's for its key.
    n.state.key_policies.insert(
        (OPEN.into(), "locked".into()),
        Policy::parse("'Org2.peer'").unwrap(),
    );
    let org1 = [&n.peers[0]];
    let locked = n
        .invoke(rw(OPEN, &[], &[("locked", Some("v"))], vec![]))
        .on(OPEN)
        .endorsed_by(&org1);
    let free = n
        .invoke(rw(OPEN, &[], &[("free", Some("v"))], vec![]))
        .on(OPEN)
        .endorsed_by(&org1);
    let org2_only = n
        .invoke(rw(OPEN, &[], &[("locked", Some("v"))], vec![]))
        .on(OPEN)
        .endorsed_by(&[&n.peers[1]]);
    check(
        &n,
        vec![locked.build(), free.build(), org2_only.build()],
        &[
            (
                Code::EndorsementPolicyFailure,
                "key-level policy of open/locked",
            ),
            (Code::Valid, ""),
            (Code::Valid, ""),
        ],
    );
    // A key-level policy changed earlier in the block invalidates a later
    // write that was endorsed under the old one.
    let mut set_policy = rw(OPEN, &[], &[], vec![]);
    set_policy.namespaces[0].key_policy_writes = vec![KeyPolicyWrite {
        key: "free".into(),
        policy: Some(Policy::parse("'Org2.peer'").unwrap()),
    }];
    let change = n.invoke(set_policy).on(OPEN).endorsed_by(&org1);
    check(
        &n,
        vec![change.build(), free.build()],
        &[
            (Code::Valid, ""),
            (
                Code::EndorsementPolicyFailure,
                "changed by transaction 0 earlier in this block",
            ),
        ],
    );
}

#[test]
fn duplicate_txid() {
    let mut n = net();
    let tx = n.invoke(rw(CC, &[], &[("k", Some("v"))], vec![])).build();
    let out = check(
        &n,
        vec![tx.clone(), tx.clone()],
        &[
            (Code::Valid, ""),
            (Code::DuplicateTxid, "earlier in this block"),
        ],
    );
    assert!(
        out.tx_ids[1].is_none(),
        "a duplicate's id is not indexed again"
    );
    n.state.apply(BLOCK, &out);
    check(
        &n,
        vec![tx],
        &[(Code::DuplicateTxid, "already on the ledger")],
    );
}

#[test]
fn forged_copy_of_an_id_does_not_make_the_original_a_duplicate() {
    let n = net();
    let original = n.invoke(rw(CC, &[], &[("k", Some("v"))], vec![])).build();
    let mut forged = original.clone();
    forged.signature.0[5] ^= 1;
    check(
        &n,
        vec![forged, original],
        &[
            (Code::BadSignature, "envelope signature"),
            (Code::Valid, ""),
        ],
    );
}

#[test]
fn bad_signature() {
    let n = net();
    let mut env = n.invoke(rw(CC, &[], &[("k", Some("v"))], vec![])).build();
    env.signature.0[0] ^= 1;
    check(
        &n,
        vec![env],
        &[(Code::BadSignature, "envelope signature of client@Org1")],
    );
}

/// The proposal's signature is the endorsers' to check: at commit the
/// creator's envelope signature covers the proposal, signature included, so
/// a proposal signature that does not verify changes nothing there — but a
/// proposal that is not the creator's, or not the one endorsed, still fails.
#[test]
fn proposal_signature_is_covered_by_the_envelope() {
    let n = net();
    let other = n.invoke(rw(CC, &[], &[], vec![])).build();
    let other_proposal = || match other.decode().unwrap().body {
        TxBody::Invoke(o) => o.proposal,
        _ => unreachable!(),
    };
    let resigned_proposal = resign(
        &n.invoke(rw(CC, &[], &[("k", Some("v"))], vec![])).build(),
        &n.clients[0],
        |tx| {
            let TxBody::Invoke(e) = &mut tx.body else {
                unreachable!()
            };
            e.proposal.signature = other_proposal().signature;
        },
    );
    let swapped_proposal = resign(
        &n.invoke(rw(CC, &[], &[("k", Some("v"))], vec![])).build(),
        &n.clients[0],
        |tx| {
            let TxBody::Invoke(e) = &mut tx.body else {
                unreachable!()
            };
            e.proposal = other_proposal();
        },
    );
    check(
        &n,
        vec![resigned_proposal, swapped_proposal],
        &[(Code::Valid, ""), (Code::BadPayload, "header differs")],
    );
}

/// Endorsements recorded as verified on this peer (its own, and other
/// orgs' its gateway checked) are not verified again: the validator takes
/// [`VerifiedHere`]'s word for them, for exactly the key, response and
/// signature recorded. (Recording a signature that does not verify is what
/// shows it is skipped; the peer records only signatures it signed or
/// verified.)
#[test]
fn endorsements_verified_here_are_not_verified_again() {
    let n = net();
    let env = n.invoke(rw(CC, &[], &[("k", Some("v"))], vec![])).build();
    let mut bogus = [0u8; 64];
    let tampered = resign(&env, &n.clients[0], |tx| {
        let TxBody::Invoke(e) = &mut tx.body else {
            unreachable!()
        };
        e.endorsements[1].signature.0[3] ^= 1;
        bogus = e.endorsements[1].signature.0;
    });
    let TxBody::Invoke(e) = tampered.decode().unwrap().body else {
        unreachable!()
    };
    let response = sha3_256(&e.response);
    let peer1 = n.peers[1].body().public_key;
    let block = Block::new(BLOCK, Digest::ZERO, NOW_MS, vec![tampered]);
    let codes = |here: Option<VerifiedHere>| {
        let memory = here.map(ValidationMemory::from);
        let checks = check_transactions(
            &n.config,
            &n.state,
            &StaticModuleCheck::default(),
            memory.as_ref(),
            &block,
        )
        .unwrap();
        check_mvcc(&n.state, BLOCK, checks).unwrap().codes
    };
    assert_eq!(codes(None), [Code::BadEndorsement]);
    let elsewhere = VerifiedHere::default();
    elsewhere.remember(peer1, sha3_256(b"another response"), Signature(bogus));
    elsewhere.remember(n.peers[0].body().public_key, response, Signature(bogus));
    assert_eq!(codes(Some(elsewhere)), [Code::BadEndorsement]);
    let here = VerifiedHere::default();
    here.remember(peer1, response, Signature(bogus));
    assert_eq!(codes(Some(here)), [Code::Valid]);
}

#[test]
fn bad_endorsement() {
    let n = net();
    let env = n.invoke(rw(CC, &[], &[("k", Some("v"))], vec![])).build();
    let tampered = resign(&env, &n.clients[0], |tx| {
        let TxBody::Invoke(e) = &mut tx.body else {
            unreachable!()
        };
        e.endorsements[1].signature.0[3] ^= 1;
    });
    let by_client = n
        .invoke(rw(CC, &[], &[("k", Some("v"))], vec![]))
        .endorsed_by(&[&n.peers[0], &n.clients[1]]);
    check(
        &n,
        vec![tampered, by_client.build()],
        &[
            (Code::BadEndorsement, "endorsement 1 does not verify"),
            (Code::BadEndorsement, "only peers endorse"),
        ],
    );
}

#[test]
fn bad_creator() {
    let n = net();
    let stranger = OrgAuthority::new("Org3", SigningKey::generate()).unwrap();
    let mut unknown = n.invoke(rw(CC, &[], &[], vec![]));
    unknown.creator = stranger
        .enroll("client", Role::Client, 0, u64::MAX)
        .unwrap();
    // Expired one second before the block was cut.
    let mut expired = n.invoke(rw(CC, &[], &[], vec![]));
    expired.creator = n.orgs[0]
        .enroll("old", Role::Client, 0, NOW_MS / 1000 - 1)
        .unwrap();
    // Valid from the block time on: accepted, whatever the local clock says.
    let mut fresh = n.invoke(rw(CC, &[], &[("k", Some("v"))], vec![]));
    fresh.creator = n.orgs[0]
        .enroll("new", Role::Client, NOW_MS / 1000, NOW_MS / 1000)
        .unwrap();
    check(
        &n,
        vec![unknown.build(), expired.build(), fresh.build()],
        &[
            (Code::BadCreator, "not in the channel"),
            (Code::BadCreator, "expired"),
            (Code::Valid, ""),
        ],
    );
}

/// Certificates verified in one block are remembered for the next ones,
/// and still give each block the verdict a fresh check would: a remembered
/// certificate expires at its time, and counts only under the root key
/// that signed it.
#[test]
fn remembered_certificates_keep_their_verdicts() {
    let n = net();
    let memory = ValidationMemory::default();
    let until = NOW_MS / 1000 + 5;
    let mut brief = n.invoke(rw(CC, &[], &[], vec![]));
    brief.creator = n.orgs[0].enroll("brief", Role::Client, 0, until).unwrap();
    let codes = |config: &ChannelConfig, time_ms: u64| {
        let block = Block::new(BLOCK, Digest::ZERO, time_ms, vec![brief.build()]);
        let checks = check_transactions(
            config,
            &n.state,
            &StaticModuleCheck::default(),
            Some(&memory),
            &block,
        )
        .unwrap();
        let out = check_mvcc(&n.state, BLOCK, checks).unwrap();
        (out.codes[0], out.details[0].clone().unwrap_or_default())
    };
    assert_eq!(codes(&n.config, NOW_MS).0, Code::Valid);
    // The creator and both endorsing peers.
    assert_eq!(memory.certificates_remembered(), 3);
    assert_eq!(codes(&n.config, NOW_MS).0, Code::Valid);
    let (code, detail) = codes(&n.config, (until + 1) * 1000);
    assert_eq!(code, Code::BadCreator);
    assert!(detail.contains("expired"), "{detail}");
    // Org1's root key replaced: its old certificates are not its own any more.
    let mut rekeyed = n.config.clone();
    rekeyed.orgs[0].root_key = SigningKey::generate().public_key();
    let (code, detail) = codes(&rekeyed, NOW_MS);
    assert_eq!(code, Code::BadCreator);
    assert!(detail.contains("not signed by Org1's root key"), "{detail}");
    assert_eq!(codes(&n.config, NOW_MS).0, Code::Valid);
}

#[test]
fn chaincode_codes() {
    let n = net();
    let mut old = n.invoke(rw(CC, &[], &[("k", Some("v"))], vec![]));
    old.sequence = 2;
    let unknown = n
        .invoke(rw("nope", &[], &[("k", Some("v"))], vec![]))
        .on("nope");
    let foreign = n.invoke(rw("elsewhere", &[], &[("k", Some("v"))], vec![]));
    check(
        &n,
        vec![old.build(), unknown.build(), foreign.build()],
        &[
            (
                Code::ChaincodeVersionConflict,
                "current definition is sequence 1",
            ),
            (Code::InvalidChaincode, "chaincode nope is not defined"),
            (Code::IllegalWriteset, "namespace elsewhere"),
        ],
    );
}

#[test]
fn malformed_transactions() {
    let n = net();
    let unsorted = n.invoke(rw(CC, &[], &[("k2", Some("v")), ("k1", Some("v"))], vec![]));
    let mut two_ns = rw(CC, &[], &[], vec![]);
    two_ns.namespaces.push(two_ns.namespaces[0].clone());
    let repeated_ns = n.invoke(two_ns);
    let mut wrong_id = n.invoke(rw(CC, &[], &[], vec![]));
    wrong_id.tx_id = Some(TxId(sha3_256(b"mine now")));
    let mut other_channel = n.invoke(rw(CC, &[], &[], vec![]));
    other_channel.channel = "other".into();
    let good = n.invoke(rw(CC, &[], &[], vec![])).build();
    let garbage = Envelope::from_parts(b"{".to_vec(), good.signature, good.signer.clone());
    let swapped_rwset = resign(&good, &n.clients[0], |tx| {
        let TxBody::Invoke(e) = &mut tx.body else {
            unreachable!()
        };
        e.rwset = Bytes(serde_json::to_vec(&rw(CC, &[], &[("k", Some("v"))], vec![])).unwrap());
    });
    let header_mismatch = resign(&good, &n.clients[0], |tx| tx.header.timestamp_ms += 1);
    check(
        &n,
        vec![
            unsorted.build(),
            repeated_ns.build(),
            wrong_id.build(),
            other_channel.build(),
            garbage,
            swapped_rwset,
            header_mismatch,
        ],
        &[
            (Code::BadRwset, "writes of asset-transfer list key \"k1\""),
            (Code::BadRwset, "namespace \"asset-transfer\" is repeated"),
            (Code::BadTxid, "not sha3-256 of the nonce"),
            (Code::BadChannel, "for channel \"other\""),
            (Code::BadPayload, "malformed"),
            (Code::BadRwset, "does not match the digest"),
            (Code::BadPayload, "header differs"),
        ],
    );
}

fn lifecycle(
    n: &Net,
    def: &ChaincodeDefinition,
    module: &[u8],
    approvers: &[&Identity],
) -> Envelope {
    let definition = serde_json::to_vec(def).unwrap();
    let approvals = approvers
        .iter()
        .map(|a| Endorsement::sign(Domain::LifecycleApproval, &definition, a))
        .collect();
    let creator = &n.admins[0];
    let tx = Transaction {
        header: TxHeader::new(CHANNEL, creator.certificate(), NOW_MS),
        body: TxBody::Lifecycle(LifecycleTransaction {
            definition: Bytes(definition),
            module: Bytes(module.to_vec()),
            approvals,
        }),
    };
    Envelope::sign(&tx, creator)
}

#[test]
fn lifecycle_transactions() {
    let n = net();
    let admins = [&n.admins[0], &n.admins[1]];
    let wasm = wat::parse_file("tests/fixtures/echo.wat").unwrap();
    let mut upgrade = definition(CC, 2, None);
    upgrade.module_hash = sha3_256(&wasm);
    let good = lifecycle(&n, &upgrade, &wasm, &admins);
    let again = lifecycle(&n, &upgrade, &wasm, &admins);
    let one_admin = lifecycle(&n, &upgrade, &wasm, &admins[..1]);
    let wrong_module = lifecycle(&n, &upgrade, b"other", &admins);
    let mut skip = upgrade.clone();
    skip.sequence = 3;
    let skipped = lifecycle(&n, &skip, &wasm, &admins);
    // Hash and approvals in order, but the module is not one the runtime runs.
    let hostile = wat::parse_file("tests/fixtures/forbidden_imports.wat").unwrap();
    let mut rejected = definition("other", 1, None);
    rejected.module_hash = sha3_256(&hostile);
    let rejected = lifecycle(&n, &rejected, &hostile, &admins);
    // An invocation endorsed under sequence 1 after the upgrade in the block.
    let invoke = n.invoke(rw(CC, &[], &[("k", Some("v"))], vec![]));
    let out = check(
        &n,
        vec![
            good,
            again,
            one_admin,
            wrong_module,
            skipped,
            invoke.build(),
            rejected,
        ],
        &[
            (Code::Valid, ""),
            (
                Code::InvalidLifecycleTransaction,
                "already redefined by transaction 0",
            ),
            (
                Code::InvalidLifecycleTransaction,
                "missing an admin of Org2",
            ),
            (Code::InvalidLifecycleTransaction, "module's sha3-256"),
            (
                Code::InvalidLifecycleTransaction,
                "next definition must be 2, not 3",
            ),
            (Code::ChaincodeVersionConflict, "redefined by transaction 0"),
            (Code::InvalidLifecycleTransaction, "the module is rejected"),
        ],
    );
    assert_eq!(out.valid_writes[0].definition.as_ref(), Some(&upgrade));
}

#[test]
fn bad_signatures_among_many_are_found_in_their_batch() {
    let n = net();
    let writes = |i: usize| rw(CC, &[], &[(&format!("k{i}"), Some("v"))], vec![]);
    let mut envelopes: Vec<Envelope> = (0..100).map(|i| n.invoke(writes(i)).build()).collect();
    envelopes[37] = resign(&envelopes[37], &n.clients[0], |tx| {
        let TxBody::Invoke(e) = &mut tx.body else {
            unreachable!()
        };
        e.endorsements[0].signature.0[9] ^= 1;
    });
    envelopes[70].signature.0[5] ^= 1;
    let mut expected = vec![(Code::Valid, ""); 100];
    expected[37] = (Code::BadEndorsement, "endorsement 0 does not verify");
    expected[70] = (Code::BadSignature, "envelope signature of client@Org1");
    let out = check(&n, envelopes, &expected);
    assert_eq!(out.valid_writes.len(), 98);
}

/// `open` with a collection `c` of Org1 only, member-only for writes.
fn with_collection(mut n: Net) -> Net {
    let mut def = definition(OPEN, 1, Some("OR('Org1.peer', 'Org2.peer')"));
    def.collections = vec![weft_types::CollectionConfig {
        name: "c".into(),
        member_only_write: true,
        ..weft_types::CollectionConfig::implicit("Org1")
    }];
    n.state.definitions.insert(OPEN.into(), def);
    n
}

/// A read/write set of `open` touching collection `c` only.
fn private_rw(reads: &[(&str, Option<Version>)], writes: &[(&str, Option<&str>)]) -> RwSet {
    let key_hash = |k: &str| sha3_256(k.as_bytes());
    let mut reads: Vec<weft_types::HashedRead> = reads
        .iter()
        .map(|(k, v)| weft_types::HashedRead {
            key_hash: key_hash(k),
            version: *v,
        })
        .collect();
    reads.sort_by_key(|r| r.key_hash);
    let mut writes: Vec<weft_types::HashedWrite> = writes
        .iter()
        .map(|(k, v)| weft_types::HashedWrite {
            key_hash: key_hash(k),
            value_hash: v.map(|v| sha3_256(v.as_bytes())),
        })
        .collect();
    writes.sort_by_key(|w| w.key_hash);
    RwSet {
        namespaces: vec![NsRwSet {
            namespace: OPEN.into(),
            collections: vec![weft_types::CollectionHashedRwSet {
                collection: "c".into(),
                reads,
                writes,
                private_rwset_hash: sha3_256(b"the private writes"),
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn private_reads_are_checked_on_their_key_hashes() {
    let mut n = with_collection(net());
    n.state
        .private_versions
        .insert((OPEN.into(), "c".into(), sha3_256(b"k")), v(1, 0));
    let fresh = n.invoke(private_rw(&[("k", Some(v(1, 0)))], &[]));
    let stale = n.invoke(private_rw(&[("k", Some(v(0, 3)))], &[]));
    let absent = n.invoke(private_rw(&[("nope", Some(v(1, 0)))], &[]));
    check(
        &n,
        vec![
            fresh.on(OPEN).build(),
            stale.on(OPEN).build(),
            absent.on(OPEN).build(),
        ],
        &[
            (Code::Valid, ""),
            (
                Code::MvccReadConflict,
                "was read at version (0, 3) but is version (1, 0)",
            ),
            (Code::MvccReadConflict, "but is absent now"),
        ],
    );
    // A private write earlier in the block makes a later read stale, and a
    // valid write's hashes are what the block commits.
    let writer = n.invoke(private_rw(&[], &[("k", Some("new"))]));
    let reader = n.invoke(private_rw(&[("k", Some(v(1, 0)))], &[]));
    let out = check(
        &n,
        vec![writer.on(OPEN).build(), reader.on(OPEN).build()],
        &[
            (Code::Valid, ""),
            (
                Code::MvccReadConflict,
                "transaction 0 earlier in this block wrote it",
            ),
        ],
    );
    let written = &out.valid_writes[0];
    assert_eq!(written.private_hashes.len(), 1);
    assert_eq!(written.private_hashes[0].key_hash, sha3_256(b"k"));
    assert_eq!(written.private_hashes[0].value_hash, Some(sha3_256(b"new")));
    assert_eq!(written.private_sets.len(), 1);
    assert_eq!(
        written.private_sets[0].hash,
        sha3_256(b"the private writes")
    );
    let mut state = n.state.clone();
    state.apply(BLOCK, &out);
    assert_eq!(
        state.private_versions[&(OPEN.to_string(), "c".to_string(), sha3_256(b"k"))],
        v(BLOCK, 0)
    );
}

#[test]
fn a_member_only_collection_is_written_for_members_clients_only() {
    let n = with_collection(net());
    let member = n.invoke(private_rw(&[], &[("k", Some("x"))]));
    let mut outsider = n.invoke(private_rw(&[], &[("k", Some("x"))]));
    outsider.creator = n.clients[1].clone();
    check(
        &n,
        vec![member.on(OPEN).build(), outsider.on(OPEN).build()],
        &[
            (Code::Valid, ""),
            (
                Code::InvalidPrivateData,
                "written only by its members' clients, and Org2 is not a member",
            ),
        ],
    );
}
