//! Feeds arbitrary bytes to every decoder that reads network input, then
//! verifies whatever decodes. Nothing may panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use weft_types::*;

fn config() -> &'static ChannelConfig {
    static CONFIG: OnceLock<ChannelConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let root = SigningKey::from_seed(&[1; 32]);
        ChannelConfig {
            channel: "weft".into(),
            orgs: vec![OrgInfo {
                name: "A".into(),
                root_key: root.public_key(),
                peers: vec![],
            }],
            orderers: vec![OrdererInfo {
                id: 1,
                name: "orderer0".into(),
                org: "A".into(),
                api: "127.0.0.1:1".into(),
                cluster: "127.0.0.1:2".into(),
                public_key: SigningKey::from_seed(&[2; 32]).public_key(),
            }],
            ordering: OrderingParams::default(),
            raft: RaftParams::default(),
            policies: ChannelPolicies::default(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let cfg = config();
    if let Ok(env) = serde_json::from_slice::<Envelope>(data) {
        let _ = env.verify(cfg, 1);
        let _ = env.digest();
    }
    if let Ok(block) = serde_json::from_slice::<Block>(data) {
        let _ = block.verify(cfg, 1, 1);
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
});
