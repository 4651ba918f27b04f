//! Flipping any byte of a signed message, a certificate or a block header
//! makes verification fail — both in the binary parts and in their JSON form.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use weft_types::*;

mod support;
use support::{Net, net, proposal};

const NOW: u64 = 1_800_000_000;

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
        assert!(
            matches!(
                bad.verify(&n.config, NOW),
                Err(VerifyError::BadSignature { .. })
            ),
            "payload byte {i}"
        );
    }
    for i in 0..64 {
        let mut bad = signed.clone();
        bad.signature.0[i] ^= 0x01;
        assert!(
            matches!(
                bad.verify(&n.config, NOW),
                Err(VerifyError::BadSignature { .. })
            ),
            "signature byte {i}"
        );
    }
    for i in 0..signed.signer.body.len() {
        let mut bad = signed.clone();
        bad.signer.body.0[i] ^= 0x01;
        assert!(
            matches!(bad.verify(&n.config, NOW), Err(VerifyError::Certificate(_))),
            "signer body byte {i}"
        );
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
    let json = serde_json::to_vec(&config_envelope(&n)).unwrap();
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

/// Block time: within every certificate's validity.
const BLOCK_MS: u64 = NOW * 1000;

fn config_envelope(n: &Net) -> Envelope {
    let payload = Transaction {
        header: TxHeader::new("weft", n.client.certificate(), 7),
        body: TxBody::Config(ConfigTransaction::new(&n.config)),
    };
    Envelope::sign(&payload, &n.client)
}

fn signed_block(n: &Net) -> Block {
    let mut block = Block::new(5, sha3_256(b"block 4"), BLOCK_MS, vec![config_envelope(n)]);
    block.sign(&n.orderer);
    block
}

#[test]
fn block_header_binary_layout() {
    let n = net();
    let block = signed_block(&n);
    block.verify(&n.config).unwrap();
    let encoded = block.header.encode();
    assert_eq!(BlockHeader::decode(&encoded), block.header);
    for i in 0..encoded.len() {
        let mut bytes = encoded;
        bytes[i] ^= 0x01;
        let mut bad = block.clone();
        bad.header = BlockHeader::decode(&bytes);
        assert!(bad.verify(&n.config).is_err(), "header byte {i}");
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
        b.verify(&n.config).is_ok()
    });
    let mut bad = block.clone();
    bad.data[0].payload.0[3] ^= 1;
    assert!(matches!(
        bad.verify(&n.config),
        Err(BlockError::DataHashMismatch { .. })
    ));
}

fn rejected(block: &Block, config: &ChannelConfig) -> Vec<String> {
    match block.verify(config) {
        Err(BlockError::NotEnoughSignatures {
            rejected,
            valid: 0,
            required: 1,
            ..
        }) => rejected,
        other => panic!("expected too few signatures, got {other:?}"),
    }
}

#[test]
fn block_signatures_must_come_from_configured_orderers() {
    let n = net();
    let mut unsigned = signed_block(&n);
    unsigned.metadata.signatures.clear();
    assert!(
        rejected(&unsigned, &n.config).is_empty(),
        "an unsigned block is refused"
    );

    let mut by_client = unsigned.clone();
    by_client.sign(&n.client);
    let reasons = rejected(&by_client, &n.config);
    assert!(reasons[0].contains("is not an orderer"), "{reasons:?}");

    let rogue = n
        .bank
        .enroll("orderer9", Role::Orderer, 0, u64::MAX)
        .unwrap();
    let mut by_rogue = unsigned.clone();
    by_rogue.sign(&rogue);
    let reasons = rejected(&by_rogue, &n.config);
    assert!(
        reasons[0].contains("not one of the channel's orderers"),
        "{reasons:?}"
    );

    // A signature made for another header does not count.
    let mut moved = unsigned.clone();
    let mut other = Block::new(6, sha3_256(b"x"), BLOCK_MS, vec![]);
    other.sign(&n.orderer);
    moved.metadata.signatures = other.metadata.signatures;
    let reasons = rejected(&moved, &n.config);
    assert!(reasons[0].contains("does not verify"), "{reasons:?}");
}

