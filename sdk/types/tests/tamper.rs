//! Flipping any byte of a signed message, a certificate or a block header
//! makes verification fail — both in the binary parts and in their JSON form.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use weft_types::*;

const NOW: u64 = 1_800_000_000;

struct Net {
    bank: OrgAuthority,
    config: ChannelConfig,
    client: Identity,
    orderer: Identity,
}

fn net() -> Net {
    let bank = OrgAuthority::new("Bank", SigningKey::generate()).unwrap();
    let client = bank.enroll("client", Role::Client, 0, u64::MAX).unwrap();
    let orderer = bank.enroll("orderer0", Role::Orderer, 0, u64::MAX).unwrap();
    let config = ChannelConfig {
        channel: "weft".into(),
        orgs: vec![OrgInfo {
            name: "Bank".into(),
            root_key: bank.root_key(),
            peers: vec![],
        }],
        orderers: vec![OrdererInfo {
            id: 1,
            name: "orderer0".into(),
            org: "Bank".into(),
            api: "127.0.0.1:7050".into(),
            cluster: "127.0.0.1:7051".into(),
            public_key: orderer.body().public_key,
        }],
        ordering: OrderingParams::default(),
        raft: RaftParams::default(),
        policies: ChannelPolicies::default(),
    };
    config.validate().unwrap();
    Net {
        bank,
        config,
        client,
        orderer,
    }
}

fn proposal(id: &Identity) -> SignedProposal {
    let p = Proposal {
        header: TxHeader::new("weft", id.certificate(), 42),
        chaincode: "asset-transfer".into(),
        function: "transfer".into(),
        args: vec!["asset1".into(), "bob".into()],
        transient_digest: None,
    };
    SignedProposal::sign(&p, id)
}

/// Flips the low bit of every byte of `json` in turn; each result must either
/// fail to parse or fail `verify`.
fn every_json_flip_fails<T: DeserializeOwned>(json: &[u8], verify: impl Fn(&T) -> bool) {
    let original: T = serde_json::from_slice(json).unwrap();
    assert!(verify(&original), "the untampered value must verify");
    for i in 0..json.len() {
        let mut bad = json.to_vec();
        bad[i] ^= 0x01;
        if let Ok(v) = serde_json::from_slice::<T>(&bad) {
            assert!(
                !verify(&v),
                "flipping byte {i} ({:?} -> {:?}) still verifies",
                json[i] as char,
                bad[i] as char
            );
        }
    }
}

#[test]
fn signed_proposal_binary_parts() {
    let n = net();
    let signed = proposal(&n.client);
    signed.verify(&n.config, NOW).unwrap();
    for i in 0..signed.payload.len() {
        let mut bad = signed.clone();
        bad.payload.0[i] ^= 0x80;
        assert!(bad.verify(&n.config, NOW).is_err(), "payload byte {i}");
    }
    for i in 0..64 {
        let mut bad = signed.clone();
        bad.signature.0[i] ^= 0x01;
        assert!(bad.verify(&n.config, NOW).is_err(), "signature byte {i}");
    }
    for i in 0..signed.signer.body.len() {
        let mut bad = signed.clone();
        bad.signer.body.0[i] ^= 0x01;
        assert!(bad.verify(&n.config, NOW).is_err(), "signer body byte {i}");
    }
}

#[test]
fn signed_proposal_json() {
    let n = net();
    let json = serde_json::to_vec(&proposal(&n.client)).unwrap();
    every_json_flip_fails::<SignedProposal>(&json, |s| s.verify(&n.config, NOW).is_ok());
}

#[test]
fn envelope_json() {
    let n = net();
    let payload = Transaction {
        header: TxHeader::new("weft", n.client.certificate(), 7),
        body: TxBody::Config(ConfigTransaction {
            config: n.config.clone(),
        }),
    };
    let json = serde_json::to_vec(&Envelope::sign(&payload, &n.client)).unwrap();
    every_json_flip_fails::<Envelope>(&json, |e| e.verify(&n.config, NOW).is_ok());
}

#[test]
fn certificate_json() {
    let n = net();
    let json = serde_json::to_vec(n.client.certificate()).unwrap();
    every_json_flip_fails::<Certificate>(&json, |c| n.config.verify_certificate(c, NOW).is_ok());
}

