//! Feeds arbitrary bytes to every decoder that reads network input, then
//! verifies whatever decodes. Random bytes never carry a valid signature, so
//! the payload types inside signed messages are decoded directly too.
//! Nothing may panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use weft_types::*;

fn config() -> &'static ChannelConfig {
    static CONFIG: OnceLock<ChannelConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let root = SigningKey::from_seed(&[1; 32]);
        ChannelConfig::new(
            "weft",
            vec![OrgInfo {
                name: "A".into(),
                root_key: root.public_key(),
                peers: vec![],
            }],
            vec![OrdererInfo {
                id: 1,
                name: "orderer0".into(),
                org: "A".into(),
                api: "127.0.0.1:1".into(),
                cluster: "127.0.0.1:2".into(),
                public_key: SigningKey::from_seed(&[2; 32]).public_key(),
            }],
        )
    })
}

fn cfg_cert() -> Certificate {
    let root = SigningKey::from_seed(&[1; 32]);
    let body = CertificateBody {
        org: "A".into(),
        name: "client".into(),
        role: Role::Client,
        public_key: SigningKey::from_seed(&[3; 32]).public_key(),
        not_before: 0,
        not_after: u64::MAX,
    };
    Certificate::issue(&body, &root)
}

fuzz_target!(|data: &[u8]| {
    let cfg = config();
    if let Ok(env) = serde_json::from_slice::<Envelope>(data) {
        let _ = env.verify(cfg, 1);
        let _ = env.digest();
    }
    if let Ok(block) = serde_json::from_slice::<Block>(data) {
        let _ = block.verify(cfg);
        let _ = block.hash();
    }
    if let Ok(p) = serde_json::from_slice::<SignedProposal>(data) {
        let _ = p.verify(cfg, 1);
    }
    if let Ok(r) = serde_json::from_slice::<ProposalResponse>(data) {
        let _ = serde_json::from_slice::<ProposalResponsePayload>(&r.payload);
        let _ = serde_json::from_slice::<RwSet>(&r.rwset);
    }
    if let Ok(c) = serde_json::from_slice::<Certificate>(data) {
        let _ = cfg.verify_certificate(&c, 1);
    }
    if let Ok(d) = serde_json::from_slice::<ChaincodeDefinition>(data) {
        let _ = d.validate(&["A"]);
    }
    if let Ok(c) = serde_json::from_slice::<ChannelConfig>(data) {
        let _ = c.validate();
    }
    if let Ok(tx) = serde_json::from_slice::<Transaction>(data) {
        let _ = tx.header.tx_id_matches(&cfg_cert());
        match &tx.body {
            TxBody::Invoke(inv) => {
                let _ = inv.proposal.decode();
                let _ = serde_json::from_slice::<ProposalResponsePayload>(&inv.response);
                let _ = serde_json::from_slice::<RwSet>(&inv.rwset);
            }
            TxBody::Lifecycle(lc) => {
                if let Ok(d) = serde_json::from_slice::<ChaincodeDefinition>(&lc.definition) {
                    let _ = d.validate(&["A"]);
                }
            }
            TxBody::Config(c) => {
                if let Ok(c) = c.decode() {
                    let _ = c.validate();
                }
            }
        }
    }
    if let Ok(p) = serde_json::from_slice::<Proposal>(data) {
        let _ = p.header.tx_id_matches(&cfg_cert());
    }
    if let Ok(push) = serde_json::from_slice::<Signed<PrivateDataPush>>(data) {
        let _ = push.verify(cfg, 1);
        let _ = push.decode();
    }
    if let Ok(pull) = serde_json::from_slice::<Signed<PrivateDataPull>>(data) {
        let _ = pull.verify(cfg, 1);
        let _ = pull.decode();
    }
    let _ = serde_json::from_slice::<PrivateDataPush>(data);
    let _ = serde_json::from_slice::<PrivateDataPull>(data);
    let _ = serde_json::from_slice::<PrivateDataPullResponse>(data);
    let _ = serde_json::from_slice::<ProposalResponsePayload>(data);
    let _ = serde_json::from_slice::<RwSet>(data);
});