#[test]
fn junk_signatures_appended_by_a_relay_do_not_reject_a_valid_block() {
    let n = net();
    let mut block = signed_block(&n);
    let mut junk = block.metadata.signatures[0].clone();
    junk.signature.0[0] ^= 1;
    block.metadata.signatures.insert(0, junk);
    block.sign(&n.client);
    block.verify(&n.config).unwrap();
}

#[test]
fn orderer_certificates_are_checked_at_the_block_time() {
    let n = net();
    let short = n
        .bank
        .enroll("orderer1", Role::Orderer, NOW - 10, NOW + 10)
        .unwrap();
    let mut config = n.config.clone();
    config.orderers[0].public_key = short.body().public_key;
    let at = |ms: u64| {
        let mut b = Block::new(5, Digest::ZERO, ms, vec![]);
        b.sign(&short);
        b
    };
    at(NOW * 1000).verify(&config).unwrap();
    let reasons = rejected(&at((NOW + 11) * 1000), &config);
    assert!(reasons[0].contains("expired"), "{reasons:?}");
    let reasons = rejected(&at((NOW - 11) * 1000), &config);
    assert!(reasons[0].contains("not valid until"), "{reasons:?}");
}

#[test]
fn blocks_chain_by_header_hash_and_time() {
    let n = net();
    let b5 = signed_block(&n);
    Block::new(6, b5.hash(), BLOCK_MS, vec![])
        .verify_follows(&b5.header)
        .unwrap();
    for (bad, what) in [
        (
            Block::new(7, b5.hash(), BLOCK_MS, vec![]),
            "not consecutive",
        ),
        (
            Block::new(6, Digest::ZERO, BLOCK_MS, vec![]),
            "previous hash",
        ),
        (Block::new(6, b5.hash(), BLOCK_MS - 1, vec![]), "earlier"),
    ] {
        let err = bad.verify_follows(&b5.header).unwrap_err();
        assert!(err.to_string().contains(what), "{err}");
    }
    let mut last = b5.header.clone();
    last.number = u64::MAX;
    assert!(
        Block::new(0, last.hash(), BLOCK_MS, vec![])
            .verify_follows(&last)
            .is_err()
    );
}

#[test]
fn a_signature_cannot_move_to_another_kind_of_message() {
    let n = net();
    let signed = proposal(&n.client);
    // The same bytes and signature presented as an envelope.
    let as_envelope = Envelope::from_parts(
        signed.payload.0.clone(),
        signed.signature,
        signed.signer.clone(),
    );
    assert!(matches!(
        as_envelope.verify(&n.config, NOW),
        Err(VerifyError::BadSignature { .. })
    ));
}

#[test]
fn expired_signer_is_rejected() {
    let n = net();
    let short = n
        .bank
        .enroll("temp", Role::Client, NOW - 10, NOW + 10)
        .unwrap();
    let signed = proposal(&short);
    signed.verify(&n.config, NOW).unwrap();
    assert!(matches!(
        signed.verify(&n.config, NOW + 11),
        Err(VerifyError::Certificate(CertificateError::Expired { .. }))
    ));
}

#[test]
fn endorsement_verify_checks_the_certificate_too() {
    let n = net();
    let e = Endorsement::sign(Domain::Endorsement, b"payload", &n.client);
    let digest = sha3_256(b"payload");
    e.verify(&n.config, NOW, Domain::Endorsement, &digest)
        .unwrap();
    let outsider = OrgAuthority::new("Other", SigningKey::generate()).unwrap();
    let id = outsider.enroll("peer0", Role::Peer, 0, u64::MAX).unwrap();
    let e = Endorsement::sign(Domain::Endorsement, b"payload", &id);
    e.verify_signature(Domain::Endorsement, &digest).unwrap();
    assert!(matches!(
        e.verify(&n.config, NOW, Domain::Endorsement, &digest),
        Err(VerifyError::Certificate(
            CertificateError::UnknownOrg { .. }
        ))
    ));
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