#[test]
fn certificate_of_unknown_org_is_rejected() {
    let n = net();
    let other = OrgAuthority::new("Other", SigningKey::generate()).unwrap();
    let id = other.enroll("client", Role::Client, 0, u64::MAX).unwrap();
    let err = proposal(&id).verify(&n.config, NOW).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Certificate(CertificateError::UnknownOrg { org, .. }) if org == "Other"),
        "{err}"
    );
    // The same member name under the channel's org, signed by the wrong root.
    let forged = other
        .issue(
            "client",
            Role::Client,
            n.client.body().public_key,
            0,
            u64::MAX,
        )
        .unwrap();
    let mut body = forged.decode().unwrap();
    body.org = "Bank".into();
    let forged = Certificate::issue(&body, &SigningKey::generate());
    assert!(matches!(
        n.config.verify_certificate(&forged, NOW),
        Err(CertificateError::BadSignature { .. })
    ));
    let _ = &n.bank;
}

fn signed_block(n: &Net) -> Block {
    let payload = Transaction {
        header: TxHeader::new("weft", n.client.certificate(), 7),
        body: TxBody::Config(ConfigTransaction {
            config: n.config.clone(),
        }),
    };
    let env = Envelope::sign(&payload, &n.client);
    let mut block = Block::new(5, sha3_256(b"block 4"), vec![env]);
    block.sign(&n.orderer);
    block
}

#[test]
fn block_header_binary_layout() {
    let n = net();
    let block = signed_block(&n);
    block.verify(&n.config, 1, NOW).unwrap();
    let encoded = block.header.encode();
    for i in 0..encoded.len() {
        let mut bytes = encoded;
        bytes[i] ^= 0x01;
        let mut bad = block.clone();
        bad.header = BlockHeader {
            number: u64::from_be_bytes(bytes[..8].try_into().unwrap()),
            previous_hash: Digest(bytes[8..40].try_into().unwrap()),
            data_hash: Digest(bytes[40..].try_into().unwrap()),
        };
        assert!(bad.verify(&n.config, 1, NOW).is_err(), "header byte {i}");
    }
}

#[test]
fn block_header_json_and_data() {
    let n = net();
    let block = signed_block(&n);
    let header_json = serde_json::to_vec(&block.header).unwrap();
    every_json_flip_fails::<BlockHeader>(&header_json, |h| {
        let mut b = block.clone();
        b.header = h.clone();
        b.verify(&n.config, 1, NOW).is_ok()
    });
    let mut bad = block.clone();
    bad.data[0].payload.0[3] ^= 1;
    assert!(matches!(
        bad.verify(&n.config, 1, NOW),
        Err(BlockError::DataHashMismatch { .. })
    ));
}

#[test]
fn block_signatures_must_come_from_configured_orderers() {
    let n = net();
    let mut block = signed_block(&n);
    assert!(matches!(
        block.verify(&n.config, 2, NOW),
        Err(BlockError::NotEnoughSignatures {
            valid: 1,
            required: 2,
            ..
        })
    ));
    // A second signature by the same orderer does not count twice.
    block.sign(&n.orderer);
    assert!(block.verify(&n.config, 2, NOW).is_err());

    let mut by_client = signed_block(&n);
    by_client.metadata.signatures.clear();
    by_client.sign(&n.client);
    assert!(
        by_client.verify(&n.config, 1, NOW).is_err(),
        "a client is not an orderer"
    );

    let rogue = n
        .bank
        .enroll("orderer9", Role::Orderer, 0, u64::MAX)
        .unwrap();
    let mut by_rogue = signed_block(&n);
    by_rogue.metadata.signatures.clear();
    by_rogue.sign(&rogue);
    let err = by_rogue.verify(&n.config, 1, NOW).unwrap_err();
    assert!(
        err.to_string()
            .contains("not one of the channel's orderers"),
        "{err}"
    );
}

#[test]
fn blocks_chain_by_header_hash() {
    let n = net();
    let b5 = signed_block(&n);
    let b6 = Block::new(6, b5.hash(), vec![]);
    b6.verify_follows(&b5.header).unwrap();
    assert!(
        Block::new(7, b5.hash(), vec![])
            .verify_follows(&b5.header)
            .is_err()
    );
    assert!(
        Block::new(6, Digest::ZERO, vec![])
            .verify_follows(&b5.header)
            .is_err()
    );
}

#[test]
fn offline_signing_matches_online_signing() {
    let n = net();
    let online = proposal(&n.client);
    let message = SignedProposal::message_to_sign(&online.payload);
    // An external signer only ever sees `message`.
    let external = n.client.signing_key().clone();
    let sig = {
        let digest = sha3_256(&online.payload);
        assert_eq!(message, Domain::Proposal.message(&digest));
        external.sign(Domain::Proposal, &digest)
    };
    let offline = SignedProposal::from_parts(
        online.payload.0.clone(),
        sig,
        n.client.certificate().clone(),
    );
    offline.verify(&n.config, NOW).unwrap();
    let trust: BTreeMap<String, PublicKey> = [("Bank".to_string(), n.bank.root_key())].into();
    offline.verify(&trust, NOW).unwrap();
}
