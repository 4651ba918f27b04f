//! A one-org channel with a client and an orderer, shared by the tamper tests
//! and the verification benchmark.
// Each test binary uses a part of this module.
#![allow(dead_code, clippy::unwrap_used)]

use weft_types::*;

/// The org, the channel config, and its members.
pub(crate) struct Net {
    pub(crate) bank: OrgAuthority,
    pub(crate) config: ChannelConfig,
    pub(crate) client: Identity,
    pub(crate) orderer: Identity,
}

/// Org `Bank` with a client and `orderer0`, on channel `weft`.
pub(crate) fn net() -> Net {
    let bank = OrgAuthority::new("Bank", SigningKey::generate()).unwrap();
    let client = bank.enroll("client", Role::Client, 0, u64::MAX).unwrap();
    let orderer = bank.enroll("orderer0", Role::Orderer, 0, u64::MAX).unwrap();
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
    config.validate().unwrap();
    Net {
        bank,
        config,
        client,
        orderer,
    }
}

/// A signed asset-transfer proposal by `id`.
pub(crate) fn proposal(id: &Identity) -> SignedProposal {
    let p = Proposal {
        header: TxHeader::new("weft", id.certificate(), 42),
        chaincode: "asset-transfer".into(),
        function: "transfer".into(),
        args: vec!["asset1".into(), "bob".into()],
        transient_digest: None,
    };
    SignedProposal::sign(&p, id)
}
